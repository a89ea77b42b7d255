"""Run a sweep's campaigns on Dask, idempotently, and summarise them.

Each run is one Dask task, :func:`execute_run`, that owns exactly one record,
``out_dir/runs/<run_id>.sqlite``, and one result file next to it,
``runs/<run_id>.json``. A task decides from what is on disk:

- record finished and result present → nothing to do (``action="skipped"``);
- record present but unfinished (a worker was lost mid-run) → ``Campaign.resume``
  carries on from the last recorded spectrum (``"resumed"``);
- record failed (``"error"`` status) or unreadable → moved aside to
  ``runs/<run_id>.failed-<n>.sqlite`` and the run starts again (``"redone"``);
- no record → a new campaign (``"created"``).

So rerunning a sweep, or Dask re-running a task whose worker died, never does
finished work twice and never loses a recorded spectrum.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.campaign import (
    Campaign,
    CampaignConfig,
    DatasetSource,
    RemoteSource,
    StepResult,
    build_instrument,
    discovery_curve,
)
from steerscope.errors import ConfigError, RecordError, SteerscopeError
from steerscope.records import CampaignRecord
from steerscope.records.files import SQLITE_SIDECARS
from steerscope.scalarizers import parse_scalarizer, target_map
from steerscope.sweeps.spec import SweepRun, SweepSpec, load_sweep
from steerscope.sweeps.summary import markdown_table, write_atomic, write_summary

__all__ = [
    "RunTask",
    "StepHook",
    "SweepResult",
    "execute_run",
    "run_sweep",
    "sweep_from_cli",
]

StepHook = Callable[[str, StepResult], None]
"""Called in the worker after every step as ``hook(run_id, step_result)`` (tests, progress)."""

RUNS_FOLDER = "runs"


@dataclass(frozen=True)
class RunTask:
    """Everything one worker needs to run (or skip, resume, redo) one sweep run.

    Parameters
    ----------
    run : SweepRun
        The run and its full config.
    out_dir : str
        The sweep folder; the record goes to ``out_dir/runs/<run_id>.sqlite``.
    checkpoints : tuple of int
        Measurement counts reported as discovery.
    ground_truth : str
        ``"auto"``, ``"scalarizer"`` or ``"none"`` (see :class:`SweepSpec`).
    top_fraction : float
        Fraction of the ground truth counted as the best pixels.
    radius_px : float
        A best pixel counts as found by a measurement within this distance.
    """

    run: SweepRun
    out_dir: str
    checkpoints: tuple[int, ...] = (25, 50, 100)
    ground_truth: str = "auto"
    top_fraction: float = 0.01
    radius_px: float = 2.0

    @property
    def record_path(self) -> Path:
        """``out_dir/runs/<run_id>.sqlite``."""
        return Path(self.out_dir) / RUNS_FOLDER / f"{self.run.run_id}.sqlite"

    @property
    def result_path(self) -> Path:
        """``out_dir/runs/<run_id>.json``: the run's summary row, written when it ends."""
        return Path(self.out_dir) / RUNS_FOLDER / f"{self.run.run_id}.json"


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did.

    Parameters
    ----------
    out_dir : Path
        The sweep folder.
    rows : list of dict
        One summary row per run, in the sweep's order.
    files : dict of str to Path
        ``csv``, ``markdown``, ``json``, ``plot`` summary files.
    seconds : float
        Wall-clock time of the whole sweep.
    n_workers : int
        Workers the cluster had when the sweep started.
    """

    out_dir: Path
    rows: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    n_workers: int = 0

    @property
    def ok(self) -> bool:
        """Whether every run finished."""
        return all(row.get("status") == "finished" for row in self.rows)


# -- one run (executed on a worker) ---------------------------------------------------------


def _comparable(config: dict[str, Any], resolved_scalarizer: bool) -> dict[str, Any]:
    """The parts of a config that decide what a run measures (not its name or folder)."""
    drop = {"name", "records_dir"} | (set() if resolved_scalarizer else {"scalarizer"})
    return {k: v for k, v in config.items() if k not in drop}


def _move_aside(path: Path) -> Path:
    """Rename a failed record (and its SQLite side files) to ``<id>.failed-<n>.sqlite``."""
    n = 1
    while (aside := path.with_name(f"{path.stem}.failed-{n}{path.suffix}")).exists():
        n += 1
    for suffix in SQLITE_SIDECARS:
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    os.replace(path, aside)
    return aside


def _record_state(task: RunTask) -> tuple[str, str]:
    """``(state, why)`` of the run's record: missing, finished, incomplete, failed, conflict."""
    path = task.record_path
    if not path.exists():
        return "missing", ""
    try:
        with CampaignRecord.open(path, read_only=True) as record:
            status = record.status()
            stored = record.config()
    except RecordError as exc:
        return "failed", f"unreadable record: {exc}"
    expected = task.run.config.to_dict()
    resolved = expected.get("scalarizer") is not None
    if _comparable(stored, resolved) != _comparable(expected, resolved):
        return "conflict", (
            f"the record {path} was made with a different campaign config than this sweep's "
            f"run {task.run.run_id} ({task.run.name}); the sweep's base config changed since. "
            "Use a new out_dir, or delete the record to redo the run."
        )
    if status.status == "finished":
        return "finished", status.reason
    if status.status == "error":
        return "failed", status.reason
    return "incomplete", status.status


