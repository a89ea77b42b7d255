"""The Jupyter view of a running campaign, driven through its widgets' model state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from steerscope.records import CampaignRecord
from steerscope.service import CampaignProcess
from steerscope.ui.notebook import CampaignView

WAIT_S = 120.0


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "notebook",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"acquisition_delay_s": 0.1},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "policy": {"beta": 0.25},
        "budget": {"measurements": 40},
    }
    config.update(overrides)
    return config


def _until(view: CampaignView, predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        snap = view.refresh()
        if predicate(snap):
            return snap
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT_S} s: {what}; status: {view.status.value}")


def _click(figure: Any, row: int, col: int) -> None:
    """What the browser sends when the image is clicked: the widget's points message."""
    heatmap = next(i for i, t in enumerate(figure.data) if t.type == "heatmap")
    figure._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {
            "trace_indexes": [heatmap],
            "point_indexes": [[row, col]],
            "xs": [col],
            "ys": [row],
        },
        "device_state": {"alt": False, "ctrl": False, "meta": False, "shift": False,
                         "button": 0, "buttons": 1},
        "selector": None,
    }  # fmt: skip


def test_the_view_shows_the_campaign_and_its_controls_steer_it(tmp_path: Path) -> None:
    path = tmp_path / "nb.sqlite"
    process = CampaignProcess.create(_config(), path)
    view = CampaignView(process, autorefresh=False)
    try:
        assert view.beta.value == 0.25
        _until(view, lambda s: s.n_measured >= 5, "five spectra measured")
        assert "Status: running" in view.status.value
        assert "/40 measured" in view.status.value
        assert any(t.name == "measured (in order)" for t in view.overview.data)
        assert view.history.data[0].y is not None and len(view.history.data[0].y) >= 5
        _until(view, lambda s: s.mean_map is not None, "a model map")
        view.refresh(force=True)
        colorbar = next(t for t in view.maps.data if t.type == "heatmap").colorbar.title.text
        assert colorbar == "predicted Σ 1.00–1.80"  # the target in words, never a raw spec

        view.beta.value = 4.0
        view.apply_beta.click()
        assert "beta 0.25 → 4" in view.message.value
        _until(view, lambda s: s.policy.get("beta") == 4.0, "beta 4 in force")

        _click(view.overview, 100, 20)
        assert view.picked == [(100, 20)]
        assert view.measure_picked.description == "Measure 1 picked next"
        assert not view.measure_picked.disabled
        view.measure_picked.click()
        assert view.picked == [] and view.measure_picked.disabled

        def measured_there(_: Any) -> bool:
            with CampaignRecord.open(path, read_only=True) as record:
                return [100, 20] in record.measurements().points.tolist()

        _until(view, measured_there, "the picked pixel measured")

        view.pause.click()
        _until(view, lambda s: s.status == "paused", "paused")
        assert "Status: paused" in view.status.value
        view.resume.click()
        _until(view, lambda s: s.status == "running", "running again")
    finally:
        view.close()
        process.stop()
    with CampaignRecord.open(path, read_only=True) as record:
        kinds = [i.kind for i in record.interventions()]
    assert kinds[:2] == ["SetPolicy", "AddPoints"]
    assert {"Pause", "Resume"} <= set(kinds)


def test_the_view_redraws_by_itself_until_the_campaign_ends(tmp_path: Path) -> None:
    process = CampaignProcess.create(
        _config(budget={"measurements": 8}, instrument={"acquisition_delay_s": 0.0}),
        tmp_path / "auto.sqlite",
    )
    view = CampaignView(process, refresh_s=0.2)
    try:
        deadline = time.monotonic() + WAIT_S
        while "Status: finished" not in view.status.value:
            assert time.monotonic() < deadline, view.status.value
            time.sleep(0.1)
        assert "8/8 measured" in view.status.value
        assert view._thread is not None
        view._thread.join(timeout=10)
        assert not view._thread.is_alive()  # stops redrawing once the campaign has ended
    finally:
        view.close()
        process.stop()
