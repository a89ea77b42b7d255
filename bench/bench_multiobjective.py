"""Two-objective discovery: hypervolume against the number of measurements, EHVI vs random.

Problem: the plasmonic dataset (seed 0), 16x16 patches on a stride-2 grid of candidates
(4096), 8 PCA components; objectives are the ``window_sum`` of the low-energy tip/corner
modes (1.0–1.8 eV) and of the bulk plasmon (3.5–4.1 eV), computed from each candidate's
stored spectrum. Each run starts from 6 random points and measures 2 per step up to the
budget; hypervolume uses one fixed reference point (the worst value of each objective
over all candidates) so that it is comparable across steps and methods.

Methods: ``ehvi``, ``chebyshev`` and ``weighted_sum`` (equal weights, beta 4) on a
``MultiObjectiveSurrogate`` of exact GPs, and ``random``. Also measured: one EHVI step's
time over 16k candidates (stride 1), and independent DKL models vs one DKL with a
shared feature extractor and two GP heads (fit time, held-out R^2).

Writes ``results/multiobjective.json`` and ``results/multiobjective.png``.
Run: ``.venv/bin/python bench/bench_multiobjective.py`` (about 1.5 min on an idle 2-core CPU).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from common import RESULTS, machine, save
from numpy.typing import NDArray

from steerscope.acquisition.multi_objective import (
    hypervolume,
    multi_objective_scores,
    pareto_front,
)
from steerscope.acquisition.selection import select_points
from steerscope.datasets import plasmonic_nanoparticles
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.models.multi_objective import MultiObjectiveSurrogate
from steerscope.models.spec import ModelSpec
from steerscope.scalarizers import parse_scalarizer

SCALARIZER = {
    "kind": "multi",
    "targets": [
        {"kind": "window_sum", "window": [1.0, 1.8]},
        {"kind": "window_sum", "window": [3.5, 4.1]},
    ],
}
METHODS = ("ehvi", "chebyshev", "weighted_sum", "random")
N_SEED_POINTS = 6
BATCH = 2


def make_problem(stride: int) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.float64]]:
    """Candidate features ``(M, 8)``, pixels ``(M, 2)`` and both targets ``(M, 2)``."""
    dataset = plasmonic_nanoparticles(seed=0)
    descriptors = extract_descriptors(
        dataset.image.overview, DescriptorSpec(patch_size=16, stride=stride, pca_components=8)
    )
    spectra = dataset.image.spectra_at(descriptors.pixels)
    targets = parse_scalarizer(SCALARIZER).apply(spectra, dataset.image.energy)
    return descriptors.features, descriptors.pixels, np.asarray(targets, dtype=np.float64)


def run(
    method: str,
    features: NDArray[Any],
    pixels: NDArray[np.int64],
    targets: NDArray[np.float64],
    seed: int,
    budget: int,
) -> dict[str, Any]:
    """Hypervolume after each step (``n_measured``, ``hypervolume``) of one run."""
    reference = targets.min(axis=0)
    rng = np.random.default_rng(seed)
    if method == "random":
        order = rng.choice(len(targets), budget, replace=False)
        counts = list(range(N_SEED_POINTS, budget + 1, BATCH))
        return {
            "n_measured": counts,
            "hypervolume": [hypervolume(targets[order[:n]], reference) for n in counts],
            "step_seconds": [],
        }
    measured = [int(i) for i in rng.choice(len(targets), N_SEED_POINTS, replace=False)]
    model = MultiObjectiveSurrogate(ModelSpec(kind="exact_gp"), n_objectives=2, seed=seed)
    counts = [len(measured)]
    volumes = [hypervolume(targets[measured], reference)]
    seconds = []
    while len(measured) < budget:
        start = time.perf_counter()
        model.fit(features[measured], targets[measured])
        mean, var = model.posterior(features)
        scores = multi_objective_scores(
            method, mean, var, Y_measured=targets[measured], weights=[0.5, 0.5], beta=4.0
        )
        q = min(BATCH, budget - len(measured))
        chosen = select_points(scores, pixels, q, exclude=pixels[measured], min_distance=3.0)
        seconds.append(time.perf_counter() - start)
        measured += [int(i) for i in chosen]
        counts.append(len(measured))
        volumes.append(hypervolume(targets[measured], reference))
    return {"n_measured": counts, "hypervolume": volumes, "step_seconds": seconds}


def ehvi_timing(n_measured: int = 60, seed: int = 0) -> dict[str, float]:
    """Seconds of one fit, posterior and EHVI over all stride-1 candidates."""
    features, _, targets = make_problem(stride=1)
    rng = np.random.default_rng(seed)
    measured = rng.choice(len(targets), n_measured, replace=False)
    model = MultiObjectiveSurrogate(ModelSpec(kind="exact_gp"), n_objectives=2, seed=seed)
    t0 = time.perf_counter()
    model.fit(features[measured], targets[measured])
    t1 = time.perf_counter()
    mean, var = model.posterior(features)
    t2 = time.perf_counter()
    multi_objective_scores("ehvi", mean, var, Y_measured=targets[measured])
    t3 = time.perf_counter()
    return {
        "n_candidates": len(targets),
        "n_measured": n_measured,
        "pareto_points": int(pareto_front(targets[measured]).sum()),
        "fit_s": t1 - t0,
        "posterior_s": t2 - t1,
        "ehvi_s": t3 - t2,
    }


def _r2(truth: NDArray[np.float64], prediction: NDArray[np.float64]) -> float:
    return float(1 - np.sum((truth - prediction) ** 2) / np.sum((truth - truth.mean()) ** 2))


def _shared_dkl_r2(
    X: NDArray[np.float64],
    Y: NDArray[np.float64],
    X_test: NDArray[np.float64],
    Y_test: NDArray[np.float64],
    seed: int,
) -> list[float]:
    """Held-out R^2 per objective of one MLP extractor with one GP head per objective.

    Same MLP, GP head, Adam loop and iteration count as a cold ``DKLSurrogate`` fit; the
    loss is the sum of the heads' negative log marginal likelihoods.
    """
    from steerscope.models._gp import GPHead, median_distance, torch_threads, train
    from steerscope.models.dkl import make_extractor

    spec = ModelSpec(kind="dkl")
    n_objectives = Y.shape[1]
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        center, scale = float(X.mean()), float(X.std()) or 1.0
        extractor = make_extractor("mlp", X.shape[1], list(spec.hidden), spec.latent_dim)
        heads = [GPHead(spec.latent_dim, "rbf", 1e-4) for _ in range(n_objectives)]
        y_mean, y_std = Y.mean(axis=0), Y.std(axis=0)
        X_t = torch.from_numpy((X - center) / scale)
        Y_t = torch.from_numpy((Y - y_mean) / y_std)
        with torch.no_grad():
            lengthscale = median_distance(extractor(X_t))
        for head in heads:
            head.reset(lengthscale=lengthscale)

        def loss() -> torch.Tensor:
            z = extractor(X_t)
            total = torch.zeros((), dtype=torch.float64)
            for j, head in enumerate(heads):
                total = total + head.negative_mll(z, Y_t[:, j])
            return total

        train(
            loss,
            [*extractor.parameters(), *(p for head in heads for p in head.parameters())],
            iterations=spec.cold_iterations,
            learning_rate=0.01,
            patience=0,
        )
        r2 = []
        with torch.no_grad():
            z = extractor(X_t)
            z_test = extractor(torch.from_numpy((X_test - center) / scale))
            for j, head in enumerate(heads):
                mean, _ = head.predict(head.condition(z, Y_t[:, j]), z_test)
                r2.append(_r2(Y_test[:, j], mean.numpy() * y_std[j] + y_mean[j]))
    return r2


def shared_vs_independent(n_train: int, seeds: range) -> dict[str, Any]:
    """Independent DKL per objective vs one extractor with two GP heads (sum of the NLLs).

    The shared model reuses the single-objective building blocks (same MLP, same GP head,
    same Adam loop and iteration count as a cold ``DKLSurrogate`` fit) so that only the
    sharing differs.
    """
    features, _, targets = make_problem(stride=2)
    spec = ModelSpec(kind="dkl")
    out: dict[str, list[Any]] = {"independent": [], "shared": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(targets))
        train_idx, test_idx = order[:n_train], order[n_train : n_train + 1000]
        X = features[train_idx].astype(np.float64)
        Y = targets[train_idx]

        t0 = time.perf_counter()
        model = MultiObjectiveSurrogate(spec, 2, seed=seed).fit(X, Y)
        mean, _ = model.posterior(features[test_idx])
        out["independent"].append(
            {
                "fit_s": time.perf_counter() - t0,
                "r2": [_r2(targets[test_idx, j], mean[:, j]) for j in range(2)],
            }
        )

        t0 = time.perf_counter()
        r2 = _shared_dkl_r2(X, Y, features[test_idx].astype(np.float64), targets[test_idx], seed)
        out["shared"].append({"fit_s": time.perf_counter() - t0, "r2": r2})
    summary = {
        name: {
            "median_fit_s": float(np.median([r["fit_s"] for r in runs])),
            "median_r2": np.median([r["r2"] for r in runs], axis=0).tolist(),
        }
        for name, runs in out.items()
    }
    return {"n_train": n_train, "runs": out, "summary": summary}


def plot(results: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for method, runs in results["runs"].items():
        counts = runs[0]["n_measured"]
        volumes = np.array([r["hypervolume"] for r in runs]) / results["max_hypervolume"]
        median = np.median(volumes, axis=0)
        line = ax.plot(counts, median, label=method)[0]
        ax.fill_between(
            counts,
            np.quantile(volumes, 0.25, axis=0),
            np.quantile(volumes, 0.75, axis=0),
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_xlabel("measured points")
    ax.set_ylabel("hypervolume / hypervolume of all candidates")
    ax.set_title(f"plasmonic, 2 objectives, median of {len(results['seeds'])} seeds (IQR shaded)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--skip-dkl", action="store_true", help="skip the shared-extractor test")
    parser.add_argument(
        "--only-dkl", action="store_true", help="run only the shared-extractor test"
    )
    args = parser.parse_args()
    if args.only_dkl:
        print(shared_vs_independent(60, range(3))["summary"])
        return

    features, pixels, targets = make_problem(stride=2)
    max_volume = hypervolume(targets, targets.min(axis=0))
    seeds = list(range(args.seeds))
    runs: dict[str, list[dict[str, Any]]] = {}
    for method in METHODS:
        runs[method] = []
        for seed in seeds:
            result = run(method, features, pixels, targets, seed, args.budget)
            runs[method].append(result)
            print(f"{method:13s} seed {seed}: {result['hypervolume'][-1] / max_volume:.3f}")
    summary = {
        method: {
            "median_final_fraction": float(
                np.median([r["hypervolume"][-1] for r in method_runs]) / max_volume
            ),
            "median_step_s": float(np.median([s for r in method_runs for s in r["step_seconds"]]))
            if method != "random"
            else None,
        }
        for method, method_runs in runs.items()
    }
    results: dict[str, Any] = {
        "problem": {
            "dataset": "plasmonic_nanoparticles(seed=0)",
            "scalarizer": SCALARIZER,
            "descriptors": "patch 16, stride 2, 8 PCA components",
            "n_candidates": len(targets),
            "pareto_points_all_candidates": int(pareto_front(targets).sum()),
        },
        "seeds": seeds,
        "budget": args.budget,
        "n_seed_points": N_SEED_POINTS,
        "batch": BATCH,
        "max_hypervolume": max_volume,
        "summary": summary,
        "runs": runs,
        "ehvi_timing_16k": ehvi_timing(),
        "machine": machine(),
    }
    if not args.skip_dkl:
        results["shared_vs_independent_dkl"] = shared_vs_independent(60, range(3))
    path = save("multiobjective", results)
    plot(results, RESULTS / "multiobjective.png")
    print(f"summary: {summary}")
    print(f"EHVI timing at 16k: {results['ehvi_timing_16k']}")
    if "shared_vs_independent_dkl" in results:
        print(f"DKL: {results['shared_vs_independent_dkl']['summary']}")
    print(f"wrote {path} and {RESULTS / 'multiobjective.png'}")


if __name__ == "__main__":
    main()
