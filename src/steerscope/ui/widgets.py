"""Small Streamlit pieces shared by the pages (no session state here: that is ``state.py``)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.ui import state
from steerscope.ui.learning import steps_for_page
from steerscope.ui.sources import LoadedSource

__all__ = ["clickable_chart", "learning_panel", "require_source", "show_error"]


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


def clickable_chart(fig: go.Figure, key: str, *, box: bool = True) -> Any:
    """Draw ``fig`` and return its selection event (clicks, and box selections if ``box``)."""
    if box:
        return st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("points", "box"))
    return st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points")
