"""The durable record of one campaign: a single SQLite file, written before the next beam move.

Everything a campaign needs to be audited, replayed or resumed lives in one
file: the configuration, the overview, the instrument description, every raw
spectrum with where and when it was acquired, every decision (which model,
scalarizer and policy chose which points, with their predictions), every
operator intervention, an event log, the run status, and optional maps.

Durability: the file is opened with ``journal_mode=WAL`` and
``synchronous=FULL``; every ``add_*``/``set_*``/``save_*`` method is one
transaction committed (and synced) before it returns, so once it returns the
data survives a crash or a killed process.

Concurrency: the engine writes from its runner thread while UI threads read.
Each thread gets its own SQLite connection (WAL lets readers and the writer
proceed together); writes within a process are serialised by a lock, and
across processes by SQLite's own locking. Another process may open the same
file with ``read_only=True`` while it is being written.
"""

from __future__ import annotations

import functools
import math
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import RecordError, RecordWarning
from steerscope.records.files import SQLITE_SIDECARS
from steerscope.records.schema import (
    APPLICATION_ID,
    APPLICATION_NAME,
    CHECKSUMS_TABLE,
    SCHEMA,
    SCHEMA_VERSION,
    array_from_blob,
    array_to_blob,
    crc32,
    float_array,
    float_list,
    from_json,
    map_from_blob,
    map_to_blob,
    to_json,
)
from steerscope.records.writer_lock import WriterLock
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "CampaignRecord",
    "Decision",
    "EventRecord",
    "InterventionRecord",
    "MeasuredSpectra",
    "RecordStatus",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HOW_TO_FIX = "pass the .sqlite file written by `steerscope run`"


@dataclass(frozen=True, eq=False)
class MeasuredSpectra:
    """Every measurement in a record, as arrays in the order they were recorded.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        Overview pixels ``(row, col)``, int64.
    spectra : ndarray of shape (n, C)
        Raw counts, float64. ``C`` comes from the instrument description when
        nothing is measured yet (``0`` if it says nothing).
    energy : EnergyAxis or None
        The energy axis shared by every spectrum; ``None`` only when nothing is
        measured and the instrument description has no ``energy``.
    acquired_at : ndarray of shape (n,)
        Unix time each spectrum finished.
    steps : ndarray of shape (n,)
        Campaign step that recorded each spectrum, int64.
    decision_ids : ndarray of shape (n,)
        The decision that chose each point, int64; ``-1`` for points no
        decision chose.
    ids : ndarray of shape (n,)
        Row ids in the record, int64, increasing.
    point_indices : ndarray of shape (n,)
        Index of each point within its decision, int64; ``-1`` without one.
    dwell_time_s : ndarray of shape (n,)
        Exposure per spectrum, seconds.
    signal_kind : SignalKind or None
        EELS or EDX (``None`` if unknown because nothing is measured).
    metadata : tuple of dict, length n
        What the instrument reported with each spectrum's batch, plus
        ``batch_position`` (the spectrum's index in its batch).
    """

    points: NDArray[np.int64]
    spectra: NDArray[np.float64]
    energy: EnergyAxis | None
    acquired_at: NDArray[np.float64]
    steps: NDArray[np.int64]
    decision_ids: NDArray[np.int64]
    ids: NDArray[np.int64]
    point_indices: NDArray[np.int64]
    dwell_time_s: NDArray[np.float64]
    signal_kind: SignalKind | None = None
    metadata: tuple[dict[str, Any], ...] = ()

    @property
    def started_at(self) -> NDArray[np.float64]:
        """Unix time each acquisition started, ``(n,)``; NaN where the record does not say."""
        return np.array(
            [float(m.get("started_at", np.nan)) for m in self.metadata]
            if len(self.metadata) == len(self.acquired_at)
            else np.full(len(self.acquired_at), np.nan),
            dtype=np.float64,
        )

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True, eq=False)
class Decision:
    """One decision: the points a policy chose at a step, and why.

    Parameters
    ----------
    id : int
        Row id (the ``decision_id`` measurements refer to).
    step : int
        Campaign step.
    points : ndarray of shape (q, 2)
        Chosen overview pixels ``(row, col)``, int64.
    predicted_mean, predicted_var, acquisition_value : ndarray of shape (q,)
        Surrogate posterior and acquisition score at each point (NaN where
        none applies, e.g. points an operator added).
    model, scalarizer, policy, timings : dict
        The model, scalarizer and policy in force, and how long each phase took.
    created_at : float
        Unix time the decision was recorded.
    """

    id: int
    step: int
    points: NDArray[np.int64]
    predicted_mean: NDArray[np.float64]
    predicted_var: NDArray[np.float64]
    acquisition_value: NDArray[np.float64]
    model: dict[str, Any]
    scalarizer: dict[str, Any]
    policy: dict[str, Any]
    timings: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class InterventionRecord:
    """An operator intervention: what changed, from what to what, and when."""

    id: int
    step: int
    kind: str
    before: dict[str, Any]
    after: dict[str, Any]
    at: float


@dataclass(frozen=True)
class EventRecord:
    """A line of the campaign's event log."""

    id: int
    step: int
    kind: str
    message: str
    at: float


@dataclass(frozen=True)
class RecordStatus:
    """The campaign's last recorded status (``"idle"`` right after ``create``)."""

    status: str
    reason: str
    updated_at: float


