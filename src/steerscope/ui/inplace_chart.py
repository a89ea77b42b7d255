"""A plotly chart that a rerun updates in place instead of drawing anew (issue B11).

``st.plotly_chart`` names a chart by its figure, so each live refresh that changes the
figure replaces the chart's DOM: the chart blanks for a moment, flickers, and a click
landing in that moment is lost. This Streamlit component keeps one plotly element for
the life of the page and hands it each new figure through ``Plotly.react``, which
changes only what differs and keeps the user's zoom.

The component is plain HTML (``static/inplace_chart.html``) that loads the plotly.js
shipped inside the ``plotly`` Python package; nothing is built and nothing is
downloaded. Streamlit serves a component only from one folder, so both files are copied
once into the data folder (:func:`component_dir`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st
import streamlit.components.v1 as components
from plotly.io.json import to_json_plotly

from steerscope.data.cache import data_dir

__all__ = ["component_dir", "inplace_chart"]

_HTML = Path(__file__).with_name("static") / "inplace_chart.html"
STREAMLIT_COLORWAY = (
    "#0068c9",
    "#83c9ff",
    "#ff2b2b",
    "#ffabab",
    "#29b09d",
    "#7defa1",
    "#ff8700",
    "#ffd16a",
    "#6d3fc0",
    "#d5dae5",
)
"""Streamlit's light theme's categorical colours, in its order."""
_PLOTLY_JS = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"


def component_dir() -> Path:
    """The folder Streamlit serves the component from: its page and plotly.js.

    Named by a digest of the page and the plotly version, so an upgrade of either gets a
    fresh folder; written once, atomically (a rename), so two servers starting together
    never serve half a file.

    Returns
    -------
    Path
        ``<data dir>/ui/inplace-chart-<digest>``, holding ``index.html`` and ``plotly.min.js``.
    """
    page = _HTML.read_bytes()
    digest = hashlib.sha256(page + plotly.__version__.encode()).hexdigest()[:16]
    folder = data_dir() / "ui" / f"inplace-chart-{digest}"
    if (folder / "index.html").is_file() and (folder / "plotly.min.js").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".inplace-chart-", dir=folder.parent))
    try:
        shutil.copyfile(_PLOTLY_JS, staging / "plotly.min.js")
        (staging / "index.html").write_bytes(page)
        try:
            os.replace(staging, folder)
        except OSError:  # another server put it there first: theirs is the same
            if not (folder / "index.html").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@cache
def _template() -> dict[str, Any]:
    """The template the charts are drawn with: what Streamlit's own charts look like.

    Streamlit's registered template holds placeholders its page swaps for the theme's
    colours, so this one names them: Streamlit's light categorical palette and grid on
    plotly's white template. The page's font does not reach the component's frame; the
    template names it with a fallback.
    """
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        colorway=STREAMLIT_COLORWAY,
        font={"family": '"Source Sans Pro", "Source Sans 3", sans-serif', "color": "#31333F"},
        title={"font": {"size": 16, "weight": 600}},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"gridcolor": "#e6eaf1", "zerolinecolor": "#d5dae5"},
        yaxis={"gridcolor": "#e6eaf1", "zerolinecolor": "#d5dae5"},
    )
    return dict(template.to_plotly_json())


@cache
def _component() -> Any:
    return components.declare_component("inplace_chart", path=str(component_dir()))


def inplace_chart(
    fig: go.Figure, key: str, on_select: Callable[[Any], object] | None = None
) -> None:
    """Draw ``fig`` in a chart that later reruns update in place; hand picks to ``on_select``.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        Built by :mod:`steerscope.ui.figures`. Its ``layout.height`` sets the chart's.
    key : str
        Widget key: the chart keeps its element as long as the key stays on the page.
    on_select : callable, optional
        Called, in a widget callback before the rerun, with each click or box selection
        as ``st.plotly_chart`` gives it (a mapping with ``"selection"``, holding
        ``"points"`` and ``"box"``), so :func:`steerscope.ui.figures.pixels_from_selection`
        and :func:`~steerscope.ui.figures.box_from_selection` read it. Whether a drag
        boxes or zooms is the figure's ``dragmode``.
    """
    spec = fig.to_dict()
    spec["layout"]["template"] = _template()

    def handle() -> None:
        if on_select is not None:
            on_select(st.session_state.get(key))

    _component()(spec=to_json_plotly(spec), key=key, default=None, on_change=handle)
