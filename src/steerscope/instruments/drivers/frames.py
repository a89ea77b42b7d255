"""Pixel ↔ vendor-frame conversions shared by the drivers.

Inside steerscope a position is an overview pixel ``(row, col)``, origin top-left.
Vendors park the beam in their own frame: fractions of the scan (AutoScript
``[x, y]``, Nion ``FloatPoint(y, x)``) or DigiScan coordinates. A pixel means its
*centre*: pixel ``(row, col)`` of an ``H × W`` scan sits at fractions
``((row + 0.5) / H, (col + 0.5) / W)``.

When the scan that the vendor's frame refers to is not the overview's own scan
(the operator changed the rotation or the field of view in between), points go
through sample coordinates: :class:`ScanFrame` maps pixels of one scan to
physical ``(y, x)`` offsets from the optical axis and back.

Rotation convention: a scan rotated by ``rotation_rad`` has its column axis
turned by that angle from the sample's ``x`` axis, counter-clockwise as seen
with ``y`` pointing *down* the image (``x' = cos θ·u − sin θ·v``,
``y' = sin θ·u + cos θ·v`` for frame offsets ``(v, u)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import InstrumentError

__all__ = ["ScanFrame", "fractions_to_pixels", "pixels_to_fractions"]


def _points(points: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InstrumentError(
            f"points must be an array of shape (n, 2) holding (row, col); got shape {arr.shape}"
        )
    return arr


def pixels_to_fractions(points: ArrayLike, shape: tuple[int, int]) -> NDArray[np.float64]:
    """Pixel centres as scan fractions.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        ``(row, col)`` pixels.
    shape : (int, int)
        ``(H, W)`` of the scan.

    Returns
    -------
    ndarray of shape (n, 2)
        ``(y, x)`` fractions in ``(0, 1)``: ``((row + 0.5) / H, (col + 0.5) / W)``.
    """
    pts = _points(points)
    height, width = shape
    return np.column_stack([(pts[:, 0] + 0.5) / height, (pts[:, 1] + 0.5) / width])


def fractions_to_pixels(fractions: ArrayLike, shape: tuple[int, int]) -> NDArray[np.int64]:
    """Inverse of :func:`pixels_to_fractions`: ``(y, x)`` fractions → ``(row, col)`` pixels.

    Returns an int64 array of shape ``(n, 2)``, clipped to the ``(H, W)`` grid.
    """
    frac = _points(fractions)
    height, width = shape
    rows = np.clip(np.floor(frac[:, 0] * height), 0, height - 1)
    cols = np.clip(np.floor(frac[:, 1] * width), 0, width - 1)
    return np.column_stack([rows, cols]).astype(np.int64)


@dataclass(frozen=True)
class ScanFrame:
    """One scan's geometry: grid, pixel size, rotation and centre on the sample.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` pixels.
    pixel_size : float
        Size of one (square) pixel, in any length unit used consistently.
    rotation_rad : float
        Scan rotation (see the module docstring for the sign).
    center : (float, float)
        ``(y, x)`` of the scan centre on the sample, same unit as ``pixel_size``.
    """

    shape: tuple[int, int]
    pixel_size: float
    rotation_rad: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)

    def pixels_to_sample(self, points: ArrayLike) -> NDArray[np.float64]:
        """``(row, col)`` pixels ``(n, 2)`` → sample ``(y, x)`` ``(n, 2)``."""
        pts = _points(points)
        height, width = self.shape
        v = (pts[:, 0] + 0.5 - height / 2) * self.pixel_size
        u = (pts[:, 1] + 0.5 - width / 2) * self.pixel_size
        c, s = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        x = c * u - s * v + self.center[1]
        y = s * u + c * v + self.center[0]
        return np.column_stack([y, x])

    def sample_to_fractions(self, yx: ArrayLike) -> NDArray[np.float64]:
        """Sample ``(y, x)`` ``(n, 2)`` → ``(y, x)`` fractions of this scan ``(n, 2)``."""
        arr = _points(yx)
        dy = arr[:, 0] - self.center[0]
        dx = arr[:, 1] - self.center[1]
        c, s = np.cos(self.rotation_rad), np.sin(self.rotation_rad)
        u = c * dx + s * dy
        v = -s * dx + c * dy
        height, width = self.shape
        return np.column_stack(
            [v / (height * self.pixel_size) + 0.5, u / (width * self.pixel_size) + 0.5]
        )

    def fractions_to_sample(self, fractions: ArrayLike) -> NDArray[np.float64]:
        """``(y, x)`` fractions of this scan ``(n, 2)`` → sample ``(y, x)`` ``(n, 2)``."""
        frac = _points(fractions)
        height, width = self.shape
        # fraction f is the centre of "pixel" f*H - 0.5
        return self.pixels_to_sample(
            np.column_stack([frac[:, 0] * height - 0.5, frac[:, 1] * width - 0.5])
        )

    def pixels_to_fractions_of(self, points: ArrayLike, target: ScanFrame) -> NDArray[np.float64]:
        """Pixels of this scan → ``(y, x)`` fractions of ``target`` (another scan of the sample).

        Raises
        ------
        InstrumentError
            If a point falls outside the target scan.
        """
        frac = target.sample_to_fractions(self.pixels_to_sample(points))
        outside = np.any((frac < 0.0) | (frac > 1.0), axis=1)
        if outside.any():
            bad = _points(points)[outside][0]
            raise InstrumentError(
                f"overview pixel (row={bad[0]:g}, col={bad[1]:g}) lies outside the current scan "
                "field of view (it was changed after the overview); take a new overview"
            )
        return frac