@dataclass
class _ThreadConnection:
    thread: threading.Thread
    connection: sqlite3.Connection = field(repr=False)


def _not_a_record(path: Path, why: str) -> RecordError:
    return RecordError(f"{path} is not a steerscope record ({why}); {_HOW_TO_FIX}")


def _check_header(path: Path) -> None:
    """Refuse non-SQLite and foreign SQLite files from their first 100 bytes."""
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) == 0:
        raise _not_a_record(path, "the file is empty")
    if not header.startswith(_SQLITE_MAGIC[: len(header)]) or len(header) < len(_SQLITE_MAGIC):
        raise _not_a_record(
            path, "not an SQLite database: its first bytes are not 'SQLite format 3'"
        )
    if len(header) < 100:
        raise RecordError(
            f"{path} is a truncated SQLite file ({len(header)} bytes, shorter than the 100-byte "
            f"header); it cannot be a complete steerscope record. Restore it from a backup, or "
            f"{_HOW_TO_FIX}"
        )
    app_id = int.from_bytes(header[68:72], "big")
    if app_id != APPLICATION_ID:
        raise _not_a_record(
            path,
            f"an SQLite database with application_id {app_id:#010x}, "
            f"expected {APPLICATION_ID:#010x}",
        )


def _sqlite_failure(path: Path, action: str, exc: sqlite3.Error) -> RecordError:
    """A RecordError for an SQLite failure; corruption gets its own, actionable message."""
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text or "corrupt" in text
    ):
        return RecordError(
            f"{path} is corrupt or truncated (SQLite: {text}); it may have been cut short or "
            f"copied while being written. Restore a backup or use an export, or {_HOW_TO_FIX}"
        )
    return RecordError(f"cannot {action} {path}: {text}")


def _as_points(points: ArrayLike, what: str) -> NDArray[np.int64]:
    pts = np.asarray(points)
    if pts.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if pts.ndim == 1 and pts.size == 2:
        pts = pts[None, :]
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise RecordError(f"{what} must have shape (n, 2) as (row, col); got shape {pts.shape}")
    if not np.issubdtype(pts.dtype, np.number) or not np.all(pts == np.round(pts)):
        raise RecordError(f"{what} must be integer overview pixels (row, col); got {pts.tolist()}")
    return pts.astype(np.int64)


def _as_vector(values: ArrayLike | None, n: int, what: str) -> NDArray[np.float64]:
    if values is None:
        return np.full(n, np.nan)
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise RecordError(
            f"{what} must have one value per point, shape ({n},); got shape "
            f"{np.asarray(values).shape}"
        )
    return arr


def _energy_from_dict(data: Mapping[str, Any]) -> EnergyAxis:
    return EnergyAxis(
        size=int(data["size"]),
        offset=float(data["offset"]),
        scale=float(data["scale"]),
        units=str(data.get("units", "eV")),
    )


def _energy_to_json(energy: EnergyAxis) -> str:
    return to_json(
        {
            "size": int(energy.size),
            "offset": float(energy.offset),
            "scale": float(energy.scale),
            "units": str(energy.units),
        },
        "energy axis",
    )


def _json_finite(value: Any) -> Any:
    """``value`` with every non-finite float (and NumPy array element) replaced by None."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {k: _json_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"the {what} must be a dict; got {type(value).__name__}")
    return dict(value)


def _writable(folder: Path) -> bool:
    """Whether SQLite can create its ``-shm``/``-wal`` files in ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK)


def _warn_if_wal_is_orphaned(path: Path) -> None:
    """Warn when a record's committed data lives only in its ``-wal`` (a writer crashed).

    Copying the ``.sqlite`` alone would then drop those spectra; while a writer is at
    work a non-empty ``-wal`` is normal and nothing is said.
    """
    from steerscope.records.writer_lock import locked_by

    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0 and locked_by(path) is None:
        warnings.warn(
            f"{path.name}: its {wal.name} holds committed data not yet in the .sqlite file "
            "(the last writer stopped without closing). Keep both files together when you "
            "copy it, or open it writable once (e.g. `steerscope resume`) to fold it in.",
            RecordWarning,
            stacklevel=3,
        )