def _ground_truth(
    task: RunTask, config: CampaignConfig, dataset: Any
) -> tuple[NDArray[np.float64] | None, str]:
    """The truth discovery is scored against, shape (H, W), and a note saying what it is."""
    mode = task.ground_truth
    if mode == "none":
        return None, "none (ground_truth: none)"
    spec = parse_scalarizer(config.scalarizer or {})
    if dataset is not None and mode == "auto":
        default = parse_scalarizer(dataset.default_scalarizer)
        if default.model_dump(mode="json") == spec.model_dump(mode="json"):
            return np.asarray(dataset.ground_truth, dtype=np.float64), "dataset ground truth"
    if dataset is None and mode == "auto":
        return None, (
            "none: a file source has no ground truth (set `ground_truth: scalarizer` to score "
            "against the run's scalarizer over every stored spectrum)"
        )
    if dataset is not None:
        image = dataset.image
    else:
        from steerscope.campaign import FileSource
        from steerscope.data import load

        assert isinstance(config.source, FileSource)
        image = load(config.source.file, **config.source.options)
    return target_map(spec, image), f"{spec.label} over every stored spectrum"


def _summarise_record(task: RunTask, dataset: Any) -> dict[str, Any]:
    """The summary row of a run, computed from its record alone (plus the ground truth)."""
    with CampaignRecord.open(task.record_path, read_only=True) as record:
        config = CampaignConfig.model_validate(record.config())
        measured = record.measurements()
        status = record.status()
    n = len(measured)
    best = float("nan")
    if n and measured.energy is not None:
        spec = parse_scalarizer(config.scalarizer or {})
        ok = np.all(np.isfinite(measured.spectra), axis=1)
        if ok.any():
            values = np.asarray(spec.apply(measured.spectra[ok], measured.energy), np.float64)
            if values.ndim == 2:
                values = values[:, 0]
            finite = values[np.isfinite(values)]
            best = float(finite.max()) if finite.size else best
    step_ends = [
        float(measured.acquired_at[measured.steps == s].max()) for s in np.unique(measured.steps)
    ]
    median_step = float(np.median(np.diff(step_ends))) if len(step_ends) > 1 else float("nan")
    truth, note = _ground_truth(task, config, dataset)
    curve: list[tuple[int, float]] = []
    if truth is not None and n:
        curve = discovery_curve(
            truth, measured.points, top_fraction=task.top_fraction, radius=task.radius_px
        )
    discovery: dict[str, float | None] = {
        str(k): (curve[k - 1][1] if curve and k <= len(curve) else None) for k in task.checkpoints
    }
    run_status = "finished" if status.status == "finished" else status.status
    if run_status == "error":
        run_status = "failed"
    return {
        "run_id": task.run.run_id,
        "name": task.run.name,
        "overrides": task.run.overrides,
        "status": run_status,
        "reason": status.reason,
        "n_measured": n,
        "budget": config.budget.measurements,
        "discovery": discovery,
        "discovery_curve": [[int(k), float(f)] for k, f in curve],
        "median_step_s": median_step if math.isfinite(median_step) else None,
        "best_target": best if math.isfinite(best) else None,
        "ground_truth": note,
        "record": str(task.record_path),
        "error": "",
    }


