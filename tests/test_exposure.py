"""Exposure as an input: the engine chooses each point's dwell and compares targets per second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.campaign import Campaign, SetPolicy, load_config, run_pipelined
from steerscope.campaign.engine import best_dwell
from steerscope.errors import ConfigError, InstrumentError, SafetyLimitError
from steerscope.instruments import SimulatedMicroscope
from steerscope.instruments.safety import SafeMicroscope, SafetyLimits
from steerscope.records import CampaignRecord
from steerscope.scalarizers import parse_scalarizer
from steerscope.testing import tiny_spectrum_image

LADDER = [0.002, 0.01, 0.05]


def _config(**policy) -> dict:
    return {
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"dwell_time_s": 0.01, "noise": True, "reference_dwell_s": 0.01},
        "model": {"kind": "exact_gp"},
        "policy": {"dwell": {"choices_s": LADDER, "overhead_s": 0.005}, **policy},
        "budget": {"measurements": 20},
    }


def test_the_dwell_that_buys_the_most_variance_per_second_wins() -> None:
    # no overhead: many short looks equal one long one, so the shortest always wins
    assert best_dwell([1e-3, 1.0, 1e3], 1.0, LADDER, 0.0).tolist() == [0.002] * 3
    # with an overhead, a point whose uncertainty is small next to the counting noise
    # earns a longer look; one the model knows nothing about, a quick one
    chosen = best_dwell([1e-2, 1e6], 1.0, LADDER, 0.05)
    assert chosen.tolist() == [0.05, 0.002]


@pytest.mark.parametrize("loop", ["sequential", "pipelined"])
def test_the_campaign_chooses_dwells_records_them_and_compares_per_second(
    loop: str, tmp_path: Path
) -> None:
    path = tmp_path / "dwell.sqlite"
    with Campaign.create(_config(), path) as campaign:
        if loop == "pipelined":
            run_pipelined(campaign)
        else:
            campaign.run()
        assert campaign.n_measured == 20
        dwell = campaign.history.dwell_s
        assert set(dwell.tolist()) <= set(LADDER) and len(set(dwell.tolist())) >= 2
        spec = parse_scalarizer(campaign.config.scalarizer.model_dump())
        per_second = spec.apply(campaign.history.spectra / dwell[:, None], campaign.energy)
        np.testing.assert_allclose(campaign.targets(), per_second)
        assert campaign.noise_per_second() is not None
    with CampaignRecord.open(path, read_only=True) as record:
        measured = record.measurements()
        np.testing.assert_array_equal(measured.dwell_time_s, dwell)
        chosen = [d.policy.get("dwell_chosen_s") for d in record.decisions()]
        assert all(c is not None for c in chosen)
        recorded = [t for c in chosen for t in c]
        assert recorded == dwell.tolist()  # each spectrum was taken at its decision's dwell


def test_the_counts_follow_the_dwell_the_simulator_is_set_to() -> None:
    scope = SimulatedMicroscope(tiny_spectrum_image(), dwell_time_s=0.01)
    before = scope.acquire([[3, 4]]).spectra
    scope.set_dwell(0.03)
    after = scope.acquire([[3, 4]])
    np.testing.assert_allclose(after.spectra, 3 * before)
    assert after.dwell_time_s == 0.03 and scope.reference_dwell_s == 0.01
    with pytest.raises(InstrumentError, match="positive number of seconds"):
        scope.set_dwell(0.0)


def test_a_safety_limit_caps_the_chosen_dwell() -> None:
    scope = SafeMicroscope(
        SimulatedMicroscope(tiny_spectrum_image()), SafetyLimits(max_dwell_time_s=0.02)
    )
    scope.set_dwell(0.015)
    assert scope.dwell_time_s == 0.015
    with pytest.raises(SafetyLimitError, match=r"a dwell of 0\.05 s exceeds the limit of 0\.02 s"):
        scope.set_dwell(0.05)
    assert scope.dwell_time_s == 0.015


class _FixedDwellScope:
    """A microscope that cannot change its dwell (only the protocol's four calls)."""

    def __init__(self) -> None:
        self._inner = SimulatedMicroscope(tiny_spectrum_image())

    def overview(self):
        return self._inner.overview()

    def acquire(self, points):
        return self._inner.acquire(points)

    def describe(self):
        return self._inner.describe()

    def close(self) -> None:
        self._inner.close()


def test_an_instrument_that_cannot_change_its_dwell_is_refused_up_front(tmp_path: Path) -> None:
    config = {
        "scalarizer": {"kind": "window_sum", "window": [18.0, 22.0]},
        "model": {"kind": "exact_gp"},
        "descriptor": {"patch_size": 4},
        "policy": {"dwell": {"choices_s": LADDER}},
    }
    with pytest.raises(ConfigError, match=r"cannot change its dwell between points"):
        Campaign.create(config, tmp_path / "a.sqlite", instrument=_FixedDwellScope())
    plain = {k: v for k, v in config.items() if k != "policy"}
    with Campaign.create(plain, tmp_path / "b.sqlite", instrument=_FixedDwellScope()) as c:
        with pytest.raises(ConfigError, match=r"SetPolicy refused: .*cannot change its dwell"):
            c.apply(SetPolicy(dwell={"choices_s": LADDER}))
        assert c.config.policy.dwell is None


def test_the_worked_example_chooses_dwells() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "examples/exposure_plasmonic.yaml")
    assert config.policy.dwell is not None and len(config.policy.dwell.choices_s) == 3