def _decoded(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a damaged row (broken JSON, a spectrum blob of the wrong size) into a RecordError.

    The record's reader methods decode what SQLite returns; a file damaged by hand, by
    a disk or by a cut copy must say which part cannot be read, not raise from ``json``.
    """

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def read(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                record = args[0]
                raise RecordError(
                    f"the record {getattr(record, 'path', '?')} is damaged: {what} cannot be "
                    f"read ({type(exc).__name__}: {exc}). Open a copy taken before the "
                    "damage, or fork the steps before it (`steerscope replay`)."
                ) from exc

        return read

    return wrap


class CampaignRecord:
    """One campaign's durable record: a single SQLite file.

    Create a new record with :meth:`create` and reopen one with :meth:`open`;
    do not call the constructor directly. Use it as a context manager, or
    call :meth:`close`.

    Parameters
    ----------
    path : Path
        The record file.
    read_only : bool
        Whether writes are refused. A writable record holds the record's writer
        lock until :meth:`close` (:mod:`~steerscope.records.writer_lock`): a
        second writer, in this process or another, gets a :class:`RecordError`.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = bool(read_only)
        # one writing process per record, for as long as it is open (raises if taken)
        self._writer = None if self.read_only else WriterLock(self.path)
        self._connections: dict[int, _ThreadConnection] = {}
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self._checksums: bool | None = None  # whether the file has the checksums table

    # -- opening ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        config: Mapping[str, Any],
        overview: Overview,
        instrument: Mapping[str, Any],
    ) -> CampaignRecord:
        """Create a new record file; never overwrites.

        Parameters
        ----------
        path : str or Path
            Where to write the record (conventionally ``*.sqlite``); must not exist.
        config : dict
            The campaign configuration, JSON-serialisable.
        overview : Overview
            The overview the campaign runs on; its image of shape ``(H, W)``.
        instrument : dict
            The instrument's ``describe()``, JSON-serialisable.

        Returns
        -------
        CampaignRecord
            Open for writing, status ``"idle"``.

        Raises
        ------
        RecordError
            If a file exists at ``path``, its folder does not exist, or the
            config/instrument are not JSON-serialisable.
        """
        target = Path(path)
        config_json = to_json(_mapping(config, "campaign config"), "campaign config")
        instrument_json = to_json(_mapping(instrument, "instrument description"), "instrument")
        if not isinstance(overview, Overview):
            raise RecordError(
                f"overview must be a steerscope Overview (from Microscope.overview()); "
                f"got {type(overview).__name__}"
            )
        image = np.asarray(overview.image)
        if image.ndim != 2:
            raise RecordError(f"the overview image must be 2-D (H, W); got shape {image.shape}")
        overview_meta = to_json(dict(overview.metadata), "overview metadata")
        if target.exists():
            raise RecordError(
                f"a file already exists at {target}; a campaign record is never overwritten. "
                f"Choose a new path, or reopen it with CampaignRecord.open({str(target)!r})."
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordError(
                f"cannot create the record {target}: the folder {target.parent} cannot be "
                f"created ({exc}); choose a path in a writable folder."
            ) from exc
        for suffix in SQLITE_SIDECARS:
            leftover = Path(f"{target}{suffix}")
            if leftover.exists():
                raise RecordError(
                    f"cannot create the record {target}: a leftover {leftover.name} from an "
                    "earlier database is next to it and SQLite would replay it into the new "
                    "record; move it away first."
                )
        try:
            with target.open("xb"):
                pass
        except FileExistsError:
            raise RecordError(
                f"a file already exists at {target}; a campaign record is never overwritten. "
                "Choose a new path."
            ) from None
        except OSError as exc:
            raise RecordError(f"cannot create the record {target}: {exc}") from exc

        blob, dtype, shape = array_to_blob(image)
        now = time.time()
        try:
            conn = sqlite3.connect(str(target), isolation_level=None, timeout=30.0)
            try:
                # The header fields and tables go to the main file before switching to WAL,
                # so the file identifies itself as a record even if killed right after.
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("BEGIN IMMEDIATE")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(CHECKSUMS_TABLE)
                from steerscope import __version__

                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("application", APPLICATION_NAME),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("steerscope_version", __version__),
                        ("created_at", repr(now)),
                    ],
                )
                conn.execute("INSERT INTO config (id, json) VALUES (1, ?)", (config_json,))
                conn.execute(
                    "INSERT INTO overview (id, image, dtype, shape, pixel_size, pixel_units, "
                    "metadata) VALUES (1, ?, ?, ?, ?, ?, ?)",
                    (
                        blob,
                        dtype,
                        shape,
                        float(overview.pixel_size),
                        str(overview.pixel_units),
                        overview_meta,
                    ),
                )
                conn.execute(
                    "INSERT INTO checksums (kind, row_id, crc32) VALUES ('overview', 1, ?)",
                    (crc32(blob),),
                )
                conn.execute("INSERT INTO instrument (id, json) VALUES (1, ?)", (instrument_json,))
                conn.execute(
                    "INSERT INTO status (id, status, reason, updated_at) VALUES (1, 'idle', '', ?)",
                    (now,),
                )
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
            finally:
                conn.close()
        except BaseException as exc:
            for suffix in ("", *SQLITE_SIDECARS):
                with suppress(OSError):
                    Path(f"{target}{suffix}").unlink()
            if isinstance(exc, sqlite3.Error):
                raise RecordError(f"cannot create the record {target}: {exc}") from exc
            raise
        return cls(target, read_only=False)

    @classmethod
    def open(
        cls, path: str | Path, *, read_only: bool = False, verify: bool = True
    ) -> CampaignRecord:
        """Open an existing record.

        Parameters
        ----------
        path : str or Path
            The record file.
        read_only : bool
            Open without write access (safe while another process writes it).
        verify : bool
            Run SQLite's ``quick_check`` over the whole file (reads it once).

        Returns
        -------
        CampaignRecord

        Raises
        ------
        RecordError
            If the file is missing, not SQLite, a foreign SQLite database,
            truncated or corrupt, or written by a newer steerscope.
        """
        target = Path(path)
        if not target.exists():
            raise RecordError(f"no campaign record at {target}; {_HOW_TO_FIX}")
        if not target.is_file():
            raise _not_a_record(target, "it is a folder, not a file")
        _check_header(target)
        if read_only:
            _warn_if_wal_is_orphaned(target)
        record = cls(target, read_only=read_only)
        try:
            record._validate(verify)
            if not read_only:  # fold what a crashed writer left in the -wal into the file
                with suppress(sqlite3.Error):
                    record._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                with record._write("add the checksums table") as conn:
                    conn.execute(CHECKSUMS_TABLE)  # a record from before them: new rows get one
        except BaseException:
            record.close()
            raise
        return record

    def _validate(self, verify: bool) -> None:
        try:
            with self._read() as conn:
                if verify:
                    problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
                    if problems != ["ok"]:
                        raise RecordError(
                            f"{self.path} is corrupt (SQLite integrity check: "
                            f"{'; '.join(problems)}); it may have been truncated or copied "
                            "while being written. Restore a backup or use an export."
                        )
                tables = {
                    row[0]
                    for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if "meta" not in tables:
                    raise _not_a_record(self.path, "it has no meta table")
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise _sqlite_failure(self.path, "read the record", exc) from exc
        if meta.get("application") != APPLICATION_NAME:
            raise _not_a_record(self.path, f"meta.application is {meta.get('application')!r}")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise RecordError(
                f"{self.path} was written with record schema {version}, newer than this "
                f"steerscope's {SCHEMA_VERSION}; upgrade steerscope to read it."
            )
        missing = {
            "config",
            "overview",
            "instrument",
            "decisions",
            "measurements",
            "interventions",
            "events",
            "status",
            "maps",
        } - tables
        if missing:
            raise RecordError(
                f"{self.path} is an incomplete steerscope record (missing tables "
                f"{sorted(missing)}); {_HOW_TO_FIX}"
            )

    # -- connections -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        resolved = self.path.resolve()
        mode = "ro" if self.read_only else "rw"
        uri = f"file:{quote(str(resolved))}?mode={mode}"
        if self.read_only and not _writable(resolved.parent):
            uri = self._immutable_uri(resolved)
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        if not self.read_only:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
        return conn

    def _has_checksums(self, conn: sqlite3.Connection) -> bool:
        """Whether the record keeps checksums (records from before them have no table)."""
        if self._checksums is None:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checksums'"
            ).fetchone()
            self._checksums = found is not None
        return self._checksums

    def _damaged(self, kind: str, blobs: Mapping[int, bytes]) -> list[int]:
        """Ids among ``blobs`` whose bytes no longer match the checksum stored with them."""
        if not blobs:
            return []
        with self._read() as conn:
            if not self._has_checksums(conn):
                return []
            low, high = min(blobs), max(blobs)
            stored = dict(
                conn.execute(
                    "SELECT row_id, crc32 FROM checksums WHERE kind = ? AND row_id BETWEEN ? AND ?",
                    (kind, low, high),
                ).fetchall()
            )
        return sorted(i for i, blob in blobs.items() if i in stored and crc32(blob) != stored[i])

    def _immutable_uri(self, resolved: Path) -> str:
        """A read-only record on read-only storage: read it as an unchanging file.

        SQLite's WAL mode needs to create ``-shm`` beside the file even to read; on a
        read-only folder (a DVD, a read-only share) it cannot, so the file is opened
        ``immutable`` — which cannot see a ``-wal``, hence the refusal if one holds data.
        """
        wal = Path(f"{resolved}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise RecordError(
                f"the record {self.path} is on read-only storage and its {wal.name} holds "
                "data not yet in the .sqlite file, which SQLite cannot read there; copy both "
                "files to a writable folder and open the copy."
            )
        return f"file:{quote(str(resolved))}?mode=ro&immutable=1"

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RecordError(
                f"the record {self.path} is closed; reopen it with CampaignRecord.open"
            )
        current = threading.current_thread()
        key = threading.get_ident()
        with self._connections_lock:
            entry = self._connections.get(key)
            if entry is not None and entry.thread is current:
                return entry.connection
            # Threads come and go (a UI framework may use one per page run): drop the
            # connections of threads that ended so they do not pile up.
            for ident, other in list(self._connections.items()):
                if other.thread is not current and not other.thread.is_alive():
                    other.connection.close()
                    del self._connections[ident]
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise _sqlite_failure(self.path, "open the record", exc) from exc
            self._connections[key] = _ThreadConnection(current, conn)
            return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            with suppress(sqlite3.Error):
                conn.execute("COMMIT")

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (synced) when the block ends."""
        if self.read_only:
            raise RecordError(
                f"cannot {what}: the record {self.path} was opened read-only; open it with "
                "CampaignRecord.open(path) (read_only=False) to write."
            )
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _sqlite_failure(self.path, f"{what} in", exc) from exc
            try:
                yield conn
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _sqlite_failure(self.path, f"{what} in", exc) from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise _sqlite_failure(self.path, f"{what} in", exc) from exc

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._read() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _sqlite_failure(self.path, "read the record", exc) from exc

    # -- writers ---------------------------------------------------------------

    def add_decision(
        self,
        step: int,
        points: ArrayLike,
        *,
        predicted_mean: ArrayLike | None = None,
        predicted_var: ArrayLike | None = None,
        acquisition_value: ArrayLike | None = None,
        model: Mapping[str, Any] | None = None,
        scalarizer: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        timings: Mapping[str, Any] | None = None,
    ) -> int:
        """Record the points chosen at ``step`` and why; committed before it returns.

        Parameters
        ----------
        step : int
            Campaign step.
        points : array_like of shape (q, 2)
            Chosen overview pixels ``(row, col)``.
        predicted_mean, predicted_var, acquisition_value : array_like of shape (q,), optional
            Posterior and acquisition score at each point; ``None`` stores NaN
            (e.g. for points an operator added by hand).
        model, scalarizer, policy, timings : dict, optional
            JSON-serialisable descriptions of what chose the points.

        Returns
        -------
        int
            The decision id to pass to :meth:`add_measurement`.
        """
        pts = _as_points(points, "decision points")
        q = pts.shape[0]
        row = (
            int(step),
            to_json(pts.tolist(), "decision points"),
            to_json(float_list(_as_vector(predicted_mean, q, "predicted_mean")), "mean"),
            to_json(float_list(_as_vector(predicted_var, q, "predicted_var")), "var"),
            to_json(float_list(_as_vector(acquisition_value, q, "acquisition_value")), "acq"),
            to_json(_mapping(model, "model description"), "model description"),
            to_json(_mapping(scalarizer, "scalarizer spec"), "scalarizer spec"),
            to_json(_mapping(policy, "policy"), "policy"),
            to_json(_mapping(timings, "timings"), "timings"),
            time.time(),
        )
        with self._write("add a decision") as conn:
            cur = conn.execute(
                "INSERT INTO decisions (step, points, predicted_mean, predicted_var, "
                "acquisition_value, model, scalarizer, policy, timings, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def add_measurement(
        self, measurement: Measurement, *, step: int, decision_id: int | None = None
    ) -> list[int]:
        """Record a batch of raw spectra; committed (synced) before it returns.

        With a ``decision_id`` each spectrum is tied to the decision point at
        the same ``(row, col)`` (so a batch may cover any subset of the
        decision's points, in any order). A decision point is stored at most
        once: adding it again is a no-op that returns the id already stored,
        so retrying an ``add_measurement`` after a crash or a timeout is safe.

        Parameters
        ----------
        measurement : Measurement
            ``points`` ``(n, 2)`` (the *requested* pixels), ``spectra`` ``(n, C)``,
            ``energy`` with ``C`` channels, ``acquired_at`` ``(n,)``.
        step : int
            Campaign step.
        decision_id : int or None
            The decision that chose these points, or ``None`` (e.g. a survey).

        Returns
        -------
        list of int
            One measurement id per spectrum, in the batch's order.

        Raises
        ------
        RecordError
            If the shapes disagree, the decision does not exist, or a point is
            not one of the decision's points.
        """
        if not isinstance(measurement, Measurement):
            raise RecordError(
                f"add_measurement expects a steerscope Measurement (from Microscope.acquire); "
                f"got {type(measurement).__name__}"
            )
        pts = _as_points(measurement.points, "measurement points")
        n = pts.shape[0]
        spectra = np.asarray(measurement.spectra)
        energy = measurement.energy
        if spectra.ndim != 2 or spectra.shape != (n, energy.size):
            raise RecordError(
                f"measurement spectra must have shape (n_points, n_channels) = ({n}, "
                f"{energy.size}) to match its points and energy axis; got {spectra.shape}"
            )
        acquired_at = np.asarray(measurement.acquired_at, dtype=np.float64).reshape(-1)
        if acquired_at.shape != (n,):
            raise RecordError(
                f"measurement acquired_at must have shape ({n},); got {acquired_at.shape}"
            )
        energy_json = _energy_to_json(energy)
        base_meta = _mapping(measurement.metadata, "measurement metadata")
        kind = SignalKind(measurement.signal_kind).value
        started = _started_at(measurement, n)
        rows = []
        for i in range(n):
            blob, dtype, _ = array_to_blob(spectra[i])
            timing = {} if started is None else {"started_at": started[i]}
            meta = to_json({**base_meta, "batch_position": i, **timing}, "measurement metadata")
            rows.append((blob, dtype, meta))

        with self._write("add a measurement") as conn:
            indices: list[int | None] = [None] * n
            if decision_id is not None:
                found = conn.execute(
                    "SELECT points FROM decisions WHERE id = ?", (int(decision_id),)
                ).fetchone()
                if found is None:
                    raise RecordError(
                        f"decision {decision_id} is not in the record {self.path}; pass the id "
                        "add_decision returned, or decision_id=None for points no decision chose."
                    )
                chosen = [tuple(p) for p in from_json(found[0])]
                used: set[int] = set()
                for i in range(n):
                    point = (int(pts[i, 0]), int(pts[i, 1]))
                    match = next(
                        (j for j, p in enumerate(chosen) if p == point and j not in used), None
                    )
                    if match is None:
                        raise RecordError(
                            f"point {point} is not one of decision {decision_id}'s points "
                            f"{chosen}; record the requested points (not drifted ones), or pass "
                            "decision_id=None for points no decision chose."
                        )
                    used.add(match)
                    indices[i] = match
            ids: list[int] = []
            for i in range(n):
                if indices[i] is not None:
                    existing = conn.execute(
                        "SELECT id FROM measurements WHERE decision_id = ? AND point_index = ?",
                        (int(decision_id), indices[i]),  # type: ignore[arg-type]
                    ).fetchone()
                    if existing is not None:
                        ids.append(int(existing[0]))
                        continue
                blob, dtype, meta = rows[i]
                cur = conn.execute(
                    "INSERT INTO measurements (step, decision_id, point_index, row, col, "
                    "spectrum, dtype, n_channels, energy, signal_kind, acquired_at, "
                    "dwell_time_s, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        int(step),
                        None if decision_id is None else int(decision_id),
                        indices[i],
                        int(pts[i, 0]),
                        int(pts[i, 1]),
                        blob,
                        dtype,
                        int(energy.size),
                        energy_json,
                        kind,
                        float(acquired_at[i]),
                        float(measurement.dwell_time_s),
                        meta,
                    ),
                )
                ids.append(int(cur.lastrowid or 0))
                if self._has_checksums(conn):
                    conn.execute(
                        "INSERT INTO checksums (kind, row_id, crc32) VALUES ('spectrum', ?, ?)",
                        (ids[-1], crc32(blob)),
                    )
            return ids

    def add_intervention(
        self, step: int, kind: str, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> int:
        """Record an operator intervention (``before`` → ``after``); returns its id."""
        row = (
            int(step),
            str(kind),
            to_json(_mapping(before, "intervention 'before'"), "intervention 'before'"),
            to_json(_mapping(after, "intervention 'after'"), "intervention 'after'"),
            time.time(),
        )
        with self._write("add an intervention") as conn:
            cur = conn.execute(
                "INSERT INTO interventions (step, kind, before, after, at) VALUES (?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def add_event(self, step: int, kind: str, message: str) -> int:
        """Append a line to the event log; returns its id."""
        with self._write("add an event") as conn:
            cur = conn.execute(
                "INSERT INTO events (step, kind, message, at) VALUES (?, ?, ?, ?)",
                (int(step), str(kind), str(message), time.time()),
            )
            return int(cur.lastrowid or 0)

    def save_summary(self, name: str, summary: Mapping[str, Any]) -> None:
        """Store a JSON summary under ``name``, replacing an earlier one of the same name.

        Derived results a front end or an export wants without recomputing them
        (the engine stores ``"pareto"``: objectives, Pareto mask, hypervolume per
        step and the fixed reference point of a multi-objective campaign). They
        live in the ``meta`` table under ``summary.<name>``, so records without
        them (older ones) read as before.

        Parameters
        ----------
        name : str
            Summary name, e.g. ``"pareto"``.
        summary : dict
            JSON-serialisable content (NaN is stored as null).
        """
        text = to_json(_json_finite(_mapping(summary, f"summary {name!r}")), f"summary {name!r}")
        with self._write(f"save the summary {name!r}") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"summary.{name}", text)
            )

    @_decoded("a summary")
    def summary(self, name: str) -> dict[str, Any]:
        """The summary saved under ``name`` by :meth:`save_summary` (empty dict when none)."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (f"summary.{name}",))
        return dict(from_json(rows[0][0])) if rows else {}

    def set_status(self, status: str, reason: str = "") -> None:
        """Record the campaign status (e.g. ``"running"``, ``"paused"``, ``"error"``) and why."""
        if not isinstance(status, str) or not status.strip():
            raise RecordError(f"status must be a non-empty string; got {status!r}")
        with self._write("set the status") as conn:
            conn.execute(
                "UPDATE status SET status = ?, reason = ?, updated_at = ? WHERE id = 1",
                (status, str(reason), time.time()),
            )

    def save_maps(self, step: int, maps: Mapping[str, ArrayLike]) -> None:
        """Store 2-D maps (posterior mean, std, acquisition, …) for ``step``.

        Maps are compressed (zlib) as float16, or float32 when a value exceeds
        float16's range; saving a name again for the same step replaces it.

        Parameters
        ----------
        step : int
            Campaign step.
        maps : dict of str to ndarray of shape (H, W)
            The maps to store.
        """
        rows = []
        for name, value in _mapping(maps, "maps").items():
            arr = np.asarray(value)
            if arr.ndim != 2:
                raise RecordError(f"map {name!r} must be 2-D (H, W); got shape {arr.shape}")
            blob, dtype, shape = map_to_blob(arr)
            rows.append((int(step), str(name), dtype, shape, blob))
        with self._write("save maps") as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO maps (step, name, dtype, shape, blob) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    # -- readers ---------------------------------------------------------------

    @_decoded("the config")
    def config(self) -> dict[str, Any]:
        """The campaign configuration given to :meth:`create`."""
        rows = self._query("SELECT json FROM config WHERE id = 1")
        return dict(from_json(rows[0][0])) if rows else {}

    @_decoded("the instrument description")
    def instrument(self) -> dict[str, Any]:
        """The instrument description given to :meth:`create`."""
        rows = self._query("SELECT json FROM instrument WHERE id = 1")
        return dict(from_json(rows[0][0])) if rows else {}

    @_decoded("the overview")
    def overview(self) -> Overview:
        """The overview given to :meth:`create`; image of shape ``(H, W)``."""
        rows = self._query(
            "SELECT image, dtype, shape, pixel_size, pixel_units, metadata FROM overview"
        )
        if not rows:
            raise RecordError(f"the record {self.path} has no overview; it is incomplete")
        blob, dtype, shape, pixel_size, units, meta = rows[0]
        if self._damaged("overview", {1: blob}):
            raise RecordError(
                f"the record {self.path} is damaged: the overview image no longer matches its "
                "checksum (changed on disk after it was written). Open a copy taken before."
            )
        return Overview(
            image=array_from_blob(blob, dtype, shape),
            pixel_size=float(pixel_size),
            pixel_units=str(units),
            metadata=dict(from_json(meta)),
        )

    @_decoded("the measured spectra")
    def measurements(
        self, *, since_id: int = 0, offset: int = 0, limit: int | None = None
    ) -> MeasuredSpectra:
        """Every recorded spectrum (with id > ``since_id``), in recording order.

        Parameters
        ----------
        since_id : int
            Only spectra recorded after the one with this id.
        offset, limit : int
            Skip the first ``offset`` of those and return at most ``limit`` (all when
            None): one spectrum is read without reading the others.

        Returns
        -------
        MeasuredSpectra
            Arrays of length ``n`` (``0`` when none, with ``spectra`` of shape
            ``(0, C)``, ``C`` from the instrument description).

        Raises
        ------
        RecordError
            If the stored spectra do not share one energy axis.
        """
        rows = self._query(
            "SELECT id, step, decision_id, point_index, row, col, spectrum, dtype, n_channels, "
            "energy, signal_kind, acquired_at, dwell_time_s, metadata FROM measurements "
            "WHERE id > ? ORDER BY id LIMIT ? OFFSET ?",
            (int(since_id), -1 if limit is None else int(limit), int(offset)),
        )
        if not rows:
            energy_info = self.instrument().get("energy")
            energy = _energy_from_dict(energy_info) if isinstance(energy_info, Mapping) else None
            kind_info = self.instrument().get("signal_kind")
            kind = SignalKind(kind_info) if kind_info in ("EELS", "EDX") else None
            channels = 0 if energy is None else energy.size
            return MeasuredSpectra(
                points=np.zeros((0, 2), dtype=np.int64),
                spectra=np.zeros((0, channels), dtype=np.float64),
                energy=energy,
                acquired_at=np.zeros(0, dtype=np.float64),
                steps=np.zeros(0, dtype=np.int64),
                decision_ids=np.zeros(0, dtype=np.int64),
                ids=np.zeros(0, dtype=np.int64),
                point_indices=np.zeros(0, dtype=np.int64),
                dwell_time_s=np.zeros(0, dtype=np.float64),
                signal_kind=kind,
            )
        energies = {row[9] for row in rows}
        if len(energies) > 1:
            raise RecordError(
                f"the spectra in {self.path} do not share one energy axis ({sorted(energies)}); "
                "read them in parts with since_id, or export them per axis."
            )
        damaged = self._damaged("spectrum", {int(r[0]): r[6] for r in rows})
        if damaged:
            shown = ", ".join(str(i) for i in damaged[:20]) + (" …" if len(damaged) > 20 else "")
            raise RecordError(
                f"the record {self.path} is damaged: the spectra of {len(damaged)} "
                f"measurement(s) no longer match their checksums (ids {shown}; changed on disk "
                "after they were written). Open a copy taken before, or fork the steps "
                "before the first damaged one (`steerscope replay`)."
            )
        energy = _energy_from_dict(from_json(rows[0][9]))
        spectra = np.stack([array_from_blob(r[6], r[7], [r[8]]) for r in rows]).astype(np.float64)
        return MeasuredSpectra(
            points=np.array([[r[4], r[5]] for r in rows], dtype=np.int64),
            spectra=spectra,
            energy=energy,
            acquired_at=np.array([r[11] for r in rows], dtype=np.float64),
            steps=np.array([r[1] for r in rows], dtype=np.int64),
            decision_ids=np.array([-1 if r[2] is None else r[2] for r in rows], dtype=np.int64),
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            point_indices=np.array([-1 if r[3] is None else r[3] for r in rows], dtype=np.int64),
            dwell_time_s=np.array([r[12] for r in rows], dtype=np.float64),
            signal_kind=SignalKind(rows[-1][10]),
            metadata=tuple(dict(from_json(r[13])) for r in rows),
        )

    @_decoded("the decisions")
    def decisions(self) -> list[Decision]:
        """Every decision, oldest first."""
        rows = self._query(
            "SELECT id, step, points, predicted_mean, predicted_var, acquisition_value, model, "
            "scalarizer, policy, timings, created_at FROM decisions ORDER BY id"
        )
        return [
            Decision(
                id=int(r[0]),
                step=int(r[1]),
                points=np.array(from_json(r[2]), dtype=np.int64).reshape(-1, 2),
                predicted_mean=float_array(from_json(r[3])),
                predicted_var=float_array(from_json(r[4])),
                acquisition_value=float_array(from_json(r[5])),
                model=dict(from_json(r[6])),
                scalarizer=dict(from_json(r[7])),
                policy=dict(from_json(r[8])),
                timings=dict(from_json(r[9])),
                created_at=float(r[10]),
            )
            for r in rows
        ]

    @_decoded("the interventions")
    def interventions(self) -> list[InterventionRecord]:
        """Every intervention, oldest first."""
        rows = self._query(
            "SELECT id, step, kind, before, after, at FROM interventions ORDER BY id"
        )
        return [
            InterventionRecord(
                id=int(r[0]),
                step=int(r[1]),
                kind=str(r[2]),
                before=dict(from_json(r[3])),
                after=dict(from_json(r[4])),
                at=float(r[5]),
            )
            for r in rows
        ]

    @_decoded("the event log")
    def events(self) -> list[EventRecord]:
        """The event log, oldest first."""
        rows = self._query("SELECT id, step, kind, message, at FROM events ORDER BY id")
        return [
            EventRecord(id=int(r[0]), step=int(r[1]), kind=str(r[2]), message=str(r[3]), at=r[4])
            for r in rows
        ]

    def status(self) -> RecordStatus:
        """The last status set (``"idle"`` after :meth:`create`)."""
        rows = self._query("SELECT status, reason, updated_at FROM status WHERE id = 1")
        if not rows:
            raise RecordError(f"the record {self.path} has no status row; it is incomplete")
        return RecordStatus(status=str(rows[0][0]), reason=str(rows[0][1]), updated_at=rows[0][2])

    def measurement_steps(self) -> NDArray[np.int64]:
        """The step of every recorded spectrum, in recording order, shape ``(n,)``.

        What :meth:`measurements` returns as ``steps``, without reading the spectra.
        """
        rows = self._query("SELECT step FROM measurements ORDER BY id")
        return np.array([int(r[0]) for r in rows], dtype=np.int64)

    def map_steps(self) -> list[int]:
        """Steps that have saved maps, ascending."""
        return [int(r[0]) for r in self._query("SELECT DISTINCT step FROM maps ORDER BY step")]

    @_decoded("the saved maps")
    def maps(self, step: int | None = None) -> dict[str, NDArray[np.float32]]:
        """The maps of the latest step ``<= step`` that has any (``None``: the latest).

        Returns
        -------
        dict of str to ndarray of shape (H, W)
            float32 maps; empty when no step qualifies.
        """
        try:
            with self._read() as conn:
                if step is None:
                    found = conn.execute("SELECT MAX(step) FROM maps").fetchone()
                else:
                    found = conn.execute(
                        "SELECT MAX(step) FROM maps WHERE step <= ?", (int(step),)
                    ).fetchone()
                if found is None or found[0] is None:
                    return {}
                rows = conn.execute(
                    "SELECT name, dtype, shape, blob FROM maps WHERE step = ? ORDER BY name",
                    (found[0],),
                ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _sqlite_failure(self.path, "read the record", exc) from exc
        return {str(r[0]): map_from_blob(r[3], r[1], r[2]) for r in rows}

    @_decoded("the last decision")
    def pending_points(self) -> NDArray[np.int64]:
        """Points of the last decision that have no measurement yet, in decision order.

        Returns
        -------
        ndarray of shape (p, 2)
            Overview pixels ``(row, col)``; ``(0, 2)`` when none or no decision.
        """
        try:
            with self._read() as conn:
                last = conn.execute(
                    "SELECT id, points FROM decisions ORDER BY id DESC LIMIT 1"
                ).fetchone()
                if last is None:
                    return np.zeros((0, 2), dtype=np.int64)
                done = {
                    int(r[0])
                    for r in conn.execute(
                        "SELECT point_index FROM measurements WHERE decision_id = ?", (last[0],)
                    )
                }
        except sqlite3.DatabaseError as exc:
            raise _sqlite_failure(self.path, "read the record", exc) from exc
        points = np.array(from_json(last[1]), dtype=np.int64).reshape(-1, 2)
        keep = [j for j in range(points.shape[0]) if j not in done]
        return points[keep]

    # -- exports ---------------------------------------------------------------

    def export_hdf5(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the whole record to an HDF5 file; see :func:`steerscope.records.export.to_hdf5`."""
        from steerscope.records.export import to_hdf5

        return to_hdf5(self, Path(path), overwrite=overwrite)

    def export_hspy(self, path: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write the spectra and the overview as HyperSpy files (``.hspy`` or Zarr ``.zspy``).

        See :func:`steerscope.records.export.to_hspy`.
        """
        from steerscope.records.export import to_hspy

        return to_hspy(self, Path(path), overwrite=overwrite)

    def export_nxem(
        self,
        path: str | Path,
        *,
        atom_types: Sequence[str],
        preparation_date: date | datetime,
        is_simulation: bool | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the record as a NeXus NXem file (NOMAD, pynxtools).

        See :func:`steerscope.records.nexus.to_nxem`.
        """
        from steerscope.records.nexus import to_nxem

        return to_nxem(
            self,
            Path(path),
            atom_types=atom_types,
            preparation_date=preparation_date,
            is_simulation=is_simulation,
            overwrite=overwrite,
        )

    # -- lifetime --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close every connection this record opened. Idempotent.

        A writer first checkpoints the write-ahead log into the ``.sqlite`` file, so the
        record is one file again once closed (a copy of it alone holds everything).
        """
        with self._write_lock, self._connections_lock:
            if not self._closed and not self.read_only:
                for entry in list(self._connections.values())[:1]:
                    with suppress(sqlite3.Error):
                        entry.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            self._closed = True
            for entry in self._connections.values():
                with suppress(sqlite3.Error):
                    entry.connection.close()
            self._connections.clear()
            if self._writer is not None:
                self._writer.release()

    def __enter__(self) -> CampaignRecord:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        state = "closed" if self._closed else mode
        return f"CampaignRecord({str(self.path)!r}, {state})"


def _started_at(measurement: Measurement, n: int) -> list[float] | None:
    """The measurement's start times as ``n`` floats, or None when it has none."""
    if measurement.started_at is None:
        return None
    started = np.asarray(measurement.started_at, dtype=np.float64).reshape(-1)
    if started.shape != (n,):
        raise RecordError(f"measurement started_at must have shape ({n},); got {started.shape}")
    return [float(t) for t in started]
