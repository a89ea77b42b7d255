"""kill -9 in the middle of a headless run loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml

from steerscope.campaign import Campaign
from steerscope.errors import RecordError, RecordWarning
from steerscope.records import CampaignRecord

BUDGET = 10


@contextmanager
def _killed_at_the_end(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Run the body with ``process`` alive, then SIGKILL it (however the body ended),
    reap it and close its pipes."""
    try:
        yield
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _count(path: Path) -> int:
    try:
        with warnings.catch_warnings():
            # after a SIGKILL the -wal holds the last commits: the warning is right, and
            # tests/test_records.py checks it; here only the count matters
            warnings.simplefilter("ignore", RecordWarning)
            with CampaignRecord.open(path, read_only=True, verify=False) as record:
                return len(record.measurements())
    except RecordError:
        return 0  # not created yet


def test_sigkill_then_resume_keeps_every_spectrum_exactly_once(tmp_path: Path) -> None:
    config = {
        "name": "kill",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"acquisition_delay_s": 0.15},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 9},
        "policy": {"batch_size": 2},
        "budget": {"measurements": BUDGET},
    }
    config_path = tmp_path / "kill.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    record_path = tmp_path / "kill.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "steerscope.cli",
            "run",
            str(config_path),
            "--record",
            str(record_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    with _killed_at_the_end(process):
        deadline = time.monotonic() + 90
        while _count(record_path) < 3:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the run never measured 3 spectra"
            time.sleep(0.05)
    killed_at = _count(record_path)
    assert 3 <= killed_at < BUDGET

    with Campaign.resume(record_path) as campaign:
        assert campaign.n_measured == killed_at
        campaign.run()
        assert campaign.done and campaign.n_measured == BUDGET

    with CampaignRecord.open(record_path, read_only=True) as record:
        measured = record.measurements()
        assert len(measured) == BUDGET
        points = [tuple(p) for p in measured.points.tolist()]
        assert len(set(points)) == BUDGET  # every acquired spectrum exactly once
        pairs = list(
            zip(measured.decision_ids.tolist(), measured.point_indices.tolist(), strict=True)
        )
        assert len(set(pairs)) == BUDGET
        decided = {tuple(p) for d in record.decisions() for p in np.asarray(d.points).tolist()}
        assert set(points) <= decided
        assert record.pending_points().shape == (0, 2)
        assert record.status().status == "finished"


def _partial_model_batch(path: Path) -> bool:
    """Whether the record's last decision is a model batch with some, not all, points measured."""
    try:
        with CampaignRecord.open(path, read_only=True, verify=False) as record:
            decisions = record.decisions()
            if not decisions or decisions[-1].policy.get("source") != "model":
                return False
            pending = record.pending_points().shape[0]
            return 0 < pending < len(decisions[-1].points)
    except RecordError:
        return False


def test_sigkill_with_a_batch_half_acquired_and_a_proposal_in_flight(tmp_path: Path) -> None:
    budget = 18
    config = {
        "name": "kill-batch",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"acquisition_delay_s": 0.25},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "policy": {"batch_size": 3},
        "budget": {"measurements": budget},
    }
    config_path = tmp_path / "kill.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    record_path = tmp_path / "kill.sqlite"
    command = [sys.executable, "-m", "steerscope.cli", "run", str(config_path)]
    process = subprocess.Popen(
        [*command, "--record", str(record_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    with _killed_at_the_end(process):
        deadline = time.monotonic() + 120
        while not _partial_model_batch(record_path):
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "never saw a model batch half acquired"
            time.sleep(0.02)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)  # the killed writer's -wal: expected
        record = CampaignRecord.open(record_path, read_only=True)
    with record:
        cut = record.decisions()[-1]
        left = record.pending_points()
        killed_at = len(record.measurements())
    assert 0 < left.shape[0] < len(cut.points)

    from steerscope.campaign import run_pipelined

    with Campaign.resume(record_path) as campaign:
        assert campaign.n_measured == killed_at
        np.testing.assert_array_equal(campaign.pending_points, left)  # only the rest
        run_pipelined(campaign)
        assert campaign.done and campaign.n_measured == budget

    with CampaignRecord.open(record_path, read_only=True) as record:
        measured = record.measurements()
        points = [tuple(p) for p in measured.points.tolist()]
        assert len(points) == budget and len(set(points)) == budget
        of_cut = sorted(measured.points[measured.decision_ids == cut.id].tolist())
        assert of_cut == sorted(cut.points.tolist())  # the cut batch completed, nothing twice
        assert record.pending_points().shape == (0, 2)


_JUDGING_CHILD = """
import sys, time
import numpy as np
from steerscope.campaign import Campaign, Compare
config = {
    "name": "judged", "source": {"dataset": "plasmonic_nanoparticles"},
    "scalarizer": {"kind": "preference"}, "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 5},
    "seed_points": {"kind": "grid", "n": 4}, "budget": {"measurements": 12},
}
campaign = Campaign.create(config, sys.argv[1])
campaign.run(n_steps=6)
answers = ["first", "second", "none", "first", "second", "first"]
for answer in answers:
    pair = campaign.next_comparison()
    campaign.apply(Compare(pair[0], pair[1], answer))
np.save(sys.argv[2], campaign.targets())
print("judged", flush=True)
time.sleep(120)  # killed here, the record never closed
"""


def test_sigkill_after_judgements_loses_none_and_the_resume_relearns_the_same_utility(
    tmp_path: Path,
) -> None:
    record_path, targets_path = tmp_path / "judged.sqlite", tmp_path / "targets.npy"
    process = subprocess.Popen(
        [sys.executable, "-c", _JUDGING_CHILD, str(record_path), str(targets_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    with _killed_at_the_end(process):
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.strip() == "judged", process.stderr.read().decode() if process.stderr else ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)  # the -wal of a killed writer
        with Campaign.resume(record_path) as campaign:
            answers = [answer for _, _, answer in campaign.comparisons]
            assert answers == ["first", "second", "none", "first", "second", "first"]
            np.testing.assert_allclose(campaign.targets(), np.load(targets_path), atol=1e-9)
