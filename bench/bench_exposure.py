"""Exposure as an input: discovery per second of beam time, chosen dwell vs fixed dwells.

Each method runs the real :class:`~steerscope.campaign.Campaign` (default model and
policy) on the simulator, whose spectra are Poisson counts at the dwell in force (the
dataset's noise-free counts are the expectation at 1 s: a low-dose regime). A point
costs its dwell plus a fixed overhead (beam move and read-out, 5 ms); a run stops when
that session time reaches the budget. Methods:

- ``fixed D ms``: every point at D ms (2, 10, 50);
- ``chosen``: ``policy.dwell`` with the ladder [2, 10, 50] ms and the 5 ms overhead,
  against the spread of the measured targets (the default);
- ``chosen posterior``: the same against the model's posterior variance at each point.

``--reference-dwell-s`` sets the dose: the dwell the stored counts stand for (1 s by
default; 10 s is ten times fainter). Its runs are keyed apart.

Metric at each session-time checkpoint: the fraction of the top-1 % ground-truth
pixels within 2 px of a measured one (``common.discovered_fraction``), and the number
of spectra. Results are appended per (dataset, method, seed) to
``results/exposure.json`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, discovered_fraction, machine, top_pixels

from steerscope.campaign import Campaign
from steerscope.datasets import get_dataset

LADDER_S = (0.002, 0.01, 0.05)
OVERHEAD_S = 0.005
REFERENCE_DWELL_S = 1.0
CHECKPOINTS_S = (0.25, 0.5, 1.0)
METHODS = ("fixed 2 ms", "fixed 10 ms", "fixed 50 ms", "chosen", "chosen posterior")
DATASETS = ("plasmonic_nanoparticles", "core_loss_two_phase")


def config(dataset: str, method: str, seed: int, reference_dwell_s: float) -> dict:
    """The campaign config of one run."""
    instrument = {"noise": True, "reference_dwell_s": reference_dwell_s}
    policy: dict = {}
    if method.startswith("chosen"):
        instrument["dwell_time_s"] = LADDER_S[1]
        against = "posterior" if method.endswith("posterior") else "spread"
        policy["dwell"] = {
            "choices_s": list(LADDER_S),
            "overhead_s": OVERHEAD_S,
            "against": against,
        }
    else:
        instrument["dwell_time_s"] = float(method.split()[1]) / 1000
    return {
        "name": f"exposure-{method.replace(' ', '')}",
        "source": {"dataset": dataset, "options": {"noise": False}},
        "instrument": instrument,
        "policy": {"batch_size": 1, **policy},
        "budget": {"measurements": 1000},
        "seed": seed,
    }


def run(dataset: str, method: str, seed: int, budget_s: float, reference_dwell_s: float) -> dict:
    """One campaign until its session time (dwell + overhead per point) reaches ``budget_s``."""
    truth = get_dataset(dataset, noise=False).ground_truth
    top = top_pixels(truth)
    found: dict[str, float] = {}
    spectra: dict[str, int] = {}
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Campaign.create(
            config(dataset, method, seed, reference_dwell_s), Path(tmp) / "r.sqlite"
        ) as c,
    ):
        while True:
            c.step()
            session = float(np.sum(c.history.dwell_s + OVERHEAD_S))
            for mark in CHECKPOINTS_S:
                if session >= mark and f"{mark:g}" not in found:
                    found[f"{mark:g}"] = discovered_fraction(top, c.history.points)
                    spectra[f"{mark:g}"] = c.n_measured
            if session >= budget_s:
                break
        dwell = c.history.dwell_s.copy()
    return {
        "found": found,
        "spectra": spectra,
        "dwell_ms": {f"{t * 1000:g}": int(np.sum(np.isclose(dwell, t))) for t in set(dwell)},
        "wall_s": time.perf_counter() - started,
    }


def _key(dataset: str, method: str, seed: int, reference_dwell_s: float) -> str:
    dose = "" if reference_dwell_s == REFERENCE_DWELL_S else f"|reference {reference_dwell_s:g} s"
    return f"{dataset}|{method}|{seed}{dose}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget-s", type=float, default=max(CHECKPOINTS_S))
    parser.add_argument("--reference-dwell-s", type=float, default=REFERENCE_DWELL_S)
    args = parser.parse_args()
    path = RESULTS / "exposure.json"
    results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for dataset in args.datasets:
        for method in args.methods:
            for seed in range(args.seeds):
                key = _key(dataset, method, seed, args.reference_dwell_s)
                if key in results["runs"]:
                    continue
                results["runs"][key] = run(
                    dataset, method, seed, args.budget_s, args.reference_dwell_s
                )
                results["machine"] = machine()
                RESULTS.mkdir(exist_ok=True)
                path.write_text(json.dumps(results, indent=1))
                print(key, results["runs"][key], flush=True)
    for dataset in args.datasets:
        print(
            f"\n{dataset}, counts of {args.reference_dwell_s:g} s: top-1 % found within 2 px, "
            "median over seeds (spectra)"
        )
        for method in args.methods:
            rows = [
                results["runs"].get(_key(dataset, method, s, args.reference_dwell_s))
                for s in range(args.seeds)
            ]
            rows = [r for r in rows if r]
            if not rows:
                continue
            cells = []
            for mark in CHECKPOINTS_S:
                k = f"{mark:g}"
                cells.append(
                    f"{np.median([r['found'][k] for r in rows]):.2f} "
                    f"({np.median([r['spectra'][k] for r in rows]):.0f})"
                )
            print(f"  {method:<12} " + "  ".join(cells))


if __name__ == "__main__":
    main()
