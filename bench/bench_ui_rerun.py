"""UI responsiveness: what one Campaign-page rerun costs while a campaign runs in the background.

Starts a real campaign (plasmonic 128×128 overview) on the Campaign page through
Streamlit's AppTest, lets the runner thread step on its own (it competes for the
GIL and the two cores, as in the browser), then times

- ``rerun``: one full script run of the Campaign page (what a click costs; the
  live fragment runs inside it);
- the pieces of one live-fragment tick, each alone: building the overview/map/
  target/discovery/timing figures and serialising them as ``st.plotly_chart`` does;
- ``resumable_records``: the records-folder scan at the top of the page;
- ``snapshot``: the runner's ``_build_snapshot`` (runs on the runner thread, under the GIL).

Run: ``.venv/bin/python bench/bench_ui_rerun.py [--model dkl] [--reruns 15] [--profile]``.
Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _timed(func: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return times


def _row(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"{name:<28} median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   n={len(ms)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="dkl", choices=["dkl", "exact_gp"])
    parser.add_argument("--reruns", type=int, default=15)
    parser.add_argument("--old-records", type=int, default=20, help="records already in the folder")
    parser.add_argument("--delay", type=float, default=0.0, help="simulated seconds per point")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between two reruns")
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="sys.setswitchinterval (s) to try"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the reruns (top 25)")
    args = parser.parse_args()

    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    folder = Path(tempfile.mkdtemp(prefix="steerscope-ui-bench-")) / "records"
    os.environ["STEERSCOPE_RECORDS"] = str(folder)
    os.environ["STEERSCOPE_DEMO_DATASET"] = "plasmonic_nanoparticles"

    import plotly.io as pio
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from steerscope.campaign import Campaign
    from steerscope.ui import APP_PATH, campaign_tools, figures, state

    folder.mkdir(parents=True)
    small = {
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 4},
    }
    first = folder / "old-0.sqlite"
    with Campaign.create(small, first) as campaign:
        campaign.run(n_steps=2)  # left "paused": the page offers to resume each one
    for i in range(1, args.old_records):
        shutil.copy(first, folder / f"old-{i}.sqlite")

    st.cache_resource.clear()
    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.run()
    at.switch_page(str(APP_PATH.parent / "views" / "campaign.py"))
    at.run()
    at.selectbox(key="campaign.model").set_value(args.model)
    at.number_input(key="campaign.budget").set_value(400)
    at.number_input(key="campaign.n_seeds").set_value(5)
    at.number_input(key="campaign.delay").set_value(args.delay)
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    entry = state.registry().latest()
    assert entry is not None
    runner = entry.runner
    step0 = runner.wait_for(lambda s: s.mean_map is not None and s.n_measured >= 12, 300).step
    at.run()
    at.radio(key="campaign.map_choice").set_value("Predicted mean").run()

    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        # the page runs on AppTest's script thread: profile there, not in this thread
        from streamlit.runtime.scriptrunner import script_runner

        original = script_runner.ScriptRunner._run_script

        def profiled(self: Any, *a: Any, **k: Any) -> Any:
            profiler.enable()
            try:
                return original(self, *a, **k)
            finally:
                profiler.disable()

        script_runner.ScriptRunner._run_script = profiled  # type: ignore[method-assign]
    rerun: list[float] = []
    for _ in range(args.reruns):
        t0 = time.perf_counter()
        at.run()
        rerun.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
        time.sleep(args.gap)  # reruns spread over several steps of the running campaign
    snap = runner.snapshot()
    print(
        f"model {args.model}: reruns spanned steps {step0}..{snap.step} "
        f"({snap.n_measured} measured, {snap.status}); load {os.getloadavg()[0]:.2f}"
    )
    print(_row("rerun (whole page)", rerun))
    cache = getattr(state, "figure_cache", None)
    if cache is not None:
        print(f"figure cache: {cache().hits} hits, {cache().misses} builds")

    def serialise(fig: Any) -> None:
        pio.to_json(fig, validate=False)

    pieces: dict[str, Callable[[], Any]] = {
        "overview figure": lambda: figures.overview_figure(
            snap.overview,
            measured=snap.measured_points,
            next_points=snap.next_points,
            max_click_points=64 * 64,
        ),
        "map figure": lambda: figures.map_figure(
            snap.mean_map,
            title="mean",
            measured=snap.measured_points,
            next_points=snap.next_points,
            max_side=96,
        ),
        "target figure": lambda: figures.target_figure(snap.targets),
        "discovery figure": lambda: figures.discovery_figure(snap.discovery),
        "timing figure": lambda: figures.timing_figure(snap.step_timings),
    }
    for name, build in pieces.items():
        print(_row(name, _timed(build, 5)))
        fig = build()
        print(_row(f"  to_json ({name.split()[0]})", _timed(lambda fig=fig: serialise(fig), 5)))
    print(
        _row(
            "resumable_records",
            _timed(lambda: campaign_tools.resumable_records(folder, {entry.record_path}), 5),
        )
    )
    print(_row("runner _build_snapshot", _timed(runner._build_snapshot, 5)))
    timings = snap.step_timings[-5:]
    total = [t.get("total_s", float("nan")) for t in timings]
    print("last step totals (s):", ", ".join(f"{t:.2f}" for t in total))
    runner.stop(60)
    state.stop_all_runners(30)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
