"""Discovery on seven datasets: what each method finds after 25, 50 and 100 spectra.

Every method runs the same loop on the same problem: five random seed points, then
one point per step chosen by the method, the target of a chosen pixel being what its
stored spectrum gives with the dataset's default scalarizer. ``steerscope dkl`` is the
campaign's default policy (UCB at the default beta, adaptive exploration: while the
model skill says the model is lost, every second point is the least-covered pixel);
``steerscope dkl pure`` the same UCB with exploration off. Metrics at each checkpoint:

- ``found``: fraction of the top-1 % ground-truth pixels within 2 px of a measured one;
- ``exact``: fraction of them measured exactly (on the candidate grid);
- ``regions``: fraction of the top set's connected regions with a measured point within 2 px;
- ``best``: the best ground truth measured over the true maximum;
- ``skill``: the model skill (``steerscope.campaign.skill``) after the last point, and
  ``lost``: the share of model steps on which it said the model was lost.

Results are appended per (dataset, method, seed) to ``results/discovery.json`` so an
interrupted run resumes. ``usim_gold_eels`` was kept out of every choice of defaults
(reported separately).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import (
    DISCOVERY_DATASETS,
    RESULTS,
    discovered_fraction,
    machine,
    make_problem,
    model_spec,
    run_gpax,
)
from scipy import ndimage

from steerscope.acquisition import acquisition_scores, select_points, space_filling_scores
from steerscope.campaign.config import DEFAULT_BETA
from steerscope.campaign.skill import model_skill
from steerscope.models import make_surrogate

CHECKPOINTS = (25, 50, 100)
N_SEED_POINTS = 5
BETA = DEFAULT_BETA
DATASETS = list(DISCOVERY_DATASETS)


def seed_indices(problem, seed: int) -> list[int]:
    rng = np.random.default_rng(1000 + seed)
    return [int(i) for i in rng.choice(len(problem.X), size=N_SEED_POINTS, replace=False)]


def run_steerscope(
    problem,
    kind: str,
    seed: int,
    budget: int,
    *,
    adaptive: bool = True,
    beta: float = BETA,
    pretrain: bool = False,
) -> tuple[list[int], list[float], list[float]]:
    """One campaign's loop: the engine's policy (UCB; adaptive exploration unless off)."""
    measured = seed_indices(problem, seed)
    predicted = [np.nan] * len(measured)
    steps = list(range(len(measured)))
    spec = model_spec(kind).model_copy(update={"pretrain": pretrain})
    model = make_surrogate(spec, seed=seed)
    if pretrain:
        model.pretrain(problem.X)  # as the engine does before the first fit
    times: list[float] = []
    skills: list[float] = []
    explored_last = False
    while len(measured) < budget:
        t0 = time.perf_counter()
        skill = model_skill(steps, predicted, problem.y[measured])
        skills.append(skill.current)
        model.fit(problem.X[measured], problem.y[measured])
        mean, var = model.posterior(problem.X)
        explore = adaptive and skill.lost and not explored_last
        if explore:
            scores = space_filling_scores(problem.pixels, problem.pixels[measured])
        else:
            scores = acquisition_scores("ucb", mean, var, beta=beta)
        explored_last = explore
        (chosen,) = select_points(scores, problem.pixels, 1, exclude=problem.pixels[measured])
        measured.append(int(chosen))
        predicted.append(float(mean[chosen]))
        steps.append(len(steps))
        times.append(time.perf_counter() - t0)
    return measured, times, skills


def parse_method(method: str) -> tuple[str, bool, float, bool]:
    """``"steerscope <kind> [pure] [pretrained] [beta=<b>]"`` → (model kind, adaptive
    exploration, beta, pre-trained extractor)."""
    words = method.split()[1:]
    kind, adaptive, beta, pretrain = words[0], True, BETA, False
    for word in words[1:]:
        if word == "pure":
            adaptive = False
        elif word == "pretrained":
            pretrain = True
        elif word.startswith("beta="):
            beta = float(word.removeprefix("beta="))
        else:
            raise SystemExit(f"unknown method word {word!r} in {method!r}")
    return kind, adaptive, beta, pretrain


def top_regions(problem) -> list[np.ndarray]:
    """The top set's connected regions (8-connected), each as its ``(t, 2)`` pixels."""
    shape = tuple(
        int(v) + 1 for v in np.maximum(problem.top.max(axis=0), problem.pixels.max(axis=0))
    )
    mask = np.zeros(shape, bool)
    mask[problem.top[:, 0], problem.top[:, 1]] = True
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    return [np.argwhere(labels == k) for k in range(1, n + 1)]


def metrics(problem, regions, truth, measured: list[int], k: int) -> dict[str, float]:
    """The checkpoint metrics of the first ``k`` measured candidates."""
    pixels = problem.pixels[measured[:k]]
    top = {tuple(p) for p in problem.top.tolist()}
    exact = sum(tuple(p) in top for p in pixels.tolist()) / max(len(top), 1)
    reached = [discovered_fraction(region, pixels) > 0 for region in regions]
    return {
        "found": discovered_fraction(problem.top, pixels),
        "exact": float(exact),
        "regions": float(np.mean(reached)) if reached else 0.0,
        "best": float(truth[pixels[:, 0], pixels[:, 1]].max() / truth.max()),
    }


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
        default=DATASETS,
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["steerscope dkl", "steerscope dkl pure", "random", "gpax viDKL"],
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
        from steerscope.datasets import get_dataset

        truth = np.asarray(get_dataset(name).ground_truth, dtype=np.float64)
        regions = top_regions(problem)
        for method in args.methods:
            for seed in range(args.seeds):
                key = f"{name}|{method}|{seed}|{args.budget}"
                if key in store["runs"] and "regions" in store["runs"][key]:
                    continue
                times: list[float] = []
                skills: list[float] = []
                if method.startswith("steerscope"):
                    kind, adaptive, beta, pretrain = parse_method(method)
                    measured, times, skills = run_steerscope(
                        problem,
                        kind,
                        seed,
                        args.budget,
                        adaptive=adaptive,
                        beta=beta,
                        pretrain=pretrain,
                    )
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
                at = {
                    str(k): metrics(problem, regions, truth, measured, k)
                    for k in CHECKPOINTS
                    if k <= args.budget
                }
                found = {k: v["found"] for k, v in at.items()}
                curve = [
                    discovered_fraction(problem.top, problem.pixels[measured[:k]])
                    for k in range(1, len(measured) + 1)
                ]
                finite = [s for s in skills if np.isfinite(s)]
                store["runs"][key] = {
                    "found": found,
                    "exact": {k: v["exact"] for k, v in at.items()},
                    "regions": {k: v["regions"] for k, v in at.items()},
                    "best": {k: v["best"] for k, v in at.items()},
                    "skill": finite[-1] if finite else None,
                    "lost": float(np.mean([s <= 0 for s in finite])) if finite else None,
                    "curve": curve,
                    "step_seconds": times,
                    "measured": measured,
                }
                save_run(path, store["machine"], key, store["runs"][key])
                print(
                    key, found, f"median step {np.median(times) if times else 0:.2f} s", flush=True
                )
    print(path)


if __name__ == "__main__":
    main()
