"""CampaignConfig: YAML round trip, every problem listed at once, the example configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from steerscope.campaign import CampaignConfig, GridSeeds, ListSeeds, load_config
from steerscope.campaign.config import DEFAULT_BETA
from steerscope.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

FULL = {
    "name": "roundtrip",
    "source": {"dataset": "core_loss_two_phase", "options": {"seed": 3}},
    "instrument": {"dwell_time_s": 0.05, "noise": True, "drift_px_per_step": [0.5, -0.25]},
    "scalarizer": {"kind": "window_sum", "window": [1.0, 1.6]},
    "descriptor": {"patch_size": 8, "pca_components": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 7},
    "policy": {"acquisition": "ei", "beta": 2.5, "xi": 0.1, "batch_size": 3, "min_distance": 2},
    "seed_points": {"kind": "list", "points": [[1, 2], [3, 4]]},
    "budget": {"measurements": 12, "wall_time_s": 60, "dose_s": 1.5},
    "seed": 11,
    "records_dir": "somewhere",
}


def test_yaml_round_trip_reloads_an_equal_config(tmp_path: Path) -> None:
    config = load_config(FULL)
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml(), encoding="utf-8")
    again = load_config(path)
    assert again == config
    assert again.to_yaml() == config.to_yaml()
    assert again.policy.batch_size == 3
    assert isinstance(again.seed_points, ListSeeds)
    assert again.seed_points.points == [(1, 2), (3, 4)]
    assert again.instrument.drift_px_per_step == (0.5, -0.25)
    assert again.scalarizer is not None
    assert again.scalarizer.model_dump(mode="json")["window"] == [1.0, 1.6]


def test_defaults_are_documented_values() -> None:
    config = load_config({})
    assert config.policy.acquisition == "ucb"
    assert config.policy.beta == DEFAULT_BETA == 1.0
    assert config.source.dataset == "plasmonic_nanoparticles"  # type: ignore[union-attr]
    assert config.scalarizer is None  # resolved to the dataset default at create
    assert CampaignConfig.from_yaml(config.to_yaml()) == config


def test_bad_config_lists_every_problem_with_its_field_path() -> None:
    bad = {
        "policy": {"acquisition": "best_guess", "beta": -1, "batch_size": 0},
        "budget": {"measurements": 0},
        "seed_points": {"kind": "spiral"},
        "colour": "red",
    }
    with pytest.raises(ConfigError, match="has 6 problems") as info:
        load_config(bad)
    text = str(info.value)
    for path in (
        "policy.acquisition",
        "policy.beta",
        "policy.batch_size",
        "budget.measurements",
        "seed_points",
        "colour",
    ):
        assert f"- {path}" in text
    assert "unknown acquisition 'best_guess'" in text
    assert "greater than or equal to 0" in text


def test_scalarizer_is_validated_through_parse_scalarizer() -> None:
    with pytest.raises(ConfigError, match=r"scalarizer: .*unknown kind 'nope'"):
        load_config({"scalarizer": {"kind": "nope"}})


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("policy: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(scalar)


@pytest.mark.parametrize("name", ["plasmonic", "core_loss"])
def test_example_configs_load(name: str) -> None:
    config = load_config(EXAMPLES / f"{name}.yaml")
    assert config.name == name
    assert config.scalarizer is not None
    if name == "plasmonic":
        assert config.model.kind == "dkl"
        assert config.policy.acquisition == "ucb"
    else:
        assert isinstance(config.seed_points, GridSeeds)


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text .* save it as UTF-8 YAML"):
        load_config(path)


def test_an_empty_config_file_is_refused_not_run_as_the_default(tmp_path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is empty; a campaign config needs at least"):
        load_config(path)


def test_a_negative_seed_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"seed: Input should be greater than or equal to 0"):
        load_config({"seed": -1})


@pytest.mark.parametrize(
    ("section", "match"),
    [
        (
            {"budget": {"measurements": True}},
            r"budget: .*measurements: expected a number, got true",
        ),
        ({"policy": {"xi": float("inf")}}, r"policy.xi: Input should be a finite number"),
        ({"policy": {"beta": float("nan")}}, r"policy.beta: Input should be a finite number"),
        (
            {"instrument": {"dwell_time_s": 1e6}},
            r"dwell_time_s: Input should be less than or equal to 100",
        ),
        (
            {"instrument": {"drift_px_per_step": [1e9, 0]}},
            r"drift_px_per_step.0: .*less than or equal to 100",
        ),
        ({"model": {"hidden": [0]}}, r"model.hidden.0: Input should be greater than or equal to 1"),
        (
            {"model": {"hidden": [-5]}},
            r"model.hidden.0: Input should be greater than or equal to 1",
        ),
        ({"model": {"hidden": []}}, r"model.hidden: .*at least 1 item"),
        (
            {"model": {"learning_rate": float("inf")}},
            r"learning_rate: Input should be a finite number",
        ),
        (
            {"seed_points": {"kind": "grid", "n": 10**9}},
            r"seed_points.grid.n: .*less than or equal to 10000",
        ),
    ],
)
def test_nonsense_values_are_refused_with_the_field_that_holds_them(
    section: dict, match: str
) -> None:
    """Each was once accepted and ran (issue #13 item 11)."""
    with pytest.raises(ConfigError, match=match):
        load_config(section)


def test_a_budget_larger_than_the_overview_is_refused_at_creation(tmp_path: Path) -> None:
    from steerscope.campaign import Campaign, SetBudget

    config = {"source": {"dataset": "plasmonic_nanoparticles"}, "budget": {"measurements": 10**12}}
    with pytest.raises(ConfigError, match=r"1,000,000,000,000 is more than the 16,384 pixels"):
        Campaign.create(config, tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()
    small = {**config, "budget": {"measurements": 5}, "model": {"kind": "exact_gp"}}
    with Campaign.create(small, tmp_path / "ok.sqlite") as campaign:
        with pytest.raises(ConfigError, match=r"SetBudget refused: the budget 20,000 is more"):
            campaign.apply(SetBudget(measurements=20_000))
        assert campaign.config.budget.measurements == 5


def test_a_records_dir_that_is_a_file_or_cannot_be_made_is_a_config_error(tmp_path: Path) -> None:
    from steerscope.campaign import Campaign

    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    for folder, problem in (
        (a_file, "is a file, not a folder"),
        (a_file / "sub", "cannot be created"),
    ):
        config = {"source": {"dataset": "plasmonic_nanoparticles"}, "records_dir": str(folder)}
        with pytest.raises(ConfigError, match=rf"records_dir '{folder}' {problem}"):
            Campaign.create(config, None)


def test_a_new_campaign_with_more_seed_points_than_its_budget_is_refused(tmp_path: Path) -> None:
    from steerscope.campaign import Campaign

    config = {
        "source": {"dataset": "plasmonic_nanoparticles"},
        "model": {"kind": "exact_gp"},
        "seed_points": {"kind": "grid", "n": 10000},
        "budget": {"measurements": 300},
    }
    with pytest.raises(ConfigError, match=r"10000 seed points would spend more than the whole"):
        Campaign.create(config, tmp_path / "r.sqlite")
    grid_scan = {**config, "seed_points": {"kind": "grid", "n": 16}, "budget": {"measurements": 16}}
    with Campaign.create(grid_scan, tmp_path / "g.sqlite"):
        pass  # a plain grid scan (as many seeds as the budget) is still allowed


def test_a_model_that_cannot_take_the_descriptors_is_refused_at_creation(tmp_path: Path) -> None:
    """It once ran the whole campaign on random choices, one model_error per step (#13 11)."""
    from steerscope.campaign import Campaign

    config = {
        "source": {"dataset": "plasmonic_nanoparticles"},
        "descriptor": {"patch_size": 8},
        "model": {"kind": "dkl", "extractor": "cnn", "patch_shape": [3, 5]},
    }
    with pytest.raises(ConfigError, match=r"model: patch_shape \(3, 5\) has 15 pixels but the"):
        Campaign.create(config, tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()
