"""Discovery when the target is the operator's votes, against the true formula and random.

The scenario of the preference issue: the microscopist cannot write the target down,
but knows a good spectrum when they see one. A campaign starts on the total counts (a
target anyone can write), and every ``--every`` spectra a simulated operator
(:class:`~steerscope.testing.simulated_operator.SimulatedOperator`, who has the
dataset's own target in mind) votes on all spectra measured so far; the votes become
the target (a similarity scalarizer, as the UI's *Make the votes the target*). Judged
by the hidden target's top-1 % pixels found (within 2 px, as ``bench_discovery.py``)
at the budget, beside a campaign that knows the formula and random sampling, per
error rate of the operator; each run also counts the judgements it asked for.

Exact GP (for speed); ``--datasets`` are the bench's; ``usim_gold_eels`` stays held out
of every choice (common.HELD_OUT). Writes ``results/votes.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import HELD_OUT, JUDGEMENT_DATASETS, discovered_fraction, machine, save, top_pixels

from steerscope.campaign import Campaign, SetScalarizer, Vote
from steerscope.datasets import get_dataset
from steerscope.testing.simulated_operator import SimulatedOperator
from steerscope.ui.campaign_tools import votes_target


def _config(dataset: str, scalarizer: dict[str, Any], budget: int, seed: int, acq: str) -> dict:
    return {
        "name": f"votes-{dataset}",
        "source": {"dataset": dataset},
        "scalarizer": scalarizer,
        "model": {"kind": "exact_gp"},
        "policy": {"acquisition": acq},
        "budget": {"measurements": budget},
        "seed": seed,
    }


def _run(
    dataset: str, method: str, seed: int, budget: int, every: int, error_rate: float
) -> dict[str, Any]:
    data = get_dataset(dataset)
    hidden = dict(data.default_scalarizer)
    energy = data.image.energy
    total = {"kind": "window_sum", "window": [float(energy.values[0]), float(energy.values[-1])]}
    start = hidden if method == "true target" else total
    acquisition = "random" if method == "random" else "ucb"
    judgements = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.sqlite"
        with Campaign.create(_config(dataset, start, budget, seed, acquisition), path) as c:
            if not method.startswith("votes"):
                c.run()
            else:
                operator = SimulatedOperator(hidden, energy, error_rate=error_rate, seed=seed)
                while not c.done:
                    c.run(n_steps=min(every, budget - c.n_measured))
                    spectra = c.record.measurements().spectra
                    votes = dict(operator.votes(spectra))
                    for index in sorted(set(c.votes) | set(votes)):
                        verdict = votes.get(index, "none")
                        if c.votes.get(index, "none") != verdict:
                            c.apply(Vote(index, verdict))
                            judgements += 1
                    if any(v == "good" for v in c.votes.values()) and not c.done:
                        c.apply(SetScalarizer(spec=votes_target(path, sorted(c.votes.items()))))
            measured = c.measured_points
    top = top_pixels(data.ground_truth)
    return {
        "found": discovered_fraction(top, measured),
        "exact": discovered_fraction(top, measured, radius=0.0),
        "judgements": judgements,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=JUDGEMENT_DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--every", type=int, default=20, help="spectra between two votings")
    parser.add_argument("--error-rates", type=float, nargs="+", default=[0.0, 0.1, 0.25])
    args = parser.parse_args()
    methods = ["true target", "random", *(f"votes e={e:g}" for e in args.error_rates)]
    runs: dict[str, Any] = {}
    for dataset in args.datasets:
        for method in methods:
            rate = float(method.split("=")[1]) if method.startswith("votes") else 0.0
            results = [
                _run(dataset, method, seed, args.budget, args.every, rate)
                for seed in range(args.seeds)
            ]
            runs[f"{dataset}|{method}"] = results
            found = statistics.median(r["found"] for r in results)
            asked = statistics.median(r["judgements"] for r in results)
            held = " (held out)" if dataset in HELD_OUT else ""
            print(f"{dataset}{held} {method}: found {found:.3f}, judgements {asked:g}", flush=True)
    save("votes", {"machine": machine(), "args": vars(args), "runs": runs})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
