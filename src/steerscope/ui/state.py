"""All UI state: the one module that touches ``st.session_state``.

Two kinds of state live here:

- **per browser tab** (``st.session_state``): which source is open, picked
  pixels, the scalarizer being edited, which campaign this tab watches, the
  learning-mode position. Initialised once per session with check-then-set.
- **per server process** (``st.cache_resource``): opened sources and the
  :class:`CampaignRegistry` holding one running campaign per record path, so
  every tab sees the same campaign and reloading a tab loses nothing: a fresh
  session re-attaches to the most recent campaign in the registry.

In teaching mode (:mod:`steerscope.ui.teaching`) a tab sees only its visitor's
campaigns: :func:`records_dir` is the visitor's own folder, and
:func:`campaign_entries` the registry entries under it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import ArrayLike, NDArray

from steerscope.ui.campaign_tools import SnapshotCache, count_active, describe_target
from steerscope.ui.review_tools import ReplayJobs
from steerscope.ui.sources import LoadedSource, describe_source, open_source, source_key
from steerscope.ui.sweep_tools import SweepJobs
from steerscope.ui.teaching import (
    TeachingLimits,
    check_new_campaign,
    is_visitor_id,
    new_visitor_id,
    teaching_limits,
    visitor_dir,
)

__all__ = [
    "LEARNING_KEY",
    "CampaignRegistry",
    "RegistryEntry",
    "add_picked_pixels",
    "campaign_entries",
    "campaign_path",
    "check_may_start",
    "clear_picked_pixels",
    "figure_cache",
    "get_value",
    "hide_form",
    "init",
    "is_mine",
    "learning_enabled",
    "learning_step",
    "loaded_source",
    "picked_pixels",
    "pop_notice",
    "preset_widgets",
    "records_dir",
    "registry",
    "remember_widgets",
    "replay_jobs",
    "scalarizer",
    "server_records_dir",
    "set_campaign_path",
    "set_learning_step",
    "set_scalarizer",
    "set_source",
    "set_value",
    "set_widget_value",
    "source",
    "stop_all_runners",
    "sweep_jobs",
    "teaching",
    "visitor_id",
    "widget_value",
]

_PREFIX = "steerscope."
LEARNING_KEY = _PREFIX + "learning"
"""Widget key of the sidebar learning-mode toggle."""

_DEFAULTS: dict[str, Any] = {
    "source": None,  # source description dict (see steerscope.ui.sources)
    "picked": [],  # list of (row, col) picked in the explorer / for seeding
    "scalarizer": None,  # saved scalarizer spec dict
    "window_draft": None,  # (low, high) from a box-select, not yet applied
    "campaign_path": None,  # record path of the campaign this tab watches
    "review_path": None,  # record path open on the Review page
    "learning_step": 0,
    "added_points": [],  # points clicked for an AddPoints intervention
    "steer_synced": None,  # (record, policy version, budget, patch) the Steer inputs show
    "no_go_draft": None,  # (r0, c0, r1, c1) of a no-go rectangle being drawn
    "target_rows": [],  # ids of the rows of the several-targets form (widget keys use them)
    "pareto_pick": None,  # index of the measured point picked on the Pareto plot
    "overview_hold": None,  # campaign snapshot the live overview keeps while a box is drawn
    "figure_snapshot": None,  # (snapshot, monotonic time) the live figures last drew
    "answered_pair": None,  # (first, second) the operator answered last: not shown again
    "shown_pair": None,  # (record, (first, second)) on screen: kept until answered
    "fork_follows": None,  # (record, viewed step) the Review page's fork step was set from
    "notice": None,  # a one-time message for the next page drawn (pop_notice)
    "setup_form": None,  # the New-campaign form's last values, widget key -> value
    "hidden_forms": [],  # forms hidden since last drawn (hide_form), restored when drawn
    "sweep_dir": None,  # sweep folder open on the Sweep page
    "tuning_record": None,  # record of the tuning campaign the Tune page watches
    "tuning_steering": None,  # record whose steering controls the Tune page has drawn
    "tuning_ack": None,  # the last acknowledgement (or refusal) of a tuning change
    "visitor": None,  # teaching mode: this tab's visitor id (also in the address)
}


def _key(name: str) -> str:
    if name not in _DEFAULTS:
        raise KeyError(f"unknown UI state {name!r}; known: {', '.join(_DEFAULTS)}")
    return _PREFIX + name


def init(default_dataset: str | None = None) -> None:
    """Set every default once per session, then re-attach to a running campaign if any.

    Called at the top of ``app.py`` on every rerun; cheap after the first.

    Parameters
    ----------
    default_dataset : str, optional
        Built-in dataset a new session opens when no campaign is running
        (``steerscope demo`` passes ``plasmonic_nanoparticles``).
    """
    fresh = _PREFIX + "source" not in st.session_state
    for name, value in _DEFAULTS.items():
        if _PREFIX + name not in st.session_state:
            st.session_state[_PREFIX + name] = value.copy() if isinstance(value, list) else value
    if LEARNING_KEY not in st.session_state:
        st.session_state[LEARNING_KEY] = False
    if st.session_state[_key("campaign_path")] is None:
        entries = campaign_entries()
        latest = entries[0] if entries else None
        if latest is not None:
            st.session_state[_key("campaign_path")] = latest.record_path
            if st.session_state[_key("source")] is None and latest.source is not None:
                st.session_state[_key("source")] = dict(latest.source)
            if st.session_state[_key("scalarizer")] is None and latest.scalarizer is not None:
                st.session_state[_key("scalarizer")] = dict(latest.scalarizer)
    if fresh and default_dataset and st.session_state[_key("source")] is None:
        st.session_state[_key("source")] = {"kind": "dataset", "name": default_dataset}


def widget_value(key: str, default: Any = None) -> Any:
    """Current value of the widget with ``key`` (``default`` before it is first drawn)."""
    return st.session_state.get(key, default)


def set_widget_value(key: str, value: Any) -> None:
    """Preset the widget with ``key`` (call before the widget is drawn in this run)."""
    st.session_state[key] = value


def preset_widgets(defaults: Mapping[str, Any], *, remembered: str | None = None) -> None:
    """Preset each widget of a form that has no value yet: remembered, else its default.

    Streamlit forgets a widget's value while it is not drawn (a form hidden during a
    run, a field of another scalarizer kind); presetting it before it is drawn brings a
    value back, and the values kept by :func:`remember_widgets` under ``remembered``
    bring back the user's own.

    A form marked hidden (:func:`hide_form`) gets every remembered value back, even
    where Streamlit still reports the key: after a campaign's live view had replaced
    the New-campaign form, a half-forgotten budget input came back at its minimum, 1,
    on a loaded machine (issue B6).

    Parameters
    ----------
    defaults : mapping
        Widget key → the value the widget starts with in a new session.
    remembered : str, optional
        Name of the per-tab value (see ``_DEFAULTS``) holding the last values, and
        the form's name for :func:`hide_form`.
    """
    kept = (get_value(remembered) if remembered else None) or {}
    hidden = list(get_value("hidden_forms"))
    restore = remembered in hidden
    for key, default in defaults.items():
        if key not in st.session_state or (restore and key in kept):
            st.session_state[key] = kept.get(key, default)
    if restore:
        set_value("hidden_forms", [name for name in hidden if name != remembered])


def hide_form(name: str) -> None:
    """Note that the form remembered under ``name`` is not drawn now (see preset_widgets)."""
    hidden = list(get_value("hidden_forms"))
    if name not in hidden:
        set_value("hidden_forms", [*hidden, name])


def remember_widgets(keys: Iterable[str], *, into: str) -> None:
    """Keep the current values of the widgets ``keys`` for :func:`preset_widgets`."""
    now = {key: st.session_state[key] for key in keys if key in st.session_state}
    set_value(into, {**(get_value(into) or {}), **now})


def pop_notice() -> str | None:
    """A one-time message for the user (e.g. why a saved target was cleared), then forget it."""
    notice = get_value("notice")
    set_value("notice", None)
    return str(notice) if notice else None


def get_value(name: str) -> Any:
    """Read one per-tab value by name (see ``_DEFAULTS`` for the names)."""
    return st.session_state.get(_key(name), _DEFAULTS[name])


def set_value(name: str, value: Any) -> None:
    """Write one per-tab value by name."""
    st.session_state[_key(name)] = value


# -- source -------------------------------------------------------------------------------


def source() -> dict[str, Any] | None:
    """The source description this tab works on, or ``None``."""
    value = get_value("source")
    return dict(value) if value else None


def set_source(description: dict[str, Any] | None) -> None:
    """Switch this tab to another source; forgets picked pixels and drafts of the old one.

    A target saved for another source is forgotten too: its energies belong to that
    sample (an EELS window in eV is nonsense read in keV on an EDX map; issue B7).
    :func:`pop_notice` then says so once.
    """
    old = get_value("source")
    changed = (
        old is not None and description is not None and source_key(old) != source_key(description)
    )
    if changed and scalarizer() is not None:
        set_value(
            "notice",
            f"The target saved for {describe_source(old)} "
            f"({describe_target(scalarizer())}) was cleared: its energies belong to that "
            "source. Define one for this source on the Target page.",
        )
        set_scalarizer(None)
    set_value("source", dict(description) if description else None)
    for key in [k for k in st.session_state if str(k).startswith(("target.", "campaign."))]:
        del st.session_state[key]
    set_value("picked", [])
    set_value("target_rows", [])
    set_value("pareto_pick", None)
    set_value("window_draft", None)
    set_value("added_points", [])


@st.cache_resource(show_spinner="Opening the source…", max_entries=8)
def _open_cached(key: str, _description: dict[str, Any]) -> LoadedSource:
    del key  # the cache key; the token in _description is not hashed
    return open_source(_description)


def loaded_source() -> LoadedSource | None:
    """The opened source of this tab (shared across tabs by ``st.cache_resource``).

    Raises
    ------
    SteerscopeError
        If the source cannot be opened; pages show the message with ``st.error``.
    """
    description = source()
    if description is None:
        return None
    return _open_cached(source_key(description), description)


# -- picked pixels ------------------------------------------------------------------------


def picked_pixels() -> NDArray[np.int64]:
    """Pixels picked in this tab, shape ``(n, 2)``, in the order picked."""
    return np.asarray(get_value("picked"), dtype=np.int64).reshape(-1, 2)


def add_picked_pixels(points: ArrayLike, *, limit: int = 12) -> bool:
    """Add pixels ``(n, 2)`` to the picked list (keeping the last ``limit``).

    Returns
    -------
    bool
        Whether anything new was added (the page reruns only then).
    """
    current: list[tuple[int, int]] = [(int(p[0]), int(p[1])) for p in get_value("picked")]
    changed = False
    for row, col in np.asarray(points, dtype=np.int64).reshape(-1, 2).tolist():
        if (row, col) not in current:
            current.append((row, col))
            changed = True
    if changed:
        set_value("picked", current[-limit:])
    return changed


def clear_picked_pixels() -> None:
    """Forget every picked pixel."""
    set_value("picked", [])


# -- scalarizer ---------------------------------------------------------------------------


def scalarizer() -> dict[str, Any] | None:
    """The scalarizer spec saved on the Target page, or ``None``."""
    value = get_value("scalarizer")
    return dict(value) if value else None


def set_scalarizer(spec: dict[str, Any] | None) -> None:
    """Save a scalarizer spec (a validated ``model_dump()``) for the Campaign page."""
    set_value("scalarizer", dict(spec) if spec else None)


# -- campaign ----------------------------------------------------------------------------


def campaign_path() -> str | None:
    """Record path of the campaign this tab watches, or ``None``."""
    value = get_value("campaign_path")
    return str(value) if value else None


def set_campaign_path(path: str | os.PathLike[str] | None) -> None:
    """Watch another campaign (its runner must be in :func:`registry`, or it is read-only)."""
    set_value("campaign_path", str(path) if path else None)


def server_records_dir() -> Path:
    """The server's records folder: ``$STEERSCOPE_RECORDS`` or ``./records``.

    ``steerscope ui --records-dir`` / ``steerscope demo --records-dir`` set that variable.
    """
    folder = os.environ.get("STEERSCOPE_RECORDS")
    return Path(folder or "records").expanduser()


def records_dir() -> Path:
    """Where this tab's campaign records live.

    The server's folder, or in teaching mode the visitor's own folder inside it.
    """
    visitor = visitor_id()
    base = server_records_dir()
    return base if visitor is None else visitor_dir(base, visitor)


def teaching() -> TeachingLimits | None:
    """The teaching limits of this server, or ``None`` outside teaching mode."""
    return teaching_limits()


def visitor_id() -> str | None:
    """The visitor id of this tab in teaching mode (``None`` otherwise).

    Kept in the session and in the page's address (``?visitor=…``), so a reload or a
    bookmark finds the same campaigns; a tab without one gets a fresh id.
    """
    if teaching() is None:
        return None
    current = st.session_state.get(_key("visitor"))
    if not is_visitor_id(current):
        asked = st.query_params.get("visitor")
        current = asked if is_visitor_id(asked) else new_visitor_id()
        st.session_state[_key("visitor")] = current
    visitor = str(current)
    if st.query_params.get("visitor") != visitor:
        st.query_params["visitor"] = visitor
    return visitor


def _inside(path: str | os.PathLike[str], folder: Path) -> bool:
    """Whether ``path`` lies (at any depth) in ``folder``."""
    return folder.resolve() in Path(path).resolve().parents


def is_mine(path: str | os.PathLike[str]) -> bool:
    """Whether this tab may see ``path`` (a record, a fork, a sweep folder).

    Always outside teaching mode; in it, only what lies in the visitor's folder.
    """
    return teaching() is None or _inside(path, records_dir())


def check_may_start(*, budget: int, new_record: bool) -> TeachingLimits | None:
    """On a teaching server, refuse a campaign this visitor may not start (or resume) now.

    Parameters
    ----------
    budget : int
        Spectra the campaign would measure (0 for a resume: its budget was checked).
    new_record : bool
        Whether it makes a record (a resume does not), counted against the visitor's cap.

    Returns
    -------
    TeachingLimits or None
        The limits the campaign runs under; None outside teaching mode.

    Raises
    ------
    TeachingLimitError
        With what to do, when a limit would be passed.
    """
    limits = teaching()
    if limits is not None:
        check_new_campaign(
            limits,
            budget=budget,
            running_mine=count_active(campaign_entries()),
            running_all=count_active(registry().entries()),
            records_mine=len(list(records_dir().glob("*.sqlite"))) if new_record else 0,
        )
    return limits


def campaign_entries() -> list[RegistryEntry]:
    """The registry's campaigns this tab may see, newest first.

    All of them, or in teaching mode only those whose record lies in the visitor's folder.
    """
    return [e for e in registry().entries() if is_mine(e.record_path)]


LIVE_REFRESH_S = 3.0
"""Seconds between two redraws of a live view (``$STEERSCOPE_LIVE_REFRESH_S`` overrides).

