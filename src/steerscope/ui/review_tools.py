"""Review page helpers without Streamlit: find records, read their history step by step."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import SteerscopeError
from steerscope.records import CampaignRecord

__all__ = [
    "RECORD_SUFFIX",
    "ReplayJob",
    "ReplayJobs",
    "find_records",
    "fork_output_path",
    "intervention_rows",
    "kaleido_available",
    "measured_until",
    "phases_until",
    "record_steps",
    "timeline_events",
]

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".sqlite"
"""Conventional file suffix of a campaign record."""


def find_records(folder: Path) -> list[Path]:
    """Campaign records in ``folder`` (not recursive), newest first.

    Parameters
    ----------
    folder : Path
        The records folder; a missing folder has no records.
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix == RECORD_SUFFIX]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def record_steps(record: CampaignRecord) -> list[int]:
    """Every step that left a trace (decision, measurement or saved maps), ascending."""
    steps = {d.step for d in record.decisions()}
    steps.update(int(s) for s in record.measurement_steps().tolist())
    steps.update(record.map_steps())
    return sorted(steps) or [0]


def measured_until(record: CampaignRecord, step: int) -> NDArray[np.int64]:
    """Pixels measured at steps ``<= step``, in acquisition order, shape ``(n, 2)``."""
    measured = record.measurements()
    keep = measured.steps <= step
    return np.asarray(measured.points[keep], dtype=np.int64).reshape(-1, 2)


def phases_until(record: CampaignRecord, step: int) -> list[str]:
    """What chose each pixel of :func:`measured_until` (``"seed point"``, ``"UCB β 1"``, ...)."""
    from steerscope.campaign.proposals import step_phases

    phases = step_phases(record.decisions())
    steps = record.measurement_steps()
    return [phases.get(int(s), "measured") for s in steps[steps <= step]]


def timeline_events(record: CampaignRecord) -> list[tuple[int, str, str]]:
    """Interventions and log events as ``(step, kind, text)``, in time order."""
    rows: list[tuple[float, int, str, str]] = []
    for item in record.interventions():
        rows.append((item.at, item.step, item.kind, f"{item.before} → {item.after}"))
    for event in record.events():
        rows.append((event.at, event.step, f"event: {event.kind}", event.message))
    rows.sort(key=lambda r: r[0])
    return [(step, kind, text) for _, step, kind, text in rows]


def intervention_rows(record: CampaignRecord) -> list[dict[str, Any]]:
    """One table row per intervention: step, kind and the change in words (no raw dicts)."""
    from steerscope.campaign.interventions import describe_change

    return [
        {"step": i.step, "kind": i.kind, "change": describe_change(i.kind, i.before, i.after)}
        for i in record.interventions()
    ]


def kaleido_available() -> bool:
    """Whether plotly can export static images (needs the ``kaleido`` package)."""
    return importlib.util.find_spec("kaleido") is not None


def fork_output_path(folder: Path, source: str | Path, from_step: int) -> Path:
    """A record path for a fork of ``source`` at ``from_step`` that does not exist yet.

    ``<folder>/<source stem>-fork<K>.sqlite``, then ``-fork<K>-2``, ``-3``, ... so a
    second what-if from the same step never collides with the first.
    """
    stem = f"{Path(source).stem}-fork{int(from_step)}"
    candidate = folder / f"{stem}{RECORD_SUFFIX}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{RECORD_SUFFIX}"
        n += 1
    return candidate


ReplayStatus = Literal["running", "finished", "cancelled", "error"]


class _Cancelled(Exception):
    """Raised from the step callback to end a cancelled replay between two steps."""


class ReplayJob:
    """One what-if replay (:func:`steerscope.campaign.replay`) on a background thread.

    The page submits it and returns at once; any rerun reads :attr:`status`,
    :attr:`steps_done` and :attr:`message` without blocking.

    Parameters
    ----------
    source : str or Path
        The record to fork.
    from_step : int
        Fork before this step.
    changes : mapping of str to object
        Dotted config path → value (``{"policy.beta": 2.0}``).
    out_path : str or Path
        The new record (must not exist).

    Attributes
    ----------
    status : {"running", "finished", "cancelled", "error"}
        What the job is doing ("running" from :meth:`start` until it ends).
    message : str
        Why it ended in error or was cancelled ("" otherwise).
    steps_done : int
        Steps the fork has run so far.
    """

    def __init__(
        self,
        source: str | Path,
        from_step: int,
        changes: Mapping[str, Any],
        out_path: str | Path,
    ) -> None:
        self.source = str(source)
        self.from_step = int(from_step)
        self.changes = dict(changes)
        self.out_path = str(out_path)
        self.status: ReplayStatus = "running"
        self.message = ""
        self.steps_done = 0
        self.started_at = time.time()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReplayJob:
        """Start the background thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self._run, name=f"steerscope-replay-{Path(self.out_path).stem}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """Whether the job has ended (finished, cancelled or in error)."""
        return self.status != "running"

    def cancel(self, timeout: float = 30.0) -> bool:
        """Ask the job to stop after its current step and wait at most ``timeout`` seconds.

        Returns
        -------
        bool
            True if the thread has ended. The fork stays resumable.
        """
        self._cancel.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, result: Any) -> None:
        self.steps_done += 1
        if self._cancel.is_set():
            raise _Cancelled

    def _run(self) -> None:
        from steerscope.campaign import replay

        try:
            replay(
                self.source, self.from_step, self.changes, self.out_path, callback=self._progress
            )
        except _Cancelled:
            self.message = f"cancelled after {self.steps_done} step(s); the fork is resumable"
            self._mark_paused(self.message)
            self.status = "cancelled"
        except SteerscopeError as exc:
            self.message = " ".join(str(exc).split())
            self.status = "error"
        except Exception as exc:  # a bug must show on the page, not vanish with the thread
            log.exception("what-if replay failed")
            self.message = f"{type(exc).__name__}: {exc}"
            self.status = "error"
        else:
            self.status = "finished"

    def _mark_paused(self, reason: str) -> None:
        try:
            with CampaignRecord.open(self.out_path) as record:
                record.set_status("paused", reason)
        except SteerscopeError as exc:
            log.warning("cannot mark the cancelled fork as paused: %s", exc)


class ReplayJobs:
    """Process-wide list of what-if replays, shared by every browser tab (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[ReplayJob] = []

    def submit(
        self,
        source: str | Path,
        from_step: int,
        changes: Mapping[str, Any],
        out_path: str | Path,
    ) -> ReplayJob:
        """Start a :class:`ReplayJob` and keep it; returns it at once."""
        job = ReplayJob(source, from_step, changes, out_path)
        with self._lock:
            self._jobs.append(job)
        return job.start()

    def jobs(self) -> list[ReplayJob]:
        """Every job, newest first."""
        with self._lock:
            return sorted(self._jobs, key=lambda j: j.started_at, reverse=True)

    def stop_all(self, timeout: float = 10.0) -> None:
        """Cancel every job (each bounded by ``timeout`` seconds) and forget them."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.cancel(timeout)
