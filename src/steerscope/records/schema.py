"""The SQLite schema of a campaign record, and how arrays and JSON are stored in it.

Arrays are stored as raw bytes with their dtype and shape next to them, so any
SQLite client can read a record without NumPy's file format. JSON columns hold
plain JSON (non-finite floats in decision arrays become ``null``).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import RecordError

__all__ = [
    "APPLICATION_ID",
    "APPLICATION_NAME",
    "CHECKSUMS_TABLE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "array_from_blob",
    "array_to_blob",
    "crc32",
    "energy_to_dict",
    "float_array",
    "float_list",
    "from_json",
    "is_mapping",
    "json_plain",
    "map_from_blob",
    "map_to_blob",
    "to_json",
]

APPLICATION_ID = int.from_bytes(b"StSc", "big")
"""Written to ``PRAGMA application_id`` (header bytes 68–71) of every record."""

APPLICATION_NAME = "steerscope-campaign-record"
"""Value of ``meta.application``."""

SCHEMA_VERSION = 1
"""Bumped when the tables change shape; a record from a newer version is refused."""

CHECKSUMS_TABLE = """
CREATE TABLE IF NOT EXISTS checksums (
    kind   TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    crc32  INTEGER NOT NULL,
    PRIMARY KEY (kind, row_id)
)"""
"""CRC-32 of each stored array (``kind`` "spectrum" or "overview"), checked on read.

A table of its own (not a column), so records written before it still open: their
rows simply have no checksum to check. Older steerscope versions ignore the table.
"""


def crc32(blob: bytes) -> int:
    """The CRC-32 of a stored array's bytes (any single flipped bit changes it)."""
    return zlib.crc32(blob) & 0xFFFFFFFF


SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE config (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);
CREATE TABLE overview (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    image       BLOB NOT NULL,
    dtype       TEXT NOT NULL,
    shape       TEXT NOT NULL,
    pixel_size  REAL NOT NULL,
    pixel_units TEXT NOT NULL,
    metadata    TEXT NOT NULL
);
CREATE TABLE instrument (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);
CREATE TABLE decisions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    step              INTEGER NOT NULL,
    points            TEXT NOT NULL,
    predicted_mean    TEXT NOT NULL,
    predicted_var     TEXT NOT NULL,
    acquisition_value TEXT NOT NULL,
    model             TEXT NOT NULL,
    scalarizer        TEXT NOT NULL,
    policy            TEXT NOT NULL,
    timings           TEXT NOT NULL,
    created_at        REAL NOT NULL
);
CREATE TABLE measurements (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    step         INTEGER NOT NULL,
    decision_id  INTEGER REFERENCES decisions(id),
    point_index  INTEGER,
    row          INTEGER NOT NULL,
    col          INTEGER NOT NULL,
    spectrum     BLOB NOT NULL,
    dtype        TEXT NOT NULL,
    n_channels   INTEGER NOT NULL,
    energy       TEXT NOT NULL,
    signal_kind  TEXT NOT NULL,
    acquired_at  REAL NOT NULL,
    dwell_time_s REAL NOT NULL,
    metadata     TEXT NOT NULL,
    CHECK ((decision_id IS NULL) = (point_index IS NULL))
);
CREATE UNIQUE INDEX measurements_decision_point
    ON measurements (decision_id, point_index) WHERE decision_id IS NOT NULL;
CREATE TABLE interventions (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    step   INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    before TEXT NOT NULL,
    after  TEXT NOT NULL,
    at     REAL NOT NULL
);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    step    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE TABLE status (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE maps (
    step  INTEGER NOT NULL,
    name  TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    blob  BLOB NOT NULL,
    PRIMARY KEY (step, name)
);
"""

_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def to_json(value: Any, what: str) -> str:
    """Serialise ``value`` as JSON (NumPy values, enums and paths converted).

    Raises
    ------
    RecordError
        If ``value`` holds something JSON cannot express; ``what`` names it.
    """
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise RecordError(
            f"the {what} must be JSON-serialisable (dicts, lists, str, numbers, bools, None, "
            f"NumPy arrays); {exc}. Convert it to plain values before recording it."
        ) from exc


def json_plain(value: Any) -> Any:
    """A copy made of JSON's plain values: NaN and inf as None, NumPy scalars as numbers.

    Tuples become lists; anything else that is not a plain value becomes its ``str``.
    """
    if isinstance(value, dict):
        return {str(k): json_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def from_json(text: str) -> Any:
    """Parse a JSON column."""
    return json.loads(text)


def float_list(values: NDArray[np.floating[Any]]) -> list[float | None]:
    """A float array as a JSON list, non-finite values as ``None``."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, float).tolist()]


def float_array(values: list[float | None]) -> NDArray[np.float64]:
    """Inverse of :func:`float_list`: ``None`` back to NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def array_to_blob(array: NDArray[Any]) -> tuple[bytes, str, str]:
    """Raw little-endian bytes, dtype string and JSON shape of ``array``."""
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr.tobytes(), arr.dtype.str, json.dumps(list(arr.shape))


def array_from_blob(blob: bytes, dtype: str, shape: str | Any) -> NDArray[Any]:
    """Inverse of :func:`array_to_blob` (a writable copy)."""
    dims = json.loads(shape) if isinstance(shape, str) else shape
    return np.frombuffer(blob, dtype=np.dtype(dtype)).reshape(dims).copy()


def map_to_blob(array: NDArray[Any]) -> tuple[bytes, str, str]:
    """A 2-D map compressed for storage: float16 when it fits, else float32; zlib.

    float16 keeps ~3 significant digits, plenty for a map to look at. Maps whose
    finite values exceed float16's range (about 65504, e.g. raw count sums) are
    kept as float32 instead of turning into infinities.
    """
    arr = np.asarray(array, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    fits = finite.size == 0 or float(np.max(np.abs(finite))) <= _FLOAT16_MAX
    stored = arr.astype(np.float16 if fits else np.float32)
    raw, dtype, shape = array_to_blob(stored)
    return zlib.compress(raw, 6), dtype, shape


def map_from_blob(blob: bytes, dtype: str, shape: str) -> NDArray[np.float32]:
    """Inverse of :func:`map_to_blob`, as float32."""
    return array_from_blob(zlib.decompress(blob), dtype, shape).astype(np.float32)


def energy_to_dict(size: int, offset: float, scale: float, units: str) -> dict[str, Any]:
    """The JSON form of an energy axis."""
    return {"size": int(size), "offset": float(offset), "scale": float(scale), "units": units}


def is_mapping(value: Any) -> bool:
    """Whether ``value`` is a dict-like mapping."""
    return isinstance(value, Mapping)
