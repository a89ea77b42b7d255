"""The pipelined loop: the model works while the beam acquires, and the record stays honest."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from steerscope.campaign import Campaign, CampaignRunner, Proposal, SetPolicy
from steerscope.campaign.history import beam_idle_fraction
from steerscope.campaign.pipeline import run_pipelined
from steerscope.campaign.sources import acquire_timed
from steerscope.errors import InstrumentError
from steerscope.models import ExactGPSurrogate
from steerscope.records import CampaignRecord
from steerscope.types import Measurement

WAIT_S = 60.0


def small_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "pipeline",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 12},
    }
    config.update(overrides)
    return config


class GatedInstrument:
    """Wraps a microscope; with ``hold`` set, each point waits until ``gate`` opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.calls: list[list[list[int]]] = []
        self.fail_at: int | None = None

    def acquire(self, points: ArrayLike) -> Measurement:
        self.calls.append(np.asarray(points).tolist())
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise InstrumentError("the detector did not answer")
        if not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(WAIT_S), "the test never opened the gate"
        result: Measurement = self.inner.acquire(points)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _exactly_once(record_path: Path, budget: int) -> CampaignRecord:
    record = CampaignRecord.open(record_path, read_only=True)
    measured = record.measurements()
    points = [tuple(p) for p in measured.points.tolist()]
    assert len(points) == budget and len(set(points)) == budget
    return record


def test_pipelined_run_measures_each_point_once_and_records_what_each_choice_knew(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.sqlite"
    with Campaign.create(small_config(), path) as campaign:
        results, summary = run_pipelined(campaign)
        assert campaign.done
    assert summary.n_spectra == 12 and sum(len(r.points) for r in results) == 12
    assert "beam idle" in summary.line()
    with _exactly_once(path, 12) as record:
        decisions = record.decisions()
        model = [d for d in decisions if d.policy["source"] == "model"]
        assert model, "no model decision"
        for d in model:
            known = d.model["conditioned_on"]
            # computed while the previous decision was in flight, it knew that point as
            # pending; or chosen when the beam came free by the last fit, updated
            assert known["pending_points"] or "fit_n_measured" in known, d.model
            assert known["n_measured"] < sum(len(x.points) for x in decisions if x.id <= d.id)
        measured = record.measurements()
        started, ended = measured.started_at, measured.acquired_at
        assert np.all(np.isfinite(started)) and np.all(started <= ended)
        assert record.status().status == "finished"


def test_pending_points_are_believed_so_the_next_choice_moves_away() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=12)
    model = ExactGPSurrogate(seed=0).fit(X, y)
    query = rng.normal(size=(5, 3))
    mean, var = model.posterior(query)
    mean_b, var_b = model.posterior(query, pending=query[:1])
    np.testing.assert_allclose(mean_b[0], mean[0], rtol=1e-6, atol=1e-9)  # the believer
    assert var_b[0] < 0.5 * var[0]  # …but it is no longer uncertain there
    assert np.all(var_b <= var + 1e-12)


def test_an_intervention_is_applied_while_the_beam_works_and_supersedes_the_ready_proposal(
    tmp_path: Path,
) -> None:
    campaign = Campaign.create(small_config(policy={"beta": 0.25}), tmp_path / "s.sqlite")
    gated = GatedInstrument(campaign.instrument)
    campaign.instrument = gated
    runner = CampaignRunner(campaign, save_maps=False, stall_factor=float("inf")).start()
    try:
        runner.wait_for(lambda s: s.n_measured >= 6, WAIT_S)
        gated.gate.clear()
        gated.waiting.clear()
        assert gated.waiting.wait(WAIT_S), "the beam never started another point"
        deadline = time.monotonic() + WAIT_S
        while runner.pipeline.ready is None:  # the next proposal, made under beta 0.25
            assert time.monotonic() < deadline, "no proposal was computed ahead"
            time.sleep(0.01)
        stale = runner.pipeline.ready.points.tolist()
        runner.post(SetPolicy(beta=9.0))
        # applied while the spectrum is still being acquired, not after the step
        snap = runner.wait_for(lambda s: s.policy.get("beta") == 9.0, WAIT_S)
        assert snap.n_measured == 6 or snap.n_measured == 7
        assert not gated.gate.is_set()
        gated.gate.set()
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
    finally:
        runner.stop()
        campaign.close()
    with CampaignRecord.open(tmp_path / "s.sqlite", read_only=True) as record:
        (change,) = [i for i in record.interventions() if i.kind == "SetPolicy"]
        later = [d for d in record.decisions() if d.step > change.step]
        assert later and all(d.policy["beta"] == 9.0 for d in later)
        superseded = [e for e in record.events() if e.kind == "proposal_superseded"]
        assert superseded and str(tuple(stale[0])) in superseded[0].message


