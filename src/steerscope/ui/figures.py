"""Plotly figure builders for the web UI: pure functions of arrays, no Streamlit.

Every builder takes plain NumPy arrays (what a ``CampaignSnapshot`` or a
``SpectrumImage`` holds) and returns a ``plotly.graph_objects.Figure``, so the
pages stay thin and the figures can be tested without a browser.

Images are drawn with their origin at the top-left, ``x`` = column and
``y`` = row in overview pixels, the same ``(row, col)`` convention as the rest
of steerscope.

Plotly's selection events return nothing for a plain ``go.Heatmap`` (upstream
streamlit#8760), so clickable images carry an invisible ``go.Scatter`` at the
cell centres; :func:`pixels_from_selection` turns the event back into pixels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from numpy.typing import ArrayLike, NDArray

from steerscope.types import AXIS_QUANTITIES

__all__ = [
    "CLICK_TRACE_NAME",
    "DRAG_MODES",
    "PARETO_TRACE_NAME",
    "PHASE_STYLES",
    "REGIME_COLORS",
    "SPECTRUM_PICK_TRACE_NAME",
    "box_from_selection",
    "discovery_figure",
    "figure_html",
    "hypervolume_figure",
    "map_figure",
    "map_png",
    "model_skill_figure",
    "nice_scale_bar",
    "overview_figure",
    "pareto_figure",
    "patch_outline",
    "phase_styles",
    "pixels_from_selection",
    "point_from_selection",
    "point_labels",
    "spectrum_figure",
    "sweep_discovery_figure",
    "target_figure",
    "timeline_colour",
    "timeline_figure",
    "timing_figure",
    "window_from_selection",
]

CLICK_TRACE_NAME = "click-grid"
"""Name of the invisible scatter that makes image cells clickable."""

SPECTRUM_PICK_TRACE_NAME = "window-pick"
"""Name of the invisible scatter that makes a box-select on a spectrum return an energy range."""

PARETO_TRACE_NAME = "measured points"
"""Name of the Pareto plot's trace of every measured point (its customdata: measurement index)."""

MAX_DISPLAY_SIDE = 256
"""Images larger than this are shown decimated (every k-th pixel) to keep the page light."""

DRAG_MODES = ("zoom", "box")
"""What a mouse drag can do on an overview (:func:`overview_figure`'s ``drag``)."""

MAX_CLICK_POINTS = 128 * 128
"""At most this many invisible click targets per image; larger images get a coarser click grid."""

_POINT_LABEL_LIMIT = 20


_MARGIN = {"l": 10, "r": 10, "t": 64, "b": 10}
"""Figure margins: the top one holds plotly's toolbar above the title, side by side never."""


def _title(text: str) -> dict[str, Any]:
    """A title set on the plot's top edge, left, under the toolbar (which it must not meet).

    The titles carry the instructions ("click to add points"); plotly's toolbar sits at
    the top right of the figure and, with a title in the margin's middle, hid them (B9).
    """
    return {
        "text": text,
        "x": 0,
        "xanchor": "left",
        "xref": "paper",
        "y": 1,
        "yanchor": "bottom",
        "yref": "paper",
        "pad": {"b": 8},
    }


def nice_scale_bar(width_px: int, pixel_size: float, units: str) -> tuple[float, str]:
    """Choose a scale bar of a round length (1, 2 or 5 × 10^k) near a fifth of the image width.

    Parameters
    ----------
    width_px : int
        Image width in pixels, >= 1.
    pixel_size : float
        Size of one pixel in ``units``, > 0.
    units : str
        Length units of ``pixel_size`` (``"nm"``, ``"µm"``, …).

    Returns
    -------
    length_px : float
        Length of the bar in pixels.
    label : str
        Text to print under the bar, e.g. ``"20 nm"``.
    """
    target = max(width_px, 1) * pixel_size / 5.0
    if not math.isfinite(target) or target <= 0:
        return float(max(width_px, 1)) / 5.0, f"{max(width_px, 1) / 5.0:g} px"
    exponent = math.floor(math.log10(target))
    base = 10.0**exponent
    length = base
    for mult in (1.0, 2.0, 5.0, 10.0):
        if mult * base <= target:
            length = mult * base
    return length / pixel_size, f"{length:g} {units}"


def _decimation(shape: tuple[int, int], max_side: int) -> int:
    return max(1, math.ceil(max(shape) / max_side))


def _as_points(points: ArrayLike | None) -> NDArray[np.int64]:
    if points is None:
        return np.zeros((0, 2), dtype=np.int64)
    arr = np.asarray(points)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return arr.reshape(-1, 2).astype(np.int64)


def length_ticks(n_px: int, pixel_size: float) -> tuple[list[float], list[str]]:
    """Ticks at round lengths along an image side, placed in pixels and labelled in length.

    Parameters
    ----------
    n_px : int
        Pixels along the side.
    pixel_size : float
        Size of one pixel, in the length unit of the labels.

    Returns
    -------
    positions : list of float
        Tick positions in pixel coordinates (the plot's data coordinates, which clicks use).
    labels : list of str
        The lengths, e.g. ``["0", "20", "40"]``.
    """
    step_px, _ = nice_scale_bar(n_px, pixel_size, "")
    if not math.isfinite(step_px) or step_px <= 0:
        return [], []
    positions = [float(p) for p in np.arange(0.0, n_px - 0.5 + 1e-9, step_px)]
    return positions, [f"{p * pixel_size:.4g}" for p in positions]


