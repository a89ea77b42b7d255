"""Small value types shared by every layer: positions, energy axes, what an instrument returns.

Positions inside steerscope are always ``(row, col)`` in overview pixels, origin
top-left; drivers convert to their vendor frame at their own boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AXIS_QUANTITIES",
    "CameraFrame",
    "EnergyAxis",
    "Measurement",
    "Overview",
    "Pixel",
    "Points",
    "SignalKind",
    "signal_axis_name",
]

Pixel = tuple[int, int]
"""One overview pixel as ``(row, col)``."""

Points = NDArray[np.int64]
"""Overview pixels as an integer array of shape ``(n, 2)``, columns ``(row, col)``."""


class SignalKind(StrEnum):
    """What kind of spectrum a spectrum image holds."""

    EELS = "EELS"
    EDX = "EDX"
    STS = "STS"
    """Scanning tunnelling spectroscopy: dI/dV against the sample bias."""
    BE = "BE"
    """Band-excitation scanning probe: response amplitude against the drive frequency."""

    @property
    def scanning_probe(self) -> bool:
        """Whether a tip takes this signal (STM/AFM), so a simulator moves a probe, not a beam."""
        return self in (SignalKind.STS, SignalKind.BE)


def signal_axis_name(kind: SignalKind | None, axis: EnergyAxis | None) -> str:
    """What a file should call the signal axis: "Energy loss" for EELS, else its quantity.

    E.g. "Bias" for an STS grid over volts, "Frequency" for band excitation in kHz.
    """
    if kind is SignalKind.EELS:
        return "Energy loss"
    return "Energy" if axis is None else axis.quantity.capitalize()


AXIS_QUANTITIES = {
    "eV": "energy",
    "keV": "energy",
    "V": "bias",
    "mV": "bias",
    "Hz": "frequency",
    "kHz": "frequency",
    "s": "time",
    "ms": "time",
}
"""Units a signal axis may have, and the quantity each measures."""


@dataclass(frozen=True)
class EnergyAxis:
    """A uniform signal axis: ``energy[i] = offset + i * scale``.

    An energy (EELS, EDX) most of the time, hence the name; a scanning-probe spectrum
    runs over a bias (STS dI/dV), a frequency (band excitation) or a time, and the same
    axis, windows and targets serve it (:data:`AXIS_QUANTITIES`).

    Parameters
    ----------
    size : int
        Number of channels ``C``.
    offset : float
        Value of channel 0, in ``units``.
    scale : float
        Channel width (dispersion), in ``units`` per channel; must be > 0.
    units : str
        One of :data:`AXIS_QUANTITIES`: ``"eV"``, ``"keV"``, ``"V"``, ``"mV"``, ``"Hz"``,
        ``"kHz"``, ``"s"``, ``"ms"``.
    """

    size: int
    offset: float
    scale: float
    units: str = "eV"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        from steerscope.errors import DataError

        if self.size < 1:
            raise DataError(f"an energy axis needs at least 1 channel; got size={self.size}")
        if not np.isfinite(self.offset):
            raise DataError(
                f"the energy axis offset must be a finite number of {self.units}; got "
                f"{self.offset!r}. Check the file's calibration or pass `energy=`."
            )
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise DataError(
                f"the energy axis dispersion must be a positive number of {self.units}/channel; "
                f"got {self.scale!r}. Check the file's calibration or pass `energy_scale=`."
            )
        if self.units not in AXIS_QUANTITIES:
            raise DataError(
                f"signal axis units must be one of {', '.join(AXIS_QUANTITIES)}; got {self.units!r}"
            )

    @property
    def quantity(self) -> str:
        """What the axis measures: ``energy``, ``bias``, ``frequency`` or ``time``."""
        return AXIS_QUANTITIES[self.units]

    @property
    def values(self) -> NDArray[np.float64]:
        """Channel energies, shape ``(C,)``."""
        return self.offset + self.scale * np.arange(self.size, dtype=np.float64)

    @property
    def low(self) -> float:
        """Energy of the first channel."""
        return float(self.offset)

    @property
    def high(self) -> float:
        """Energy of the last channel."""
        return float(self.offset + self.scale * (self.size - 1))

    def to_ev(self, value: float) -> float:
        """Convert ``value`` in this axis' units to eV."""
        return value * 1000.0 if self.units == "keV" else value

    def index(self, energy: float) -> int:
        """Nearest channel index to ``energy`` (axis units), clipped to the axis."""
        i = round((energy - self.offset) / self.scale)
        return min(max(i, 0), self.size - 1)


@dataclass(frozen=True, eq=False)
class Overview:
    """An overview image as the instrument returns it.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        HAADF (or other scanning-detector) image, float32.
    pixel_size : float
        Size of one pixel in ``pixel_units``.
    pixel_units : str
        Length units of ``pixel_size``.
    metadata : dict
        Detector, dwell time, field of view, instrument name.
    """

    image: NDArray[np.float32]
    pixel_size: float = 1.0
    pixel_units: str = "nm"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Measurement:
    """Spectra acquired at a batch of points.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        Overview pixels ``(row, col)`` where the beam was parked.
    spectra : ndarray of shape (n, C)
        Raw counts, one spectrum per point.
    energy : EnergyAxis
        Energy calibration of the ``C`` channels.
    signal_kind : SignalKind
        EELS or EDX.
    acquired_at : ndarray of shape (n,)
        Unix time at which each spectrum finished.
    dwell_time_s : float
        Exposure (live time) per spectrum, seconds.
    metadata : dict
        Anything else the instrument reports (beam current, drift, …).
    started_at : ndarray of shape (n,) or None
        Unix time at which each spectrum's acquisition started, on this
        computer's clock (the engine stamps it around ``acquire``); None if not known.
    """

    points: NDArray[np.int64]
    spectra: NDArray[Any]
    energy: EnergyAxis
    signal_kind: SignalKind
    acquired_at: NDArray[np.float64]
    dwell_time_s: float
    metadata: dict[str, Any] = field(default_factory=dict)
    started_at: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class CameraFrame:
    """One camera image in angle space, e.g. a Ronchigram, and the settings it was taken at.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Counts; the optical axis at the centre.
    pixel_mrad : float
        Angle per pixel, milliradians.
    settings : dict of str to float
        The tunable controls' values when it was recorded (SI units: m, rad).
    """

    image: NDArray[np.float32]
    pixel_mrad: float
    settings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 2 or not self.pixel_mrad > 0:
            raise ValueError(
                f"a camera frame is a 2-D image with a positive angle per pixel; got shape "
                f"{self.image.shape} and {self.pixel_mrad} mrad per pixel"
            )
