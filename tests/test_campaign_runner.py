"""CampaignRunner: control from another thread with bounded waits, snapshots, instrument errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import ArrayLike

from steerscope.campaign import (
    Campaign,
    CampaignRunner,
    Pause,
    Resume,
    RunSteps,
    SetBudget,
    SetPolicy,
    discovery_curve,
)
from steerscope.errors import InstrumentError
from steerscope.instruments import Measurement

WAIT_S = 60.0


def small_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "runner",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 7},
    }
    config.update(overrides)
    return config


class FlakyInstrument:
    """Wraps a microscope; the next ``fail`` acquisitions raise an InstrumentError."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail = 0
        self.calls = 0

    def acquire(self, points: ArrayLike) -> Measurement:
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            raise InstrumentError("the server did not answer within 30 s (after 3 retries)")
        result: Measurement = self.inner.acquire(points)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_discovery_curve_by_hand() -> None:
    truth = np.zeros((10, 10))
    truth[0, 0] = 5.0  # top 1 % of 100 pixels = this one pixel
    curve = discovery_curve(truth, np.array([[9, 9], [2, 0], [0, 1]]))
    assert curve == [(1, 0.0), (2, 1.0), (3, 1.0)]  # (2, 0) is exactly 2 px away
    assert discovery_curve(truth, np.array([[3, 0]])) == [(1, 0.0)]
    assert discovery_curve(truth, np.zeros((0, 2), np.int64)) == []


def test_runner_steps_pauses_resumes_and_finishes(tmp_path: Path) -> None:
    campaign = Campaign.create(small_config(), tmp_path / "r.sqlite")
    runner = CampaignRunner(campaign)
    assert runner.snapshot().status == "idle"
    runner.start(paused=True)
    try:
        runner.post(RunSteps(2))
        snap = runner.wait_for(lambda s: s.status == "paused" and s.n_measured == 2, WAIT_S)
        assert snap.reason == "ran the requested steps"
        runner.post(SetPolicy(beta=4.0))
        runner.post(SetPolicy(beta=-3.0))  # refused, recorded, the run goes on
        runner.post(Resume())
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        assert snap.n_measured == 7 and snap.step == 7
        assert snap.policy["beta"] == 4.0 and snap.policy["version"] == 1
        assert [e.kind for e in snap.events].count("intervention_rejected") == 1
        # maps on the overview grid, read-only
        assert snap.mean_map is not None and snap.mean_map.shape == (128, 128)
        assert snap.std_map is not None and np.all(snap.std_map >= 0)
        assert snap.ground_truth is not None and snap.ground_truth.shape == (128, 128)
        assert [k for k, _ in snap.discovery] == list(range(1, 8))
        with pytest.raises(ValueError, match="read-only"):
            snap.measured_points[0, 0] = 1
        assert len(snap.step_timings) == 7
        # the budget can be extended while finished: the runner picks it up
        runner.post(SetBudget(8))
        snap = runner.wait_for(lambda s: s.status == "finished" and s.n_measured == 8, WAIT_S)
        # maps of model steps were saved for history
        assert campaign.record.maps(7)["mean"].shape == (128, 128)
        runner.post(Pause())  # a finished campaign is not paused (it stays finished)
        snap = runner.wait_for(lambda s: "Pause ignored" in s.events[-1].text, WAIT_S)
        assert snap.status == "finished"
    finally:
        assert runner.stop(timeout=WAIT_S)
    assert runner.snapshot().status == "stopped"
    assert campaign.record.status().status == "finished"
    kinds = [i.kind for i in campaign.record.interventions()]
    assert kinds == ["RunSteps", "SetPolicy", "Resume", "SetBudget"]
    campaign.close()


def test_instrument_error_pauses_with_reason_and_resume_retries(tmp_path: Path) -> None:
    campaign = Campaign.create(small_config(), tmp_path / "r.sqlite")
    flaky = FlakyInstrument(campaign.instrument)
    campaign.instrument = flaky
    flaky.fail = 1
    runner = CampaignRunner(campaign, save_maps=False).start()
    try:
        snap = runner.wait_for(lambda s: s.status == "paused", WAIT_S)
        assert "instrument error: the server did not answer" in snap.reason
        assert snap.n_measured == 0
        np.testing.assert_array_equal(snap.next_points, [[32, 32]])  # kept as pending
        runner.post(Resume())
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        assert snap.n_measured == 7
        assert snap.measured_points[0].tolist() == [32, 32]
    finally:
        assert runner.stop(timeout=WAIT_S)
    decisions = campaign.record.decisions()
    assert len(decisions) == 7  # the failed step's decision was retried, not duplicated
    assert any(e.kind == "instrument_error" for e in campaign.record.events())
    campaign.close()


