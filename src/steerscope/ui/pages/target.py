"""Target page: explore spectra, define the scalarizer, preview its map, save it for a campaign."""

from __future__ import annotations

import pydantic
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.scalarizers import parse_scalarizer, scalarizer_to_yaml
from steerscope.ui import figures, state, target_tools, widgets

st.title("Target")
widgets.learning_panel("target")

loaded = widgets.require_source(need_spectra=True)
if loaded is None:
    st.stop()
assert loaded.image is not None  # require_source(need_spectra=True) guarantees it
image = loaded.image
energy = image.energy
base_spec = state.scalarizer() or loaded.default_scalarizer

# Preset each form field once (Streamlit forgets a widget's value while it is not drawn,
# e.g. the window fields while the kind is edx_line, so each is re-preset when missing).
low0, high0 = target_tools.default_window(base_spec, energy.low, energy.high)
den0 = (base_spec or {}).get("denominator") or (energy.low, energy.high)
kind0 = (base_spec or {}).get("kind", "window_sum")
yaml0 = ""
if kind0 not in target_tools.FORM_KINDS:
    kind0 = "yaml"
    try:
        yaml0 = scalarizer_to_yaml(parse_scalarizer(base_spec or {}))
    except (SteerscopeError, pydantic.ValidationError):
        yaml0 = ""
presets = {
    "target.kind": kind0,
    "target.low": low0,
    "target.high": high0,
    "target.low2": float(den0[0]),
    "target.high2": float(den0[1]),
    "target.line": str((base_spec or {}).get("line") or ""),
    "target.yaml": yaml0,
    "target.width": 0.0,
}
for widget_key, preset in presets.items():
    if state.widget_value(widget_key) is None:
        state.set_widget_value(widget_key, preset)

st.subheader("Spectrum explorer")
left, right = st.columns([1, 1])
picked = state.picked_pixels()
with left:
    event = widgets.clickable_chart(
        figures.overview_figure(
            loaded.overview,
            pixel_size=loaded.pixel_size,
            pixel_units=loaded.pixel_units,
            selected=picked,
            title="Click or box-select pixels to overlay their spectra",
        ),
        key="target.overview",
    )
    clicked = figures.pixels_from_selection(event, loaded.shape)
    if len(clicked) and state.add_picked_pixels(clicked[:12]):
        st.rerun()
    show_mean = st.checkbox(
        "Show the mean spectrum",
        value=True,
        key="target.show_mean",
        help="Overlay the mean over every pre-acquired spectrum.",
    )
    if st.button("Clear picked pixels", help="Forget the pixels picked so far."):
        state.clear_picked_pixels()
        st.rerun()

window = (float(state.widget_value("target.low")), float(state.widget_value("target.high")))
second = None
if state.widget_value("target.kind") == "window_ratio":
    second = (
        float(state.widget_value("target.low2", energy.low)),
        float(state.widget_value("target.high2", energy.high)),
    )
with right:
    lines = {}
    if show_mean:
        lines["mean"] = target_tools.mean_spectrum(image)
    if len(picked):
        for (row, col), spectrum in zip(
            picked[-6:].tolist(), loaded.spectra_at(picked[-6:]), strict=True
        ):
            lines[f"row {row}, col {col}"] = spectrum
    spectrum_event = widgets.clickable_chart(
        figures.spectrum_figure(
            energy.values,
            lines,
            units=energy.units,
            window=window,
            second_window=second,
            title="Box-select an energy range to set the window",
        ),
        key="target.spectrum",
    )
    selected_window = figures.window_from_selection(spectrum_event)
    if selected_window is not None and selected_window != state.get_value("window_draft"):
        state.set_value("window_draft", selected_window)
        state.set_widget_value("target.low", round(selected_window[0], 4))
        state.set_widget_value("target.high", round(selected_window[1], 4))
        st.rerun()

st.subheader("Scalarizer")
kind = st.selectbox(
    "Kind",
    target_tools.FORM_KINDS,
    key="target.kind",
    help="How a spectrum becomes one number: a window sum, a peak position, a ratio, an "
    "X-ray line, or any spec written as YAML (formula, multi).",
)
c1, c2, c3 = st.columns(3)
yaml_text = ""
line = ""
width = 0.0
background = "power_law"
if kind == "yaml":
    yaml_text = st.text_area(
        "Spec (YAML)",
        key="target.yaml",
        height=160,
        help="Any scalarizer spec, e.g. kind: formula with named windows and an expression.",
    )
elif kind == "edx_line":
    line = c1.text_input(
        "X-ray line", key="target.line", help="Element_Line, e.g. Au_La, Fe_Ka, Cu_Ka."
    )
    width = c2.number_input(
        "Width",
        min_value=0.0,
        key="target.width",
        help=f"Integration width in {energy.units}; 0 uses the detector resolution.",
    )
else:
    c1.number_input(
        f"Window low ({energy.units})",
        key="target.low",
        format="%.4f",
        help="Lower edge of the energy window (or box-select it on the spectrum plot).",
    )
    c2.number_input(
        f"Window high ({energy.units})",
        key="target.high",
        format="%.4f",
        help="Upper edge of the energy window.",
    )
    if kind == "window_ratio":
        c1.number_input(
            f"Denominator low ({energy.units})",
            key="target.low2",
            format="%.4f",
            help="Lower edge of the window in the denominator of the ratio.",
        )
        c2.number_input(
            f"Denominator high ({energy.units})",
            key="target.high2",
            format="%.4f",
            help="Upper edge of the window in the denominator of the ratio.",
        )
    if kind == "background_subtracted_area":
        background = c3.selectbox(
            "Background",
            ["power_law", "linear"],
            key="target.background",
            help="Model fitted before the window and subtracted (power law for EELS edges).",
        )

spec = None
try:
    raw = target_tools.build_scalarizer_dict(
        kind,
        window=(float(state.widget_value("target.low")), float(state.widget_value("target.high"))),
        second_window=(
            float(state.widget_value("target.low2", energy.low)),
            float(state.widget_value("target.high2", energy.high)),
        ),
        line=line,
        width=width,
        background=background,
        yaml_text=yaml_text,
    )
    spec = parse_scalarizer(raw)
    preview = target_tools.preview_target_map(image, spec)
except (SteerscopeError, pydantic.ValidationError) as exc:
    widgets.show_error(exc)
    spec = None

if spec is not None:
    p1, p2 = st.columns([1, 1])
    with p1:
        st.plotly_chart(
            figures.map_figure(
                preview, title=f"Target preview: {spec.label}", colorbar_title=spec.label
            ),
            key="target.preview",
        )
    with p2:
        if loaded.ground_truth is not None:
            st.plotly_chart(
                figures.map_figure(
                    loaded.ground_truth,
                    title="Dataset ground truth (its default target)",
                    colorscale="Cividis",
                ),
                key="target.truth",
            )
    saved = state.scalarizer()
    dumped = spec.model_dump(mode="json")
    if st.button(
        "Save target",
        type="primary",
        help="Use this scalarizer for the next campaign (and as an intervention on a running one).",
    ):
        state.set_scalarizer(dumped)
        st.rerun()
    if saved == dumped:
        st.success(f"Saved: {spec.label}")
    elif saved:
        st.caption(f"Saved target differs: {saved}")
