"""Pieces the synthetic dataset generators share: grid-size checks and counting noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import DataError


def check_grid_sizes(overview_size: int, spectrum_size: int) -> None:
    """Raise a DataError unless ``spectrum_size >= 8`` and ``overview_size >= spectrum_size``.

    The overview is at least as fine as the spectrum grid: each spectrum pixel
    lies under a block of overview pixels.
    """
    if spectrum_size < 8:
        raise DataError(
            f"spectrum_size must be an integer >= 8; got {spectrum_size!r}. "
            "Pass e.g. spectrum_size=64."
        )
    if overview_size < spectrum_size:
        raise DataError(
            f"overview_size must be >= spectrum_size ({spectrum_size}); got {overview_size!r}. "
            "The overview is at least as fine as the spectrum grid; pass e.g. "
            f"overview_size={2 * spectrum_size}."
        )


def counted_spectra(
    clean: NDArray[np.float64], seed: np.random.SeedSequence, noise: bool
) -> NDArray[np.float32]:
    """Spectra as a detector counts them: Poisson draws around ``clean``, or ``clean`` itself.

    Parameters
    ----------
    clean : ndarray of shape (h, w, n_channels)
        Noise-free expected counts.
    seed : numpy.random.SeedSequence
        Seeds the Poisson draws.
    noise : bool
        False returns the noise-free counts.

    Returns
    -------
    ndarray of shape (h, w, n_channels), float32
    """
    if noise:
        return np.random.default_rng(seed).poisson(clean).astype(np.float32)
    return clean.astype(np.float32)
