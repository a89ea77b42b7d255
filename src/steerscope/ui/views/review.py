"""Review page: open a record, scrub through its steps, see interventions, fork, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from steerscope.acquisition import ACQUISITIONS
from steerscope.errors import SteerscopeError
from steerscope.records import CampaignRecord
from steerscope.ui import campaign_tools, figures, review_tools, state, widgets

_JOB_ICONS = {"running": "⏳", "finished": "✅", "cancelled": "⏹", "error": "❌"}


@st.fragment(run_every=state.live_refresh_s())
def _replay_jobs_live() -> None:
    """The what-if replays of this server, refreshed every second while one is running."""
    _replay_jobs_table()


def _my_replay_jobs() -> list[Any]:
    """The server's replay jobs this tab may see (on a teaching server, its own)."""
    return [job for job in state.replay_jobs().jobs() if state.is_mine(job.out_path)]


def _replay_jobs_table() -> None:
    jobs = _my_replay_jobs()
    if not jobs:
        return
    rows = [
        {
            "": _JOB_ICONS[job.status],
            "fork": Path(job.out_path).name,
            "from": f"{Path(job.source).name} @ step {job.from_step}",
            "changes": ", ".join(f"{k}={v!r}" for k, v in job.changes.items()) or "none",
            "steps run": job.steps_done,
            "status": job.status + (f": {job.message}" if job.message else ""),
        }
        for job in jobs
    ]
    st.dataframe(rows, hide_index=True, key="review.replay_jobs")
    finished = [job for job in jobs if job.status == "finished"]
    if finished and st.button(
        f"Open {Path(finished[0].out_path).name}",
        key="review.open_fork",
        help="Show the newest finished fork on this page.",
    ):
        state.set_value("review_path", finished[0].out_path)
        st.rerun(scope="app")


def _whatif_section(
    path: str, config: dict[str, Any], steps: list[int], viewed: int, *, has_history: bool
) -> None:
    """Fork the open record at a step with another beta/acquisition/scalarizer, in the background.

    The replay runs on a thread (:class:`review_tools.ReplayJob`), so the page
    stays responsive; the fork appears in the record list as soon as it exists. The
    fork step follows the step being viewed (``viewed``) until the user types another.
    """
    policy = config.get("policy") or {}
    last_step = max(steps) + 1 if has_history else 0
    followed = (path, int(viewed))
    if (
        state.get_value("fork_follows") != followed
        or state.widget_value("review.fork_step") is None
    ):
        state.set_widget_value("review.fork_step", min(int(viewed), last_step))
        state.set_value("fork_follows", followed)
    c1, c2, c3 = st.columns(3)
    from_step = c1.number_input(
        "Fork at step",
        min_value=0,
        max_value=last_step,
        key="review.fork_step",
        help="Steps before this one are copied from the record; from it on, the changes decide.",
    )
    acquisitions = list(ACQUISITIONS)
    recorded_acq = str(policy.get("acquisition", "ucb"))
    fork_acq = c2.selectbox(
        "Acquisition after the fork",
        acquisitions,
        index=acquisitions.index(recorded_acq) if recorded_acq in acquisitions else 0,
        key="review.fork_acquisition",
        help="Acquisition function the fork uses from the fork step on.",
    )
    fork_beta = c3.number_input(
        "Beta after the fork",
        min_value=0.0,
        value=float(policy.get("beta", 1.0)),
        key="review.fork_beta",
        help="UCB exploration weight the fork uses from the fork step on.",
    )
    saved_scalarizer = state.scalarizer()
    use_saved = st.checkbox(
        "Use the scalarizer saved on the Target page",
        value=False,
        disabled=saved_scalarizer is None,
        key="review.fork_scalarizer",
        help="Relabel every spectrum of the fork with the Target page's scalarizer "
        + (
            "(none saved yet)."
            if saved_scalarizer is None
            else f"({campaign_tools.describe_target(saved_scalarizer)})."
        ),
    )
    changes: dict[str, Any] = {
        "policy.acquisition": str(fork_acq),
        "policy.beta": float(fork_beta),
    }
    if use_saved and saved_scalarizer is not None:
        changes["scalarizer"] = saved_scalarizer
    out_path = review_tools.fork_output_path(state.records_dir(), path, int(from_step))
    if st.button(
        "Fork replay",
        key="review.fork",
        help=f"Write a new record {out_path.name} replaying this one with the changes, "
        "on a background thread.",
    ):
        out_path.parent.mkdir(parents=True, exist_ok=True)
        state.replay_jobs().submit(path, int(from_step), changes, out_path)
        st.success(f"Replay started in the background: {out_path.name}")
    jobs = _my_replay_jobs()
    if any(not job.done for job in jobs):
        _replay_jobs_live()
    else:
        _replay_jobs_table()


st.title("Review")
widgets.learning_panel("review")

folder = state.records_dir()
records = review_tools.find_records(folder)
choices = [str(p) for p in records]
current = state.get_value("review_path") or state.campaign_path()
if current and current not in choices:
    choices.insert(0, current)
if not choices:
    if state.teaching() is not None:  # a visitor has only their own folder
        st.info("No campaign records yet. Run a campaign on the Campaign page.")
    else:
        st.info(
            f"No campaign records in {folder} yet. Run a campaign on the Campaign page, or "
            "set STEERSCOPE_RECORDS to the folder that holds your records."
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
    spec = config.get("scalarizer")
    target_label = campaign_tools.describe_target(spec) if spec else "target"
    left, right = st.columns([1, 1])
    with left:
        overview_fig = figures.overview_figure(
            overview.image,
            pixel_size=overview.pixel_size,
            pixel_units=overview.pixel_units,
            measured=points,
            phases=review_tools.phases_until(record, int(step)),
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
                values,
                title=f"{name} (step ≤ {step})",
                colorbar_title=campaign_tools.map_quantity(name, target_label),
                measured=points,
                pixel_size=overview.pixel_size,
                pixel_units=overview.pixel_units,
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
    _whatif_section(
        path, config, steps, int(step), has_history=bool(len(measured) or record.decisions())
    )

    st.subheader("Export")
    exports = folder / "exports"
    e1, e2, e3 = st.columns(3)
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
    for column, suffix, what in (
        (e2, ".hspy", "HyperSpy files (HDF5)"),
        (e3, ".zspy", "HyperSpy's Zarr folders (chunked, for large or cloud data)"),
    ):
        if column.button(
            f"Export {suffix}",
            key=f"review.export{suffix}",
            help=f"Write the spectra and the overview as {what}.",
        ):
            try:
                exports.mkdir(parents=True, exist_ok=True)
                out = exports / f"{Path(path).stem}{suffix}"
                written_files = record.export_hspy(out, overwrite=True)
                column.success("Written: " + ", ".join(p.name for p in written_files))
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
