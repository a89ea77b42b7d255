"""CampaignRecord: round trips, refusal of foreign/corrupt files, idempotency, concurrency,
crash durability and the HDF5/HyperSpy exports."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from steerscope.errors import RecordError
from steerscope.instruments.base import Measurement, Overview
from steerscope.records import (
    APPLICATION_ID,
    CampaignRecord,
    Decision,
    InterventionRecord,
    MeasuredSpectra,
)
from steerscope.types import EnergyAxis, SignalKind

ENERGY = EnergyAxis(size=6, offset=100.0, scale=0.5, units="eV")
INSTRUMENT = {
    "driver": "simulator",
    "energy": {"size": 6, "offset": 100.0, "scale": 0.5, "units": "eV"},
    "signal_kind": "EELS",
}
CONFIG = {"name": "test", "budget": 10, "scalarizer": {"kind": "window_sum", "window": [1.0, 1.6]}}


def make_overview() -> Overview:
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    return Overview(image=image, pixel_size=0.25, pixel_units="nm", metadata={"detector": "HAADF"})


def make_measurement(points: list[list[int]], start: float = 0.0) -> Measurement:
    pts = np.asarray(points, dtype=np.int64)
    n = len(pts)
    spectra = start + np.arange(n * ENERGY.size, dtype=np.float64).reshape(n, ENERGY.size)
    return Measurement(
        points=pts,
        spectra=spectra,
        energy=ENERGY,
        signal_kind=SignalKind.EELS,
        acquired_at=1000.0 + np.arange(n, dtype=np.float64),
        dwell_time_s=0.02,
        metadata={"driver": "simulator", "actual_points": pts.tolist()},
    )


def new_record(path: Path) -> CampaignRecord:
    return CampaignRecord.create(
        path, config=CONFIG, overview=make_overview(), instrument=INSTRUMENT
    )


@pytest.fixture
def record(tmp_path: Path):
    with new_record(tmp_path / "campaign.sqlite") as rec:
        yield rec


def test_create_sets_wal_application_id_and_durable_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    new_record(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()
    assert meta["application"] == "steerscope-campaign-record"
    assert meta["schema_version"] == "1"
    with CampaignRecord.open(path) as rec:
        conn = rec._conn()
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_round_trip_of_every_table(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with new_record(path) as rec:
        assert rec.status().status == "idle"
        d1 = rec.add_decision(
            1,
            [[0, 1], [2, 3]],
            predicted_mean=[1.5, 2.5],
            predicted_var=[0.1, 0.2],
            acquisition_value=[3.0, np.nan],
            model={"kind": "dkl"},
            scalarizer={"kind": "window_sum", "window": [1.0, 1.6]},
            policy={"acquisition": "ucb", "beta": 4.0},
            timings={"fit_s": 0.5},
        )
        ids = rec.add_measurement(make_measurement([[2, 3], [0, 1]]), step=1, decision_id=d1)
        survey = rec.add_measurement(
            make_measurement([[1, 1]], start=50.0), step=0, decision_id=None
        )
        iv = rec.add_intervention(2, "SetPolicy", {"beta": 4.0}, {"beta": 9.0})
        rec.add_event(2, "info", "beta changed")
        rec.set_status("paused", "operator pause")
        rec.save_maps(2, {"mean": np.full((3, 4), 1.25), "std": np.eye(3, 4) * 70000.0})
    assert ids == [1, 2] and survey == [3] and iv == 1

    with CampaignRecord.open(path, read_only=True) as rec:
        assert rec.config() == CONFIG
        assert rec.instrument() == INSTRUMENT
        overview = rec.overview()
        np.testing.assert_array_equal(overview.image, make_overview().image)
        assert overview.image.dtype == np.float32
        assert (overview.pixel_size, overview.pixel_units) == (0.25, "nm")
        assert overview.metadata == {"detector": "HAADF"}

        measured = rec.measurements()
        assert isinstance(measured, MeasuredSpectra) and len(measured) == 3
        np.testing.assert_array_equal(measured.points, [[2, 3], [0, 1], [1, 1]])
        np.testing.assert_array_equal(
            measured.spectra[:2], make_measurement([[2, 3], [0, 1]]).spectra
        )
        np.testing.assert_array_equal(measured.spectra[2], 50.0 + np.arange(6))
        assert measured.energy == ENERGY
        np.testing.assert_array_equal(measured.acquired_at, [1000.0, 1001.0, 1000.0])
        np.testing.assert_array_equal(measured.steps, [1, 1, 0])
        np.testing.assert_array_equal(measured.decision_ids, [d1, d1, -1])
        np.testing.assert_array_equal(measured.point_indices, [1, 0, -1])
        np.testing.assert_array_equal(measured.ids, [1, 2, 3])
        np.testing.assert_array_equal(measured.dwell_time_s, [0.02] * 3)
        assert measured.signal_kind is SignalKind.EELS
        assert measured.metadata[1]["actual_points"] == [[2, 3], [0, 1]]
        assert measured.metadata[1]["batch_position"] == 1

        (decision,) = rec.decisions()
        assert isinstance(decision, Decision)
        assert decision.id == d1 and decision.step == 1
        np.testing.assert_array_equal(decision.points, [[0, 1], [2, 3]])
        np.testing.assert_array_equal(decision.predicted_mean, [1.5, 2.5])
        np.testing.assert_array_equal(decision.predicted_var, [0.1, 0.2])
        assert decision.acquisition_value[0] == 3.0 and np.isnan(decision.acquisition_value[1])
        assert decision.policy == {"acquisition": "ucb", "beta": 4.0}
        assert decision.model == {"kind": "dkl"} and decision.timings == {"fit_s": 0.5}

        (intervention,) = rec.interventions()
        assert isinstance(intervention, InterventionRecord)
        assert (intervention.step, intervention.kind) == (2, "SetPolicy")
        assert (intervention.before, intervention.after) == ({"beta": 4.0}, {"beta": 9.0})
        (event,) = rec.events()
        assert (event.step, event.kind, event.message) == (2, "info", "beta changed")
        status = rec.status()
        assert (status.status, status.reason) == ("paused", "operator pause")

        maps = rec.maps(2)
        assert sorted(maps) == ["mean", "std"]
        np.testing.assert_array_equal(maps["mean"], np.full((3, 4), 1.25))
        # 70000 exceeds float16's range: kept as float32, not turned into inf.
        np.testing.assert_array_equal(maps["std"], np.eye(3, 4) * 70000.0)
        assert rec.pending_points().shape == (0, 2)


def test_measurements_empty_has_right_shapes(record: CampaignRecord) -> None:
    measured = record.measurements()
    assert len(measured) == 0
    assert measured.points.shape == (0, 2) and measured.points.dtype == np.int64
    assert measured.spectra.shape == (0, 6)
    assert measured.energy == ENERGY
    assert measured.acquired_at.shape == measured.steps.shape == measured.ids.shape == (0,)
    assert record.decisions() == [] and record.interventions() == [] and record.events() == []
    assert record.maps(5) == {} and record.map_steps() == []


def test_maps_returns_latest_step_not_after_the_one_asked(record: CampaignRecord) -> None:
    record.save_maps(2, {"mean": np.zeros((3, 4))})
    record.save_maps(5, {"mean": np.ones((3, 4))})
    assert record.map_steps() == [2, 5]
    assert record.maps(1) == {}
    np.testing.assert_array_equal(record.maps(4)["mean"], np.zeros((3, 4)))
    np.testing.assert_array_equal(record.maps(5)["mean"], np.ones((3, 4)))
    np.testing.assert_array_equal(record.maps()["mean"], np.ones((3, 4)))
    # float16 storage: ~3 significant digits.
    record.save_maps(6, {"mean": np.full((3, 4), 1.2345)})
    assert record.maps(6)["mean"][0, 0] == pytest.approx(1.2345, rel=1e-3)


def test_add_measurement_is_idempotent_per_decision_point(record: CampaignRecord) -> None:
    decision = record.add_decision(1, [[0, 0], [1, 1], [2, 2]])
    first = record.add_measurement(make_measurement([[0, 0], [1, 1]]), step=1, decision_id=decision)
    np.testing.assert_array_equal(record.pending_points(), [[2, 2]])
    again = record.add_measurement(
        make_measurement([[1, 1], [2, 2]], start=99.0), step=1, decision_id=decision
    )
    assert again[0] == first[1]  # the stored spectrum is kept, not replaced
    assert len(record.measurements()) == 3
    np.testing.assert_array_equal(record.measurements().spectra[1], np.arange(6, 12))
    assert record.pending_points().shape == (0, 2)
    # Without a decision, nothing ties two spectra together: both are stored.
    record.add_measurement(make_measurement([[0, 0]]), step=2, decision_id=None)
    record.add_measurement(make_measurement([[0, 0]]), step=2, decision_id=None)
    assert len(record.measurements()) == 5


def test_pending_points_are_those_of_the_last_decision(record: CampaignRecord) -> None:
    assert record.pending_points().shape == (0, 2)
    record.add_decision(1, [[0, 0]])
    last = record.add_decision(2, [[1, 2], [2, 3], [0, 3]])
    record.add_measurement(make_measurement([[2, 3]]), step=2, decision_id=last)
    np.testing.assert_array_equal(record.pending_points(), [[1, 2], [0, 3]])


def test_add_measurement_refuses_unknown_decision_and_foreign_points(
    record: CampaignRecord,
) -> None:
    with pytest.raises(RecordError, match="decision 7 is not in the record"):
        record.add_measurement(make_measurement([[0, 0]]), step=1, decision_id=7)
    decision = record.add_decision(1, [[0, 0]])
    with pytest.raises(RecordError, match=r"point \(1, 1\) is not one of decision 1's points"):
        record.add_measurement(make_measurement([[0, 0], [1, 1]]), step=1, decision_id=decision)
    assert len(record.measurements()) == 0  # the whole batch was rolled back


def test_add_decision_checks_shapes(record: CampaignRecord) -> None:
    with pytest.raises(
        RecordError, match=r"predicted_mean must have one value per point, shape \(2,\)"
    ):
        record.add_decision(1, [[0, 0], [1, 1]], predicted_mean=[1.0])
    with pytest.raises(RecordError, match=r"shape \(n, 2\)"):
        record.add_decision(1, [[0, 0, 0]])
    with pytest.raises(RecordError, match="must be JSON-serialisable"):
        record.add_decision(1, [[0, 0]], model={"fn": object()})
    assert record.decisions() == []


def test_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_text("precious")
    with pytest.raises(RecordError, match=r"already exists .* never overwritten"):
        new_record(path)
    assert path.read_text() == "precious"


def test_create_makes_its_folder_and_refuses_an_unwritable_one_and_bad_config(
    tmp_path: Path,
) -> None:
    new_record(tmp_path / "new" / "folder" / "r.sqlite").close()
    assert (tmp_path / "new" / "folder" / "r.sqlite").is_file()
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RecordError, match="cannot be created"):
        new_record(tmp_path / "file" / "r.sqlite")
    with pytest.raises(RecordError, match="campaign config must be JSON-serialisable"):
        CampaignRecord.create(
            tmp_path / "r.sqlite",
            config={"x": object()},
            overview=make_overview(),
            instrument=INSTRUMENT,
        )
    assert not (tmp_path / "r.sqlite").exists()


def test_open_refuses_missing_text_foreign_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"no campaign record at .*steerscope run"):
        CampaignRecord.open(tmp_path / "missing.sqlite")

    text = tmp_path / "notes.sqlite"
    text.write_text("this is a text file, not a database\n" * 10)
    with pytest.raises(RecordError, match=r"is not a steerscope record \(not an SQLite database"):
        CampaignRecord.open(text)

    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(RecordError, match=r"is not a steerscope record .*empty"):
        CampaignRecord.open(empty)

    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(
        RecordError, match=r"is not a steerscope record \(an SQLite database with application_id"
    ):
        CampaignRecord.open(foreign)

    stub = tmp_path / "stub.sqlite"
    stub.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)
    with pytest.raises(RecordError, match="truncated SQLite file"):
        CampaignRecord.open(stub)


def test_open_refuses_a_truncated_record(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with new_record(path) as rec:
        for step in range(20):
            decision = rec.add_decision(step, [[step % 3, step % 4]])
            rec.add_measurement(
                make_measurement([[step % 3, step % 4]]), step=step, decision_id=decision
            )
    data = path.read_bytes()
    assert len(data) > 4096 * 3
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordError, match="corrupt"):
        CampaignRecord.open(path)


def test_writes_after_close_and_read_only_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    rec = new_record(path)
    rec.close()
    rec.close()  # idempotent
    with pytest.raises(RecordError, match="is closed; reopen it"):
        rec.config()
    with CampaignRecord.open(path, read_only=True) as ro:
        with pytest.raises(RecordError, match="opened read-only"):
            ro.add_event(0, "info", "x")
        assert ro.status().status == "idle"


def test_concurrent_reader_thread_while_writer_writes(record: CampaignRecord) -> None:
    n_batches = 40
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                measured = record.measurements()
                # Each batch of 2 is one transaction: a reader never sees half of one.
                assert len(measured) % 2 == 0
                assert measured.spectra.shape == (len(measured), 6)
                seen.append(len(measured))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(n_batches):
            decision = record.add_decision(step, [[0, 0], [1, 1]])
            record.add_measurement(
                make_measurement([[0, 0], [1, 1]]), step=step, decision_id=decision
            )
    finally:
        done.set()
        reader.join(timeout=30)
    assert not reader.is_alive()
    assert errors == []
    assert seen == sorted(seen) and len(seen) > 0
    assert len(record.measurements()) == 2 * n_batches


def test_other_process_reads_while_open_for_writing(record: CampaignRecord) -> None:
    record.add_measurement(make_measurement([[0, 0]]), step=0)
    code = textwrap.dedent(
        f"""
        from steerscope.records import CampaignRecord
        with CampaignRecord.open({str(record.path)!r}, read_only=True) as rec:
            print(len(rec.measurements()), rec.status().status)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["1", "idle"]


