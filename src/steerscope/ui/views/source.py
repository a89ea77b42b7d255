"""Source page: a dataset, a file or a microscope server; click a pixel for its spectrum."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from steerscope.datasets import dataset_info, list_datasets
from steerscope.ui import figures, state, target_tools, widgets
from steerscope.ui.sources import describe_source

st.title("Source")
widgets.learning_panel("source")

dataset_names = list_datasets()

current = state.source() or {}
kind_labels = {"dataset": "Built-in dataset", "file": "File", "remote": "Microscope server"}
limits = state.teaching()
if limits is not None:  # a teaching server: files and microscopes only where allowed
    kind_labels = {
        k: v
        for k, v in kind_labels.items()
        if k == "dataset"
        or (k == "file" and limits.allow_files)
        or (k == "remote" and limits.allow_live)
    }
    if current.get("kind", "dataset") not in kind_labels:
        current = {}
kind = st.radio(
    "Source kind",
    list(kind_labels),
    index=list(kind_labels).index(current.get("kind", "dataset")),
    format_func=kind_labels.__getitem__,
    horizontal=True,
    help="Pre-acquired data (built-in dataset or file) runs on the simulator; a server is live.",
)

if kind == "dataset":
    default_name = current.get("name") if current.get("kind") == "dataset" else None
    name = st.selectbox(
        "Dataset",
        dataset_names,
        index=dataset_names.index(default_name) if default_name in dataset_names else 0,
        help="Synthetic datasets are generated on the fly; real ones need "
        "`steerscope datasets fetch` once.",
    )
    info = dataset_info(name) if name else ""
    st.caption(info)
    seed = st.number_input(
        "Seed",
        min_value=0,
        value=int((current.get("options") or {}).get("seed", 0)),
        step=1,
        help="Synthetic datasets only: the same seed gives the same sample.",
    )
    if st.button("Open dataset", type="primary", help="Load this dataset as the working source."):
        options = {"seed": int(seed)} if "seed=" in info else {}
        state.set_source({"kind": "dataset", "name": name, "options": options})
        st.rerun()
elif kind == "file":
    path = st.text_input(
        "File path",
        value=current.get("path", "") if current.get("kind") == "file" else "",
        help="A spectrum image readable by steerscope.load (.hspy/.zspy, .dm3/.dm4, .emd, "
        ".bcf, .pts, .npz, .h5).",
    )
    overview_path = st.text_input(
        "Overview file (optional)",
        value=current.get("overview", "") if current.get("kind") == "file" else "",
        help="A HAADF (or other overview) saved in a file of its own, acquired with this "
        "spectrum image. Without one, the file's own HAADF is used, else the sum of the spectra.",
    )
    if st.button("Open file", type="primary", help="Read this file as the working source."):
        chosen = {"kind": "file", "path": path}
        if overview_path.strip():
            chosen["overview"] = overview_path.strip()
        state.set_source(chosen)
        st.rerun()
    upload = st.file_uploader(
        "…or upload a file",
        help="The file is saved under the records folder's uploads/ and opened from there.",
    )
    if upload is not None:
        target = state.records_dir() / "uploads" / Path(upload.name).name
        if not target.exists() or target.stat().st_size != upload.size:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(upload.getvalue())
        if current.get("path") != str(target):
            state.set_source({"kind": "file", "path": str(target)})
            st.rerun()
else:
    uri = st.text_input(
        "Server URI",
        value=current.get("uri", "") if current.get("kind") == "remote" else "",
        placeholder="PYRO:steerscope.microscope@127.0.0.1:9090",
        help="What `steerscope serve` printed when it started.",
    )
    token = st.text_input(
        "Token",
        type="password",
        help="The shared secret the server expects (empty for a loopback server without one).",
    )
    if st.button("Connect", type="primary", help="Take an overview from the server."):
        state.set_source({"kind": "remote", "uri": uri, "token": token})
        st.rerun()

st.divider()
notice = state.pop_notice()
if notice:
    st.info(notice, icon=":material/info:")
loaded = widgets.require_source()
if loaded is not None:
    st.subheader(describe_source(loaded.description))
    if loaded.about:
        st.caption(loaded.about)
    for warning in loaded.warnings:
        st.warning(warning, icon=":material/warning:")
    left, right = st.columns([1, 1])
    picked = state.picked_pixels()
    with left:
        fig = figures.overview_figure(
            loaded.overview,
            pixel_size=loaded.pixel_size,
            pixel_units=loaded.pixel_units,
            selected=picked,
            title="Overview — click a pixel to see its spectrum",
        )
        widgets.clickable_chart(
            fig,
            key="source.overview",
            on_select=widgets.pixel_picker(loaded.shape),
            box=False,
        )
        st.caption(
            f"{loaded.shape[0]}×{loaded.shape[1]} pixels, "
            f"{loaded.pixel_size:g} {loaded.pixel_units}/pixel"
        )
    with right:
        if loaded.image is None:
            st.info("A live microscope has no pre-acquired spectra.")
        elif len(picked):
            row, col = (int(v) for v in picked[-1])
            spectrum = loaded.spectra_at(picked[-1:])[0]
            energy = loaded.image.energy
            log_default = target_tools.log_counts_by_default(energy)
            st.plotly_chart(
                figures.spectrum_figure(
                    energy.values,
                    {f"row {row}, col {col}": spectrum},
                    units=energy.units,
                    title=f"Spectrum at row {row}, col {col}",
                    log_y=bool(state.widget_value("source.log_y", log_default)),
                ),
                key="source.spectrum",
            )
            st.checkbox(
                "Log counts",
                value=log_default,
                key="source.log_y",
                help="Counts on a log axis: weak edges beside a zero-loss peak or a strong "
                "line show.",
            )
            if st.button("Clear picked pixels", help="Forget the pixels picked so far."):
                state.clear_picked_pixels()
                st.rerun()
        else:
            st.info("Click a pixel on the overview to see its spectrum.")
