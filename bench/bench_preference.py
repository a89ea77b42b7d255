"""Discovery when the target is the operator's pairwise judgement, against the formula and random.

The scenario of the preference issue (DKPL): the microscopist cannot write the target
down, but can say which of two spectra is more interesting. A campaign's target is
``{"kind": "preference"}``; after each spectrum a simulated operator
(:class:`~steerscope.testing.simulated_operator.SimulatedOperator`, who has the
dataset's own target in mind and errs at a given rate) answers every question the
campaign asks (:meth:`~steerscope.campaign.Campaign.next_comparison`: at most one per
spectrum). Judged by the hidden target's top-1 % pixels found (within 2 px, as
``bench_discovery.py``) at the budget, per spectrum measured and per judgement asked,
beside a campaign that knows the formula and random sampling.

Exact GP (for speed); ``usim_gold_eels`` stays held out of every choice
(common.HELD_OUT). Results are merged into ``results/preference.json`` per dataset and
method as each finishes, so datasets may run in separate processes and a rerun skips
what is done.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import HELD_OUT, JUDGEMENT_DATASETS, RESULTS, discovered_fraction, machine, top_pixels

from steerscope.campaign import Campaign, Compare
from steerscope.datasets import get_dataset
from steerscope.testing.simulated_operator import SimulatedOperator


def _run(
    dataset: str, method: str, seed: int, budget: int, error_rate: float, lapse: float = 0.0
) -> dict[str, Any]:
    data = get_dataset(dataset)
    hidden = dict(data.default_scalarizer)
    preference = method.startswith("preference")
    config = {
        "name": f"preference-{dataset}",
        "source": {"dataset": dataset},
        "scalarizer": {"kind": "preference", "lapse": lapse} if preference else hidden,
        "model": {"kind": "exact_gp"},
        "policy": {"acquisition": "random" if method == "random" else "ucb"},
        "budget": {"measurements": budget},
        "seed": seed,
    }
    operator = SimulatedOperator(hidden, data.image.energy, error_rate=error_rate, seed=seed)
    truth = np.asarray(data.ground_truth, np.float64)
    scale = float(np.nanmax(truth) - np.nanmin(truth))
    judgements = 0
    t0 = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as folder,
        Campaign.create(config, Path(folder) / "r.sqlite") as campaign,
    ):
        while not campaign.done:
            campaign.step()
            pair = campaign.next_comparison() if preference else None
            while pair is not None:
                spectra = campaign.measured_spectra
                answer = operator.prefer(spectra[pair[0]], spectra[pair[1]], scale=scale)
                campaign.apply(
                    Compare(pair[0], pair[1], answer, by=f"simulated operator e={error_rate:g}")
                )
                judgements += 1
                pair = campaign.next_comparison()
        measured = campaign.measured_points
    top = top_pixels(truth)
    return {
        "found": discovered_fraction(top, measured),
        "exact": discovered_fraction(top, measured, radius=0.0),
        "judgements": judgements,
        "spectra": int(measured.shape[0]),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=JUDGEMENT_DATASETS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--error-rates", type=float, nargs="+", default=[0.0, 0.1, 0.25])
    parser.add_argument(
        "--lapse",
        type=float,
        default=0.0,
        help="the preference target's lapse rate; other than 0, its runs are named '… lapse L'",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=["baselines", "preference"],
        default=["baselines", "preference"],
        help="the true-target and random campaigns, the preference campaigns, or both",
    )
    args = parser.parse_args()
    methods = ["true target", "random"] if "baselines" in args.runs else []
    if "preference" in args.runs:
        suffix = f" lapse {args.lapse:g}" if args.lapse else ""
        methods += [f"preference e={e:g}{suffix}" for e in args.error_rates]
    path = RESULTS / "preference.json"
    for dataset in args.datasets:
        for method in methods:
            saved = json.loads(path.read_text()) if path.exists() else {"runs": {}}
            runs = saved["runs"].setdefault(dataset, {})
            if len(runs.get(method, [])) < args.seeds:  # resumable: done methods are kept
                rate = (
                    float(method.split("=")[1].split()[0])
                    if method.startswith("preference")
                    else 0.0
                )
                results = [
                    _run(dataset, method, s, args.budget, rate, args.lapse)
                    for s in range(args.seeds)
                ]
                saved = json.loads(path.read_text()) if path.exists() else {"runs": {}}
                saved["runs"].setdefault(dataset, {})[method] = results
                saved["machine"], saved["args"] = machine(), vars(args)
                RESULTS.mkdir(exist_ok=True)
                path.write_text(json.dumps(saved, indent=1))
                runs[method] = results
            found = statistics.median(r["found"] for r in runs[method])
            asked = statistics.median(r["judgements"] for r in runs[method])
            held = " (held out)" if dataset in HELD_OUT else ""
            print(f"{dataset}{held} {method}: found {found:.3f}, judgements {asked:g}", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
