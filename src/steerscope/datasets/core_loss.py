"""Synthetic core-loss EELS of a two-phase Mn/Fe oxide: Mn L2,3 and Fe L2,3 edges.

The field is a polycrystal of grains of two phases: phase A (Mn-rich) and phase
B (Fe-rich, brighter in HAADF because Fe is heavier and the phase denser). The
Fe fraction also rises along a gentle composition gradient across the field,
and grain boundaries are diffuse over ~1.5 nm and slightly dark in HAADF. A few
small, nearly pure Fe-oxide precipitates (~2 nm radius) sit on grain boundaries,
a little brighter than their surroundings: the rare regions a campaign should
find, as the plasmon hot spots are in the plasmonic dataset. Each
spectrum is a power-law background ``A·E^-r`` plus the Mn L3/L2 (640/651 eV)
and Fe L3/L2 (708/721 eV) edges, each a smoothed step with white lines on top.

The numbers are plausible, not a fit to a measurement; the dataset is for
testing and teaching steerscope.
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

__all__ = ["FE_L3_WINDOW_EV", "MN_L3_WINDOW_EV", "core_loss_two_phase"]

GENERATOR_VERSION = "2"
"""Bumped whenever the same seed would give different arrays."""

FIELD_OF_VIEW_NM = 64.0
ENERGY_LOW_EV = 550.0
ENERGY_HIGH_EV = 800.0

MN_L3_WINDOW_EV = (636.0, 646.0)
"""Window (eV) over the Mn L3 white line: the denominator of the default target."""

FE_L3_WINDOW_EV = (704.0, 714.0)
"""Window (eV) over the Fe L3 white line: the numerator of the default target."""

# Edge onsets and white lines (eV); L3:L2 white-line ratios as typical of Mn2+/Fe3+ oxides.
_MN_L3, _MN_L2 = 640.0, 651.0
_FE_L3, _FE_L2 = 708.0, 721.0

# Phase compositions: Fe fraction of the transition-metal sites.
_FE_FRACTION_A = 0.2
_FE_FRACTION_B = 0.75
_GRADIENT = 0.15  # Fe fraction added from one side of the field to the other
_FE_FRACTION_PRECIPITATE = 0.97
_N_PRECIPITATES = 6
_PRECIPITATE_RADIUS_NM = 2.0

# Counts per channel of the noise-free model.
_BACKGROUND_AT_LOW = 1500.0  # background counts at 550 eV for unit thickness
_EDGE_COUNTS = 1800.0  # height of the L3 white line of a pure element, unit thickness


def _edge(energy: NDArray[np.float64], l3: float, l2: float, l3_to_l2: float) -> NDArray:
    """An L2,3 edge of unit L3 white-line height: two smoothed steps and two white lines."""
    step = 0.5 * (1.0 + np.tanh((energy - l3) / 1.0)) * 0.18
    step += 0.5 * (1.0 + np.tanh((energy - l2) / 1.0)) * 0.09
    # The continuum decays beyond the edge like the background does.
    step *= np.where(energy > l3, (np.maximum(energy, l3) / l3) ** -3.0, 1.0)
    white_lines = np.exp(-0.5 * ((energy - l3) / 1.4) ** 2)
    white_lines += np.exp(-0.5 * ((energy - l2) / 1.6) ** 2) / l3_to_l2
    return step + white_lines


def _voronoi_grains(
    n_grains: int, size: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """Random grains on a (size, size) grid: labels, seed points (nm), and phase-B flags."""
    seeds = rng.uniform(0.0, FIELD_OF_VIEW_NM, size=(n_grains, 2))
    coords = (np.arange(size) + 0.5) * FIELD_OF_VIEW_NM / size
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    distance = (rows[..., None] - seeds[:, 0]) ** 2 + (cols[..., None] - seeds[:, 1]) ** 2
    labels = np.argmin(distance, axis=-1).astype(np.int64)
    phase_b = rng.random(n_grains) < 0.5
    phase_b[0], phase_b[1] = False, True  # both phases are always present
    return labels, seeds, phase_b


def _precipitate_centres(seeds: NDArray[np.float64], rng: np.random.Generator) -> NDArray:
    """Centres (nm), shape (_N_PRECIPITATES, 2), on grain boundaries and apart from each other.

    Random points are kept where the two nearest grain seeds are almost equally far
    (a boundary), then chosen greedily at least 8 nm apart.
    """
    margin = 2 * _PRECIPITATE_RADIUS_NM
    points = rng.uniform(margin, FIELD_OF_VIEW_NM - margin, size=(4000, 2))
    d = np.sort(np.linalg.norm(points[:, None, :] - seeds[None, :, :], axis=-1), axis=1)
    on_boundary = points[(d[:, 1] - d[:, 0]) < 1.0]
    chosen: list[NDArray[np.float64]] = []
    for point in on_boundary:
        if all(np.linalg.norm(point - c) >= 8.0 for c in chosen):
            chosen.append(point)
        if len(chosen) == _N_PRECIPITATES:
            break
    return np.asarray(chosen, dtype=np.float64).reshape(-1, 2)


def _fields(
    size: int, labels_seed: int, n_grains: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Fe fraction, thickness, grain-boundary strength and precipitate occupancy, (size, size)."""
    rng = np.random.default_rng(labels_seed)
    labels, seeds, phase_b = _voronoi_grains(n_grains, size, rng)
    centres = _precipitate_centres(seeds, rng)
    pixel_nm = FIELD_OF_VIEW_NM / size
    coords = (np.arange(size) + 0.5) / size
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    fe_fraction = np.where(phase_b[labels], _FE_FRACTION_B, _FE_FRACTION_A)
    fe_fraction = gaussian_filter(fe_fraction, 1.5 / pixel_nm, mode="nearest")
    fe_fraction = np.clip(fe_fraction + _GRADIENT * (cols - 0.5), 0.02, 0.98)
    # Soft-edged disks (0.5 nm edge) of nearly pure Fe oxide.
    distance = np.min(
        np.hypot(
            rows[..., None] * FIELD_OF_VIEW_NM - centres[:, 0],
            cols[..., None] * FIELD_OF_VIEW_NM - centres[:, 1],
        ),
        axis=-1,
    )
    precipitate = 0.5 * (1.0 - np.tanh((distance - _PRECIPITATE_RADIUS_NM) / 0.5))
    fe_fraction = fe_fraction * (1.0 - precipitate) + _FE_FRACTION_PRECIPITATE * precipitate
    boundary = (np.diff(labels, axis=0, prepend=labels[:1]) != 0) | (
        np.diff(labels, axis=1, prepend=labels[:, :1]) != 0
    )
    boundary_strength = gaussian_filter(boundary.astype(np.float64), 0.7 / pixel_nm)
    # A wedge: the sample thickens from top to bottom (t / lambda from 0.3 to 0.6).
    thickness = 0.3 + 0.3 * (np.arange(size) + 0.5)[:, None] / size * np.ones((1, size))
    return fe_fraction, thickness, boundary_strength, precipitate


