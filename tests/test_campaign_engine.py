"""The campaign engine: ask/tell/step, every intervention's effect and record, resume."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steerscope.campaign import (
    AddNoGoRegion,
    AddPoints,
    Campaign,
    Pause,
    SetBudget,
    SetDescriptor,
    SetPolicy,
    SetScalarizer,
    VetoPoints,
)
from steerscope.campaign.proposals import step_phases
from steerscope.errors import ConfigError, DescriptorError, ScalarizerError
from steerscope.instruments import Measurement
from steerscope.records import CampaignRecord


def small_config(**overrides: Any) -> dict[str, Any]:
    """A cheap campaign: exact GP, 4×4 patches, few seeds."""
    config: dict[str, Any] = {
        "name": "test",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 8},
        "seed": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture
def campaign(tmp_path: Path) -> Any:
    c = Campaign.create(small_config(), tmp_path / "r.sqlite")
    yield c
    c.close()


def test_seed_points_first_then_model_until_budget(campaign: Campaign) -> None:
    results = campaign.run()
    assert [r.source for r in results] == ["seed"] * 4 + ["model"] * 4
    assert [r.points.tolist() for r in results[:4]] == [
        [[32, 32]],
        [[32, 96]],
        [[96, 32]],
        [[96, 96]],
    ]
    assert campaign.done and campaign.n_measured == 8
    assert "budget reached" in campaign.done_reason()
    assert campaign.step() is None
    # every decision recorded with versions and timings, every spectrum once
    decisions = campaign.record.decisions()
    assert [d.step for d in decisions] == list(range(8))
    model_decision = decisions[-1]
    assert model_decision.policy["source"] == "model"
    assert model_decision.policy["version"] == 0
    assert model_decision.scalarizer["version"] == 0
    assert {"fit_s", "posterior_s", "acquisition_s"} <= set(model_decision.timings)
    assert np.isfinite(model_decision.predicted_var).all()
    measured = campaign.record.measurements()
    assert len(measured) == 8
    assert len({tuple(p) for p in measured.points.tolist()}) == 8
    # targets are the dataset's default scalarizer (window sum 1.0-1.8 eV) on the raw spectra
    energy = measured.energy
    assert energy is not None
    window = (energy.values >= 1.0 - 1e-9) & (energy.values <= 1.8 + 1e-9)
    np.testing.assert_allclose(campaign.targets(), measured.spectra[:, window].sum(axis=1))
    assert campaign.record.status().status == "finished"


def test_higher_beta_moves_the_choice_toward_higher_variance(campaign: Campaign) -> None:
    campaign.run(n_steps=6)
    # pure exploitation against (almost) pure exploration: between two closer betas the
    # UCB maximiser may legitimately stay on the same pixel (it did at 0.25 and 4 here)
    campaign.apply(SetPolicy(beta=0.0))
    low = campaign.ask()
    campaign.apply(SetPolicy(beta=100.0))
    high = campaign.ask()
    assert low.source == high.source == "model"
    assert high.predicted_var[0] > low.predicted_var[0]
    assert high.predicted_mean[0] <= low.predicted_mean[0]
    assert campaign.versions["policy"] == 2
    kinds = [
        (i.kind, i.before.get("beta"), i.after.get("beta")) for i in campaign.record.interventions()
    ]
    assert kinds == [("SetPolicy", 1.0, 0.0), ("SetPolicy", 0.0, 100.0)]
    campaign.step()
    assert campaign.record.decisions()[-1].policy["beta"] == 100.0
    assert campaign.record.decisions()[-1].policy["version"] == 2


def test_invalid_interventions_are_refused_recorded_and_change_nothing(campaign: Campaign) -> None:
    with pytest.raises(
        ConfigError, match=r"SetPolicy refused: beta: .*greater than or equal to 0 \(got -1.0\)"
    ):
        campaign.apply(SetPolicy(beta=-1.0))
    with pytest.raises(ConfigError, match=r"\[\(500, 3\)\] lie outside the 128×128 overview"):
        campaign.apply(AddPoints([[500, 3]]))
    with pytest.raises(ConfigError, match="budget must be an integer >= 1"):
        campaign.apply(SetBudget(0))
    with pytest.raises(ConfigError, match="mask must cover the overview"):
        campaign.apply(AddNoGoRegion(np.zeros((4, 4), bool)))
    with pytest.raises(ConfigError, match="post it to a CampaignRunner"):
        campaign.apply(Pause())
    with pytest.raises(ScalarizerError, match="unknown kind"):
        campaign.apply(SetScalarizer({"kind": "nope"}))
    assert campaign.config.policy.beta == 1.0
    assert campaign.versions == {"policy": 0, "scalarizer": 0, "descriptor": 0, "model": 0}
    assert campaign.record.interventions() == []
    rejected = [e for e in campaign.record.events() if e.kind == "intervention_rejected"]
    assert len(rejected) == 6
    assert "SetPolicy refused" in rejected[0].message


def test_new_scalarizer_relabels_history(campaign: Campaign) -> None:
    campaign.run(n_steps=5)
    before = campaign.targets().copy()
    spec = {"kind": "window_sum", "window": [3.01, 3.49]}
    campaign.apply(SetScalarizer(spec))
    energy = campaign.energy
    assert energy is not None
    channels = (energy.values > 3.01) & (energy.values < 3.49)
    assert channels.sum() == 24  # 3.02 ... 3.48 eV at 0.02 eV/channel
    expected = campaign.measured_spectra[:, channels].sum(axis=1)
    np.testing.assert_allclose(campaign.targets(), expected)
    assert not np.allclose(campaign.targets(), before)
    item = campaign.record.interventions()[-1]
    assert item.kind == "SetScalarizer"
    assert item.before["spec"]["window"] == [1.0, 1.8]
    assert item.after["spec"]["window"] == [3.01, 3.49]
    campaign.step()
    decision = campaign.record.decisions()[-1]
    assert decision.scalarizer["version"] == 1
    assert decision.scalarizer["spec"]["window"] == [3.01, 3.49]
    assert decision.model["version"] == 1  # a new target scale means a fresh model


def test_scalarizer_outside_the_axis_is_refused(campaign: Campaign) -> None:
    campaign.run(n_steps=1)
    with pytest.raises(ScalarizerError):
        campaign.apply(SetScalarizer({"kind": "window_sum", "window": [900.0, 950.0]}))
    assert campaign.versions["scalarizer"] == 0


def test_new_patch_size_changes_feature_dimension(campaign: Campaign) -> None:
    assert campaign.features.shape == (128 * 128, 16)
    campaign.run(n_steps=5)
    campaign.apply(SetDescriptor(patch_size=6))
    assert campaign.features.shape == (128 * 128, 36)
    assert campaign.versions["descriptor"] == 1 and campaign.versions["model"] == 1
    result = campaign.step()
    assert result is not None and result.source == "model"
    decision = campaign.record.decisions()[-1]
    assert decision.policy["descriptor_version"] == 1
    assert campaign.record.interventions()[-1].after == {"patch_size": 6}
    with pytest.raises(DescriptorError):
        campaign.apply(SetDescriptor(patch_size=0))
    assert campaign.features.shape[1] == 36


def test_add_points_are_measured_next_in_order(campaign: Campaign) -> None:
    campaign.run(n_steps=2)
    campaign.apply(AddPoints([[5, 5], [6, 7]]))
    np.testing.assert_array_equal(campaign.queued_points, [[5, 5], [6, 7]])
    first, second = campaign.step(), campaign.step()
    assert first is not None and second is not None
    assert first.points.tolist() == [[5, 5]] and first.source == "operator"
    assert second.points.tolist() == [[6, 7]]
    assert campaign.queued_points.shape == (0, 2)
    third = campaign.step()
    assert third is not None and third.source == "seed"  # the remaining seeds come back
    assert campaign.record.interventions()[0].after == {"points": [[5, 5], [6, 7]]}


def test_vetoed_and_no_go_pixels_are_never_chosen(tmp_path: Path) -> None:
    config = small_config(
        policy={"acquisition": "max_variance", "batch_size": 3},
        budget={"measurements": 13},
    )
    with Campaign.create(config, tmp_path / "r.sqlite") as campaign:
        campaign.run(n_steps=2)  # 4 seeds in batches of 3
        first_choice = campaign.ask()
        vetoed = [tuple(p) for p in first_choice.points.tolist()]
        campaign.apply(VetoPoints(first_choice.points))
        mask = np.zeros((128, 128), dtype=bool)
        mask[:64, :] = True  # the whole top half
        campaign.apply(AddNoGoRegion(mask))
        with pytest.raises(ConfigError, match="vetoed or inside a no-go region"):
            campaign.apply(AddPoints([[10, 10]]))
        results = campaign.run()
        chosen = [tuple(p) for r in results for p in r.points.tolist()]
        assert len(chosen) == 9
        assert not set(chosen) & set(vetoed)
        assert all(r >= 64 for r, _ in chosen)
        kinds = [i.kind for i in campaign.record.interventions()]
        assert kinds == ["VetoPoints", "AddNoGoRegion"]


def test_budget_can_be_extended_after_the_end(campaign: Campaign) -> None:
    campaign.run()
    assert campaign.done
    with pytest.raises(ConfigError, match=r"budget must be an integer >= 8"):
        campaign.apply(SetBudget(5))
    campaign.apply(SetBudget(9))
    assert not campaign.done
    assert len(campaign.run()) == 1 and campaign.n_measured == 9


def test_non_finite_spectrum_is_skipped_with_an_event(campaign: Campaign) -> None:
    campaign.run(n_steps=4)
    energy = campaign.energy
    assert energy is not None
    spectrum = np.full((1, energy.size), np.nan)
    campaign.tell(
        Measurement(
            points=np.array([[3, 3]]),
            spectra=spectrum,
            energy=energy,
            signal_kind="EELS",  # type: ignore[arg-type]
            acquired_at=np.array([time.time()]),
            dwell_time_s=0.01,
        )
    )
    y = campaign.targets()
    assert y.shape == (5,) and np.isnan(y[-1]) and np.isfinite(y[:4]).all()
    events = [e for e in campaign.events if e.kind == "skipped_target"]
    assert len(events) == 1 and "(3, 3)" in events[0].text
    result = campaign.step()
    assert result is not None and result.source == "model"


def test_resume_restores_config_in_force_history_and_step(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Campaign.create(small_config(), path) as campaign:
        campaign.run(n_steps=5)
        campaign.apply(SetPolicy(beta=4.0, batch_size=2))
        campaign.apply(VetoPoints([[0, 0]]))
        points = campaign.measured_points
    with Campaign.resume(path) as resumed:
        assert resumed.step_index == 5 and resumed.n_measured == 5
        np.testing.assert_array_equal(resumed.measured_points, points)
        assert resumed.config.policy.beta == 4.0 and resumed.config.policy.batch_size == 2
        assert resumed.versions["policy"] == 1
        assert resumed.vetoed_points.tolist() == [[0, 0]]
        resumed.run()
        assert resumed.n_measured == 8
    with CampaignRecord.open(path, read_only=True) as record:
        measured = record.measurements()
        assert len({tuple(p) for p in measured.points.tolist()}) == 8


def test_resume_measures_the_pending_decision_first(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Campaign.create(small_config(), path) as campaign:
        campaign.run(n_steps=5)
        proposal = campaign.ask()
        campaign.record_decision(proposal)  # killed before the beam moved
    with Campaign.resume(path) as resumed:
        assert resumed.step_index == 5
        np.testing.assert_array_equal(resumed.pending_points, proposal.points)
        assert resumed.ask().source == "pending"
        result = resumed.step()
        assert result is not None and result.step == 5
        np.testing.assert_array_equal(result.points, proposal.points)
        assert resumed.step_index == 6
        decisions = resumed.record.decisions()
        assert len(decisions) == 6
        measured = resumed.record.measurements()
        assert measured.decision_ids[-1] == decisions[-1].id


def test_a_change_that_changes_nothing_is_not_recorded(tmp_path: Path) -> None:
    """A repeated post (a slow page sending the same beta twice) leaves one record row."""
    from steerscope.campaign import SetBudget, SetDescriptor, SetPolicy

    with Campaign.create(_no_change_config(), tmp_path / "n.sqlite") as campaign:
        campaign.apply(SetPolicy(beta=2.0))
        version = campaign.versions["policy"]
        campaign.apply(SetPolicy(beta=2.0))
        campaign.apply(SetDescriptor(patch_size=4))
        campaign.apply(SetBudget(measurements=6))
        assert campaign.versions["policy"] == version
        kinds = [i.kind for i in campaign.record.interventions()]
        assert kinds == ["SetPolicy"]


def _no_change_config() -> dict:
    return {
        "name": "noop",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 6},
    }


def test_every_recorded_change_reads_as_words_in_the_log_and_the_review_table(
    campaign: Campaign,
) -> None:
    """The event log and Review's table say what changed, never a raw dict (B12)."""
    from steerscope.campaign.interventions import describe_change
    from steerscope.ui.review_tools import intervention_rows

    campaign.run(n_steps=1)
    mask = np.zeros(campaign.shape, dtype=bool)
    mask[:3, :5] = True
    for change in (
        SetPolicy(beta=4.0),
        SetBudget(measurements=12),
        SetDescriptor(patch_size=6),
        SetScalarizer(spec={"kind": "window_sum", "window": (1.2, 2.0)}),
        AddPoints(points=((5, 6), (7, 8))),
        VetoPoints(points=((9, 9),)),
        AddNoGoRegion(mask=mask),
    ):
        campaign.apply(change)
    campaign.note_control(Pause(), "running", "paused")
    texts = [e.text for e in campaign.events if e.kind == "intervention"]
    rows = [r["change"] for r in intervention_rows(campaign.record)]
    assert rows == [
        "beta 1 → 4",
        "budget 8 → 12 spectra",
        "patch size 4 → 6",
        rows[3],
        "measure 2 point(s) next: (5, 6), (7, 8)",
        "forbid 1 point(s): (9, 9)",
        "no-go region of 15 pixel(s)",
        "running → paused",
    ]
    assert rows[3].startswith("target Σ 1.00–1.80") and rows[3].endswith("→ Σ 1.20–2.00")
    assert [t.split(": ", 1)[1] for t in texts] == rows
    assert not any("{" in t or "packbits" in t for t in texts + rows)
    assert describe_change("Nonsense", {}, {"x": 1}) == "Nonsense"