def _image_axes(
    fig: go.Figure, shape: tuple[int, int], pixel_size: float = 1.0, pixel_units: str = "px"
) -> None:
    """Pixel data coordinates (clicks read rows and columns), axes labelled in length."""
    height, width = shape
    xs, xlabels = length_ticks(width, pixel_size)
    ys, ylabels = length_ticks(height, pixel_size)
    fig.update_xaxes(
        range=[-0.5, width - 0.5],
        showgrid=False,
        zeroline=False,
        constrain="domain",
        tickmode="array",
        tickvals=xs,
        ticktext=xlabels,
        title={"text": f"x ({pixel_units})", "standoff": 4},
    )
    fig.update_yaxes(
        range=[height - 0.5, -0.5],
        showgrid=False,
        zeroline=False,
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
        tickmode="array",
        tickvals=ys,
        ticktext=ylabels,
        title={"text": f"y ({pixel_units})", "standoff": 4},
    )


def _heatmap(
    values: NDArray[Any],
    colorscale: str,
    colorbar_title: str | None,
    max_side: int = MAX_DISPLAY_SIDE,
) -> go.Heatmap:
    step = _decimation((int(values.shape[0]), int(values.shape[1])), max_side)
    # float32 halves the base64 payload sent to the browser on every live refresh.
    shown = np.asarray(values, dtype=np.float32)[::step, ::step]
    rows = np.arange(0, values.shape[0], step)
    cols = np.arange(0, values.shape[1], step)
    return go.Heatmap(
        z=shown,
        x=cols,
        y=rows,
        colorscale=colorscale,
        showscale=colorbar_title is not None,
        colorbar={"title": {"text": colorbar_title or ""}, "thickness": 12},
        hovertemplate="row %{y}, col %{x}<br>%{z:.4g}<extra></extra>",
    )


def _click_grid(shape: tuple[int, int], max_points: int) -> go.Scattergl:
    # WebGL: one canvas, where an SVG scatter draws a path per point. Measured in
    # Chromium, the 64×64 SVG grid was most of what a live redraw cost the browser.
    height, width = shape
    step = max(1, math.ceil(math.sqrt(height * width / max_points)))
    rows, cols = np.mgrid[0:height:step, 0:width:step]
    return go.Scattergl(
        x=cols.ravel().astype(np.int32),
        y=rows.ravel().astype(np.int32),
        mode="markers",
        marker={"size": 6, "opacity": 0},
        hoverinfo="none",
        showlegend=False,
        name=CLICK_TRACE_NAME,
    )


def point_labels(n: int, *, at_most: int = _POINT_LABEL_LIMIT) -> list[str]:
    """Order numbers for ``n`` measured points, thinned so they do not pile up.

    The first point, every k-th and the last three carry their number (about ``at_most``
    in all); the others are blank on the image and numbered on hover.
    """
    if n <= at_most:
        return [str(i + 1) for i in range(n)]
    every = math.ceil(n / at_most)
    return [str(i + 1) if i % every == 0 or i >= n - 3 else "" for i in range(n)]


PHASE_STYLES: dict[str, tuple[str, str]] = {
    "seed point": ("diamond", "#f8f9fa"),
    "added by hand": ("star", "#06d6a0"),
    "random (no model yet)": ("square", "#adb5bd"),
    "last ranking (slow refit)": ("circle-open", "#e9ecef"),
    "re-measured after a restart": ("circle-dot", "#adb5bd"),
}
"""Marker symbol and colour of the phases that are not a model regime."""
REGIME_COLORS = ("#ffd166", "#ef476f", "#4cc9f0", "#f77f00", "#b5179e", "#80ed99")
"""Colours of successive model regimes (an acquisition and beta), in order of first use."""