def _failed_row(task: RunTask, action: str, error: str) -> dict[str, Any]:
    return {
        "run_id": task.run.run_id,
        "name": task.run.name,
        "overrides": task.run.overrides,
        "status": "failed",
        "action": action,
        "reason": "",
        "n_measured": 0,
        "budget": task.run.config.budget.measurements,
        "discovery": {str(k): None for k in task.checkpoints},
        "discovery_curve": [],
        "median_step_s": None,
        "best_target": None,
        "ground_truth": "",
        "record": str(task.record_path),
        "error": error,
    }


def execute_run(task: RunTask, step_hook: StepHook | None = None) -> dict[str, Any]:
    """Run one sweep run to its budget, or skip/resume/redo it from what its record says.

    Meant to run as a Dask task; safe to run again after any interruption. Only
    this task writes ``task.record_path`` and ``task.result_path``. A run that
    raises is recorded as failed (record status ``"error"``) and reported in the
    returned row instead of raising, so one bad setting does not stop a sweep.

    Parameters
    ----------
    task : RunTask
    step_hook : callable, optional
        ``hook(run_id, step_result)`` after every step.

    Returns
    -------
    dict
        The run's summary row: ``run_id``, ``name``, ``overrides``, ``status``
        (``finished``/``failed``/``conflict``/...), ``action`` (``created``,
        ``resumed``, ``redone``, ``skipped``), ``n_measured``, ``budget``,
        ``discovery`` (checkpoint → fraction or None), ``discovery_curve``
        (``[[k, fraction], ...]``), ``median_step_s``, ``best_target``,
        ``ground_truth`` (what discovery was scored against), ``record``,
        ``error``, ``seconds``.
    """
    try:
        import torch

        torch.set_num_threads(1)  # one core per worker: N workers never oversubscribe N cores
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    started = time.perf_counter()
    task.record_path.parent.mkdir(parents=True, exist_ok=True)
    state, why = _record_state(task)
    if state == "conflict":
        row = _failed_row(task, "none", why)
        row["status"] = "conflict"
        return row
    if state == "finished" and task.result_path.is_file():
        row = dict(json.loads(task.result_path.read_text(encoding="utf-8")))
        row.update(
            name=task.run.name,
            overrides=task.run.overrides,
            action="skipped",
            seconds=time.perf_counter() - started,
        )
        return row
    if state == "failed":
        _move_aside(task.record_path)
    dataset = None
    action = {"missing": "created", "failed": "redone", "incomplete": "resumed"}.get(
        state, "summarised"
    )
    if state != "finished":
        try:
            if state == "incomplete":
                campaign = Campaign.resume(task.record_path)
            else:
                campaign = Campaign.create(task.run.config, task.record_path)
        except SteerscopeError as exc:
            return _failed_row(task, action, f"{type(exc).__name__}: {exc}")
        run_id = task.run.run_id
        callback = None if step_hook is None else (lambda r: step_hook(run_id, r))
        try:
            dataset = campaign.dataset
            campaign.run(callback=callback)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            campaign.log("sweep_run_failed", traceback.format_exc(limit=5))
            campaign.record.set_status("error", message)
        finally:
            campaign.close()
    if dataset is None and task.ground_truth != "none":
        config = task.run.config
        if isinstance(config.source, DatasetSource):
            instrument, dataset = build_instrument(config)
            instrument.close()
    row = _summarise_record(task, dataset)
    if row["status"] == "failed":
        row["error"] = row["reason"]
    write_atomic(task.result_path, json.dumps(row, indent=1) + "\n")
    row.update(action=action, seconds=time.perf_counter() - started)
    return row


