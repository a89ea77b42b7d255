"""Review page: open a record, scrub through its steps, see interventions, fork, export."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pydantic
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.records import CampaignRecord
from steerscope.ui import figures, review_tools, state, widgets

st.title("Review")
widgets.learning_panel("review")

folder = state.records_dir()
records = review_tools.find_records(folder)
choices = [str(p) for p in records]
current = state.get_value("review_path") or state.campaign_path()
if current and current not in choices:
    choices.insert(0, current)
if not choices:
    st.info(
        f"No campaign records in {folder} yet. Run a campaign on the Campaign page, or set "
        "STEERSCOPE_RECORDS to the folder that holds your records."
    )
    st.stop()
path = st.selectbox(
    "Record",
    choices,
    index=choices.index(current) if current in choices else 0,
    format_func=lambda p: Path(p).name,
    help="Campaign records (.sqlite) in the records folder, newest first.",
)
state.set_value("review_path", path)

try:
    record = CampaignRecord.open(path, read_only=True, verify=False)
except SteerscopeError as exc:
    widgets.show_error(exc)
    st.stop()

try:
    config = record.config()
    status = record.status()
    measured = record.measurements()
    steps = review_tools.record_steps(record)
    overview = record.overview()
    st.caption(
        f"{config.get('name', 'campaign')} · status **{status.status}**"
        f"{' (' + status.reason + ')' if status.reason else ''} · {len(measured)} spectra · "
        f"{len(record.decisions())} decisions · {len(record.interventions())} interventions"
    )

    if len(steps) > 1:
        step = st.select_slider(
            "Step",
            options=steps,
            value=steps[-1],
            key="review.step",
            help="Scrub through the campaign: maps and points as they were at this step.",
        )
    else:
        step = steps[0]
        st.caption(f"Only step {step} so far.")
    points = review_tools.measured_until(record, int(step))
    maps = record.maps(int(step))
    left, right = st.columns([1, 1])
    with left:
        overview_fig = figures.overview_figure(
            overview.image,
            pixel_size=overview.pixel_size,
            pixel_units=overview.pixel_units,
            measured=points,
            title=f"Measured up to step {step} ({len(points)} points)",
            clickable=False,
        )
        st.plotly_chart(overview_fig, key="review.overview")
    map_figs = {}
    with right:
        if not maps:
            st.info("This record saved no maps up to this step.")
        for name, values in maps.items():
            map_figs[name] = figures.map_figure(
                values, title=f"{name} (step ≤ {step})", measured=points
            )
            st.plotly_chart(map_figs[name], key=f"review.map.{name}")

    st.subheader("Interventions")
    events = review_tools.timeline_events(record)
    if events:
        st.plotly_chart(figures.timeline_figure(events), key="review.timeline")
    rows = review_tools.intervention_rows(record)
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.caption("No interventions in this record.")

    st.subheader("What-if replay")
    campaign_module = importlib.import_module("steerscope.campaign")
    replay = getattr(campaign_module, "replay", None)
    from_step = st.number_input(
        "Fork at step",
        min_value=0,
        max_value=max(steps),
        value=int(step),
        help="Replay the recorded campaign up to this step, then continue with the changes.",
    )
    fork_beta = st.number_input(
        "Beta after the fork",
        min_value=0.0,
        value=float((config.get("policy") or {}).get("beta", 1.0)),
        help="UCB exploration weight the forked replay uses from the fork step on.",
    )
    out_path = folder / f"{Path(path).stem}-fork{int(from_step)}{review_tools.RECORD_SUFFIX}"
    if replay is None:
        st.button(
            "Fork replay",
            disabled=True,
            help="Needs steerscope.campaign.replay, which this installation does not have yet.",
        )
        st.caption("What-if replay is not available: `steerscope.campaign.replay` is missing.")
    elif st.button(
        "Fork replay",
        help=f"Write a new record {out_path.name} replaying this one with the changes.",
    ):
        try:
            params = inspect.signature(replay).parameters
            kwargs: dict[str, Any] = {"changes": {"policy": {"beta": float(fork_beta)}}}
            if "out_path" in params:
                kwargs["out_path"] = str(out_path)
            with st.spinner("Replaying…"):
                replay(path, int(from_step), **kwargs)
            st.success(f"Forked replay written to {out_path}")
        except (SteerscopeError, pydantic.ValidationError) as exc:
            widgets.show_error(exc)

    st.subheader("Export")
    exports = folder / "exports"
    e1, e2 = st.columns(2)
    if e1.button("Export HDF5", help="Write the whole record (spectra, decisions, log) as HDF5."):
        try:
            exports.mkdir(parents=True, exist_ok=True)
            written = record.export_hdf5(exports / f"{Path(path).stem}.h5", overwrite=True)
            e1.download_button(
                "Download HDF5",
                data=Path(written).read_bytes(),
                file_name=Path(written).name,
                help="Save the exported HDF5 file.",
            )
        except SteerscopeError as exc:
            widgets.show_error(exc)
    if e2.button("Export .hspy", help="Write the spectra and overview as HyperSpy files."):
        try:
            exports.mkdir(parents=True, exist_ok=True)
            written_files = record.export_hspy(exports / f"{Path(path).stem}.hspy", overwrite=True)
            e2.success("Written: " + ", ".join(str(p) for p in written_files))
        except SteerscopeError as exc:
            widgets.show_error(exc)

    st.caption(
        "Figures: plotly's PNG export needs kaleido, which is not installed; download the "
        "interactive HTML, or a PNG drawn with matplotlib."
        if not review_tools.kaleido_available()
        else "Figures: PNG via plotly/kaleido."
    )
    d1, d2 = st.columns(2)
    d1.download_button(
        "Overview (HTML)",
        data=figures.figure_html(overview_fig),
        file_name=f"{Path(path).stem}-overview-step{step}.html",
        mime="text/html",
        help="The overview with measured points as an interactive HTML file.",
    )
    for name, values in maps.items():
        d2.download_button(
            f"{name} (PNG)",
            data=figures.map_png(values, title=f"{name}, step {step}", measured=points),
            file_name=f"{Path(path).stem}-{name}-step{step}.png",
            mime="image/png",
            key=f"review.png.{name}",
            help=f"The {name} map at this step as a PNG (matplotlib).",
        )
finally:
    record.close()
