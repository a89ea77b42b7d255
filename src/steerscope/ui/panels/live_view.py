"""The live view: status, run buttons, the overview to click and box, maps, history plots.

A Streamlit fragment redraws it from the runner's latest snapshot every few seconds
without rerunning the page; its charts are updated in place
(:func:`~steerscope.ui.inplace_chart.inplace_chart`), so a refresh neither blanks them
nor loses a click; its buttons post through
:func:`~steerscope.ui.panels.posting.post` in their callbacks, so a click is
handled before the redraw.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import streamlit as st

from steerscope.campaign import (
    AddNoGoRegion,
    AddPoints,
    Pause,
    Resume,
    RunSteps,
    SetScalarizer,
    Stop,
    Vote,
)
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state, widgets
from steerscope.ui.inplace_chart import inplace_chart
from steerscope.ui.learning import lesson_progress, steps_for_page
from steerscope.ui.panels.comparison import comparison_panel, measured_point
from steerscope.ui.panels.pareto_view import pareto_view
from steerscope.ui.panels.posting import post
from steerscope.ui.sources import source_key

__all__ = ["live_view"]


def live_view(running: bool) -> None:
    """Draw the live view of the watched campaign, redrawn every ``state.live_refresh_s()``.

    Parameters
    ----------
    running : bool
        Whether the campaign was running when the page was drawn: when it has ended
        since, the whole page is rerun so the New-campaign form comes back.
    """
    st.fragment(run_every=state.live_refresh_s())(_live_body)(running)


def _figure_snapshot(snap: Any) -> Any:
    """The snapshot the live figures draw: the latest, at most every ``FIGURE_REDRAW_S``.

    A rerun in between (a click, a typed value) draws the same figures again, which
    the browser keeps as they are, so the acknowledgement is shown without delay.
    """
    held = state.get_value("figure_snapshot")
    now = time.monotonic()
    if held is None or campaign_tools.figures_due(held[0], held[1], snap, now):
        held = (snap, now)
        state.set_value("figure_snapshot", held)
    return held[0]


def _overview_snapshot(snap: Any, drag: str) -> Any:
    """The snapshot the live overview draws: held still while the user boxes a region.

    A chart whose figure changes is drawn anew, and a drag in progress is lost with the
    old one; so while boxing, the overview keeps the snapshot it had when boxing began.
    """
    held = state.get_value("overview_hold")
    if drag != "box":
        held = None
    elif held is None or held.record_path != snap.record_path:
        held = snap
    state.set_value("overview_hold", held)
    return snap if held is None else held


def _pixel_panel(snap: Any, point: tuple[int, int]) -> None:
    """The last clicked pixel: measured (its spectrum, target) or predicted (mean ± std)."""
    text, index = campaign_tools.pixel_report(snap, point)
    st.caption(text)
    if index is not None:
        _vote_buttons(snap, index)
    try:
        if index is not None:
            picked = measured_point(snap, index)
            energy, units, spectrum = picked.energy, picked.units, picked.spectrum
            name = f"measured #{index + 1}"
        else:
            entry = state.registry().get(snap.record_path)
            ran_on = entry.source if entry is not None else None
            opened = state.source()
            if not ran_on or not opened or source_key(dict(ran_on)) != source_key(opened):
                return  # the tab opened another source since: its spectra are not this sample's
            loaded = state.loaded_source()
            if loaded is None or loaded.image is None:
                return  # a live microscope: nothing is known of a pixel before it is measured
            energy, units = loaded.image.energy.values, loaded.image.energy.units
            spectrum = loaded.spectra_at(np.asarray([point]))[0]
            name = "stored spectrum (pre-acquired data; not measured)"
    except SteerscopeError as exc:
        st.caption(str(exc))
        return
    st.plotly_chart(
        figures.spectrum_figure(
            energy, {name: spectrum}, units=units, title=text.split(":")[0], height=260
        ),
        key="campaign.pixel_spectrum",
    )


_VOTE_BUTTONS = (
    ("good", "Good spectrum", "Mark this spectrum as one you want more of (recorded as a Vote)."),
    ("bad", "Bad spectrum", "Mark this spectrum as one you do not want (recorded as a Vote)."),
    ("none", "Withdraw vote", "Forget your vote on this spectrum (recorded too)."),
)
"""Each verdict's button: label and help."""


