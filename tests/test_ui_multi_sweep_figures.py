"""Figure builders and helpers of the multi-objective Campaign view and the Sweep page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.errors import ConfigError, ScalarizerError
from steerscope.ui import campaign_tools, figures, sweep_tools, target_tools

DATASET = {"kind": "dataset", "name": "plasmonic_nanoparticles", "options": {"seed": 1}}


def test_pareto_figure_draws_points_front_and_reference_points() -> None:
    objectives = np.array([[1.0, 4.0], [3.0, 3.0], [2.0, 1.0], [4.0, 0.5], [np.nan, 2.0]])
    front = np.array([True, True, False, True, False])
    fig = figures.pareto_figure(
        objectives,
        front,
        labels=("tip", "bulk"),
        reference_point=[0.5, 0.2],
        policy_ref_point=[1.5, 0.8],
        highlight=1,
    )
    by_name = {trace.name: trace for trace in fig.data}
    points = by_name[figures.PARETO_TRACE_NAME]
    assert list(points.x) == [1.0, 3.0, 2.0, 4.0]  # the NaN row is left out
    assert list(points.customdata) == [0, 1, 2, 3]
    assert list(points.marker.color) == [1, 2, 3, 4]  # colour = measurement number
    line = by_name["Pareto front"]
    assert list(line.x) == [4.0, 3.0, 1.0] and list(line.y) == [0.5, 3.0, 4.0]
    assert line.line.shape == "vh"
    assert (by_name["hypervolume reference"].x[0], by_name["hypervolume reference"].y[0]) == (
        0.5,
        0.2,
    )
    assert by_name["EHVI reference (set)"].x[0] == 1.5
    assert (by_name["picked"].x[0], by_name["picked"].y[0]) == (3.0, 3.0)
    assert fig.layout.xaxis.title.text == "tip" and fig.layout.yaxis.title.text == "bulk"
    with pytest.raises(ValueError, match=r"shape \(n, k >= 2\); got \(3, 1\)"):
        figures.pareto_figure(np.ones((3, 1)), [True, False, False])


def test_point_from_selection_reads_customdata_or_matches_coordinates() -> None:
    objectives = np.array([[1.0, 4.0], [3.0, 3.0]])
    assert figures.point_from_selection({"selection": {"points": [{"customdata": 1}]}}) == 1
    assert figures.point_from_selection({"selection": {"points": [{"customdata": [0]}]}}) == 0
    by_xy = {"selection": {"points": [{"x": 3.0, "y": 3.0}]}}
    assert figures.point_from_selection(by_xy, objectives) == 1
    assert (
        figures.point_from_selection({"selection": {"points": [{"x": 9, "y": 9}]}}, objectives)
        is None
    )
    assert figures.point_from_selection(None, objectives) is None


def test_hypervolume_and_sweep_discovery_figures() -> None:
    fig = figures.hypervolume_figure([(5, 0.0), (6, 1.5), (7, 2.5)])
    assert list(fig.data[0].x) == [5, 6, 7] and list(fig.data[0].y) == [0.0, 1.5, 2.5]
    rows = [
        {"run_id": "abcdef123", "name": "seed=0", "discovery_curve": [[1, 0.0], [2, 0.5]]},
        {"run_id": "0123456789", "name": "seed=1", "discovery_curve": []},
    ]
    sweep = figures.sweep_discovery_figure(rows)
    assert [t.name for t in sweep.data] == ["abcdef seed=0"]
    assert list(sweep.data[0].y) == [0.0, 0.5] and sweep.data[0].line.shape == "hv"
    empty = figures.sweep_discovery_figure(rows[1:])
    assert "no ground truth" in empty.layout.annotations[0].text


def test_overview_highlight_marks_the_picked_pixel() -> None:
    fig = figures.overview_figure(np.zeros((8, 8)), highlight=(2, 5))
    star = next(t for t in fig.data if t.name == "picked on the Pareto plot")
    assert (star.x[0], star.y[0]) == (5, 2)  # x = col, y = row


def test_multi_scalarizer_rows_build_a_multi_spec_and_name_the_bad_row() -> None:
    spec = target_tools.build_multi_scalarizer_dict(
        [
            {"kind": "window_sum", "window": (1.0, 1.8)},
            {"kind": "edx_line", "line": "Fe_Ka", "width": 0.0},
        ]
    )
    assert spec == {
        "kind": "multi",
        "targets": [
            {"kind": "window_sum", "window": [1.0, 1.8]},
            {"kind": "edx_line", "line": "Fe_Ka", "width": None},
        ],
    }
    with pytest.raises(ScalarizerError, match="needs at least 2 targets; got 1"):
        target_tools.build_multi_scalarizer_dict([{"kind": "window_sum", "window": (1, 2)}])
    with pytest.raises(ScalarizerError, match="target 2: an edx_line target needs an X-ray line"):
        target_tools.build_multi_scalarizer_dict(
            [{"kind": "window_sum", "window": (1, 2)}, {"kind": "edx_line", "line": " "}]
        )
    with pytest.raises(ScalarizerError, match="target 1 has kind 'yaml'"):
        target_tools.build_multi_scalarizer_dict([{"kind": "yaml"}, {"kind": "window_sum"}])
    saved = {"kind": "multi", "targets": [{"kind": "window_max", "window": [1, 2]}] * 2}
    assert target_tools.default_rows(saved, 0.0, 6.0) == saved["targets"]
    assert target_tools.default_rows(None, 0.0, 6.0) == [
        {"kind": "window_sum", "window": [2.0, 4.0]},
        {"kind": "window_sum", "window": [4.0, 6.0]},
    ]


def test_preview_target_maps_gives_one_map_per_target() -> None:
    from steerscope.data import SpectrumImage
    from steerscope.scalarizers import parse_scalarizer
    from steerscope.types import EnergyAxis

    spectra = np.zeros((2, 2, 10), dtype=np.float32)
    spectra[0, 1, 3] = 2.0
    spectra[1, 0, 7] = 5.0
    image = SpectrumImage(np.zeros((4, 4)), spectra, EnergyAxis(10, 0.0, 1.0))
    spec = parse_scalarizer(
        {
            "kind": "multi",
            "targets": [
                {"kind": "window_sum", "window": [2.5, 3.5]},
                {"kind": "window_sum", "window": [6.5, 7.5]},
            ],
        }
    )
    maps = target_tools.preview_target_maps(image, spec)
    assert [label for label, _ in maps] == spec.labels
    first, second = maps[0][1], maps[1][1]
    assert first[0, 2] == 2.0 and first.sum() == 2.0 * 4  # spectrum (0, 1) covers 2×2 pixels
    assert second[2, 0] == 5.0 and second.sum() == 5.0 * 4


def test_acquisition_choices_follow_the_number_of_targets() -> None:
    multi = {"kind": "multi", "targets": [{"kind": "window_sum"}, {"kind": "window_max"}]}
    assert campaign_tools.acquisition_choices(multi) == ("ehvi", "weighted_sum", "chebyshev")
    assert campaign_tools.acquisition_choices(None)[0] == "ucb"
    assert campaign_tools.acquisition_choices({"kind": "window_sum"})[0] == "ucb"


def test_sweep_spec_tries_betas_only_where_they_count(tmp_path: Path) -> None:
    spec = sweep_tools.build_sweep_spec(
        source=DATASET,
        scalarizer=None,
        patch_sizes=[8, 16, 8],
        acquisitions=["ucb", "ei"],
        betas=[0.25, 4.0],
        model_kind="exact_gp",
        seeds=[0, 1],
        budget=30,
        n_seeds=4,
        out_dir=tmp_path / "sw",
        name="plan",
    )
    assert spec.runs == [
        {"policy.acquisition": "ucb", "policy.beta": 0.25},
        {"policy.acquisition": "ucb", "policy.beta": 4.0},
        {"policy.acquisition": "ei"},
    ]
    assert spec.grid == {"descriptor.patch_size": [8, 16], "seed": [0, 1]}
    assert len(spec.expand()) == 3 * 2 * 2
    assert spec.checkpoints == [10, 25, 30]
    assert spec.base["model"] == {"kind": "exact_gp"}
    assert spec.base["budget"] == {"measurements": 30}
    assert spec.base["seed_points"] == {"kind": "random", "n": 4}
    assert spec.base["source"] == {"dataset": "plasmonic_nanoparticles", "options": {"seed": 1}}
    assert spec.out_dir == str(tmp_path / "sw") and spec.name == "plan"
    assert sweep_tools.default_checkpoints(7) == [7]


def test_sweep_spec_errors_say_what_to_choose(tmp_path: Path) -> None:
    kwargs = dict(
        source=DATASET,
        scalarizer=None,
        patch_sizes=[8],
        acquisitions=["ucb"],
        betas=[1.0],
        model_kind="exact_gp",
        seeds=[0],
        budget=10,
        n_seeds=3,
        out_dir=tmp_path,
    )
    with pytest.raises(
        ConfigError, match="choose at least one patch size; choose at least one seed"
    ):
        sweep_tools.build_sweep_spec(**{**kwargs, "patch_sizes": [], "seeds": []})
    with pytest.raises(ConfigError, match="choose at least one beta for ucb"):
        sweep_tools.build_sweep_spec(**{**kwargs, "betas": []})
    with pytest.raises(ConfigError, match="got a live microscope source"):
        sweep_tools.build_sweep_spec(**{**kwargs, "source": {"kind": "remote", "uri": "PYRO:x"}})
    with pytest.raises(ConfigError, match="ehvi"):  # a multi acquisition on one target
        sweep_tools.build_sweep_spec(
            **{
                **kwargs,
                "acquisitions": ["ehvi"],
                "scalarizer": {"kind": "window_sum", "window": [1, 2]},
            }
        )
    with pytest.raises(ConfigError, match="1 to 2 workers; got 3"):
        sweep_tools.SweepJob(sweep_tools.build_sweep_spec(**kwargs), workers=3)


def test_cancel_flag_raises_only_when_its_file_exists(tmp_path: Path) -> None:
    flag = sweep_tools.CancelFlag(str(tmp_path / sweep_tools.CANCEL_FILE))
    flag("run1", None)  # no file: nothing happens
    (tmp_path / sweep_tools.CANCEL_FILE).write_text("x")
    with pytest.raises(sweep_tools.SweepCancelledError, match="run run1 cancelled"):
        flag("run1", None)


def test_find_sweeps_and_summary_table(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.json").write_text('{"title": "first", "runs": []}')
    (tmp_path / "no-summary").mkdir()
    assert sweep_tools.find_sweeps(tmp_path) == [tmp_path / "a"]
    assert sweep_tools.find_sweeps(tmp_path / "missing") == []
    assert sweep_tools.sweep_title(tmp_path / "a") == "first"
    assert sweep_tools.sweep_title(tmp_path / "no-summary") == "no-summary"
    rows = [
        {
            "name": "seed=0",
            "status": "finished",
            "n_measured": 7,
            "budget": 7,
            "discovery": {"7": 0.25},
            "best_target": 12.0,
            "median_step_s": 0.1,
            "error": "",
        }
    ]
    assert sweep_tools.summary_table(rows) == [
        {
            "run": "seed=0",
            "status": "finished",
            "measured": "7/7",
            "discovery@7": 0.25,
            "best target": 12.0,
            "median step (s)": 0.1,
            "error": "",
        }
    ]
    first = sweep_tools.new_sweep_dir(tmp_path, "my sweep/1")
    assert "/" not in first.name[len("my") :] and first.parent == tmp_path
    first.mkdir()
    assert sweep_tools.new_sweep_dir(tmp_path, "my sweep/1") != first
