"""Files on disk: what SQLite keeps beside a record, and writing files whole or not at all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from steerscope.errors import RecordError

__all__ = ["SQLITE_SIDECARS", "written_whole"]

SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
"""Suffixes of the files SQLite keeps beside a database (``<file>-wal``, …)."""


def _partial(path: Path) -> Path:
    """Where ``path`` is written before it is complete: same folder and extension."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextmanager
def written_whole(
    *paths: Path, overwrite: bool = True, sidecars: Sequence[str] = ()
) -> Iterator[list[Path]]:
    """Temporary names for ``paths``, renamed onto them only once every one is written.

    A killed or failed write leaves no file under a final name (a partial export or
    fork would look like a good one); the temporary files, and the ``sidecars`` their
    writer kept beside them (``-wal``, ``.lock``), are removed in any case.

    Parameters
    ----------
    *paths : Path
        The final files (or folders: a Zarr store is one).
    overwrite : bool
        Replace a file that exists at a final name; if False and one appeared while
        writing, nothing is renamed and a RecordError says so.
    sidecars : sequence of str
        Suffixes of files beside each temporary one to remove at the end.

    Yields
    ------
    list of Path
        The temporary names, in the order of ``paths``.
    """
    partial = [_partial(p) for p in paths]
    try:
        yield partial
        if not overwrite:
            for final in paths:
                if final.exists():
                    raise RecordError(f"a file appeared at {final} while it was written; kept.")
        for temp, final in zip(partial, paths, strict=True):
            if temp.is_dir() and final.is_dir():
                shutil.rmtree(final)  # os.replace moves a folder only onto an empty one
            os.replace(temp, final)
    finally:
        for temp in partial:
            for suffix in ("", *sidecars):
                leftover = Path(f"{temp}{suffix}")
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