def test_a_posted_change_shows_as_queued_before_the_runner_applies_it(tmp_path: Path) -> None:
    campaign = Campaign.create(small_config(policy={"beta": 0.25}), tmp_path / "q.sqlite")
    runner = CampaignRunner(campaign, save_maps=False)
    try:
        runner.post(SetPolicy(beta=1.0))
        assert runner.snapshot().queued == ("beta 0.25 → 1",)  # not started: nothing applied
        runner.start(paused=True)
        snap = runner.wait_for(lambda s: s.policy.get("beta") == 1.0, WAIT_S)
        snap = runner.wait_for(lambda s: not s.queued, WAIT_S)
        assert snap.policy["beta"] == 1.0
    finally:
        runner.stop()
        campaign.close()


def _run_with_a_slow_fourth_fit(
    path: Path, *, seconds: float = 3.0, stall_factor: float = 3.0, **policy: Any
) -> CampaignRecord:
    """Run 14 spectra of 50 ms with the fourth fit ``seconds`` long; the record, checked."""
    config = small_config(
        instrument={"acquisition_delay_s": 0.05}, budget={"measurements": 14}, policy=policy
    )
    with Campaign.create(config, path) as campaign:
        surrogate = campaign._surrogate
        fit = surrogate.fit
        calls = {"n": 0}

        def slow_fourth_fit(X: Any, y: Any, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 4:
                time.sleep(seconds)
            return fit(X, y, **kw)

        surrogate.fit = slow_fourth_fit
        run_pipelined(campaign, stall_factor=stall_factor)
        assert campaign.done
    return _exactly_once(path, 14)


def test_a_slow_refit_never_stops_the_beam_the_last_fit_updated_chooses(tmp_path: Path) -> None:
    # max_unfitted 1: never wait for a refit
    with _run_with_a_slow_fourth_fit(tmp_path / "stall.sqlite", max_unfitted=1.0) as record:
        decisions = record.decisions()
        model = [d for d in decisions if d.policy["source"] == "model"]
        # while the slow fit ran, the beam went on with choices of the last fit, updated
        # with the spectra since: each says how many spectra its fit saw, fewer than it knew
        updated = [
            d
            for d in model
            if d.model["conditioned_on"].get("fit_n_measured", 1e9)
            < d.model["conditioned_on"]["n_measured"]
        ]
        assert len(updated) >= 2, [d.model["conditioned_on"] for d in model]
        assert all(np.all(np.isfinite(d.predicted_mean)) for d in updated)
        assert not [e for e in record.events() if e.kind == "model_stall"]
        assert "queue" not in [d.policy["source"] for d in decisions]


def test_a_stalled_refit_lets_the_updated_fit_choose_whatever_max_unfitted_says(
    tmp_path: Path,
) -> None:
    from steerscope.campaign import PolicyConfig

    assert PolicyConfig().max_unfitted < 0.5  # the default waits for refits, until a stall
    with _run_with_a_slow_fourth_fit(tmp_path / "stall.sqlite") as record:
        stalls = [e for e in record.events() if e.kind == "model_stall"]
        assert stalls and "updated with every spectrum since" in stalls[0].message
        assert "queue" not in [d.policy["source"] for d in record.decisions()]


def test_a_model_that_cannot_be_updated_falls_back_to_the_last_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from steerscope.models import updating

    monkeypatch.setattr(updating, "MAX_CELLS", 10)  # no room to keep the candidate posterior
    with _run_with_a_slow_fourth_fit(tmp_path / "stall.sqlite") as record:
        sources = [d.policy["source"] for d in record.decisions()]
        assert "queue" in sources
        stalls = [e for e in record.events() if e.kind == "model_stall"]
        assert stalls and "last model's ranking" in stalls[0].message


def test_the_beam_waits_for_the_refit_when_too_much_is_known_only_by_update(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wait.sqlite"
    with _run_with_a_slow_fourth_fit(
        path, seconds=1.0, stall_factor=100.0, max_unfitted=0.2
    ) as record:
        for d in record.decisions():
            known = d.model["conditioned_on"]
            if d.policy["source"] == "model" and "fit_n_measured" in known:
                n = known["n_measured"] + len(known["pending_points"])
                assert n - known["fit_n_measured"] <= 0.2 * n


def test_a_batch_cut_short_keeps_its_first_spectra_and_resume_measures_only_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "batch.sqlite"
    config = small_config(policy={"batch_size": 3}, seed_points={"kind": "grid", "n": 3})
    campaign = Campaign.create(config, path)
    gated = GatedInstrument(campaign.instrument)
    gated.fail_at = 2  # the second point of the first batch fails
    campaign.instrument = gated
    with pytest.raises(InstrumentError):
        run_pipelined(campaign)
    assert campaign.n_measured == 1
    first_batch = campaign.record.decisions()[0].points.tolist()
    campaign.close()  # as if the process ended here

    with Campaign.resume(path) as resumed:
        np.testing.assert_array_equal(resumed.pending_points, first_batch[1:])
        run_pipelined(resumed)
        assert resumed.done
    with _exactly_once(path, 12) as record:
        measured = record.measurements()
        first = measured.decision_ids == record.decisions()[0].id
        assert sorted(measured.points[first].tolist()) == sorted(first_batch)


def test_acquire_timed_chains_the_start_of_each_point_to_the_end_of_the_one_before() -> None:
    class Clocked:
        def acquire(self, points: ArrayLike) -> Measurement:
            now = time.time()
            pts = np.asarray(points).reshape(-1, 2)
            from steerscope.types import EnergyAxis, SignalKind

            return Measurement(
                pts,
                np.ones((len(pts), 4)),
                EnergyAxis(4, 0.0, 1.0, "eV"),
                SignalKind.EELS,
                now + 0.01 * np.arange(1, len(pts) + 1),
                0.01,
            )

    m = acquire_timed(Clocked(), [[0, 0], [0, 1], [0, 2]])  # type: ignore[arg-type]
    assert m.started_at is not None
    np.testing.assert_allclose(m.started_at[1:], m.acquired_at[:-1])
    assert beam_idle_fraction([0, 2, 4], [1, 3, 5]) == pytest.approx(0.4)
    assert beam_idle_fraction([0, 0.5], [1, 2]) == 0.0  # overlapping intervals are merged


def test_auto_batch_size_keeps_a_fast_beam_busy_and_stays_within_its_bounds(
    tmp_path: Path,
) -> None:
    from steerscope.campaign.config import AUTO_BATCH_MAX

    config = small_config(
        policy={"batch_size": "auto"},
        instrument={"acquisition_delay_s": 0.002},
        budget={"measurements": 40},
    )
    with Campaign.create(config, tmp_path / "auto.sqlite") as campaign:
        assert campaign.auto_batch_size() == 1  # nothing measured yet
        run_pipelined(campaign)
        assert campaign.done and campaign.n_measured == 40
        sizes = [len(d.points) for d in campaign.record.decisions()]
    assert max(sizes) > 1  # a fit takes far longer than 2 ms a point
    assert max(sizes) <= AUTO_BATCH_MAX
    with _exactly_once(tmp_path / "auto.sqlite", 40):
        pass


def test_auto_is_the_default_and_the_sequential_loop_measures_one_point_a_step(
    tmp_path: Path,
) -> None:
    config = small_config(instrument={"acquisition_delay_s": 0.002})
    with Campaign.create(config, tmp_path / "seq.sqlite") as campaign:
        assert campaign.config.policy.batch_size == "auto"
        campaign.run()  # fits take far longer than 2 ms a point, but nothing overlaps them
        assert campaign.done
        assert {len(d.points) for d in campaign.record.decisions()} == {1}


def test_batch_size_refuses_anything_but_a_positive_integer_or_auto() -> None:
    from steerscope.campaign import PolicyConfig
    from steerscope.errors import ConfigError

    assert PolicyConfig(batch_size="auto").batch_size == "auto"
    for bad in (0, "fast", -2):
        with pytest.raises((ConfigError, ValueError)):
            PolicyConfig(batch_size=bad)


def test_pause_takes_effect_after_the_spectrum_in_flight_not_after_the_batch(
    tmp_path: Path,
) -> None:
    from steerscope.campaign import Pause, Resume

    config = small_config(policy={"batch_size": 3}, seed_points={"kind": "grid", "n": 3})
    campaign = Campaign.create(config, tmp_path / "pause.sqlite")
    gated = GatedInstrument(campaign.instrument)
    gated.gate.clear()  # the very first spectrum waits
    campaign.instrument = gated
    runner = CampaignRunner(campaign, save_maps=False, stall_factor=float("inf")).start()
    try:
        assert gated.waiting.wait(WAIT_S), "the beam never started"
        runner.post(Pause())
        runner.wait_for(lambda s: not s.queued, WAIT_S)  # Pause handled while acquiring
        gated.gate.set()
        snap = runner.wait_for(lambda s: s.status == "paused" and s.n_measured >= 1, WAIT_S)
        time.sleep(0.3)  # would be enough for the beam to go on, if it did
        snap = runner.snapshot()
        assert snap.n_measured == 1 and len(gated.calls) == 1
        assert len(snap.next_points) == 2  # the rest of the batch stays pending
        runner.post(Resume())
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
    finally:
        runner.stop()
        campaign.close()
    with _exactly_once(tmp_path / "pause.sqlite", 12) as record:
        first = record.decisions()[0]
        measured = record.measurements()
        assert (measured.decision_ids == first.id).sum() == 3


def test_a_believer_batch_spreads_where_the_plain_ranking_clusters(tmp_path: Path) -> None:
    from steerscope.campaign.proposals import compute_proposal

    def batch(diversity: str) -> NDArray[np.int64]:
        config = small_config(
            name=diversity,
            policy={"batch_size": 4, "beta": 100.0, "batch_diversity": diversity},
            seed_points={"kind": "grid", "n": 9},
            budget={"measurements": 20},
        )
        with Campaign.create(config, tmp_path / f"{diversity}.sqlite") as campaign:
            campaign.run(n_steps=3)  # the 9 grid seeds
            job = campaign.plan()
            assert not isinstance(job, Proposal)
            return compute_proposal(job).proposal.points

    def closest_pair(points: NDArray[np.int64]) -> float:
        d = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        return float(d[np.triu_indices(len(points), 1)].min())

    plain, believer = batch("distance"), batch("believer")
    assert len({tuple(p) for p in believer.tolist()}) == 4
    assert closest_pair(believer) > closest_pair(plain)
    assert closest_pair(believer) >= 4  # not the next-door pixels of one uncertainty peak


def test_a_batch_is_ordered_as_a_short_beam_path() -> None:
    from steerscope.campaign.proposals import short_path

    points = np.array([[0, 90], [0, 10], [0, 50], [0, 30], [0, 70]])
    order = short_path(points, np.array([0, 0]))
    assert points[order, 1].tolist() == [10, 30, 50, 70, 90]
    travel = np.abs(np.diff(np.concatenate([[0], points[order, 1]]))).sum()
    assert travel == 90  # against 250 in the ranking's order
    assert short_path(points[:1], None).tolist() == [0]


def test_a_proposal_made_ahead_says_why_it_cannot_be_measured(tmp_path: Path) -> None:
    """The proposal computed while the last spectrum is acquired is logged as superseded
    because the budget is spent, not because of an intervention nobody posted."""
    with Campaign.create(small_config(budget={"measurements": 6}), tmp_path / "s.sqlite") as c:
        c.run(n_steps=5)  # 4 seed points, then the model ranks every candidate
        ahead = c.queue_proposal()
        assert isinstance(ahead, Proposal)
        assert c.why_stale(ahead) is None
        c.run(n_steps=1)  # the sixth spectrum: the budget is spent
        assert c.why_stale(ahead) == "the budget is spent"
        assert not c.is_current(ahead)
    with Campaign.create(small_config(budget={"measurements": 20}), tmp_path / "t.sqlite") as c:
        c.run(n_steps=5)
        ahead = c.queue_proposal()
        assert isinstance(ahead, Proposal)
        c.apply(SetPolicy(beta=4.0))
        assert c.why_stale(ahead) == "an intervention came after it was computed"
