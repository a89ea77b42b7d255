"""Multi-objective pieces: Pareto front, hypervolume, EHVI, scalarisations, the vector surrogate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from steerscope.acquisition import MO_ACQUISITIONS
from steerscope.acquisition.functions import ucb
from steerscope.acquisition.multi_objective import (
    chebyshev_scores,
    default_reference_point,
    expected_hypervolume_improvement,
    hypervolume,
    multi_objective_scores,
    pareto_front,
    weighted_sum_scores,
)
from steerscope.acquisition.selection import select_points
from steerscope.errors import AcquisitionError, ModelError
from steerscope.models.multi_objective import MultiObjectiveSurrogate
from steerscope.models.spec import ModelSpec

# -- Pareto front -----------------------------------------------------------------------


def test_pareto_front_two_objectives_hand_case() -> None:
    Y = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [1.0, 2.0], [2.0, 0.5]])
    # (0.5, 0.5) is dominated by everything, (2, 0.5) by (2, 1); duplicates both stay.
    np.testing.assert_array_equal(pareto_front(Y), [True, True, False, True, False])


def test_pareto_front_three_objectives_and_edge_sizes() -> None:
    Y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5], [0.4, 0.4, 0.4]], float)
    np.testing.assert_array_equal(pareto_front(Y), [True, True, True, True, False])
    assert pareto_front(np.empty((0, 2))).shape == (0,)
    np.testing.assert_array_equal(pareto_front([[3.0, 1.0]]), [True])


def test_pareto_front_rejects_nan_and_bad_shape() -> None:
    with pytest.raises(AcquisitionError, match=r"finite measured targets.*row 1, objective 0"):
        pareto_front([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(AcquisitionError, match=r"shape \(n_points, n_objectives\).*\(3,\)"):
        pareto_front([1.0, 2.0, 3.0])


# -- hypervolume and reference point ----------------------------------------------------


def test_hypervolume_hand_cases() -> None:
    # Two boxes 1x2 and 2x1 overlapping in a 1x1 square: 2 + 2 - 1.
    assert hypervolume([[1.0, 2.0], [2.0, 1.0]], [0.0, 0.0]) == pytest.approx(3.0)
    # A point below the reference point in one objective adds nothing; so does a dominated one.
    Y = [[1.0, 2.0], [2.0, 1.0], [3.0, -1.0], [0.5, 0.5]]
    assert hypervolume(Y, [0.0, 0.0]) == pytest.approx(3.0)
    # Shifting the reference point: (1 + 1) * (2 + 1) + (2 + 1) * (1 + 1) - (1 + 1) * (1 + 1).
    assert hypervolume([[1.0, 2.0], [2.0, 1.0]], [-1.0, -1.0]) == pytest.approx(8.0)
    # Three objectives: two unit-thick slabs 2x1x1 and 1x2x1 sharing a unit cube.
    assert hypervolume([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]], [0, 0, 0]) == pytest.approx(3.0)
    assert hypervolume(np.empty((0, 2)), [0.0, 0.0]) == 0.0
    assert hypervolume([[-1.0, 5.0]], [0.0, 0.0]) == 0.0


def test_hypervolume_rejects_wrong_reference_point() -> None:
    with pytest.raises(
        AcquisitionError, match=r"ref_point must have one value per objective \(2\)"
    ):
        hypervolume([[1.0, 2.0]], [0.0, 0.0, 0.0])
    with pytest.raises(AcquisitionError, match=r"ref_point must be finite"):
        hypervolume([[1.0, 2.0]], [0.0, np.nan])


def test_default_reference_point_is_measured_nadir_minus_margin() -> None:
    Y = np.array([[1.0, 2.0], [2.0, 1.0], [0.0, 0.5]])
    # nadir (0, 0.5), spread (2, 1.5), margin 0.1
    np.testing.assert_allclose(default_reference_point(Y), [-0.2, 0.35])
    np.testing.assert_allclose(default_reference_point(Y, margin=0.0), [0.0, 0.5])
    # One row: the spread falls back to max(|value|, 1).
    np.testing.assert_allclose(default_reference_point([[3.0, -0.5]]), [2.7, -0.6])
    # Every measured point lies strictly above it, so every front point adds volume.
    assert np.all(default_reference_point(Y) < Y)


def test_default_reference_point_errors() -> None:
    with pytest.raises(AcquisitionError, match=r"at least 1 measured point"):
        default_reference_point(np.empty((0, 2)))
    with pytest.raises(AcquisitionError, match=r"'margin' parameter.*>= 0. Got -0.1"):
        default_reference_point([[1.0, 2.0]], margin=-0.1)


# -- expected hypervolume improvement ---------------------------------------------------

FRONT = np.array([[1.0, 2.0], [2.0, 1.0]])


def test_ehvi_hand_values_with_tiny_variance() -> None:
    mean = np.array([[0.5, 0.5], [1.0, 2.0], [3.0, 3.0], [2.0, 2.0]])
    var = np.full_like(mean, 1e-12)
    scores = expected_hypervolume_improvement(mean, var, FRONT, [0.0, 0.0])
    # Objectives are standardised with the measured std (0.5, 0.5), which multiplies
    # every volume by 1 / 0.25 = 4. (3, 3) adds 9 - 3 = 6, (2, 2) adds 4 - 3 = 1.
    assert scores[0] == pytest.approx(0.0, abs=1e-9)  # dominated
    # On the front: only BoTorch's variance floor (1e-9, std ~3e-5) can still improve it.
    assert scores[1] == pytest.approx(0.0, abs=1e-3)
    assert scores[2] == pytest.approx(4 * 6.0, abs=1e-3)
    assert scores[3] == pytest.approx(4 * 1.0, abs=1e-3)


def test_ehvi_rewards_uncertainty_and_is_batch_independent() -> None:
    mean = np.array([[0.5, 0.5], [0.5, 0.5]])
    var = np.array([[1e-12, 1e-12], [4.0, 4.0]])
    scores = expected_hypervolume_improvement(mean, var, FRONT)
    assert scores[0] == pytest.approx(0.0, abs=1e-9)
    assert scores[1] > 0.1  # could well land beyond the front

    rng = np.random.default_rng(3)
    mean = rng.normal(size=(50, 3))
    var = rng.uniform(0.01, 0.5, size=(50, 3))
    Y = rng.normal(size=(12, 3))
    full = expected_hypervolume_improvement(mean, var, Y)
    np.testing.assert_allclose(
        expected_hypervolume_improvement(mean, var, Y, batch_size=7), full, rtol=1e-12
    )
    assert np.all(full >= 0)


def test_ehvi_errors() -> None:
    mean = np.zeros((3, 2))
    var = np.ones((3, 2))
    with pytest.raises(AcquisitionError, match=r"ref_point must have one value per objective"):
        expected_hypervolume_improvement(mean, var, FRONT, [0.0])
    with pytest.raises(AcquisitionError, match=r"finite measured targets"):
        expected_hypervolume_improvement(mean, var, [[1.0, np.nan]])
    with pytest.raises(AcquisitionError, match=r"at least 2 objectives.*ucb"):
        expected_hypervolume_improvement(mean[:, :1], var[:, :1], FRONT[:, :1])
    with pytest.raises(AcquisitionError, match=r"posterior has 2 objectives but.*3 columns"):
        expected_hypervolume_improvement(mean, var, np.ones((2, 3)))
    with pytest.raises(AcquisitionError, match=r"same shape.*mean \(3, 2\) and var \(3,\)"):
        expected_hypervolume_improvement(mean, np.ones(3), FRONT)
    with pytest.raises(AcquisitionError, match=r"at least 1 measured point"):
        expected_hypervolume_improvement(mean, var, np.empty((0, 2)))


# -- scalarisations ----------------------------------------------------------------------


def test_weighted_sum_with_one_hot_weights_ranks_like_ucb() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(200, 2)) * [10.0, 0.1] + [100.0, 0.0]
    var = rng.uniform(0.1, 4.0, size=(200, 2))
    Y = rng.normal(size=(15, 2)) * [10.0, 0.1] + [100.0, 0.0]
    beta = 4.0
    scores = weighted_sum_scores(mean, var, [1.0, 0.0], beta, Y_measured=Y)
    single = ucb(mean[:, 0], var[:, 0], beta)
    np.testing.assert_array_equal(np.argsort(-scores), np.argsort(-single))
    # Exactly the standardised UCB of objective 0.
    np.testing.assert_allclose(scores, (single - Y[:, 0].mean()) / Y[:, 0].std())


def test_weighted_sum_hand_values_and_weight_normalisation() -> None:
    mean = np.array([[1.0, 3.0]])
    assert weighted_sum_scores(mean, np.zeros((1, 2)), [1.0, 1.0], 0.0)[0] == pytest.approx(2.0)
    # var of 0.5 z1 + 0.5 z2 = 0.25 + 0.25; beta 4 adds two standard deviations.
    score = weighted_sum_scores(mean, np.ones((1, 2)), [3.0, 3.0], 4.0)[0]
    assert score == pytest.approx(2.0 + 2.0 * math.sqrt(0.5))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0], r"one value per objective \(2\); got 1"),
        ([1.0, -0.5], r"weights must be >= 0.*\[1.0, -0.5\]"),
        ([0.0, 0.0], r"must not all be zero"),
        ([1.0, np.nan], r"weights must be finite"),
        (None, r"needs weights, one per objective"),
    ],
)
def test_scalarisations_reject_bad_weights(weights: object, message: str) -> None:
    mean = np.zeros((4, 2))
    var = np.ones((4, 2))
    with pytest.raises(AcquisitionError, match=message):
        weighted_sum_scores(mean, var, weights, 1.0)  # type: ignore[arg-type]
    with pytest.raises(AcquisitionError, match=message):
        chebyshev_scores(mean, var, weights)  # type: ignore[arg-type]


def test_scalarisations_reject_bad_beta() -> None:
    with pytest.raises(AcquisitionError, match=r"'beta' parameter of weighted_sum_scores.*-1"):
        weighted_sum_scores(np.zeros((2, 2)), np.ones((2, 2)), [1, 1], -1)
    with pytest.raises(AcquisitionError, match=r"'rho' parameter of chebyshev_scores"):
        chebyshev_scores(np.zeros((2, 2)), np.ones((2, 2)), [1, 1], rho=-0.1)


def test_chebyshev_prefers_the_balanced_point_a_weighted_sum_cannot_separate() -> None:
    mean = np.array([[1.0, 3.0], [2.0, 2.0]])
    var = np.zeros_like(mean)
    # The weighted sum ties: 0.5 * 1 + 0.5 * 3 == 0.5 * 2 + 0.5 * 2.
    ws = weighted_sum_scores(mean, var, [1.0, 1.0], 0.0)
    assert ws[0] == pytest.approx(ws[1])
    # Chebyshev to the ideal (3, 3): weighted gaps max(1, 0) = 1 and max(0.5, 0.5) = 0.5.
    scores = chebyshev_scores(mean, var, [1.0, 1.0], ideal=[3.0, 3.0], beta=0.0, rho=0.0)
    np.testing.assert_allclose(scores, [-1.0, -0.5])
    augmented = chebyshev_scores(mean, var, [1.0, 1.0], ideal=[3.0, 3.0], beta=0.0)
    np.testing.assert_allclose(augmented, [-1.05, -0.55])


def test_chebyshev_one_hot_ranks_like_ucb_and_ideal_defaults_to_best_measured() -> None:
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(100, 2))
    var = rng.uniform(0.1, 1.0, size=(100, 2))
    Y = rng.normal(size=(10, 2)) + 5.0  # the ideal (best measured) is above every UCB
    scores = chebyshev_scores(mean, var, [1.0, 0.0], beta=1.0, Y_measured=Y)
    np.testing.assert_array_equal(np.argsort(-scores), np.argsort(-ucb(mean[:, 0], var[:, 0], 1)))
    explicit = chebyshev_scores(mean, var, [1, 0], ideal=Y.max(axis=0), beta=1.0, Y_measured=Y)
    np.testing.assert_allclose(scores, explicit)
    with pytest.raises(AcquisitionError, match=r"ideal must have one value per objective"):
        chebyshev_scores(mean, var, [1, 0], ideal=[1.0, 2.0, 3.0])


def test_dispatcher() -> None:
    rng = np.random.default_rng(2)
    mean = rng.normal(size=(30, 2))
    var = rng.uniform(0.1, 1.0, size=(30, 2))
    Y = rng.normal(size=(8, 2))
    assert MO_ACQUISITIONS == ("ehvi", "weighted_sum", "chebyshev")
    np.testing.assert_allclose(
        multi_objective_scores("ehvi", mean, var, Y_measured=Y),
        expected_hypervolume_improvement(mean, var, Y),
    )
    np.testing.assert_allclose(
        multi_objective_scores("weighted_sum", mean, var, Y_measured=Y, weights=[2, 1], beta=2),
        weighted_sum_scores(mean, var, [2, 1], 2, Y_measured=Y),
    )
    np.testing.assert_allclose(
        multi_objective_scores("chebyshev", mean, var, Y_measured=Y, weights=[1, 2], beta=2),
        chebyshev_scores(mean, var, [1, 2], beta=2, Y_measured=Y),
    )
    with pytest.raises(AcquisitionError, match=r"unknown multi-objective acquisition 'parego'"):
        multi_objective_scores("parego", mean, var, Y_measured=Y)
    with pytest.raises(AcquisitionError, match=r"'chebyshev' acquisition needs weights"):
        multi_objective_scores("chebyshev", mean, var, Y_measured=Y)


# -- the vector surrogate ----------------------------------------------------------------


def _toy_problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 2))
    Y = np.column_stack([np.sin(3 * X[:, 0]), 100.0 * X[:, 1] ** 2])
    return X, Y


def test_surrogate_fits_each_objective_separately() -> None:
    X, Y = _toy_problem()
    model = MultiObjectiveSurrogate(ModelSpec(kind="exact_gp"), n_objectives=2, seed=0)
    assert model.fit(X[:30], Y[:30]) is model
    mean, var = model.posterior(X[30:])
    assert mean.shape == var.shape == (10, 2)
    assert np.all(var > 0)
    # Each column predicts its own objective (in its own units) at held-out points.
    for j in range(2):
        error = np.abs(mean[:, j] - Y[30:, j]).mean()
        assert error < 0.25 * Y[:, j].std(), (j, error)
    info = model.last_fit_info
    assert info["n_points"] == 30 and len(info["objectives"]) == 2
    assert info["seconds"] >= 0
    # A warm refit and a cold refit both keep working.
    assert model.fit(X, Y).last_fit_info["objectives"][0]["kind"] == "warm"
    assert model.refit_full().last_fit_info["objectives"][0]["kind"] == "cold"
    assert len(model.models_) == 2 and model.n_features_in_ == 2


def test_surrogate_is_reproducible_per_seed() -> None:
    X, Y = _toy_problem()
    spec = ModelSpec(kind="exact_gp", exact_iterations=10)
    a = MultiObjectiveSurrogate(spec, 2, seed=5).fit(X, Y).posterior(X[:5])
    b = MultiObjectiveSurrogate(spec, 2, seed=5).fit(X, Y).posterior(X[:5])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_surrogate_errors() -> None:
    X, Y = _toy_problem()
    spec = ModelSpec(kind="exact_gp", exact_iterations=5)
    with pytest.raises(ModelError, match=r"posterior was called before fit"):
        MultiObjectiveSurrogate(spec, 2).posterior(X)
    with pytest.raises(ModelError, match=r"Y of shape \(n_points, 3\).*got shape \(40, 2\)"):
        MultiObjectiveSurrogate(spec, 3).fit(X, Y)
    bad = Y.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ModelError, match=r"finite targets.*row 4, objective 1"):
        MultiObjectiveSurrogate(spec, 2).fit(X, bad)
    with pytest.raises(ModelError, match=r"as many rows as Y \(40\)"):
        MultiObjectiveSurrogate(spec, 2).fit(X[:10], Y)
    with pytest.raises(ModelError, match=r"n_objectives must be an integer >= 1; got 0"):
        MultiObjectiveSurrogate(spec, 0).fit(X, Y)
    with pytest.raises(ModelError, match=r"expects spec to be a ModelSpec; got dict"):
        MultiObjectiveSurrogate({"kind": "exact_gp"}, 2).fit(X, Y)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"objective 0: .*at least 2 measured points"):
        MultiObjectiveSurrogate(spec, 2).fit(X[:1], Y[:1])
    with pytest.raises(ModelError, match=r"refit_full needs a previous fit"):
        MultiObjectiveSurrogate(spec, 2).refit_full()


# -- a two-objective mini campaign on the plasmonic dataset ------------------------------


@pytest.fixture(scope="module")
def plasmonic_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from steerscope.datasets import plasmonic_nanoparticles
    from steerscope.descriptors import DescriptorSpec, extract_descriptors
    from steerscope.scalarizers import parse_scalarizer

    dataset = plasmonic_nanoparticles(seed=0)
    descriptors = extract_descriptors(
        dataset.image.overview, DescriptorSpec(patch_size=16, stride=2, pca_components=8)
    )
    # Edge/tip modes and the bulk plasmon: barely correlated, so there is a real trade-off.
    scalarizer = parse_scalarizer(
        {
            "kind": "multi",
            "targets": [
                {"kind": "window_sum", "window": [1.0, 1.8]},
                {"kind": "window_sum", "window": [3.5, 4.1]},
            ],
        }
    )
    targets = scalarizer.apply(dataset.image.spectra_at(descriptors.pixels), dataset.image.energy)
    assert targets.shape == (len(descriptors.pixels), 2)
    return descriptors.features, descriptors.pixels, np.asarray(targets, dtype=np.float64)


def _campaign(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    *,
    budget: int = 30,
    n_seed_points: int = 6,
    batch: int = 4,
) -> list[float]:
    features, pixels, targets = problem
    reference = targets.min(axis=0)  # fixed, so hypervolumes compare across steps
    rng = np.random.default_rng(seed)
    measured = list(rng.choice(len(targets), n_seed_points, replace=False))
    model = MultiObjectiveSurrogate(ModelSpec(kind="exact_gp"), n_objectives=2, seed=seed)
    history = [hypervolume(targets[measured], reference)]
    while len(measured) < budget:
        model.fit(features[measured], targets[measured])
        mean, var = model.posterior(features)
        scores = multi_objective_scores("ehvi", mean, var, Y_measured=targets[measured])
        q = min(batch, budget - len(measured))
        chosen = select_points(scores, pixels, q, exclude=pixels[measured], min_distance=3.0)
        measured += [int(i) for i in chosen]
        history.append(hypervolume(targets[measured], reference))
    assert len(set(measured)) == budget
    return history


@pytest.mark.slow
def test_ehvi_campaign_grows_hypervolume_and_beats_random(
    plasmonic_problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, _, targets = plasmonic_problem
    reference = targets.min(axis=0)
    seeds = range(5)
    histories = [_campaign(plasmonic_problem, seed) for seed in seeds]
    for history in histories:
        assert all(b >= a for a, b in itertools.pairwise(history))
    assert np.median([h[-1] / h[0] for h in histories]) > 1.5
    random_final = [
        hypervolume(
            targets[np.random.default_rng(seed).choice(len(targets), 30, replace=False)],
            reference,
        )
        for seed in seeds
    ]
    ehvi_final = [h[-1] for h in histories]
    assert np.median(ehvi_final) > 1.5 * np.median(random_final), (ehvi_final, random_final)
