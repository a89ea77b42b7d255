"""EELS spectrum images recorded from nionswift-usim, Nion's simulated STEM.

usim models a sample as features (rectangular flakes, gold balls on carbon), each
with its own plasmon and core-loss edges; its EELS camera gives, at a parked probe,
the zero-loss peak, plasmons and edges of every feature under the probe, scaled by
the thickness. These datasets record once, through steerscope's Nion driver and
usim's EELS simulator, a HAADF overview and a noise-free spectrum at the centre of
every 4 × 4 block of it (about a minute), cache that under
:func:`~steerscope.datasets.real.data_dir`, and add seeded Poisson noise at the
chosen dose on every load.

They are steerscope's discovery tests on data not written by steerscope: in the
flake sample the target material is not the HAADF-brightest one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data import SpectrumImage
from steerscope.datasets.base import Dataset
from steerscope.datasets.real import data_dir
from steerscope.errors import DataError
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["usim_flake_eels", "usim_gold_eels"]

RECORDING_VERSION = "1"
"""Bumped whenever a recording would differ; part of the cache file's name."""

GRID = 48
"""Spectra per side."""

STEP = 4
"""Overview pixels per spectrum pixel, per side (the overview is 192 × 192)."""

LICENSE = "GPL-3.0-or-later (recorded by steerscope from nionswift-usim, GPL-3.0)"


def _recording(sample_index: int) -> dict[str, Any]:
    """The cached usim recording of ``sample_index``, recorded first if missing."""
    path = data_dir() / "usim" / f"sample{sample_index}-{GRID}x{STEP}-v{RECORDING_VERSION}.npz"
    if not path.exists():
        try:
            from steerscope.testing.usim import record_eels_spectrum_image, usim_session
        except ImportError as exc:  # pragma: no cover - the [nion] extra is installed by make
            raise DataError(
                "the usim datasets are recorded from nionswift-usim, which is not installed: "
                "pip install 'steerscope[nion]' (make setup installs it)"
            ) from exc
        with usim_session(sample_index=sample_index) as stem:
            recorded = record_eels_spectrum_image(stem, grid=GRID, step=STEP)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **recorded)
        tmp.replace(path)
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}


def _window_sum(spectra: NDArray[Any], energy: EnergyAxis, window: tuple[float, float]) -> Any:
    channels = energy.values
    inside = (channels >= window[0]) & (channels < window[1])
    return spectra[..., inside].sum(axis=-1)


def _dataset(
    name: str,
    sample_index: int,
    window: tuple[float, float],
    description: str,
    counts_per_spectrum: float,
    seed: int,
) -> Dataset:
    if not (isinstance(counts_per_spectrum, int | float) and counts_per_spectrum >= 100):
        raise DataError(
            f"counts_per_spectrum must be a number >= 100 (electrons in one spectrum); got "
            f"{counts_per_spectrum!r}. The default, 1e5, is a short low-loss exposure."
        )
    recorded = _recording(sample_index)
    spectra = np.asarray(recorded["spectra"], dtype=np.float64)
    # usim's spectra all carry the same beam current; scale them to the chosen dose.
    clean = spectra * (float(counts_per_spectrum) / spectra.sum(axis=-1).mean())
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(np.clip(clean, 0.0, None)).astype(np.float32)
    energy = EnergyAxis(
        spectra.shape[-1], float(recorded["energy_offset"]), float(recorded["energy_scale"]), "eV"
    )
    image = SpectrumImage(
        overview=np.asarray(recorded["overview"], dtype=np.float32),
        spectra=noisy,
        energy=energy,
        signal_kind=SignalKind.EELS,
        pixel_size=float(recorded["pixel_size_nm"]),
        pixel_units="nm",
        metadata={
            "source": "nionswift-usim",
            "instrument": f"nionswift-usim (simulated Nion STEM), sample {recorded['sample']}",
            "license": LICENSE,
            "seed": seed,
        },
    )
    ground_truth = image.overview_map(_window_sum(clean, energy, window))
    return Dataset(
        name=name,
        image=image,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        default_scalarizer={"kind": "window_sum", "window": [window[0], window[1]]},
        description=description,
        provenance={
            "origin": "nionswift-usim",
            "generator": f"steerscope.datasets.usim_eels.{name}",
            "version": RECORDING_VERSION,
            "usim_sample": str(recorded["sample"]),
            "seed": seed,
            "options": {"counts_per_spectrum": counts_per_spectrum},
            "license": LICENSE,
            "cache": str(data_dir() / "usim"),
        },
    )


def usim_flake_eels(counts_per_spectrum: float = 1e5, seed: int = 0) -> Dataset:
    """The "Flake" sample of usim: overlapping Ni, Ge and Si flakes; the target is nickel.

    Parameters
    ----------
    counts_per_spectrum : float
        Electrons in one spectrum (sets the Poisson noise).
    seed : int
        Seed of the noise.

    Returns
    -------
    Dataset
        192 × 192 HAADF at 0.52 nm/pixel, 48 × 48 spectra × 1024 channels,
        −20 to 491.5 eV; target the counts in 70–90 eV, above the Ni M2,3 edge (68 eV).
    """
    return _dataset(
        "usim_flake_eels",
        0,
        (70.0, 90.0),
        "Low-loss EELS of nionswift-usim's flake sample: rectangular flakes of Ni, Ge and Si "
        "that overlap, so the HAADF counts layers, not materials. The target is the intensity "
        "in 70–90 eV, just above the Ni M2,3 edge at 68 eV: high on the nickel flakes, a few "
        "percent of the field, which the HAADF shows no brighter than a single flake of "
        "another material. The discovery test where the overview says little about the target.",
        counts_per_spectrum,
        seed,
    )


def usim_gold_eels(counts_per_spectrum: float = 1e5, seed: int = 0) -> Dataset:
    """The "CTS" sample of usim: gold balls on amorphous carbon; the target is gold's plasmons.

    Parameters
    ----------
    counts_per_spectrum : float
        Electrons in one spectrum (sets the Poisson noise).
    seed : int
        Seed of the noise.

    Returns
    -------
    Dataset
        192 × 192 HAADF, 48 × 48 spectra × 1024 channels, −20 to 491.5 eV; target
        the counts in 10–25 eV (plasmons), highest where two balls overlap.
    """
    return _dataset(
        "usim_gold_eels",
        2,
        (10.0, 25.0),
        "Low-loss EELS of nionswift-usim's CTS sample: gold balls on amorphous carbon. usim "
        "gives each ball's spectrum over its square bounding box; where two boxes overlap the "
        "probe sees twice the thickness. The target is the plasmon intensity in 10–25 eV: "
        "high around every ball, highest in the few overlaps.",
        counts_per_spectrum,
        seed,
    )
