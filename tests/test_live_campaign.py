"""Campaigns on a microscope served over loopback, and safety limits in the campaign config.

The server is a real Pyro5 :class:`MicroscopeServer` in a background thread over a
:class:`SimulatedMicroscope`; the campaign reaches it through ``source: {remote: ...}``
exactly as it would reach ``steerscope serve`` on a microscope PC.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from steerscope.campaign import (
    AddNoGoRegion,
    Campaign,
    CampaignRunner,
    InstanceSource,
    Resume,
    VetoPoints,
    load_config,
)
from steerscope.cli import app
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError, InstrumentError, SafetyLimitError
from steerscope.instruments import (
    MicroscopeServer,
    PixelRect,
    SafeMicroscope,
    SafetyLimits,
    SimulatedMicroscope,
)

pytestmark = pytest.mark.timeout(120)

TOKEN = "loopback-token-for-tests"
TOKEN_ENV = "STEERSCOPE_LIVE_TEST_TOKEN"
WAIT_S = 60.0
DATASET = "plasmonic_nanoparticles"


@pytest.fixture(scope="module")
def dataset() -> Any:
    return get_dataset(DATASET)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(source: dict[str, Any], dataset: Any, **overrides: Any) -> dict[str, Any]:
    """A small, fast campaign: 4 grid seeds, then an exact GP with few iterations."""
    config: dict[str, Any] = {
        "name": "live",
        "source": source,
        "scalarizer": dataset.default_scalarizer,
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 8},
        "seed": 3,
    }
    config.update(overrides)
    return config


def _remote(uri: str, **options: Any) -> dict[str, Any]:
    return {"remote": uri, "token_env": TOKEN_ENV, "timeout_s": 5.0, "retries": 1, **options}


def _assert_each_spectrum_once(campaign: Campaign, budget: int) -> None:
    measured = campaign.record.measurements()
    points = [tuple(p) for p in np.asarray(measured.points).tolist()]
    assert len(points) == budget
    assert len(set(points)) == budget  # no point stored twice
    pairs = list(zip(measured.decision_ids.tolist(), points, strict=True))
    assert len(set(pairs)) == budget


# -- remote campaigns ---------------------------------------------------------------------------


def test_remote_campaign_decides_like_the_local_simulator(
    tmp_path: Path, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with Campaign.create(
        _config({"dataset": DATASET}, dataset), tmp_path / "local.sqlite"
    ) as local:
        local.run()
        local_decisions = [d.points.tolist() for d in local.record.decisions()]
        local_targets = local.targets()
    # the same simulator settings the config gives the local one (dwell 0.01 s, seed = config seed)
    served = SimulatedMicroscope(dataset.image, dwell_time_s=0.01, seed=3)
    with MicroscopeServer(served, token=TOKEN) as server:
        config = _config(_remote(server.uri), dataset)
        with Campaign.create(config, tmp_path / "remote.sqlite") as remote:
            assert remote.record.instrument()["remote"]["uri"] == server.uri
            results = remote.run()
            assert remote.done and remote.n_measured == 8
            assert [d.points.tolist() for d in remote.record.decisions()] == local_decisions
            np.testing.assert_allclose(remote.targets(), local_targets, rtol=1e-12)
            assert [r.source for r in results][:4] == ["seed"] * 4
            assert results[-1].source == "model"
            assert remote.record.status().status == "finished"
            recorded = load_config(remote.record.config())
            assert recorded.source.model_dump() == config["source"]


def test_server_killed_mid_campaign_pauses_then_resume_finishes(
    tmp_path: Path, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    port = _free_port()
    # a little wall time per point, so the kill lands while the campaign is running
    served = SimulatedMicroscope(dataset.image, dwell_time_s=0.01, acquisition_delay_s=0.05)
    server = MicroscopeServer(served, port=port, token=TOKEN).start_in_thread()
    budget = 10
    config = _config(_remote(server.uri), dataset, budget={"measurements": budget})
    campaign = Campaign.create(config, tmp_path / "killed.sqlite")
    runner = CampaignRunner(campaign, save_maps=False).start()
    restarted: MicroscopeServer | None = None
    try:
        runner.wait_for(lambda s: s.n_measured >= 3, WAIT_S)
        server.shutdown()
        snap = runner.wait_for(lambda s: s.status == "paused", WAIT_S)
        assert "instrument error" in snap.reason
        assert f"microscope server at {server.uri}" in snap.reason
        assert "Post Resume to retry" in snap.reason
        assert snap.n_measured < budget
        assert campaign.record.status().status == "paused"
        assert campaign.pending_points.shape[0] == 1  # the lost step is kept, not skipped

        restarted = MicroscopeServer(served, port=port, token=TOKEN).start_in_thread()
        runner.post(Resume())
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        assert snap.n_measured == budget
    finally:
        assert runner.stop(timeout=WAIT_S)
        server.shutdown()
        if restarted is not None:
            restarted.shutdown()
    _assert_each_spectrum_once(campaign, budget)
    assert len(campaign.record.decisions()) == budget  # the failed step was retried, not redone
    assert any(e.kind == "instrument_error" for e in campaign.record.events())
    assert campaign.done
    campaign.close()


def test_wrong_token_is_refused_at_create_and_cli_exits_2(
    tmp_path: Path, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "not-the-server-token")
    served = SimulatedMicroscope(dataset.image)
    with MicroscopeServer(served, token=TOKEN) as server:
        config = _config(_remote(server.uri), dataset)
        with pytest.raises(InstrumentError, match="rejected the token: pass the token"):
            Campaign.create(config, tmp_path / "a.sqlite")
        assert not (tmp_path / "a.sqlite").exists()

        path = tmp_path / "remote.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = CliRunner().invoke(app, ["run", str(path), "--record", str(tmp_path / "b.sqlite")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: the microscope server at PYRO:")
    assert "rejected the token" in lines[0]
    assert "Traceback" not in result.output


def test_unreachable_server_says_so(tmp_path: Path, dataset: Any) -> None:
    uri = f"PYRO:steerscope.microscope@127.0.0.1:{_free_port()}"  # nothing listens there
    config = _config(_remote(uri, retries=0), dataset)
    with pytest.raises(InstrumentError) as info:
        Campaign.create(config, tmp_path / "a.sqlite")
    message = str(info.value)
    assert message.startswith(f"cannot reach microscope server at {uri}")
    assert "is `steerscope serve` running?" in message


# -- safety limits in the campaign config -------------------------------------------------------


def test_safety_section_round_trips_and_rejects_unknown_fields() -> None:
    config = load_config(
        {
            "safety": {
                "max_acquisitions": 5,
                "no_go_rects": [{"row_min": 0, "row_max": 4, "col_min": 0, "col_max": 4}],
            }
        }
    )
    assert config.safety == SafetyLimits(
        max_acquisitions=5, no_go_rects=[PixelRect(row_min=0, row_max=4, col_min=0, col_max=4)]
    )
    assert type(config).from_yaml(config.to_yaml()) == config
    with pytest.raises(ConfigError, match=r"safety\.max_dose: Extra inputs are not permitted"):
        load_config({"safety": {"max_dose": 1.0}})


def test_safety_limit_pauses_the_runner_naming_it_and_holds_after_resume(
    tmp_path: Path, dataset: Any
) -> None:
    config = _config({"dataset": DATASET}, dataset, safety={"max_acquisitions": 5})
    campaign = Campaign.create(config, tmp_path / "r.sqlite")
    assert isinstance(campaign.instrument, SafeMicroscope)
    runner = CampaignRunner(campaign, save_maps=False).start()
    try:
        snap = runner.wait_for(lambda s: s.status == "paused", WAIT_S)
    finally:
        assert runner.stop(timeout=WAIT_S)
    assert snap.reason.startswith("safety limit refused the step: max_acquisitions: 5 spectra")
    assert "exceeds the limit of 5" in snap.reason
    assert snap.n_measured == 5  # nothing measured is lost, nothing beyond the limit taken
    assert snap.next_points.shape == (1, 2)  # the refused decision stays pending
    assert any(e.kind == "safety_limit" for e in campaign.record.events())
    campaign.close()

    # the limit binds the campaign, not one process: a resumed run counts the record
    with Campaign.resume(tmp_path / "r.sqlite") as resumed:
        assert isinstance(resumed.instrument, SafeMicroscope)
        assert resumed.instrument.n_acquired_ == 5
        assert resumed.instrument.total_dwell_s_ == pytest.approx(0.05)
        with pytest.raises(SafetyLimitError, match="max_acquisitions: 5 spectra acquired"):
            resumed.step()
        assert resumed.n_measured == 5


def test_safety_no_go_is_the_engines_no_go_and_operator_regions_reach_the_safety_layer(
    tmp_path: Path, dataset: Any
) -> None:
    top_half = {"row_min": 0, "row_max": 64, "col_min": 0, "col_max": 128}
    config = _config(
        {"dataset": DATASET},
        dataset,
        safety={"no_go_rects": [top_half]},
        seed_points={"kind": "random", "n": 6},
    )
    with Campaign.create(config, tmp_path / "r.sqlite") as campaign:
        mask = campaign.no_go_mask
        assert mask[:64].all() and not mask[64:].any()
        # an operator region is enforced by the engine *and* by the safety layer
        operator = np.zeros((128, 128), dtype=bool)
        operator[100:110, 100:110] = True
        campaign.apply(AddNoGoRegion(operator))
        assert isinstance(campaign.instrument, SafeMicroscope)
        with pytest.raises(SafetyLimitError, match=r"no-go region: point \(row=105, col=105\)"):
            campaign.instrument.acquire([[105, 105]])
        with pytest.raises(SafetyLimitError, match=r"no-go rectangle rows \[0, 64\)"):
            campaign.instrument.acquire([[10, 10]])
        campaign.run()
        points = campaign.measured_points
        assert points.shape == (8, 2)
        assert (points[:, 0] >= 64).all()
        assert not operator[points[:, 0], points[:, 1]].any()
    # the no-go regions come back with the record
    with Campaign.resume(tmp_path / "r.sqlite") as resumed:
        assert resumed.no_go_mask[100:110, 100:110].all() and resumed.no_go_mask[:64].all()
        assert isinstance(resumed.instrument, SafeMicroscope)
        with pytest.raises(SafetyLimitError, match=r"no-go region: point \(row=101, col=109\)"):
            resumed.instrument.acquire([[101, 109]])


def test_server_side_limits_are_avoided_and_a_refused_point_can_be_vetoed(
    tmp_path: Path, dataset: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    # the microscope PC forbids the left columns (reported in describe) and a mask
    # (only counted in describe): the engine avoids the first, is refused on the second
    hidden = np.zeros((128, 128), dtype=bool)
    hidden[30:34, 30:34] = True
    limits = SafetyLimits(no_go_rects=[PixelRect(row_min=0, row_max=128, col_min=0, col_max=16)])
    guarded = SafeMicroscope(SimulatedMicroscope(dataset.image), limits, no_go_mask=hidden)
    with MicroscopeServer(guarded, token=TOKEN) as server:
        config = _config(
            _remote(server.uri),
            dataset,
            seed_points={"kind": "list", "points": [[32, 32], [80, 80], [100, 40]]},
            budget={"measurements": 6},
        )
        campaign = Campaign.create(config, tmp_path / "r.sqlite")
        assert campaign.no_go_mask[:, :16].all()
        runner = CampaignRunner(campaign, save_maps=False).start()
        try:
            snap = runner.wait_for(lambda s: s.status == "paused", WAIT_S)
            assert snap.reason.startswith("safety limit refused the step: no-go region: point ")
            assert "(row=32, col=32)" in snap.reason
            assert snap.n_measured == 0
            runner.post(VetoPoints([[32, 32]]))
            runner.post(Resume())
            snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        finally:
            assert runner.stop(timeout=WAIT_S)
        points = campaign.measured_points
        assert points.shape == (6, 2)
        assert points[0].tolist() == [80, 80]
        assert (points[:, 1] >= 16).all()
        assert not hidden[points[:, 0], points[:, 1]].any()
        assert any(e.kind == "pending_dropped" for e in campaign.record.events())
        assert len(campaign.record.decisions()) == 7  # the dropped one stays on record
        campaign.close()


# -- a microscope object passed in ---------------------------------------------------------------


def test_instrument_passed_in_is_recorded_as_an_instance_source(
    tmp_path: Path, dataset: Any
) -> None:
    scope = SimulatedMicroscope(dataset.image)
    config = _config({"dataset": DATASET}, dataset, budget={"measurements": 5})
    with Campaign.create(config, tmp_path / "r.sqlite", instrument=scope) as campaign:
        assert campaign.instrument is scope
        assert campaign.config.source == InstanceSource(instance="SimulatedMicroscope")
        campaign.run(n_steps=3)
    with pytest.raises(ConfigError, match=r"Campaign.resume\(path, instrument=scope\)"):
        Campaign.resume(tmp_path / "r.sqlite")
    again = SimulatedMicroscope(dataset.image)
    with Campaign.resume(tmp_path / "r.sqlite", instrument=again) as resumed:
        assert resumed.n_measured == 3
        resumed.run()
        assert resumed.n_measured == 5 and resumed.done
    assert again.describe()["n_acquired"] == 2
