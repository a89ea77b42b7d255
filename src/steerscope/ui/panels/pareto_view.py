"""The multi-objective view: objective space to click, the picked spectrum, hypervolume."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state, widgets

__all__ = ["pareto_view"]


def _take_pareto_pick(event: Any, objectives: np.ndarray) -> None:
    """A click on the objective-space plot picks that measured point."""
    clicked = figures.point_from_selection(event, objectives)
    if clicked is not None:
        state.set_value("pareto_pick", clicked)


def pareto_view(snap: Any) -> None:
    """Objective space (click a point: its spectrum, and a star on the overview), hypervolume."""
    figure_cache = state.figure_cache()
    objectives = snap.objectives
    pick = state.get_value("pareto_pick")
    if pick is not None and not 0 <= int(pick) < len(objectives):
        pick = None
    m1, m2, m3 = st.columns(3)
    with m1:
        if objectives.shape[1] < 2:
            st.caption("Objective space: needs two targets.")
        else:
            policy_ref = snap.policy.get("ref_point")
            fig = figure_cache.get(
                snap,
                ("pareto", pick),
                lambda: figures.pareto_figure(
                    objectives,
                    snap.pareto_mask if snap.pareto_mask is not None else [],
                    labels=snap.objective_labels,
                    reference_point=snap.reference_point,
                    policy_ref_point=policy_ref,
                    highlight=pick,
                ),
            )
            widgets.clickable_chart(
                fig,
                key="campaign.pareto",
                on_select=lambda event: _take_pareto_pick(event, objectives),
                box=False,
            )
    with m2:
        if pick is None:
            st.caption("Click a point in objective space to see its spectrum here.")
        else:
            try:
                picked = figure_cache.get(
                    snap,
                    ("picked", int(pick)),
                    lambda: campaign_tools.measured_point(snap.record_path, int(pick)),
                )
            except SteerscopeError as exc:
                st.caption(str(exc))
            else:
                values = ", ".join(
                    f"{label} {v:.4g}"
                    for label, v in zip(snap.objective_labels, objectives[int(pick)], strict=False)
                )
                st.plotly_chart(
                    figures.spectrum_figure(
                        picked.energy,
                        {
                            f"#{picked.index + 1} row {picked.point[0]}, col {picked.point[1]}": (
                                picked.spectrum
                            )
                        },
                        units=picked.units,
                        title=f"Picked: step {picked.step} · {values}",
                        height=360,
                    ),
                    key="campaign.pareto_spectrum",
                )
    with m3:
        if snap.hypervolume_history:
            st.plotly_chart(
                figure_cache.get(
                    snap,
                    "hypervolume",
                    lambda: figures.hypervolume_figure(snap.hypervolume_history),
                ),
                key="campaign.hypervolume",
            )
        else:
            st.caption("Hypervolume: after the reference point is fixed (once seeds are measured).")
