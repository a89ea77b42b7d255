"""Synthetic low-loss EELS of plasmonic metal nanoparticles (rods, triangles, spheres).

The generator draws a small field of silver-like nanoparticles on a thin
amorphous carbon support and computes, for every probe position, a low-loss
spectrum: the zero-loss peak tail, the localized surface plasmon (LSP) modes
the probe excites there, and the bulk plasmon of the metal under it. The
low-energy dipole/corner modes live only at rod tips and triangle corners, so
the default target (their intensity) is bright in a few small spots: finding
them from the HAADF alone is the discovery task.

Every number here is a plausible textbook value, not a fit to a measurement;
the dataset is for testing and teaching steerscope, not for plasmonics.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from steerscope.errors import DataError
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["PLASMONIC_WINDOW_EV", "plasmonic_nanoparticles"]

GENERATOR_VERSION = "1"
"""Bumped whenever the same seed would give different arrays."""


FIELD_OF_VIEW_NM = 128.0
"""Side of the square field of view; the overview pixel size is this over ``overview_size``."""

ENERGY_MAX_EV = 6.0
"""The energy axis runs from 0 eV to just below this value."""

PLASMONIC_WINDOW_EV = (1.0, 1.8)
"""Energy window (eV) of the low-energy tip/corner modes: the default target."""

# Shape of the probe-position dependence: the tip/corner modes fall off over a
# few nm around their hot spot (inside and aloof), edge modes over ~3 nm.
_HOTSPOT_DECAY_NM = 3.0
_EDGE_DECAY_NM = 3.0
_ALOOF_DECAY_NM = 4.0

# Counts per channel of the noise-free model (what a 10 ms dwell might give).
_ZLP_HEIGHT = 20000.0
_ZLP_SIGMA_EV = 0.13
_TAIL_FRACTION = 0.002
_BULK_PLASMON_EV = 3.8
_BULK_SIGMA_EV = 0.35
_BULK_COUNTS_PER_NM = 4.0
_INELASTIC_MEAN_FREE_PATH_NM = 100.0


@dataclass(frozen=True)
class _Particle:
    """One particle in nm coordinates ``(row, col)`` of the field of view."""

    kind: str  # "rod", "triangle" or "sphere"
    center: tuple[float, float]
    angle: float  # radians, orientation of the long axis (rod) or of one vertex (triangle)
    size: float  # rod length, triangle edge length or sphere diameter (nm)
    width: float  # rod diameter, triangle thickness or sphere diameter (nm)
    strength: float  # relative strength of the low-energy mode

    @property
    def radius(self) -> float:
        """Radius of a circle around the particle (for placement without overlap)."""
        if self.kind == "triangle":
            return self.size / np.sqrt(3.0)
        return self.size / 2.0

    def vertices(self) -> NDArray[np.float64]:
        """Triangle corners, shape (3, 2)."""
        angles = self.angle + np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
        r = self.size / np.sqrt(3.0)
        return np.stack(
            [self.center[0] + r * np.sin(angles), self.center[1] + r * np.cos(angles)], axis=1
        )

    def rod_axis(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """End points of the rod's inner segment (the capsule's spine), each shape (2,)."""
        half = (self.size - self.width) / 2.0
        direction = np.array([np.sin(self.angle), np.cos(self.angle)])
        center = np.asarray(self.center)
        return center - half * direction, center + half * direction

    def hotspots(self) -> NDArray[np.float64]:
        """Where the low-energy mode is strongest, shape (k, 2): rod tips, triangle corners."""
        if self.kind == "rod":
            direction = np.array([np.sin(self.angle), np.cos(self.angle)])
            center = np.asarray(self.center)
            half = self.size / 2.0
            return np.stack([center - half * direction, center + half * direction])
        if self.kind == "triangle":
            return self.vertices()
        return np.zeros((0, 2))

    def signed_distance(self, rows: NDArray[np.float64], cols: NDArray[np.float64]) -> NDArray:
        """Distance (nm) to the particle outline, negative inside; same shape as ``rows``."""
        if self.kind == "sphere":
            return np.hypot(rows - self.center[0], cols - self.center[1]) - self.size / 2.0
        if self.kind == "rod":
            start, end = self.rod_axis()
            return _segment_distance(rows, cols, start, end) - self.width / 2.0
        corners = self.vertices()
        distance = np.full(rows.shape, np.inf)
        sides = []
        for k in range(3):
            a, b = corners[k], corners[(k + 1) % 3]
            distance = np.minimum(distance, _segment_distance(rows, cols, a, b))
            sides.append((b[1] - a[1]) * (rows - a[0]) - (b[0] - a[0]) * (cols - a[1]))
        side = np.stack(sides)
        # Inside a convex polygon the point lies on the same side of every edge.
        inside = np.all(side >= 0, axis=0) | np.all(side <= 0, axis=0)
        return np.where(inside, -distance, distance)

    def thickness(self, rows: NDArray[np.float64], cols: NDArray[np.float64]) -> NDArray:
        """Projected metal thickness (nm) along the beam; same shape as ``rows``."""
        if self.kind == "triangle":
            return np.where(self.signed_distance(rows, cols) < 0, self.width, 0.0)
        # Spheres and rods (capsules): a chord through a circle of the particle's radius.
        depth = -self.signed_distance(rows, cols)
        radius = self.width / 2.0
        return 2.0 * np.sqrt(np.clip(depth * (2.0 * radius - depth), 0.0, None))

    def low_mode_energy(self) -> float:
        """Energy (eV) of the low-energy dipole (rod) or corner (triangle) mode."""
        if self.kind == "rod":
            aspect_ratio = self.size / self.width
            return float(np.clip(2.35 - 0.26 * aspect_ratio, 1.05, 1.75))
        if self.kind == "triangle":
            return float(np.clip(2.45 - 0.025 * self.size, 1.2, 1.75))
        return float("nan")

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary (nm) for provenance and tests."""
        return {
            "kind": self.kind,
            "center_nm": [round(float(v), 3) for v in self.center],
            "angle_deg": round(float(np.degrees(self.angle)), 2),
            "size_nm": round(float(self.size), 3),
            "width_nm": round(float(self.width), 3),
            "low_mode_ev": None if self.kind == "sphere" else round(self.low_mode_energy(), 4),
            "hotspots_nm": [[round(float(v), 3) for v in p] for p in self.hotspots()],
        }