def test_each_measured_point_says_what_chose_it_and_keeps_it_on_resume(tmp_path: Path) -> None:
    """Seed, each beta regime and hand-added points are told apart (coloured on the overview)."""
    path = tmp_path / "phases.sqlite"
    with Campaign.create(small_config(budget={"measurements": 9}), path) as campaign:
        for _ in range(5):  # four seeds, one model point at the start beta
            campaign.step()
        campaign.apply(SetPolicy(beta=4.0))
        campaign.step()
        campaign.apply(AddPoints([[5, 5]]))
        campaign.step()
        phases = campaign.measured_phases
    beta = float(small_config().get("policy", {}).get("beta", 1.0))
    assert phases == ["seed point"] * 4 + [f"UCB β {beta:g}", "UCB β 4", "added by hand"]
    with Campaign.resume(path) as resumed:
        assert resumed.measured_phases == phases
    from steerscope.ui.review_tools import phases_until  # the Review page reads the same

    with CampaignRecord.open(path, read_only=True) as record:
        assert phases_until(record, 10_000) == phases
        assert phases_until(record, 3) == ["seed point"] * 4
        # the steps come without the spectra, as measurements() has them
        assert record.measurement_steps().tolist() == record.measurements().steps.tolist()


def test_creation_says_when_candidates_share_a_spectrum_pixel(tmp_path: Path) -> None:
    # plasmonic: a 128×128 overview over 64×64 spectra
    with Campaign.create(small_config(), tmp_path / "a.sqlite") as shared:
        notes = [e.text for e in shared.events if e.kind == "source_note"]
    assert len(notes) == 1
    assert "2×2 pixels per spectrum pixel" in notes[0]
    assert "up to 4 candidates share each spectrum" in notes[0]
    assert "`descriptor.stride: 2`" in notes[0]
    one_each = small_config(descriptor={"patch_size": 4, "stride": 2})
    with Campaign.create(one_each, tmp_path / "b.sqlite") as campaign:
        assert not [e for e in campaign.events if e.kind == "source_note"]
    record = CampaignRecord.open(tmp_path / "a.sqlite")
    try:
        assert any(e.kind == "source_note" for e in record.events())
    finally:
        record.close()


