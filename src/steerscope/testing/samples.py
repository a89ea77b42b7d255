"""A sample for the fake SDKs whose spectra say where the beam landed."""

from __future__ import annotations

from typing import Any

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


def beam_marker_image(height: int, width: int, n_channels: int = 16) -> Any:
    """A :class:`~steerscope.data.SpectrumImage` of :func:`beam_marker_sample` (overview = grid).

    The overview and the spectrum grid have the same shape, so a spectrum read at
    overview pixel ``(row, col)`` has ``1000 * row + col`` in channel 0.
    """
    from steerscope.data import SpectrumImage
    from steerscope.types import EnergyAxis, SignalKind

    spectra, haadf = beam_marker_sample(height, width, n_channels)
    return SpectrumImage(
        overview=haadf.astype(np.float32),
        spectra=spectra,
        energy=EnergyAxis(n_channels, 0.0, 10.0, "eV"),
        signal_kind=SignalKind.EELS,
        pixel_size=0.5,
        pixel_units="nm",
    )


def tiny_spectrum_image(height: int = 24, width: int = 24, *, seed: int = 0) -> Any:
    """A small EELS spectrum image with one bright particle whose peak marks the target.

    Parameters
    ----------
    height, width : int
        Overview and spectrum grid ``(H, W)`` (the same).
    seed : int
        Seed of the background texture.

    Returns
    -------
    SpectrumImage
        64 channels, 0–63 eV; a Gaussian peak at 20 eV whose height follows a round
        particle (bright in the HAADF too), on a flat background of 10 counts. The
        window ``[18, 22]`` eV is the natural target.
    """
    from steerscope.data import SpectrumImage
    from steerscope.types import EnergyAxis, SignalKind

    rng = np.random.default_rng(seed)
    rows, cols = np.indices((height, width))
    particle = np.exp(
        -(((rows - 0.6 * height) ** 2 + (cols - 0.35 * width) ** 2) / (0.02 * height * width))
    )
    energy = EnergyAxis(64, 0.0, 1.0, "eV")
    peak = np.exp(-0.5 * ((energy.values - 20.0) / 1.5) ** 2)
    spectra = 10.0 + 200.0 * particle[:, :, None] * peak[None, None, :]
    haadf = particle + 0.05 * rng.random((height, width))
    return SpectrumImage(
        overview=haadf.astype(np.float32),
        spectra=spectra,
        energy=energy,
        signal_kind=SignalKind.EELS,
        pixel_size=0.25,
        pixel_units="nm",
    )
