"""Synthetic scanning tunnelling spectroscopy: a dI/dV grid over a doped semiconductor surface.

The other microscopies the seed paper names (STM, AFM) fit steerscope as "an image
plus a curve per point": here the image is the constant-current topography and the
curve the dI/dV spectrum against the sample bias, the same as an EELS spectrum image
with a bias axis (V) instead of an energy axis.

The surface is a square lattice (0.8 nm) with a gap between the valence band edge
(−0.6 V) and the conduction band edge (+0.5 V), a monatomic step, and two kinds of
point defect that look nearly alike in the topography (a dark depression): vacancies,
with an occupied state below the valence edge (−0.75 V), and dopants, each with a
bound state in the gap (+0.35 V) that decays over ~1.2 nm — the rare feature a
campaign should find. A dopant's depression has a faint bright ring, so the
topography carries some, not all, of what tells the two apart. The dI/dV is
modelled as shot-noise-limited lock-in counts.

The numbers are plausible, not a fit to a measurement; the dataset is for testing
and teaching steerscope on scanning-probe data. No scanning-probe package the
project can reach ships a grid-spectroscopy example file (see docs/spm.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from steerscope.data import SpectrumImage
from steerscope.datasets._synthetic import (
    LICENSE,
    check_grid_sizes,
    counted_spectra,
    synthetic_provenance,
)
from steerscope.datasets.base import Dataset
from steerscope.datasets.plasmonic import window_sum
from steerscope.errors import DataError
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["BOUND_STATE_WINDOW_V", "sts_dopants"]

GENERATOR_VERSION = "1"
"""Bumped whenever the same seed would give different arrays."""

FIELD_OF_VIEW_NM = 32.0
BIAS_LOW_V, BIAS_HIGH_V = -1.0, 1.0

BOUND_STATE_WINDOW_V = (0.3, 0.4)
"""Bias window (V) over the dopants' in-gap bound state: the default target."""

_LATTICE_NM = 0.8
_VALENCE_EDGE_V, _CONDUCTION_EDGE_V = -0.6, 0.5
_VACANCY_STATE_V, _BOUND_STATE_V = -0.75, 0.35
_N_VACANCIES, _N_DOPANTS = 18, 7
_DECAY_NM = 1.2
_COUNTS = 400.0  # lock-in counts of the conduction band at +1 V, far from any defect


