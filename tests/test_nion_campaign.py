"""Whole campaigns on the Nion driver over a headless nionswift-usim session.

Sample 2 of usim is "CTS": gold balls on amorphous carbon. The target is the
low-loss EELS intensity in 5-40 eV (plasmons), which is brighter on the balls.
Camera threads of usim never stop by themselves: the shared ``usim`` fixture
(tests/conftest.py) closes them (FIELD-NOTES: nionswift-usim, headless) and
every test has a timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steerscope.campaign import Campaign, InstanceSource
from steerscope.instruments import MicroscopeServer, SafeMicroscope

pytestmark = pytest.mark.timeout(180)

TOKEN = "usim-loopback-token"
LOW_LOSS = {"kind": "window_sum", "window": [5.0, 40.0]}


def _scope(usim: Any) -> Any:
    from steerscope.instruments.drivers.nion import NionMicroscope

    return NionMicroscope(usim, overview_size=(32, 32), pixel_time_us=1.0, exposure_ms=2)


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "usim",
        "scalarizer": LOW_LOSS,
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 12},
        "seed": 1,
    }
    config.update(overrides)
    return config


def test_usim_campaign_runs_twelve_steps_with_safety_limits(tmp_path: Path, usim: Any) -> None:
    config = _config(safety={"max_dwell_time_s": 0.01, "max_acquisitions": 12})
    with Campaign.create(config, tmp_path / "usim.sqlite", instrument=_scope(usim)) as campaign:
        assert isinstance(campaign.instrument, SafeMicroscope)  # limits wrap a vendor driver too
        assert campaign.config.source == InstanceSource(instance="NionMicroscope")
        assert campaign.shape == (32, 32)
        results = campaign.run()
        assert len(results) == 12 and campaign.done
        assert [r.source for r in results] == ["seed"] * 4 + ["model"] * 8
        points = campaign.measured_points
        assert len({tuple(p) for p in points.tolist()}) == 12
        targets = campaign.targets()
        assert np.isfinite(targets).all() and (targets > 0).all()
        assert campaign.energy is not None and campaign.energy.units == "eV"
        assert campaign.record.instrument()["driver"] == "nion"
        assert campaign.instrument.n_acquired_ == 12
        assert campaign.dose_s == pytest.approx(12 * 0.002)
        decisions = campaign.record.decisions()
        assert len(decisions) == 12
        model_steps = [d for d in decisions if d.policy["source"] == "model"]
        assert all(np.isfinite(d.predicted_mean).all() for d in model_steps)
    assert usim.probe_state == "parked"


def test_usim_campaign_through_the_microscope_server(
    tmp_path: Path, usim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEERSCOPE_TOKEN", TOKEN)
    scope = _scope(usim)
    try:
        with MicroscopeServer(scope, token=TOKEN) as server:
            config = _config(
                source={"remote": server.uri, "timeout_s": 30.0, "retries": 1},
                budget={"measurements": 6},
            )
            with Campaign.create(config, tmp_path / "remote.sqlite") as campaign:
                results = campaign.run()
                assert campaign.done and campaign.n_measured == 6
                assert results[-1].source == "model"
                assert campaign.record.instrument()["driver"] == "nion"
                assert np.isfinite(campaign.targets()).all()
    finally:
        scope.close()