def test_creation_says_when_the_overview_is_the_sum_of_the_spectra(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "si.npz",
        spectra=rng.poisson(20.0, size=(12, 12, 8)).astype(np.float32),
        energy_offset=0.0,
        energy_scale=1.0,
        signal_kind="EELS",
    )
    config = small_config(
        source={"file": str(tmp_path / "si.npz")},
        scalarizer={"kind": "window_sum", "window": [0.0, 7.0]},
    )
    # said once, as a note in the campaign's log, not as a warning too
    with Campaign.create(config, tmp_path / "r.sqlite") as campaign:
        notes = [e.text for e in campaign.events if e.kind == "source_note"]
    assert len(notes) == 1
    assert notes[0].startswith("the overview is the sum of the spectra")
    assert "options: {overview: haadf.dm4}" in notes[0]


def test_random_and_raster_acquisitions_never_fit_the_model(tmp_path: Path) -> None:
    config = small_config(policy={"acquisition": "random"}, budget={"measurements": 10})
    with Campaign.create(config, tmp_path / "r.sqlite") as campaign:
        fits: list[int] = []
        surrogate_fit = campaign._surrogate.fit
        campaign._surrogate.fit = lambda X, y: (fits.append(len(y)), surrogate_fit(X, y))[1]
        results = campaign.run(n_steps=7)
        assert [r.source for r in results] == ["seed"] * 4 + ["no_model"] * 3
        assert fits == []
        labels = {p for p in step_phases(campaign.record.decisions()).values()}
        assert "random (no model)" in labels
        campaign.apply(SetPolicy(acquisition="raster"))
        (raster,) = campaign.run(n_steps=1)
        assert raster.source == "no_model" and fits == []
        campaign.apply(SetPolicy(acquisition="ucb"))
        (ucb,) = campaign.run(n_steps=1)
        assert ucb.source == "model" and fits == [8]
        points = campaign.record.measurements().points.tolist()
        assert len({tuple(p) for p in points}) == len(points) == 9


def test_a_pretrained_dkl_campaign_pretrains_once_on_every_candidate(tmp_path: Path) -> None:
    config = small_config(model={"kind": "dkl", "pretrain": True, "cold_iterations": 20})
    with Campaign.create(config, tmp_path / "pre.sqlite") as campaign:
        campaign.run()
        assert campaign.done
        surrogate = campaign._surrogate
        assert not surrogate.needs_pretraining
        assert surrogate.pretrained_["n_features"] == campaign.features.shape[1]
        decisions = campaign.record.decisions()
        assert any(d.policy["source"] == "model" for d in decisions)
        assert decisions[-1].model["spec"]["pretrain"] is True
