"""Figure builders and the pure helpers behind the UI pages (no Streamlit run needed)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from steerscope.errors import ConfigError, ScalarizerError
from steerscope.ui import campaign_tools, figures, learning, target_tools
from steerscope.ui.sources import describe_source, open_source, source_key


def test_scale_bar_is_a_round_length_near_a_fifth_of_the_width() -> None:
    # 128 px at 1 nm: a fifth is 25.6 nm -> 20 nm, i.e. 20 px.
    assert figures.nice_scale_bar(128, 1.0, "nm") == (20.0, "20 nm")
    # 512 px at 0.25 nm = 128 nm wide; a fifth 25.6 -> 20 nm = 80 px.
    assert figures.nice_scale_bar(512, 0.25, "nm") == (80.0, "20 nm")
    # 100 px at 0.5 µm: a fifth is 10 µm exactly -> 10 µm = 20 px.
    assert figures.nice_scale_bar(100, 0.5, "µm") == (20.0, "10 µm")


def test_overview_figure_has_click_grid_points_in_order_and_scale_bar() -> None:
    image = np.arange(16 * 20, dtype=np.float32).reshape(16, 20)
    measured = np.array([[1, 2], [3, 4], [5, 6]])
    fig = figures.overview_figure(
        image, pixel_size=2.0, measured=measured, next_points=[[7, 8]], patch=((8, 10), 4)
    )
    names = [trace.name for trace in fig.data]
    assert figures.CLICK_TRACE_NAME in names
    grid = fig.data[names.index(figures.CLICK_TRACE_NAME)]
    assert len(grid.x) == 16 * 20  # one invisible target per pixel for small images
    assert grid.marker.opacity == 0
    # WebGL, one canvas: as SVG (a path per point) it was most of what a live redraw
    # cost the browser (bench/README.md, UI acknowledgement)
    assert isinstance(grid, go.Scattergl)
    points = fig.data[names.index("measured (in order)")]
    assert list(points.text) == ["1", "2", "3"]
    assert list(points.x) == [2, 4, 6] and list(points.y) == [1, 3, 5]  # x = col, y = row
    rect = next(s for s in fig.layout.shapes if s.type == "rect")
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (8.0, 12.0, 6.0, 10.0)
    assert any(a.text == "5 nm" for a in fig.layout.annotations)  # 40 nm wide / 5 = 8 -> 5 nm
    assert fig.layout.yaxis.range == (15.5, -0.5)  # origin top-left
    # axes in length, ticks at round lengths placed on the pixel grid that clicks read
    assert fig.layout.xaxis.title.text == "x (nm)" and fig.layout.yaxis.title.text == "y (nm)"
    assert list(fig.layout.xaxis.ticktext[:3]) == ["0", "5", "10"]
    assert list(fig.layout.xaxis.tickvals[:3]) == [0.0, 2.5, 5.0]


def test_maps_say_what_their_colours_mean() -> None:
    fig = figures.map_figure(
        np.ones((8, 8)),
        title="Predicted mean",
        colorbar_title=campaign_tools.map_quantity("Predicted mean", "Σ 1.00–1.80"),
        pixel_size=0.5,
        pixel_units="nm",
    )
    assert fig.data[0].colorbar.title.text == "predicted Σ 1.00–1.80"
    assert fig.layout.xaxis.title.text == "x (nm)"
    assert campaign_tools.map_quantity("std", "Σ") == "σ of Σ"
    assert campaign_tools.map_quantity("Acquisition score", "Σ") == "acquisition score"


def test_a_click_picks_only_while_a_drag_zooms_and_overlays_never_fade() -> None:
    """Plotly drops a plain click in box-select drag mode (issue B1): zoom is the default."""
    image = np.zeros((8, 8))
    clicks = figures.overview_figure(
        image, measured=[[1, 1]], next_points=[[2, 2]], ahead_points=[[3, 4]]
    )
    names = [t.name for t in clicks.data]
    assert "measuring now" in names and "next suggested" in names  # issue B10
    ahead = clicks.data[names.index("next suggested")]
    assert (list(ahead.x), list(ahead.y)) == ([4], [3])
    assert clicks.layout.title.yref == "paper" and clicks.layout.margin.t >= 60  # B9
    assert clicks.layout.dragmode == "zoom" and clicks.layout.clickmode == "event+select"
    boxes = figures.overview_figure(image, drag="box")
    assert boxes.layout.dragmode == "select"
    with pytest.raises(ValueError, match="drag must be one of"):
        figures.overview_figure(image, drag="lasso")
    for trace in clicks.data:
        if trace.type != "scatter":
            continue
        hidden = trace.name == figures.CLICK_TRACE_NAME
        assert trace.unselected.marker.opacity == (0.0 if hidden else 1.0), trace.name


def test_box_from_selection_gives_the_boxed_pixels_or_none() -> None:
    box = {"selection": {"box": [{"x": [12.4, 3.6], "y": [0.2, 5.7]}], "points": []}}
    assert figures.box_from_selection(box) == (0, 4, 6, 12)
    assert figures.box_from_selection({"selection": {"points": [{"x": 1, "y": 2}]}}) is None
    assert figures.box_from_selection(None) is None


def test_large_images_are_decimated_for_display_and_clicks() -> None:
    fig = figures.overview_figure(np.zeros((1024, 1024)))
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (256, 256)
    grid = next(t for t in fig.data if t.name == figures.CLICK_TRACE_NAME)
    assert len(grid.x) <= figures.MAX_CLICK_POINTS


def test_pixels_from_selection_reads_points_and_drops_outside() -> None:
    event = {
        "selection": {
            "points": [
                {"x": 3.0, "y": 2.0},
                {"x": 3, "y": 2},  # duplicate
                {"x": 50, "y": 1},  # outside (W = 10)
                {"x": 0.9, "y": 4.2},
            ]
        }
    }
    pixels = figures.pixels_from_selection(event, (8, 10))
    np.testing.assert_array_equal(pixels, [[2, 3], [4, 1]])
    assert figures.pixels_from_selection(None, (8, 10)).shape == (0, 2)
    assert figures.pixels_from_selection({"selection": {}}, (8, 10)).shape == (0, 2)


def test_window_from_selection_prefers_the_box_range() -> None:
    box = {"selection": {"box": [{"x": [1.6, 1.0], "y": [0, 5]}], "points": []}}
    assert figures.window_from_selection(box) == (1.0, 1.6)
    points = {"selection": {"points": [{"x": 2.0}, {"x": 2.5}, {"x": 2.2}]}}
    assert figures.window_from_selection(points) == (2.0, 2.5)
    assert figures.window_from_selection({"selection": {"points": [{"x": 2.0}]}}) is None


def test_spectrum_figure_shades_windows_and_has_a_pick_trace() -> None:
    energy = np.linspace(0, 6, 301)
    fig = figures.spectrum_figure(
        energy, {"mean": np.ones(301)}, window=(1.0, 1.8), second_window=(3.0, 4.0)
    )
    assert [s.x0 for s in fig.layout.shapes] == [1.0, 3.0]
    assert fig.data[-1].name == figures.SPECTRUM_PICK_TRACE_NAME
    assert fig.layout.xaxis.title.text == "energy (eV)"


def test_target_timing_and_timeline_figures() -> None:
    fig = figures.target_figure([1.0, 3.0, 2.0])
    np.testing.assert_array_equal(fig.data[1].y, [1.0, 3.0, 3.0])  # running best
    timing = figures.timing_figure(
        [{"step": 0, "fit": 0.5, "acquire": 0.1, "total_s": 0.6}, {"fit": 0.7}]
    )
    by_name = {bar.name: list(bar.y) for bar in timing.data}
    assert by_name == {"fit": [0.5, 0.7], "acquire": [0.1, 0.0]}
    assert list(timing.data[0].x) == [0, 1]
    line = figures.timeline_figure([(3, "SetPolicy", "beta 0.25 → 1"), (5, "Pause", "")])
    assert sorted(t.name for t in line.data) == ["Pause", "SetPolicy"]


def test_the_timeline_shows_trouble_in_red_and_recovery_in_green() -> None:
    """Seen on the Review page: 'model_lost' was drawn light blue and 'model_skill' red."""
    line = figures.timeline_figure(
        [
            (2, "SetPolicy", "beta 1 → 4"),
            (15, "event: model_lost", "the model predicts no better than the mean"),
            (21, "event: model_skill", "the model predicts again"),
            (30, "event: proposal_superseded", "the budget is spent"),
        ]
    )
    colour = {t.name: t.marker.color for t in line.data}
    assert colour["event: model_lost"] == "#d62728"
    assert colour["event: model_skill"] == "#2ca02c"
    assert colour["SetPolicy"] == "#0068c9"
    assert colour["event: proposal_superseded"] == "#8c8c8c"


def test_exports_without_kaleido() -> None:
    png = figures.map_png(np.eye(4), title="mean", measured=[[1, 1]])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    html = figures.figure_html(figures.map_figure(np.eye(4), title="mean"))
    assert b"<html>" in html[:40] and b"Plotly.newPlot" in html


def test_scalarizer_form_builds_specs_and_reports_missing_fields() -> None:
    assert target_tools.build_scalarizer_dict("window_sum", window=(1.0, 1.8)) == {
        "kind": "window_sum",
        "window": [1.0, 1.8],
    }
    ratio = target_tools.build_scalarizer_dict(
        "window_ratio", window=(700, 712), second_window=(635, 645)
    )
    assert ratio == {
        "kind": "window_ratio",
        "numerator": [700.0, 712.0],
        "denominator": [635.0, 645.0],
    }
    assert target_tools.build_scalarizer_dict("edx_line", line=" Au_La ", width=0.0) == {
        "kind": "edx_line",
        "line": "Au_La",
        "width": None,
    }
    with pytest.raises(ScalarizerError, match="needs an X-ray line"):
        target_tools.build_scalarizer_dict("edx_line", line="")
    with pytest.raises(ScalarizerError, match="YAML spec is empty"):
        target_tools.build_scalarizer_dict("yaml", yaml_text="  ")
    with pytest.raises(ScalarizerError, match="window is missing"):
        target_tools.build_scalarizer_dict("window_max")


def test_default_window_comes_from_the_spec_or_the_axis() -> None:
    assert target_tools.default_window({"kind": "window_sum", "window": [1, 2]}, 0, 6) == (1, 2)
    assert target_tools.default_window(None, 0.0, 6.0) == (2.0, 4.0)


def test_preview_map_applies_the_spec_to_every_spectrum() -> None:
    from steerscope.data import SpectrumImage
    from steerscope.scalarizers import parse_scalarizer
    from steerscope.types import EnergyAxis

    spectra = np.zeros((2, 2, 10), dtype=np.float32)
    spectra[0, 1, 3:5] = [2.0, 5.0]
    image = SpectrumImage(np.zeros((4, 4)), spectra, EnergyAxis(10, 0.0, 1.0))
    preview = target_tools.preview_target_map(
        image, parse_scalarizer({"kind": "window_sum", "window": [3.0, 4.0]})
    )
    assert preview.shape == (4, 4)
    assert preview[0, 2] == 7.0 and preview[0, 3] == 7.0  # overview cols 2-3 -> spectrum col 1
    assert preview[0, 0] == 0.0 and preview[3, 3] == 0.0


def test_campaign_config_dict_and_no_go_mask() -> None:
    config = campaign_tools.build_config_dict(
        source={"kind": "dataset", "name": "plasmonic_nanoparticles", "options": {"seed": 1}},
        scalarizer={"kind": "window_sum", "window": [1.0, 1.8]},
        patch_size=8,
        model_kind="exact_gp",
        acquisition="ucb",
        beta=0.25,
        batch_size=2,
        budget=12,
        seed_kind="list",
        n_seeds=3,
        seed_points=np.array([[1, 2], [3, 4]]),
    )
    assert config["source"] == {"dataset": "plasmonic_nanoparticles", "options": {"seed": 1}}
    assert config["policy"] == {"acquisition": "ucb", "beta": 0.25, "batch_size": 2}
    assert config["seed_points"] == {"kind": "list", "points": [[1, 2], [3, 4]]}
    assert config["budget"] == {"measurements": 12}
    assert config["descriptor"] == {"patch_size": 8}
    remote = campaign_tools.source_to_config({"kind": "remote", "uri": "PYRO:x@h:1", "token": "s"})
    assert "s" not in str(remote)  # the token never goes into the config
    with pytest.raises(ConfigError, match="expected dataset, file or remote"):
        campaign_tools.source_to_config({"kind": "ftp"})
    apart = {"kind": "file", "path": "eels.dm4", "overview": "haadf.dm4"}
    assert campaign_tools.source_to_config(apart) == {
        "file": "eels.dm4",
        "options": {"overview": "haadf.dm4"},
    }
    assert campaign_tools.source_to_config({"kind": "file", "path": "si.emd"}) == {"file": "si.emd"}
    mask = campaign_tools.no_go_mask((5, 6), (3, 4, 1, 1))
    assert mask.sum() == 3 * 4 and mask[1:4, 1:5].all()
    clipped = campaign_tools.no_go_mask((5, 6), (-2, -2, 0, 0))
    assert clipped.sum() == 1 and clipped[0, 0]
    with pytest.raises(ConfigError, match="lies outside the 5×6 overview"):
        campaign_tools.no_go_mask((5, 6), (9, 9, 12, 12))


def test_new_record_path_never_reuses_a_file(tmp_path) -> None:
    first = campaign_tools.new_record_path(tmp_path, "plasmonic nano/particles")
    assert first.suffix == ".sqlite" and "/" not in first.name and " " not in first.name
    first.write_bytes(b"")
    assert campaign_tools.new_record_path(tmp_path, "plasmonic nano/particles") != first


def test_sources_describe_key_and_refuse_unknown_kinds() -> None:
    assert describe_source({"kind": "dataset", "name": "x"}) == "built-in dataset x"
    assert "secret" not in source_key({"kind": "remote", "uri": "u", "token": "secret"})
    with pytest.raises(ConfigError, match="kind one of dataset, file, remote"):
        open_source({"kind": "s3"})
    with pytest.raises(ConfigError, match="needs a non-empty 'path'"):
        open_source({"kind": "file", "path": ""})


def test_walkthrough_covers_every_idea_and_page() -> None:
    text = " ".join(s.explain + s.try_this for s in learning.WALKTHROUGH).lower()
    ideas = ("patch", "scalarizer", "uncertainty", "beta", "explor", "seed", "votes", "which is")
    for idea in ideas:
        assert idea in text
    assert {s.page for s in learning.WALKTHROUGH} == set(learning.PAGES)
    assert [i for i, _ in learning.steps_for_page("campaign")] == [2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="page must be one of"):
        learning.steps_for_page("nope")


def test_a_lesson_says_when_the_user_did_what_it_asks() -> None:
    from steerscope.campaign import EventView

    beta = next(s for s in learning.WALKTHROUGH if s.recorded == "SetPolicy: beta")
    events = [
        EventView(3, 0.0, "intervention", "SetPolicy: acquisition ucb → ei"),
        EventView(10, 1.0, "intervention", "SetPolicy: beta 0.25 → 1"),
        EventView(11, 2.0, "measurement", "SetPolicy: beta is not an intervention here"),
    ]
    assert learning.lesson_progress(beta, events[:1]) is None
    assert learning.lesson_progress(beta, events) == (
        "Done: SetPolicy: beta 0.25 → 1, recorded at step 10."
    )
    votes = next(s for s in learning.WALKTHROUGH if s.recorded.startswith("Vote"))
    voted = [EventView(12, 3.0, "intervention", "Vote: spectrum #4 marked good")]
    withdrawn = [EventView(12, 3.0, "intervention", "Vote: vote on spectrum #4 withdrawn")]
    assert learning.lesson_progress(votes, withdrawn) is None
    assert learning.lesson_progress(votes, voted) == (
        "Done: Vote: spectrum #4 marked good, recorded at step 12."
    )
    seeds = next(s for s in learning.WALKTHROUGH if "Seed points" in s.title)
    assert learning.lesson_progress(seeds, events) is None  # nothing to do on the run


def test_settings_summary_reads_like_a_sentence() -> None:
    from steerscope.ui.campaign_tools import settings_summary

    line = settings_summary(
        {"acquisition": "ucb", "beta": 1.0, "xi": 0.01, "batch_size": 2, "version": 3},
        {"patch_size": 16, "stride": 1, "pca_components": 16, "normalization": "global"},
        {"spec": {"kind": "window_sum", "window": [1.0, 1.8]}, "label": "Σ 1.00–1.80"},
    )
    assert line == (
        "policy: ucb, beta 1, batch 2 · descriptor: 16×16 patches, stride 1, PCA 16 · "
        "target: Σ 1.00–1.80"
    )
    assert "xi 0.05" in settings_summary({"acquisition": "ei", "xi": 0.05}, {}, {})


def test_a_spectrum_can_show_log_counts_and_zoom_to_the_window() -> None:
    energy = np.linspace(0.0, 5.0, 51)
    zlp = np.exp(-(energy**2) / 0.01) * 1e6 + 10.0
    fig = figures.spectrum_figure(
        energy, {"a": zlp}, window=(1.0, 1.8), log_y=True, x_range=(0.6, 2.2)
    )
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.title.text == "counts (log)"
    assert fig.layout.yaxis.dtick == 1  # one label a decade: 2 and 5 of each piled up
    assert tuple(fig.layout.xaxis.range) == (0.6, 2.2)
    pick = fig.data[-1]
    assert pick.name == figures.SPECTRUM_PICK_TRACE_NAME and min(pick.y) > 0  # on the log axis
    assert target_tools.zoom_range((1.0, 1.8), None, 0.0, 5.0) == pytest.approx((0.6, 2.2))
    assert target_tools.zoom_range((0.1, 4.9), (0.0, 5.0), 0.0, 5.0) == (0.0, 5.0)


def test_a_clicked_pixel_is_reported_as_measured_or_predicted() -> None:
    from types import SimpleNamespace

    snap = SimpleNamespace(
        scalarizer={"label": "Σ 1.00–1.80"},
        measured_points=np.array([[1, 2], [3, 4]]),
        targets=np.array([10.0, 42.5]),
        mean_map=None,
        std_map=None,
    )
    assert campaign_tools.pixel_report(snap, (3, 4)) == (
        "row 3, col 4: measured #2, Σ 1.00–1.80 = 42.5",
        1,
    )
    assert campaign_tools.pixel_report(snap, (0, 0)) == (
        "row 0, col 0: not measured; no model fitted yet",
        None,
    )
    snap.mean_map = np.full((8, 8), 12.0)
    snap.std_map = np.full((8, 8), 0.5)
    text, index = campaign_tools.pixel_report(snap, (0, 0))
    assert index is None and text.endswith("predicted Σ 1.00–1.80 = 12 ± 0.5")


def test_point_numbers_are_thinned_so_they_do_not_pile_up() -> None:
    assert figures.point_labels(3) == ["1", "2", "3"]
    labels = figures.point_labels(100, at_most=20)
    shown = [s for s in labels if s]
    assert shown[:3] == ["1", "6", "11"] and shown[-3:] == ["98", "99", "100"]
    assert len(shown) <= 23
    fig = figures.overview_figure(np.zeros((16, 16)), measured=np.zeros((100, 2), int))
    measured = next(t for t in fig.data if t.name == "measured (in order)")
    assert list(measured.customdata[:2]) == [1, 2]  # every number is on hover


def test_operator_changes_are_marked_on_the_history_plots() -> None:
    from types import SimpleNamespace

    from steerscope.campaign import EventView

    snap = SimpleNamespace(
        measured_steps=np.array([0, 0, 0, 1, 2, 3, 4]),
        events=(
            EventView(2, 0.0, "intervention", "SetPolicy: beta 0.25 → 1"),
            EventView(3, 0.0, "intervention", "Pause: running → paused"),
            EventView(4, 0.0, "measurement", "not an intervention"),
        ),
    )
    marks = campaign_tools.intervention_marks(snap)
    assert marks == [(4.5, "beta 0.25 → 1")]  # after the 4 spectra of steps 0-1
    fig = figures.target_figure(np.arange(7.0), label="Σ", marks=marks)
    (line,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert line.x0 == 4.5 and fig.layout.annotations[0].text == "beta 0.25 → 1"
    assert figures.discovery_figure([(1, 0.0), (7, 0.5)], marks=marks).layout.shapes


def test_a_boxed_window_snaps_to_channel_energies() -> None:
    channels = np.arange(0.0, 6.0, 0.02)  # 0.02 eV per channel
    low, high = target_tools.snap_to_channels((1.013, 1.797), channels)
    assert (low, high) == (pytest.approx(1.02), pytest.approx(1.8))
    assert target_tools.snap_to_channels((2.001, 2.002), channels) == (
        pytest.approx(2.0),
        pytest.approx(2.02),
    )  # never an empty window


def test_live_figures_move_on_at_most_every_few_seconds_while_running() -> None:
    """A redraw with new data cost the browser ~2 s; at each 1 s refresh it never rested."""
    from types import SimpleNamespace

    from steerscope.ui.campaign_tools import FIGURE_REDRAW_S, figures_due

    drawn = SimpleNamespace(record_path="a.sqlite", status="running")
    newer = SimpleNamespace(record_path="a.sqlite", status="running")
    assert not figures_due(drawn, 100.0, newer, 100.0 + FIGURE_REDRAW_S / 2)
    assert figures_due(drawn, 100.0, newer, 100.0 + FIGURE_REDRAW_S)
    # paused, finished, or another campaign: at once
    for status in ("paused", "finished", "stopped", "error"):
        assert figures_due(
            drawn, 100.0, SimpleNamespace(record_path="a.sqlite", status=status), 100.1
        )
    assert figures_due(
        drawn, 100.0, SimpleNamespace(record_path="b.sqlite", status="running"), 100.1
    )


def test_measured_points_are_coloured_by_what_chose_them_and_vetoes_are_crossed() -> None:
    image = np.zeros((32, 32), dtype=np.float32)
    measured = np.array([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]])
    phases = ["seed point", "seed point", "UCB β 0.25", "UCB β 1", "added by hand"]
    fig = figures.overview_figure(image, measured=measured, phases=phases, vetoed=[[9, 9]])
    names = [trace.name for trace in fig.data]
    points = fig.data[names.index("measured (in order)")]
    colors, symbols = list(points.marker.color), list(points.marker.symbol)
    assert colors[0] == colors[1] and symbols[0] == symbols[1] == "diamond"
    assert colors[2] != colors[3]  # a beta change is a new colour
    assert symbols[4] == "star"
    assert list(points.hovertext) == phases
    for phase in ("seed point", "UCB β 0.25", "UCB β 1", "added by hand"):
        assert phase in names  # one legend entry each
    vetoed = fig.data[names.index("vetoed")]
    assert list(vetoed.x) == [9] and list(vetoed.y) == [9]


def test_learning_mode_points_at_the_beta_input_until_beta_is_changed() -> None:
    """The beta lesson outlines the beta input; once a beta change is recorded, it stops."""
    from types import SimpleNamespace

    from steerscope.ui.learning import widgets_to_highlight
    from steerscope.ui.widgets import highlight_css

    lessons = ["campaign.beta", "campaign.vote_good", "campaign.to_preference"]
    assert widgets_to_highlight("campaign", []) == lessons
    css = highlight_css(widgets_to_highlight("campaign", []))
    assert ".st-key-campaign-beta" in css and "outline" in css  # Streamlit's class for the key
    done = [SimpleNamespace(kind="intervention", text="SetPolicy: beta 1 → 2", step=4)]
    assert widgets_to_highlight("campaign", done) == lessons[1:]
    voted = [
        *done,
        SimpleNamespace(kind="intervention", text="Vote: spectrum #2 marked bad", step=5),
    ]
    assert widgets_to_highlight("campaign", voted) == lessons[2:]
    judged = [
        *voted,
        SimpleNamespace(kind="intervention", text="Compare: spectrum #3 preferred to #1", step=6),
    ]
    assert widgets_to_highlight("campaign", judged) == []
    assert highlight_css([]) == ""


def test_model_skill_figure_clips_a_lost_model_but_hovers_its_true_skill() -> None:
    skill = np.array([np.nan, np.nan, 0.4, -5.0])
    fig = figures.model_skill_figure(skill)
    trace = fig.data[0]
    assert list(trace.x) == [1, 2, 3, 4]
    assert trace.y[2] == pytest.approx(0.4)
    assert trace.y[3] == pytest.approx(figures.SKILL_FLOOR)  # drawn at the floor
    assert trace.customdata[3] == pytest.approx(-5.0)  # but the hover says how lost
    assert not fig.layout.annotations or all(
        "no verdict" not in (a.text or "") for a in fig.layout.annotations
    )


def test_model_skill_figure_says_when_there_is_no_verdict_yet() -> None:
    fig = figures.model_skill_figure(np.full(3, np.nan))
    assert any("no verdict" in (a.text or "") for a in fig.layout.annotations)


def test_the_pair_to_compare_is_marked_1_and_2_on_the_overview() -> None:
    from types import SimpleNamespace

    compared_points = campaign_tools.compared_points
    snap = SimpleNamespace(comparison=(2, 0), measured_points=np.array([[1, 2], [3, 4], [5, 6]]))
    pair = compared_points(snap)
    assert pair is not None and pair.tolist() == [[5, 6], [1, 2]]
    assert compared_points(SimpleNamespace(comparison=None, measured_points=pair)) is None
    fig = figures.overview_figure(np.zeros((8, 8)), compared=pair)
    (marked,) = [t for t in fig.data if t.name == "which is more interesting?"]
    assert list(marked.text) == ["1", "2"]
    assert list(marked.x) == [6, 2] and list(marked.y) == [5, 1]  # columns across, rows down