CHILD_WRITER = """
import sys
import numpy as np
from steerscope.instruments.base import Measurement
from steerscope.records import CampaignRecord
from steerscope.types import EnergyAxis, SignalKind

energy = EnergyAxis(size=64, offset=0.0, scale=1.0)
with CampaignRecord.open(sys.argv[1]) as rec:
    for step in range(100000):
        decision = rec.add_decision(step, [[step % 3, step % 4]])
        m = Measurement(
            points=np.array([[step % 3, step % 4]]),
            spectra=np.full((1, 64), float(step)),
            energy=energy,
            signal_kind=SignalKind.EELS,
            acquired_at=np.array([float(step)]),
            dwell_time_s=0.01,
        )
        (mid,) = rec.add_measurement(m, step=step, decision_id=decision)
        print(mid, step, flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_crash_durability_after_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite"
    new_record(path).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    confirmed: dict[int, int] = {}
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        while len(confirmed) < 30 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            mid, step = (int(v) for v in line.split())
            confirmed[mid] = step
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()  # type: ignore[union-attr]
        stderr = child.stderr.read()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL
    assert len(confirmed) >= 30, stderr

    with CampaignRecord.open(path) as rec:  # opens cleanly (WAL replayed)
        measured = rec.measurements()
        ids = measured.ids.tolist()
        assert len(ids) == len(set(ids))
        for mid, step in confirmed.items():
            (row,) = np.flatnonzero(measured.ids == mid)
            assert measured.steps[row] == step
            np.testing.assert_array_equal(measured.spectra[row], np.full(64, float(step)))
        # Nothing beyond what was written in full: each decision has at most its one point.
        assert len(ids) <= len(rec.decisions())
        rec.add_event(0, "info", "resumed after crash")


def test_export_hdf5_round_trip(tmp_path: Path, record: CampaignRecord) -> None:
    import h5py

    decision = record.add_decision(1, [[0, 1], [2, 3]], predicted_mean=[1.0, 2.0])
    record.add_measurement(make_measurement([[0, 1], [2, 3]]), step=1, decision_id=decision)
    record.add_intervention(1, "SetPolicy", {"beta": 1.0}, {"beta": 2.0})
    record.add_event(1, "info", "hello")
    record.save_maps(1, {"mean": np.ones((3, 4))})
    out = record.export_hdf5(tmp_path / "export.h5")
    with h5py.File(out, "r") as h5:
        assert json.loads(h5["config"].attrs["json"]) == CONFIG
        assert h5["overview/image"].shape == (3, 4)
        assert h5["measurements/points"].shape == (2, 2)
        np.testing.assert_array_equal(
            h5["measurements/spectra"][()], make_measurement([[0, 1], [2, 3]]).spectra
        )
        np.testing.assert_allclose(h5["measurements/energy"][()], ENERGY.values)
        assert h5["measurements/acquired_at"].shape == (2,)
        np.testing.assert_array_equal(h5["measurements/steps"][()], [1, 1])
        decisions = [json.loads(s) for s in h5["decisions"].asstr()[()]]
        assert decisions[0]["points"] == [[0, 1], [2, 3]]
        assert decisions[0]["predicted_mean"] == [1.0, 2.0]
        assert decisions[0]["predicted_var"] == [None, None]
        interventions = [json.loads(s) for s in h5["interventions"].asstr()[()]]
        assert interventions[0]["after"] == {"beta": 2.0}
        assert h5["maps/step_000001/mean"].shape == (3, 4)
    with pytest.raises(
        RecordError, match=r"already exists; replace it with overwrite=True \(`--overwrite`"
    ):
        record.export_hdf5(out)


def test_a_failed_export_leaves_no_file_that_looks_whole(
    tmp_path: Path, record: CampaignRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed or failed mid-way, an export leaves the old file or none, never a half one."""
    record.add_measurement(make_measurement([[0, 1]]), step=1)
    good = record.export_hdf5(tmp_path / "export.h5")
    before = good.read_bytes()

    def broken() -> list:
        raise RuntimeError("disk pulled out mid-export")

    monkeypatch.setattr(record, "decisions", broken)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        record.export_hdf5(tmp_path / "export.h5", overwrite=True)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        record.export_hdf5(tmp_path / "fresh.h5")
    assert good.read_bytes() == before  # the earlier export is untouched
    assert not (tmp_path / "fresh.h5").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


