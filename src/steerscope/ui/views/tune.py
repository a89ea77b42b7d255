"""Tune page: tune defocus and astigmatism on the Ronchigram, and steer the tuning as it runs.

The tuning campaign runs in its own process (``steerscope run CONFIG --serve``), the
only writer of its record; this page starts it, draws its status and latest
Ronchigram, and posts changes, each acknowledged at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.tuning import (
    SetBeta,
    SetBounds,
    SetBudget,
    SetMerit,
    SetPaused,
    TrySettings,
    VetoSettings,
    format_settings,
)
from steerscope.tuning.interventions import VETO_WIDTH
from steerscope.ui import state, tuning_tools, widgets

st.title("Tune")
st.caption(
    "Tune the probe's defocus and two-fold astigmatism from the Ronchigram of an amorphous "
    "film: Bayesian optimisation over a safe range makes the Ronchigram flat within the "
    "aperture you want. Runs on the simulated Nion microscope (nionswift-usim)."
)

processes = tuning_tools.tuning_processes()


def _new_form() -> None:
    """The set-up form; starts a tuning campaign."""
    with st.form("tune.setup"):
        st.subheader("New tuning campaign")
        ranges: dict[str, tuple[float, float]] = {}
        start: dict[str, float] = {}
        for name, what, half, first in tuning_tools.ABERRATIONS:
            c1, c2, c3 = st.columns(3)
            low = c1.number_input(f"{name} ({what}) low, nm", value=-half, key=f"tune.{name}.low")
            high = c2.number_input(f"{name} high, nm", value=half, key=f"tune.{name}.high")
            start[name] = c3.number_input(
                f"{name} start, nm",
                value=first,
                key=f"tune.{name}.start",
                help="Where the simulated probe starts (the operator's mis-tuning).",
            )
            ranges[name] = (float(low), float(high))
        c1, c2, c3 = st.columns(3)
        budget = c1.number_input("Budget (frames)", 2, 500, 30, key="tune.budget")
        beta = c2.number_input("Beta (exploration)", 0.0, 100.0, 1.0, key="tune.beta")
        radius = c3.number_input(
            "Flatness disc radius, mrad",
            1.0,
            100.0,
            40.0,
            key="tune.radius",
            help="The aperture semi-angle you want to use: the Ronchigram is judged inside it.",
        )
        if st.form_submit_button("Start tuning", type="primary"):
            form = {"ranges": ranges, "start": start, "budget": budget, "beta": beta}
            try:
                entry = tuning_tools.start_tuning(
                    state.records_dir() / "tuning", {**form, "radius_mrad": radius}
                )
                state.set_value("tuning_record", str(entry.record))
                st.rerun()
            except SteerscopeError as exc:
                widgets.show_error(exc)


def _post(process: Any, change: Any) -> None:
    try:
        state.set_value("tuning_ack", process.post(change))
    except SteerscopeError as exc:
        state.set_value("tuning_ack", f"refused: {exc}")


@st.fragment(run_every=state.live_refresh_s())
def _live(record: str) -> None:
    entry = processes[record]
    if entry.process is None:
        if entry.error:
            st.error(entry.error, icon=":material/error:")
        else:
            st.info("Starting the simulated microscope…", icon=":material/hourglass_top:")
        return
    if state.get_value("tuning_steering") != record:  # started: draw the steering too
        state.set_value("tuning_steering", record)
        st.rerun(scope="app")
    status = entry.process.status()
    trials = status.get("trials", [])
    units = status.get("units", {})
    best = next((t for t in trials if t["index"] == status.get("best_index")), None)
    c1, c2, c3 = st.columns(3)
    c1.metric("State", status.get("state", "?"))
    c2.metric("Frames", f"{len(trials)} / {status.get('budget', '?')}")
    c3.metric("Best flatness", "–" if best is None else f"{best['merit']:.2f}")
    if best is not None:
        where = format_settings(best["settings"], units)
        st.caption(f"Best so far: frame {best['index']} at {where}")
    if status.get("error"):
        st.error(status["error"], icon=":material/error:")
    left, right = st.columns(2)
    left.plotly_chart(tuning_tools.flatness_figure(trials), key="tune.flatness")
    if trials:
        last = trials[-1]
        frame = tuning_tools.latest_frame(Path(record), last["index"])
        if frame is not None:
            title = f"Ronchigram, frame {last['index']} ({last['how']})"
            radius = float(status["merit"]["radius_mrad"])  # the campaign's, not the form's
            right.plotly_chart(
                tuning_tools.ronchigram_figure(*frame, radius, title=title), key="tune.frame"
            )
    for text in status.get("queued", []):
        st.caption(f"queued: {text}")
    events = status.get("events", [])
    if events:
        st.markdown("**Changes applied**")
        for event in events[-8:]:
            st.caption(f"before frame {event['frame']}: {event['text']}")


def _steer(record: str) -> None:
    process = processes[record].process
    if process is None:
        return
    st.subheader("Steer")
    c1, c2, c3 = st.columns(3)
    with c1.form("tune.beta.form"):
        beta = st.number_input("New beta", 0.0, 100.0, 1.0, key="tune.new_beta")
        if st.form_submit_button("Apply beta"):
            _post(process, SetBeta(float(beta)))
    with c2.form("tune.budget.form"):
        budget = st.number_input("New budget (frames)", 1, 500, 40, key="tune.new_budget")
        if st.form_submit_button("Apply budget"):
            _post(process, SetBudget(int(budget)))
    with c3:
        if st.button("Pause", key="tune.pause"):
            _post(process, SetPaused(True))
        if st.button("Go on", key="tune.go_on"):
            _post(process, SetPaused(False))
        if st.button("Stop", key="tune.stop", type="primary"):
            state.set_value("tuning_ack", process.client.stop())
    with st.form("tune.try.form"):
        st.caption("Try these settings next (nm); the others keep the best frame's values.")
        columns = st.columns(len(tuning_tools.ABERRATIONS) + 1)
        values = {
            name: col.number_input(f"{name}, nm", value=0.0, key=f"tune.try.{name}")
            for col, (name, *_) in zip(columns, tuning_tools.ABERRATIONS, strict=False)
        }
        if st.form_submit_button("Try settings"):
            _post(process, TrySettings({k: float(v) for k, v in values.items()}))
    with st.form("tune.bounds.form"):
        c1, c2, c3 = st.columns(3)
        name = c1.selectbox("Setting", [n for n, *_ in tuning_tools.ABERRATIONS], key="tune.b.name")
        low = c2.number_input("Search from, nm", value=-100.0, key="tune.b.low")
        high = c3.number_input("to, nm", value=100.0, key="tune.b.high")
        if st.form_submit_button("Move the search range"):
            _post(process, SetBounds(str(name), float(low), float(high)))
    c1, c2 = st.columns(2)
    with c1.form("tune.veto.form"):
        v1, v2 = st.columns(2)
        vetoed = v1.selectbox(
            "Never try", [n for n, *_ in tuning_tools.ABERRATIONS], key="tune.v.name"
        )
        near = v2.number_input(
            "near, nm",
            value=0.0,
            key="tune.v.value",
            help=f"Vetoes this value ± {VETO_WIDTH:.0%} of the setting's safe range, at any "
            "other setting.",
        )
        if st.form_submit_button("Veto"):
            _post(process, VetoSettings({str(vetoed): float(near)}))
    with c2.form("tune.merit.form"):
        radius = st.number_input(
            "Judge flatness within (mrad)",
            1.0,
            200.0,
            40.0,
            key="tune.m.radius",
            help="The disc the figure of merit reads; every frame so far is re-scored.",
        )
        if st.form_submit_button("Re-score every frame"):
            _post(process, SetMerit(radius_mrad=float(radius)))
    ack = state.get_value("tuning_ack")
    if ack:
        st.info(ack, icon=":material/check:")


if state.teaching() is not None:
    st.info("Tuning campaigns are not offered on a teaching server.")
else:
    record = state.get_value("tuning_record")
    if record is None or record not in processes:
        choices = list(processes)
        if choices:
            picked = st.selectbox("Watch a tuning campaign", ["(new)", *choices])
            if picked != "(new)":
                state.set_value("tuning_record", picked)
                st.rerun()
        _new_form()
    else:
        _live(record)
        _steer(record)
        if st.button("New tuning campaign", key="tune.new"):
            state.set_value("tuning_record", None)
            st.rerun()
