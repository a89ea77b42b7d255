"""Synthetic band-excitation piezoresponse (BE-PFM): a resonance curve per point over grains.

Band excitation (Jesse et al., Nanotechnology 18, 435503, 2007) drives the AFM tip
with a band of frequencies around the cantilever's contact resonance and records
the piezoresponse amplitude at each; a simple harmonic oscillator (SHO) fitted to
that curve gives the local response amplitude ``A0``, the resonance frequency
``f0`` (contact stiffness) and the quality factor ``Q`` (damping). Here the
"spectrum" of each point is the response amplitude (pm) against the drive
frequency (kHz), and the target is an SHO parameter
(:class:`~steerscope.scalarizers.resonance.SHOFitSpec`).

The sample is a 2 µm field of a ferroelectric polycrystal: Voronoi grains with
grooved boundaries and a little roughness in the topography, stripe domains of
random period and orientation in every grain (the response amplitude dips at each
domain wall), and a few grains of a minority phase whose piezoresponse is up to
2.4 times as strong, with a lower, broader resonance; clamped at its boundaries, it
responds fully only in the grain's core — the rare feature a campaign should find.
Minority grains sit slightly lower than their neighbours, so the topography carries
some, not all, of what tells them apart. The response carries
complex Gaussian noise (the lock-in's), so its amplitude is Rician.

The numbers are plausible, not a fit to a measurement; the dataset is for testing
and teaching steerscope on scanning-probe data. No band-excitation package the
project can reach ships an example file (see docs/spm.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from steerscope.data import SpectrumImage
from steerscope.datasets._synthetic import LICENSE, check_grid_sizes, synthetic_provenance
from steerscope.datasets.base import Dataset
from steerscope.errors import DataError
from steerscope.scalarizers.resonance import sho_amplitude
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["be_pfm_grains"]

GENERATOR_VERSION = "2"
"""Bumped whenever the same seed would give different arrays."""

FIELD_OF_VIEW_NM = 2000.0
FREQUENCY_LOW_KHZ, FREQUENCY_HIGH_KHZ = 300.0, 400.0

_N_GRAINS, _N_MINORITY = 18, 2
_AMPLITUDE_PM = {"majority": 1.0, "minority": 2.4}  # SHO A0 (far below resonance), at most
_RESONANCE_KHZ = {"majority": 352.0, "minority": 338.0}
_QUALITY = {"majority": 90.0, "minority": 55.0}
_NOISE_PM = 2.5  # lock-in noise per quadrature; a majority peak is ~90 pm


def _grains(rng: np.random.Generator, size: int) -> tuple[Any, Any, Any]:
    """Grain index and distance to the nearest boundary (nm) on a ``size`` grid, and seeds."""
    seeds = rng.uniform(0.0, FIELD_OF_VIEW_NM, (_N_GRAINS, 2))
    axis = (np.arange(size) + 0.5) * FIELD_OF_VIEW_NM / size
    rows, cols = np.meshgrid(axis, axis, indexing="ij")
    distance = np.hypot(rows[..., None] - seeds[:, 0], cols[..., None] - seeds[:, 1])
    order = np.sort(distance, axis=-1)
    return distance.argmin(-1), (order[..., 1] - order[..., 0]) / 2.0, (rows, cols)


def _fields(
    size: int, layout: dict[str, Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Topography (nm), ``A0`` (pm), ``f0`` (kHz) and ``Q`` on a ``size × size`` grid."""
    rng = np.random.default_rng(layout["seed"])
    grain, to_boundary, (rows, cols) = _grains(rng, size)
    minority = layout["minority"][grain]
    # topography: grain heights, grooves at the boundaries, minority grains a little lower
    height = layout["grain_height_nm"][grain] - 4.0 * np.exp(-((to_boundary / 25.0) ** 2))
    height -= 2.0 * minority
    # stripe domains: period and orientation per grain; the amplitude dips at each wall
    angle = layout["domain_angle"][grain]
    period = layout["domain_period_nm"][grain]
    phase = 2 * np.pi * (cols * np.cos(angle) + rows * np.sin(angle)) / period
    phase = phase + layout["domain_phase"][grain]
    wall = np.exp(-((np.sin(phase) * period / (2 * np.pi * 12.0)) ** 2))  # ~12 nm walls
    kind = np.where(minority, "minority", "majority")
    # the minority phase is clamped at its boundaries and responds fully only in its core
    core = np.where(minority, np.tanh(to_boundary / 150.0), 1.0)
    amplitude = np.vectorize(_AMPLITUDE_PM.get)(kind) * (0.6 + 0.4 * core) * (1.0 - 0.5 * wall)
    resonance = np.vectorize(_RESONANCE_KHZ.get)(kind) + layout["grain_stiffness_khz"][grain]
    resonance -= 6.0 * np.exp(-((to_boundary / 40.0) ** 2))  # softer contact at boundaries
    quality = np.vectorize(_QUALITY.get)(kind) * (1.0 - 0.2 * wall)
    return height, amplitude.astype(np.float64), resonance, quality.astype(np.float64)


