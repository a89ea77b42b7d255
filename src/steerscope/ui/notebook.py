"""A running campaign in Jupyter: live overview, maps and target history, and the main controls.

:class:`CampaignView` is an ipywidgets box over anything that gives a
:class:`~steerscope.campaign.snapshot.CampaignSnapshot` and takes interventions:
a :class:`~steerscope.service.CampaignProcess` (the campaign in its own process,
as the web UI runs it), a :class:`~steerscope.service.SteeringClient` (a campaign
started elsewhere with ``steerscope run --serve``) or a
:class:`~steerscope.campaign.CampaignRunner` in the kernel. It draws the same
figures as the web UI (:mod:`steerscope.ui.figures`), as plotly figure widgets,
and posts the same interventions, so every action is recorded.

Examples
--------
>>> from steerscope.service import CampaignProcess
>>> from steerscope.ui.notebook import CampaignView
>>> process = CampaignProcess.create(config, "records/run.sqlite")  # doctest: +SKIP
>>> CampaignView(process)  # the last line of a cell shows it       # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from steerscope.campaign import AddPoints, Pause, Resume, SetPolicy
from steerscope.campaign.interventions import Intervention
from steerscope.campaign.snapshot import CampaignSnapshot
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures

__all__ = ["CampaignController", "CampaignView"]

_ENDED = ("finished", "stopped", "error")
_DATA_KEYS = ("x", "y", "z", "text", "customdata", "marker", "name")
"""Trace properties a redraw updates in place (the layout and the rest stay as drawn)."""


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except (ValueError, TypeError):
        return a == b


class CampaignController(Protocol):
    """What the view needs: a snapshot to draw and a way to post interventions."""

    def snapshot(self) -> CampaignSnapshot:
        """The campaign's latest state."""
        ...

    def post(self, intervention: Intervention) -> Any:
        """Queue an intervention; returns its acknowledgement in words."""
        ...


