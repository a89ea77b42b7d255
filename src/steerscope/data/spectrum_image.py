"""The spectrum image: an overview image plus a grid of spectra on the same field of view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import DataError
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["SpectrumImage"]


@dataclass(frozen=True, eq=False)
class SpectrumImage:
    """An overview image (HAADF) and a spectrum image over the same field of view.

    The two grids may differ in size (a 512×512 HAADF over a 64×64 spectrum
    image is normal). Both cover the same field of view, so overview pixel
    ``(row, col)`` maps to spectrum pixel ``(row * h // H, col * w // W)``.

    Parameters
    ----------
    overview : ndarray of shape (H, W)
        The overview image, float.
    spectra : ndarray of shape (h, w, C)
        One spectrum per spectrum-grid pixel (counts).
    energy : EnergyAxis
        The energy axis of the ``C`` channels.
    signal_kind : SignalKind
        EELS or EDX.
    pixel_size : float
        Size of one *overview* pixel, in ``pixel_units``.
    pixel_units : str
        Units of ``pixel_size`` (``"nm"`` unless the file says otherwise).
    metadata : dict
        Provenance: ``source`` (file or generator), ``instrument``,
        ``beam_energy_kev``, ``license``, and how the overview and spectra were
        chosen from a multi-signal file.
    """

    overview: NDArray[np.floating[Any]]
    spectra: NDArray[Any]
    energy: EnergyAxis
    signal_kind: SignalKind = SignalKind.EELS
    pixel_size: float = 1.0
    pixel_units: str = "nm"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        overview = np.asarray(self.overview)
        spectra = np.asarray(self.spectra)
        if overview.ndim != 2:
            raise DataError(
                f"the overview image must be 2-D (H, W); got shape {overview.shape}. "
                "Pass a single HAADF frame, not a stack."
            )
        if spectra.ndim != 3:
            raise DataError(
                f"spectra must be a 3-D array (rows, cols, channels); got shape {spectra.shape}."
            )
        if spectra.size == 0:
            raise DataError(f"the spectrum image is empty (shape {spectra.shape}).")
        if not (
            np.issubdtype(spectra.dtype, np.integer) or np.issubdtype(spectra.dtype, np.floating)
        ):
            raise DataError(
                f"spectra must be real numbers (counts); got dtype {spectra.dtype}. Take the "
                "magnitude or the real part of complex data before loading it."
            )
        if spectra.shape[2] != self.energy.size:
            raise DataError(
                f"the spectra have {spectra.shape[2]} channels but the energy axis has "
                f"{self.energy.size}; the file's calibration does not match its data."
            )
        h, w = spectra.shape[:2]
        big_h, big_w = overview.shape
        if big_h < h or big_w < w:
            raise DataError(
                f"the overview ({big_h}×{big_w}) is smaller than the spectrum grid ({h}×{w}); "
                "steerscope expects an overview at least as fine as the spectrum image. "
                "Pass the HAADF acquired with the spectrum image, or resample it."
            )
        if not np.all(np.isfinite(overview)):
            raise DataError("the overview image contains NaN or inf values; clean it before use.")
        if np.issubdtype(spectra.dtype, np.floating) and not np.isfinite(spectra).any():
            raise DataError(
                "every spectrum value is NaN or inf; there is nothing to measure. Check the "
                "file's data (a failed acquisition, or the wrong signal)."
            )
        object.__setattr__(self, "overview", overview.astype(np.float32, copy=False))
        object.__setattr__(self, "spectra", spectra)
        object.__setattr__(self, "signal_kind", SignalKind(self.signal_kind))

    @property
    def overview_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the overview grid."""
        return (int(self.overview.shape[0]), int(self.overview.shape[1]))

    @property
    def spectrum_shape(self) -> tuple[int, int]:
        """``(h, w)`` of the spectrum grid."""
        return (int(self.spectra.shape[0]), int(self.spectra.shape[1]))

    @property
    def n_channels(self) -> int:
        """Number of energy channels ``C``."""
        return int(self.spectra.shape[2])

    def to_spectrum_grid(self, points: ArrayLike) -> NDArray[np.int64]:
        """Map overview pixels to spectrum-grid pixels.

        Parameters
        ----------
        points : array_like of shape (n, 2)
            Overview pixels ``(row, col)``.

        Returns
        -------
        ndarray of shape (n, 2)
            Spectrum-grid pixels ``(row, col)``.
        """
        pts = self._check_points(points)
        big_h, big_w = self.overview_shape
        h, w = self.spectrum_shape
        return np.stack([pts[:, 0] * h // big_h, pts[:, 1] * w // big_w], axis=1)

    def spectra_at(self, points: ArrayLike) -> NDArray[Any]:
        """Spectra under overview pixels, shape ``(n, C)``."""
        idx = self.to_spectrum_grid(points)
        return np.asarray(self.spectra[idx[:, 0], idx[:, 1], :])

    def overview_map(self, spectrum_map: NDArray[Any]) -> NDArray[Any]:
        """Upsample a map on the spectrum grid ``(h, w)`` to the overview grid ``(H, W)``."""
        big_h, big_w = self.overview_shape
        h, w = self.spectrum_shape
        if spectrum_map.shape[:2] != (h, w):
            raise DataError(
                f"expected a map of shape {(h, w)} on the spectrum grid; got {spectrum_map.shape}"
            )
        rows = np.arange(big_h) * h // big_h
        cols = np.arange(big_w) * w // big_w
        return spectrum_map[rows][:, cols]

    def _check_points(self, points: ArrayLike) -> NDArray[np.int64]:
        pts = np.asarray(points)
        if pts.ndim == 1 and pts.size == 2:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise DataError(f"points must have shape (n, 2) as (row, col); got {pts.shape}")
        pts = pts.astype(np.int64)
        big_h, big_w = self.overview_shape
        bad = (pts[:, 0] < 0) | (pts[:, 0] >= big_h) | (pts[:, 1] < 0) | (pts[:, 1] >= big_w)
        if np.any(bad):
            first = tuple(int(v) for v in pts[np.argmax(bad)])
            raise DataError(
                f"pixel {first} lies outside the {big_h}×{big_w} overview; "
                "positions are (row, col) with 0 <= row < H and 0 <= col < W."
            )
        return pts

    def __repr__(self) -> str:
        return (
            f"SpectrumImage(overview={self.overview_shape}, spectra={self.spectrum_shape}"
            f"×{self.n_channels}, {self.signal_kind.value}, "
            f"{self.energy.low:g}–{self.energy.high:g} {self.energy.units})"
        )