Measured in Chromium on 2 cores (``bench/bench_ui_ack.py``, 2026-12-04, the figures
redrawn at most every ``campaign_tools.FIGURE_REDRAW_S``): a change typed while a DKL
campaign runs is acknowledged in a median 0.38 s at 3 s, 0.54 s at 1 s."""


def live_refresh_s() -> float:
    """The live views' redraw interval: ``$STEERSCOPE_LIVE_REFRESH_S`` or :data:`LIVE_REFRESH_S`."""
    text = os.environ.get("STEERSCOPE_LIVE_REFRESH_S", "")
    try:
        value = float(text) if text else LIVE_REFRESH_S
    except ValueError:
        return LIVE_REFRESH_S
    return value if 0.2 <= value <= 60 else LIVE_REFRESH_S


# -- learning mode -----------------------------------------------------------------------


def learning_enabled() -> bool:
    """Whether the sidebar learning-mode toggle is on."""
    return bool(st.session_state.get(LEARNING_KEY, False))


def learning_step() -> int:
    """Index of the walkthrough step this tab is on."""
    return int(get_value("learning_step"))


def set_learning_step(index: int) -> None:
    """Move the walkthrough to step ``index``."""
    set_value("learning_step", int(index))


# -- process-wide campaign registry ------------------------------------------------------


