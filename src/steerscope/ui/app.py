"""Streamlit entry point: ``python -m streamlit run src/steerscope/ui/app.py``.

Environment:

- ``STEERSCOPE_DEMO_DATASET``: open this built-in dataset in every new tab (``steerscope demo``).
- ``STEERSCOPE_RECORDS``: the records folder (default ``./records``).
- ``STEERSCOPE_TEACHING``: teaching mode, its limits as JSON (``steerscope teach`` sets it;
  see :mod:`steerscope.ui.teaching`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import streamlit as st

from steerscope.ui import state
from steerscope.ui.campaign_tools import describe_target
from steerscope.ui.sources import describe_source
from steerscope.ui.teaching import stale_visitors

PAGES_DIR = Path(__file__).with_name("views")  # not "pages": see docs/architecture.md


@st.cache_resource(ttl=600, show_spinner=False)
def _remove_stale_visitors(max_age_hours: float) -> int:
    """Teaching mode: stop the campaigns and remove the folders of stale visitors.

    Looked at, at most, every 10 minutes.
    """
    stale = stale_visitors(state.server_records_dir(), max_age_hours * 3600)
    for folder in stale:
        state.registry().discard_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


st.set_page_config(page_title="steerscope", layout="wide")
state.init(default_dataset=os.environ.get("STEERSCOPE_DEMO_DATASET") or None)
limits = state.teaching()
if limits is not None:
    state.visitor_id()  # before any page: the address carries it from the first draw
    _remove_stale_visitors(limits.max_age_hours)

pages = [
    st.Page(PAGES_DIR / "source.py", title="Source", icon=":material/image:", default=True),
    st.Page(PAGES_DIR / "target.py", title="Target", icon=":material/target:"),
    st.Page(PAGES_DIR / "campaign.py", title="Campaign", icon=":material/play_circle:"),
    st.Page(PAGES_DIR / "review.py", title="Review", icon=":material/history:"),
    st.Page(PAGES_DIR / "sweep.py", title="Sweep", icon=":material/grid_view:"),
    st.Page(PAGES_DIR / "tune.py", title="Tune", icon=":material/tune:"),
]
navigation = st.navigation(pages)

with st.sidebar:
    st.toggle(
        "Learning mode",
        key=state.LEARNING_KEY,
        help="Show a guided walkthrough on each page: what each control does and what to try.",
    )
    current = state.source()
    st.caption(f"Source: {describe_source(current) if current else 'none yet'}")
    spec = state.scalarizer()
    st.caption(f"Target: {describe_target(spec)}")
    path = state.campaign_path()
    st.caption(f"Campaign: {Path(path).name if path else 'none'}")
    if limits is None:
        st.caption(f"Records: {state.records_dir()}")
    else:
        st.caption(
            "Teaching server: your campaigns are yours alone, kept while you come back "
            f"within {limits.max_age_hours:g} h (bookmark this page's address); up to "
            f"{limits.max_budget} spectra a campaign."
        )

navigation.run()
