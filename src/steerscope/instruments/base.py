"""The ``Microscope`` protocol every instrument implements.

The values it returns, :class:`~steerscope.types.Overview` and
:class:`~steerscope.types.Measurement`, live in :mod:`steerscope.types` (the
record needs them without the instruments); they are re-exported here.

The campaign engine sees an instrument only through this protocol. Positions
are overview pixels ``(row, col)``, origin top-left; each driver converts to
its vendor frame at its own boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from steerscope.errors import InstrumentError
from steerscope.types import CameraFrame, Measurement, Overview

__all__ = [
    "CameraFrame",
    "DwellAdjustable",
    "Measurement",
    "Microscope",
    "Overview",
    "Tunable",
    "apply_dwell",
    "can_set_dwell",
    "checked_dwell",
]


@runtime_checkable
class Microscope(Protocol):
    """What the campaign engine needs of an instrument, simulated or real."""

    def overview(self) -> Overview:
        """Acquire (or return) the overview image of the current field of view."""
        ...

    def acquire(self, points: ArrayLike) -> Measurement:
        """Park the beam at each ``(row, col)`` of ``points`` ``(n, 2)`` and read a spectrum.

        Raises
        ------
        InstrumentError
            If a point lies outside the field of view or the instrument fails.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description: driver, model, energy axis, limits."""
        ...

    def close(self) -> None:
        """Release the instrument (blank the beam, disconnect). Idempotent."""
        ...


@runtime_checkable
class DwellAdjustable(Protocol):
    """An instrument whose exposure per spectrum a campaign may change between points."""

    dwell_time_s: float
    """The exposure of the next spectra, seconds."""

    def set_dwell(self, seconds: float) -> None:
        """Expose the next spectra for ``seconds`` each.

        Raises
        ------
        InstrumentError
            If ``seconds`` is not a dwell the instrument can take.
        """
        ...


def checked_dwell(seconds: float) -> float:
    """``seconds`` as a dwell a ``set_dwell`` may take, or an :class:`InstrumentError`."""
    if not np.isfinite(seconds) or seconds <= 0:
        raise InstrumentError(f"a dwell must be a positive number of seconds; got {seconds!r}")
    return float(seconds)


def apply_dwell(instrument: object, seconds: float) -> None:
    """``instrument.set_dwell(seconds)``, or an :class:`InstrumentError` if it has none."""
    setter = getattr(instrument, "set_dwell", None)
    if setter is None:
        raise InstrumentError(
            f"{type(instrument).__name__} cannot change its dwell; remove policy.dwell"
        )
    setter(float(seconds))


def can_set_dwell(instrument: object) -> bool:
    """Whether a campaign may change ``instrument``'s dwell between points.

    A wrapper (the safety layer, a remote client) answers for what it wraps through
    its own ``can_set_dwell``; any other instrument, by having ``set_dwell``.
    """
    answer = getattr(instrument, "can_set_dwell", None)
    if answer is not None:
        return bool(answer)
    return isinstance(instrument, DwellAdjustable)


@runtime_checkable
class Tunable(Protocol):
    """What a tuning campaign needs of an instrument: settings to move, a frame to judge.

    Settings are named controls in SI units (m for aberration coefficients, rad for
    angles); the driver maps the names to its vendor's controls.
    """

    def settings(self) -> dict[str, float]:
        """The current value of every tunable control."""
        ...

    def apply(self, values: Mapping[str, float]) -> None:
        """Set the named controls and wait until the instrument has them.

        Raises
        ------
        InstrumentError
            If a name is not one of :meth:`settings` or the instrument refuses.
        """
        ...

    def frame(self) -> CameraFrame:
        """Record one camera frame taken after the last :meth:`apply` took effect."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description: driver, camera, controls."""
        ...

    def close(self) -> None:
        """Stop the camera. Idempotent."""
        ...
