"""Campaign page: set up and start a campaign, watch it live, steer it with interventions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import streamlit as st

from steerscope.acquisition import ACQUISITIONS, MO_ACQUISITIONS
from steerscope.campaign import (
    AddNoGoRegion,
    AddPoints,
    BudgetConfig,
    InstrumentConfig,
    Intervention,
    Pause,
    PauseConfig,
    PolicyConfig,
    RandomSeeds,
    Resume,
    RunSteps,
    SetBudget,
    SetDescriptor,
    SetPolicy,
    SetScalarizer,
    Stop,
)
from steerscope.descriptors import DescriptorSpec
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state, widgets
from steerscope.ui.learning import lesson_progress, steps_for_page
from steerscope.ui.sources import source_key

st.title("Campaign")
widgets.learning_panel("campaign")

registry = state.registry()
figure_cache = state.figure_cache()


def _post(make: Callable[[], Intervention]) -> None:
    """Post a typed intervention to the watched campaign's runner (widget callbacks).

    ``make`` builds it, so a value the intervention refuses shows as a toast.
    """
    entry = registry.get(state.campaign_path())
    if entry is None:
        return
    try:
        queued = entry.runner.post(make())
    except (SteerscopeError, pydantic.ValidationError) as exc:
        state.set_value("no_go_draft", None)
        st.toast(str(exc), icon=":material/error:")
        return
    st.toast(campaign_tools.acknowledgement(queued), icon=":material/schedule:")


def _default(model: type[pydantic.BaseModel], name: str) -> Any:
    """The default of a config field: the form starts where a YAML config would."""
    return model.model_fields[name].default


# Widget keys of the New-campaign form and the value each starts with. (A comment, not a
# docstring: Streamlit's magic draws any bare string of a page on the page.)
SETUP_DEFAULTS: dict[str, Any] = {
    "campaign.seed_kind": "random",
    "campaign.n_seeds": _default(RandomSeeds, "n"),
    "campaign.patch_size": _default(DescriptorSpec, "patch_size"),
    "campaign.model": "dkl",
    "campaign.start_beta": float(_default(PolicyConfig, "beta")),
    "campaign.batch_size": _default(PolicyConfig, "batch_size"),
    "campaign.budget": _default(BudgetConfig, "measurements"),
    "campaign.delay": float(_default(InstrumentConfig, "acquisition_delay_s")),
    "campaign.pause_after_seeds": _default(PauseConfig, "after_seeds"),
    "campaign.pause_every": _default(PauseConfig, "every"),
}


def _on_beta() -> None:
    _post(lambda: SetPolicy(beta=float(state.widget_value("campaign.beta"))))


def _on_acquisition() -> None:
    _post(lambda: SetPolicy(acquisition=str(state.widget_value("campaign.acquisition"))))


def _on_acquisition_mo() -> None:
    _post(lambda: SetPolicy(acquisition=str(state.widget_value("campaign.acquisition_mo"))))


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
    try:
        if index is not None:
            picked = figure_cache.get(
                snap,
                ("measured", index),
                lambda: campaign_tools.measured_point(snap.record_path, index),
            )
            energy, units, spectrum = picked.energy, picked.units, picked.spectrum
            name = f"measured #{index + 1}"
        else:
            entry = registry.get(snap.record_path)
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


def _take_live_pick(event: Any, shape: tuple[int, int]) -> None:
    """A box on the live overview drafts a no-go region; a click adds a point to measure."""
    rect = figures.box_from_selection(event)
    if rect is not None:
        state.set_value("no_go_draft", rect)
        return
    current = [tuple(p) for p in state.get_value("added_points")]
    new = [p for p in map(tuple, figures.pixels_from_selection(event, shape).tolist())]
    state.set_value("added_points", current + [p for p in new if p not in current])


def _take_pareto_pick(event: Any, objectives: np.ndarray) -> None:
    """A click on the objective-space plot picks that measured point."""
    clicked = figures.point_from_selection(event, objectives)
    if clicked is not None:
        state.set_value("pareto_pick", clicked)


def _post_added_points() -> None:
    """Post the pixels clicked on the live overview as AddPoints, then forget them."""
    points = tuple((int(r), int(c)) for r, c in state.get_value("added_points"))
    _post(lambda: AddPoints(points=points))
    state.set_value("added_points", [])


def _post_no_go(shape: tuple[int, int]) -> None:
    """Post the rectangle boxed on the live overview as AddNoGoRegion, then forget it."""
    draft = state.get_value("no_go_draft")
    if draft:
        _post(lambda: AddNoGoRegion(mask=campaign_tools.no_go_mask(shape, draft)))
    state.set_value("no_go_draft", None)


def _clear_picks() -> None:
    state.set_value("added_points", [])
    state.set_value("no_go_draft", None)


# -- which campaign ----------------------------------------------------------------------
entries = registry.entries()
watched = registry.get(state.campaign_path())
with st.container():
    if entries:
        paths = [e.record_path for e in entries]
        chosen = st.selectbox(
            "Watching campaign",
            paths,
            index=paths.index(watched.record_path) if watched is not None else 0,
            format_func=lambda p: Path(p).name,
            help="Campaigns running in this server; every browser tab sees the same ones.",
        )
        if watched is None or chosen != watched.record_path:
            state.set_campaign_path(chosen)
            st.rerun()


with st.container():
    resumable = campaign_tools.resumable_records(
        state.records_dir(), {e.record_path for e in entries}
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
                        runner = campaign_tools.resume_runner(path)
                        registry.register(path, runner)
                        state.set_campaign_path(path)
                        st.rerun()
                    except (SteerscopeError, pydantic.ValidationError) as exc:
                        widgets.show_error(exc)


snapshot_now = watched.runner.snapshot() if watched is not None else None
running = snapshot_now is not None and snapshot_now.status in ("idle", "running", "paused")

# -- set-up form (only while no campaign is active in this tab) ---------------------------
with st.container():
    if not running:
        loaded = widgets.require_source()
        if loaded is None:
            st.stop()
        st.subheader("New campaign")
        spec = state.scalarizer() or loaded.default_scalarizer
        st.caption(f"Target: {campaign_tools.describe_target(spec)} · source: {loaded.title}")
        # The form starts where a YAML config would, then where the last campaign left it
        # (Streamlit forgets a widget's value while the form is hidden; issue B6).
        state.preset_widgets(SETUP_DEFAULTS, remembered="setup_form")
        c1, c2, c3 = st.columns(3)
        seed_kind = c1.radio(
            "Seed points",
            ["random", "grid", "list"],
            format_func={"random": "random", "grid": "grid", "list": "clicked"}.__getitem__,
            horizontal=True,
            key="campaign.seed_kind",
            help="Points measured before the model decides: random, a regular grid, or clicked.",
        )
        n_seeds = c1.number_input(
            "Number of seed points",
            min_value=1,
            max_value=500,
            key="campaign.n_seeds",
            help="How many random or grid points to measure first.",
        )
        patch_size = c1.slider(
            "Descriptor patch size",
            min_value=2,
            max_value=64,
            key="campaign.patch_size",
            help="Side of the overview patch describing each candidate pixel (blue square).",
        )
        model_kind = c2.selectbox(
            "Model",
            ["dkl", "exact_gp"],
            key="campaign.model",
            help="Deep kernel learning (default) or an exact GP on the patches (cheap baseline).",
        )
        choices = campaign_tools.acquisition_choices(spec)
        several = choices == tuple(MO_ACQUISITIONS)
        acquisition_key = (
            "campaign.start_acquisition_mo" if several else "campaign.start_acquisition"
        )
        state.preset_widgets({acquisition_key: choices[0]}, remembered="setup_form")
        if state.widget_value(acquisition_key) not in choices:  # a remembered one may not fit
            state.set_widget_value(acquisition_key, choices[0])
        acquisition = c2.selectbox(
            "Acquisition",
            list(choices),
            key=acquisition_key,
            help="How the next point is scored from the predicted mean and uncertainty; with "
            "several targets: EHVI (whole Pareto front), weighted sum or Chebyshev.",
        )
        start_beta = c2.number_input(
            "Initial exploration weight (β)",
            min_value=0.0,
            step=0.25,
            key="campaign.start_beta",
            help="UCB: score = mean + sqrt(β) · std; larger explores more.",
        )
        batch_size = c3.number_input(
            "Batch size",
            min_value=1,
            max_value=64,
            key="campaign.batch_size",
            help="Points measured per step.",
        )
        budget = c3.number_input(
            "Budget (measurements)",
            min_value=1,
            max_value=100000,
            key="campaign.budget",
            help="The campaign stops after this many spectra.",
        )
        delay = c3.number_input(
            "Simulated delay per point (s)",
            min_value=0.0,
            max_value=10.0,
            key="campaign.delay",
            help="Pre-acquired data only: make each acquisition take this long, like a microscope.",
        )
        pause_after_seeds = c2.checkbox(
            "Pause after the seed points",
            key="campaign.pause_after_seeds",
            help="Hold once the seeds are measured, before the model's first choice: look at "
            "the first maps, adjust beta or the target, then Resume.",
        )
        pause_every = c2.number_input(
            "Pause every N spectra (0 = never)",
            min_value=0,
            max_value=100000,
            key="campaign.pause_every",
            help="Hold after every N spectra to check the run; Resume goes on.",
        )
        picked = state.picked_pixels()
        center = (
            tuple(int(v) for v in picked[-1])
            if len(picked)
            else (
                loaded.shape[0] // 2,
                loaded.shape[1] // 2,
            )
        )
        widgets.clickable_chart(
            figures.overview_figure(
                loaded.overview,
                pixel_size=loaded.pixel_size,
                pixel_units=loaded.pixel_units,
                selected=picked if seed_kind == "list" else None,
                patch=((center[0], center[1]), int(patch_size)),
                title="Click to add seed points (kind 'clicked'); blue: one descriptor patch",
            ),
            key="campaign.setup_overview",
            on_select=widgets.pixel_picker(loaded.shape, keep=200),
            box=False,
        )
        if seed_kind == "list":
            shown = "; ".join(f"row {r}, col {c}" for r, c in picked[:8].tolist())
            more = f" and {len(picked) - 8} more" if len(picked) > 8 else ""
            st.caption(
                f"Clicked seed points: {len(picked)}" + (f" ({shown}{more})" if len(picked) else "")
            )
            st.button(
                "Forget the clicked seed points",
                disabled=not len(picked),
                key="campaign.clear_seeds",
                on_click=state.clear_picked_pixels,
            )
        state.remember_widgets([*SETUP_DEFAULTS, acquisition_key], into="setup_form")
        if st.button("Start", type="primary", help="Create the record and start the campaign."):
            try:
                source_description = state.source() or {}
                config = campaign_tools.build_config_dict(
                    source=source_description,
                    scalarizer=state.scalarizer(),
                    patch_size=int(patch_size),
                    model_kind=str(model_kind),
                    acquisition=str(acquisition),
                    beta=float(start_beta),
                    batch_size=int(batch_size),
                    budget=int(budget),
                    seed_kind=str(seed_kind),
                    n_seeds=int(n_seeds),
                    seed_points=picked,
                    acquisition_delay_s=float(delay),
                    pause_after_seeds=bool(pause_after_seeds),
                    pause_every=int(pause_every),
                )
                path = campaign_tools.new_record_path(state.records_dir(), loaded.title)
                runner = campaign_tools.start_runner(
                    config, path, token=source_description.get("token")
                )
                registry.register(
                    path, runner, source=source_description, scalarizer=state.scalarizer()
                )
                state.set_campaign_path(path)
                st.rerun()
            except (SteerscopeError, pydantic.ValidationError) as exc:
                widgets.show_error(exc)
        if watched is None or snapshot_now is None:
            st.stop()
        st.divider()
        st.caption(f"Last campaign: {Path(watched.record_path).name} ({snapshot_now.status})")


# -- live view ---------------------------------------------------------------------------
@st.fragment(run_every=state.live_refresh_s())
def live_view() -> None:
    """Redraw from the runner's latest snapshot every few seconds without blocking the page."""
    entry = registry.get(state.campaign_path())
    if entry is None:
        return
    snap = entry.runner.snapshot()
    if running and snap.status not in ("idle", "running", "paused"):
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
        _post(Pause)
    if b2.button(
        "Resume",
        help="Continue running steps.",
        key="campaign.resume_run",
        disabled=over or snap.status == "running",
    ):
        _post(Resume)
    n_steps = b5.number_input(
        "Steps to run",
        min_value=1,
        max_value=1000,
        value=5,
        key="campaign.n_steps",
        help="How many steps 'Step N' runs before pausing again.",
    )
    if b3.button("Step N", help="Run N steps, then pause.", key="campaign.step_n", disabled=over):
        _post(lambda: RunSteps(n=int(n_steps)))
    if b4.button(
        "Stop", help="End the campaign after the spectrum in flight.", key="campaign.stop"
    ):
        _post(Stop)

    left, right = st.columns([1, 1])
    with left:
        draft = state.get_value("no_go_draft")
        added = np.asarray(state.get_value("added_points"), dtype=np.int64).reshape(-1, 2)
        drag = widgets.drag_mode("campaign.drag", box_label="Drag boxes a no-go region")
        shown = _overview_snapshot(snap, drag)
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
                next_points=shown.next_points,
                ahead_points=shown.ahead_points,
                selected=added,
                highlight=pick_point,
                no_go=campaign_tools.no_go_mask(shape, draft) if draft else None,
                drag=drag,
                title="Measured (numbered in order) and next"
                + ("; click to add points" if drag == "zoom" else "; box a no-go region"),
                max_click_points=64 * 64,
            ),
        )
        widgets.clickable_chart(
            fig,
            key="campaign.live_overview",
            on_select=lambda event: _take_live_pick(event, shape),
        )
        hold_note = st.empty()  # always drawn, so the buttons below keep their place
        if shown is not snap:
            hold_note.caption(
                f"Held at {shown.n_measured} measured while you box a region "
                f"({snap.n_measured} now); choose 'click' to follow the campaign again."
            )
        # drawn here, in the live view, so their labels follow each click (issue B13)
        a1, a2, a3 = st.columns([5, 5, 2])
        a1.button(
            f"Measure {len(added)} clicked point(s) next",
            disabled=not len(added) or over,
            help="Post AddPoints with the pixels clicked on the live overview.",
            key="campaign.add_points",
            on_click=_post_added_points,
        )
        a2.button(
            "Add the boxed no-go region",
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
    with right:
        maps = {
            "Predicted mean": (snap.mean_map, "Viridis"),
            "Uncertainty (std)": (snap.std_map, "Magma"),
            "Acquisition score": (snap.acquisition_map, "Plasma"),
            "Ground truth": (snap.ground_truth, "Cividis"),
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
                snap,
                ("map", str(title)),
                lambda: figures.map_figure(
                    values,
                    title=str(title),
                    colorscale=scale,
                    colorbar_title=campaign_tools.map_quantity(
                        str(title), str(snap.scalarizer.get("label") or "target")
                    ),
                    pixel_size=snap.pixel_size,
                    pixel_units=snap.pixel_units,
                    measured=snap.measured_points,
                    next_points=snap.next_points,
                    ahead_points=snap.ahead_points,
                    max_side=96,
                ),
            )
            st.plotly_chart(map_fig, key="campaign.map")

    if snap.is_multi_objective and snap.objectives is not None:
        pareto_view(snap)

    g1, g2, g3 = st.columns(3)
    with g1:
        label = str(snap.scalarizer.get("label") or snap.scalarizer.get("kind", "target"))
        st.plotly_chart(
            figure_cache.get(
                snap,
                "targets",
                lambda: figures.target_figure(
                    snap.targets, label=label, marks=campaign_tools.intervention_marks(snap)
                ),
            ),
            key="campaign.targets",
        )
    with g2:
        if snap.discovery:
            st.plotly_chart(
                figure_cache.get(
                    snap,
                    "discovery",
                    lambda: figures.discovery_figure(
                        snap.discovery, marks=campaign_tools.intervention_marks(snap)
                    ),
                ),
                key="campaign.discovery",
            )
        else:
            st.caption("Discovery curve: only on pre-acquired data with a ground truth.")
    with g3:
        if snap.step_timings:
            st.plotly_chart(
                figure_cache.get(
                    snap,
                    "timing",
                    lambda: figures.timing_figure(snap.step_timings, beam_idle=snap.beam_idle),
                ),
                key="campaign.timing",
            )

    st.subheader("Event log")
    if snap.events:
        st.dataframe(
            figure_cache.get(
                snap,
                "events",
                lambda: [
                    {"step": e.step, "kind": e.kind, "what": e.text} for e in reversed(snap.events)
                ],
            ),
            hide_index=True,
            height=220,
        )
    st.caption(
        "In force: "
        + campaign_tools.settings_summary(snap.policy, snap.descriptor, snap.scalarizer)
    )


def pareto_view(snap: Any) -> None:
    """Objective space (click a point: its spectrum, and a star on the overview), hypervolume."""
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


live_view()

# -- interventions -----------------------------------------------------------------------
entry_now = registry.get(state.campaign_path())
if entry_now is not None:
    snap0 = entry_now.runner.snapshot()
    st.subheader("Steer")
    multi_objective = snap0.is_multi_objective
    acquisition_key = "campaign.acquisition_mo" if multi_objective else "campaign.acquisition"
    acquisition_options = list(MO_ACQUISITIONS if multi_objective else ACQUISITIONS)
    in_force = str(snap0.policy.get("acquisition", acquisition_options[0]))
    # The inputs show what is in force: for another campaign, or after a change made
    # elsewhere (another tab, a notebook), they are set again from the snapshot, so an
    # Apply never posts a value left over from before (issue B5).
    synced = (
        snap0.record_path,
        snap0.policy.get("version"),
        int(snap0.budget),
        int(snap0.descriptor.get("patch_size", 16)),
    )
    steer_keys = ("campaign.beta", acquisition_key, "campaign.new_patch", "campaign.new_budget")
    if state.get_value("steer_synced") != synced or any(
        state.widget_value(key) is None for key in steer_keys
    ):
        state.set_widget_value("campaign.beta", float(snap0.policy.get("beta", 1.0)))
        if in_force in acquisition_options:
            state.set_widget_value(acquisition_key, in_force)
        for name, field in campaign_tools.policy_number_fields(in_force, exclude=("beta",)):
            value = snap0.policy.get(name, field.default)
            state.set_widget_value(f"campaign.policy.{name}", float(value))
        state.set_widget_value("campaign.new_patch", synced[3])
        state.set_widget_value("campaign.new_budget", synced[2])
        state.set_value("steer_synced", synced)
    i1, i2, i3 = st.columns(3)
    i1.number_input(
        "beta",
        min_value=0.0,
        step=0.25,
        key="campaign.beta",
        on_change=_on_beta,
        help="UCB exploration weight; takes effect at the next step and is logged.",
    )
    i1.selectbox(
        "Acquisition function",
        acquisition_options,
        key=acquisition_key,
        on_change=_on_acquisition_mo if multi_objective else _on_acquisition,
        help="Scoring rule for the next points; takes effect at the next step.",
    )
    # every other number the acquisition in force declares (EI's xi, ...): one input each,
    # labelled, bounded and explained by its PolicyConfig field
    for name, field in campaign_tools.policy_number_fields(in_force, exclude=("beta",)):
        key = f"campaign.policy.{name}"
        if state.widget_value(key) is None:
            state.set_widget_value(key, float(snap0.policy.get(name, field.default)))
        i1.number_input(
            name,
            min_value=campaign_tools.field_lower_bound(field),
            key=key,
            on_change=_post,
            args=(lambda n=name, k=key: SetPolicy(**{n: float(state.widget_value(k))}),),
            help=f"{field.description} Takes effect at the next step and is logged.",
        )
    new_patch = i2.number_input(
        "Patch size",
        min_value=2,
        max_value=64,
        key="campaign.new_patch",
        help="Recompute the descriptors with this patch size.",
    )
    if i2.button("Apply patch size", help="Post SetDescriptor.", key="campaign.apply_patch"):
        _post(lambda: SetDescriptor(patch_size=int(new_patch)))
    new_budget = i2.number_input(
        "Budget",
        min_value=1,
        max_value=100000,
        key="campaign.new_budget",
        help="Total spectra to acquire; raise it to keep going.",
    )
    if i2.button("Apply budget", help="Post SetBudget.", key="campaign.apply_budget"):
        _post(lambda: SetBudget(measurements=int(new_budget)))
    saved_spec = state.scalarizer()
    if i3.button(
        "Use the saved target",
        disabled=saved_spec is None or saved_spec == snap0.scalarizer,
        help="Switch the campaign to the scalarizer saved on the Target page; "
        "every measured spectrum is re-labelled.",
        key="campaign.apply_target",
    ):
        _post(lambda: SetScalarizer(spec=dict(saved_spec or {})))
    if multi_objective and snap0.objectives is not None:
        labels = list(snap0.objective_labels) or [
            f"objective {j + 1}" for j in range(snap0.objectives.shape[1])
        ]
        k = len(labels)
        weights_now = snap0.policy.get("weights") or [1.0] * k
        reference_now = snap0.policy.get("ref_point")
        if reference_now is None and snap0.reference_point is not None:
            reference_now = [float(v) for v in snap0.reference_point]
        st.markdown("**Several targets**: weights (weighted sum, Chebyshev) and EHVI reference")
        columns = st.columns(k)
        for j, label in enumerate(labels):
            if state.widget_value(f"campaign.weight.{j}") is None:
                state.set_widget_value(f"campaign.weight.{j}", float(weights_now[j]))
            if state.widget_value(f"campaign.ref.{j}") is None and reference_now is not None:
                state.set_widget_value(f"campaign.ref.{j}", float(reference_now[j]))
            columns[j].number_input(
                f"Weight: {label}",
                min_value=0.0,
                step=0.25,
                key=f"campaign.weight.{j}",
                help="How much this target counts in weighted_sum / chebyshev (only ratios "
                "matter; targets are standardised on the measured values first).",
            )
            columns[j].number_input(
                f"Reference: {label}",
                key=f"campaign.ref.{j}",
                format="%.4g",
                help="EHVI reference point for this target, in target units: only gains "
                "above it count (a floor, e.g. at least 300 counts).",
            )
        w1, w2 = st.columns(2)
        if w1.button(
            "Apply weights",
            key="campaign.apply_weights",
            help="Post SetPolicy(weights=...): used by weighted_sum and chebyshev from the "
            "next step; logged.",
        ):
            _post(
                lambda: SetPolicy(
                    weights=tuple(
                        float(state.widget_value(f"campaign.weight.{j}")) for j in range(k)
                    )
                )
            )
        if w2.button(
            "Apply reference point",
            key="campaign.apply_ref",
            help="Post SetPolicy(ref_point=...): EHVI's reference point from the next step; "
            "logged. The hypervolume plot keeps its fixed reference.",
        ):
            _post(
                lambda: SetPolicy(
                    ref_point=tuple(
                        float(state.widget_value(f"campaign.ref.{j}", 0.0) or 0.0) for j in range(k)
                    )
                )
            )