def be_pfm_grains(
    seed: int = 0,
    *,
    overview_size: int = 128,
    spectrum_size: int = 64,
    n_channels: int = 80,
    noise: bool = True,
) -> Dataset:
    """A band-excitation PFM grid over a ferroelectric polycrystal, with its topography.

    Parameters
    ----------
    seed : int
        Seeds the grains, domains and noise; the same seed gives identical arrays.
    overview_size : int
        Side ``H = W`` of the topography, >= ``spectrum_size`` (2 µm field of view).
    spectrum_size : int
        Side ``h = w`` of the band-excitation grid, >= 8.
    n_channels : int
        Drive frequencies over 300–400 kHz, >= 32.
    noise : bool
        Lock-in noise on the response and a little roughness on the topography.

    Returns
    -------
    Dataset
        ``image.spectra`` (h, w, n_channels): response amplitude (pm) over a frequency
        axis in kHz; ``image.overview`` the topography in nm; ``default_scalarizer``
        the SHO amplitude ``A0``; ``ground_truth`` (H, W) the true ``A0`` of the
        spectrum point under each overview pixel.
    """
    check_grid_sizes(overview_size, spectrum_size)
    if n_channels < 32:
        raise DataError(f"n_channels must be an integer >= 32; got {n_channels!r}")
    layout_seed, rough_seed, noise_seed = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(layout_seed)
    minority = np.zeros(_N_GRAINS, bool)
    minority[rng.choice(_N_GRAINS, _N_MINORITY, replace=False)] = True
    layout = {
        "seed": int(rng.integers(2**31)),
        "minority": minority,
        "grain_height_nm": rng.normal(0.0, 3.0, _N_GRAINS),
        "domain_angle": rng.uniform(0.0, np.pi, _N_GRAINS),
        "domain_period_nm": rng.uniform(160.0, 260.0, _N_GRAINS),
        "domain_phase": rng.uniform(0.0, 2 * np.pi, _N_GRAINS),
        "grain_stiffness_khz": rng.normal(0.0, 4.0, _N_GRAINS),
    }
    topography = _fields(overview_size, layout)[0]
    if noise:
        rough = np.random.default_rng(rough_seed).normal(0.0, 1.0, topography.shape)
        topography = (
            topography + 0.6 * gaussian_filter(rough, 1.0) / gaussian_filter(rough, 1.0).std()
        )
    _, amplitude, resonance, quality = _fields(spectrum_size, layout)
    frequency = EnergyAxis(
        n_channels,
        FREQUENCY_LOW_KHZ,
        (FREQUENCY_HIGH_KHZ - FREQUENCY_LOW_KHZ) / n_channels,
        "kHz",
    )
    clean = sho_amplitude(frequency.values, amplitude, resonance, quality)
    if noise:
        draws = np.random.default_rng(noise_seed).normal(0.0, _NOISE_PM, (2, *clean.shape))
        spectra = np.hypot(clean + draws[0], draws[1])
    else:
        spectra = clean
    pixel_nm = FIELD_OF_VIEW_NM / overview_size
    image = SpectrumImage(
        overview=topography.astype(np.float32),
        spectra=spectra.astype(np.float32),
        energy=frequency,
        signal_kind=SignalKind.BE,
        pixel_size=pixel_nm,
        pixel_units="nm",
        metadata={
            "source": "steerscope.datasets.be_pfm_grains",
            "instrument": "synthetic (no microscope)",
            "overview": "topography (nm)",
            "signal": "piezoresponse amplitude (pm)",
            "license": LICENSE,
            "seed": seed,
        },
    )
    ground_truth = image.overview_map(amplitude)
    provenance = synthetic_provenance(
        "be_pfm_grains",
        GENERATOR_VERSION,
        seed,
        {
            "overview_size": overview_size,
            "spectrum_size": spectrum_size,
            "n_channels": n_channels,
            "noise": noise,
        },
        field_of_view_nm=FIELD_OF_VIEW_NM,
        grains={"total": _N_GRAINS, "minority": _N_MINORITY},
        sho={"amplitude_pm": _AMPLITUDE_PM, "resonance_khz": _RESONANCE_KHZ, "q": _QUALITY},
        noise_pm=_NOISE_PM,
    )
    description = (
        "Band-excitation piezoresponse force microscopy (synthetic): a response curve per "
        f"point over a ferroelectric polycrystal, {FIELD_OF_VIEW_NM / 1000:g} µm field of view "
        f"({pixel_nm:g} nm/pixel topography, {FIELD_OF_VIEW_NM / spectrum_size:g} nm/pixel "
        f"curves), drive 300–400 kHz. {_N_GRAINS} grains with stripe domains (the response "
        f"dips at every wall); {_N_MINORITY} grains of a minority phase respond up to 2.4 "
        "times as strongly in their cores (clamped at their boundaries), with a lower, "
        "broader resonance, and sit slightly lower in the topography. The target is the "
        "fitted simple-harmonic-oscillator amplitude A0: highest in the minority grains' cores."
    )
    return Dataset(
        name="be_pfm_grains",
        image=image,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        default_scalarizer={"kind": "sho_fit", "parameter": "amplitude"},
        description=description,
        provenance=provenance,
    )
