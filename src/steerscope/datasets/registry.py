"""The dataset registry: every built-in dataset by name.

Synthetic datasets are generated on request (well under 2 s each); real ones
read the HyperSpy test files fetched by ``steerscope datasets fetch``. Loaders
are imported only when their dataset is asked for, so a missing optional
module or missing files break only that one dataset.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from steerscope.datasets.base import Dataset
from steerscope.errors import DataError

__all__ = ["dataset_info", "get_dataset", "list_datasets"]


@dataclass(frozen=True)
class _Entry:
    """Where a dataset's loader lives and what a person should know before loading it."""

    module: str
    function: str
    kind: str  # "synthetic", "real" or "simulated" (recorded from an instrument simulator)
    summary: str


_REGISTRY: dict[str, _Entry] = {
    "plasmonic_nanoparticles": _Entry(
        "steerscope.datasets.plasmonic",
        "plasmonic_nanoparticles",
        "synthetic",
        "Low-loss EELS of silver-like nanorods, nanotriangles and spheres on carbon. "
        "Overview 128×128 HAADF at 1 nm/pixel, spectra 64×64 × 300 channels, 0–5.98 eV at "
        "0.02 eV/channel. Target: counts in 1.0–1.8 eV (the low-energy dipole/corner plasmons "
        "at rod tips and triangle corners); a few small hot spots.",
    ),
    "core_loss_two_phase": _Entry(
        "steerscope.datasets.core_loss",
        "core_loss_two_phase",
        "synthetic",
        "Core-loss EELS of a two-phase Mn/Fe oxide polycrystal (Mn-rich phase A, Fe-rich "
        "phase B, brighter). Overview 128×128 at 0.5 nm/pixel, spectra 64×64 × 500 channels, "
        "550–799.5 eV at 0.5 eV/channel, Mn L2,3 (640/651 eV) and Fe L2,3 (708/721 eV) edges. "
        "Target: Fe L3 / Mn L3 raw window ratio; high in the Fe-rich grains.",
    ),
    "sts_dopants": _Entry(
        "steerscope.datasets.sts",
        "sts_dopants",
        "synthetic",
        "Scanning tunnelling spectroscopy (STS) of a doped semiconductor surface: 128×128 "
        "topography at 0.25 nm/pixel, dI/dV 64×64 × 200 channels over −1…+1 V. Vacancies and "
        "dopants look nearly alike in the topography; only dopants bind a state in the gap. "
        "Target: dI/dV in 0.3–0.4 V (the bound state), around the 7 dopants.",
    ),
    "be_pfm_grains": _Entry(
        "steerscope.datasets.band_excitation",
        "be_pfm_grains",
        "synthetic",
        "Band-excitation piezoresponse (BE-PFM) of a ferroelectric polycrystal: 128×128 "
        "topography at 15.6 nm/pixel, response amplitude 64×64 × 80 channels over 300–400 "
        "kHz. Stripe domains in 18 grains; 2 grains of a minority phase respond up to 2.4× "
        "as strongly in their cores. Target: the fitted SHO amplitude A0, highest there.",
    ),
    "jeol_fes": _Entry(
        "steerscope.datasets.real",
        "jeol_fes",
        "real",
        "Real STEM-EDX of an FeS particle (JEOL .ASW/.pts, HyperSpy 1.7.6 test file, "
        "GPL-3.0): 512×512 overview, spectra binned 8× to 64×64. Target: an X-ray line "
        "intensity (Fe Ka by default). "
        "Needs `steerscope datasets fetch` once.",
    ),
    "bruker_tem": _Entry(
        "steerscope.datasets.real",
        "bruker_tem",
        "real",
        "Real STEM-EDX, Bruker .bcf 64×64 × 2048 channels, low counts (HyperSpy 1.7.6 test "
        "file, GPL-3.0) with its HAADF. Target: Si Ka. Needs `steerscope datasets fetch` once.",
    ),
    "velox_aupdcu": _Entry(
        "steerscope.datasets.real",
        "velox_aupdcu",
        "real",
        "Real STEM-EDX of Au/Pd/Cu particles, ThermoFisher Velox .emd 16×16 × 4096 channels "
        "with HAADF (HyperSpy 1.7.6 test file, GPL-3.0). Target: Au La by default. "
        "Needs `steerscope datasets fetch` once.",
    ),
    "usim_flake_eels": _Entry(
        "steerscope.datasets.usim_eels",
        "usim_flake_eels",
        "simulated",
        "Low-loss EELS recorded from nionswift-usim's flake sample (overlapping Ni, Ge and Si "
        "flakes): 192×192 HAADF at 0.52 nm/pixel, spectra 48×48 × 1024 channels, −20–491.5 eV. "
        "Target: counts in 70–90 eV (Ni M2,3 edge), on the nickel flakes, which the HAADF does "
        "not single out. Recorded once (about a minute), then cached.",
    ),
    "usim_gold_eels": _Entry(
        "steerscope.datasets.usim_eels",
        "usim_gold_eels",
        "simulated",
        "Low-loss EELS recorded from nionswift-usim's CTS sample (gold balls on carbon): "
        "192×192 HAADF, spectra 48×48 × 1024 channels. Target: plasmon counts in 10–25 eV, "
        "around the balls, highest where two overlap. Recorded once (about a minute), then "
        "cached.",
    ),
}


def list_datasets() -> list[str]:
    """Names of every built-in dataset, synthetic first, in a fixed order.

    Returns
    -------
    list of str
        Names accepted by :func:`get_dataset`.
    """
    return list(_REGISTRY)


def _entry(name: str) -> _Entry:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise DataError(
            f"unknown dataset {name!r}; expected one of {', '.join(_REGISTRY)}. "
            "See `steerscope.datasets.list_datasets()`."
        )
    return _REGISTRY[name]


def _loader(name: str) -> Callable[..., Dataset]:
    entry = _entry(name)
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise DataError(
            f"the loader of dataset {name!r} ({entry.module}) cannot be imported: {exc}. "
            "Reinstall steerscope (`make setup`) or pick a synthetic dataset."
        ) from exc
    loader: Callable[..., Dataset] = getattr(module, entry.function)
    return loader


def get_dataset(name: str, **options: object) -> Dataset:
    """Build or load a built-in dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    **options
        Passed to the dataset's generator or loader, e.g. ``seed=3`` for a
        synthetic dataset; :func:`dataset_info` lists what each accepts.

    Returns
    -------
    Dataset
        The spectrum image, its ground truth on the overview grid, the default
        scalarizer spec, a description and its provenance.

    Raises
    ------
    DataError
        If the name is unknown, an option is not accepted, or (real data) the
        files have not been fetched.
    """
    loader = _loader(name)
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(
            f"dataset {name!r} does not take the option(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(accepted) if accepted else 'no options'}."
        )
    return loader(**options)


def dataset_info(name: str) -> str:
    """A short human-readable description of a dataset, without building it.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    str
        Name, kind (synthetic or real), what it holds and its target, and the
        options :func:`get_dataset` accepts for it.
    """
    entry = _entry(name)
    lines = [f"{name} ({entry.kind})", entry.summary]
    try:
        loader = _loader(name)
    except DataError:
        lines.append(f"options: unavailable ({entry.module} cannot be imported)")
    else:
        signature = inspect.signature(loader)
        options = ", ".join(
            f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
            for p in signature.parameters.values()
        )
        lines.append(f"options: {options or 'none'}")
    return "\n".join(lines)