class CampaignView(widgets.VBox):
    """Live view and steering of one campaign.

    Parameters
    ----------
    controller : CampaignController
        ``CampaignProcess``, ``SteeringClient`` or ``CampaignRunner``.
    refresh_s : float
        Seconds between redraws while the campaign runs.
    autorefresh : bool
        Redraw in a background thread until the campaign ends or :meth:`close`;
        ``False``: only when :meth:`refresh` is called.

    Attributes
    ----------
    overview, maps, history : plotly.graph_objects.FigureWidget
        The overview with the measured points (click a pixel to pick it), the
        model's mean and uncertainty, and the measured target with the running
        best and the operator's changes.
    beta : ipywidgets.BoundedFloatText
        UCB beta; *Apply* posts ``SetPolicy(beta=...)``.
    picked : list of (int, int)
        Pixels clicked on the overview since the last *Measure picked next*.
    message : ipywidgets.HTML
        The acknowledgement of the last posted change, or why it was refused.
    """

    def __init__(
        self, controller: CampaignController, *, refresh_s: float = 2.0, autorefresh: bool = True
    ) -> None:
        self.controller = controller
        self.refresh_s = float(refresh_s)
        self.picked: list[tuple[int, int]] = []
        self._drawn_key: tuple[Any, ...] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

        self.status = widgets.HTML()
        self.message = widgets.HTML()
        self.overview = go.FigureWidget()
        self.maps = go.FigureWidget()
        self.history = go.FigureWidget()
        self.beta = widgets.BoundedFloatText(
            description="beta", min=0.0, max=1e6, step=0.25, layout={"width": "180px"}
        )
        self.apply_beta = widgets.Button(description="Apply", tooltip="SetPolicy(beta=...)")
        self.pause = widgets.Button(description="Pause", icon="pause")
        self.resume = widgets.Button(description="Resume", icon="play")
        self.measure_picked = widgets.Button(
            description="Measure 0 picked next", disabled=True, tooltip="AddPoints(picked)"
        )
        self.forget_picked = widgets.Button(description="Forget picked", disabled=True)
        self.apply_beta.on_click(lambda _: self._post(SetPolicy(beta=float(self.beta.value))))
        self.pause.on_click(lambda _: self._post(Pause()))
        self.resume.on_click(lambda _: self._post(Resume()))
        self.measure_picked.on_click(lambda _: self._post_picked())
        self.forget_picked.on_click(lambda _: self._set_picked([]))
        self._controls = widgets.HBox(
            [self.beta, self.apply_beta, self.pause, self.resume, self.measure_picked,
             self.forget_picked]
        )  # fmt: skip
        self._figures_row = widgets.HBox([self.overview, self.maps])
        super().__init__(
            [self.status, self._controls, self.message, self._figures_row, self.history]
        )
        self.refresh(force=True)
        self.beta.value = float(self._snapshot.policy.get("beta", 1.0) or 0.0)
        self._thread: threading.Thread | None = None
        if autorefresh:
            self._thread = threading.Thread(target=self._loop, name="steerscope-view", daemon=True)
            self._thread.start()

    # -- drawing -------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> CampaignSnapshot:
        """Take a snapshot and redraw what changed; returns the snapshot."""
        with self._lock:
            snap = self.controller.snapshot()
            self._snapshot = snap
            self.status.value = self._status_line(snap)
            key = (snap.n_measured, snap.step, snap.status, snap.queued, len(snap.events))
            if force or key != self._drawn_key:
                self._draw(snap)
                self._drawn_key = key
            return snap

    def _status_line(self, snap: CampaignSnapshot) -> str:
        best = np.nanmax(snap.targets) if np.isfinite(snap.targets).any() else float("nan")
        skill = snap.model_skill[-1] if snap.model_skill.size else float("nan")
        skill_text = f"{skill:+.2f}" if np.isfinite(skill) else "—"
        settings = campaign_tools.settings_summary(snap.policy, snap.descriptor, snap.scalarizer)
        return (
            f"<b>Status: {snap.status}</b>{' (' + snap.reason + ')' if snap.reason else ''} — "
            f"{snap.n_measured}/{snap.budget} measured, best target {best:.4g}, model skill "
            f"{skill_text}<br><small>{settings}</small>"
        )

    def _draw(self, snap: CampaignSnapshot) -> None:
        overview = figures.overview_figure(
            snap.overview,
            pixel_size=snap.pixel_size,
            pixel_units=snap.pixel_units,
            measured=snap.measured_points,
            next_points=snap.next_points,
            ahead_points=snap.ahead_points,
            selected=np.asarray(self.picked, dtype=np.int64).reshape(-1, 2),
            phases=snap.measured_phases or None,
            vetoed=snap.vetoed_points,
            title="Measured (numbered in order) — click a pixel to pick it",
            clickable=False,
            height=420,
        )
        # a click goes to the trace nearest the mouse within hoverdistance: kept small, a
        # click beside a marker picks the pixel under the mouse, not the marker's
        overview.update_layout(hoverdistance=2)
        self._show("overview", overview)
        if snap.mean_map is not None:
            label = str(snap.scalarizer.get("label") or "target")
            maps = figures.map_figure(
                snap.mean_map,
                title="Predicted mean",
                colorbar_title=campaign_tools.map_quantity("mean", label),
                measured=snap.measured_points,
                pixel_size=snap.pixel_size,
                pixel_units=snap.pixel_units,
                height=420,
            )
            self._show("maps", maps)
        marks = campaign_tools.intervention_marks(snap)
        self._show("history", figures.target_figure(snap.targets, marks=marks))

    def _show(self, name: str, figure: go.Figure) -> None:
        """Draw ``figure`` in the widget ``name``: in place when it has the same traces.

        Restyling the traces a browser already shows keeps the chart (and a click on
        it) alive; only when the traces differ (a new phase of points) is the widget
        replaced: deleting and adding traces in one update desynchronises plotly.js.
        """
        widget: go.FigureWidget = getattr(self, name)
        same = len(widget.data) == len(figure.data) and all(
            old.type == new.type for old, new in zip(widget.data, figure.data, strict=True)
        )
        if same and widget.data:
            with widget.batch_update():
                for old, new in zip(widget.data, figure.data, strict=True):
                    changed = {
                        key: value
                        for key, value in new.to_plotly_json().items()
                        if key in _DATA_KEYS and not _equal(old[key], value)
                    }
                    if changed:
                        old.update(changed)
            return
        replacement = go.FigureWidget(figure)
        if name == "overview":  # every trace: plotly reports a click to the trace nearest
            for trace in replacement.data:  # the mouse (a marker over the image, say)
                trace.on_click(self._on_overview_click)
        setattr(self, name, replacement)
        self._figures_row.children = (self.overview, self.maps)
        self.children = (self.status, self._controls, self.message, self._figures_row, self.history)

    # -- actions -------------------------------------------------------------------------------

    def _on_overview_click(self, trace: Any, points: Any, state: Any) -> None:
        """A click on the overview (its image or a marker on it): pick that pixel (once)."""
        if not points.xs:
            return
        pixel = (round(float(points.ys[0])), round(float(points.xs[0])))
        if pixel not in self.picked:
            self._set_picked([*self.picked, pixel])

    def pick(self, row: int, col: int) -> None:
        """Pick a pixel as a click on the overview does."""
        if (int(row), int(col)) not in self.picked:
            self._set_picked([*self.picked, (int(row), int(col))])

    def _set_picked(self, picked: list[tuple[int, int]]) -> None:
        self.picked = picked
        n = len(picked)
        self.measure_picked.description = f"Measure {n} picked next"
        self.measure_picked.disabled = self.forget_picked.disabled = n == 0
        where = ", ".join(f"row {r}, col {c}" for r, c in picked[-5:])
        self.message.value = f"Picked: {where}" if picked else ""
        self.refresh(force=True)

    def _post_picked(self) -> None:
        if self.picked and self._post(AddPoints(tuple(self.picked))):
            self._set_picked([])

    def _post(self, intervention: Intervention) -> bool:
        """Post and show the acknowledgement; a refused change is shown, not raised."""
        try:
            answer = self.controller.post(intervention)
        except SteerscopeError as exc:
            self.message.value = f"<span style='color:#c0392b'>Refused: {exc}</span>"
            return False
        self.message.value = campaign_tools.acknowledgement(str(answer or type(intervention)))
        self.refresh(force=True)
        return True

    # -- lifetime ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                snap = self.refresh()
            except SteerscopeError as exc:
                self.message.value = f"<span style='color:#c0392b'>{exc}</span>"
                continue
            if snap.status in _ENDED:
                return

    def close(self) -> None:
        """Stop redrawing and close the widgets (the campaign keeps running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_s + 5)
        super().close()
