"""Figures of merit computed from what the instrument returns in a tuning campaign.

A microscopist corrects defocus and two-fold astigmatism on the Ronchigram of an
amorphous film: at Gaussian focus, with the astigmatism corrected, its centre is a
flat, featureless region of "infinite" magnification, and the wider that region the
larger the convergence angle the probe can use (Lupini, "The electron Ronchigram",
in Pennycook & Nellist (eds.), *Scanning Transmission Electron Microscopy*,
Springer 2011; Schnitzer, Sung & Hovden, *Microscopy Today* 27(3), 12–15, 2019).
:func:`ronchigram_flatness` puts a number on "flat inside the aperture I want".
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from steerscope.errors import ConfigError
from steerscope.types import CameraFrame

__all__ = ["ronchigram_flatness"]


def ronchigram_flatness(
    frame: CameraFrame, radius_mrad: float = 40.0, smoothing_px: float = 2.0
) -> float:
    """How featureless a Ronchigram is within ``radius_mrad`` of the axis; higher is flatter.

    ``-log10`` of the mean intensity gradient inside the disc, relative to the mean
    intensity there, per mrad: 6 means intensity changes by a millionth of itself per
    mrad on average. The image is smoothed first so that shot noise does not count
    as texture.

    Parameters
    ----------
    frame : CameraFrame
        The Ronchigram, optical axis at the centre.
    radius_mrad : float
        The disc judged: the probe-forming aperture's semi-angle one wants to use.
    smoothing_px : float
        Gaussian smoothing before the gradient, pixels.

    Returns
    -------
    float
        The flatness, in decades.

    Raises
    ------
    ConfigError
        When the disc does not fit in the frame, or the frame is dark inside it.
    """
    h, w = frame.image.shape
    half = min(h, w) / 2 * frame.pixel_mrad
    if not 0 < radius_mrad <= half:
        raise ConfigError(
            f"the flatness disc must have a radius between 0 and the frame's half-angle "
            f"{half:.1f} mrad; got {radius_mrad} mrad"
        )
    image = ndimage.gaussian_filter(np.asarray(frame.image, np.float64), smoothing_px)
    rows, cols = np.mgrid[:h, :w]
    inside = np.hypot(rows - (h - 1) / 2, cols - (w - 1) / 2) * frame.pixel_mrad < radius_mrad
    mean = float(image[inside].mean())
    if not mean > 0:
        raise ConfigError(
            "the Ronchigram is dark inside the flatness disc: unblank the beam, "
            "or centre the aperture and the camera on the optical axis"
        )
    gy, gx = np.gradient(image)
    gradient = np.hypot(gy, gx)[inside].mean() / frame.pixel_mrad / mean
    return float(-np.log10(max(gradient, 1e-12)))
