"""Target maps: a scalarizer applied to every spectrum of a spectrum image.

The one place a whole spectrum image is turned into targets; the engine's
ground truth, the Target page's previews, the built-in datasets' ground truth
and the sweeps' scoring all call it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from steerscope.data.spectrum_image import SpectrumImage
from steerscope.scalarizers.spec import parse_scalarizer

__all__ = ["target_map", "target_maps"]


def target_maps(
    spec: Any, image: SpectrumImage, *, grid: Literal["overview", "spectra"] = "overview"
) -> NDArray[np.float64]:
    """Every output of ``spec`` at every pixel: one map per target.

    Parameters
    ----------
    spec : ScalarizerSpec or dict
        A scalarizer (a dict or YAML is parsed); ``multi`` gives ``k`` maps.
    image : SpectrumImage
        Spectra of shape ``(h, w, C)``.
    grid : {"overview", "spectra"}
        ``"overview"``: maps of shape ``(H, W)``, each overview pixel showing the target
        of the spectrum under it; ``"spectra"``: maps on the spectrum grid ``(h, w)``.

    Returns
    -------
    ndarray of shape (k, H, W) or (k, h, w), float64

    Raises
    ------
    ScalarizerError
        If the spec does not fit the spectra (a window off the energy axis, …).
    """
    scalarizer = parse_scalarizer(spec)
    h, w = image.spectrum_shape
    flat = np.asarray(image.spectra, dtype=np.float64).reshape(h * w, image.n_channels)
    values = np.asarray(scalarizer.apply(flat, image.energy), dtype=np.float64)
    columns = values.reshape(h * w, -1).T.reshape(-1, h, w)
    if grid == "spectra":
        return columns
    return np.stack([np.asarray(image.overview_map(m), dtype=np.float64) for m in columns])


def target_map(
    spec: Any, image: SpectrumImage, *, grid: Literal["overview", "spectra"] = "overview"
) -> NDArray[np.float64]:
    """The first output of ``spec`` at every pixel (see :func:`target_maps`)."""
    return target_maps(spec, image, grid=grid)[0]
