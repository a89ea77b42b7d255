"""The Steer panel: beta, acquisition and its numbers, patch size, budget, target, weights.

Its inputs show what is in force (set again from the snapshot when the campaign or
its settings change elsewhere), and each change posts a typed intervention at once.
"""

from __future__ import annotations

import streamlit as st

from steerscope.acquisition import ACQUISITIONS, MO_ACQUISITIONS
from steerscope.campaign import (
    BudgetConfig,
    PolicyConfig,
    SetBudget,
    SetDescriptor,
    SetPolicy,
    SetScalarizer,
)
from steerscope.descriptors import DescriptorSpec
from steerscope.ui import campaign_tools, state, widgets
from steerscope.ui.panels.posting import post
from steerscope.ui.state import RegistryEntry

__all__ = ["steer_panel"]


def _on_beta() -> None:
    post(lambda: SetPolicy(beta=float(state.widget_value("campaign.beta"))))


def _on_acquisition() -> None:
    post(lambda: SetPolicy(acquisition=str(state.widget_value("campaign.acquisition"))))


def _on_acquisition_mo() -> None:
    post(lambda: SetPolicy(acquisition=str(state.widget_value("campaign.acquisition_mo"))))


def steer_panel(entry_now: RegistryEntry) -> None:
    """Draw the Steer panel for the campaign ``entry_now`` holds."""
    snap0 = entry_now.runner.snapshot()
    st.subheader("Steer")
    widgets.lesson_highlight("campaign", snap0.events)  # learning mode: beta, until changed
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
        int(snap0.descriptor.get("patch_size", DescriptorSpec().patch_size)),
    )
    steer_keys = (
        "campaign.beta",
        acquisition_key,
        "campaign.new_patch",
        "campaign.new_budget",
        "campaign.max_unfitted",
    )
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
        unfitted = snap0.policy.get("max_unfitted", PolicyConfig().max_unfitted)
        state.set_widget_value("campaign.max_unfitted", float(unfitted))
        state.set_value("steer_synced", synced)
    i1, i2, i3 = st.columns(3)
    i1.number_input(
        "beta",
        **campaign_tools.input_bounds(PolicyConfig, "beta"),
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
            min_value=campaign_tools.field_bounds(PolicyConfig, name)[0],
            key=key,
            on_change=post,
            args=(lambda n=name, k=key: SetPolicy(**{n: float(state.widget_value(k))}),),
            help=f"{field.description} Takes effect at the next step and is logged.",
        )
    new_patch = i2.number_input(
        "Patch size",
        **campaign_tools.input_bounds(DescriptorSpec, "patch_size"),
        key="campaign.new_patch",
        help="Recompute the descriptors with this patch size.",
    )
    if i2.button("Apply patch size", help="Post SetDescriptor.", key="campaign.apply_patch"):
        post(lambda: SetDescriptor(patch_size=int(new_patch)))
    new_budget = i2.number_input(
        "Budget",
        **campaign_tools.input_bounds(BudgetConfig, "measurements", lowest=1),
        key="campaign.new_budget",
        help="Total spectra to acquire; raise it to keep going.",
    )
    if i2.button("Apply budget", help="Post SetBudget.", key="campaign.apply_budget"):
        post(lambda: SetBudget(measurements=int(new_budget)))
    saved_spec = state.scalarizer()
    if i3.button(
        "Use the saved target",
        disabled=saved_spec is None or saved_spec == snap0.scalarizer,
        help="Switch the campaign to the scalarizer saved on the Target page; "
        "every measured spectrum is re-labelled.",
        key="campaign.apply_target",
    ):
        post(lambda: SetScalarizer(spec=dict(saved_spec or {})))
    i3.number_input(
        "Share not yet fitted (max)",
        **campaign_tools.input_bounds(PolicyConfig, "max_unfitted"),
        step=0.1,
        key="campaign.max_unfitted",
        on_change=post,
        args=(lambda: SetPolicy(max_unfitted=float(state.widget_value("campaign.max_unfitted"))),),
        help="While the model retrains, the beam goes on with choices of the last fit, updated "
        "with each new spectrum, as long as at most this share of the spectra were never seen "
        "by a fit; beyond it the beam waits for the refit. 0: always wait (the best choices); "
        "1: never wait (the busiest beam, at fast dwells choices from older fits). Logged.",
    )
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
            post(
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
            post(
                lambda: SetPolicy(
                    ref_point=tuple(
                        float(state.widget_value(f"campaign.ref.{j}", 0.0) or 0.0) for j in range(k)
                    )
                )
            )
