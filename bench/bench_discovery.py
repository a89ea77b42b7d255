"""Discovery: the fraction of the top-1 % target pixels found (within 2 px) vs measurements.

Every method runs the same loop on the same problem: a few random seed points, then
one point per step chosen by the method, the target of a chosen pixel being what its
stored spectrum gives with the dataset's default scalarizer. Results are appended per
(dataset, method, seed) to ``results/discovery.json`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import RESULTS, discovered_fraction, machine, make_problem, model_spec, run_gpax

from steerscope.acquisition import acquisition_scores, select_points
from steerscope.models import make_surrogate

CHECKPOINTS = (25, 50, 100)
N_SEED_POINTS = 5
BETA = 0.25


def seed_indices(problem, seed: int) -> list[int]:
    rng = np.random.default_rng(1000 + seed)
    return [int(i) for i in rng.choice(len(problem.X), size=N_SEED_POINTS, replace=False)]


def run_steerscope(problem, kind: str, seed: int, budget: int) -> tuple[list[int], list[float]]:
    measured = seed_indices(problem, seed)
    model = make_surrogate(model_spec(kind), seed=seed)
    times = []
    while len(measured) < budget:
        t0 = time.perf_counter()
        model.fit(problem.X[measured], problem.y[measured])
        mean, var = model.posterior(problem.X)
        scores = acquisition_scores("ucb", mean, var, beta=BETA)
        (chosen,) = select_points(scores, problem.pixels, 1, exclude=problem.pixels[measured])
        measured.append(int(chosen))
        times.append(time.perf_counter() - t0)
    return measured, times


def run_random(problem, seed: int, budget: int) -> list[int]:
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(len(problem.X)), seed_indices(problem, seed))
    return seed_indices(problem, seed) + [
        int(i) for i in rng.permutation(rest)[: budget - N_SEED_POINTS]
    ]


def run_raster(problem, budget: int) -> list[int]:
    """A uniform grid of ``budget`` points visited row by row (seed-independent)."""
    rows, cols = problem.pixels.max(axis=0) + 1
    side = int(np.ceil(np.sqrt(budget)))
    r = np.linspace(0, rows - 1, side).round().astype(int)
    c = np.linspace(0, cols - 1, side).round().astype(int)
    lookup = {tuple(p): i for i, p in enumerate(problem.pixels.tolist())}
    order = [lookup.get((int(a), int(b))) for a in r for b in c]
    return [i for i in order if i is not None][:budget]


def save_run(path: Path, machine_info: dict, key: str, run: dict) -> None:
    """Add one run to ``path``, re-reading it first so concurrent benchmark processes
    (say, the peer's slow runs and a rerun of one method) do not overwrite each other."""
    store = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    store["machine"] = machine_info
    store["runs"][key] = run
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(store))
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpax-python", default=None)
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["plasmonic_nanoparticles", "core_loss_two_phase", "jeol_fes"],
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["steerscope dkl", "steerscope exact_gp", "gpax viDKL", "random", "raster"],
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()

    path = RESULTS / "discovery.json"
    RESULTS.mkdir(exist_ok=True)
    store = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    store["machine"] = machine()
    for name in args.datasets:
        problem = make_problem(name)
        for method in args.methods:
            for seed in range(args.seeds):
                key = f"{name}|{method}|{seed}|{args.budget}"
                if key in store["runs"]:
                    continue
                times: list[float] = []
                if method.startswith("steerscope"):
                    measured, times = run_steerscope(problem, method.split()[1], seed, args.budget)
                elif method == "gpax viDKL":
                    if not args.gpax_python:
                        continue
                    out = run_gpax(
                        "campaign",
                        args.gpax_python,
                        {
                            "X": problem.X,
                            "y": problem.y,
                            "seed_indices": np.array(seed_indices(problem, seed)),
                            "budget": args.budget,
                            "beta": BETA,
                            "seed": seed,
                        },
                    )
                    measured, times = out["measured"], out["step_seconds"]
                elif method == "random":
                    measured = run_random(problem, seed, args.budget)
                else:
                    measured = run_raster(problem, args.budget)
                found = {
                    str(k): discovered_fraction(problem.top, problem.pixels[measured[:k]])
                    for k in CHECKPOINTS
                    if k <= args.budget
                }
                curve = [
                    discovered_fraction(problem.top, problem.pixels[measured[:k]])
                    for k in range(1, len(measured) + 1)
                ]
                store["runs"][key] = {"found": found, "curve": curve, "step_seconds": times}
                save_run(path, store["machine"], key, store["runs"][key])
                print(
                    key, found, f"median step {np.median(times) if times else 0:.2f} s", flush=True
                )
    print(path)


if __name__ == "__main__":
    main()
