"""Campaign page: set up and start a campaign, watch it live, steer it with interventions."""

from __future__ import annotations

from pathlib import Path

import pydantic
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, state, widgets
from steerscope.ui.panels.live_view import live_view
from steerscope.ui.panels.setup_form import setup_form
from steerscope.ui.panels.steer_panel import steer_panel

st.title("Campaign")
widgets.learning_panel("campaign")

registry = state.registry()

# -- which campaign ----------------------------------------------------------------------
entries = state.campaign_entries()
watched = next((e for e in entries if e.record_path == state.campaign_path()), None)
with st.container():
    if entries:
        paths = [e.record_path for e in entries]
        chosen = st.selectbox(
            "Watching campaign",
            paths,
            index=paths.index(watched.record_path) if watched is not None else 0,
            format_func=lambda p: Path(p).name,
            help="Campaigns running in this server; every browser tab sees the same ones "
            "(on a teaching server, only its visitor's).",
        )
        if watched is None or chosen != watched.record_path:
            state.set_campaign_path(chosen)
            st.rerun()


with st.container():
    resumable = campaign_tools.resumable_records(
        state.records_dir(), campaign_tools.held_records(entries)
    )
    if resumable:
        with st.expander(f"Resume an interrupted campaign ({len(resumable)} found)"):
            for path, status in resumable:
                if st.button(
                    f"Resume {path.name} ({status})",
                    key=f"campaign.resume.{path.name}",
                    help="Continue this campaign from its record (measured spectra are kept).",
                ):
                    try:
                        limits = state.check_may_start(budget=0, new_record=False)
                        runner = campaign_tools.resume_runner(
                            path, nice=limits.campaign_nice if limits is not None else 0
                        )
                        registry.register(path, runner)
                        state.set_campaign_path(path)
                        st.rerun()
                    except (SteerscopeError, pydantic.ValidationError) as exc:
                        widgets.show_error(exc)


snapshot_now = watched.runner.snapshot() if watched is not None else None
running = snapshot_now is not None and snapshot_now.status in campaign_tools.ACTIVE_STATUSES

# -- set-up form (only while no campaign is active in this tab) ---------------------------
with st.container():
    if not running:
        setup_form(watched, snapshot_now)
    else:
        state.hide_form("setup_form")  # its values come back when it does (B6)

# -- live view ---------------------------------------------------------------------------
live_view(running)

# -- interventions -----------------------------------------------------------------------
entry_now = registry.get(state.campaign_path())
if entry_now is not None:
    steer_panel(entry_now)
