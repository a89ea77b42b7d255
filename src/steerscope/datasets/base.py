"""The ``Dataset`` bundle: a spectrum image with the ground truth it was made or measured with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data import SpectrumImage

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A built-in spectrum image, ready for a simulated campaign or a benchmark.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"plasmonic_nanoparticles"``.
    image : SpectrumImage
        Overview ``(H, W)`` and spectra ``(h, w, C)``.
    ground_truth : ndarray of shape (H, W)
        The target the default scalarizer measures, on the overview grid, without
        noise where the generator knows it (synthetic) or from every spectrum
        (real data). Used to score discovery, never shown to the model.
    default_scalarizer : dict
        A scalarizer spec (``steerscope.scalarizers``) for the property of interest.
    description : str
        One paragraph a microscopist can read: what the sample is, what to look for.
    provenance : dict
        ``origin`` (generator or file), ``license``, and anything else known.
    """

    name: str
    image: SpectrumImage
    ground_truth: NDArray[np.float64]
    default_scalarizer: dict[str, Any]
    description: str
    provenance: dict[str, Any] = field(default_factory=dict)
