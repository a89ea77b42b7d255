"""Sweep page: plan settings before a session by running many simulated campaigns on Dask.

The sweep runs on a background thread (``steerscope.sweeps.run_sweep`` on a
local cluster of at most two workers) so the page stays responsive; its folder
lives under ``<records>/sweeps`` and any finished sweep folder can be reopened.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.ui import campaign_tools, figures, state, sweep_tools, widgets
from steerscope.ui.teaching import check_sweep

st.title("Sweep")
st.caption(
    "Try descriptor sizes, policies and models on the pre-acquired data of this source: every "
    "combination runs as a full simulated campaign with its own record."
)

jobs = state.sweep_jobs()
sweeps_dir = state.records_dir() / "sweeps"

# -- new sweep ------------------------------------------------------------------------------
loaded = widgets.require_source(need_spectra=True)
if loaded is not None:
    spec_target = state.scalarizer() or loaded.default_scalarizer
    st.subheader("New sweep")
    st.caption(f"Source: {loaded.title} · target: {campaign_tools.describe_target(spec_target)}")
    choices = campaign_tools.acquisition_choices(spec_target)
    c1, c2, c3 = st.columns(3)
    patch_sizes = c1.multiselect(
        "Patch sizes",
        [4, 8, 12, 16, 24, 32, 48, 64],
        default=[8, 16],
        key="sweep.patch_sizes",
        help="Descriptor patch sides (overview pixels) to try; each is a separate run.",
    )
    acquisitions = c1.multiselect(
        "Acquisition functions",
        list(choices),
        default=[choices[0]],
        key="sweep.acquisitions",
        help="Policies to try; with several targets only EHVI, weighted sum and Chebyshev fit.",
    )
    betas = c1.multiselect(
        "Betas",
        [0.25, 1.0, 4.0, 16.0],
        default=[1.0],
        key="sweep.betas",
        help="Exploration weights, tried with each acquisition that uses one "
        f"({', '.join(sweep_tools.BETA_ACQUISITIONS)}).",
    )
    model_kind = c2.selectbox(
        "Model",
        ["exact_gp", "dkl"],
        key="sweep.model",
        help="Surrogate of every run: the exact GP is fast; DKL is the live default.",
    )
    n_repeats = c2.number_input(
        "Seeds per setting",
        min_value=1,
        max_value=10,
        value=1,
        key="sweep.repeats",
        help="Repeat each setting with campaign seeds 0, 1, …: different seed points and "
        "model initialisation, to see the spread.",
    )
    n_seed_points = c2.number_input(
        "Seed points per run",
        min_value=1,
        max_value=200,
        value=5,
        key="sweep.n_seed_points",
        help="Random points each run measures before its model decides.",
    )
    budget = c3.number_input(
        "Budget per run",
        min_value=2,
        max_value=10000,
        value=30,
        key="sweep.budget",
        help="Spectra each simulated campaign acquires.",
    )
    workers = c3.number_input(
        "Workers",
        min_value=1,
        max_value=sweep_tools.MAX_WORKERS,
        value=1,
        key="sweep.workers",
        help="Dask worker processes on this machine (each starts in a few seconds).",
    )
    name = c3.text_input(
        "Sweep name",
        value="sweep",
        key="sweep.name",
        help="Names the sweep's folder under the records folder's 'sweeps'.",
    )
    spec = None
    try:
        spec = sweep_tools.build_sweep_spec(
            source=state.source() or {},
            scalarizer=state.scalarizer(),
            patch_sizes=[int(p) for p in patch_sizes],
            acquisitions=[str(a) for a in acquisitions],
            betas=[float(b) for b in betas],
            model_kind=str(model_kind),
            seeds=list(range(int(n_repeats))),
            budget=int(budget),
            n_seeds=int(n_seed_points),
            out_dir=sweeps_dir / "draft",
            name=str(name) or "sweep",
        )
    except (SteerscopeError, pydantic.ValidationError) as exc:
        widgets.show_error(exc)
    if spec is not None:
        n_runs = len(spec.expand())
        st.caption(f"{n_runs} run(s) × {int(budget)} spectra; results in {sweeps_dir}")
        if st.button(
            f"Run sweep ({n_runs} runs)",
            type="primary",
            key="sweep.start",
            help="Start the sweep in the background; progress and results appear below.",
        ):
            limits = state.teaching()
            try:
                if limits is not None:  # a teaching server: small sweeps, one worker each
                    check_sweep(limits, n_runs=n_runs, budget=int(budget))
                out_dir = sweep_tools.new_sweep_dir(sweeps_dir, str(name) or "sweep")
                job = jobs.submit(
                    spec.model_copy(update={"out_dir": str(out_dir)}),
                    workers=1 if limits is not None else int(workers),
                )
            except SteerscopeError as exc:
                widgets.show_error(exc)
            else:
                state.set_value("sweep_dir", str(job.out_dir))
                st.rerun()

# -- open a sweep ----------------------------------------------------------------------------
st.subheader("Sweeps")
known = [str(j.out_dir) for j in jobs.jobs() if state.is_mine(j.out_dir)]
known += [str(p) for p in sweep_tools.find_sweeps(sweeps_dir) if str(p) not in known]
current = state.get_value("sweep_dir")
if not known:
    st.info(f"No sweeps yet in {sweeps_dir}. Run one above.")
    st.stop()
if current not in known:
    current = known[0]
    state.set_value("sweep_dir", current)
chosen = st.selectbox(
    "Sweep folder",
    known,
    index=known.index(current),
    format_func=lambda p: Path(p).name,
    key="sweep.open",
    help="A sweep started here or a finished sweep folder under the records folder.",
)
if chosen != current:
    state.set_value("sweep_dir", chosen)
    st.rerun()


@st.fragment(run_every=state.live_refresh_s())
def sweep_view() -> None:
    """Progress of the open sweep while it runs, then its summary table and discovery plot."""
    folder = state.get_value("sweep_dir")
    if folder is None:
        return
    job = jobs.get(folder)
    if job is not None and not job.done:
        st.progress(
            job.n_done / max(job.n_total, 1),
            text=f"{job.n_done}/{job.n_total} run(s) finished · running on {job.workers} worker(s)",
        )
        st.code("\n".join(job.lines[-8:]) or "starting the Dask cluster…", language=None)
        if st.button(
            "Cancel sweep",
            key="sweep.cancel",
            help="Stop every run after its current step; rerunning the sweep redoes them.",
        ):
            job.cancel(0.1)
        return
    if job is not None and job.status in ("error", "cancelled"):
        st.warning(f"Sweep {job.status}: {job.message}", icon=":material/warning:")
    try:
        from steerscope.sweeps import load_summary

        rows = load_summary(folder)
    except SteerscopeError as exc:
        st.caption(str(exc))
        return
    done_text = f" in {job.seconds:.1f} s" if job is not None and job.status == "finished" else ""
    st.success(f"{sweep_tools.sweep_title(Path(folder))}: {len(rows)} run(s){done_text}")
    table = sweep_tools.summary_table(rows)
    st.dataframe(
        table,
        hide_index=True,
        column_config={  # the numbers as a reader compares them; the files keep every digit
            name: st.column_config.NumberColumn(format=sweep_tools.TABLE_FORMATS.get(name, "%.3f"))
            for name in (table[0] if table else {})
            if name.startswith("discovery@") or name in sweep_tools.TABLE_FORMATS
        },
    )
    st.plotly_chart(figures.sweep_discovery_figure(rows), key="sweep.discovery")
    st.caption(f"Run records (runs/*.sqlite) and summary files (CSV, Markdown, PNG): {folder}")


sweep_view()