@dataclass
class RegistryEntry:
    """One running (or finished) campaign the server holds.

    Parameters
    ----------
    record_path : str
        The campaign's record file; the registry key.
    runner : Any
        The ``steerscope.campaign.CampaignRunner`` driving it.
    source : dict or None
        The source description it was started from (to rebuild a reloaded tab).
    scalarizer : dict or None
        The scalarizer spec it was started with.
    started_at : float
        Unix time it was registered.
    """

    record_path: str
    runner: Any
    source: dict[str, Any] | None = None
    scalarizer: dict[str, Any] | None = None
    started_at: float = field(default_factory=time.time)


class CampaignRegistry:
    """Process-wide map of record path → campaign runner, shared by every browser tab.

    Thread-safe; held in ``st.cache_resource`` so it outlives sessions and reruns.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, RegistryEntry] = {}

    def register(
        self,
        record_path: str | os.PathLike[str],
        runner: Any,
        *,
        source: dict[str, Any] | None = None,
        scalarizer: dict[str, Any] | None = None,
    ) -> RegistryEntry:
        """Hold ``runner`` under ``record_path``; an older runner there is stopped first."""
        key = str(record_path)
        entry = RegistryEntry(key, runner, source, scalarizer)
        with self._lock:
            old = self._entries.get(key)
            self._entries[key] = entry
        if old is not None and old.runner is not runner:
            _stop_runner(old.runner, 5.0)
        return entry

    def get(self, record_path: str | os.PathLike[str] | None) -> RegistryEntry | None:
        """The entry for ``record_path``, or ``None``."""
        if record_path is None:
            return None
        with self._lock:
            return self._entries.get(str(record_path))

    def entries(self) -> list[RegistryEntry]:
        """Every entry, newest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.started_at, reverse=True)

    def latest(self) -> RegistryEntry | None:
        """The most recently registered entry, or ``None``."""
        entries = self.entries()
        return entries[0] if entries else None

    def discard_under(self, folder: Path, timeout: float = 10.0) -> int:
        """Stop and forget every runner whose record lies in ``folder``; how many there were."""
        with self._lock:
            gone = [self._entries.pop(key) for key in list(self._entries) if _inside(key, folder)]
        for entry in gone:
            _stop_runner(entry.runner, timeout)
        return len(gone)

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every runner (bounded by ``timeout`` seconds each) and forget them."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            _stop_runner(entry.runner, timeout)


def _stop_runner(runner: Any, timeout: float) -> None:
    stop = getattr(runner, "stop", None)
    if callable(stop):
        stop(timeout)


@st.cache_resource(show_spinner=False)
def registry() -> CampaignRegistry:
    """The one :class:`CampaignRegistry` of this server process."""
    return CampaignRegistry()


@st.cache_resource(show_spinner=False)
def figure_cache() -> SnapshotCache:
    """Figures built from campaign snapshots, shared by every tab of this server process."""
    return SnapshotCache()


@st.cache_resource(show_spinner=False)
def replay_jobs() -> ReplayJobs:
    """The what-if replays (Review page) of this server process, shared by every tab."""
    return ReplayJobs()


@st.cache_resource(show_spinner=False)
def sweep_jobs() -> SweepJobs:
    """The planning sweeps (Sweep page) of this server process, shared by every tab."""
    return SweepJobs()


def stop_all_runners(timeout: float = 10.0) -> None:
    """Stop every campaign runner, what-if replay and sweep of this process (tests, shutdown)."""
    registry().stop_all(timeout)
    replay_jobs().stop_all(timeout)
    sweep_jobs().stop_all(timeout)
