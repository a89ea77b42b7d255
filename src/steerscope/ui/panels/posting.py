"""Post a typed intervention to the campaign this tab watches, and say it was received."""

from __future__ import annotations

from collections.abc import Callable

import pydantic
import streamlit as st

from steerscope.campaign import Intervention, SetBudget
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, state
from steerscope.ui.teaching import check_budget

__all__ = ["post"]


def post(make: Callable[[], Intervention]) -> None:
    """Post the intervention ``make`` builds to the watched campaign (widget callbacks).

    ``make`` builds it here, so a value the intervention refuses shows as a toast
    instead of an exception; an accepted one is acknowledged at once with what the
    runner queued ("beta 0.25 → 1, applies to the next point").
    """
    entry = state.registry().get(state.campaign_path())
    if entry is None:
        return
    try:
        intervention = make()
        limits = state.teaching()
        if limits is not None and isinstance(intervention, SetBudget):
            check_budget(limits, intervention.measurements)
        queued = entry.runner.post(intervention)
    except (SteerscopeError, pydantic.ValidationError) as exc:
        state.set_value("no_go_draft", None)
        st.toast(str(exc), icon=":material/error:")
        return
    st.toast(campaign_tools.acknowledgement(queued), icon=":material/schedule:")
