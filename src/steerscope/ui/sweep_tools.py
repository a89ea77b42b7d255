"""Sweep page helpers without Streamlit: form values → ``SweepSpec``, a sweep on a thread.

The sweep itself is :func:`steerscope.sweeps.run_sweep` (a Dask local cluster);
this module only assembles its spec from the page's choices, runs it on a
background thread so the page never blocks, and reads finished sweep folders
back (:func:`steerscope.sweeps.load_summary`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from steerscope.errors import ConfigError, SteerscopeError

__all__ = [
    "BETA_ACQUISITIONS",
    "CANCEL_FILE",
    "MAX_WORKERS",
    "TABLE_FORMATS",
    "CancelFlag",
    "SweepCancelledError",
    "SweepJob",
    "SweepJobs",
    "build_sweep_spec",
    "default_checkpoints",
    "find_sweeps",
    "new_sweep_dir",
    "summary_table",
    "sweep_title",
]

log = logging.getLogger(__name__)

BETA_ACQUISITIONS = ("ucb", "weighted_sum", "chebyshev")
"""Acquisitions whose score uses ``beta``; every other one gives one run whatever the betas."""

MAX_WORKERS = 2
"""Most Dask worker processes a sweep started from the UI gets (the UI shares the machine)."""

CANCEL_FILE = "CANCEL"
"""A file of this name in a sweep folder asks its running campaigns to stop after their step."""


class SweepCancelledError(SteerscopeError):
    """Raised in a sweep's worker after a step when the sweep was cancelled from the UI."""


@dataclass(frozen=True)
class CancelFlag:
    """A picklable step hook that ends a run when ``path`` exists.

    Dask runs the campaigns in other processes, so a ``threading.Event`` cannot
    reach them; a file in the sweep folder can. A run ended this way is recorded
    as failed with the reason, and rerunning the sweep redoes it.

    Parameters
    ----------
    path : str
        The flag file (``<sweep folder>/CANCEL``).
    """

    path: str

    def __call__(self, run_id: str, result: Any) -> None:
        """Raise :class:`SweepCancelledError` if the flag file exists."""
        del result
        if Path(self.path).exists():
            raise SweepCancelledError(
                f"run {run_id} cancelled from the Sweep page; rerun the sweep to redo it."
            )


def default_checkpoints(budget: int) -> list[int]:
    """Measurement counts reported as discovery: 10/25/50/100 below ``budget``, and ``budget``.

    Parameters
    ----------
    budget : int
        Spectra per run, >= 1.
    """
    return sorted({k for k in (10, 25, 50, 100) if k < budget} | {int(budget)})