def core_loss_two_phase(
    seed: int = 0,
    overview_size: int = 128,
    spectrum_size: int = 64,
    n_channels: int = 500,
    n_grains: int = 14,
    noise: bool = True,
) -> Dataset:
    """Core-loss EELS (Mn and Fe L2,3 edges) of a two-phase Mn/Fe oxide polycrystal.

    The field of view is 64 nm square: with the defaults the overview is
    128×128 at 0.5 nm/pixel and the spectrum image 64×64 at 1 nm/pixel. The
    energy axis runs from 550 eV to 800 eV in ``250 / n_channels`` eV steps
    (default 500 channels of 0.5 eV, 550–799.5 eV).

    Parameters
    ----------
    seed : int
        Seeds the grain layout and all noise; the same seed gives identical arrays.
    overview_size : int
        Side ``H = W`` of the overview image, >= ``spectrum_size``.
    spectrum_size : int
        Side ``h = w`` of the spectrum grid, >= 8.
    n_channels : int
        Number of channels ``C`` over 550–800 eV, >= 100.
    n_grains : int
        Number of grains, >= 2 (both phases are always present).
    noise : bool
        Poisson noise on the spectra and shot noise on the overview. ``False``
        gives the noise-free model (the ground truth is the same either way).

    Returns
    -------
    Dataset
        ``image.spectra`` of shape (spectrum_size, spectrum_size, n_channels)
        in counts (float32); ``default_scalarizer`` the ratio of the raw counts
        in the Fe L3 window (704–714 eV) to those in the Mn L3 window
        (636–646 eV), background included; ``ground_truth`` of shape
        (overview_size, overview_size): that ratio on the noise-free spectra.
    """
    _check_options(overview_size, spectrum_size, n_channels, n_grains)
    layout_seed, overview_seed, spectrum_seed = np.random.SeedSequence(seed).spawn(3)
    layout_int = int(layout_seed.generate_state(1)[0])
    energy = EnergyAxis(
        n_channels, ENERGY_LOW_EV, (ENERGY_HIGH_EV - ENERGY_LOW_EV) / n_channels, "eV"
    )

    # The overview and the spectra see the same grains: both grids are drawn from one layout.
    fe_big, thickness_big, boundary_big, precipitate_big = _fields(
        overview_size, layout_int, n_grains
    )
    overview = thickness_big * (0.55 + 0.45 * fe_big) * (1.0 - 0.35 * boundary_big)
    overview = overview * (1.0 + 0.25 * precipitate_big)  # denser precipitates
    overview = gaussian_filter(overview, 0.6)
    if noise:
        dose = 3000.0
        overview = np.random.default_rng(overview_seed).poisson(overview * dose) / dose

    fe, thickness, _, _ = _fields(spectrum_size, layout_int, n_grains)
    clean = _model_spectra(fe, thickness, energy.values)
    spectra = counted_spectra(clean, spectrum_seed, noise)

    pixel_nm = FIELD_OF_VIEW_NM / overview_size
    image = SpectrumImage(
        overview=overview,
        spectra=spectra,
        energy=energy,
        signal_kind=SignalKind.EELS,
        pixel_size=pixel_nm,
        pixel_units="nm",
        metadata={
            "source": "steerscope.datasets.core_loss_two_phase",
            "instrument": "synthetic (no microscope)",
            "beam_energy_kev": 200.0,
            "license": LICENSE,
            "seed": seed,
        },
    )
    clean32 = clean.astype(np.float32)
    ratio = window_sum(clean32, energy, FE_L3_WINDOW_EV) / window_sum(
        clean32, energy, MN_L3_WINDOW_EV
    )
    ground_truth = image.overview_map(ratio)

    provenance = synthetic_provenance(
        "core_loss_two_phase",
        GENERATOR_VERSION,
        seed,
        {
            "overview_size": overview_size,
            "spectrum_size": spectrum_size,
            "n_channels": n_channels,
            "n_grains": n_grains,
            "noise": noise,
        },
        field_of_view_nm=FIELD_OF_VIEW_NM,
        fe_fraction={"phase_a": _FE_FRACTION_A, "phase_b": _FE_FRACTION_B},
        gradient=f"Fe fraction +{_GRADIENT:g} from left to right edge",
        precipitates={
            "n": _N_PRECIPITATES,
            "radius_nm": _PRECIPITATE_RADIUS_NM,
            "fe_fraction": _FE_FRACTION_PRECIPITATE,
        },
        edges_ev={"Mn_L3": _MN_L3, "Mn_L2": _MN_L2, "Fe_L3": _FE_L3, "Fe_L2": _FE_L2},
    )
    description = (
        "Core-loss EELS (200 kV, synthetic) of a two-phase Mn/Fe oxide polycrystal, "
        f"{FIELD_OF_VIEW_NM:g} nm field of view ({pixel_nm:g} nm/pixel overview, "
        f"{FIELD_OF_VIEW_NM / spectrum_size:g} nm/pixel spectra), {n_grains} grains. Phase A is "
        f"Mn-rich (Fe/(Fe+Mn) = {_FE_FRACTION_A:g}), phase B Fe-rich ({_FE_FRACTION_B:g}) and "
        "brighter in HAADF; grain boundaries are diffuse (~1.5 nm) and slightly dark; the Fe "
        f"fraction rises by {_GRADIENT:g} from left to right and the sample thickens from top to "
        f"bottom. {_N_PRECIPITATES} small (~{_PRECIPITATE_RADIUS_NM:g} nm radius), nearly pure "
        "Fe-oxide precipitates sit on grain boundaries, slightly brighter in HAADF. Spectra: "
        "power-law background plus Mn L3,2 (640/651 eV) and Fe L3,2 "
        "(708/721 eV) edges with white lines. The target is the Fe/Mn L3 ratio, taken as raw "
        "counts in 704–714 eV over raw counts in 636–646 eV (background not subtracted, so the "
        "ratio is compressed but monotonic in the Fe fraction): highest in the precipitates, "
        "then in the Fe-rich grains on the right."
    )
    return Dataset(
        name="core_loss_two_phase",
        image=image,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        default_scalarizer={
            "kind": "window_ratio",
            "numerator": list(FE_L3_WINDOW_EV),
            "denominator": list(MN_L3_WINDOW_EV),
        },
        description=description,
        provenance=provenance,
    )


