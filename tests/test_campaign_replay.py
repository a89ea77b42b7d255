"""What-if replay: fork a record at step K with dotted config changes, then run the fork."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.campaign import (
    Campaign,
    SetPolicy,
    apply_config_changes,
    fork_record,
    load_config,
    replay,
)
from steerscope.errors import ConfigError, RecordError
from steerscope.records import CampaignRecord

CONFIG = {
    "name": "replay",
    "source": {"dataset": "plasmonic_nanoparticles"},
    "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 5},
    "seed_points": {"kind": "grid", "n": 4},
    "budget": {"measurements": 7},
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 7-step record (4 grid seeds + 3 model steps) with a SetPolicy at step 2."""
    path = tmp_path_factory.mktemp("replay") / "source.sqlite"
    with Campaign.create(CONFIG, path) as campaign:
        campaign.run(n_steps=2)
        campaign.apply(SetPolicy(beta=9.0))
        campaign.run()
    return path


def test_fork_at_k_keeps_exactly_the_first_k_steps(source: Path, tmp_path: Path) -> None:
    out = fork_record(source, 5, {}, tmp_path / "fork.sqlite")
    assert out == tmp_path / "fork.sqlite"
    with CampaignRecord.open(source, read_only=True) as old, CampaignRecord.open(out) as new:
        old_m, new_m = old.measurements(), new.measurements()
        keep = old_m.steps < 5
        assert len(old_m) == 7 and int(keep.sum()) == 5
        np.testing.assert_array_equal(new_m.steps, old_m.steps[keep])
        np.testing.assert_array_equal(new_m.points, old_m.points[keep])
        np.testing.assert_array_equal(new_m.spectra, old_m.spectra[keep])
        assert [d.step for d in new.decisions()] == [0, 1, 2, 3, 4]
        assert [(i.step, i.kind) for i in new.interventions()] == [(2, "SetPolicy")]
        assert new.config() == old.config()
        assert all(step < 5 for step in new.map_steps())
        assert new.events()[-1].kind == "replay"
        assert "at step 5 with no changes" in new.events()[-1].message


def test_fork_at_zero_keeps_no_spectra(source: Path, tmp_path: Path) -> None:
    with CampaignRecord.open(fork_record(source, 0, None, tmp_path / "f.sqlite")) as new:
        assert len(new.measurements()) == 0 and new.decisions() == []


def test_policy_change_is_recorded_at_k_and_overrides_an_earlier_intervention(
    source: Path, tmp_path: Path
) -> None:
    out = fork_record(
        source, 4, {"policy.beta": 0.5, "policy.acquisition": "ei"}, tmp_path / "f.sqlite"
    )
    with CampaignRecord.open(out, read_only=True) as new:
        last = new.interventions()[-1]
        assert (last.step, last.kind) == (4, "SetPolicy")
        assert last.before["beta"] == 9.0 and last.before["acquisition"] == "ucb"
        assert last.after["beta"] == 0.5 and last.after["acquisition"] == "ei"
        assert new.config()["policy"]["beta"] == 1.0  # history stays: the change is at K
        message = new.events()[-1].message
        assert "policy.beta=0.5" in message and "policy.acquisition='ei'" in message
    with Campaign.resume(out) as campaign:
        assert campaign.config.policy.beta == 0.5
        assert campaign.config.policy.acquisition == "ei"
        assert campaign.step_index == 4


