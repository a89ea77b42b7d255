"""Scalarizers: hand-computed values per kind, YAML round trips, units, errors, formula safety."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from scipy.signal import peak_prominences

from steerscope.errors import ScalarizerError
from steerscope.scalarizers import (
    SCALARIZER_KINDS,
    EdxLineSpec,
    MultiSpec,
    WindowSumSpec,
    parse_scalarizer,
    reference_from_spectra,
    scalarizer_to_yaml,
    xray_line_energy_kev,
)
from steerscope.types import EnergyAxis

# 0.0, 0.5, ..., 5.0 eV; spectrum i has counts equal to the channel index.
SMALL_AXIS = EnergyAxis(size=11, offset=0.0, scale=0.5, units="eV")
RAMP = np.arange(11, dtype=float)[None, :]


def gaussian(x: np.ndarray, centre: float, sigma: float, height: float) -> np.ndarray:
    return height * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


EXAMPLES: dict[str, dict[str, Any]] = {
    "window_sum": {"kind": "window_sum", "window": [1.0, 2.0]},
    "window_max": {"kind": "window_max", "window": [1.0, 2.0], "units": "eV"},
    "background_subtracted_area": {
        "kind": "background_subtracted_area",
        "window": [200.0, 240.0],
        "background": "power_law",
        "background_window": [120.0, 180.0],
    },
    "peak_position": {"kind": "peak_position", "window": [1.0, 2.0], "name": "plasmon energy"},
    "window_ratio": {"kind": "window_ratio", "numerator": [1.0, 2.0], "denominator": [3.0, 4.0]},
    "peak_prominence": {"kind": "peak_prominence", "window": [0.0, 2.0]},
    "edx_line": {"kind": "edx_line", "line": "Au_La", "width": None},
    "formula": {
        "kind": "formula",
        "windows": {"a": [1.0, 2.0], "b": [3.0, 4.0]},
        "expression": "a / (a + b)",
    },
    "similarity": {"kind": "similarity", "reference": [0.0, 1.0, 2.0, 3.0], "n_votes": 2},
    "preference": {"kind": "preference", "window": [1.0, 4.0], "components": 3},
    "sho_fit": {"kind": "sho_fit", "parameter": "quality", "window": [1.0, 4.0]},
    "multi": {
        "kind": "multi",
        "targets": [
            {"kind": "window_sum", "window": [1.0, 2.0]},
            {"kind": "edx_line", "line": "Fe_Ka", "width": 0.2, "background": True},
        ],
    },
}


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(SCALARIZER_KINDS)


# --- hand-computed values -------------------------------------------------------------------


def test_window_sum_and_max_on_a_ramp() -> None:
    # Window [1, 2] eV holds channels 2, 3, 4 (1.0, 1.5, 2.0 eV).
    spectra = np.vstack([RAMP, 2 * RAMP])
    total = parse_scalarizer(EXAMPLES["window_sum"]).apply(spectra, SMALL_AXIS)
    largest = parse_scalarizer(EXAMPLES["window_max"]).apply(spectra, SMALL_AXIS)
    np.testing.assert_array_equal(total, [9.0, 18.0])
    np.testing.assert_array_equal(largest, [4.0, 8.0])
    assert total.dtype == np.float64 and total.shape == (2,)


def test_peak_position_is_the_weighted_centroid() -> None:
    result = parse_scalarizer(EXAMPLES["peak_position"]).apply(RAMP, SMALL_AXIS)
    # weights 2, 3, 4 at 1.0, 1.5, 2.0 eV
    assert result[0] == pytest.approx((2 * 1.0 + 3 * 1.5 + 4 * 2.0) / 9.0)


def test_peak_position_ignores_negative_counts_and_is_nan_without_signal() -> None:
    spectra = np.zeros((2, 11))
    spectra[0, [2, 3, 4]] = [-5.0, 0.0, 1.0]  # only the 2.0 eV channel has weight
    spectra[1, 0] = 1.0  # nothing positive inside the window
    result = parse_scalarizer(EXAMPLES["peak_position"]).apply(spectra, SMALL_AXIS)
    assert result[0] == pytest.approx(2.0)
    assert np.isnan(result[1])


def test_window_ratio_and_its_zero_denominator() -> None:
    spectra = np.vstack([RAMP, RAMP])
    spectra[1, 6:9] = 0.0  # denominator channels 3.0, 3.5, 4.0 eV empty in spectrum 1
    result = parse_scalarizer(EXAMPLES["window_ratio"]).apply(spectra, SMALL_AXIS)
    assert result[0] == pytest.approx(9.0 / 21.0)
    assert np.isnan(result[1])


def test_window_ratio_with_zero_denominator_everywhere_is_refused() -> None:
    spectra = np.vstack([RAMP, RAMP])
    spectra[:, 6:9] = 0.0
    with pytest.raises(ScalarizerError, match="denominator window sums to zero in every"):
        parse_scalarizer(EXAMPLES["window_ratio"]).apply(spectra, SMALL_AXIS)


def test_power_law_background_is_removed_exactly() -> None:
    axis = EnergyAxis(size=200, offset=100.0, scale=1.0, units="eV")
    energies = axis.values
    edge = gaussian(energies, 220.0, 5.0, 50.0)
    spectra = np.vstack([1e7 * energies**-3.0 + edge, 4e5 * energies**-2.0 + 2 * edge])
    result = parse_scalarizer(EXAMPLES["background_subtracted_area"]).apply(spectra, axis)
    inside = (energies >= 200) & (energies <= 240)
    np.testing.assert_allclose(result, [edge[inside].sum(), 2 * edge[inside].sum()], rtol=1e-9)


def test_power_law_background_needs_a_window_and_positive_energies() -> None:
    with pytest.raises(ScalarizerError, match="power_law background needs `background_window`"):
        parse_scalarizer({"kind": "background_subtracted_area", "window": [5, 6]})
    spec = parse_scalarizer(
        {"kind": "background_subtracted_area", "window": [3, 4], "background_window": [0, 2]}
    )
    with pytest.raises(ScalarizerError, match="needs energies > 0"):
        spec.apply(RAMP + 1, SMALL_AXIS)


def test_linear_background_through_end_channels_and_from_a_fit_window() -> None:
    axis = EnergyAxis(size=11, offset=0.0, scale=1.0, units="eV")
    bump = np.array([0, 0, 0, 0, 1, 4, 1, 0, 0, 0, 0], dtype=float)
    spectra = (3.0 + axis.values + bump)[None, :]
    ends = parse_scalarizer(
        {"kind": "background_subtracted_area", "window": [2, 8], "background": "linear"}
    )
    fitted = parse_scalarizer(
        {
            "kind": "background_subtracted_area",
            "window": [3, 7],
            "background": "linear",
            "background_window": [0, 3],
        }
    )
    assert ends.apply(spectra, axis)[0] == pytest.approx(6.0)
    assert fitted.apply(spectra, axis)[0] == pytest.approx(6.0)


def test_peak_prominence_by_hand_and_against_scipy() -> None:
    axis = EnergyAxis(size=5, offset=0.0, scale=1.0, units="eV")
    spec = parse_scalarizer({"kind": "peak_prominence", "window": [0, 4]})
    hand = np.array([[3.0, 1.0, 5.0, 2.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    # 5 above max(min left 1, min right 2) = 3; a maximum on the window edge has none.
    np.testing.assert_allclose(spec.apply(hand, axis), [3.0, 0.0])

    rng = np.random.default_rng(0)
    spectra = rng.poisson(20, size=(50, 11)).astype(float)
    ours = parse_scalarizer(EXAMPLES["peak_prominence"]).apply(spectra, SMALL_AXIS)
    window = spectra[:, 0:5]  # 0.0 ... 2.0 eV
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when a maximum sits on the window edge
        expected = [peak_prominences(row, [int(row.argmax())])[0][0] for row in window]
    np.testing.assert_allclose(ours, expected)


def test_edx_line_on_kev_and_ev_axes_with_background() -> None:
    fe_ka = xray_line_energy_kev("Fe_Ka")
    assert fe_ka == pytest.approx(6.40, abs=0.01)
    kev_axis = EnergyAxis(size=2048, offset=0.0, scale=0.01, units="keV")
    ev_axis = EnergyAxis(size=2048, offset=0.0, scale=10.0, units="eV")
    line = gaussian(kev_axis.values, fe_ka, 0.03, 100.0)  # no tail in the side windows
    spectra = np.vstack([line + 2.0, line + 0.5 * kev_axis.values])
    inside = np.abs(kev_axis.values - fe_ka) <= 0.2
    spec = parse_scalarizer({"kind": "edx_line", "line": "Fe_Ka", "width": 0.2})
    with_background = spec.model_copy(update={"background": True})

    raw_kev = spec.apply(spectra, kev_axis)
    np.testing.assert_allclose(raw_kev, spectra[:, inside].sum(axis=1))
    np.testing.assert_allclose(spec.apply(spectra, ev_axis), raw_kev)
    net = with_background.apply(spectra, kev_axis)
    np.testing.assert_allclose(net, [line[inside].sum()] * 2, rtol=1e-9)
    np.testing.assert_allclose(with_background.apply(spectra, ev_axis), net, rtol=1e-9)


def test_edx_default_width_follows_the_detector_resolution() -> None:
    mn = EdxLineSpec(line="Mn_Ka")
    assert mn.half_width_kev() == pytest.approx(1.2 * 0.130)
    au = EdxLineSpec(line="Au_La", resolution_mn_ka_ev=130.0)
    assert au.half_width_kev() > mn.half_width_kev()  # wider at higher energy
    assert au.label == "Au Lα intensity"


def test_formula_by_hand_and_undefined_entries() -> None:
    spectra = np.vstack([RAMP, RAMP])
    spectra[1, 2:5] = 0.0  # a = 0 in spectrum 1
    result = parse_scalarizer(EXAMPLES["formula"]).apply(spectra, SMALL_AXIS)
    np.testing.assert_allclose(result, [9.0 / 30.0, 0.0])
    logs = parse_scalarizer(
        {
            "kind": "formula",
            "windows": {"a": [1, 2], "b": [3, 4]},
            "expression": "log(a) - sqrt(b) + abs(-2) * 3 ** 2 / -(1)",
        }
    ).apply(spectra, SMALL_AXIS)
    assert logs[0] == pytest.approx(np.log(9.0) - np.sqrt(21.0) - 18.0)
    assert np.isnan(logs[1])  # log(0) is undefined, reported as NaN


def test_multi_stacks_its_targets() -> None:
    spec = parse_scalarizer(
        {
            "kind": "multi",
            "targets": [EXAMPLES["window_sum"], EXAMPLES["window_max"], EXAMPLES["peak_position"]],
        }
    )
    assert isinstance(spec, MultiSpec)
    result = spec.apply(np.vstack([RAMP, 2 * RAMP, 3 * RAMP]), SMALL_AXIS)
    assert result.shape == (3, 3) and spec.n_outputs == 3
    np.testing.assert_allclose(result[:, 0], [9.0, 18.0, 27.0])
    np.testing.assert_allclose(result[:, 1], [4.0, 8.0, 12.0])
    assert spec.label == "Σ 1.00–2.00 | max 1.00–2.00 eV | plasmon energy"


def test_empty_input_gives_empty_output() -> None:
    result = parse_scalarizer(EXAMPLES["window_sum"]).apply(np.zeros((0, 11)), SMALL_AXIS)
    assert result.shape == (0,)


# --- units ----------------------------------------------------------------------------------


def test_windows_with_declared_units_are_converted() -> None:
    kev_axis = EnergyAxis(size=11, offset=0.0, scale=0.0005, units="keV")
    in_ev = WindowSumSpec(window=(1.0, 2.0), units="eV")
    in_kev = WindowSumSpec(window=(0.001, 0.002), units="keV")
    plain = WindowSumSpec(window=(0.001, 0.002))  # axis units
    assert in_ev.apply(RAMP, kev_axis)[0] == 9.0
    assert in_kev.apply(RAMP, SMALL_AXIS)[0] == 9.0
    assert plain.apply(RAMP, kev_axis)[0] == 9.0
    assert in_ev.label == "Σ 1.00–2.00 eV"
    with pytest.raises(ScalarizerError, match=r"lies outside the energy axis.*eV vs keV"):
        WindowSumSpec(window=(1.0, 2.0)).apply(RAMP, kev_axis)


# --- YAML round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_yaml_round_trip(kind: str) -> None:
    spec = parse_scalarizer(EXAMPLES[kind])
    text = scalarizer_to_yaml(spec)
    again = parse_scalarizer(text)
    assert again == spec
    assert scalarizer_to_yaml(again) == text
    assert parse_scalarizer(spec.model_dump()) == spec
    assert spec.label and isinstance(spec.label, str)
    assert spec.n_outputs == (2 if kind == "multi" else 1)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ((20.0, 30.0), r"\[20, 30\] eV lies outside the energy axis 0.00–5.00 eV"),
        ((4.0, 9.0), r"extends beyond the energy axis 0.00–5.00 eV.*refused rather than clipped"),
        ((1.1, 1.3), r"contains no channel.*widen it to at least one channel"),
    ],
)
def test_windows_that_do_not_fit_the_axis(window: tuple[float, float], message: str) -> None:
    with pytest.raises(ScalarizerError, match=message):
        WindowSumSpec(window=window).apply(RAMP, SMALL_AXIS)


def test_window_within_half_a_channel_of_the_axis_end_is_accepted() -> None:
    assert WindowSumSpec(window=(4.6, 5.2)).apply(RAMP, SMALL_AXIS)[0] == 10.0


def test_reversed_window_is_refused_when_parsed() -> None:
    with pytest.raises(ScalarizerError, match=r"\[2, 1\] has high <= low.*\[1, 2\]"):
        parse_scalarizer({"kind": "window_sum", "window": [2, 1]})


def test_non_finite_spectra_are_reported_with_count_and_first_index() -> None:
    spectra = np.vstack([RAMP, RAMP, RAMP])
    spectra[1, 7] = np.nan
    spectra[2, 0] = np.inf
    with pytest.raises(ScalarizerError, match=r"2 of 3 spectra contain NaN.*first at index 1"):
        WindowSumSpec(window=(1, 2)).apply(spectra, SMALL_AXIS)


def test_spectra_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ScalarizerError, match=r"shape \(n_spectra, n_channels\).*spectrum\[None"):
        WindowSumSpec(window=(1, 2)).apply(RAMP[0], SMALL_AXIS)
    with pytest.raises(ScalarizerError, match="12 channels but the energy axis has 11"):
        WindowSumSpec(window=(1, 2)).apply(np.zeros((1, 12)), SMALL_AXIS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"window": [1, 2]}, "has no 'kind'; choose one of: window_sum"),
        ({"kind": "peak_height"}, "unknown kind 'peak_height'"),
        ({"kind": "window_sum"}, "window: Field required.*Fields of 'window_sum'"),
        ({"kind": "window_sum", "window": [1, 2], "colour": 1}, "colour: Extra inputs"),
        ({"kind": "window_sum", "window": "wide"}, "window: Input should be a valid tuple"),
        ({"kind": "edx_line", "line": "Au_Lz"}, "no X-ray line 'Au_Lz'; lines of Au:.*Au_La"),
        ({"kind": "edx_line", "line": "Qq_Ka"}, "unknown element 'Qq'"),
        ({"kind": "edx_line", "line": "iron"}, "written Element_Line"),
        ({"kind": "multi", "targets": [{"kind": "multi", "targets": []}]}, "nested multi"),
        ({"kind": "multi", "targets": []}, "targets: List should have at least 1 item"),
        ("kind: [window_sum", "not valid YAML"),
        ("- 1\n- 2", "a mapping with a 'kind' key; got list"),
    ],
)
def test_bad_specs_raise_scalarizer_error(spec: Any, message: str) -> None:
    with pytest.raises(ScalarizerError, match=message):
        parse_scalarizer(spec)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("a.real", "Attribute is not allowed"),
        ("open(a)", "call to a function that is not allowed"),
        ("c + a", "unknown name 'c'"),
        ("a[0]", "Subscript is not allowed"),
        ("a if b else 1", "IfExp is not allowed"),
        ("a // b", "operator not allowed"),
        ("a + 'x'", "only int and float constants"),
        ("log(a, b)", r"log\(\) takes 1 argument"),
        ("sqrt(x=a)", "keyword arguments are not allowed"),
        ("(lambda: 1)()", "not allowed"),
        ("a +", "not a valid expression"),
    ],
)
def test_formula_refuses_anything_outside_the_whitelist(expression: str, message: str) -> None:
    spec = {"kind": "formula", "windows": {"a": [1, 2], "b": [3, 4]}, "expression": expression}
    with pytest.raises(ScalarizerError, match=message):
        parse_scalarizer(spec)


def test_formula_window_names_must_be_plain() -> None:
    with pytest.raises(ScalarizerError, match="window name 'log' is not usable"):
        parse_scalarizer({"kind": "formula", "windows": {"log": [1, 2]}, "expression": "log"})


def test_huge_powers_overflow_to_nan_instead_of_hanging() -> None:
    spec = parse_scalarizer(
        {"kind": "formula", "windows": {"a": [1, 2]}, "expression": "a + 0 * 9 ** 9 ** 9"}
    )
    with pytest.raises(ScalarizerError, match="undefined for all 1 spectra"):
        spec.apply(RAMP, SMALL_AXIS)


# --- similarity to marked spectra -------------------------------------------------------------

FOUR = EnergyAxis(size=4, offset=0.0, scale=1.0, units="eV")


def test_similarity_compares_shapes_not_intensities() -> None:
    spec = parse_scalarizer({"kind": "similarity", "reference": [0.0, 1.0, 2.0, 3.0]})
    spectra = np.array(
        [
            [0.0, 10.0, 20.0, 30.0],  # the reference's shape, ten times the counts
            [5.0, 6.0, 7.0, 8.0],  # the same shape on an offset: correlation ignores it
            [3.0, 2.0, 1.0, 0.0],  # the mirror image
        ]
    )
    np.testing.assert_allclose(spec.apply(spectra, FOUR), [1.0, 1.0, -1.0])
    cosine = spec.model_copy(update={"metric": "cosine"}).apply(spectra, FOUR)
    assert cosine[0] == pytest.approx(1.0) and 0.85 < cosine[1] < 0.95  # the offset counts


def test_similarity_against_the_bad_spectra_and_within_a_window() -> None:
    spec = parse_scalarizer(
        {
            "kind": "similarity",
            "reference": [0.0, 1.0, 2.0, 3.0],
            "unlike": [3.0, 2.0, 1.0, 0.0],
            "window": [1.0, 3.0],
        }
    )
    good, bad = [0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]
    np.testing.assert_allclose(spec.apply(np.array([good, bad]), FOUR), [2.0, -2.0])
    assert spec.label == "likeness to the good spectra (vs the bad)"


def test_a_reference_is_the_mean_shape_of_the_marked_spectra() -> None:
    reference = reference_from_spectra([[0.0, 3.0, 4.0, 0.0], [0.0, 30.0, 40.0, 0.0]])
    assert reference == [0.0, 0.6, 0.8, 0.0]  # each scaled to unit length, then averaged
    with pytest.raises(ScalarizerError, match="at least one spectrum"):
        reference_from_spectra(np.zeros((0, 4)))
    with pytest.raises(ScalarizerError, match="flat"):
        reference_from_spectra(np.zeros((2, 4)))


def test_a_reference_of_another_length_says_where_it_should_come_from() -> None:
    spec = parse_scalarizer({"kind": "similarity", "reference": [1.0, 2.0, 3.0]})
    with pytest.raises(ScalarizerError, match=r"3 channels, the spectra 4.*this source"):
        spec.apply(np.ones((1, 4)), FOUR)
    with pytest.raises(ScalarizerError, match="finite"):
        parse_scalarizer({"kind": "similarity", "reference": [1.0, float("nan")]})
