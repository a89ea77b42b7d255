"""The New-campaign form: seed points, descriptor, model, acquisition, budget, pauses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import streamlit as st

from steerscope.acquisition import MO_ACQUISITIONS
from steerscope.campaign import (
    BudgetConfig,
    InstrumentConfig,
    PauseConfig,
    PolicyConfig,
    ProbeMotion,
    RandomSeeds,
)
from steerscope.campaign.config import AUTO_BATCH_MAX
from steerscope.descriptors import DescriptorSpec
from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state, widgets
from steerscope.ui.state import RegistryEntry

__all__ = ["SETUP_DEFAULTS", "setup_form"]


def _default(model: type[pydantic.BaseModel], name: str) -> Any:
    """The default of a config field: the form starts where a YAML config would."""
    return model.model_fields[name].default


SETUP_DEFAULTS: dict[str, Any] = {
    "campaign.seed_kind": "random",
    "campaign.n_seeds": _default(RandomSeeds, "n"),
    "campaign.patch_size": _default(DescriptorSpec, "patch_size"),
    "campaign.model": "dkl",
    "campaign.start_beta": float(_default(PolicyConfig, "beta")),
    "campaign.batch_size": _default(PolicyConfig, "batch_size"),
    "campaign.budget": _default(BudgetConfig, "measurements"),
    "campaign.delay": float(_default(InstrumentConfig, "acquisition_delay_s")),
    "campaign.tip_speed": float(_default(ProbeMotion, "tip_speed_nm_s")),
    "campaign.pause_after_seeds": _default(PauseConfig, "after_seeds"),
    "campaign.pause_every": _default(PauseConfig, "every"),
}
"""Widget keys of the form and the value each starts with: the config's defaults."""


def setup_form(watched: RegistryEntry | None, snapshot_now: Any) -> None:
    """Draw the New-campaign form; Start creates the record and starts the campaign.

    Parameters
    ----------
    watched : RegistryEntry or None
        The campaign this tab watched last (finished or stopped), if any.
    snapshot_now : CampaignSnapshot or None
        Its latest snapshot; below the form, a line says how it ended.

    Stops the page (``st.stop``) when no source is open, or when there is no earlier
    campaign to show below the form.
    """
    registry = state.registry()
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
        **campaign_tools.input_bounds(RandomSeeds, "n", lowest=1),
        key="campaign.n_seeds",
        help="How many random or grid points to measure first.",
    )
    patch_size = c1.slider(
        "Descriptor patch size",
        **campaign_tools.input_bounds(DescriptorSpec, "patch_size"),
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
    acquisition_key = "campaign.start_acquisition_mo" if several else "campaign.start_acquisition"
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
        **campaign_tools.input_bounds(PolicyConfig, "beta"),
        step=0.25,
        key="campaign.start_beta",
        help="UCB: score = mean + sqrt(β) · std; larger explores more.",
    )
    batch_size = c3.selectbox(
        "Batch size",
        ["auto", *range(1, AUTO_BATCH_MAX + 1)],
        key="campaign.batch_size",
        format_func=lambda q: "auto (keeps the beam busy)" if q == "auto" else str(q),
        help="Points measured per step. Auto: as many as the beam measures while the next "
        "choice is made, so a fast detector never waits (one point at slow dwells).",
    )
    budget = c3.number_input(
        "Budget (measurements)",
        **campaign_tools.input_bounds(BudgetConfig, "measurements"),
        key="campaign.budget",
        help="The campaign stops after this many spectra.",
    )
    delay = c3.number_input(
        "Simulated delay per point (s)",
        **campaign_tools.input_bounds(InstrumentConfig, "acquisition_delay_s"),
        key="campaign.delay",
        help="Pre-acquired data only: make each acquisition take this long, like a microscope.",
    )
    probe_data = loaded.image is not None and loaded.image.signal_kind.scanning_probe
    tip_speed = (
        c3.number_input(
            "Tip speed (nm/s)",
            **campaign_tools.input_bounds(ProbeMotion, "tip_speed_nm_s", lowest=0.1),
            key="campaign.tip_speed",
            help="Scanning-probe data replay as a probe: the tip travels between points at "
            "this speed and the sample drifts meanwhile, so far jumps cost time.",
        )
        if probe_data
        else None
    )
    pause_after_seeds = c2.checkbox(
        "Pause after the seed points",
        key="campaign.pause_after_seeds",
        help="Hold once the seeds are measured, before the model's first choice: look at "
        "the first maps, adjust beta or the target, then Resume.",
    )
    pause_every = c2.number_input(
        "Pause every N spectra (0 = never)",
        **campaign_tools.input_bounds(PauseConfig, "every"),
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
            limits = state.check_may_start(budget=int(budget), new_record=True)
            source_description = state.source() or {}
            config = campaign_tools.build_config_dict(
                source=source_description,
                scalarizer=state.scalarizer(),
                patch_size=int(patch_size),
                model_kind=str(model_kind),
                acquisition=str(acquisition),
                beta=float(start_beta),
                batch_size=batch_size if batch_size == "auto" else int(batch_size),
                budget=int(budget),
                seed_kind=str(seed_kind),
                n_seeds=int(n_seeds),
                seed_points=picked,
                acquisition_delay_s=float(delay),
                pause_after_seeds=bool(pause_after_seeds),
                pause_every=int(pause_every),
                tip_speed_nm_s=None if tip_speed is None else float(tip_speed),
            )
            path = campaign_tools.new_record_path(state.records_dir(), loaded.title)
            runner = campaign_tools.start_runner(
                config,
                path,
                token=source_description.get("token"),
                nice=limits.campaign_nice if limits is not None else 0,
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
