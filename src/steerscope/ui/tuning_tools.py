"""The Tune page's pieces: the config from the form, the running processes, the figures."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import yaml
from numpy.typing import NDArray

from steerscope.errors import ConfigError, RecordError, SteerscopeError
from steerscope.records.tuning_record import TuningRecord
from steerscope.service import TuningProcess
from steerscope.tuning import load_tuning_config
from steerscope.ui.campaign_tools import new_record_path
from steerscope.ui.figures import _MARGIN, _title

__all__ = [
    "ABERRATIONS",
    "TuningEntry",
    "flatness_figure",
    "latest_frame",
    "ronchigram_figure",
    "start_tuning",
    "tuning_processes",
]

ABERRATIONS = (
    ("C10", "defocus", 500.0, 250.0),
    ("C12.a", "two-fold astigmatism a", 100.0, -40.0),
    ("C12.b", "two-fold astigmatism b", 100.0, 30.0),
)
"""Settings the page offers: name, what it is, half of the default safe range (nm), usim start."""

_STARTING = threading.Lock()

HOW_COLOURS = {
    "start": "#444444",
    "space-filling": "#1f77b4",
    "bo": "#d62728",
    "random": "#9467bd",
    "forced": "#2ca02c",
}


class TuningEntry:
    """A tuning campaign this server started: its process once it has started.

    The process starts on a thread of its own, so that a page rerun (which a click
    interrupts) can neither lose it nor start a second one.

    Attributes
    ----------
    record : Path
        Its record.
    process : TuningProcess or None
        None while it starts (or if it failed to).
    error : str
        Why it did not start, or "".
    """

    def __init__(self, config_path: Path, record: Path) -> None:
        self.record = record
        self.process: TuningProcess | None = None
        self.error = ""
        self._thread = threading.Thread(
            target=self._start, args=(config_path,), daemon=True, name="tuning-start"
        )
        self._thread.start()

    def _start(self, config_path: Path) -> None:
        try:
            self.process = TuningProcess(config_path, self.record)
        except SteerscopeError as exc:
            self.error = str(exc)

    @property
    def busy(self) -> bool:
        """Whether it is starting or running (the instrument is taken)."""
        if self._thread.is_alive():
            return True
        return self.process is not None and self.process.running


@st.cache_resource(show_spinner=False)
def tuning_processes() -> dict[str, TuningEntry]:
    """The tuning campaigns this server started, by record path (every tab sees them)."""
    return {}


def start_tuning(folder: Path, form: Mapping[str, Any]) -> TuningEntry:
    """Write the form's config beside its record in ``folder`` and start it in a child process.

    Returns at once; the process starts on a thread (:class:`TuningEntry`).

    Raises
    ------
    ConfigError
        If the form's values make no valid config (checked before any process starts),
        or a tuning campaign runs already.
    """
    config = load_tuning_config(
        {
            "kind": "tuning",
            "name": "tuning",
            "instrument": {"driver": "usim", "mistuning": dict(form["start"])},
            "settings": [
                {"name": name, "low": low, "high": high, "unit": "nm"}
                for name, (low, high) in form["ranges"].items()
            ],
            "merit": {"radius_mrad": float(form["radius_mrad"])},
            "budget": int(form["budget"]),
            "beta": float(form["beta"]),
        }
    )
    entries = tuning_processes()
    with _STARTING:  # one instrument: one tuning campaign at a time, whatever the tabs do
        busy = [path for path, entry in entries.items() if entry.busy]
        if busy:
            raise ConfigError(
                f"a tuning campaign is running already ({Path(busy[0]).name}); the "
                "instrument tunes one at a time: stop it first"
            )
        record = new_record_path(folder, "tuning")
        config_path = record.with_suffix(".yaml")
        config_path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
        entry = TuningEntry(config_path, record)
        entries[str(entry.record)] = entry
    return entry


def latest_frame(record: Path, index: int) -> tuple[NDArray[np.float32], float] | None:
    """Frame ``index`` of a record being written (None if it cannot be read yet)."""
    try:
        with TuningRecord.open(record, read_only=True) as written:
            return written.frame(index)
    except (RecordError, sqlite3.Error):  # a record mid-write: the next refresh shows it
        return None


def flatness_figure(trials: Sequence[Mapping[str, Any]], *, height: int = 320) -> go.Figure:
    """Each frame's Ronchigram flatness, coloured by how its settings were chosen, and the best."""
    fig = go.Figure()
    for how, colour in HOW_COLOURS.items():
        mine = [t for t in trials if t["how"] == how]
        if mine:
            fig.add_trace(
                go.Scatter(
                    x=[t["index"] for t in mine],
                    y=[t["merit"] for t in mine],
                    mode="markers",
                    name=how,
                    marker={"color": colour, "size": 8},
                )
            )
    if trials:
        best = np.maximum.accumulate([t["merit"] for t in trials])
        fig.add_trace(
            go.Scatter(
                x=[t["index"] for t in trials],
                y=best,
                mode="lines",
                name="best so far",
                line={"color": "#444444"},
            )
        )
    fig.update_layout(
        title=_title("Ronchigram flatness per frame (higher: flatter)"),
        xaxis_title="frame",
        yaxis_title="flatness (decades)",
        height=height,
        margin=_MARGIN,
    )
    return fig


def ronchigram_figure(
    image: NDArray[np.float32],
    pixel_mrad: float,
    radius_mrad: float,
    *,
    title: str,
    height: int = 380,
) -> go.Figure:
    """A Ronchigram with angle axes (mrad) and the flatness disc drawn on it."""
    h, w = image.shape
    x = (np.arange(w) - (w - 1) / 2) * pixel_mrad
    y = (np.arange(h) - (h - 1) / 2) * pixel_mrad
    fig = go.Figure(
        go.Heatmap(
            z=image,
            x=x,
            y=y,
            colorscale="Gray",
            colorbar={"title": {"text": "intensity (counts)"}},
        )
    )
    fig.add_shape(
        type="circle",
        x0=-radius_mrad,
        x1=radius_mrad,
        y0=-radius_mrad,
        y1=radius_mrad,
        line={"color": "#ff7f0e", "dash": "dash"},
    )
    fig.update_layout(
        title=_title(title),
        xaxis_title="angle x (mrad)",
        yaxis_title="angle y (mrad)",
        yaxis_scaleanchor="x",
        height=height,
        margin=_MARGIN,
    )
    return fig