def test_stop_is_bounded_and_idempotent(tmp_path: Path) -> None:
    campaign = Campaign.create(small_config(), tmp_path / "r.sqlite")
    runner = CampaignRunner(campaign).start(paused=True)
    assert runner.stop(timeout=WAIT_S)
    assert not runner.running
    assert runner.stop(timeout=1.0)
    with pytest.raises(TimeoutError, match="did not reach the awaited state"):
        runner.wait_for(lambda s: s.n_measured > 0, 0.2)
    campaign.close()


def test_pause_twice_is_recorded_once_and_a_finished_campaign_cannot_be_paused(
    tmp_path: Path,
) -> None:
    from steerscope.records import CampaignRecord

    campaign = Campaign.create(small_config(), tmp_path / "b.sqlite")
    runner = CampaignRunner(campaign, save_maps=False).start(paused=True)
    try:
        runner.post(Pause())  # a double click (issue B2): already paused, nothing to do
        runner.post(Pause())
        runner.post(Resume())
        runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        runner.post(Pause())  # B3: a finished campaign stays finished
        snap = runner.wait_for(
            lambda s: any("Pause ignored: the campaign is finished" in e.text for e in s.events),
            WAIT_S,
        )
        assert snap.status == "finished"
        assert runner.stop()
    finally:
        campaign.close()
    with CampaignRecord.open(tmp_path / "b.sqlite", read_only=True) as record:
        kinds = [i.kind for i in record.interventions()]
        assert kinds.count("Pause") == 0 and kinds.count("Resume") == 1
        assert record.status().status == "finished"


def test_snapshots_show_the_point_in_flight_the_one_computed_ahead_and_beam_idle(
    tmp_path: Path,
) -> None:
    """The live view's "next" markers and beam-idle figure come from the snapshot (B10)."""
    config = small_config(budget={"measurements": 12}, instrument={"acquisition_delay_s": 0.2})
    campaign = Campaign.create(config, tmp_path / "r.sqlite")
    runner = CampaignRunner(campaign, save_maps=False).start()
    try:
        snap = runner.wait_for(
            lambda s: (s.n_measured >= 6 and len(s.ahead_points) > 0) or s.status != "running",
            WAIT_S,
        )
        assert snap.status == "running", snap.reason
        assert snap.ahead_points.shape == (1, 2)
        # the live view's scale bar and axes need the overview's real pixel size
        assert (snap.pixel_size, snap.pixel_units) == (
            campaign.overview.pixel_size,
            campaign.overview.pixel_units,
        )
        measured = {tuple(p) for p in snap.measured_points.tolist()}
        assert tuple(snap.ahead_points[0].tolist()) not in measured
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        assert 0.0 <= snap.beam_idle <= 1.0  # measured, not NaN, once spectra are recorded
    finally:
        assert runner.stop(timeout=WAIT_S)
    campaign.close()


def test_the_runner_pauses_after_the_seeds_and_every_n_spectra_when_asked(
    tmp_path: Path,
) -> None:
    """pauses.after_seeds and pauses.every hold the run for the operator; Resume goes on."""
    config = small_config(budget={"measurements": 10}, pauses={"after_seeds": True, "every": 3})
    campaign = Campaign.create(config, tmp_path / "r.sqlite")
    runner = CampaignRunner(campaign, save_maps=False).start()
    held: list[tuple[int, str]] = []
    try:
        for _ in range(6):
            snap = runner.wait_for(lambda s: s.status in ("paused", "finished"), WAIT_S)
            if snap.status == "finished":
                break
            held.append((snap.n_measured, snap.reason))
            runner.post(Resume())
            runner.wait_for(lambda s: s.status != "paused", WAIT_S)
    finally:
        assert runner.stop(timeout=WAIT_S)
    # 4 grid seeds: hold after them; then every 3 spectra (at 6 and 9); then the budget ends
    assert [n for n, _ in held] == [3, 4, 6, 9]
    assert "pauses.every" in held[0][1] and "after the seed points" in held[1][1]
    assert campaign.record.status().status == "finished"
    assert sum(1 for e in campaign.record.events() if e.kind == "auto_pause") == 4
    campaign.close()
