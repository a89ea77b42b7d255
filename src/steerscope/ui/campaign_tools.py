"""Campaign page helpers without Streamlit: form values → config, start/resume a runner.

The engine is ``steerscope.campaign`` (``Campaign.create``/``Campaign.resume``,
``CampaignRunner``); this module only assembles its inputs, so the page holds
no experiment logic.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pydantic
from numpy.typing import NDArray

from steerscope.errors import ConfigError, SteerscopeError

__all__ = [
    "ACTIVE_STATUSES",
    "CAMPAIGNS_ENV",
    "FIGURE_REDRAW_S",
    "MeasuredPoint",
    "SnapshotCache",
    "acknowledgement",
    "acquisition_choices",
    "build_config_dict",
    "campaigns_in_processes",
    "compared_points",
    "count_active",
    "describe_target",
    "field_bounds",
    "figures_due",
    "held_records",
    "input_bounds",
    "intervention_marks",
    "map_quantity",
    "measured_point",
    "new_record_path",
    "no_go_mask",
    "pixel_report",
    "policy_number_fields",
    "resumable_records",
    "resume_runner",
    "source_to_config",
    "start_runner",
    "steering_help",
    "votes_target",
]

ACTIVE_STATUSES = ("idle", "running", "paused")
"""Record statuses of a campaign that can be resumed."""

T = TypeVar("T")


class SnapshotCache:
    """Things built from one immutable campaign snapshot (figures), kept while it lives.

    The live view redraws every second, but the runner publishes a new
    snapshot only after a step or a change; between two snapshots every figure
    would come out the same. Entries are keyed by the snapshot object itself
    (held weakly, so they go with it) and a small hashable ``key`` (which map,
    which clicked points), and shared by every tab that watches the campaign.
    Thread-safe; a built object must not be mutated by its users.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self.hits = 0
        self.misses = 0

    def get(self, snapshot: Any, key: Hashable, build: Callable[[], T]) -> T:
        """The object cached for ``(snapshot, key)``, built with ``build()`` on a miss."""
        with self._lock:
            per_snapshot = self._entries.setdefault(snapshot, {})
            if key in per_snapshot:
                self.hits += 1
                return per_snapshot[key]
        value = build()  # outside the lock: two tabs may build the same figure once each
        with self._lock:
            self.misses += 1
            per_snapshot = self._entries.setdefault(snapshot, {})
            if len(per_snapshot) >= 64:  # one tab clicking many points: keep it bounded
                per_snapshot.clear()
            per_snapshot[key] = value
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def acquisition_choices(scalarizer: dict[str, Any] | None) -> tuple[str, ...]:
    """The acquisition functions that fit a scalarizer spec.

    Parameters
    ----------
    scalarizer : dict or None
        A scalarizer spec; ``None`` (the dataset's default, one target) counts as single.

    Returns
    -------
    tuple of str
        ``MO_ACQUISITIONS`` (EHVI first, the default) for a spec with several targets,
        else ``ACQUISITIONS``. A ``multi`` spec still being edited (it does not parse
        yet) counts its targets; any other unparsable spec counts as one, and the
        config check reports it when the campaign starts.
    """
    from steerscope.acquisition import acquisitions_for
    from steerscope.scalarizers import parse_scalarizer

    n_objectives = 1
    if scalarizer:
        try:
            n_objectives = int(parse_scalarizer(scalarizer).n_outputs)
        except SteerscopeError:  # a spec still being edited: count its targets
            if scalarizer.get("kind") == "multi":
                n_objectives = len(scalarizer.get("targets") or [])
    return acquisitions_for(n_objectives)


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured spectrum read back from a record (the point picked on the Pareto plot).

    Parameters
    ----------
    index : int
        Measurement index, from 0 in acquisition order.
    point : tuple of int
        ``(row, col)`` overview pixel.
    step : int
        Step at which it was measured.
    energy : ndarray of shape (C,)
        Channel energies.
    units : str
        Energy units.
    spectrum : ndarray of shape (C,)
        The measured counts.
    """

    index: int
    point: tuple[int, int]
    step: int
    energy: NDArray[np.float64]
    units: str
    spectrum: NDArray[np.float64]


def votes_target(record_path: str | Path, votes: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """The target the operator's votes make: likeness to the good spectra, unlike the bad.

    Parameters
    ----------
    record_path : str or Path
        The campaign's record, whose raw spectra the references are made of.
    votes : sequence of (int, str)
        ``(measurement index, "good" or "bad")``, as ``CampaignSnapshot.votes``.

    Returns
    -------
    dict
        A ``similarity`` scalarizer spec, for a SetScalarizer.

    Raises
    ------
    ConfigError
        When no spectrum is marked good.
    """
    from steerscope.records import CampaignRecord
    from steerscope.scalarizers import reference_from_spectra

    good = sorted(int(i) for i, verdict in votes if verdict == "good")
    bad = sorted(int(i) for i, verdict in votes if verdict == "bad")
    if not good:
        raise ConfigError(
            "mark at least one measured spectrum good (click its point on the live overview, "
            "then Good) before making the votes the target"
        )
    with CampaignRecord.open(record_path, read_only=True, verify=False) as record:
        spectra = record.measurements().spectra
    spec: dict[str, Any] = {
        "kind": "similarity",
        "reference": reference_from_spectra(spectra[good]),
        "n_votes": len(good) + len(bad),
    }
    if bad:
        spec["unlike"] = reference_from_spectra(spectra[bad])
    return spec


def measured_point(record_path: str | Path, index: int) -> MeasuredPoint:
    """Read measurement ``index`` (acquisition order) of a campaign record, read-only.

    Raises
    ------
    RecordError
        If the record cannot be opened.
    ConfigError
        If the record has fewer than ``index + 1`` measurements or no energy axis.
    """
    from steerscope.records import CampaignRecord

    i = int(index)
    with CampaignRecord.open(record_path, read_only=True, verify=False) as record:
        measured = record.measurements(offset=max(i, 0), limit=1)  # that one spectrum only
        if i < 0 or len(measured) == 0:
            raise ConfigError(
                f"measurement {index} is not in the record {Path(record_path).name}, which has "
                f"{len(record.measurements())}; pick a point on the current plot."
            )
    if measured.energy is None:
        raise ConfigError(
            f"the record {Path(record_path).name} has no energy axis; cannot draw a spectrum."
        )
    return MeasuredPoint(
        index=i,
        point=(int(measured.points[0, 0]), int(measured.points[0, 1])),
        step=int(measured.steps[0]),
        energy=np.asarray(measured.energy.values, dtype=np.float64),
        units=str(measured.energy.units),
        spectrum=np.asarray(measured.spectra[0], dtype=np.float64),
    )


_resumable_cache: dict[tuple[str, frozenset[str]], tuple[Any, list[tuple[Path, str]]]] = {}
_resumable_lock = threading.Lock()


def source_to_config(description: dict[str, Any]) -> dict[str, Any]:
    """The ``source`` section of a campaign config for a UI source description.

    A remote token is not written into the config (it is stored in the record);
    the config names the environment variable that holds it instead.

    Raises
    ------
    ConfigError
        If the description's kind is unknown.
    """
    kind = description.get("kind")
    if kind == "dataset":
        return {"dataset": description["name"], "options": dict(description.get("options") or {})}
    if kind == "file":
        if description.get("overview"):
            return {"file": description["path"], "options": {"overview": description["overview"]}}
        return {"file": description["path"]}
    if kind == "remote":
        return {"remote": description["uri"], "token_env": "STEERSCOPE_TOKEN"}
    raise ConfigError(
        f"cannot start a campaign on a source of kind {kind!r}; expected dataset, file or remote. "
        "Choose a source on the Source page."
    )


def build_config_dict(
    *,
    source: dict[str, Any],
    scalarizer: dict[str, Any] | None,
    patch_size: int,
    model_kind: str,
    acquisition: str,
    beta: float,
    batch_size: int | str,
    budget: int,
    seed_kind: str,
    n_seeds: int,
    seed_points: NDArray[np.int64] | None = None,
    seed: int = 0,
    name: str = "campaign",
    acquisition_delay_s: float = 0.0,
    pause_after_seeds: bool = False,
    pause_every: int = 0,
    tip_speed_nm_s: float | None = None,
) -> dict[str, Any]:
    """A campaign config dict (``steerscope.campaign.load_config`` validates it).

    Parameters
    ----------
    source : dict
        A UI source description (see :mod:`steerscope.ui.sources`).
    scalarizer : dict or None
        The saved scalarizer spec; ``None`` uses the dataset's default.
    patch_size : int
        Descriptor patch side, overview pixels.
    model_kind : str
        ``"dkl"`` or ``"exact_gp"``.
    acquisition : str
        One of ``steerscope.acquisition.ACQUISITIONS``.
    beta : float
        UCB exploration weight.
    batch_size : int or "auto"
        Points per step.
    budget : int
        Spectra to acquire in total.
    seed_kind : str
        ``"random"``, ``"grid"`` or ``"list"`` (clicked points).
    n_seeds : int
        Seed points for ``random``/``grid``.
    seed_points : ndarray of shape (k, 2), optional
        Clicked seed points for ``list``.
    seed : int
        Seed of every random choice.
    name : str
        Campaign name.
    acquisition_delay_s : float
        Simulator sleep per point (to feel like a live instrument).
    pause_after_seeds, pause_every : bool, int
        ``pauses.after_seeds`` and ``pauses.every`` (0: never).
    tip_speed_nm_s : float or None
        Replay the data as a scanning probe moving at this speed (``instrument.probe``);
        None: as an electron beam.
    """
    if seed_kind == "list":
        pts = np.asarray(seed_points if seed_points is not None else [], dtype=np.int64)
        seeds: dict[str, Any] = {"kind": "list", "points": pts.reshape(-1, 2).tolist()}
    elif seed_kind in ("random", "grid"):
        seeds = {"kind": seed_kind, "n": int(n_seeds)}
    else:
        raise ConfigError(f"seed points must be random, grid or list; got {seed_kind!r}")
    config: dict[str, Any] = {
        "name": name,
        "source": source_to_config(source),
        "descriptor": {"patch_size": int(patch_size)},
        "model": {"kind": model_kind},
        "policy": {
            "acquisition": acquisition,
            "beta": float(beta),
            "batch_size": batch_size if batch_size == "auto" else int(batch_size),
        },
        "seed_points": seeds,
        "budget": {"measurements": int(budget)},
        "seed": int(seed),
        "instrument": {"acquisition_delay_s": float(acquisition_delay_s)},
        "pauses": {"after_seeds": bool(pause_after_seeds), "every": int(pause_every)},
    }
    if tip_speed_nm_s is not None:
        config["instrument"]["probe"] = {"tip_speed_nm_s": float(tip_speed_nm_s)}
    if scalarizer:
        config["scalarizer"] = dict(scalarizer)
    return config


def new_record_path(folder: Path, name: str) -> Path:
    """A fresh record path ``folder/<name>-YYYYmmdd-HHMMSS[-k].sqlite`` that does not exist yet.

    Raises
    ------
    ConfigError
        If the records folder is a file or cannot be created.
    """
    from steerscope.campaign.sources import fresh_record_path

    return fresh_record_path(folder, name, what="the records folder ($STEERSCOPE_RECORDS)")


def no_go_mask(shape: tuple[int, int], rect: tuple[int, int, int, int]) -> NDArray[np.bool_]:
    """A mask of ``shape``, true inside the rectangle ``(row0, col0, row1, col1)`` (inclusive).

    Raises
    ------
    ConfigError
        If the rectangle does not overlap the image.
    """
    r0, c0, r1, c1 = (int(v) for v in rect)
    r0, r1 = sorted((r0, r1))
    c0, c1 = sorted((c0, c1))
    height, width = shape
    if r1 < 0 or c1 < 0 or r0 >= height or c0 >= width:
        raise ConfigError(
            f"the no-go rectangle rows {r0}–{r1}, cols {c0}–{c1} lies outside the "
            f"{height}×{width} overview; draw it on the image."
        )
    mask = np.zeros(shape, dtype=bool)
    mask[max(r0, 0) : min(r1, height - 1) + 1, max(c0, 0) : min(c1, width - 1) + 1] = True
    return mask


CAMPAIGNS_ENV = "STEERSCOPE_UI_CAMPAIGNS"
"""Where the UI runs its campaigns: ``process`` (default: each in its own process,
:class:`steerscope.service.CampaignProcess`) or ``thread`` (a runner thread in the
Streamlit server, as before; kept for the page tests and for measuring the difference)."""


def campaigns_in_processes() -> bool:
    """Whether the UI runs each campaign in its own process (``$STEERSCOPE_UI_CAMPAIGNS``).

    Raises
    ------
    ConfigError
        If the variable holds anything but ``process`` or ``thread``.
    """
    mode = os.environ.get(CAMPAIGNS_ENV, "process").strip().lower() or "process"
    if mode not in ("process", "thread"):
        raise ConfigError(
            f"${CAMPAIGNS_ENV} must be 'process' or 'thread'; got {mode!r}. Unset it to run "
            "each campaign in its own process (the default)."
        )
    return mode == "process"


def start_runner(
    config: dict[str, Any], record_path: Path, *, token: str | None = None, nice: int = 0
) -> Any:
    """Validate ``config``, create the campaign and its record, and start running it.

    Parameters
    ----------
    config : dict
        From :func:`build_config_dict`.
    record_path : Path
        The new record; its folder is created if needed.
    token : str, optional
        Token of a remote microscope; given to the campaign as ``$STEERSCOPE_TOKEN``,
        where the config's ``token_env`` points, so it never lands in the record.
    nice : int
        CPU niceness of a campaign in its own process, which then computes on one
        thread (a teaching server's visitors share its cores); 0 leaves both as they are.

    Returns
    -------
    CampaignProcess or CampaignRunner
        Started (see :func:`campaigns_in_processes`); both offer ``snapshot``, ``post``,
        ``wait_for`` and ``stop``.
    """
    from steerscope.campaign import Campaign, CampaignRunner, load_config

    validated = load_config(config)  # a bad value is a form error here, not in the child
    record_path.parent.mkdir(parents=True, exist_ok=True)
    if campaigns_in_processes():
        from steerscope.service import CampaignProcess

        env = {"STEERSCOPE_TOKEN": token} if token else {}
        return CampaignProcess.create(config, record_path, env={**env, **_threads(nice)}, nice=nice)
    if token:
        os.environ["STEERSCOPE_TOKEN"] = token
    campaign = Campaign.create(validated, record_path)
    runner = CampaignRunner(campaign)
    runner.start()
    return runner


def _threads(nice: int) -> dict[str, str]:
    """The environment of a campaign process run at ``nice`` > 0: one compute thread."""
    return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if nice else {}


def resume_runner(record_path: Path, *, nice: int = 0) -> Any:
    """Resume the campaign of ``record_path`` and start running it (as :func:`start_runner`)."""
    from steerscope.campaign import Campaign, CampaignRunner

    if campaigns_in_processes():
        from steerscope.service import CampaignProcess

        return CampaignProcess.resume(record_path, env=_threads(nice), nice=nice)
    campaign = Campaign.resume(record_path)
    runner = CampaignRunner(campaign)
    runner.start()
    return runner


def steering_help(runner: Any) -> str:
    """Markdown: how another process watches and steers the campaign ``runner`` drives.

    For a campaign in its own process, the steering URI and token with a notebook
    snippet and the ``steerscope steer`` line; for one in a thread of this server
    (``$STEERSCOPE_UI_CAMPAIGNS=thread``), that it has no channel.
    """
    uri, token = getattr(runner, "uri", None), getattr(runner, "token", None)
    if not uri or not token:
        return (
            "This campaign runs inside the web server (`$STEERSCOPE_UI_CAMPAIGNS=thread`), "
            "so other processes cannot reach it; unset the variable to run each campaign in "
            "its own process with a steering channel."
        )
    return (
        "Every tab of this server already shows this campaign. From a notebook on this "
        "machine:\n\n"
        "```python\n"
        "from steerscope.campaign import SetPolicy\n"
        "from steerscope.service import SteeringClient\n"
        f'client = SteeringClient("{uri}", token="{token}")\n'
        "client.snapshot().n_measured           # the whole live view, maps included\n"
        'client.post(SetPolicy(beta=4.0))       # "beta 1 → 4", recorded like a click\n'
        "```\n\n"
        f"or a terminal: `STEERSCOPE_TOKEN={token} steerscope steer {uri} --set beta=4`. "
        "The token is this campaign's own (loopback only); anyone who has it can steer it.\n\n"
        f"An AI assistant (MCP): `STEERSCOPE_TOKEN={token} steerscope assistant {uri}` lets it "
        "read the campaign and propose changes, which wait here for your approval."
    )


def count_active(entries: Any) -> int:
    """How many of the registry ``entries`` hold a campaign that has not ended.

    A campaign that finished (its process still answering) or whose process died does
    not count; one that does not answer just now does (it may be busy).
    """
    from steerscope.errors import SteerscopeError

    active = 0
    for entry in entries:
        if not getattr(entry.runner, "running", True):
            continue
        try:
            status = entry.runner.snapshot().status
        except SteerscopeError:
            status = "running"
        active += status in ACTIVE_STATUSES
    return active


def held_records(entries: Any) -> set[str]:
    """Record paths that a live runner of this server holds, from registry entries.

    A campaign whose process died holds its record no more: it must be offered for
    resuming, not hidden as if it still ran.
    """
    return {str(e.record_path) for e in entries if getattr(e.runner, "running", True)}


def resumable_records(folder: Path, active: set[str]) -> list[tuple[Path, str]]:
    """Records in ``folder`` whose campaign did not finish and that no process is writing.

    Parameters
    ----------
    folder : Path
        The records folder.
    active : set of str
        Record paths already held by a runner in this process.

    Returns
    -------
    list of (Path, str)
        Each record with its last status, newest first; unreadable files are skipped.
    """
    from steerscope.errors import RecordError
    from steerscope.records import CampaignRecord
    from steerscope.ui.review_tools import find_records

    # Opening every record costs SQLite reads on each page rerun; the folder listing
    # says whether anything changed since the last scan.
    paths = [p for p in find_records(folder) if str(p) not in active]
    signature = _folder_signature(paths)
    cache_key = (str(folder), frozenset(active))
    with _resumable_lock:
        cached = _resumable_cache.get(cache_key)
    if cached is not None and cached[0] == signature:
        return _not_locked(cached[1])
    found: list[tuple[Path, str]] = []
    for path in paths:
        try:
            with CampaignRecord.open(path, read_only=True, verify=False) as record:
                status = record.status().status
        except RecordError:
            continue
        if status in ACTIVE_STATUSES:
            found.append((path, status))
    with _resumable_lock:
        if len(_resumable_cache) > 16:
            _resumable_cache.clear()
        # taken after the scan: closing a WAL record can touch its files
        _resumable_cache[cache_key] = (_folder_signature(paths), list(found))
    return _not_locked(found)


def _not_locked(found: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Drop the records another process is writing (a lock, checked on every call)."""
    from steerscope.records.writer_lock import locked_by

    return [(path, status) for path, status in found if locked_by(path) is None]


def _folder_signature(paths: list[Path]) -> list[tuple[str, int, int]]:
    """Name, size and mtime of each record and of its WAL file (where a change lands first)."""
    signature: list[tuple[str, int, int]] = []
    for path in paths:
        for part in (path, path.with_name(path.name + "-wal")):
            try:
                info = part.stat()
            except OSError:
                continue
            signature.append((part.name, info.st_size, info.st_mtime_ns))
    return signature


def policy_number_fields(
    acquisition: str, *, exclude: tuple[str, ...] = ()
) -> list[tuple[str, Any]]:
    """The numeric ``PolicyConfig`` fields an acquisition declares, for the steer panel.

    Parameters
    ----------
    acquisition : str
        A registered acquisition (an unknown name gives no fields).
    exclude : tuple of str
        Fields the page draws itself.

    Returns
    -------
    list of (str, pydantic FieldInfo)
        Name and field (default, bounds, description) of each ``float``/``int`` field.
    """
    from steerscope.acquisition import acquisition_info
    from steerscope.campaign import PolicyConfig

    try:
        declared = acquisition_info(acquisition).parameters
    except SteerscopeError:
        return []
    fields = PolicyConfig.model_fields
    return [
        (name, fields[name])
        for name in declared
        if name in fields and name not in exclude and fields[name].annotation in (float, int)
    ]


FIGURE_REDRAW_S = 3.0
"""Least seconds between two redraws of the live figures while a campaign runs.

Measured in Chromium on 2 cores (``bench/bench_ui_ack.py`` and its README): the
Campaign page's figures cost the browser about 2 s of work to redraw with new data
(an unchanged figure costs little); redrawn at every 1 s refresh they kept its main
thread ~90 % busy, and a change typed meanwhile waited seconds to be shown. The text
above them (status, queued changes, the settings in force) follows every refresh."""


def figures_due(
    drawn: Any, drawn_at: float, latest: Any, now: float, interval: float = FIGURE_REDRAW_S
) -> bool:
    """Whether the live figures should move on from snapshot ``drawn`` to ``latest``.

    Parameters
    ----------
    drawn : CampaignSnapshot
        The snapshot the figures show, drawn at monotonic time ``drawn_at`` (s).
    latest : CampaignSnapshot
        The runner's latest snapshot, at monotonic time ``now`` (s).
    interval : float
        Least seconds between two redraws while the campaign runs.

    Returns
    -------
    bool
        True for another campaign, a campaign that is not running (paused, finished:
        show everything at once), or once ``interval`` has passed.
    """
    return (
        drawn.record_path != latest.record_path
        or latest.status != "running"
        or now - drawn_at >= interval
    )


def field_bounds(model: type[Any], name: str) -> tuple[float | None, float | None]:
    """The ``(lower, upper)`` bounds of a pydantic model's field, for a number input.

    Read from its ``ge``/``gt``/``le``/``lt`` constraints and from a
    ``json_schema_extra`` ``minimum``/``maximum`` (fields checked by a validator), so a
    widget offers what the config accepts and no literal repeats it. None: unbounded.
    """
    field = model.model_fields[name]
    lower: float | None = None
    upper: float | None = None
    for item in getattr(field, "metadata", []):
        for attribute in ("ge", "gt"):
            if getattr(item, attribute, None) is not None:
                lower = float(getattr(item, attribute))
        for attribute in ("le", "lt"):
            if getattr(item, attribute, None) is not None:
                upper = float(getattr(item, attribute))
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if lower is None and isinstance(extra.get("minimum"), int | float):
        lower = float(extra["minimum"])
    if upper is None and isinstance(extra.get("maximum"), int | float):
        upper = float(extra["maximum"])
    return lower, upper


def input_bounds(model: type[Any], name: str, *, lowest: float | None = None) -> dict[str, Any]:
    """``min_value``/``max_value`` of a number input for a config field (:func:`field_bounds`).

    ``lowest`` raises the lower bound (a form that needs at least one); the bounds are
    ints for an int field, so Streamlit's input keeps the field's type.
    """
    lower, upper = field_bounds(model, name)
    if lowest is not None:
        lower = lowest if lower is None else max(lower, lowest)
    default = model.model_fields[name].default
    cast = int if isinstance(default, int) and not isinstance(default, bool) else float
    return {
        "min_value": None if lower is None else cast(lower),
        "max_value": None if upper is None else cast(upper),
    }


def intervention_marks(snapshot: Any) -> list[tuple[float, str]]:
    """Where each operator change falls on a plot against measurement number, and what it was.

    Parameters
    ----------
    snapshot : CampaignSnapshot

    Returns
    -------
    list of (x, text)
        ``x`` lies between the last spectrum measured before the change's step and the
        first after (``n + 0.5``); ``text`` is the change in words (``"beta 0.25 → 1"``).
        Pause, Resume, Stop and RunSteps are left out.
    """
    from steerscope.campaign.interventions import CONTROL_KINDS

    steps = np.asarray(snapshot.measured_steps)
    marks = []
    for event in snapshot.events:
        kind, _, text = str(event.text).partition(": ")
        if event.kind != "intervention" or kind in CONTROL_KINDS:
            continue  # the controls hold the run; they change nothing the plots show
        before = int(np.count_nonzero(steps < int(event.step)))
        marks.append((before + 0.5, text))
    return marks


def pixel_report(snapshot: Any, point: tuple[int, int]) -> tuple[str, int | None]:
    """What the campaign knows of one overview pixel, in a line, for a click on the live view.

    Parameters
    ----------
    snapshot : CampaignSnapshot
        The snapshot the live view draws.
    point : (row, col)
        The clicked pixel.

    Returns
    -------
    text : str
        A measured pixel: its number, step and target; another: the predicted target
        ± one standard deviation (or that no model has been fitted yet).
    index : int or None
        The measurement's index (for its spectrum), ``None`` if the pixel is not measured.
    """
    row, col = int(point[0]), int(point[1])
    label = str(snapshot.scalarizer.get("label") or "target")
    where = f"row {row}, col {col}"
    hits = np.flatnonzero(
        (snapshot.measured_points[:, 0] == row) & (snapshot.measured_points[:, 1] == col)
    )
    if hits.size:
        i = int(hits[-1])
        target = float(snapshot.targets[i]) if i < len(snapshot.targets) else math.nan
        return f"{where}: measured #{i + 1}, {label} = {target:.4g}", i
    if snapshot.mean_map is None or snapshot.std_map is None:
        return f"{where}: not measured; no model fitted yet", None
    mean = float(snapshot.mean_map[row, col])
    std = float(snapshot.std_map[row, col])
    return f"{where}: not measured; predicted {label} = {mean:.4g} ± {std:.2g}", None


def compared_points(snapshot: Any) -> NDArray[np.int64] | None:
    """The two measured pixels ``(2, 2)`` the campaign asks the operator to compare, or None."""
    pair = snapshot.comparison
    if pair is None or max(pair) >= snapshot.measured_points.shape[0]:
        return None
    return np.asarray(snapshot.measured_points[list(pair)], dtype=np.int64)


def map_quantity(name: str, target_label: str) -> str:
    """What a per-pixel map's colour bar shows, e.g. ``"predicted Σ 1.00–1.80"``.

    Parameters
    ----------
    name : str
        The map's name on the page (``"Predicted mean"``) or in the record (``"mean"``).
    target_label : str
        The scalarizer's label: the quantity the model predicts, in its own units.
    """
    key = name.lower()
    if "mean" in key:
        return f"predicted {target_label}"
    if "std" in key or "uncertainty" in key:
        return f"σ of {target_label}"
    if "acquisition" in key:
        return "acquisition score"
    if "truth" in key:
        return "ground truth"
    return name


def describe_target(spec: Mapping[str, Any] | None) -> str:
    """A scalarizer spec in words for a caption, e.g. ``"Σ 1.00–1.80"``; never a raw dict.

    Parameters
    ----------
    spec : mapping or None
        A scalarizer spec as the Target page saves it.

    Returns
    -------
    str
        The scalarizer's label; for a spec that does not parse, its kind and a note to fix
        it on the Target page; for none, where to define one.
    """
    from steerscope.scalarizers import parse_scalarizer

    if not spec:
        return "none — define one on the Target page"
    try:
        return parse_scalarizer(dict(spec)).label
    except (SteerscopeError, pydantic.ValidationError, TypeError):
        return f"{spec.get('kind', 'unknown kind')} (not valid yet — fix it on the Target page)"


def settings_summary(
    policy: Mapping[str, Any], descriptor: Mapping[str, Any], scalarizer: Mapping[str, Any]
) -> str:
    """One readable line of the settings in force, as a snapshot reports them.

    Parameters
    ----------
    policy, descriptor, scalarizer : mapping
        ``CampaignSnapshot.policy``, ``.descriptor`` and ``.scalarizer``.

    Returns
    -------
    str
        E.g. ``"policy: ucb, beta 1, batch 1 · descriptor: 16×16 patches, stride 1,
        PCA 16 · target: Σ 1.00–1.80"``: the policy fields shown are those the
        acquisition in force declares (``acquisition_info(name).parameters``).
    """
    from steerscope.acquisition import acquisition_info

    name = str(policy.get("acquisition", "?"))
    try:
        declared = acquisition_info(name).parameters
    except SteerscopeError:
        declared = ()
    scalars = [p for p in declared if isinstance(policy.get(p), int | float)]
    vectors = [p for p in declared if isinstance(policy.get(p), list | tuple) and policy.get(p)]
    parts = [name, *(f"{p} {policy[p]:g}" for p in scalars)]
    parts.append(f"batch {policy.get('batch_size', 1)}")
    parts += [f"{p.replace('_', ' ')} " + ", ".join(f"{v:g}" for v in policy[p]) for p in vectors]
    size = descriptor.get("patch_size", "?")
    desc = [f"{size}×{size} patches", f"stride {descriptor.get('stride', 1)}"]
    if descriptor.get("pca_components"):
        desc.append(f"PCA {descriptor['pca_components']}")
    target = scalarizer.get("label") or scalarizer.get("spec", {}).get("kind", "?")
    return f"policy: {', '.join(parts)} · descriptor: {', '.join(desc)} · target: {target}"


def acknowledgement(queued: str) -> str:
    """What the page says of a change posted and not applied yet.

    Parameters
    ----------
    queued : str
        The runner's account of it (``CampaignRunner.post``'s, or the snapshot's
        ``queued``), e.g. ``"beta 0.25 → 1"``.

    Returns
    -------
    str
        ``"Queued: beta 0.25 → 1 — applies to the next point"``.
    """
    return f"Queued: {queued} — applies to the next point"