@pytest.mark.parametrize("suffix", [".hspy", ".zspy"])
def test_export_hspy_round_trip(tmp_path: Path, record: CampaignRecord, suffix: str) -> None:
    import hyperspy.api as hs

    with pytest.raises(RecordError, match="holds no measurement yet"):
        record.export_hspy(tmp_path / f"empty{suffix}")
    record.add_measurement(make_measurement([[0, 1], [2, 3], [1, 1]]), step=1)
    spectra_path, overview_path = record.export_hspy(tmp_path / f"run{suffix}")
    assert overview_path == tmp_path / f"run_overview{suffix}"
    spectra = hs.load(spectra_path)
    np.testing.assert_array_equal(spectra.data, record.measurements().spectra)
    assert spectra.metadata.Signal.signal_type == "EELS"
    axis = spectra.axes_manager.signal_axes[0]
    assert (axis.offset, axis.scale, axis.units) == (100.0, 0.5, "eV")
    np.testing.assert_array_equal(spectra.metadata.Steerscope.points, [[0, 1], [2, 3], [1, 1]])
    overview = hs.load(overview_path)
    np.testing.assert_array_equal(overview.data, record.overview().image)
    assert overview.axes_manager.signal_axes[0].scale == 0.25
    # again over the first export (a .zspy is a folder): replaced whole, no partial left
    record.add_measurement(make_measurement([[2, 2]]), step=2)
    record.export_hspy(spectra_path, overwrite=True)
    assert hs.load(spectra_path).data.shape == (4, 6)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_one_writer_at_a_time_in_this_process_and_readers_always(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    with new_record(path):
        with pytest.raises(
            RecordError, match=rf"being written by another process \(process {os.getpid()} on"
        ):
            CampaignRecord.open(path)
        with CampaignRecord.open(path, read_only=True) as reader:  # watching is always fine
            assert reader.status().status == "idle"
    with CampaignRecord.open(path) as writer:  # released on close
        writer.set_status("paused", "")


def test_a_second_process_cannot_resume_a_record_being_written(tmp_path: Path) -> None:
    from steerscope.campaign import Campaign
    from steerscope.records.writer_lock import locked_by

    config = {
        "name": "locked",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 6},
    }
    path = tmp_path / "c.sqlite"
    campaign = Campaign.create(config, path)
    try:
        campaign.run(n_steps=2)
        assert locked_by(path) is not None
        result = subprocess.run(
            [sys.executable, "-m", "steerscope.cli", "resume", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert "being written by another process" in result.stderr + result.stdout
        assert f"process {os.getpid()}" in result.stderr + result.stdout
    finally:
        campaign.close()
    assert locked_by(path) is None
    with Campaign.resume(path) as resumed:  # the holder is gone: free again
        resumed.run()
        assert resumed.n_measured == 6


def test_a_killed_writer_leaves_no_stale_lock(tmp_path: Path) -> None:
    from steerscope.records.writer_lock import locked_by

    path = tmp_path / "k.sqlite"
    new_record(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from steerscope.records import CampaignRecord\n"
            f"record = CampaignRecord.open({str(path)!r})\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert f"process {holder.pid}" in (locked_by(path) or "")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert locked_by(path) is None
    CampaignRecord.open(path).close()


def _damaged_copy(tmp_path: Path, name: str, damage) -> Path:
    """A finished small campaign's record, copied and damaged by ``damage(path)``."""
    import shutil

    from steerscope.campaign import Campaign

    source = tmp_path / "whole.sqlite"
    if not source.exists():
        config = {
            "source": {"dataset": "plasmonic_nanoparticles"},
            "model": {"kind": "exact_gp"},
            "seed_points": {"kind": "grid", "n": 4},
            "budget": {"measurements": 4},
        }
        with Campaign.create(config, source) as campaign:
            campaign.run()
    copy = tmp_path / f"{name}.sqlite"
    shutil.copy(source, copy)
    damage(copy)
    return copy


def _sql(statement: str):
    def damage(path: Path) -> None:
        with sqlite3.connect(path) as connection:
            connection.execute(statement)
        connection.close()

    return damage


@pytest.mark.parametrize(
    ("name", "damage", "part"),
    [
        ("json", _sql("update decisions set model = '{broken' where id = 1"), "the decisions"),
        (
            "blob",
            _sql("update measurements set spectrum = substr(spectrum, 1, 10) where id = 1"),
            r"the spectra of 1 measurement\(s\) no longer match",
        ),
        ("cut", lambda p: p.write_bytes(p.read_bytes()[:-1]), "the measured spectra"),
        ("dtype", _sql("update measurements set dtype = 'O' where id = 1"), "the measured spectra"),
    ],
)
def test_a_damaged_record_says_which_part_cannot_be_read(
    tmp_path: Path, name: str, damage, part: str
) -> None:
    """Broken JSON, a spectrum of the wrong size, a copy cut by one byte (#13 item 10)."""
    from steerscope.campaign import Campaign

    path = _damaged_copy(tmp_path, name, damage)
    damaged = rf"{re.escape(str(path))} is damaged: {part}"
    with (
        pytest.raises(RecordError, match=damaged),
        CampaignRecord.open(path, read_only=True) as record,
    ):
        record.decisions()
        record.measurements()
    with pytest.raises(RecordError, match="is damaged"):
        Campaign.resume(path)


def test_committed_data_only_in_the_wal_is_warned_about_and_folded_in_on_open(
    tmp_path: Path,
) -> None:
    """A copy taken while a writer ran (or after it crashed) needs its -wal (#13 item 7)."""
    import shutil
    import warnings

    from steerscope.errors import RecordWarning

    live = tmp_path / "live" / "r.sqlite"
    live.parent.mkdir()
    copy = tmp_path / "copy" / "r.sqlite"
    copy.parent.mkdir()
    with new_record(live) as writer:
        writer.add_measurement(make_measurement([[0, 1], [2, 3]]), step=0)
        assert Path(f"{live}-wal").stat().st_size > 0  # the commits live in the -wal for now
        shutil.copy(live, copy)
        shutil.copy(f"{live}-wal", f"{copy}-wal")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a writer at work: a -wal is normal, no warning
            CampaignRecord.open(live, read_only=True).close()
    with pytest.warns(RecordWarning, match="Keep both files together"):
        reader = CampaignRecord.open(copy, read_only=True)
    with reader:
        assert len(reader.measurements()) == 2
    CampaignRecord.open(copy).close()  # a writable open folds the -wal into the file
    assert not Path(f"{copy}-wal").exists() or Path(f"{copy}-wal").stat().st_size == 0
    alone = tmp_path / "alone.sqlite"
    shutil.copy(copy, alone)  # the .sqlite alone now holds everything
    with CampaignRecord.open(alone, read_only=True) as record:
        assert len(record.measurements()) == 2


def test_a_record_on_read_only_storage_opens_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite cannot make its -shm on a read-only folder; the record is read immutable then."""
    import steerscope.records.campaign_record as module

    path = tmp_path / "r.sqlite"
    with new_record(path) as writer:
        writer.add_measurement(make_measurement([[0, 1]]), step=0)
    monkeypatch.setattr(module, "_writable", lambda folder: False)  # as on a read-only share
    with CampaignRecord.open(path, read_only=True) as record:
        assert len(record.measurements()) == 1
        out = record.export_hdf5(tmp_path / "out.h5")  # (the export folder is writable)
    assert out.exists()
    Path(f"{path}-wal").write_bytes(b"x" * 100)  # data SQLite could not read there
    with (
        pytest.raises(RecordError, match=r"on read-only storage and its r\.sqlite-wal holds"),
        pytest.warns(module.RecordWarning),
    ):
        CampaignRecord.open(path, read_only=True).measurements()


def _flip_a_bit(path: Path, table: str, column: str, row_id: int) -> None:
    with sqlite3.connect(path) as connection:
        (blob,) = connection.execute(
            f"SELECT {column} FROM {table} WHERE id = ?", (row_id,)
        ).fetchone()
        changed = bytearray(blob)
        changed[len(changed) // 2] ^= 0x04
        connection.execute(
            f"UPDATE {table} SET {column} = ? WHERE id = ?", (bytes(changed), row_id)
        )
    connection.close()


def test_a_flipped_bit_in_a_stored_spectrum_or_overview_is_reported(tmp_path: Path) -> None:
    """14 of 40 random bit flips once changed data silently (#13 item 6)."""
    path = tmp_path / "r.sqlite"
    with new_record(path) as writer:
        ids = writer.add_measurement(make_measurement([[0, 1], [2, 3], [1, 1]]), step=0)
    _flip_a_bit(path, "measurements", "spectrum", ids[1])
    with CampaignRecord.open(path, read_only=True) as record:
        with pytest.raises(RecordError, match=rf"spectra of 1 measurement\(s\) .* \(ids {ids[1]};"):
            record.measurements()
        with pytest.raises(RecordError, match="no longer match their checksums"):
            record.export_hdf5(tmp_path / "out.h5")
        assert not (tmp_path / "out.h5").exists()
        assert record.overview().image.shape == (3, 4)  # the rest still reads
    _flip_a_bit(path, "overview", "image", 1)
    with (
        CampaignRecord.open(path, read_only=True) as record,
        pytest.raises(RecordError, match="the overview image no longer matches its checksum"),
    ):
        record.overview()


def test_a_record_from_before_checksums_opens_and_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with new_record(path) as writer:
        writer.add_measurement(make_measurement([[0, 1]]), step=0)
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE checksums")  # as written by an older steerscope
    connection.close()
    with CampaignRecord.open(path, read_only=True) as record:
        assert len(record.measurements()) == 1  # nothing to check, nothing refused
    with CampaignRecord.open(path) as writer:
        (new_id,) = writer.add_measurement(make_measurement([[2, 2]]), step=1)
    _flip_a_bit(path, "measurements", "spectrum", new_id)
    with (
        CampaignRecord.open(path, read_only=True) as record,
        pytest.raises(RecordError, match=rf"ids {new_id};"),
    ):
        record.measurements()


def test_one_measurement_is_read_without_the_others(tmp_path: Path) -> None:
    """The live view reads the spectrum of a clicked point, not the whole record, each time."""
    from steerscope.errors import ConfigError
    from steerscope.ui.campaign_tools import measured_point

    path = tmp_path / "r.sqlite"
    with new_record(path) as writer:
        writer.add_measurement(make_measurement([[0, 1], [2, 3], [1, 1]]), step=0)
    with CampaignRecord.open(path, read_only=True) as record:
        everything = record.measurements()
        one = record.measurements(offset=1, limit=1)
        assert one.points.tolist() == [[2, 3]] and one.ids.tolist() == [everything.ids[1]]
        np.testing.assert_array_equal(one.spectra, everything.spectra[1:2])
        assert len(record.measurements(offset=3, limit=1)) == 0
    picked = measured_point(path, 2)
    assert picked.point == (1, 1) and picked.index == 2
    np.testing.assert_array_equal(picked.spectrum, everything.spectra[2])
    with pytest.raises(
        ConfigError, match=r"measurement 3 is not in the record r\.sqlite, which has 3"
    ):
        measured_point(path, 3)
