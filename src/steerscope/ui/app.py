"""Streamlit entry point: ``python -m streamlit run src/steerscope/ui/app.py``.

Environment:

- ``STEERSCOPE_DEMO_DATASET``: open this built-in dataset in every new tab (``steerscope demo``).
- ``STEERSCOPE_RECORDS``: the records folder (default ``./records``).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from steerscope.ui import state
from steerscope.ui.campaign_tools import describe_target
from steerscope.ui.sources import describe_source

PAGES_DIR = Path(__file__).with_name("views")  # not "pages": see docs/architecture.md

st.set_page_config(page_title="steerscope", layout="wide")
state.init(default_dataset=os.environ.get("STEERSCOPE_DEMO_DATASET") or None)

pages = [
    st.Page(PAGES_DIR / "source.py", title="Source", icon=":material/image:", default=True),
    st.Page(PAGES_DIR / "target.py", title="Target", icon=":material/target:"),
    st.Page(PAGES_DIR / "campaign.py", title="Campaign", icon=":material/play_circle:"),
    st.Page(PAGES_DIR / "review.py", title="Review", icon=":material/history:"),
    st.Page(PAGES_DIR / "sweep.py", title="Sweep", icon=":material/grid_view:"),
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
    st.caption(f"Records: {state.records_dir()}")

navigation.run()
