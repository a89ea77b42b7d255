"""Small Streamlit pieces shared by the pages (no session state here: that is ``state.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.ui import state
from steerscope.ui.figures import pixels_from_selection
from steerscope.ui.learning import steps_for_page, widgets_to_highlight
from steerscope.ui.sources import LoadedSource

__all__ = [
    "clickable_chart",
    "drag_mode",
    "highlight_css",
    "learning_panel",
    "lesson_highlight",
    "pixel_picker",
    "require_source",
    "show_error",
]


def show_error(exc: BaseException) -> None:
    """Show a steerscope (or validation) error as a form error, not a traceback."""
    st.error(str(exc), icon=":material/error:")


def learning_panel(page: str) -> None:
    """The walkthrough steps of ``page`` when learning mode is on; nothing otherwise.

    The steps live in one container drawn whether or not learning mode is on, so turning
    it on or off does not move the page's later widgets (a moved widget is drawn anew
    while its old copy lingers until the rerun ends: two inputs with one label).
    """
    with st.container():
        if not state.learning_enabled():
            return
        for _, step in steps_for_page(page):
            with st.expander(f":material/school: {step.title}", expanded=True):
                st.markdown(step.explain)
                st.markdown(f"**Try this:** {step.try_this}")
                st.markdown(f"**Watch:** {step.watch}")


HIGHLIGHT_STYLE = "outline: 3px solid #ff9f1c; outline-offset: 4px; border-radius: 6px;"
"""How a control a lesson asks for is pointed out (learning mode)."""


def highlight_css(keys: Sequence[str]) -> str:
    """A ``<style>`` block outlining the widgets of ``keys`` ("" for none).

    Streamlit gives a keyed widget's container the class ``st-key-<key>``, with every
    character outside ``[a-zA-Z0-9_-]`` replaced by ``-``.
    """
    if not keys:
        return ""
    selectors = ", ".join(".st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", k.strip()) for k in keys)
    return f"<style>{selectors} {{{HIGHLIGHT_STYLE}}}</style>"


def lesson_highlight(page: str, events: Sequence[Any]) -> None:
    """In learning mode, outline the controls the page's lessons ask for until they are used.

    Drawn in one fixed slot whether or not anything is highlighted, so the page's
    widgets never move.
    """
    slot = st.empty()
    if state.learning_enabled():
        css = highlight_css(widgets_to_highlight(page, events))
        if css:
            slot.html(css)


def require_source(*, need_spectra: bool = False) -> LoadedSource | None:
    """The tab's opened source, or ``None`` after telling the user what to do."""
    try:
        loaded = state.loaded_source()
    except SteerscopeError as exc:
        show_error(exc)
        return None
    if loaded is None:
        st.info("Choose a source first on the **Source** page.", icon=":material/image:")
        return None
    if need_spectra and loaded.image is None:
        st.info(
            "This source is a live microscope: there are no pre-acquired spectra to explore "
            "yet. Start a campaign; measured spectra appear on the Campaign page."
        )
        return None
    return loaded


def clickable_chart(
    fig: go.Figure, key: str, on_select: Callable[[Any], object], *, box: bool = True
) -> None:
    """Draw ``fig`` and hand each click (and box selection if ``box``) to ``on_select``.

    ``on_select`` gets the selection event (a mapping with ``"selection"``) in a widget
    callback, before the page reruns. Read any later, the click would be lost whenever
    the figure changes on that rerun (a live view): Streamlit names a chart by its
    figure, so the changed chart starts with an empty selection (issue B1).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        Built by :mod:`steerscope.ui.figures`.
    key : str
        Widget key of the chart.
    on_select : callable
        Called with the selection event; what it returns is ignored.
    box : bool
        Offer box selection as well as clicks.
    """

    def handle() -> None:
        on_select(state.widget_value(key))

    st.plotly_chart(
        fig,
        key=key,
        on_select=handle,
        selection_mode=("points", "box") if box else "points",
    )


def drag_mode(key: str, *, box_label: str) -> str:
    """Let the user choose what a drag on an overview does: zoom (clicks pick) or box-select.

    Parameters
    ----------
    key : str
        Widget key; the choice is kept per image.
    box_label : str
        What boxing does on this image, e.g. ``"Drag boxes a no-go region"``.

    Returns
    -------
    str
        ``"zoom"`` or ``"box"``, for :func:`steerscope.ui.figures.overview_figure`'s ``drag``.
    """
    labels = {"zoom": "Click picks a pixel · drag zooms", "box": box_label}  # DRAG_MODES
    choice = st.radio(
        "Mouse on the image",
        list(labels),
        format_func=labels.__getitem__,
        horizontal=True,
        key=key,
        help="A plain click picks a pixel only while a drag zooms; choose the box to select "
        "a rectangle instead.",
    )
    return str(choice)


def pixel_picker(
    shape: tuple[int, int], *, keep: int = 12, per_selection: int | None = None
) -> Callable[[Any], None]:
    """An ``on_select`` for :func:`clickable_chart` that adds the picked pixels to the tab's.

    Parameters
    ----------
    shape : (H, W)
        The image's shape; picks outside it are dropped.
    keep : int
        The tab keeps its last ``keep`` picked pixels.
    per_selection : int, optional
        Take at most this many pixels from one box selection.
    """

    def pick(event: Any) -> None:
        state.add_picked_pixels(pixels_from_selection(event, shape)[:per_selection], limit=keep)

    return pick
