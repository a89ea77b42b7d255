"""Review page what-if fork: the button starts a background replay; the fork joins the list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from steerscope.campaign import Campaign
from steerscope.records import CampaignRecord
from steerscope.ui import APP_PATH, review_tools, state

REVIEW_PAGE = APP_PATH.parent / "views" / "review.py"
CONFIG = {
    "name": "review-fork",
    "source": {"dataset": "plasmonic_nanoparticles"},
    "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 5},
    "seed_points": {"kind": "grid", "n": 4},
    "budget": {"measurements": 6},
}


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "records"
    monkeypatch.setenv("STEERSCOPE_RECORDS", str(folder))
    monkeypatch.delenv("STEERSCOPE_DEMO_DATASET", raising=False)
    state.stop_all_runners(10.0)
    st.cache_resource.clear()
    yield folder
    state.stop_all_runners(30.0)
    st.cache_resource.clear()


@pytest.fixture
def source_record(records: Path) -> Path:
    records.mkdir(parents=True, exist_ok=True)
    path = records / "source.sqlite"
    with Campaign.create(CONFIG, path) as campaign:
        campaign.run()
    return path


def _review() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=90)
    at.run()
    at.switch_page(str(REVIEW_PAGE))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _wait_done(job: review_tools.ReplayJob, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.done, f"replay still {job.status} after {timeout} s"


def test_fork_button_runs_a_replay_in_the_background_and_lists_the_fork(
    records: Path, source_record: Path
) -> None:
    at = _review()
    assert at.selectbox(key="review.fork_acquisition").value == "ucb"
    at.number_input(key="review.fork_step").set_value(4)
    at.selectbox(key="review.fork_acquisition").set_value("max_variance")
    at.number_input(key="review.fork_beta").set_value(4.0)
    at.button(key="review.fork").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and "source-fork4.sqlite" in at.success[0].value

    jobs = state.replay_jobs().jobs()
    assert len(jobs) == 1
    assert jobs[0].changes == {"policy.acquisition": "max_variance", "policy.beta": 4.0}
    _wait_done(jobs[0])
    assert jobs[0].status == "finished", jobs[0].message
    assert jobs[0].steps_done == 2

    at.run()
    assert not at.exception, [e.value for e in at.exception]
    record_box = at.selectbox[0]
    assert record_box.label == "Record"
    fork = records / "source-fork4.sqlite"
    assert record_box.options == ["source-fork4.sqlite", "source.sqlite"]  # newest first
    at.button(key="review.open_fork").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == str(fork)
    table = at.dataframe[0].value  # the fork's interventions: the what-if change at step 4
    assert list(table["kind"]) == ["SetPolicy"] and list(table["step"]) == [4]
    assert "acquisition ucb → max_variance" in table["change"][0]

    with CampaignRecord.open(fork, read_only=True) as new:
        assert len(new.measurements()) == 6
        last = new.interventions()[-1]
        assert (last.step, last.kind) == (4, "SetPolicy")
        assert last.after["acquisition"] == "max_variance" and last.after["beta"] == 4.0

    # a second fork from the same step gets its own file, never the first one's
    assert review_tools.fork_output_path(records, source_record, 4).name == (
        "source-fork4-2.sqlite"
    )


def test_a_failing_replay_shows_its_error_without_breaking_the_page(
    records: Path, source_record: Path
) -> None:
    job = state.replay_jobs().submit(source_record, 99, {}, records / "bad.sqlite")
    _wait_done(job)
    assert job.status == "error"
    assert "holds 6 step(s)" in job.message
    at = _review()
    table = at.dataframe[-1].value
    assert "holds 6 step(s)" in " ".join(table["status"])


def test_cancel_stops_a_replay_between_steps_and_leaves_it_resumable(
    records: Path, source_record: Path
) -> None:
    job = review_tools.ReplayJob(source_record, 2, {}, records / "c.sqlite")
    job._cancel.set()  # cancelled before its first step ends
    job.start()
    assert job.cancel(60.0)
    assert job.status == "cancelled" and job.steps_done == 1
    with CampaignRecord.open(records / "c.sqlite", read_only=True) as fork:
        assert fork.status().status == "paused"
        assert len(fork.measurements()) == 3


def test_a_replay_still_running_is_not_offered_for_resume(
    records: Path, source_record: Path
) -> None:
    """A running what-if fork has its writer: resuming it would make a second one (B8)."""
    import threading

    from steerscope.ui import campaign_tools

    release = threading.Event()

    class HeldReplay(review_tools.ReplayJob):
        def _progress(self, result: object) -> None:
            super()._progress(result)
            release.wait(60.0)  # hold the replay (and its record) open after its first step

    fork = records / "held.sqlite"
    job = HeldReplay(source_record, 2, {}, fork).start()
    try:
        deadline = time.monotonic() + 60
        while job.steps_done < 1:
            assert time.monotonic() < deadline and not job.done, job.message
            time.sleep(0.05)
        offered = [path for path, _ in campaign_tools.resumable_records(records, set())]
        assert fork not in offered
    finally:
        release.set()
        _wait_done(job)
    assert job.status == "finished", job.message


def test_the_fork_step_follows_the_step_being_viewed(records: Path, source_record: Path) -> None:
    """Scrub to a step, and the what-if fork starts there unless the user typed another."""
    at = _review()
    steps = at.select_slider(key="review.step")
    assert at.number_input(key="review.fork_step").value == steps.value  # the last step
    steps.set_value(2).run()
    assert at.number_input(key="review.fork_step").value == 2
    at.number_input(key="review.fork_step").set_value(3).run()
    assert at.number_input(key="review.fork_step").value == 3  # typed: kept
    at.run()
    assert at.number_input(key="review.fork_step").value == 3