def _vote_buttons(snap: Any, index: int) -> None:
    """Good / Bad (or withdraw) for measured spectrum ``index``: recorded as a Vote."""
    verdict = dict(snap.votes).get(index, "none")
    for column, (choice, label, help_text) in zip(
        st.columns(len(_VOTE_BUTTONS)), _VOTE_BUTTONS, strict=True
    ):
        column.button(
            label,
            key=f"campaign.vote_{choice}",
            disabled=verdict == choice,  # withdraw: only once there is a vote
            help=help_text,
            on_click=post,
            args=(lambda choice=choice: Vote(index, choice),),
        )


def _post_votes_target(snap: Any) -> None:
    """Post SetScalarizer with the target the votes make (a widget callback)."""
    try:
        spec = campaign_tools.votes_target(snap.record_path, snap.votes)
    except SteerscopeError as exc:
        st.toast(str(exc), icon=":material/error:")
        return
    post(lambda: SetScalarizer(spec=spec))


def _votes_row(snap: Any) -> None:
    """How many spectra are marked, and the button that makes them the target."""
    verdicts = [verdict for _, verdict in snap.votes]
    n_good, n_bad = verdicts.count("good"), verdicts.count("bad")
    text, button = st.columns([3, 2], vertical_alignment="center")
    text.caption(
        f"Your votes: {n_good} good, {n_bad} bad spectra. As the target, they become each "
        "spectrum's likeness to the good ones" + (", unlike the bad." if n_bad else ".")
    )
    button.button(
        "Make the votes the target",
        key="campaign.votes_target",
        disabled=not n_good,
        help="Post SetScalarizer: similarity to the mean shape of the good spectra "
        "(minus that of the bad); every measured spectrum is relabelled with it.",
        on_click=_post_votes_target,
        args=(snap,),
    )


def _take_live_pick(event: Any, shape: tuple[int, int]) -> None:
    """A box on the live overview drafts a no-go region; a click adds a point to measure."""
    rect = figures.box_from_selection(event)
    if rect is not None:
        state.set_value("no_go_draft", rect)
        return
    current = [tuple(p) for p in state.get_value("added_points")]
    new = [p for p in map(tuple, figures.pixels_from_selection(event, shape).tolist())]
    state.set_value("added_points", current + [p for p in new if p not in current])


def _post_added_points() -> None:
    """Post the pixels clicked on the live overview as AddPoints, then forget them."""
    points = tuple((int(r), int(c)) for r, c in state.get_value("added_points"))
    post(lambda: AddPoints(points=points))
    state.set_value("added_points", [])


def _post_no_go(shape: tuple[int, int]) -> None:
    """Post the rectangle boxed on the live overview as AddNoGoRegion, then forget it."""
    draft = state.get_value("no_go_draft")
    if draft:
        post(lambda: AddNoGoRegion(mask=campaign_tools.no_go_mask(shape, draft)))
    state.set_value("no_go_draft", None)


def _decide(number: int, approve: bool) -> None:
    """The operator's answer to an assistant's proposal (a widget callback)."""
    entry = state.registry().get(state.campaign_path())
    if entry is None:
        return
    try:
        answer = entry.runner.decide(number, approve=approve)
    except SteerscopeError as exc:
        st.toast(str(exc), icon=":material/error:")
        return
    if approve:
        st.toast(campaign_tools.acknowledgement(answer), icon=":material/schedule:")
    else:
        st.toast(answer.capitalize(), icon=":material/block:")


def _proposal_row(proposal: Any) -> None:
    """One proposed change: who proposes what and why, with Approve and Reject."""
    number = int(proposal["id"])
    why = f" — “{proposal['reason']}”" if proposal.get("reason") else ""
    text, approve, reject = st.columns([8, 1, 1], vertical_alignment="center")
    text.warning(
        f"**Proposal #{number}** by {proposal['by']}: {proposal['text']}{why}. "
        "It takes effect only if you approve it.",
        icon=":material/smart_toy:",
    )
    approve.button(
        "Approve",
        key=f"campaign.proposal.{number}.approve",
        help="Apply this change as yours (it is recorded as an intervention).",
        on_click=_decide,
        args=(number, True),
    )
    reject.button(
        "Reject",
        key=f"campaign.proposal.{number}.reject",
        help="Drop this change (the event log keeps the proposal and your answer).",
        on_click=_decide,
        args=(number, False),
    )


def _clear_picks() -> None:
    state.set_value("added_points", [])
    state.set_value("no_go_draft", None)