def _defects(rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Defect centres (nm), at least 3 nm apart, and which are dopants."""
    n = _N_VACANCIES + _N_DOPANTS
    centres: list[NDArray[np.float64]] = []
    while len(centres) < n:
        candidate = rng.uniform(2.0, FIELD_OF_VIEW_NM - 2.0, 2)
        if all(np.hypot(*(candidate - c)) >= 3.0 for c in centres):
            centres.append(candidate)
    dopant = np.zeros(n, bool)
    dopant[rng.choice(n, _N_DOPANTS, replace=False)] = True
    return np.array(centres), dopant


def _distances(size: int, centres: NDArray[np.float64]) -> NDArray[np.float64]:
    """Distance (nm) of every pixel centre of a ``size`` grid to each defect: (size, size, n)."""
    pixel = FIELD_OF_VIEW_NM / size
    axis = (np.arange(size) + 0.5) * pixel
    rows, cols = np.meshgrid(axis, axis, indexing="ij")
    return np.hypot(rows[..., None] - centres[:, 0], cols[..., None] - centres[:, 1])


def _topography(size: int, centres: NDArray[np.float64], dopant: NDArray[np.bool_]) -> Any:
    """Apparent height (pm) on a ``size`` grid: lattice, step, defects."""
    pixel = FIELD_OF_VIEW_NM / size
    axis = (np.arange(size) + 0.5) * pixel
    rows, cols = np.meshgrid(axis, axis, indexing="ij")
    phase = 2 * np.pi / _LATTICE_NM
    height = 12.0 * (np.cos(phase * rows) + np.cos(phase * cols))
    height += 150.0 * (cols + 0.15 * rows > 0.62 * FIELD_OF_VIEW_NM)  # a monatomic step
    r = _distances(size, centres)
    height -= 60.0 * np.exp(-((r / 0.5) ** 2)).sum(-1)  # every defect: a dark depression
    ring = np.exp(-(((r - 1.1) / 0.35) ** 2))
    height += 9.0 * (ring * dopant).sum(-1)  # a dopant's faint bright ring
    return gaussian_filter(height, 0.6)


def _ldos(size: int, centres: NDArray[np.float64], dopant: Any, bias: Any) -> Any:
    """Noise-free dI/dV (counts) on a ``size`` grid: (size, size, C)."""

    def softplus(x: Any) -> Any:
        return np.logaddexp(0.0, x)

    band = softplus((_VALENCE_EDGE_V - bias) / 0.06) + softplus((bias - _CONDUCTION_EDGE_V) / 0.06)
    band = band / softplus((BIAS_HIGH_V - _CONDUCTION_EDGE_V) / 0.06)
    r = _distances(size, centres)
    weight = np.exp(-r / _DECAY_NM)
    bound = (weight * dopant).sum(-1, keepdims=True)
    vacancy = (weight * ~dopant).sum(-1, keepdims=True)
    peak = np.exp(-0.5 * ((bias - _BOUND_STATE_V) / 0.04) ** 2)
    occupied = np.exp(-0.5 * ((bias - _VACANCY_STATE_V) / 0.05) ** 2)
    spectra = band + 0.9 * bound * peak + 1.2 * vacancy * occupied + 0.02
    return _COUNTS * spectra


def sts_dopants(
    seed: int = 0,
    *,
    overview_size: int = 128,
    spectrum_size: int = 64,
    n_channels: int = 200,
    noise: bool = True,
) -> Dataset:
    """A dI/dV grid (STS) over a doped semiconductor surface, with its topography.

    Parameters
    ----------
    seed : int
        Seeds the defect layout and the noise; the same seed gives identical arrays.
    overview_size : int
        Side ``H = W`` of the topography, >= ``spectrum_size`` (32 nm field of view).
    spectrum_size : int
        Side ``h = w`` of the spectroscopy grid, >= 8.
    n_channels : int
        Bias channels over −1…+1 V, >= 50.
    noise : bool
        Counting noise on the dI/dV and a little on the topography.

    Returns
    -------
    Dataset
        ``image.spectra`` (h, w, n_channels) in lock-in counts over a bias axis in V,
        ``image.overview`` the topography in pm; ``default_scalarizer`` the counts in
        0.3–0.4 V (the bound state); ``ground_truth`` (H, W) that window on the
        noise-free dI/dV.
    """
    check_grid_sizes(overview_size, spectrum_size)
    if n_channels < 50:
        raise DataError(f"n_channels must be an integer >= 50; got {n_channels!r}")
    layout, topo_seed, spectrum_seed = np.random.SeedSequence(seed).spawn(3)
    centres, dopant = _defects(np.random.default_rng(layout))
    bias = EnergyAxis(n_channels, BIAS_LOW_V, (BIAS_HIGH_V - BIAS_LOW_V) / n_channels, "V")
    topography = _topography(overview_size, centres, dopant)
    if noise:
        topography = topography + np.random.default_rng(topo_seed).normal(0, 2.0, topography.shape)
    clean = _ldos(spectrum_size, centres, dopant, bias.values)
    spectra = counted_spectra(clean, spectrum_seed, noise)
    pixel_nm = FIELD_OF_VIEW_NM / overview_size
    image = SpectrumImage(
        overview=topography,
        spectra=spectra,
        energy=bias,
        signal_kind=SignalKind.STS,
        pixel_size=pixel_nm,
        pixel_units="nm",
        metadata={
            "source": "steerscope.datasets.sts_dopants",
            "instrument": "synthetic (no microscope)",
            "overview": "constant-current topography (pm)",
            "license": LICENSE,
            "seed": seed,
        },
    )
    ground_truth = image.overview_map(
        window_sum(clean.astype(np.float32), bias, BOUND_STATE_WINDOW_V)
    )
    provenance = synthetic_provenance(
        "sts_dopants",
        GENERATOR_VERSION,
        seed,
        {
            "overview_size": overview_size,
            "spectrum_size": spectrum_size,
            "n_channels": n_channels,
            "noise": noise,
        },
        field_of_view_nm=FIELD_OF_VIEW_NM,
        defects={"vacancies": _N_VACANCIES, "dopants": _N_DOPANTS, "decay_nm": _DECAY_NM},
        states_v={
            "valence_edge": _VALENCE_EDGE_V,
            "conduction_edge": _CONDUCTION_EDGE_V,
            "vacancy": _VACANCY_STATE_V,
            "dopant_bound": _BOUND_STATE_V,
        },
    )
    description = (
        "Scanning tunnelling spectroscopy (synthetic): a dI/dV grid over a doped semiconductor "
        f"surface, {FIELD_OF_VIEW_NM:g} nm field of view ({pixel_nm:g} nm/pixel topography, "
        f"{FIELD_OF_VIEW_NM / spectrum_size:g} nm/pixel spectra), bias −1…+1 V. A square "
        f"lattice ({_LATTICE_NM:g} nm) with a gap between the valence (−0.6 V) and conduction "
        f"(+0.5 V) band edges, a monatomic step, {_N_VACANCIES} vacancies (a state at −0.75 V) "
        f"and {_N_DOPANTS} dopants, which look nearly alike in the topography (a dark "
        "depression; a dopant's has a faint bright ring). Each dopant binds a state in the gap "
        f"(+0.35 V) that decays over ~{_DECAY_NM:g} nm. The target is the dI/dV in 0.3–0.4 V: "
        "high around the dopants only."
    )
    return Dataset(
        name="sts_dopants",
        image=image,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        default_scalarizer={"kind": "window_sum", "window": list(BOUND_STATE_WINDOW_V)},
        description=description,
        provenance=provenance,
    )
