"""Beam idle and discovery: the pipelined loop against the sequential one, side by side.

For each simulated dwell per spectrum (2 s like EDX, 0.1 s, 0.01 s like fast EELS)
the same campaign (the plasmonic example: DKL, UCB, 16×16 patches, 16k
candidates) runs with :meth:`Campaign.run` (ask → acquire → tell, one point a
step) and with :func:`run_pipelined` under three values of ``policy.max_unfitted``
(see ``MODES``). Beam idle is measured over the model-driven phase (every spectrum
from the first model-chosen one on) from the record's own acquisition start/end
times. Discovery (fraction of the top-1 % ground-truth pixels within 2 px of a
measured point) is compared at the same number of spectra; ``jeol_fes`` (real EDX)
was kept out of every choice of the pipeline's defaults and is reported as the
held-out dataset.

Writes ``results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, save

from steerscope.campaign import Campaign, discovery_curve, load_config, run_pipelined
from steerscope.campaign.history import beam_idle_fraction
from steerscope.records import CampaignRecord

EXAMPLE = Path(__file__).parent.parent / "examples" / "plasmonic.yaml"
MODEL_SOURCES = {"model", "queue", "explore"}


MODES = ("sequential", "pipelined", "pipelined_unfitted_0.25", "pipelined_never_waits")
"""The sequential loop (one point a step); the pipelined loop with the defaults
(``batch_size: auto``, ``max_unfitted: 0.1``); the same letting a choice know up to a
quarter of the spectra only by update; and never waiting for a refit (``max_unfitted: 1``)."""

UNFITTED = {"pipelined": None, "pipelined_unfitted_0.25": 0.25, "pipelined_never_waits": 1.0}


def _config(dataset: str, dwell_s: float, budget: int, seed: int, mode: str) -> Any:
    cfg = load_config(EXAMPLE)
    update: dict[str, Any] = {
        "name": f"pipeline-{dataset}",
        "budget": cfg.budget.model_copy(update={"measurements": budget}),
        "instrument": cfg.instrument.model_copy(
            update={"acquisition_delay_s": dwell_s, "dwell_time_s": dwell_s}
        ),
        "seed": seed,
        "seed_points": cfg.seed_points.model_copy(update={"n": 5}),
        "policy": cfg.policy.model_copy(
            update={
                "batch_size": 1 if mode == "sequential" else "auto",
                **({"max_unfitted": UNFITTED[mode]} if UNFITTED.get(mode) else {}),
            }
        ),
    }
    if dataset != "plasmonic_nanoparticles":
        update["source"] = cfg.source.model_copy(update={"dataset": dataset, "options": {}})
        update["scalarizer"] = None
    return cfg.model_copy(update=update)


def _run(dataset: str, dwell_s: float, budget: int, seed: int, mode: str) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp()) / "run.sqlite"
    start = time.perf_counter()
    with Campaign.create(_config(dataset, dwell_s, budget, seed, mode), path) as campaign:
        if mode.startswith("pipelined"):
            run_pipelined(campaign)
        else:
            campaign.run()
        truth = campaign.dataset.ground_truth
        points = campaign.measured_points
    wall = time.perf_counter() - start
    with CampaignRecord.open(path, read_only=True) as record:
        sources = {d.id: d.policy.get("source") for d in record.decisions()}
        measured = record.measurements()
        model = np.array([sources.get(int(i)) in MODEL_SOURCES for i in measured.decision_ids])
        # the model-driven phase: every spectrum from the first model-chosen one on
        phase = measured.started_at >= np.min(measured.started_at[model])
        idle = beam_idle_fraction(measured.started_at[phase], measured.acquired_at[phase])
        n_queue = sum(1 for s in sources.values() if s == "queue")
    curve = dict(discovery_curve(np.asarray(truth, np.float64), points))
    return {
        "dataset": dataset,
        "dwell_s": dwell_s,
        "seed": seed,
        "mode": mode,
        "budget": budget,
        "wall_s": wall,
        "beam_idle_model_phase": idle,
        "beam_busy_model_phase": 1.0 - idle,
        "found": curve.get(budget, float("nan")),
        "queue_decisions": n_queue,
        "decisions": len(sources),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dwells", type=float, nargs="+", default=[2.0, 0.1, 0.01])
    parser.add_argument("--budget-slow", type=int, default=30, help="spectra at dwell >= 1 s")
    parser.add_argument("--budget", type=int, default=100, help="spectra at shorter dwells")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--discovery-datasets",
        nargs="*",
        default=["core_loss_two_phase", "jeol_fes"],
        help="datasets besides plasmonic run at the shortest dwell (jeol_fes is held out)",
    )
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    fast = min(args.dwells)

    def record(run: dict[str, Any]) -> None:
        print(json.dumps(run), flush=True)
        runs.append(run)

    for dwell in sorted(args.dwells, reverse=True):
        if dwell == fast:
            continue  # run below, with every seed and dataset
        budget = args.budget_slow if dwell >= 1.0 else args.budget
        # at a dwell longer than a fit, auto batches are single points: pipelined again
        for mode in MODES[:2] if dwell >= 1.0 else MODES:
            record(_run("plasmonic_nanoparticles", dwell, budget, args.seeds[0], mode))
    for dataset in ["plasmonic_nanoparticles", *args.discovery_datasets]:
        for seed in args.seeds:
            for mode in MODES:
                record(_run(dataset, fast, args.budget, seed, mode))
    out = save("pipeline", {"machine": machine(), "runs": runs})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
