"""Target page: explore spectra, define the scalarizer, preview its map, save it for a campaign."""

from __future__ import annotations

from typing import Any

import pydantic
import streamlit as st

from steerscope.errors import SteerscopeError
from steerscope.scalarizers import parse_scalarizer, scalarizer_to_yaml
from steerscope.scalarizers.elements import element_markers
from steerscope.scalarizers.resonance import SHO_PARAMETERS
from steerscope.ui import campaign_tools, figures, state, target_tools, widgets


def _take_window(event: Any, channels: Any) -> None:
    """Set the window fields from an energy range box-selected on the spectrum.

    The edges are snapped to the nearest channel energies (``channels``), so the window
    says exactly which channels it sums.
    """
    selected = figures.window_from_selection(event)
    if selected is not None and selected != state.get_value("window_draft"):
        low, high = target_tools.snap_to_channels(selected, channels)
        state.set_value("window_draft", selected)
        state.set_widget_value("target.low", round(low, 6))
        state.set_widget_value("target.high", round(high, 6))


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
    "target.parameter": str((base_spec or {}).get("parameter") or "amplitude"),
    "target.multi": (base_spec or {}).get("kind") == "multi",
}
state.preset_widgets(presets)

st.subheader("Spectrum explorer")
left, right = st.columns([1, 1])
picked = state.picked_pixels()
with left:
    drag = widgets.drag_mode("target.drag", box_label="Drag boxes pixels to overlay")
    widgets.clickable_chart(
        figures.overview_figure(
            loaded.overview,
            pixel_size=loaded.pixel_size,
            pixel_units=loaded.pixel_units,
            selected=picked,
            drag=drag,
            title="Click or box-select pixels to overlay their spectra",
        ),
        key="target.overview",
        on_select=widgets.pixel_picker(loaded.shape, per_selection=12),
    )
    show_mean = st.checkbox(
        "Show the mean spectrum",
        value=True,
        key="target.show_mean",
        help="Overlay the mean over every pre-acquired spectrum.",
    )
    log_counts = st.checkbox(
        "Log counts",
        value=target_tools.log_counts_by_default(energy),
        key="target.log_y",
        help="Counts on a log axis: weak edges beside a zero-loss peak or a strong line show.",
    )
    zoom = st.checkbox(
        "Zoom to the window",
        key="target.zoom",
        help="Show the energies around the window (and the second window of a ratio) only.",
    )
    marked = st.text_input(
        "Mark elements",
        key="target.elements",
        placeholder="e.g. Fe, O, Au",
        help="Chemical symbols: their X-ray lines (keV axis, EDX) or EELS edge onsets "
        "(eV axis) are drawn on the spectrum, from exspy's element table.",
    )
    try:
        markers = element_markers(
            marked.replace(";", ",").split(","),
            units=energy.units,
            low=energy.low,
            high=energy.high,
        )
    except SteerscopeError as exc:
        widgets.show_error(exc)
        markers = []
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
    widgets.clickable_chart(
        figures.spectrum_figure(
            energy.values,
            lines,
            units=energy.units,
            window=window,
            second_window=second,
            title="Box-select an energy range to set the window",
            log_y=bool(log_counts),
            markers=markers,
            x_range=target_tools.zoom_range(window, second, energy.low, energy.high)
            if zoom
            else None,
        ),
        key="target.spectrum",
        on_select=lambda event: _take_window(event, energy.values),
    )

st.subheader("Scalarizer")
multi = st.toggle(
    "Several targets (multi-objective)",
    key="target.multi",
    help="Define two or more targets; the campaign then looks for the Pareto front of them "
    "(EHVI, weighted sum or Chebyshev) instead of the best of one.",
)


def _row_form(row_id: int, number: int) -> dict[str, Any]:
    """One row of the several-targets form; returns its fields for ``build_multi_...``."""
    prefix = f"target.row.{row_id}."
    c0, c1, c2, c3 = st.columns([2, 2, 2, 1])
    kind_r = c0.selectbox(
        f"Target {number} kind",
        target_tools.ROW_KINDS,
        key=prefix + "kind",
        help="How a spectrum becomes this target: a window sum, a peak, a ratio, an X-ray line.",
    )
    fields: dict[str, Any] = {"kind": kind_r}
    if kind_r == "edx_line":
        fields["line"] = c1.text_input(
            f"Target {number} X-ray line",
            key=prefix + "line",
            help="Element_Line, e.g. Au_La, Fe_Ka, Cu_Ka.",
        )
        fields["width"] = c2.number_input(
            f"Target {number} width",
            min_value=0.0,
            key=prefix + "width",
            help=f"Integration width in {energy.units}; 0 uses the detector resolution.",
        )
    else:
        low_r = c1.number_input(
            f"Target {number} low ({energy.units})",
            key=prefix + "low",
            format="%.4f",
            help="Lower edge of this target's energy window.",
        )
        high_r = c2.number_input(
            f"Target {number} high ({energy.units})",
            key=prefix + "high",
            format="%.4f",
            help="Upper edge of this target's energy window.",
        )
        fields["window"] = (float(low_r), float(high_r))
        if kind_r == "window_ratio":
            low2_r = c1.number_input(
                f"Target {number} denominator low ({energy.units})",
                key=prefix + "low2",
                format="%.4f",
                help="Lower edge of the window in the denominator of the ratio.",
            )
            high2_r = c2.number_input(
                f"Target {number} denominator high ({energy.units})",
                key=prefix + "high2",
                format="%.4f",
                help="Upper edge of the window in the denominator of the ratio.",
            )
            fields["second_window"] = (float(low2_r), float(high2_r))
        if kind_r == "background_subtracted_area":
            fields["background"] = c3.selectbox(
                "Background",
                ["power_law", "linear"],
                key=prefix + "background",
                help="Model fitted before the window and subtracted.",
            )
        if kind_r == "sho_fit":
            fields["parameter"] = c3.selectbox(
                f"Target {number} parameter",
                SHO_PARAMETERS,
                key=prefix + "parameter",
                help="Of the resonance fitted in the window: amplitude, resonance, Q or peak.",
            )
    if c3.button(
        "Remove",
        key=prefix + "remove",
        help=f"Drop target {number} from the list.",
    ):
        state.set_value("target_rows", [r for r in state.get_value("target_rows") if r != row_id])
        st.rerun()
    return fields


