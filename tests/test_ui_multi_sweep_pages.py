"""The multi-target Target page, a multi-objective Campaign page and the Sweep page (AppTest).

Each test runs the real ``app.py``; the fixture stops every campaign runner and
sweep thread and clears ``st.cache_resource`` (shared across AppTests).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from steerscope.ui import APP_PATH, state

PAGES = APP_PATH.parent / "views"
SMALL = {
    "kind": "dataset",
    "name": "plasmonic_nanoparticles",
    "options": {"overview_size": 64, "spectrum_size": 32},
}
TWO_TARGETS = {
    "kind": "multi",
    "targets": [
        {"kind": "window_sum", "window": [1.0, 1.8]},
        {"kind": "window_sum", "window": [3.5, 4.1]},
    ],
}


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "records"
    monkeypatch.setenv("STEERSCOPE_RECORDS", str(folder))
    monkeypatch.setenv("STEERSCOPE_DEMO_DATASET", "plasmonic_nanoparticles")
    state.stop_all_runners(10.0)
    st.cache_resource.clear()
    yield folder
    state.stop_all_runners(30.0)
    st.cache_resource.clear()


def _app(page: str, **session: object) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=90)
    at.run()
    for name, value in session.items():
        at.session_state[f"steerscope.{name}"] = value
    at.switch_page(str(PAGES / f"{page}.py"))
    at.run()
    _no_exception(at)
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_target_page_builds_and_saves_a_multi_target(records: Path) -> None:
    at = _app("target", source=SMALL)
    at.toggle(key="target.multi").set_value(True).run()
    _no_exception(at)
    assert [n.label for n in at.number_input] == [
        "Target 1 low (eV)",
        "Target 1 high (eV)",
        "Target 2 low (eV)",
        "Target 2 high (eV)",
    ]
    next(b for b in at.button if b.label == "Add target").click().run()
    assert at.selectbox(key="target.row.2.kind").label == "Target 3 kind"
    at.selectbox(key="target.row.2.kind").set_value("edx_line").run()
    assert at.text_input(key="target.row.2.line").label == "Target 3 X-ray line"
    assert "Save target" not in [b.label for b in at.button]  # nothing to save while wrong
    assert at.error and "target 3: an edx_line target needs an X-ray line" in at.error[0].value
    at.button(key="target.row.2.remove").click().run()
    at.number_input(key="target.row.0.low").set_value(1.0)
    at.number_input(key="target.row.0.high").set_value(1.8)
    at.number_input(key="target.row.1.low").set_value(3.5)
    at.number_input(key="target.row.1.high").set_value(4.1).run()
    _no_exception(at)
    assert not at.error
    next(b for b in at.button if b.label == "Save target").click().run()
    assert at.success and at.success[0].value == "Saved: Σ 1.00–1.80 | Σ 3.50–4.10"
    saved = at.session_state["steerscope.scalarizer"]
    assert saved["kind"] == "multi"
    assert [t["window"] for t in saved["targets"]] == [[1.0, 1.8], [3.5, 4.1]]


def test_multi_objective_campaign_takes_weights_and_shows_the_pick(records: Path) -> None:
    from steerscope.campaign import Pause

    at = _app("campaign", source=SMALL, scalarizer=TWO_TARGETS)
    start_acquisition = at.selectbox(key="campaign.start_acquisition_mo")
    assert start_acquisition.options == ["ehvi", "weighted_sum", "chebyshev"]
    start_acquisition.set_value("weighted_sum")
    at.selectbox(key="campaign.model").set_value("exact_gp")
    at.number_input(key="campaign.n_seeds").set_value(4)
    at.number_input(key="campaign.budget").set_value(12)
    at.slider(key="campaign.patch_size").set_value(8)
    next(b for b in at.button if b.label == "Start").click().run()
    _no_exception(at)
    entry = state.registry().latest()
    assert entry is not None
    entry.runner.wait_for(lambda s: s.n_measured >= 5, 60.0)
    entry.runner.post(Pause())
    snap = entry.runner.wait_for(lambda s: s.status != "running", 60.0)
    assert snap.status == "paused" and snap.is_multi_objective
    at.run()
    _no_exception(at)
    assert at.selectbox(key="campaign.acquisition_mo").value == "weighted_sum"
    assert at.number_input(key="campaign.weight.0").label == "Weight: Σ 1.00–1.80"
    assert at.number_input(key="campaign.ref.1").label == "Reference: Σ 3.50–4.10"
    at.number_input(key="campaign.weight.0").set_value(0.0)
    at.button(key="campaign.apply_weights").click().run()
    snap = entry.runner.wait_for(lambda s: s.policy.get("weights") is not None, 30.0)
    assert snap.policy["weights"] == [0.0, 1.0]
    at.run()
    log = at.dataframe[0].value
    assert any("weights" in text and "SetPolicy" in text for text in log["what"])

    # A point picked on the Pareto plot: its spectrum (from the record) and a star on the overview.
    at.session_state["steerscope.pareto_pick"] = 1
    at.run()
    _no_exception(at)
    assert not [c.value for c in at.caption if "Click a point" in c.value]

    at.button(key="campaign.apply_ref").click().run()
    snap = entry.runner.wait_for(lambda s: s.policy.get("ref_point") is not None, 30.0)
    assert snap.policy["ref_point"] == pytest.approx(list(snap.reference_point))


def test_sweep_page_runs_a_tiny_sweep_and_shows_its_summary(records: Path) -> None:
    at = _app("sweep", source=SMALL)
    assert at.info and "No sweeps yet" in at.info[0].value
    at.multiselect(key="sweep.patch_sizes").set_value([8])
    at.selectbox(key="sweep.model").set_value("exact_gp")
    at.number_input(key="sweep.repeats").set_value(2)
    at.number_input(key="sweep.budget").set_value(7)
    at.number_input(key="sweep.n_seed_points").set_value(3)
    at.run()
    start = at.button(key="sweep.start")
    assert start.label == "Run sweep (2 runs)"
    start.click().run()
    _no_exception(at)
    job = state.sweep_jobs().jobs()[0]
    assert job.out_dir.parent == records / "sweeps"
    deadline = time.monotonic() + 120
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.25)
    assert job.status == "finished", (job.message, job.lines)
    at.run()
    _no_exception(at)
    assert at.success and "2 run(s)" in at.success[0].value
    table = at.dataframe[0].value
    assert list(table["run"]) == ["seed=0", "seed=1"]
    assert list(table["measured"]) == ["7/7", "7/7"]

    # A fresh tab (no job in memory for it) reopens the finished folder from disk.
    state.sweep_jobs().stop_all(5.0)
    again = _app("sweep", source=SMALL)
    assert again.selectbox(key="sweep.open").value == str(job.out_dir)
    assert list(again.dataframe[0].value["status"]) == ["finished", "finished"]