def build_sweep_spec(
    *,
    source: dict[str, Any],
    scalarizer: dict[str, Any] | None,
    patch_sizes: Sequence[int],
    acquisitions: Sequence[str],
    betas: Sequence[float],
    model_kind: str,
    seeds: Sequence[int],
    budget: int,
    n_seeds: int,
    out_dir: str | Path,
    name: str = "ui-sweep",
    batch_size: int = 1,
) -> Any:
    """A validated :class:`~steerscope.sweeps.SweepSpec` from the Sweep page's choices.

    Every acquisition in ``BETA_ACQUISITIONS`` is tried with every beta; the
    others once. Each of those policies is tried at every patch size and seed
    (``seed`` of the campaign: seed points and model initialisation).

    Parameters
    ----------
    source : dict
        The UI source description (a built-in dataset or a file; not a live microscope).
    scalarizer : dict or None
        The saved target spec; ``None`` uses the dataset's default.
    patch_sizes : sequence of int
        Descriptor patch sides to try, overview pixels.
    acquisitions : sequence of str
        Acquisition functions to try (``MO_ACQUISITIONS`` for a ``multi`` target).
    betas : sequence of float
        Exploration weights to try with the acquisitions that use one.
    model_kind : str
        ``"dkl"`` or ``"exact_gp"`` for every run.
    seeds : sequence of int
        Campaign seeds to try.
    budget : int
        Spectra per run.
    n_seeds : int
        Random seed points measured before the model decides.
    out_dir : str or Path
        The sweep folder.
    name : str
        Sweep name (titles of the summary and the plot).
    batch_size : int
        Points per step.

    Returns
    -------
    SweepSpec
        With ``base`` a full campaign config mapping, ``runs`` the policies and ``grid``
        the patch sizes and seeds.

    Raises
    ------
    ConfigError
        If a choice is empty, the source is a live microscope, or the campaign config
        refuses a value (the message lists every problem).
    """
    from steerscope.sweeps import load_sweep
    from steerscope.ui.campaign_tools import build_config_dict

    problems = [
        f"choose at least one {what}"
        for what, values in (
            ("patch size", patch_sizes),
            ("acquisition function", acquisitions),
            ("seed", seeds),
        )
        if not list(values)
    ]
    if any(a in BETA_ACQUISITIONS for a in acquisitions) and not list(betas):
        problems.append("choose at least one beta for " + ", ".join(BETA_ACQUISITIONS))
    if problems:
        raise ConfigError("the sweep cannot be built: " + "; ".join(problems) + ".")
    if source.get("kind") == "remote":
        raise ConfigError(
            "a sweep runs many simulated campaigns over pre-acquired spectra; got a live "
            "microscope source. Open a built-in dataset or a file on the Source page."
        )
    base = build_config_dict(
        source=source,
        scalarizer=scalarizer,
        patch_size=int(patch_sizes[0]),
        model_kind=model_kind,
        acquisition=str(acquisitions[0]),
        beta=float(betas[0]) if list(betas) else 1.0,
        batch_size=int(batch_size),
        budget=int(budget),
        seed_kind="random",
        n_seeds=int(n_seeds),
        name=name,
    )
    runs: list[dict[str, Any]] = []
    for acquisition in dict.fromkeys(str(a) for a in acquisitions):
        if acquisition in BETA_ACQUISITIONS:
            for beta in dict.fromkeys(float(b) for b in betas):
                runs.append({"policy.acquisition": acquisition, "policy.beta": beta})
        else:
            runs.append({"policy.acquisition": acquisition})
    grid: dict[str, list[Any]] = {
        "descriptor.patch_size": list(dict.fromkeys(int(p) for p in patch_sizes)),
        "seed": list(dict.fromkeys(int(s) for s in seeds)),
    }
    spec = load_sweep(
        {
            "name": name,
            "base": base,
            "runs": runs,
            "grid": grid,
            "checkpoints": default_checkpoints(int(budget)),
            "out_dir": str(out_dir),
        }
    )
    spec.expand()  # validates every run's campaign config now, not when the sweep starts
    return spec


def new_sweep_dir(folder: Path, name: str) -> Path:
    """A fresh sweep folder path ``folder/<name>-YYYYmmdd-HHMMSS[-k]`` that does not exist yet."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "sweep"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{slug}-{stamp}"
    k = 1
    while candidate.exists():
        k += 1
        candidate = folder / f"{slug}-{stamp}-{k}"
    return candidate


def find_sweeps(folder: Path) -> list[Path]:
    """Sweep folders (with a ``summary.json``) directly under ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (p / "summary.json").is_file()]
    return sorted(found, key=lambda p: (p / "summary.json").stat().st_mtime, reverse=True)


TABLE_FORMATS: dict[str, str] = {"best target": "%.4g", "median step (s)": "%.2f"}
"""How the Sweep page shows :func:`summary_table`'s numbers (``discovery@k``: ``%.3f``);
the summary files keep every digit."""


