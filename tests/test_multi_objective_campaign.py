"""Multi-objective campaigns end to end: config, engine, interventions, record, export, snapshot."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from steerscope.acquisition import hypervolume, pareto_front
from steerscope.campaign import (
    Campaign,
    CampaignRunner,
    SetPolicy,
    SetScalarizer,
    load_config,
)
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError
from steerscope.scalarizers import parse_scalarizer

TIPS = {"kind": "window_sum", "window": [1.0, 1.8]}
BULK = {"kind": "window_sum", "window": [3.5, 4.1]}
MULTI = {"kind": "multi", "targets": [TIPS, BULK]}
# The dataset's default size (128² overview, 64² spectra): on a 64² overview with 8-px patches
# the descriptors say too little about the tip modes and EHVI fell below random (measured).
OPTIONS = {"overview_size": 128, "spectrum_size": 64}


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "source": {"dataset": "plasmonic_nanoparticles", "options": OPTIONS},
        "scalarizer": MULTI,
        "model": {"kind": "exact_gp"},
        "descriptor": {"patch_size": 16, "stride": 2, "pca_components": 8},
        "seed_points": {"kind": "random", "n": 6},
        "budget": {"measurements": 30},
        "policy": {"batch_size": 4},
    }
    config.update(overrides)
    return config


# -- config validation ------------------------------------------------------------------


def test_a_multi_scalarizer_defaults_to_ehvi_and_round_trips() -> None:
    config = load_config({"scalarizer": MULTI})
    assert config.policy.acquisition == "ehvi"
    assert load_config(config.to_dict()) == config
    assert load_config({"scalarizer": TIPS}).policy.acquisition == "ucb"
    named = load_config({"scalarizer": MULTI, "policy": {"acquisition": "chebyshev"}})
    assert named.policy.acquisition == "chebyshev"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"scalarizer": MULTI, "policy": {"acquisition": "ucb"}},
            r"'ucb' scores one target, but the scalarizer gives 2; choose one of ehvi",
        ),
        (
            {"scalarizer": TIPS, "policy": {"acquisition": "ehvi"}},
            r"'ehvi' needs several targets .* choose one of ucb",
        ),
        (
            {"scalarizer": MULTI, "policy": {"acquisition": "weighted_sum", "weights": [1, 2, 3]}},
            r"policy.weights: expected 2 values, one per objective .* got 3",
        ),
        (
            {"scalarizer": MULTI, "policy": {"weights": [0, 0]}},
            r"weights must be finite numbers >= 0, not all 0",
        ),
        (
            {"scalarizer": TIPS, "policy": {"ref_point": [1.0]}},
            r"only a multi-objective campaign takes ref_point",
        ),
        (
            {"scalarizer": MULTI, "policy": {"acquisition": "pareto"}},
            r"unknown acquisition 'pareto'; choose one of .* or ehvi, weighted_sum, chebyshev",
        ),
    ],
)
def test_config_refuses_policies_that_do_not_fit_the_targets(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config)


# -- a two-objective campaign on the plasmonic dataset ----------------------------------


def _random_hypervolume(n: int, seed: int, reference: np.ndarray) -> float:
    """Hypervolume of ``n`` random candidate pixels (same grid as the campaign)."""
    dataset = get_dataset("plasmonic_nanoparticles", **OPTIONS)
    rows, cols = np.meshgrid(np.arange(0, 128, 2), np.arange(0, 128, 2), indexing="ij")
    pixels = np.stack([rows.ravel(), cols.ravel()], axis=1)
    chosen = pixels[np.random.default_rng(seed).choice(len(pixels), n, replace=False)]
    spectra = dataset.image.spectra_at(chosen)
    Y = np.asarray(parse_scalarizer(MULTI).apply(spectra, dataset.image.energy), np.float64)
    return hypervolume(Y, reference)


def test_ehvi_campaign_grows_hypervolume_beats_random_and_exports_the_front(
    tmp_path: Path,
) -> None:
    finals, randoms = [], []
    for seed in range(3):
        with Campaign.create(_config(seed=seed), tmp_path / f"mo{seed}.sqlite") as campaign:
            results = campaign.run()
            assert campaign.done and campaign.n_measured == 30
            assert {r.source for r in results} == {"seed", "model"}
            history = campaign.hypervolume_history()
            volumes = [v for _, _, v in history]
            assert all(b >= a for a, b in itertools.pairwise(volumes))
            assert volumes[-1] > volumes[0]
            assert [n for _, n, _ in history][-1] == 30
            reference = campaign.hypervolume_reference()
            assert reference is not None and reference.source == "ground_truth"
            # the fixed reference is the dataset's worst value of each objective
            dataset = get_dataset("plasmonic_nanoparticles", **OPTIONS)
            every = parse_scalarizer(MULTI).apply(
                dataset.image.spectra.reshape(-1, dataset.image.spectra.shape[-1]),
                dataset.image.energy,
            )
            np.testing.assert_allclose(reference.point, np.min(every, axis=0))
            Y = campaign.objectives()
            assert volumes[-1] == pytest.approx(hypervolume(Y, reference.point))
            finals.append(volumes[-1])
            randoms.append(_random_hypervolume(30, seed, reference.point))
            if seed == 0:
                _check_decision_and_export(campaign, tmp_path)
    assert np.median(finals) > 2.0 * np.median(randoms), (finals, randoms)


def _check_decision_and_export(campaign: Campaign, tmp_path: Path) -> None:
    decision = campaign.record.decisions()[-1]
    objectives = decision.model["objectives"]
    assert objectives["labels"] == ["Σ 1.00–1.80", "Σ 3.50–4.10"]
    mean = np.asarray(objectives["predicted_mean"], dtype=np.float64)
    assert mean.shape == (4, 2)
    # the decision's own columns keep objective 0, so older readers still work
    np.testing.assert_allclose(decision.predicted_mean, mean[:, 0])
    assert decision.policy["acquisition"] == "ehvi"
    assert decision.policy["n_objectives"] == 2
    assert decision.policy["hypervolume_reference"]["reference_source"] == "ground_truth"

    path = campaign.record.export_hdf5(tmp_path / "mo.h5")
    history = campaign.hypervolume_history()
    with h5py.File(path, "r") as h5:
        pareto = h5["pareto"]
        Y = pareto["objectives"][()]
        assert Y.shape == (30, 2)
        np.testing.assert_allclose(Y, campaign.objectives())
        np.testing.assert_array_equal(pareto["front_mask"][()], pareto_front(Y))
        np.testing.assert_allclose(pareto["hypervolume"][()], [v for _, _, v in history])
        np.testing.assert_array_equal(pareto["n_measured"][()], [n for _, n, _ in history])
        np.testing.assert_allclose(
            pareto.attrs["ref_point"], campaign.hypervolume_reference().point
        )
        assert pareto.attrs["reference_source"] == "ground_truth"

    snapshot = CampaignRunner(campaign).snapshot()
    assert snapshot.is_multi_objective
    assert snapshot.objectives is not None and snapshot.objectives.shape == (30, 2)
    assert snapshot.pareto_mask is not None
    np.testing.assert_array_equal(snapshot.pareto_mask, pareto_front(campaign.objectives()))
    assert snapshot.hypervolume_history == [(n, v) for _, n, v in history]
    # discovery of a multi-objective dataset campaign: hypervolume / the dataset's own
    total = campaign.ground_truth_hypervolume()
    assert snapshot.discovery[-1] == (30, pytest.approx(history[-1][2] / total))
    assert 0 < snapshot.discovery[-1][1] <= 1


def _weight_switch(tmp_path: Path, seed: int) -> tuple[Campaign, np.ndarray, np.ndarray]:
    """16 model choices with weights (1, 0), then 16 with (0, 1); standardised objectives."""
    config = _config(
        seed=seed,
        policy={"acquisition": "weighted_sum", "weights": [1, 0], "batch_size": 4},
        budget={"measurements": 38},
    )
    campaign = Campaign.create(config, tmp_path / f"weights{seed}.sqlite")
    campaign.run(n_steps=6)  # 2 seed steps, then 4 model steps on objective 0
    campaign.apply(SetPolicy(weights=(0.0, 1.0)))
    campaign.run(n_steps=4)
    Y = campaign.objectives()
    Z = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    return campaign, Z[6:22], Z[22:]


def test_a_weight_change_mid_run_shifts_choices_to_the_second_objective(tmp_path: Path) -> None:
    shifts = []
    for seed in range(3):
        campaign, before, after = _weight_switch(tmp_path, seed)
        with campaign:
            assert before.shape == (16, 2) and after.shape == (16, 2)
            # the trade-off moves toward the bulk plasmon in every run
            trade_before = np.median(before[:, 1] - before[:, 0])
            trade_after = np.median(after[:, 1] - after[:, 0])
            assert trade_after > trade_before, (seed, trade_before, trade_after)
            shifts.append(np.median(after, axis=0) - np.median(before, axis=0))
            if seed == 0:
                _check_weight_change_recorded(campaign)
    median_shift = np.median(shifts, axis=0)
    assert median_shift[1] > 0 > median_shift[0], shifts


def _check_weight_change_recorded(campaign: Campaign) -> None:
    change = [i for i in campaign.record.interventions() if i.kind == "SetPolicy"][-1]
    assert change.before["weights"] == [1.0, 0.0]
    assert change.after["weights"] == [0.0, 1.0]
    assert campaign.record.decisions()[-1].policy["weights"] == [0.0, 1.0]
    assert campaign.record.decisions()[5].policy["weights"] == [1.0, 0.0]
    with pytest.raises(ConfigError, match=r"weights: expected 2 values, .*; got 3"):
        campaign.apply(SetPolicy(weights=(1.0, 1.0, 1.0)))
    with pytest.raises(ConfigError, match=r"'ucb' scores one target"):
        campaign.apply(SetPolicy(acquisition="ucb"))
    with pytest.raises(ConfigError, match=r"must be sequences of numbers"):
        campaign.apply(SetPolicy(weights=("a", "b")))  # type: ignore[arg-type]
    path = campaign.record.path
    campaign.close()
    with Campaign.resume(path) as resumed:
        assert resumed.config.policy.weights == (0.0, 1.0)


def test_a_scalarizer_change_of_k_rebuilds_the_model_and_switches_the_acquisition(
    tmp_path: Path,
) -> None:
    config = _config(budget={"measurements": 20})
    with Campaign.create(config, tmp_path / "k.sqlite") as campaign:
        campaign.run(n_steps=3)
        model_version = campaign.versions["model"]
        campaign.apply(SetScalarizer(spec=BULK))
        assert not campaign.is_multi_objective
        assert campaign.config.policy.acquisition == "ucb"
        assert campaign.versions["model"] == model_version + 1
        assert campaign.objectives().shape == (campaign.n_measured, 1)
        assert campaign.hypervolume_history() == []
        kinds = [i.kind for i in campaign.record.interventions()]
        assert kinds[-2:] == ["SetScalarizer", "SetPolicy"]
        assert campaign.record.interventions()[-1].after["acquisition"] == "ucb"
        campaign.run(n_steps=1)
        campaign.apply(SetScalarizer(spec=MULTI))
        assert campaign.config.policy.acquisition == "ehvi"
        assert campaign.n_objectives == 2
        result = campaign.step()
        assert result is not None and result.source == "model"
        path = campaign.record.path
    with Campaign.resume(path) as resumed:
        assert resumed.config.policy.acquisition == "ehvi"
        assert resumed.n_objectives == 2


def test_without_ground_truth_the_reference_comes_from_the_seed_measurements(
    tmp_path: Path,
) -> None:
    from steerscope.instruments import SimulatedMicroscope

    image = get_dataset("plasmonic_nanoparticles", **OPTIONS).image
    config = _config(budget={"measurements": 14})
    scope = SimulatedMicroscope(image, seed=0)
    with Campaign.create(config, tmp_path / "own.sqlite", instrument=scope) as campaign:
        campaign.run(n_steps=1)
        assert campaign.hypervolume_reference() is None  # seeds not all measured yet
        campaign.run()
        reference = campaign.hypervolume_reference()
        assert reference is not None and reference.source == "seed_measurements"
        seeds = campaign.objectives()[:6]
        span = seeds.max(axis=0) - seeds.min(axis=0)
        np.testing.assert_allclose(reference.point, seeds.min(axis=0) - 0.1 * span)
        assert np.isnan(campaign.ground_truth_hypervolume())
        assert CampaignRunner(campaign).snapshot().discovery == []
        path = campaign.record.path
    with Campaign.resume(path, instrument=SimulatedMicroscope(image, seed=0)) as resumed:
        again = resumed.hypervolume_reference()
        assert again is not None
        np.testing.assert_allclose(again.point, reference.point)