def _model_spectra(
    fe_fraction: NDArray[np.float64], thickness: NDArray[np.float64], energy: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Noise-free spectra (counts), shape (h, w, C), from Fe fraction and thickness maps (h, w)."""
    exponent = 3.2 - 0.6 * (thickness - 0.3)  # thicker → flatter background (plural scattering)
    background = (
        _BACKGROUND_AT_LOW
        * thickness[..., None]
        * (energy / ENERGY_LOW_EV) ** (-exponent[..., None])
    )
    mn_edge = _edge(energy, _MN_L3, _MN_L2, 1.9)
    fe_edge = _edge(energy, _FE_L3, _FE_L2, 2.6)
    amount = _EDGE_COUNTS * thickness
    spectra: NDArray[Any] = background
    spectra = spectra + (amount * (1.0 - fe_fraction))[..., None] * mn_edge
    spectra = spectra + (amount * fe_fraction)[..., None] * fe_edge
    return np.asarray(spectra, dtype=np.float64)


def _check_options(overview_size: int, spectrum_size: int, n_channels: int, n_grains: int) -> None:
    check_grid_sizes(overview_size, spectrum_size)
    if n_channels < 100:
        raise DataError(
            f"n_channels must be an integer >= 100 to resolve the white lines; got "
            f"{n_channels!r}. Pass e.g. n_channels=500 (0.5 eV/channel)."
        )
    if n_grains < 2:
        raise DataError(
            f"n_grains must be an integer >= 2 so both phases are present; got {n_grains!r}."
        )