def _preset_row(row_id: int, preset: dict[str, Any]) -> None:
    prefix = f"target.row.{row_id}."
    window_r = preset.get("window") or preset.get("numerator") or (energy.low, energy.high)
    denominator = preset.get("denominator") or (energy.low, energy.high)
    values = {
        "kind": preset.get("kind", "window_sum"),
        "low": float(window_r[0]),
        "high": float(window_r[1]),
        "low2": float(denominator[0]),
        "high2": float(denominator[1]),
        "line": str(preset.get("line") or ""),
        "width": float(preset.get("width") or 0.0),
        "parameter": str(preset.get("parameter") or "amplitude"),
    }
    for name, value in values.items():
        if state.widget_value(prefix + name) is None:
            state.set_widget_value(prefix + name, value)


spec = None
previews: list[tuple[str, Any]] = []
if multi:
    row_ids = [int(r) for r in state.get_value("target_rows")]
    if not row_ids:
        presets_multi = target_tools.default_rows(base_spec, energy.low, energy.high)
        row_ids = list(range(len(presets_multi)))
        for row_id, preset in zip(row_ids, presets_multi, strict=True):
            _preset_row(row_id, preset)
        state.set_value("target_rows", row_ids)
    rows = [_row_form(row_id, number) for number, row_id in enumerate(row_ids, start=1)]
    if st.button("Add target", help="Append another target row (a window sum to start with)."):
        new_id = max(row_ids, default=-1) + 1
        _preset_row(new_id, {"kind": "window_sum", "window": [window[0], window[1]]})
        state.set_value("target_rows", [*row_ids, new_id])
        st.rerun()
    try:
        spec = parse_scalarizer(target_tools.build_multi_scalarizer_dict(rows))
        previews = target_tools.preview_target_maps(image, spec)
    except (SteerscopeError, pydantic.ValidationError) as exc:
        widgets.show_error(exc)
        spec = None
else:
    kind = st.selectbox(
        "Kind",
        target_tools.FORM_KINDS,
        key="target.kind",
        help="How a spectrum becomes one number: a window sum, a peak position, a ratio, an "
        "X-ray line, a fitted resonance (band-excitation SPM), or any spec written as YAML "
        "(formula, multi).",
    )
    c1, c2, c3 = st.columns(3)
    yaml_text = ""
    line = ""
    width = 0.0
    background = "power_law"
    parameter = "amplitude"
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
        if kind == "sho_fit":
            parameter = c3.selectbox(
                "Resonance parameter",
                SHO_PARAMETERS,
                key="target.parameter",
                help="Of the simple-harmonic-oscillator fit in the window: amplitude A0, "
                f"resonance frequency f0 ({energy.units}), quality factor Q, or peak A0·Q.",
            )
        if kind == "background_subtracted_area":
            background = c3.selectbox(
                "Background",
                ["power_law", "linear"],
                key="target.background",
                help="Model fitted before the window and subtracted (power law for EELS edges).",
            )
    try:
        raw = target_tools.build_scalarizer_dict(
            kind,
            window=(
                float(state.widget_value("target.low")),
                float(state.widget_value("target.high")),
            ),
            second_window=(
                float(state.widget_value("target.low2", energy.low)),
                float(state.widget_value("target.high2", energy.high)),
            ),
            line=line,
            width=width,
            background=background,
            parameter=parameter,
            yaml_text=yaml_text,
        )
        spec = parse_scalarizer(raw)
        previews = target_tools.preview_target_maps(image, spec)
    except (SteerscopeError, pydantic.ValidationError) as exc:
        widgets.show_error(exc)
        spec = None

if spec is not None:
    shown = previews if multi else previews[:1]
    extra = 1 if loaded.ground_truth is not None else 0
    columns = st.columns(min(len(shown) + extra, 3) or 1)
    for i, (label, preview) in enumerate(shown):
        with columns[i % len(columns)]:
            st.plotly_chart(
                figures.map_figure(
                    preview,
                    title=f"Target {i + 1} preview: {label}"
                    if multi
                    else f"Target preview: {label}",
                    colorbar_title=label,
                    pixel_size=loaded.pixel_size,
                    pixel_units=loaded.pixel_units,
                ),
                key=f"target.preview.{i}",
            )
    if loaded.ground_truth is not None:
        with columns[len(shown) % len(columns)]:
            st.plotly_chart(
                figures.map_figure(
                    loaded.ground_truth,
                    title="Dataset ground truth (its default target)",
                    colorscale="Cividis",
                    colorbar_title="ground truth",
                    pixel_size=loaded.pixel_size,
                    pixel_units=loaded.pixel_units,
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
        st.caption(
            f"Saved target (differs from this form): {campaign_tools.describe_target(saved)}"
        )
