"""A sample for the fake SDKs whose spectra say where the beam landed."""

from __future__ import annotations

import numpy as np


def beam_marker_sample(height: int, width: int, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectra and HAADF image of a sample whose channel 0 encodes the pixel.

    Parameters
    ----------
    height, width : int
        Scan grid ``(H, W)``.
    n_channels : int
        Spectrum channels ``C``.

    Returns
    -------
    spectra : ndarray of shape (H, W, C)
        Ones, except channel 0 = ``1000 * row + col``: a measured spectrum tells
        which pixel the beam was on.
    haadf : ndarray of shape (H, W)
        ``0, 1, 2, ...`` in row-major order.
    """
    spectra = np.ones((height, width, n_channels))
    spectra[:, :, 0] = 1000 * np.arange(height)[:, None] + np.arange(width)[None, :]
    haadf = np.arange(height * width, dtype=float).reshape(height, width)
    return spectra, haadf
