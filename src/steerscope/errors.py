"""One exception hierarchy for steerscope.

Every error a user can meet derives from :class:`SteerscopeError`. Messages
follow one rule: say what was expected, what was received, and how to fix it,
e.g. ``"energy window (900.0, 950.0) eV lies outside the energy axis
0.0–500.0 eV; choose a window inside the axis"``.
"""

from __future__ import annotations

__all__ = [
    "AcquisitionError",
    "ConfigError",
    "DataError",
    "DataWarning",
    "DescriptorError",
    "InstrumentError",
    "ModelError",
    "RecordError",
    "RecordWarning",
    "SafetyLimitError",
    "ScalarizerError",
    "SteerscopeError",
]


class SteerscopeError(Exception):
    """Base class of every error steerscope raises on purpose."""


class DataError(SteerscopeError):
    """A file or array cannot be read as a spectrum image (format, shape, missing reader)."""


class DataWarning(UserWarning):
    """Data were read, but a choice made for the user may not be the one they want."""


class ScalarizerError(SteerscopeError):
    """A scalarizer spec does not fit the spectra it is applied to (window off axis, empty, …)."""


class DescriptorError(SteerscopeError):
    """Patch features cannot be cut as asked (patch larger than the image, bad stride, …)."""


class ModelError(SteerscopeError):
    """A surrogate cannot be fitted or queried (too few points, non-finite targets, …)."""


class AcquisitionError(SteerscopeError):
    """Candidates cannot be scored or selected as asked (bad beta, unknown name, too few left)."""


class ConfigError(SteerscopeError):
    """A campaign or sweep configuration is invalid; the message lists every problem."""


class InstrumentError(SteerscopeError):
    """A microscope (simulated or real) refused or failed a request."""


class SafetyLimitError(InstrumentError):
    """A request would break a safety limit (field of view, dwell, dose, no-go region)."""


class RecordError(SteerscopeError):
    """A campaign record is missing, corrupt, foreign, or would be overwritten."""


class RecordWarning(UserWarning):
    """A campaign record opened, but something about it needs the user's attention."""
