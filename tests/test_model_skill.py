"""Model skill: the prequential figure, its verdict, and the campaign that acts on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steerscope.acquisition import space_filling_scores
from steerscope.campaign import Campaign
from steerscope.campaign.skill import SKILL_WINDOW, model_skill
from steerscope.data import SpectrumImage
from steerscope.instruments.simulator import SimulatedMicroscope
from steerscope.types import EnergyAxis, SignalKind


def test_a_model_that_predicts_the_targets_has_positive_skill() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    skill = model_skill(np.arange(40), y + 0.1 * rng.normal(size=40), y)
    assert skill.current > 0.9 and not skill.lost
    assert skill.n_predicted == 38  # the first two have no baseline yet


def test_a_model_worse_than_the_running_mean_is_lost() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=40)
    skill = model_skill(np.arange(40), -3 * y, y)  # confidently wrong
    assert skill.current < 0 and skill.lost
    assert "the patches do not predict this target" in skill.message()


def test_no_verdict_before_a_window_of_predictions() -> None:
    y = np.arange(12.0)
    mean = np.r_[np.full(4, np.nan), -y[4:]]  # 8 predicted points, all bad
    skill = model_skill(np.arange(12), mean, y)
    assert np.isnan(skill.running).all() and not skill.lost
    more = model_skill(np.arange(14), np.r_[mean, -12.0, -13.0], np.arange(14.0))
    assert more.lost and np.isfinite(more.running[13]) and np.isnan(more.running[12])


def test_the_baseline_is_the_mean_of_earlier_steps_only() -> None:
    # two points of one batch (step 2) do not see each other in their baseline
    steps = np.array([0, 1, 2, 2])
    y = np.array([0.0, 2.0, 1.0, 5.0])
    skill = model_skill(steps, [np.nan, np.nan, 1.0, 1.0], y, window=2)
    np.testing.assert_allclose(skill.baseline_squared_error[2:], [0.0, 16.0])
    np.testing.assert_allclose(skill.squared_error[2:], [0.0, 16.0])
    assert skill.current == pytest.approx(0.0) and skill.lost


def test_bad_shapes_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="one entry per measured point"):
        model_skill([0, 1], [1.0], [1.0, 2.0])


def test_space_filling_prefers_the_pixel_farthest_from_every_measurement() -> None:
    pixels = np.array([[0, 0], [0, 5], [9, 9], [5, 5]])
    scores = space_filling_scores(pixels, [[0, 0], [5, 5]])
    assert int(np.argmax(scores)) == 2
    assert np.isinf(space_filling_scores(pixels, np.zeros((0, 2)))).all()


def _noise_target_microscope() -> SimulatedMicroscope:
    """An overview of smooth blobs and a target that is pure noise: no patch predicts it."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:32, 0:32]
    overview = np.sin(yy / 4.0) * np.cos(xx / 5.0)
    spectra = rng.poisson(50.0, size=(32, 32, 8)).astype(np.float32)
    image = SpectrumImage(
        overview=overview.astype(np.float32),
        spectra=spectra,
        energy=EnergyAxis(8, 0.0, 1.0, "eV"),
        signal_kind=SignalKind.EELS,
    )
    return SimulatedMicroscope(image)


def _config(**policy: Any) -> dict[str, Any]:
    return {
        "name": "noise",
        "scalarizer": {"kind": "window_sum", "window": [0.0, 7.0]},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "random", "n": 4},
        "budget": {"measurements": 4 + SKILL_WINDOW + 12},
        "policy": {"beta": 0.0, **policy},
        "seed": 0,
    }


def test_a_lost_campaign_says_so_and_covers_the_field(tmp_path: Path) -> None:
    with Campaign.create(
        _config(), tmp_path / "r.sqlite", instrument=_noise_target_microscope()
    ) as c:
        c.run()
        lost = [e for e in c.events if e.kind == "model_lost"]
        assert lost, [e.kind for e in c.events]
        assert "the patches do not predict this target" in lost[0].text
        decisions = c.record.decisions()
        sources = [d.policy["source"] for d in decisions]
        assert "explore" in sources
        # after the warning, model and least-covered points alternate
        first = sources.index("explore")
        assert sources[first + 1] == "model" and sources[first + 2] == "explore"
        assert np.isfinite(decisions[first].predicted_mean).all()  # the model still predicted it
        # the decision records the skill the model had when it was made
        assert decisions[-1].model["skill"] <= 0
        assert c.model_skill().lost
    resumed = Campaign.resume(tmp_path / "r.sqlite", instrument=_noise_target_microscope())
    try:
        assert resumed.model_skill().lost  # rebuilt from the recorded predictions
    finally:
        resumed.close()


def test_exploration_off_keeps_the_pure_policy(tmp_path: Path) -> None:
    config = _config(exploration="off")
    with Campaign.create(config, tmp_path / "r.sqlite", instrument=_noise_target_microscope()) as c:
        c.run()
        assert any(e.kind == "model_lost" for e in c.events)  # the warning still fires
        assert "explore" not in [d.policy["source"] for d in c.record.decisions()]