# -- the sweep (executed on the client) ------------------------------------------------------


def _echo_row(echo: Callable[[str], None], i: int, n: int, row: dict[str, Any]) -> None:
    found = [f"@{k}={v:.2f}" for k, v in (row.get("discovery") or {}).items() if v is not None]
    best = row.get("best_target")
    text = (
        f"[{i}/{n}] {row.get('action', ''):9} {row['run_id']} {row['name']}: {row['status']}"
        f" ({row.get('n_measured', 0)}/{row.get('budget', '?')} measured"
        + (f", best {best:.4g}" if isinstance(best, float) else "")
        + (f", discovery {' '.join(found)}" if found else "")
        + (f", {row.get('seconds', 0.0):.1f} s)" if "seconds" in row else ")")
    )
    if row.get("error"):
        text += f"\n      {row['error'].splitlines()[0][:200]}"
    echo(text)


def _check_sources(runs: list[SweepRun]) -> None:
    remote = [run.name for run in runs if isinstance(run.config.source, RemoteSource)]
    if remote:
        raise ConfigError(
            f"sweep runs {remote} use a remote microscope; a sweep replays pre-acquired data. "
            "Set `source: {dataset: ...}` or `source: {file: ...}` in the base or the run."
        )


def _run_on_dask(
    tasks: list[RunTask],
    scheduler: str | None,
    workers: int | None,
    step_hook: StepHook | None,
    say: Callable[[str], None],
    done: int,
    total: int,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Run ``tasks`` on a new local cluster or an existing scheduler; rows by run id."""
    import importlib.util

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            # port 0: the scheduler's HTTP server takes a free loopback port, never 8787
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler {scheduler!r}: {exc}. Start one with "
                "`dask scheduler` (and `dask worker ADDRESS` per machine), or leave out "
                "--scheduler to use a local cluster."
            ) from exc
    rows: dict[str, dict[str, Any]] = {}
    try:
        info = client.scheduler_info()
        n_workers = len(info.get("workers", {}))
        where = f"local cluster of {n_workers}" if cluster else f"scheduler {scheduler} with"
        say(f"running {len(tasks)} run(s) on {where} worker(s)")
        has_pages = cluster is None or importlib.util.find_spec("bokeh") is not None
        if has_pages and "dashboard" in info.get("services", {}):
            say(f"dashboard: {client.dashboard_link}")
        token = uuid.uuid4().hex[:8]  # fresh keys: a long-lived cluster never returns old results
        futures = client.map(
            execute_run,
            tasks,
            key=[f"steerscope-sweep-{task.run.run_id}-{token}" for task in tasks],
            step_hook=step_hook,
        )
        by_key = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for i, future in enumerate(as_completed(futures), start=done + 1):
            task = by_key[future.key]
            try:
                row = future.result()
            except Exception as exc:  # e.g. KilledWorker: the task's workers died repeatedly
                row = _failed_row(task, "lost", f"{type(exc).__name__}: {exc}")
            rows[task.run.run_id] = row
            _echo_row(say, i, total, row)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return n_workers, rows


def run_sweep(
    spec: SweepSpec | dict[str, Any] | str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    out_dir: str | Path | None = None,
    step_hook: StepHook | None = None,
    echo: Callable[[str], None] | None = print,
) -> SweepResult:
    """Run every campaign of a sweep on Dask and write the summary.

    Parameters
    ----------
    spec : SweepSpec, dict, or path of a sweep YAML
        See :func:`~steerscope.sweeps.load_sweep`.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); None starts
        a ``LocalCluster`` on this machine, one single-threaded worker process
        per core (or ``workers``), bound to 127.0.0.1 (its HTTP server on a free port).
        Workers of an existing cluster must see ``out_dir`` (a shared folder).
    workers : int, optional
        Worker processes of the local cluster (default: all cores). Ignored with
        ``scheduler``.
    out_dir : str or Path, optional
        Overrides the spec's ``out_dir``.
    step_hook : callable, optional
        ``hook(run_id, step_result)`` called on the worker after each step; must
        be picklable.
    echo : callable or None
        Receives one progress line per finished run (None: silent).

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        For a bad spec (before any run starts) or a bad ``workers``.
    """
    say = echo if echo is not None else (lambda _text: None)
    sweep = load_sweep(spec)
    if out_dir is not None:
        sweep = sweep.model_copy(update={"out_dir": str(out_dir)})
    runs = sweep.expand()
    _check_sources(runs)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be an integer >= 1; got {workers!r}.")
    folder = Path(sweep.out_dir)
    (folder / RUNS_FOLDER).mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "sweep.yaml", sweep.to_yaml())
    tasks = [
        RunTask(
            run=run,
            out_dir=str(folder.resolve()),
            checkpoints=tuple(sweep.checkpoints),
            ground_truth=sweep.ground_truth,
            top_fraction=sweep.top_fraction,
            radius_px=sweep.radius_px,
        )
        for run in runs
    ]
    started = time.perf_counter()
    rows_by_id: dict[str, dict[str, Any]] = {}
    pending: list[RunTask] = []
    for task in tasks:
        # Finished runs are read here, without starting a cluster; each task checks again.
        state, _ = _record_state(task)
        if state == "finished" and task.result_path.is_file():
            row = dict(json.loads(task.result_path.read_text(encoding="utf-8")))
            rows_by_id[task.run.run_id] = {
                **row,
                "name": task.run.name,
                "overrides": task.run.overrides,
                "action": "skipped",
                "seconds": 0.0,
            }
        else:
            pending.append(task)
    n_workers = 0
    say(
        f"sweep {sweep.name!r}: {len(tasks)} run(s), {len(tasks) - len(pending)} already "
        f"finished; records in {folder}"
    )
    done = len(rows_by_id)
    if pending:
        n_workers, new_rows = _run_on_dask(
            pending, scheduler, workers, step_hook, say, done, len(tasks)
        )
        rows_by_id.update(new_rows)
    rows = [rows_by_id[task.run.run_id] for task in tasks]
    files = write_summary(folder, rows, checkpoints=sweep.checkpoints, title=sweep.name)
    seconds = time.perf_counter() - started
    say(f"summary: {files['markdown']} ({seconds:.1f} s)")
    return SweepResult(folder, rows, files, seconds, n_workers)


def sweep_from_cli(
    path: str, scheduler: str | None, workers: int | None, out_dir: str | None
) -> int:
    """The ``steerscope sweep SWEEP.yaml`` command: run the sweep, print the table.

    Parameters
    ----------
    path : str
        The sweep YAML.
    scheduler : str or None
        Dask scheduler address (None: a local cluster).
    workers : int or None
        Local workers (None: all cores).
    out_dir : str or None
        Overrides the spec's ``out_dir``.

    Returns
    -------
    int
        Exit status: 0 when every run finished, 1 when some failed, 2 for a bad
        spec or another steerscope error (printed on stderr).
    """
    import sys

    try:
        result = run_sweep(path, scheduler=scheduler, workers=workers, out_dir=out_dir)
    except SteerscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201  (command-line output)
        return 2
    print()  # noqa: T201  (command-line output)
    print(markdown_table(result.rows, load_sweep(path).checkpoints))  # noqa: T201  (command-line output)
    return 0 if result.ok else 1