def summary_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat table row per run: name, status, measured, discovery@k, best target, step time.

    Parameters
    ----------
    rows : sequence of dict
        The rows of :func:`steerscope.sweeps.load_summary` (or ``SweepResult.rows``).
    """
    table: list[dict[str, Any]] = []
    for row in rows:
        flat: dict[str, Any] = {
            "run": str(row.get("name", "")),
            "status": str(row.get("status", "")),
            "measured": f"{row.get('n_measured', 0)}/{row.get('budget', '')}",
        }
        for k, value in (row.get("discovery") or {}).items():
            flat[f"discovery@{k}"] = value
        flat["best target"] = row.get("best_target")
        flat["median step (s)"] = row.get("median_step_s")
        flat["error"] = str(row.get("error") or "")
        table.append(flat)
    return table


JobStatus = Literal["running", "finished", "cancelled", "error"]

_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")


class SweepJob:
    """One planning sweep (:func:`steerscope.sweeps.run_sweep`) on a background thread.

    Parameters
    ----------
    spec : SweepSpec
        From :func:`build_sweep_spec`; its ``out_dir`` is the sweep folder.
    workers : int
        Dask worker processes of the local cluster (at most :data:`MAX_WORKERS`).

    Attributes
    ----------
    status : {"running", "finished", "cancelled", "error"}
        What the job is doing.
    lines : list of str
        The sweep's progress lines so far (one per finished run, plus start and summary).
    n_done, n_total : int
        Runs finished so far, runs in the sweep.
    message : str
        Why it ended in error or was cancelled ("" otherwise).
    """

    def __init__(self, spec: Any, *, workers: int = 1) -> None:
        if not 1 <= int(workers) <= MAX_WORKERS:
            raise ConfigError(
                f"a sweep from the UI runs on 1 to {MAX_WORKERS} workers; got {workers}. "
                "Use `steerscope sweep SWEEP.yaml --workers N` for more."
            )
        self.spec = spec
        self.workers = int(workers)
        self.out_dir = Path(spec.out_dir)
        self.status: JobStatus = "running"
        self.lines: list[str] = []
        self.n_done = 0
        self.n_total = len(spec.expand())
        self.message = ""
        self.started_at = time.time()
        self.seconds = 0.0
        self._thread: threading.Thread | None = None
        self._cancelled = threading.Event()

    @property
    def done(self) -> bool:
        """Whether the job has ended (finished, cancelled or in error)."""
        return self.status != "running"

    def start(self) -> SweepJob:
        """Start the background thread; returns ``self``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / CANCEL_FILE).unlink(missing_ok=True)
        self._thread = threading.Thread(
            target=self._run, name=f"steerscope-sweep-{self.out_dir.name}", daemon=True
        )
        self._thread.start()
        return self

    def cancel(self, timeout: float = 30.0) -> bool:
        """Ask every run to stop after its current step; wait at most ``timeout`` seconds.

        Returns
        -------
        bool
            True if the thread has ended.
        """
        self._cancelled.set()
        if self._thread is None:
            return True
        if self._thread.is_alive():
            (self.out_dir / CANCEL_FILE).write_text("cancelled from the Sweep page\n")
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _echo(self, line: str) -> None:
        self.lines.append(line)
        match = _PROGRESS.match(line)
        if match:
            self.n_done = int(match.group(1))

    def _run(self) -> None:
        from steerscope.sweeps import run_sweep

        started = time.perf_counter()
        try:
            result = run_sweep(
                self.spec,
                workers=self.workers,
                step_hook=CancelFlag(str(self.out_dir / CANCEL_FILE)),
                echo=self._echo,
            )
        except SteerscopeError as exc:
            self.message = " ".join(str(exc).split())
            self.status = "error"
        except Exception as exc:  # a bug must show on the page, not vanish with the thread
            log.exception("sweep failed")
            self.message = f"{type(exc).__name__}: {exc}"
            self.status = "error"
        else:
            self.n_done = len(result.rows)
            if self._cancelled.is_set():
                self.message = "cancelled: unfinished runs are marked failed; rerun to redo them"
                self.status = "cancelled"
            else:
                self.status = "finished"
        finally:
            self.seconds = time.perf_counter() - started
            (self.out_dir / CANCEL_FILE).unlink(missing_ok=True)


class SweepJobs:
    """Process-wide list of sweeps started from the UI, shared by every browser tab."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[SweepJob] = []

    def submit(self, spec: Any, *, workers: int = 1) -> SweepJob:
        """Start a :class:`SweepJob` for ``spec`` and keep it; returns it at once.

        Raises
        ------
        ConfigError
            If a sweep is already running into the same folder.
        """
        folder = str(Path(spec.out_dir).resolve())
        with self._lock:
            for job in self._jobs:
                if not job.done and str(job.out_dir.resolve()) == folder:
                    raise ConfigError(
                        f"a sweep is already running into {folder}; wait for it or cancel it."
                    )
            job = SweepJob(spec, workers=workers)
            self._jobs.append(job)
        return job.start()

    def jobs(self) -> list[SweepJob]:
        """Every job, newest first."""
        with self._lock:
            return sorted(self._jobs, key=lambda j: j.started_at, reverse=True)

    def get(self, out_dir: str | Path | None) -> SweepJob | None:
        """The newest job writing into ``out_dir``, or ``None``."""
        if out_dir is None:
            return None
        folder = str(Path(out_dir).resolve())
        for job in self.jobs():
            if str(job.out_dir.resolve()) == folder:
                return job
        return None

    def stop_all(self, timeout: float = 30.0) -> None:
        """Cancel every job (each bounded by ``timeout`` seconds) and forget them."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.cancel(timeout)


def sweep_title(out_dir: Path) -> str:
    """The sweep's title from its ``summary.json`` (the folder name if there is none)."""
    try:
        data = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out_dir.name
    return str(data.get("title") or out_dir.name)
