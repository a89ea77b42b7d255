"""What a format reader hands to :func:`steerscope.load` before the common steps.

Readers of each format fill these small containers; ``load`` then bins,
converts units and fits the overview to the spectrum grid in one place, so
every format behaves the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.types import EnergyAxis, SignalKind

__all__ = [
    "LENGTH_UNITS_IN_NM",
    "RawImage",
    "RawSpectrumImage",
    "length_to_nm",
    "signal_kind_from_text",
]

LENGTH_UNITS_IN_NM: dict[str, float] = {
    "pm": 1e-3,
    "Å": 0.1,
    "A": 0.1,
    "angstrom": 0.1,
    "nm": 1.0,
    "µm": 1e3,  # micro sign U+00B5
    "μm": 1e3,  # greek mu U+03BC
    "um": 1e3,
    "mm": 1e6,
    "m": 1e9,
}
"""Length units found in microscope files and their size in nanometres."""


def length_to_nm(units: object) -> float | None:
    """Nanometres per ``units``, or ``None`` when the units are not a known length."""
    if not isinstance(units, str):
        return None
    return LENGTH_UNITS_IN_NM.get(units.strip())


@dataclass
class RawImage:
    """A 2-D image read from a file, with its calibration when the file has one.

    Parameters
    ----------
    data : ndarray of shape (H, W)
        The image.
    scale_nm : tuple of float, optional
        Pixel size ``(row, col)`` in nm; ``None`` when uncalibrated.
    offset_nm : tuple of float, optional
        Position of pixel ``(0, 0)`` ``(row, col)`` in nm; ``None`` when unknown.
    title : str
        The signal's title in the file (e.g. ``"HAADF"``).
    """

    data: NDArray[Any]
    scale_nm: tuple[float, float] | None = None
    offset_nm: tuple[float, float] | None = None
    title: str = ""


@dataclass
class RawSpectrumImage:
    """A spectrum image as read, before binning and overview fitting.

    Parameters
    ----------
    spectra : ndarray of shape (h, w, C)
        Counts.
    energy : EnergyAxis
        Axis of the ``C`` channels, in the file's units.
    signal_kind : SignalKind, optional
        From the file's signal type; ``None`` when the file does not say.
    scale_nm, offset_nm : tuple of float, optional
        Spectrum-grid calibration ``(row, col)`` in nm, as for :class:`RawImage`.
    overview : RawImage, optional
        The image the reader chose as overview, if the file has one.
    metadata : dict
        Provenance gathered by the reader (``format``, ``signals_found``,
        ``instrument``, ``beam_energy_kev``, ...).
    notes : list of str
        Human-readable lines on choices made (joined into ``metadata["chosen"]``).
    """

    spectra: NDArray[Any]
    energy: EnergyAxis
    signal_kind: SignalKind | None = None
    scale_nm: tuple[float, float] | None = None
    offset_nm: tuple[float, float] | None = None
    overview: RawImage | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def signal_kind_from_text(text: object) -> SignalKind | None:
    """Map a file's signal type (``"EELS"``, ``"EDS_TEM"``, ``"EDX"``, ...) to a SignalKind."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, np.ndarray) and text.ndim == 0:
        text = text.item()
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    upper = text.strip().upper()
    if upper == "EELS":
        return SignalKind.EELS
    if upper.startswith("EDS") or upper.startswith("EDX") or upper == "XEDS":
        return SignalKind.EDX
    if upper == "STS":
        return SignalKind.STS
    if upper in ("BE", "BE-PFM", "BAND EXCITATION"):
        return SignalKind.BE
    return None
