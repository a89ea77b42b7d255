"""Where steerscope keeps data on disk, and the cache of parsed microscope files.

Reading a vendor file can take far longer than a campaign step (a Velox
``.emd`` EDX spectrum image: its frames are decoded from a sparse stream and
summed), and a file is read again by every campaign, resume and sweep task
that uses it. :func:`load <steerscope.data.load>` therefore keeps what it parsed
from HyperSpy formats as an uncompressed ``.npz`` under :func:`parsed_cache_dir`,
keyed by the file's resolved path, size and modification time, the reader
options and the overview file. A file that changes on disk misses the cache; an
unreadable cache entry is read again from the file and replaced; a cache that
cannot be written (read-only home, full disk) only costs the next read its time.
The cache holds at most :data:`MAX_CACHE_BYTES`: the entries read least
recently are removed to make room, and a file larger than that is not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from steerscope.data.spectrum_image import SpectrumImage
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["data_dir", "parsed_cache_dir", "parsed_cache_key", "read_parsed", "write_parsed"]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Version of the cache entries; a new one makes every older entry miss."""

MAX_CACHE_BYTES = 4 * 2**30
"""Most bytes the parsed-file cache holds; the least recently used entries go first."""


def data_dir() -> Path:
    """Directory that holds downloaded and recorded data.

    Returns
    -------
    Path
        ``$STEERSCOPE_DATA`` when set, else ``~/.cache/steerscope``. Not created here.
    """
    env = os.environ.get("STEERSCOPE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "steerscope"


def parsed_cache_dir() -> Path:
    """Directory of the parsed-file cache.

    Returns
    -------
    Path
        ``$STEERSCOPE_CACHE`` when set, else ``data_dir() / "parsed"``. Not created here.
    """
    env = os.environ.get("STEERSCOPE_CACHE")
    return Path(env).expanduser() if env else data_dir() / "parsed"


def _stat(path: Path) -> list[Any]:
    """Path, size and newest mtime; of every file inside for a folder (a Zarr ``.zspy``)."""
    if path.is_dir():
        files = [p.stat() for p in path.rglob("*") if p.is_file()]
        size = sum(f.st_size for f in files)
        newest = max((f.st_mtime_ns for f in files), default=path.stat().st_mtime_ns)
        return [str(path.resolve()), size, newest, len(files)]
    info = path.stat()
    return [str(path.resolve()), info.st_size, info.st_mtime_ns]


def parsed_cache_key(file: Path, options: dict[str, Any], overview: Any) -> str | None:
    """The cache key of one read: file identity, reader options and the overview file.

    Parameters
    ----------
    file : Path
        The spectrum-image file (must exist).
    options : dict
        Every option that changes what is read (``signal``, binning, units, the
        HyperSpy reader's own options).
    overview : str, Path, array or None
        The ``overview=`` of :func:`~steerscope.data.load`.

    Returns
    -------
    str or None
        A hex digest; None when the read cannot be cached (an in-memory overview
        array, or a file whose status cannot be read).
    """
    if overview is not None and not isinstance(overview, str | Path):
        return None
    try:
        parts: list[Any] = [CACHE_FORMAT, _stat(file)]
        if overview is not None:
            parts.append(_stat(Path(overview).expanduser()))
    except OSError:
        return None
    text = json.dumps([parts, sorted(options.items())], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(key: str) -> Path:
    return parsed_cache_dir() / f"{key}.npz"


def read_parsed(key: str) -> SpectrumImage | None:
    """The spectrum image cached under ``key``, or None when there is none (or it is unreadable)."""
    path = _entry(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            info = json.loads(str(npz["info"]))
            image = SpectrumImage(
                overview=npz["overview"],
                spectra=npz["spectra"],
                energy=EnergyAxis(**info["energy"]),
                signal_kind=SignalKind(info["signal_kind"]),
                pixel_size=float(info["pixel_size"]),
                pixel_units=str(info["pixel_units"]),
                metadata=dict(info["metadata"]),
            )
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring the unreadable cache entry %s (%s); reading the file", path, exc)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: evicted last
    image.metadata["parsed_cache"] = str(path)
    return image


def _make_room(folder: Path, needed: int) -> bool:
    """Remove the least recently used entries until ``needed`` more bytes fit."""
    if needed > MAX_CACHE_BYTES:
        return False
    entries = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in entries)
    for entry in entries:
        if total + needed <= MAX_CACHE_BYTES:
            break
        total -= entry.stat().st_size
        entry.unlink(missing_ok=True)
    return total + needed <= MAX_CACHE_BYTES


def write_parsed(key: str, image: SpectrumImage) -> Path | None:
    """Cache ``image`` under ``key``; returns the entry, or None when it could not be written."""
    path = _entry(key)
    info = {
        "energy": {
            "size": image.energy.size,
            "offset": image.energy.offset,
            "scale": image.energy.scale,
            "units": image.energy.units,
        },
        "signal_kind": image.signal_kind.value,
        "pixel_size": image.pixel_size,
        "pixel_units": image.pixel_units,
        "metadata": json.loads(json.dumps(image.metadata, default=str)),
    }
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    size = int(np.asarray(image.spectra).nbytes + image.overview.nbytes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _make_room(path.parent, size):
            logger.info("not caching %s: %d bytes, more than the cache holds", path.name, size)
            return None
        with tmp.open("wb") as out:
            np.savez(
                out,
                overview=image.overview,
                spectra=np.asarray(image.spectra),
                info=np.array(json.dumps(info)),
            )
        tmp.replace(path)
    except OSError as exc:
        logger.warning("could not cache the parsed file in %s (%s)", path.parent, exc)
        tmp.unlink(missing_ok=True)
        return None
    return path