def phase_styles(phases: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Symbol and colour of each phase in ``phases``, in order of first appearance.

    Seeds, hand-added points and the like keep one style each (``PHASE_STYLES``);
    each model regime ("UCB β 0.25", "UCB β 1", "EI") gets the next colour of
    ``REGIME_COLORS`` as a circle, so a change of beta shows on the overview.
    """
    styles: dict[str, tuple[str, str]] = {}
    regimes = 0
    for phase in phases:
        if phase in styles:
            continue
        if phase in PHASE_STYLES:
            styles[phase] = PHASE_STYLES[phase]
        else:
            styles[phase] = ("circle", REGIME_COLORS[regimes % len(REGIME_COLORS)])
            regimes += 1
    return styles


def _add_points(
    fig: go.Figure,
    measured: NDArray[np.int64],
    next_points: NDArray[np.int64],
    selected: NDArray[np.int64],
    ahead_points: NDArray[np.int64] | None = None,
    phases: Sequence[str] | None = None,
    vetoed: NDArray[np.int64] | None = None,
) -> None:
    if len(measured):
        labels = list(phases) if phases is not None and len(phases) == len(measured) else None
        styles = phase_styles(labels) if labels else {}
        marker: dict[str, Any] = {
            "size": 7,
            "color": "#ffd166",
            "line": {"width": 1, "color": "black"},
        }
        if labels:
            marker["color"] = [styles[p][1] for p in labels]
            marker["symbol"] = [styles[p][0] for p in labels]
        fig.add_trace(
            go.Scatter(
                x=measured[:, 1],
                y=measured[:, 0],
                mode="markers+text",
                text=point_labels(len(measured)),
                customdata=np.arange(1, len(measured) + 1),
                hovertext=labels or ["measured"] * len(measured),
                textposition="top center",
                textfont={"size": 9, "color": "#ffd166"},
                marker=marker,
                name="measured (in order)",
                showlegend=not labels,
                hovertemplate="#%{customdata} (%{hovertext}): row %{y}, col %{x}<extra></extra>",
            )
        )
        for phase, (symbol, color) in styles.items():  # the legend: one entry per phase
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    marker={"size": 8, "symbol": symbol, "color": color, "line": {"width": 1}},
                    name=phase,
                    hoverinfo="skip",
                )
            )
    if vetoed is not None and len(vetoed):
        fig.add_trace(
            go.Scatter(
                x=vetoed[:, 1],
                y=vetoed[:, 0],
                mode="markers",
                marker={"size": 9, "symbol": "x", "color": "#ef476f", "line": {"width": 1}},
                name="vetoed",
                hovertemplate="vetoed: row %{y}, col %{x}<extra></extra>",
            )
        )
    overlays = (
        (next_points, "measuring now", "x-thin-open", "#ef476f", 13, 3),
        (ahead_points, "next suggested", "circle-x-open", "#ff9f1c", 13, 2),
        (selected, "selected", "circle-open", "#06d6a0", 11, 2),
    )
    for points, name, symbol, color, size, width in overlays:
        if points is not None and len(points):
            fig.add_trace(
                go.Scatter(
                    x=points[:, 1],
                    y=points[:, 0],
                    mode="markers",
                    marker={
                        "size": size,
                        "symbol": symbol,
                        "color": color,
                        "line": {"width": width},
                    },
                    name=name,
                    hovertemplate=f"{name}: row %{{y}}, col %{{x}}<extra></extra>",
                )
            )


def patch_outline(center: tuple[int, int], patch_size: int) -> dict[str, float]:
    """The rectangle a descriptor patch of ``patch_size`` covers around ``center``.

    Parameters
    ----------
    center : tuple of int
        ``(row, col)`` of the candidate pixel.
    patch_size : int
        Side of the square patch in overview pixels.

    Returns
    -------
    dict
        ``x0, x1, y0, y1`` in plot coordinates (pixel edges), as a plotly shape wants.
    """
    row, col = center
    half = patch_size / 2.0
    return {
        "x0": col - half,
        "x1": col + half,
        "y0": row - half,
        "y1": row + half,
    }


_ROW_COL = "row %{y}, col %{x}<extra></extra>"


def _pointed_out(
    points: NDArray[np.int64],
    symbol: str,
    colour: str,
    size: int,
    labels: list[str] | None = None,
) -> go.Scatter:
    """Large open markers on pixels ``(k, 2)`` to point them out, labelled if given."""
    trace = go.Scatter(
        x=points[:, 1],
        y=points[:, 0],
        mode="markers+text" if labels else "markers",
        marker={"size": size, "symbol": symbol, "color": colour, "line": {"width": 3}},
    )
    if labels:
        trace.update(
            text=labels[: points.shape[0]],
            textposition="top center",
            textfont={"color": colour, "size": 16},
        )
    return trace


def overview_figure(
    image: ArrayLike,
    *,
    pixel_size: float = 1.0,
    pixel_units: str = "nm",
    measured: ArrayLike | None = None,
    next_points: ArrayLike | None = None,
    ahead_points: ArrayLike | None = None,
    selected: ArrayLike | None = None,
    no_go: ArrayLike | None = None,
    patch: tuple[tuple[int, int], int] | None = None,
    highlight: tuple[int, int] | None = None,
    compared: ArrayLike | None = None,
    phases: Sequence[str] | None = None,
    vetoed: ArrayLike | None = None,
    title: str = "Overview",
    clickable: bool = True,
    drag: str = "zoom",
    max_click_points: int = MAX_CLICK_POINTS,
    height: int = 480,
) -> go.Figure:
    """The overview image with a scale bar, measured points in order and the next suggestion.

    Parameters
    ----------
    image : array_like of shape (H, W)
        The overview (HAADF) image.
    pixel_size, pixel_units : float, str
        Size of one overview pixel, for the scale bar.
    measured : array_like of shape (n, 2), optional
        Measured pixels ``(row, col)`` in the order they were measured; numbered from 1.
    next_points : array_like of shape (q, 2), optional
        Points chosen and being measured (the spectrum in flight, the rest of its batch).
    ahead_points : array_like of shape (p, 2), optional
        The proposal already computed for the move after those: "next suggested".
    selected : array_like of shape (k, 2), optional
        Pixels the user picked (spectrum explorer, seed or added points).
    no_go : array_like of shape (H, W) of bool, optional
        Pixels the beam must not visit; drawn as a red veil.
    patch : ((row, col), size), optional
        Draw the descriptor patch of ``size`` around ``(row, col)``.
    highlight : (row, col), optional
        One pixel to point out (the point picked on the Pareto plot): a large open star.
    compared : array_like of shape (2, 2), optional
        The two measured pixels the operator is asked to compare: open circles
        labelled 1 and 2, as in the comparison panel.
    phases : sequence of str, optional
        What chose each measured point, shape ``(n,)`` (the snapshot's
        ``measured_phases``): the points are coloured and shaped by it, one legend
        entry each (:func:`phase_styles`).
    vetoed : array_like of shape (v, 2), optional
        Pixels the operator forbade: red crosses.
    title : str
        Figure title.
    clickable : bool
        Add the invisible click grid so ``st.plotly_chart(on_select=...)`` returns pixels.
    drag : {"zoom", "box"}
        What a mouse drag does: zoom (a click then picks a pixel) or box-select pixels.
        Plotly drops a plain click while box-select is the drag mode, so an image cannot
        offer both at once; a page that needs both lets the user choose (see ``DRAG_MODES``).
    max_click_points : int
        At most this many click targets; larger images get a coarser click grid.
    height : int
        Figure height in CSS pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if drag not in DRAG_MODES:
        raise ValueError(f"drag must be one of {sorted(DRAG_MODES)}, got {drag!r}")
    img = np.asarray(image, dtype=np.float64)
    shape = (int(img.shape[0]), int(img.shape[1]))
    fig = go.Figure()
    fig.add_trace(_heatmap(img, "gray", None))
    if no_go is not None:
        mask = np.asarray(no_go, dtype=bool)
        if mask.any():
            veil = np.where(mask, 1.0, np.nan)
            step = _decimation(shape, MAX_DISPLAY_SIDE)
            fig.add_trace(
                go.Heatmap(
                    z=veil[::step, ::step],
                    x=np.arange(0, shape[1], step),
                    y=np.arange(0, shape[0], step),
                    colorscale=[[0, "rgba(239,71,111,0.35)"], [1, "rgba(239,71,111,0.35)"]],
                    showscale=False,
                    hoverinfo="skip",
                    name="no-go",
                )
            )
    if clickable:
        fig.add_trace(_click_grid(shape, max_click_points))
    _add_points(
        fig,
        _as_points(measured),
        _as_points(next_points),
        _as_points(selected),
        _as_points(ahead_points),
        phases,
        _as_points(vetoed),
    )
    if patch is not None:
        (center, size) = patch
        outline = patch_outline(center, size)
        fig.add_shape(type="rect", line={"color": "#118ab2", "width": 2}, **outline)
    if highlight is not None:
        star = _pointed_out(np.asarray([highlight]), "star-open", "#00e5ff", 20)
        fig.add_trace(
            star.update(name="picked on the Pareto plot", hovertemplate="picked: " + _ROW_COL)
        )
    if compared is not None:
        pair = _as_points(compared)
        circles = _pointed_out(pair, "circle-open", "#ffd166", 18, labels=["1", "2"])
        fig.add_trace(
            circles.update(
                name="which is more interesting?", hovertemplate="compare %{text}: " + _ROW_COL
            )
        )
    bar_px, bar_label = nice_scale_bar(shape[1], pixel_size, pixel_units)
    x1 = shape[1] - 0.5 - shape[1] * 0.05
    y = shape[0] - 0.5 - shape[0] * 0.06
    fig.add_shape(
        type="line", x0=x1 - bar_px, x1=x1, y0=y, y1=y, line={"color": "white", "width": 4}
    )
    fig.add_annotation(
        x=x1 - bar_px / 2,
        y=y,
        yshift=12,
        text=bar_label,
        showarrow=False,
        font={"color": "white", "size": 12},
    )
    _image_axes(fig, shape, pixel_size, pixel_units)
    fig.update_layout(
        title=_title(title),
        height=height,
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.12},
        dragmode="select" if clickable and drag == "box" else "zoom",
        clickmode="event+select",
    )
    _keep_overlays_visible(fig)
    return fig


