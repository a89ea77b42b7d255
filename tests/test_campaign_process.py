"""A campaign in its own process (the web UI's way): watched, steered, stopped, killed, resumed."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steerscope.campaign import Campaign, CampaignRunner, Pause, SetPolicy
from steerscope.errors import ConfigError, RecordError, SteerscopeError
from steerscope.records import CampaignRecord
from steerscope.service import CampaignProcess
from steerscope.service.steering import snapshot_from_wire, snapshot_to_wire

WAIT_S = 120.0


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "in-a-process",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"acquisition_delay_s": 0.05},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "policy": {"beta": 0.25},
        "budget": {"measurements": 40},
    }
    config.update(overrides)
    return config


def _measured(path: Path) -> int:
    with CampaignRecord.open(path, read_only=True) as record:
        return len(record.measurements())


def _settled(process: CampaignProcess) -> Any:
    """The snapshot once two readings 0.5 s apart are the same object (bounded)."""
    deadline = time.monotonic() + WAIT_S
    held = process.snapshot()
    while True:
        time.sleep(0.5)
        now = process.snapshot()
        if now is held:
            return held
        assert time.monotonic() < deadline, "the paused campaign kept changing"
        held = now


def test_a_campaign_process_is_steered_like_a_runner_and_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    process = CampaignProcess.create(_config(), path)
    try:
        process.wait_for(lambda s: s.n_measured >= 6, WAIT_S)
        assert process.post(SetPolicy(beta=4.0)) == "beta 0.25 → 4"
        snap = process.wait_for(lambda s: s.policy.get("beta") == 4.0, WAIT_S)
        assert snap.overview.shape == (128, 128) and snap.record_path == str(path)
        assert any(e.kind == "intervention" and "beta" in e.text for e in snap.events)
        # a notebook reaches the same campaign with what the page shows it
        from steerscope.service import SteeringClient
        from steerscope.ui.campaign_tools import steering_help

        assert process.uri in steering_help(process) and process.token in steering_help(process)
        notebook = SteeringClient(process.uri, token=process.token)
        assert notebook.post(SetPolicy(beta=2.0)) == "beta 4 → 2"
        process.wait_for(lambda s: s.policy.get("beta") == 2.0, WAIT_S)
        assert "cannot reach it" in steering_help(object())  # a runner thread has no channel
        # an unchanged campaign is not sent again: the same object comes back
        process.post(Pause())
        process.wait_for(lambda s: s.status == "paused", WAIT_S)
        held = _settled(process)  # the spectrum in flight when Pause came is measured first
        again = process.snapshot()
        assert again is held
    finally:
        assert process.stop(60.0)
    assert not process.running
    assert process.snapshot().status == "stopped"
    # the child closed the record: another writer may take it now, nothing was lost
    with Campaign.resume(path) as resumed:
        assert resumed.n_measured == _measured(path) >= 6


def test_a_killed_campaign_process_says_so_and_resumes_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "k.sqlite"
    process = CampaignProcess.create(_config(), path)
    process.wait_for(lambda s: s.n_measured >= 6, WAIT_S)
    os.kill(process._process.pid, signal.SIGKILL)  # a crash, an OOM kill
    process._process.wait(30)
    snap = process.snapshot()
    assert snap.status == "error" and "process ended" in snap.reason
    with pytest.raises(SteerscopeError, match="process has ended"):
        process.post(SetPolicy(beta=1.0))
    process.stop(5.0)
    # the page offers it for resuming: a dead process holds its record no more
    from types import SimpleNamespace

    from steerscope.errors import RecordWarning
    from steerscope.ui.campaign_tools import held_records, resumable_records

    entry = SimpleNamespace(record_path=str(path), runner=process)
    assert held_records([entry]) == set()
    with pytest.warns(RecordWarning, match="-wal"):  # the killed writer left its WAL
        offered = resumable_records(tmp_path, held_records([entry]))
    assert [p for p, _ in offered] == [path]
    before = snap.n_measured  # what the UI last saw: all of it is in the record
    resumed = CampaignProcess.resume(path)  # folds the crashed writer's -wal in
    try:
        assert resumed.snapshot().n_measured >= before
        snap = resumed.wait_for(lambda s: s.n_measured >= before + 3, WAIT_S)
        points = [tuple(p) for p in snap.measured_points.tolist()]
        assert len(points) == len(set(points))  # none measured twice
    finally:
        resumed.stop(60.0)


def test_the_child_s_own_errors_reach_the_parent_with_their_message(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no campaign record"):
        CampaignProcess.resume(tmp_path / "missing.sqlite")
    with pytest.raises(ConfigError, match="budget"):
        CampaignProcess.create(_config(budget={"measurements": 0}), tmp_path / "b.sqlite")


def test_a_campaign_process_ends_when_its_parent_dies(tmp_path: Path) -> None:
    """No orphan keeps the beam busy: the child stops once its parent's pipe closes."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from steerscope.service import CampaignProcess
        process = CampaignProcess.create({_config()!r}, {str(tmp_path / "o.sqlite")!r})
        print(process._process.pid, flush=True)
        os._exit(0)  # dies without stopping it
        """
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT_S
    )
    child = int(parent.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 60.0
    while _alive(child):
        assert time.monotonic() < deadline, "the campaign process outlived its parent"
        time.sleep(0.1)
    assert _measured(tmp_path / "o.sqlite") >= 1
    with CampaignRecord.open(tmp_path / "o.sqlite", read_only=True) as record:
        assert record.status().status == "stopped"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped by its dead parent yet) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_snapshot_crosses_the_wire_whole(tmp_path: Path) -> None:
    with Campaign.create(_config(budget={"measurements": 8}), tmp_path / "w.sqlite") as c:
        runner = CampaignRunner(c)
        runner.start()
        snap = runner.wait_for(lambda s: s.status == "finished", WAIT_S)
        runner.stop()
    back = snapshot_from_wire(snapshot_to_wire(snap))
    for spec in dataclasses.fields(snap):
        ours, theirs = getattr(snap, spec.name), getattr(back, spec.name)
        if isinstance(ours, np.ndarray):
            assert ours.shape == theirs.shape, spec.name
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, equal_nan=True, err_msg=spec.name)
        elif spec.name in ("beam_idle",):
            assert ours == pytest.approx(theirs, nan_ok=True)
        else:
            assert ours == theirs, spec.name
    paired = dataclasses.replace(snap, comparison=(3, 1), n_comparisons=2)
    assert snapshot_from_wire(snapshot_to_wire(paired)).comparison == (3, 1)
    # without the static arrays, the client supplies the ones it keeps
    light = snapshot_to_wire(snap, with_static=False)
    assert "overview" not in light
    assert snapshot_from_wire(light, {"overview": snap.overview}).overview is snap.overview


def test_the_ui_s_campaign_mode_is_a_process_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from steerscope.ui.campaign_tools import CAMPAIGNS_ENV, campaigns_in_processes

    monkeypatch.delenv(CAMPAIGNS_ENV, raising=False)
    assert campaigns_in_processes()
    monkeypatch.setenv(CAMPAIGNS_ENV, "Thread")
    assert not campaigns_in_processes()
    monkeypatch.setenv(CAMPAIGNS_ENV, "fork")
    with pytest.raises(ConfigError, match="'process' or 'thread'"):
        campaigns_in_processes()
