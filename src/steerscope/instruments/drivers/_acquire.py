"""Checks the vendor drivers' ``acquire`` makes on a batch of points and its spectra."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import InstrumentError
from steerscope.types import EnergyAxis


def pixel_points(points: ArrayLike) -> NDArray[np.int64]:
    """Overview pixels ``(row, col)`` as an int64 array of shape ``(n, 2)``, or raise."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InstrumentError(
            f"points must be an array of shape (n, 2) holding (row, col); got shape {pts.shape}"
        )
    return pts.astype(np.int64)


def check_inside(points: NDArray[np.int64], shape: tuple[int, int]) -> None:
    """Raise unless every ``(row, col)`` of ``points (n, 2)`` lies on the ``(H, W)`` overview."""
    height, width = shape
    if points.size and (
        points.min() < 0 or points[:, 0].max() >= height or points[:, 1].max() >= width
    ):
        raise InstrumentError(
            f"points must lie inside the {height}×{width} overview; got rows "
            f"{points[:, 0].min()}..{points[:, 0].max()}, cols "
            f"{points[:, 1].min()}..{points[:, 1].max()}"
        )


def check_same_energy_axis(batch: EnergyAxis | None, spectrum: EnergyAxis) -> EnergyAxis:
    """The batch's energy axis: ``spectrum``'s, which must equal the earlier spectra's ``batch``.

    A batch of spectra shares one axis; a calibration that changes halfway
    (someone moved the energy offset) would mix incomparable channels.
    """
    if batch is not None and spectrum != batch:
        raise InstrumentError(
            f"the EELS calibration changed during a batch ({batch} → {spectrum}); "
            "keep the energy offset fixed while steerscope runs"
        )
    return spectrum
