"""One writer per record: an operating-system lock held for as long as the record is open to write.

Two processes writing one record (two ``steerscope resume`` of the same file)
would measure the same campaign twice — twice the dose on a real sample. A
writable :class:`~steerscope.records.CampaignRecord` therefore holds an
exclusive, non-blocking lock on ``<record>.lock`` (``flock`` on POSIX,
``msvcrt.locking`` on Windows). The operating system releases it when the
process ends, however it ends, so a crash never leaves a stale lock; the file
itself stays, holding who last wrote the record (process id, host, since).
Readers never lock: ``read_only=True`` opens work while a campaign runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from steerscope.errors import RecordError

__all__ = ["WriterLock", "lock_path", "locked_by"]


def lock_path(record: Path) -> Path:
    """The lock file of a record: ``<record>.lock`` beside it."""
    return record.with_name(record.name + ".lock")


class WriterLock:
    """An exclusive lock on a record for this process; :meth:`release` (or exit) frees it.

    Parameters
    ----------
    record : Path
        The record file.

    Raises
    ------
    RecordError
        If another process holds the lock (the message names it), or the lock
        file cannot be created.
    """

    def __init__(self, record: Path) -> None:
        self.path = lock_path(record)
        try:
            handle: IO[str] = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        except OSError as exc:
            raise RecordError(
                f"cannot create the writer lock {self.path} ({exc}); a record is written by one "
                "process at a time and the lock file must be creatable next to it. Open it "
                "read-only to look at it, or copy it to a writable folder to continue it."
            ) from exc
        if not _try_lock(handle):
            holder = _holder(self.path)
            handle.close()
            raise RecordError(
                f"{record} is being written by another process ({holder}); one process writes "
                "a record at a time. Stop that campaign first, or open the record read-only "
                "(CampaignRecord.open(path, read_only=True)) to watch it."
            )
        self._handle: IO[str] | None = handle
        handle.seek(0)
        handle.truncate()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        handle.write(json.dumps(info))
        handle.flush()

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._handle is not None

    def release(self) -> None:
        """Free the lock. Idempotent."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            _unlock(handle)
            handle.close()

    def __del__(self) -> None:
        # a record nobody holds any more is written by nobody: free its lock
        with contextlib.suppress(Exception):
            self.release()


def locked_by(record: Path) -> str | None:
    """Who holds ``record``'s writer lock (``"process 123 on host, since …"``), or None.

    Tries the lock and gives it back at once; a lock this process holds
    through another open file also counts as held.
    """
    path = lock_path(Path(record))
    if not path.exists():
        return None
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return None
    try:
        if _try_lock(handle):
            _unlock(handle)
            return None
        return _holder(path)
    finally:
        handle.close()


def _holder(path: Path) -> str:
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "process unknown"
    since = info.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    return f"process {info.get('pid', '?')} on {info.get('host', '?')}, since {when}"


if sys.platform == "win32":  # pragma: no cover - exercised on Windows microscope PCs
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        with contextlib.suppress(OSError):
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