def test_a_dwell_ladder_must_increase() -> None:
    bad = _config()
    bad["policy"]["dwell"]["choices_s"] = [0.01, 0.01]
    with pytest.raises(ConfigError, match="choices_s must increase strictly"):
        load_config(bad)


def test_steerscope_run_shows_each_points_dwell(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from steerscope.cli import app

    config = tmp_path / "dwell.yaml"
    config.write_text(yaml.safe_dump({**_config(), "budget": {"measurements": 8}}))
    result = CliRunner().invoke(app, ["run", str(config), "--record", str(tmp_path / "r.sqlite")])
    assert result.exit_code == 0, result.output
    steps = [line for line in result.output.splitlines() if line.startswith("step")]
    assert steps and all(" dwell " in line and line.count(" ms ") == 1 for line in steps)
    assert any("dwell 10 ms" in line for line in steps)  # the seeds take the ladder's middle


def test_a_served_microscope_takes_the_chosen_dwells_and_says_when_it_cannot(
    tmp_path: Path,
) -> None:
    from steerscope.instruments import RemoteMicroscope
    from steerscope.instruments.server import MicroscopeServer

    config = {
        "scalarizer": {"kind": "window_sum", "window": [18.0, 22.0]},
        "model": {"kind": "exact_gp"},
        "descriptor": {"patch_size": 4},
        "policy": {"dwell": {"choices_s": LADDER}},
        "budget": {"measurements": 6},
    }
    with MicroscopeServer(SimulatedMicroscope(tiny_spectrum_image())).start_in_thread() as server:
        remote = RemoteMicroscope(server.uri, timeout_s=10, retries=0)
        assert remote.can_set_dwell
        with Campaign.create(config, tmp_path / "served.sqlite", instrument=remote) as c:
            c.run()
            assert set(c.history.dwell_s.tolist()) <= set(LADDER)
    with MicroscopeServer(_FixedDwellScope()).start_in_thread() as server:
        remote = RemoteMicroscope(server.uri, timeout_s=10, retries=0)
        assert not remote.can_set_dwell
        with pytest.raises(ConfigError, match=r"RemoteMicroscope\) cannot change its dwell"):
            Campaign.create(config, tmp_path / "fixed.sqlite", instrument=remote)
        with pytest.raises(InstrumentError, match="cannot change its dwell between points"):
            remote.set_dwell(0.01)


@pytest.mark.parametrize(("reference_dwell_s", "expected_ms"), [(0.01, 2.0), (20.0, 10.0)])
def test_the_engine_looks_longer_only_when_counting_noise_hides_the_contrast(
    reference_dwell_s: float, expected_ms: float, tmp_path: Path
) -> None:
    config = _config()
    config["instrument"]["reference_dwell_s"] = reference_dwell_s  # counts per second of dwell
    config["policy"]["dwell"]["choices_s"] = [0.002, 0.01, 0.05, 0.25]
    config["budget"] = {"measurements": 12}
    with Campaign.create(config, tmp_path / "r.sqlite") as campaign:
        campaign.run()
        chosen = campaign.history.dwell_s * 1000
    assert chosen[0] == 50.0  # before the noise and the spread are known: the ladder's middle
    # bright counts: the shortest look tells the sample's values apart; faint: a longer one
    np.testing.assert_allclose(chosen[-4:], expected_ms)