def test_replay_runs_the_fork_to_its_budget_under_the_change(source: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    out = replay(
        source,
        4,
        {"policy.acquisition": "max_variance"},
        tmp_path / "f.sqlite",
        callback=lambda result: seen.append(result.step),
    )
    assert seen == [4, 5, 6]
    with CampaignRecord.open(out, read_only=True) as new:
        assert len(new.measurements()) == 7
        policies = [d.policy.get("acquisition") for d in new.decisions() if d.step >= 4]
        assert policies == ["max_variance"] * 3
        assert new.status().status == "finished"


def test_replay_stops_after_n_steps(source: Path, tmp_path: Path) -> None:
    out = replay(source, 4, {}, tmp_path / "f.sqlite", n_steps=1)
    with CampaignRecord.open(out, read_only=True) as new:
        assert len(new.measurements()) == 5
        assert new.status().status == "paused"


def test_config_only_change_goes_into_the_fork_config(source: Path, tmp_path: Path) -> None:
    out = fork_record(
        source,
        4,
        {"model.exact_iterations": 7, "budget.measurements": 9},
        tmp_path / "f.sqlite",
    )
    with CampaignRecord.open(out, read_only=True) as new:
        assert new.config()["model"]["exact_iterations"] == 7
        assert new.config()["budget"]["measurements"] == 7  # budget: as an intervention
        last = new.interventions()[-1]
        assert (last.kind, last.before, last.after) == (
            "SetBudget",
            {"measurements": 7},
            {"measurements": 9},
        )
    with CampaignRecord.open(source, read_only=True) as old:
        assert old.config()["model"]["exact_iterations"] == 5


def test_scalarizer_field_change(source: Path, tmp_path: Path) -> None:
    with CampaignRecord.open(source, read_only=True) as old:
        spec = old.config()["scalarizer"]
    window = spec["window"]  # the plasmonic default is a window scalarizer
    out = fork_record(
        source, 4, {"scalarizer.window": [window[0], window[1] + 0.1]}, tmp_path / "f.sqlite"
    )
    with CampaignRecord.open(out, read_only=True) as new:
        last = new.interventions()[-1]
        assert last.kind == "SetScalarizer"
        assert last.after["spec"]["window"][1] == pytest.approx(window[1] + 0.1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"policy.colour": "red"}, r"policy\.colour"),
        ({"nosuch.field": 1}, r"no section 'nosuch'"),
        ({"policy.beta.x": 1}, r"'policy\.beta' is a value"),
        ({"policy.beta": -1}, r"policy\.beta.*greater than or equal to 0"),
        ({"policy.acquisition": "__import__('os')"}, r"unknown acquisition"),
        ({"": 1}, r"not a dotted field path"),
        ({"budget.measurements": 2}, r"budget\.measurements must be >= 4"),
        ({"scalarizer": None}, r"needs a scalarizer"),
    ],
)
def test_bad_change_is_a_config_error_and_writes_nothing(
    source: Path, tmp_path: Path, changes: dict[str, object], match: str
) -> None:
    out = tmp_path / "f.sqlite"
    with pytest.raises(ConfigError, match=match):
        fork_record(source, 4, changes, out)
    assert not out.exists()


def test_from_step_beyond_the_record_is_a_clear_error(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.sqlite"
    with pytest.raises(ConfigError, match=r"holds 7 step\(s\).*between 0 and 7"):
        fork_record(source, 8, {}, out)
    with pytest.raises(ConfigError, match="from_step must be >= 0"):
        fork_record(source, -1, {}, out)
    with pytest.raises(ConfigError, match="integer step index"):
        fork_record(source, 2.5, {}, out)  # type: ignore[arg-type]
    assert not out.exists()


def test_fork_never_overwrites(source: Path, tmp_path: Path) -> None:
    existing = tmp_path / "f.sqlite"
    existing.write_bytes(b"keep me")
    with pytest.raises(RecordError):
        fork_record(source, 2, {}, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(ConfigError, match="not onto its source"):
        fork_record(source, 2, {}, source)


def test_apply_config_changes_validates_against_the_config_model() -> None:
    base = load_config({"name": "x"}).to_dict()
    changed = apply_config_changes(base, {"policy.beta": 2.0, "seed": 3})
    assert changed["policy"]["beta"] == 2.0 and changed["seed"] == 3 and changed["name"] == "x"
    assert base["policy"]["beta"] == 1.0  # the input is not modified


def test_a_fork_that_fails_while_copied_leaves_no_record_to_resume(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-copied fork once resumed as "finished" with spectra missing (#13 item 5)."""
    calls = {"n": 0}
    real = CampaignRecord.add_measurement

    def dies_on_the_third(self: CampaignRecord, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed while copying")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CampaignRecord, "add_measurement", dies_on_the_third)
    out = tmp_path / "fork.sqlite"
    with pytest.raises(KeyboardInterrupt):
        fork_record(source, 5, {}, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file, journal or lock left
    monkeypatch.undo()
    fork_record(source, 5, {}, out)  # a second try builds the whole fork
    assert [p.name for p in tmp_path.iterdir()] == ["fork.sqlite"]  # one file: checkpointed
    with CampaignRecord.open(out, read_only=True) as fork:
        assert fork.status().status == "paused"
        assert len(fork.measurements()) > 0