def _keep_overlays_visible(fig: go.Figure) -> None:
    """A click selects one cell of the click grid; the overlay markers must not fade with it.

    Plotly dims the unselected points of every trace while a selection exists, which
    would grey out the measured points after each click.
    """
    for trace in fig.data:
        if not isinstance(trace, go.Scatter | go.Scattergl):
            continue
        opacity = 0.0 if trace.name == CLICK_TRACE_NAME else 1.0
        trace.update(selected={"marker": {"opacity": opacity}})
        trace.update(unselected={"marker": {"opacity": opacity}})


def map_figure(
    values: ArrayLike,
    *,
    title: str,
    colorscale: str = "Viridis",
    colorbar_title: str = "",
    measured: ArrayLike | None = None,
    next_points: ArrayLike | None = None,
    ahead_points: ArrayLike | None = None,
    pixel_size: float = 1.0,
    pixel_units: str = "px",
    max_side: int = MAX_DISPLAY_SIDE,
    height: int = 360,
) -> go.Figure:
    """A per-pixel map (predicted mean, uncertainty, acquisition, ground truth, target preview).

    Parameters
    ----------
    values : array_like of shape (H, W)
        The map on the overview grid; NaN cells are left blank.
    title : str
        Figure title.
    colorscale : str
        Plotly colour scale name.
    colorbar_title : str
        The quantity (and unit) shown on the colour bar.
    measured, next_points, ahead_points : array_like of shape (n, 2), optional
        Points to overlay, as in :func:`overview_figure`.
    pixel_size, pixel_units : float, str
        Size of one pixel: the axes are labelled in that length (``"px"``: in pixels).
    max_side : int
        Show every k-th pixel so neither side exceeds this (lighter live refreshes).
    height : int
        Figure height in CSS pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    arr = np.asarray(values, dtype=np.float64)
    shape = (int(arr.shape[0]), int(arr.shape[1]))
    fig = go.Figure(_heatmap(arr, colorscale, colorbar_title, max_side))
    _add_points(
        fig,
        _as_points(measured),
        _as_points(next_points),
        _as_points(None),
        _as_points(ahead_points),
    )
    _image_axes(fig, shape, pixel_size, pixel_units)
    fig.update_layout(
        title=_title(title),
        height=height,
        margin=_MARGIN,
        showlegend=False,
    )
    return fig


def spectrum_figure(
    energy: ArrayLike,
    spectra: Mapping[str, ArrayLike],
    *,
    units: str = "eV",
    window: tuple[float, float] | None = None,
    second_window: tuple[float, float] | None = None,
    title: str = "Spectra",
    log_y: bool = False,
    x_range: tuple[float, float] | None = None,
    markers: Sequence[tuple[float, str]] = (),
    height: int = 380,
) -> go.Figure:
    """Overlay of spectra with the scalarizer window(s) shaded; box-select picks a window.

    Parameters
    ----------
    energy : array_like of shape (C,)
        Channel energies.
    spectra : mapping of str to array_like of shape (C,)
        One line per entry, keyed by its legend label (e.g. ``"row 3, col 7"``, ``"mean"``).
    units : str
        Energy units for the axis title.
    window, second_window : (low, high), optional
        Energy windows to shade (the second one for ratios, in another colour).
    title : str
        Figure title.
    log_y : bool
        Counts on a log axis: weak edges and plasmons beside a zero-loss peak (or a strong
        X-ray line) stay visible.
    x_range : (low, high), optional
        Energy range shown (zoom to the window); the whole axis when omitted.
    markers : sequence of (energy, label)
        X-ray lines or EELS edges to mark (``steerscope.scalarizers.elements``).
    height : int
        Figure height in CSS pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        The last trace is an invisible marker line (:data:`SPECTRUM_PICK_TRACE_NAME`) so a
        box selection returns points whose energies :func:`window_from_selection` reads.
    """
    e = np.asarray(energy, dtype=np.float64)
    fig = go.Figure()
    floor = math.inf  # the lowest positive count: where the pick line sits on a log axis
    for label, spectrum in spectra.items():
        y = np.asarray(spectrum, dtype=np.float64)
        positive = y[np.isfinite(y) & (y > 0)]
        if positive.size:
            floor = min(floor, float(positive.min()))
        fig.add_trace(go.Scatter(x=e, y=y, mode="lines", name=label))
    for win, color in ((window, "rgba(17,138,178,0.2)"), (second_window, "rgba(239,71,111,0.2)")):
        if win is not None:
            fig.add_vrect(x0=win[0], x1=win[1], fillcolor=color, line_width=0)
    fig.add_trace(
        go.Scatter(
            x=e,
            y=np.full_like(e, floor if log_y and math.isfinite(floor) else 0.0),
            mode="markers",
            marker={"size": 4, "opacity": 0},
            hoverinfo="none",
            showlegend=False,
            name=SPECTRUM_PICK_TRACE_NAME,
        )
    )
    fig.update_layout(
        title=_title(title),
        height=height,
        xaxis_title=f"{AXIS_QUANTITIES.get(units, 'energy')} ({units})",
        yaxis_title="counts (log)" if log_y else "counts",
        yaxis_type="log" if log_y else "linear",
        # one label per decade: plotly's default also labels 2 and 5 of every decade,
        # which piles up over the zero-loss peak's five decades
        yaxis_dtick=1 if log_y else None,
        margin=_MARGIN,
        dragmode="select",
        selectdirection="h",
        legend={"orientation": "h", "y": -0.25},
    )
    for energy_at, label in markers:
        fig.add_vline(
            x=float(energy_at),
            line={"dash": "dash", "color": "#6c757d", "width": 1},
            annotation={"text": label, "textangle": -90, "font": {"size": 9}},
            annotation_position="top right",
        )
    if x_range is not None:
        fig.update_xaxes(range=[float(min(x_range)), float(max(x_range))])
    return fig


def _mark_changes(fig: go.Figure, marks: Sequence[tuple[float, str]]) -> None:
    """A dotted line at each operator change, labelled, on a plot against measurement number."""
    for x, text in marks:
        short = text if len(text) <= 28 else text[:27] + "…"
        fig.add_vline(
            x=float(x),
            line={"dash": "dot", "color": "#8d99ae", "width": 1},
            annotation={"text": short, "textangle": -90, "font": {"size": 9}},
            annotation_position="top left",
        )


def discovery_figure(
    discovery: Sequence[tuple[int, float]],
    *,
    marks: Sequence[tuple[float, str]] = (),
    height: int = 300,
) -> go.Figure:
    """Discovery curve: how much of the ground truth the campaign has found after n measurements.

    Parameters
    ----------
    discovery : sequence of (n_measured, value)
        As in ``CampaignSnapshot.discovery``.
    marks : sequence of (x, text)
        Operator changes to mark, at the measurement number they came after.
    height : int
        Figure height in CSS pixels.
    """
    xs = [int(n) for n, _ in discovery]
    ys = [float(v) for _, v in discovery]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name="discovery"))
    fig.update_layout(
        title=_title("Discovery (ground truth)"),
        xaxis_title="measurements",
        yaxis_title="fraction found",
        height=height,
        margin=_MARGIN,
    )
    _mark_changes(fig, marks)
    return fig


SKILL_FLOOR = -2.0
"""Lowest skill drawn: below it the figure says only "far worse than the mean" (clipped)."""


def model_skill_figure(
    skill: ArrayLike,
    *,
    marks: Sequence[tuple[float, str]] = (),
    height: int = 300,
) -> go.Figure:
    """Model skill after each measurement, with the line at 0 below which the model is lost.

    Parameters
    ----------
    skill : array_like of shape (n,)
        As in ``CampaignSnapshot.model_skill`` (NaN before a verdict).
    marks : sequence of (x, text)
        Operator changes to mark, at the measurement number they came after.
    height : int
        Figure height in CSS pixels.
    """
    values = np.asarray(skill, dtype=np.float64).reshape(-1)
    xs = np.arange(1, values.size + 1)
    shown = np.where(np.isfinite(values), np.clip(values, SKILL_FLOOR, 1.0), np.nan)
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=shown,
            mode="lines+markers",
            name="skill",
            customdata=values,
            hovertemplate="after %{x} measurements: skill %{customdata:+.2f}<extra></extra>",
        )
    )
    fig.add_hrect(y0=SKILL_FLOOR, y1=0.0, fillcolor="rgba(214,39,40,0.08)", line_width=0)
    fig.add_hline(
        y=0.0,
        line={"color": "rgb(214,39,40)", "dash": "dash", "width": 1},
        annotation={"text": "no better than the mean: lost below", "font": {"size": 9}},
        annotation_position="bottom right",
    )
    if not np.isfinite(values).any():
        fig.add_annotation(
            text="no verdict yet: 10 predicted measurements needed",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.6,
        )
    fig.update_layout(
        title=_title("Model skill"),  # a column's width: longer titles were cut
        xaxis_title="measurements",
        yaxis_title="skill: 1 − SSE model / SSE mean",
        yaxis_range=[SKILL_FLOOR - 0.05, 1.05],
        height=height,
        margin=_MARGIN,
        showlegend=False,
    )
    _mark_changes(fig, marks)
    return fig


def target_figure(
    targets: ArrayLike,
    *,
    label: str = "target",
    marks: Sequence[tuple[float, str]] = (),
    height: int = 300,
) -> go.Figure:
    """Measured target in measurement order, with the running best and the operator's changes.

    Parameters
    ----------
    targets : array_like of shape (n,)
        Target value of each measurement in the order measured.
    label : str
        Axis title (the scalarizer's label).
    marks : sequence of (x, text)
        Operator changes to mark, at the measurement number they came after.
    height : int
        Figure height in CSS pixels.
    """
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    x = np.arange(1, y.size + 1)
    best = np.fmax.accumulate(y) if y.size else y
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="measured"))
    fig.add_trace(go.Scatter(x=x, y=best, mode="lines", name="best so far"))
    fig.update_layout(
        title=_title("Target vs measurement"),
        xaxis_title="measurement #",
        yaxis_title=label,
        height=height,
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.3},
    )
    _mark_changes(fig, marks)
    return fig


_TIMING_PHASES = {
    "instrument_s": "instrument",
    "fit_s": "training",
    "posterior_s": "acquisition",
    "acquisition_s": "acquisition",
    "record_s": "record",
    "beam_wait_s": "beam waiting",
}
"""Engine timing keys → the phases of the per-step chart (the seed group's categories)."""


def timing_figure(
    step_timings: Sequence[Mapping[str, Any]],
    *,
    beam_idle: float | None = None,
    height: int = 300,
) -> go.Figure:
    """Stacked bars of where each step's time went: instrument, training, acquisition, waiting.

    Parameters
    ----------
    step_timings : sequence of mapping
        One mapping per step, as in ``CampaignSnapshot.step_timings``: numeric entries are
        seconds per phase (the engine's ``*_s`` keys are grouped into instrument /
        training / acquisition / record / beam waiting; other keys stay as they are;
        ``ask_s`` and ``total*`` are sums of the others and are not stacked); a
        ``"step"`` entry, if present, labels the bar.
    beam_idle : float, optional
        Fraction of the time the beam waited, shown in the title.
    height : int
        Figure height in CSS pixels.
    """
    steps: list[int] = []
    phases: dict[str, list[float]] = {}
    for i, timing in enumerate(step_timings):
        steps.append(int(timing.get("step", i)))
    for i, timing in enumerate(step_timings):
        for key, value in timing.items():
            if key in ("step", "ask_s") or key.startswith("total") or isinstance(value, bool):
                continue
            if not isinstance(value, int | float):
                continue
            phase = _TIMING_PHASES.get(key, key)
            phases.setdefault(phase, [0.0] * len(step_timings))[i] += float(value)
    fig = go.Figure([go.Bar(x=steps, y=v, name=k) for k, v in phases.items()])
    title = "Step timing"
    if beam_idle is not None and np.isfinite(beam_idle):
        title += f" · beam idle {100 * beam_idle:.1f} %"
    fig.update_layout(
        barmode="stack",
        title=_title(title),
        xaxis_title="step",
        yaxis_title="time (s)",
        height=height,
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.45, "yanchor": "top"},
    )
    return fig


TROUBLE_EVENTS = frozenset(
    {
        "model_lost",
        "model_error",
        "model_stall",
        "step_error",
        "instrument_error",
        "safety_limit",
        "record_error",
        "intervention_rejected",
        "proposal_rejected",
    }
)
"""Events that say something went wrong or was refused: red on the timeline."""
GOOD_EVENTS = frozenset({"model_skill", "proposal_approved"})
"""Events that say something came right: green on the timeline."""


def timeline_colour(kind: str) -> str:
    """The timeline colour of a row: operator changes blue, trouble red, recovery green.

    Parameters
    ----------
    kind : str
        An intervention's kind (``"SetPolicy"``) or ``"event: <kind>"``.
    """
    if not kind.startswith("event: "):
        return "#0068c9"  # the operator's (or an approved assistant's) change
    event = kind.removeprefix("event: ")
    if event in TROUBLE_EVENTS:
        return "#d62728"
    if event in GOOD_EVENTS:
        return "#2ca02c"
    return "#8c8c8c"


def timeline_figure(events: Sequence[tuple[int, str, str]], *, height: int = 260) -> go.Figure:
    """Interventions and events on a step axis, one row per kind, coloured by meaning.

    Parameters
    ----------
    events : sequence of (step, kind, text)
        What happened at which step.
    height : int
        Figure height in CSS pixels.
    """
    kinds = sorted({kind for _, kind, _ in events})
    fig = go.Figure()
    for kind in kinds:
        picked = [(s, t) for s, k, t in events if k == kind]
        fig.add_trace(
            go.Scatter(
                x=[s for s, _ in picked],
                y=[kind] * len(picked),
                text=[t for _, t in picked],
                mode="markers",
                marker={"size": 12, "color": timeline_colour(kind)},
                name=kind,
                hovertemplate="step %{x}: %{text}<extra></extra>",
            )
        )
    fig.update_layout(
        title=_title("Timeline"),
        xaxis_title="step",
        height=height,
        margin=_MARGIN,
        showlegend=False,
    )
    return fig


def pareto_figure(
    objectives: ArrayLike,
    front: ArrayLike,
    *,
    labels: Sequence[str] = (),
    reference_point: ArrayLike | None = None,
    policy_ref_point: ArrayLike | None = None,
    highlight: int | None = None,
    height: int = 380,
) -> go.Figure:
    """Measured points in objective space: objective 1 vs objective 2, the Pareto front drawn.

    Parameters
    ----------
    objectives : array_like of shape (n, k), k >= 2
        Every objective of each measured point, in measurement order; only the first two
        are drawn. Rows with a non-finite value in either are left out.
    front : array_like of shape (n,) of bool
        True for the points on the Pareto front (joined by a staircase line).
    labels : sequence of str
        Objective names for the axis titles.
    reference_point : array_like of shape (k,), optional
        The fixed hypervolume reference point (a black cross).
    policy_ref_point : array_like of shape (k,), optional
        The EHVI reference point set by the operator, when there is one (an orange cross).
    highlight : int, optional
        Index of the measured point picked on this plot (a large open circle).
    height : int
        Figure height in CSS pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        Its trace :data:`PARETO_TRACE_NAME` holds every drawn point, coloured by measurement
        number, with that point's index in ``customdata`` so a click can be read back with
        :func:`point_from_selection`.
    """
    values = np.asarray(objectives, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(
            f"the Pareto plot needs objectives of shape (n, k >= 2); got {values.shape}. "
            "Use target_figure for a single target."
        )
    on_front = np.asarray(front, dtype=bool).reshape(-1)
    index = np.arange(len(values))
    ok = np.all(np.isfinite(values[:, :2]), axis=1)
    names = [*labels, "objective 1", "objective 2"]
    xlabel = str(labels[0]) if len(labels) > 0 else names[-2]
    ylabel = str(labels[1]) if len(labels) > 1 else names[-1]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=values[ok, 0],
            y=values[ok, 1],
            mode="markers",
            customdata=index[ok],
            marker={
                "size": 9,
                "color": index[ok] + 1,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": "measurement #"}, "thickness": 12},
                "line": {"width": 0.5, "color": "black"},
            },
            name=PARETO_TRACE_NAME,
            hovertemplate="#%{customdata}: %{x:.4g}, %{y:.4g}<extra></extra>",
        )
    )
    mask = ok & (on_front if on_front.size == len(values) else np.zeros(len(values), bool))
    if mask.any():
        order = np.argsort(-values[mask, 0])
        xs, ys = values[mask, 0][order], values[mask, 1][order]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                line={"shape": "vh", "color": "#ef476f", "width": 2},
                marker={
                    "size": 13,
                    "symbol": "circle-open",
                    "color": "#ef476f",
                    "line": {"width": 2},
                },
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    for point, name, color in (
        (reference_point, "hypervolume reference", "black"),
        (policy_ref_point, "EHVI reference (set)", "#f78c1f"),
    ):
        if point is not None:
            ref = np.asarray(point, dtype=np.float64).reshape(-1)
            fig.add_trace(
                go.Scatter(
                    x=[ref[0]],
                    y=[ref[1]],
                    mode="markers",
                    marker={"size": 14, "symbol": "x", "color": color},
                    name=name,
                    hovertemplate=f"{name}: %{{x:.4g}}, %{{y:.4g}}<extra></extra>",
                )
            )
    if highlight is not None and 0 <= int(highlight) < len(values) and ok[int(highlight)]:
        fig.add_trace(
            go.Scatter(
                x=[values[int(highlight), 0]],
                y=[values[int(highlight), 1]],
                mode="markers",
                marker={
                    "size": 22,
                    "symbol": "star-open",
                    "color": "#00a6c7",
                    "line": {"width": 3},
                },
                name="picked",
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=_title("Objective space (click a point)"),
        xaxis_title=xlabel,
        yaxis_title=ylabel,
        height=height,
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.25},
        clickmode="event+select",
    )
    return fig


