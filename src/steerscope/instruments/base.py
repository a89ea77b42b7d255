"""The ``Microscope`` protocol every instrument implements, and the values it returns.

The campaign engine sees an instrument only through this protocol. Positions
are overview pixels ``(row, col)``, origin top-left; each driver converts to
its vendor frame at its own boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.types import EnergyAxis, SignalKind

__all__ = ["Measurement", "Microscope", "Overview"]


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
    """

    points: NDArray[np.int64]
    spectra: NDArray[Any]
    energy: EnergyAxis
    signal_kind: SignalKind
    acquired_at: NDArray[np.float64]
    dwell_time_s: float
    metadata: dict[str, Any] = field(default_factory=dict)


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
