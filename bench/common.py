"""Shared pieces of the benchmarks: problems built from the built-in datasets, the peer runner."""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.datasets import get_dataset
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.models import ModelSpec
from steerscope.scalarizers import parse_scalarizer

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Problem:
    """A discovery problem: candidate features, their measured targets and the ground truth.

    ``y`` holds, for every candidate, the target its stored (noisy) spectrum gives with
    the dataset's default scalarizer: what an instrument would return there. ``top`` marks
    the top-1 % ground-truth pixels on the overview grid.
    """

    name: str
    X: NDArray[np.float32]  # (M, d)
    pixels: NDArray[np.int64]  # (M, 2)
    y: NDArray[np.float64]  # (M,)
    top: NDArray[np.int64]  # (T, 2)


def make_problem(
    name: str, *, patch_size: int = 16, stride: int | None = None, **options: Any
) -> Problem:
    """Build a :class:`Problem` from a built-in dataset.

    ``stride=None`` picks the candidate stride that gives about 16k candidates, the
    size of the reference's use case (a 512×512 overview gets stride 4).
    """
    ds = get_dataset(name, **options)
    if stride is None:
        stride = max(1, round(np.sqrt(ds.image.overview.size / 16384)))
    desc = extract_descriptors(
        ds.image.overview, DescriptorSpec(patch_size=patch_size, stride=stride)
    )
    spec = parse_scalarizer(ds.default_scalarizer)
    y = np.asarray(spec.apply(ds.image.spectra_at(desc.pixels), ds.image.energy), dtype=np.float64)
    return Problem(name, desc.features, desc.pixels, y, top_pixels(ds.ground_truth))


def top_pixels(ground_truth: NDArray[Any], fraction: float = 0.01) -> NDArray[np.int64]:
    """The ``fraction`` highest pixels of a ground-truth map (H, W), as ``(T, 2)`` pixels.

    Simulated maps have plateaus: when ties at the quantile make the set more than
    twice ``fraction``, the pixels strictly above it are the top set (usim's gold
    sample: the 0.4 % where two balls overlap, not the 30 % under any ball), unless
    the plateau is the maximum itself (usim's nickel flakes, 6 %).
    """
    gt = np.asarray(ground_truth, dtype=np.float64)
    threshold = np.quantile(gt, 1.0 - fraction)
    top = gt >= threshold
    if top.mean() > 2 * fraction and (gt > threshold).any():
        top = gt > threshold
    return np.argwhere(top)


def model_spec(kind: str) -> ModelSpec:
    """steerscope's defaults (the exact GP works on 10 PCA components of the patches)."""
    return ModelSpec(kind=kind)


def discovered_fraction(
    top: NDArray[np.int64], measured: NDArray[np.int64], radius: float = 2.0
) -> float:
    """Fraction of ``top`` pixels (T, 2) within ``radius`` px of a ``measured`` pixel (n, 2)."""
    if len(measured) == 0:
        return 0.0
    d2 = ((top[:, None, :] - measured[None, :, :]) ** 2).sum(-1)
    return float(np.mean(d2.min(axis=1) <= radius**2))


def run_gpax(mode: str, gpax_python: str, arrays: dict[str, Any]) -> dict[str, Any]:
    """Run ``gpax_worker.py MODE`` in the peer's venv and return its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(src, **arrays)
        worker = Path(__file__).parent / "gpax_worker.py"
        subprocess.run([gpax_python, str(worker), mode, str(src), str(dst)], check=True)
        return json.loads(dst.read_text())


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    import os

    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/NAME.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path


def predictive_quality(
    mean: NDArray[Any], var: NDArray[Any], truth: NDArray[Any]
) -> dict[str, float]:
    """Standardised RMSE and mean Gaussian predictive log-likelihood of a posterior.

    ``mean``, ``var`` and ``truth`` have shape ``(m,)``; errors are in units of the
    truth's standard deviation, so figures compare across datasets.
    """
    scale = float(np.std(truth)) or 1.0
    z = (truth - mean) / scale
    var_z = np.clip(var, 1e-12, None) / scale**2
    loglik = -0.5 * (np.log(2 * np.pi * var_z) + z**2 / var_z)
    return {"rmse_std": float(np.sqrt(np.mean(z**2))), "mean_loglik": float(np.mean(loglik))}


DISCOVERY_DATASETS = (
    "plasmonic_nanoparticles",
    "core_loss_two_phase",
    "jeol_fes",
    "bruker_tem",
    "velox_aupdcu",
    "usim_flake_eels",
    "usim_gold_eels",
)
"""Datasets of the discovery benchmark, in the order the report shows them."""
HELD_OUT = ("usim_gold_eels",)

JUDGEMENT_DATASETS = ["plasmonic_nanoparticles", "core_loss_two_phase", "usim_gold_eels"]
"""Where the operator-judgement benches run by default (votes, comparisons): two tuned on,
one held out."""
"""Datasets kept out of every choice of defaults, reported apart."""