def _live_body(running: bool) -> None:
    """One redraw of the live view from the runner's latest snapshot."""
    registry = state.registry()
    figure_cache = state.figure_cache()
    entry = registry.get(state.campaign_path())
    if entry is None:
        return
    snap = entry.runner.snapshot()
    if running and snap.status not in campaign_tools.ACTIVE_STATUSES:
        # The run ended: bring back the New-campaign form without a page change (issue
        # B4). The form has its own container, so the Steer inputs do not move.
        st.rerun(scope="app")
    status_line = f"**{snap.status}**" + (f" — {snap.reason}" if snap.reason else "")
    idle = f" · beam idle {100 * snap.beam_idle:.0f} %" if np.isfinite(snap.beam_idle) else ""
    st.markdown(
        f"Status: {status_line} · step {snap.step} · {snap.n_measured}/{snap.budget} measured · "
        f"best target {snap.best_target:.4g}{idle}"
    )
    st.progress(min(1.0, snap.n_measured / max(snap.budget, 1)), text="measurements vs budget")
    with st.container():  # one slot, however many are queued: the buttons below stay put
        for text in snap.queued:
            st.info(campaign_tools.acknowledgement(text), icon=":material/schedule:")
        for proposal in snap.proposals:  # an assistant's, waiting for the operator
            _proposal_row(proposal)
        if state.learning_enabled():  # the lessons react to what the user just did
            for _, lesson in steps_for_page("campaign"):
                done = lesson_progress(lesson, snap.events)
                if done:
                    st.success(f"{lesson.title} — {done}", icon=":material/school:")

    b1, b2, b3, b4, b5 = st.columns([1, 1, 1, 1, 2])
    over = snap.status in ("finished", "stopped", "error")  # raise the budget to go on
    if b1.button(
        "Pause",
        help="Finish the spectrum in flight, then wait.",
        key="campaign.pause",
        disabled=over or snap.status == "paused",
    ):
        post(Pause)
    if b2.button(
        "Resume",
        help="Continue running steps.",
        key="campaign.resume_run",
        disabled=over or snap.status == "running",
    ):
        post(Resume)
    n_steps = b5.number_input(
        "Steps to run",
        min_value=1,
        max_value=1000,
        value=5,
        key="campaign.n_steps",
        help="How many steps 'Step N' runs before pausing again.",
    )
    if b3.button("Step N", help="Run N steps, then pause.", key="campaign.step_n", disabled=over):
        post(lambda: RunSteps(n=int(n_steps)))
    if b4.button(
        "Stop", help="End the campaign after the spectrum in flight.", key="campaign.stop"
    ):
        post(Stop)

    drawn = _figure_snapshot(snap)  # the figures' snapshot: see FIGURE_REDRAW_S
    left, right = st.columns([1, 1])
    with left:
        draft = state.get_value("no_go_draft")
        added = np.asarray(state.get_value("added_points"), dtype=np.int64).reshape(-1, 2)
        drag = widgets.drag_mode("campaign.drag", box_label="Drag boxes a no-go region")
        shown = _overview_snapshot(drawn, drag)
        shape = (int(shown.overview.shape[0]), int(shown.overview.shape[1]))
        pick = state.get_value("pareto_pick") if shown.is_multi_objective else None
        pick_point = (
            (int(shown.measured_points[int(pick), 0]), int(shown.measured_points[int(pick), 1]))
            if pick is not None and 0 <= int(pick) < len(shown.measured_points)
            else None
        )
        fig = figure_cache.get(
            shown,
            (
                "overview",
                tuple(map(tuple, added.tolist())),
                tuple(draft) if draft else None,
                pick_point,
                drag,
            ),
            lambda: figures.overview_figure(
                shown.overview,
                pixel_size=shown.pixel_size,
                pixel_units=shown.pixel_units,
                measured=shown.measured_points,
                phases=shown.measured_phases,
                vetoed=shown.vetoed_points,
                next_points=shown.next_points,
                ahead_points=shown.ahead_points,
                selected=added,
                highlight=pick_point,
                compared=campaign_tools.compared_points(shown),
                no_go=campaign_tools.no_go_mask(shape, draft) if draft else None,
                drag=drag,
                title="Measured (numbered in order) and next"
                + ("; click to add points" if drag == "zoom" else "; box a no-go region"),
                max_click_points=64 * 64,
            ),
        )
        inplace_chart(
            fig,
            key="campaign.live_overview",
            on_select=lambda event: _take_live_pick(event, shape),
        )
        hold_note = st.empty()  # always drawn, so the buttons below keep their place
        if shown is not drawn:
            hold_note.caption(
                f"Held at {shown.n_measured} measured while you box a region "
                f"({snap.n_measured} now); choose 'click' to follow the campaign again."
            )
        # drawn here, in the live view, so their labels follow each click (issue B13)
        a1, a2, a3 = st.columns([5, 5, 2])
        a1.button(
            f"Measure {len(added)} picked next",
            disabled=not len(added) or over,
            help="Post AddPoints with the pixels clicked on the live overview.",
            key="campaign.add_points",
            on_click=_post_added_points,
        )
        a2.button(
            "Forbid the boxed region",
            disabled=not draft or over,
            help="Never measure inside the rectangle box-selected on the live overview.",
            key="campaign.add_no_go",
            on_click=_post_no_go,
            args=(shape,),
        )
        a3.button(
            "Clear",
            disabled=not len(added) and not draft,
            help="Forget the clicked points and the boxed region without posting them.",
            key="campaign.clear_picks",
            on_click=_clear_picks,
        )
        with st.container():  # one slot: the pixel clicked last, what the campaign knows of it
            if len(added):
                _pixel_panel(snap, (int(added[-1, 0]), int(added[-1, 1])))
        with st.container():  # one slot: the votes so far, and the target they make
            if snap.votes:
                _votes_row(snap)
        with st.container():  # one slot: "which is more interesting?" (preference targets)
            comparison_panel(snap)
    with right:
        maps = {
            "Predicted mean": (drawn.mean_map, "Viridis"),
            "Uncertainty (std)": (drawn.std_map, "Magma"),
            "Acquisition score": (drawn.acquisition_map, "Plasma"),
            "Ground truth": (drawn.ground_truth, "Cividis"),
        }
        # One map at a time keeps each live refresh light for the browser.
        title = st.radio(
            "Map",
            list(maps),
            horizontal=True,
            key="campaign.map_choice",
            help="Which per-pixel map to show next to the overview.",
        )
        values, scale = maps[str(title)]
        if values is None:
            st.caption(f"{title}: not available yet.")
        else:
            map_fig = figure_cache.get(
                drawn,
                ("map", str(title)),
                lambda: figures.map_figure(
                    values,
                    title=str(title),
                    colorscale=scale,
                    colorbar_title=campaign_tools.map_quantity(
                        str(title), str(drawn.scalarizer.get("label") or "target")
                    ),
                    pixel_size=drawn.pixel_size,
                    pixel_units=drawn.pixel_units,
                    measured=drawn.measured_points,
                    next_points=drawn.next_points,
                    ahead_points=drawn.ahead_points,
                    max_side=96,
                ),
            )
            inplace_chart(map_fig, key="campaign.map")

    if drawn.is_multi_objective and drawn.objectives is not None:
        pareto_view(drawn)

    g1, g2, g3 = st.columns(3)
    with g1:
        label = str(drawn.scalarizer.get("label") or drawn.scalarizer.get("kind", "target"))
        inplace_chart(
            figure_cache.get(
                drawn,
                "targets",
                lambda: figures.target_figure(
                    drawn.targets, label=label, marks=campaign_tools.intervention_marks(drawn)
                ),
            ),
            key="campaign.targets",
        )
        if not drawn.is_multi_objective or drawn.model_skill.size:
            inplace_chart(
                figure_cache.get(
                    drawn,
                    "skill",
                    lambda: figures.model_skill_figure(
                        drawn.model_skill, marks=campaign_tools.intervention_marks(drawn)
                    ),
                ),
                key="campaign.skill",
            )
    with g2:
        if drawn.discovery:
            inplace_chart(
                figure_cache.get(
                    drawn,
                    "discovery",
                    lambda: figures.discovery_figure(
                        drawn.discovery, marks=campaign_tools.intervention_marks(drawn)
                    ),
                ),
                key="campaign.discovery",
            )
        else:
            st.caption("Discovery curve: only on pre-acquired data with a ground truth.")
    with g3:
        if drawn.step_timings:
            inplace_chart(
                figure_cache.get(
                    drawn,
                    "timing",
                    lambda: figures.timing_figure(drawn.step_timings, beam_idle=drawn.beam_idle),
                ),
                key="campaign.timing",
            )

    st.subheader("Event log")
    if drawn.events:
        st.dataframe(
            figure_cache.get(
                drawn,
                "events",
                lambda: [
                    {"step": e.step, "kind": e.kind, "what": e.text} for e in reversed(drawn.events)
                ],
            ),
            hide_index=True,
            height=220,
        )
    with st.expander("Steer from a notebook or a terminal"):
        st.markdown(campaign_tools.steering_help(entry.runner))
    st.caption(
        "In force: "
        + campaign_tools.settings_summary(snap.policy, snap.descriptor, snap.scalarizer)
    )
