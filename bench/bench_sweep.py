"""Sweep throughput: simulated campaigns per minute, in-process and on a local Dask cluster.

The same small sweep (exact GP, 64×64 overview of the plasmonic dataset, a few
patch sizes × UCB betas × seeds) runs once serially in this process (no Dask,
the reference) and then with ``run_sweep`` on 1 and 2 worker processes, each in
a fresh output folder. Wall-clock times include starting the cluster and
importing steerscope in every worker: that is what a user waits for.
Writes ``results/sweep.json``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine, save

from steerscope.sweeps import RunTask, SweepSpec, execute_run, run_sweep


def make_spec(n_runs: int, budget: int, overview_size: int, out_dir: Path) -> SweepSpec:
    """A sweep of ``n_runs`` cheap campaigns (explicit runs, so any count works)."""
    combos = itertools.product([4, 8], [0.25, 1.0, 4.0], range(1000))
    runs = [
        {"descriptor.patch_size": p, "policy.beta": b, "seed": s}
        for p, b, s in itertools.islice(combos, n_runs)
    ]
    return SweepSpec(
        name="bench",
        base={
            "source": {
                "dataset": "plasmonic_nanoparticles",
                "options": {"overview_size": overview_size, "spectrum_size": overview_size // 2},
            },
            "model": {"kind": "exact_gp", "exact_iterations": 20},
            "seed_points": {"kind": "random", "n": 4},
            "budget": {"measurements": budget},
        },
        runs=runs,
        checkpoints=[budget],
        out_dir=str(out_dir),
    )


def serial(spec: SweepSpec) -> dict[str, Any]:
    """Every run one after the other in this process (torch on one thread, like a worker)."""
    tasks = [RunTask(run=run, out_dir=spec.out_dir, checkpoints=(1,)) for run in spec.expand()]
    t0 = time.perf_counter()
    rows = [execute_run(task) for task in tasks]
    seconds = time.perf_counter() - t0
    assert all(row["status"] == "finished" for row in rows), rows
    return {"mode": "serial (no Dask)", "workers": 1, **_rates(len(rows), seconds, rows)}


def on_dask(spec: SweepSpec, workers: int) -> dict[str, Any]:
    """The sweep through ``run_sweep`` on a fresh local cluster of ``workers`` processes."""
    t0 = time.perf_counter()
    result = run_sweep(spec, workers=workers, echo=None)
    seconds = time.perf_counter() - t0
    assert result.ok, result.rows
    return {
        "mode": "dask LocalCluster",
        "workers": workers,
        **_rates(len(result.rows), seconds, result.rows),
    }


def _rates(n: int, seconds: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    task_s = sorted(float(row["seconds"]) for row in rows)
    return {
        "runs": n,
        "wall_s": round(seconds, 2),
        "runs_per_min": round(60.0 * n / seconds, 2),
        "median_run_s": round(task_s[len(task_s) // 2], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=8, help="campaigns in the sweep")
    parser.add_argument("--budget", type=int, default=15, help="measurements per campaign")
    parser.add_argument("--overview-size", type=int, default=64, help="overview side, pixels")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = make_spec(args.runs, args.budget, args.overview_size, Path(tmp) / "serial")
        rows.append(serial(spec))
        print(rows[-1], flush=True)
        for workers in args.workers:
            out = Path(tmp) / f"dask-{workers}"
            rows.append(
                on_dask(make_spec(args.runs, args.budget, args.overview_size, out), workers)
            )
            print(rows[-1], flush=True)
    path = save(
        "sweep",
        {
            "what": "simulated campaigns per minute (exact GP, small plasmonic overview)",
            "runs": args.runs,
            "budget": args.budget,
            "overview_size": args.overview_size,
            "results": rows,
            "machine": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