def _segment_distance(
    rows: NDArray[np.float64],
    cols: NDArray[np.float64],
    start: NDArray[np.float64],
    end: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Euclidean distance from every ``(rows, cols)`` point to the segment ``start``–``end``."""
    seg = end - start
    length2 = float(seg @ seg)
    if length2 == 0.0:
        return np.hypot(rows - start[0], cols - start[1])
    t = ((rows - start[0]) * seg[0] + (cols - start[1]) * seg[1]) / length2
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(rows - (start[0] + t * seg[0]), cols - (start[1] + t * seg[1]))


def _gaussian(energy: NDArray[np.float64], center: float, sigma: float) -> NDArray[np.float64]:
    return np.exp(-0.5 * ((energy - center) / sigma) ** 2)


def _place_particles(rng: np.random.Generator) -> list[_Particle]:
    """Draw 3 rods, 3 triangles and 5 spheres that neither overlap nor touch the border.

    Particles are kept at least ``gap_nm`` apart (outline to outline, on a 1 nm
    grid) so that each one's aloof field stays its own.
    """
    wanted = ["rod"] * 3 + ["triangle"] * 3 + ["sphere"] * 5
    gap_nm = 6.0
    coords = np.arange(0.5, FIELD_OF_VIEW_NM, 1.0)
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    for _layout in range(100):
        particles: list[_Particle] = []
        nearest = np.full(rows.shape, np.inf)  # distance to the nearest placed outline
        for kind in wanted:
            for _attempt in range(300):
                candidate = _draw_particle(kind, rng)
                footprint = candidate.signed_distance(rows, cols) <= 0
                if not np.any(nearest[footprint] <= gap_nm):
                    particles.append(candidate)
                    nearest = np.minimum(nearest, candidate.signed_distance(rows, cols))
                    break
            else:
                break  # this layout is too crowded: start a new one
        if len(particles) == len(wanted):
            return particles
    raise DataError(  # pragma: no cover - never reached for the seeds tried (0-200)
        f"could not place {len(wanted)} particles without overlap in a {FIELD_OF_VIEW_NM:g} nm "
        "field; try another seed."
    )


def _draw_particle(kind: str, rng: np.random.Generator) -> _Particle:
    """One random particle of ``kind``, fully inside the field of view with a 3 nm margin."""
    if kind == "rod":
        width = rng.uniform(6.0, 9.0)
        size = width * rng.uniform(2.8, 4.6)
        strength = rng.uniform(0.85, 1.15)
    elif kind == "triangle":
        size = rng.uniform(22.0, 34.0)
        width = rng.uniform(8.0, 12.0)
        strength = rng.uniform(0.8, 1.05)
    else:
        size = rng.uniform(8.0, 16.0)
        width = size
        strength = 0.0
    angle = rng.uniform(0.0, 2.0 * np.pi)
    margin = _Particle(kind, (0.0, 0.0), angle, size, width, strength).radius + 3.0
    center = (
        float(rng.uniform(margin, FIELD_OF_VIEW_NM - margin)),
        float(rng.uniform(margin, FIELD_OF_VIEW_NM - margin)),
    )
    return _Particle(kind, center, angle, size, width, strength)


def _overview(
    particles: list[_Particle], size: int, rng: np.random.Generator | None
) -> NDArray[np.float64]:
    """HAADF-like image, shape (size, size): metal thickness (Z-contrast) on a carbon film."""
    pixel_nm = FIELD_OF_VIEW_NM / size
    coords = (np.arange(size) + 0.5) * pixel_nm
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    thickness = sum((p.thickness(rows, cols) for p in particles), np.zeros_like(rows))
    # Amorphous support: a faint, speckled film; the metal scatters ~20x more per nm.
    texture_rng = rng if rng is not None else np.random.default_rng(12345)
    support = 0.06 + 0.015 * gaussian_filter(texture_rng.standard_normal((size, size)), 1.2)
    image = support + 0.05 * thickness
    image = gaussian_filter(image, 0.8 / pixel_nm)  # probe blur, ~0.8 nm
    if rng is not None:
        dose = 400.0  # detector counts at unit intensity: mild shot noise
        image = rng.poisson(np.clip(image, 0.0, None) * dose) / dose
    return np.asarray(image, dtype=np.float64)


def _model_spectra(
    particles: list[_Particle], size: int, energy: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Noise-free low-loss spectra (counts), shape (size, size, C), probe at pixel centres."""
    pixel_nm = FIELD_OF_VIEW_NM / size
    coords = (np.arange(size) + 0.5) * pixel_nm
    rows, cols = np.meshgrid(coords, coords, indexing="ij")

    thickness = np.zeros_like(rows)
    low_modes: list[tuple[NDArray[np.float64], float]] = []  # (weight map, energy eV)
    high_modes: list[tuple[NDArray[np.float64], float, float]] = []  # (weight, energy, sigma)
    for p in particles:
        sdf = p.signed_distance(rows, cols)
        thickness += p.thickness(rows, cols)
        inside = 1.0 / (1.0 + np.exp(sdf / 1.0))
        outline = np.exp(-np.abs(sdf) / _EDGE_DECAY_NM)
        if p.kind in ("rod", "triangle"):
            hot = np.zeros_like(rows)
            for spot in p.hotspots():
                hot += np.exp(-np.hypot(rows - spot[0], cols - spot[1]) / _HOTSPOT_DECAY_NM)
            low_modes.append((320.0 * p.strength * hot, p.low_mode_energy()))
        if p.kind == "rod":
            # Transverse mode along the long sides and the second longitudinal order.
            high_modes.append((60.0 * outline, 2.45, 0.12))
            second_order = float(np.clip(p.low_mode_energy() * 1.55, 2.2, 2.7))
            high_modes.append((45.0 * inside, second_order, 0.12))
        elif p.kind == "triangle":
            high_modes.append((70.0 * outline, 2.05 + 0.012 * p.size, 0.13))  # edge mode
            high_modes.append((55.0 * inside, 2.75, 0.13))  # interior breathing mode
        else:
            aloof = np.exp(-np.clip(sdf, 0.0, None) / _ALOOF_DECAY_NM) * (1.0 - 0.6 * inside)
            high_modes.append((90.0 * aloof, 2.6 + 0.015 * (18.0 - p.size), 0.12))

    zero_loss = _ZLP_HEIGHT * np.exp(-thickness / _INELASTIC_MEAN_FREE_PATH_NM)
    zlp_shape = _gaussian(energy, 0.0, _ZLP_SIGMA_EV) + _TAIL_FRACTION * (energy + 0.3) ** -3.0
    # The carbon film's pi/sigma plasmon rises towards 6 eV everywhere.
    support_shape = 12.0 * _gaussian(energy, 6.5, 1.2)

    spectra = zero_loss[..., None] * zlp_shape + support_shape
    spectra += (_BULK_COUNTS_PER_NM * thickness)[..., None] * _gaussian(
        energy, _BULK_PLASMON_EV, _BULK_SIGMA_EV
    )
    for weight, mode_ev in low_modes:
        spectra += weight[..., None] * _gaussian(energy, mode_ev, 0.1)
    for weight, mode_ev, sigma in high_modes:
        spectra += weight[..., None] * _gaussian(energy, mode_ev, sigma)
    return spectra


def window_sum(
    spectra: NDArray[np.floating[Any]], energy: EnergyAxis, window: tuple[float, float]
) -> NDArray[np.float64]:
    """Sum of the channels whose centre lies in ``[low, high]`` (inclusive), over the last axis.

    Parameters
    ----------
    spectra : ndarray of shape (..., C)
        Counts.
    energy : EnergyAxis
        The axis of the ``C`` channels.
    window : tuple of float
        ``(low, high)`` in axis units.

    Returns
    -------
    ndarray of shape (...)
        The window sums, float64.
    """
    # Channel centres inside the window, with a hair of tolerance so that a window edge
    # landing on a channel centre includes it despite float rounding.
    eps = 1e-9
    first = max(int(np.ceil((window[0] - energy.offset) / energy.scale - eps)), 0)
    last = min(int(np.floor((window[1] - energy.offset) / energy.scale + eps)), energy.size - 1)
    return np.asarray(spectra, dtype=np.float64)[..., first : last + 1].sum(axis=-1)


def plasmonic_nanoparticles(
    seed: int = 0,
    overview_size: int = 128,
    spectrum_size: int = 64,
    n_channels: int = 300,
    noise: bool = True,
) -> Dataset:
    """Low-loss EELS of silver-like nanorods, nanotriangles and spheres on carbon.

    The field of view is 128 nm square: with the defaults the overview is
    128×128 at 1 nm/pixel and the spectrum image 64×64 at 2 nm/pixel (each
    spectrum pixel under a 2×2 block of overview pixels). The energy axis runs
    from 0 eV in ``6 / n_channels`` eV steps (default 300 channels of 0.02 eV,
    0–5.98 eV).

    Parameters
    ----------
    seed : int
        Seeds the particle layout and all noise; the same seed gives identical arrays.
    overview_size : int
        Side ``H = W`` of the overview image, >= ``spectrum_size``.
    spectrum_size : int
        Side ``h = w`` of the spectrum grid, >= 8.
    n_channels : int
        Number of energy channels ``C`` over 0–6 eV, >= 60.
    noise : bool
        Poisson noise on the spectra and shot noise on the overview. ``False``
        gives the noise-free model (the ground truth is the same either way).

    Returns
    -------
    Dataset
        ``image.spectra`` of shape (spectrum_size, spectrum_size, n_channels)
        in counts (float32), ``ground_truth`` of shape (overview_size,
        overview_size): the noise-free window sum 1.0–1.8 eV at each overview
        pixel's spectrum pixel, and ``default_scalarizer``
        ``{"kind": "window_sum", "window": [1.0, 1.8]}``.
    """
    _check_sizes(overview_size, spectrum_size, n_channels)
    layout_seed, overview_seed, spectrum_seed = np.random.SeedSequence(seed).spawn(3)
    particles = _place_particles(np.random.default_rng(layout_seed))
    energy = EnergyAxis(n_channels, 0.0, ENERGY_MAX_EV / n_channels, "eV")

    overview = _overview(
        particles,
        overview_size,
        np.random.default_rng(overview_seed) if noise else None,
    )
    clean = _model_spectra(particles, spectrum_size, energy.values)
    spectra = counted_spectra(clean, spectrum_seed, noise)

    pixel_nm = FIELD_OF_VIEW_NM / overview_size
    metadata = {
        "source": "steerscope.datasets.plasmonic_nanoparticles",
        "instrument": "synthetic (no microscope)",
        "beam_energy_kev": 60.0,
        "license": LICENSE,
        "seed": seed,
    }
    image = SpectrumImage(
        overview=overview,
        spectra=spectra,
        energy=energy,
        signal_kind=SignalKind.EELS,
        pixel_size=pixel_nm,
        pixel_units="nm",
        metadata=metadata,
    )
    window = PLASMONIC_WINDOW_EV
    # Same mapping as SpectrumImage.to_spectrum_grid: the target under each overview pixel.
    ground_truth = image.overview_map(window_sum(clean.astype(np.float32), energy, window))

    provenance = synthetic_provenance(
        "plasmonic_nanoparticles",
        GENERATOR_VERSION,
        seed,
        {
            "overview_size": overview_size,
            "spectrum_size": spectrum_size,
            "n_channels": n_channels,
            "noise": noise,
        },
        field_of_view_nm=FIELD_OF_VIEW_NM,
        particles=[p.describe() for p in particles],
    )
    description = (
        "Low-loss EELS (60 kV, synthetic) of silver-like nanorods, nanotriangles and spheres "
        f"on a thin amorphous carbon film, {FIELD_OF_VIEW_NM:g} nm field of view "
        f"({pixel_nm:g} nm/pixel overview, {FIELD_OF_VIEW_NM / spectrum_size:g} nm/pixel "
        "spectra). Each spectrum holds the zero-loss tail, the bulk plasmon at 3.8 eV inside the "
        "metal, and the localized surface plasmons the probe excites there: edge, transverse and "
        "sphere dipole modes at 2.2–2.9 eV along outlines and in interiors, and the low-energy "
        "longitudinal dipole (rods, 1.05–1.75 eV by aspect ratio) and corner mode (triangles, "
        "1.2–1.75 eV by size) that live only within a few nm of rod tips and triangle corners, "
        "also aloof. The target is the intensity in 1.0–1.8 eV: its bright spots are the rod "
        "tips and triangle corners, a few percent of the field, not the brightest HAADF regions."
    )
    return Dataset(
        name="plasmonic_nanoparticles",
        image=image,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        default_scalarizer={"kind": "window_sum", "window": [window[0], window[1]]},
        description=description,
        provenance=provenance,
    )


def _check_sizes(overview_size: int, spectrum_size: int, n_channels: int) -> None:
    check_grid_sizes(overview_size, spectrum_size)
    if n_channels < 60:
        raise DataError(
            f"n_channels must be an integer >= 60 to resolve the plasmon peaks; got "
            f"{n_channels!r}. Pass e.g. n_channels=300 (0.02 eV/channel)."
        )