def hypervolume_figure(history: Sequence[tuple[int, float]], *, height: int = 300) -> go.Figure:
    """Hypervolume of the measured points above the fixed reference, after each step.

    Parameters
    ----------
    history : sequence of (n_measured, hypervolume)
        As in ``CampaignSnapshot.hypervolume_history``, one entry per step.
    height : int
        Figure height in CSS pixels.
    """
    xs = [int(n) for n, _ in history]
    ys = [float(v) for _, v in history]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name="hypervolume"))
    fig.update_layout(
        title=_title("Hypervolume vs measurements"),
        xaxis_title="measurements",
        yaxis_title="hypervolume (fixed reference)",
        height=height,
        margin=_MARGIN,
    )
    return fig


def sweep_discovery_figure(rows: Sequence[Mapping[str, Any]], *, height: int = 380) -> go.Figure:
    """Discovery vs measurements of every run of a sweep, one step line per run.

    Parameters
    ----------
    rows : sequence of mapping
        Summary rows (``steerscope.sweeps.load_summary``): ``name``, ``run_id`` and
        ``discovery_curve`` as ``[[n_measured, fraction], ...]`` (empty: not scored).
    height : int
        Figure height in CSS pixels.
    """
    fig = go.Figure()
    for row in rows:
        curve = row.get("discovery_curve") or []
        if not curve:
            continue
        fig.add_trace(
            go.Scatter(
                x=[int(k) for k, _ in curve],
                y=[float(f) for _, f in curve],
                mode="lines",
                line={"shape": "hv"},
                name=f"{str(row.get('run_id', ''))[:6]} {row.get('name', '')}".strip(),
            )
        )
    fig.update_layout(
        title=_title("Discovery vs measurements, per run"),
        xaxis_title="measurements",
        yaxis_title="fraction of top pixels found",
        height=height,
        margin=_MARGIN,
        legend={"orientation": "h", "y": -0.25},
    )
    if not fig.data:
        fig.add_annotation(
            text="no ground truth: discovery cannot be scored",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
    return fig


def point_from_selection(event: Any, objectives: ArrayLike | None = None) -> int | None:
    """Index of the measured point clicked on :func:`pareto_figure`, or ``None``.

    Parameters
    ----------
    event : mapping or None
        What ``st.plotly_chart(..., on_select="rerun")`` returned.
    objectives : array_like of shape (n, k), optional
        The plotted objectives: a clicked point without ``customdata`` is matched by its
        ``(x, y)`` against the first two columns.

    Returns
    -------
    int or None
        The index (measurement order, from 0) of the first selected measured point.
    """
    values = None if objectives is None else np.asarray(objectives, dtype=np.float64)
    for point in _selection(event).get("points", []) or []:
        if not isinstance(point, Mapping):
            continue
        custom: Any = point.get("customdata")
        if isinstance(custom, Sequence) and not isinstance(custom, str) and custom:
            custom = custom[0]
        if custom is not None:
            try:
                return int(custom)
            except (TypeError, ValueError):
                pass
        if values is not None and values.ndim == 2 and values.shape[1] >= 2:
            try:
                x, y = float(point["x"]), float(point["y"])
            except (KeyError, TypeError, ValueError):
                continue
            hits = np.flatnonzero(np.isclose(values[:, 0], x) & np.isclose(values[:, 1], y))
            if hits.size:
                return int(hits[0])
    return None


def _selection(event: Any) -> Mapping[str, Any]:
    if event is None:
        return {}
    try:
        selection = event["selection"]
    except (KeyError, TypeError, IndexError):
        return {}
    return selection if isinstance(selection, Mapping) else {}


def pixels_from_selection(
    event: Any, shape: tuple[int, int], *, trace_name: str | None = None
) -> NDArray[np.int64]:
    """Pixels picked by a click or box selection on an image built here.

    Parameters
    ----------
    event : mapping or None
        What ``st.plotly_chart(..., on_select="rerun")`` returned; read as a mapping.
    shape : (H, W)
        The image shape; points outside it are dropped.
    trace_name : str, optional
        Unused; kept so callers can be explicit. Points of every trace count, because the
        click grid and the overlay markers all sit on pixel centres.

    Returns
    -------
    ndarray of shape (n, 2)
        Unique ``(row, col)`` pixels in the order first selected.
    """
    del trace_name
    points = _selection(event).get("points", []) or []
    picked: list[tuple[int, int]] = []
    for point in points:
        try:
            row = round(float(point["y"]))
            col = round(float(point["x"]))
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= row < shape[0] and 0 <= col < shape[1] and (row, col) not in picked:
            picked.append((row, col))
    return np.asarray(picked, dtype=np.int64).reshape(-1, 2)


def box_from_selection(event: Any) -> tuple[int, int, int, int] | None:
    """The pixel rectangle ``(row0, col0, row1, col1)`` box-selected on an image, if any.

    Parameters
    ----------
    event : mapping or None
        What ``st.plotly_chart(..., on_select="rerun")`` returned.

    Returns
    -------
    tuple of int or None
        Rows and columns of the box's corners, rounded to pixel centres and sorted; ``None``
        when the selection holds no box (a click, or nothing).
    """
    for box in _selection(event).get("box", []) or []:
        try:
            xs = [float(v) for v in box["x"]]
            ys = [float(v) for v in box["y"]]
        except (KeyError, TypeError, ValueError):
            continue
        if xs and ys:
            return (round(min(ys)), round(min(xs)), round(max(ys)), round(max(xs)))
    return None


def window_from_selection(event: Any) -> tuple[float, float] | None:
    """Energy window ``(low, high)`` of a box selection on :func:`spectrum_figure`, if any.

    The box's own x range is used when the event carries it; otherwise the
    lowest and highest energy of the selected points.
    """
    selection = _selection(event)
    for box in selection.get("box", []) or []:
        try:
            xs = [float(v) for v in box["x"]]
        except (KeyError, TypeError, ValueError):
            continue
        if len(xs) >= 2 and min(xs) < max(xs):
            return (min(xs), max(xs))
    energies: list[float] = []
    for point in selection.get("points", []) or []:
        try:
            energies.append(float(point["x"]))
        except (KeyError, TypeError, ValueError):
            continue
    if len(energies) >= 2 and min(energies) < max(energies):
        return (min(energies), max(energies))
    return None


def figure_html(fig: go.Figure) -> bytes:
    """A self-contained interactive HTML file of ``fig`` (plotly.js embedded; works offline)."""
    return str(fig.to_html(include_plotlyjs=True, full_html=True)).encode("utf-8")


def map_png(
    values: ArrayLike,
    *,
    title: str,
    cmap: str = "viridis",
    measured: ArrayLike | None = None,
) -> bytes:
    """A PNG of a map drawn with matplotlib (used when plotly's image export is unavailable).

    Parameters
    ----------
    values : array_like of shape (H, W)
        The map.
    title : str
        Title printed above it.
    cmap : str
        Matplotlib colour map.
    measured : array_like of shape (n, 2), optional
        Measured points to overlay.

    Returns
    -------
    bytes
        PNG file contents.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.0), dpi=120)
    ax = fig.add_subplot()
    im = ax.imshow(np.asarray(values, dtype=np.float64), cmap=cmap, origin="upper")
    pts = _as_points(measured)
    if len(pts):
        ax.plot(pts[:, 1], pts[:, 0], "o", ms=3, mfc="none", mec="#ffd166")
    ax.set_title(title)
    ax.set_xlabel("col")
    ax.set_ylabel("row")
    fig.colorbar(im, ax=ax, shrink=0.8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
