"""The durable record of a tuning campaign: one SQLite file, every frame and every change.

Each trial is committed the moment its frame is scored — the settings, the figure
of merit, how they were chosen, when the frame began and ended, and the frame
itself — and each intervention before it takes effect, so a killed campaign
resumes with nothing lost. One process writes a record (the writer lock of
:mod:`steerscope.records.writer_lock`); readers need no lock.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import RecordError
from steerscope.records.writer_lock import WriterLock

__all__ = ["TrialRow", "TuningRecord", "is_tuning_record"]

KIND = "steerscope tuning record"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    idx INTEGER PRIMARY KEY, settings TEXT NOT NULL, merit REAL NOT NULL, how TEXT NOT NULL,
    started REAL NOT NULL, ended REAL NOT NULL,
    frame BLOB NOT NULL, frame_shape TEXT NOT NULL, pixel_mrad REAL NOT NULL
);
CREATE TABLE interventions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, after INTEGER NOT NULL,
    change TEXT NOT NULL
);
"""


def is_tuning_record(path: str | Path) -> bool:
    """Whether ``path`` is a tuning record (False for a spectrum campaign's or no file)."""
    try:
        with TuningRecord.open(path, read_only=True):
            return True
    except RecordError:
        return False


@dataclass(frozen=True)
class TrialRow:
    """One trial as recorded.

    Attributes
    ----------
    index : int
        0 for the start.
    settings : dict of str to float
        In the config's units.
    merit : float
        The figure of merit of its frame.
    how : str
        ``start``, ``space-filling``, ``bo``, ``random`` or ``forced``.
    started, ended : float
        When the frame began and ended (Unix seconds).
    """

    index: int
    settings: dict[str, float]
    merit: float
    how: str
    started: float
    ended: float


class TuningRecord:
    """A tuning campaign's SQLite record; :meth:`create` or :meth:`open` one."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock: WriterLock | None) -> None:
        self.path, self._db, self._lock = path, connection, lock

    @classmethod
    def create(
        cls, path: str | Path, config: dict[str, Any], instrument: dict[str, Any]
    ) -> TuningRecord:
        """A new record for ``config`` (plain JSON) run on ``instrument`` (its description).

        Raises
        ------
        RecordError
            If the file exists: a record is never overwritten.
        """
        path = Path(path)
        if path.exists():
            raise RecordError(
                f"{path} exists; a record is never overwritten. Resume it "
                "(steerscope tune --resume) or choose another file."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(path)
        db = sqlite3.connect(path, check_same_thread=False)  # one thread at a time: the runner's
        db.execute("PRAGMA journal_mode=WAL")  # readers (the web UI) never block the writer
        db.executescript(_SCHEMA)
        meta = {"kind": KIND, "config": config, "instrument": instrument, "created": time.time()}
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
        )
        db.commit()
        return cls(path, db, lock)

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> TuningRecord:
        """An existing record, to read or to continue writing.

        Raises
        ------
        RecordError
            If the file is missing, not a tuning record, or written by another process.
        """
        path = Path(path)
        if not path.is_file():
            raise RecordError(f"no tuning record at {path}")
        lock = None if read_only else WriterLock(path)
        try:
            db = sqlite3.connect(
                f"file:{path}?mode=ro" if read_only else path,
                uri=read_only,
                check_same_thread=False,
            )
            kind = db.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
        except sqlite3.DatabaseError:
            kind = None
        if kind is None or json.loads(kind[0]) != KIND:
            if lock is not None:
                lock.release()
            raise RecordError(f"{path} is not a steerscope tuning record")
        return cls(path, db, lock)

    def _meta(self, key: str) -> Any:
        return json.loads(
            self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        )

    @property
    def config(self) -> dict[str, Any]:
        """The config the campaign was created with (plain JSON)."""
        return dict(self._meta("config"))

    def _writable(self) -> None:
        if self._lock is None:
            raise RecordError(f"{self.path} is open read-only")

    def add_trial(self, trial: TrialRow, frame: NDArray[Any], pixel_mrad: float) -> None:
        """Commit one trial and its frame (H, W)."""
        self._writable()
        image = np.ascontiguousarray(frame, dtype=np.float32)
        self._db.execute(
            "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                trial.index, json.dumps(trial.settings), trial.merit, trial.how,
                trial.started, trial.ended, image.tobytes(), json.dumps(image.shape), pixel_mrad,
            ),
        )  # fmt: skip
        self._db.commit()

    def add_intervention(self, change: dict[str, Any], after: int) -> int:
        """Commit one intervention made after ``after`` trials; its id."""
        self._writable()
        cursor = self._db.execute(
            "INSERT INTO interventions (at, after, change) VALUES (?, ?, ?)",
            (time.time(), after, json.dumps(change)),
        )
        self._db.commit()
        return int(cursor.lastrowid or 0)

    def trials(self) -> list[TrialRow]:
        """Every trial, in order."""
        rows = self._db.execute(
            "SELECT idx, settings, merit, how, started, ended FROM trials ORDER BY idx"
        ).fetchall()
        return [TrialRow(i, json.loads(s), m, h, a, b) for i, s, m, h, a, b in rows]

    def frame(self, index: int) -> tuple[NDArray[np.float32], float]:
        """Trial ``index``'s frame (H, W) and its angle per pixel (mrad)."""
        row = self._db.execute(
            "SELECT frame, frame_shape, pixel_mrad FROM trials WHERE idx = ?", (index,)
        ).fetchone()
        if row is None:
            raise RecordError(f"{self.path} has no trial {index}")
        image = np.frombuffer(row[0], dtype=np.float32).reshape(json.loads(row[1]))
        return image, float(row[2])

    def interventions(self) -> list[tuple[int, int, dict[str, Any]]]:
        """Every intervention as ``(id, after, change)``, in order."""
        rows = self._db.execute(
            "SELECT id, after, change FROM interventions ORDER BY id"
        ).fetchall()
        return [(int(i), int(a), json.loads(c)) for i, a, c in rows]

    def close(self) -> None:
        """Close the file and free the writer lock. Idempotent."""
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> TuningRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
