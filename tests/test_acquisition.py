"""Acquisition functions and point selection, tested on hand-made posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from steerscope.acquisition import (
    ACQUISITIONS,
    acquisition_scores,
    allowed_mask,
    expected_improvement,
    max_variance,
    random_scores,
    raster_scores,
    select_points,
    thompson,
    ucb,
)
from steerscope.errors import AcquisitionError, SteerscopeError


def grid_pixels(height: int, width: int) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.int64)


# --- scores -----------------------------------------------------------------------------


def test_ucb_hand_values() -> None:
    mean = np.array([1.0, 0.0, -2.0])
    var = np.array([4.0, 1.0, 0.0])
    np.testing.assert_allclose(ucb(mean, var, 0.0), [1.0, 0.0, -2.0])
    # beta = 4 -> two standard deviations.
    np.testing.assert_allclose(ucb(mean, var, 4.0), [5.0, 2.0, -2.0])
    np.testing.assert_allclose(ucb(mean, var, 1.0), [3.0, 1.0, -2.0])


def test_ucb_clamps_tiny_negative_variance() -> None:
    scores = ucb(np.array([1.0]), np.array([-1e-15]), 9.0)
    assert scores[0] == pytest.approx(1.0)


@pytest.mark.parametrize("beta", [-1, math.nan, math.inf, "big"])
def test_ucb_rejects_bad_beta(beta: object) -> None:
    with pytest.raises(AcquisitionError, match=r"The 'beta' parameter of UCB must be a float >= 0"):
        ucb(np.zeros(2), np.ones(2), beta)  # type: ignore[arg-type]


def test_ucb_beta_message_names_the_value() -> None:
    with pytest.raises(AcquisitionError, match=r"Got -1 instead"):
        ucb(np.zeros(2), np.ones(2), -1)


def test_increasing_beta_moves_argmax_to_high_variance() -> None:
    mean = np.array([1.0, 0.5, 0.0])
    var = np.array([0.01, 0.25, 4.0])
    assert int(np.argmax(ucb(mean, var, 0.0))) == 0
    assert int(np.argmax(ucb(mean, var, 100.0))) == 2


def test_expected_improvement_hand_values() -> None:
    mean = np.array([1.0, 0.0, 2.0, 5.0])
    var = np.array([1.0, 4.0, 0.0, 0.0])
    scores = expected_improvement(mean, var, best=1.0, xi=0.0)
    # z = 0 -> EI = sigma * phi(0)
    assert scores[0] == pytest.approx(norm.pdf(0.0))
    # mu - best = -1, sigma = 2, z = -0.5
    assert scores[1] == pytest.approx(-1.0 * norm.cdf(-0.5) + 2.0 * norm.pdf(-0.5))
    # sigma = 0 -> 0 by convention
    assert scores[2] == 0.0
    assert scores[3] == 0.0


def test_expected_improvement_xi_shifts_incumbent() -> None:
    mean, var = np.array([1.0]), np.array([1.0])
    with_xi = expected_improvement(mean, var, best=0.5, xi=0.5)
    at_best = expected_improvement(mean, var, best=1.0, xi=0.0)
    np.testing.assert_allclose(with_xi, at_best)


def test_expected_improvement_errors() -> None:
    with pytest.raises(AcquisitionError, match=r"'xi' parameter of EI must be a float >= 0"):
        expected_improvement(np.zeros(1), np.ones(1), best=0.0, xi=-0.1)
    with pytest.raises(AcquisitionError, match=r"'best' parameter of EI must be a finite"):
        expected_improvement(np.zeros(1), np.ones(1), best=math.nan)


def test_max_variance_is_variance() -> None:
    np.testing.assert_allclose(
        max_variance(np.array([3.0, -1.0]), np.array([0.5, -1e-14])), [0.5, 0.0]
    )


def test_moments_shape_and_finiteness_errors() -> None:
    with pytest.raises(AcquisitionError, match=r"same shape \(m,\).*mean \(3,\) and var \(2,\)"):
        ucb(np.zeros(3), np.ones(2), 1.0)
    with pytest.raises(AcquisitionError, match=r"finite posterior.*1 non-finite means"):
        max_variance(np.array([np.nan, 0.0]), np.ones(2))


def test_thompson_is_reproducible_and_centred() -> None:
    mean = np.array([10.0, -10.0, 0.0])
    var = np.array([0.0, 0.0, 1.0])
    first = thompson(mean, var, np.random.default_rng(3))
    second = thompson(mean, var, np.random.default_rng(3))
    np.testing.assert_array_equal(first, second)
    # Zero variance -> the draw is the mean.
    assert first[0] == 10.0
    assert first[1] == -10.0
    draws = np.array([thompson(mean, var, np.random.default_rng(s))[2] for s in range(400)])
    assert abs(draws.mean()) < 0.2
    assert 0.8 < draws.std() < 1.2


def test_thompson_needs_a_generator() -> None:
    with pytest.raises(AcquisitionError, match=r"numpy random Generator.*default_rng"):
        thompson(np.zeros(2), np.ones(2), 3)  # type: ignore[arg-type]


def test_random_scores() -> None:
    a = random_scores(5, np.random.default_rng(1))
    b = random_scores(5, np.random.default_rng(1))
    assert a.shape == (5,)
    np.testing.assert_array_equal(a, b)
    assert np.all((a >= 0) & (a < 1))
    with pytest.raises(AcquisitionError, match=r"count n >= 0"):
        random_scores(-1, np.random.default_rng(1))


def test_raster_scores_walk_row_major() -> None:
    pixels = np.array([[1, 0], [0, 1], [0, 0], [1, 1]])
    scores = raster_scores(pixels)
    np.testing.assert_array_equal(scores, [-2.0, -1.0, 0.0, -3.0])
    order = select_points(scores, pixels, 4)
    np.testing.assert_array_equal(pixels[order], [[0, 0], [0, 1], [1, 0], [1, 1]])


def test_dispatcher_matches_functions() -> None:
    mean = np.array([0.0, 1.0, 2.0])
    var = np.array([1.0, 0.5, 0.1])
    np.testing.assert_allclose(acquisition_scores("ucb", mean, var, beta=4.0), ucb(mean, var, 4.0))
    np.testing.assert_allclose(
        acquisition_scores("ei", mean, var, best=1.5, xi=0.0),
        expected_improvement(mean, var, 1.5, 0.0),
    )
    # best=None falls back to the largest posterior mean.
    np.testing.assert_allclose(
        acquisition_scores("ei", mean, var), expected_improvement(mean, var, 2.0)
    )
    np.testing.assert_allclose(acquisition_scores("max_variance", mean, var), var)
    np.testing.assert_allclose(
        acquisition_scores("thompson", mean, var, rng=np.random.default_rng(0)),
        thompson(mean, var, np.random.default_rng(0)),
    )
    assert acquisition_scores("random", mean, var, rng=np.random.default_rng(0)).shape == (3,)
    pixels = np.array([[0, 2], [0, 1], [0, 0]])
    np.testing.assert_array_equal(
        acquisition_scores("raster", mean, var, pixels=pixels), [-2.0, -1.0, 0.0]
    )
    assert set(ACQUISITIONS) == {"ucb", "ei", "max_variance", "thompson", "random", "raster"}


def test_dispatcher_errors() -> None:
    mean, var = np.zeros(2), np.ones(2)
    with pytest.raises(AcquisitionError, match=r"unknown acquisition function 'pi'; choose one of"):
        acquisition_scores("pi", mean, var)
    with pytest.raises(AcquisitionError, match=r"ucb, ei, max_variance, thompson, random, raster"):
        acquisition_scores("UCB", mean, var)
    with pytest.raises(AcquisitionError, match=r"Thompson sampling needs a numpy random"):
        acquisition_scores("thompson", mean, var)
    with pytest.raises(AcquisitionError, match=r"'raster' acquisition needs the candidate pixels"):
        acquisition_scores("raster", mean, var)
    with pytest.raises(AcquisitionError, match=r"pixels give 3 candidates but the posterior has 2"):
        acquisition_scores("raster", mean, var, pixels=np.zeros((3, 2), dtype=int))
    assert issubclass(AcquisitionError, SteerscopeError)


# --- selection --------------------------------------------------------------------------


def test_select_best_and_deterministic_ties() -> None:
    pixels = grid_pixels(2, 3)
    scores = np.array([1.0, 5.0, 5.0, 0.0, 5.0, 2.0])
    np.testing.assert_array_equal(select_points(scores, pixels, 4), [1, 2, 4, 5])
    np.testing.assert_array_equal(select_points(np.zeros(6), pixels, 3), [0, 1, 2])
    assert select_points(scores, pixels, 1).dtype == np.int64


def test_select_skips_excluded_and_no_go() -> None:
    pixels = grid_pixels(3, 3)
    scores = np.arange(9, dtype=float)  # best is (2, 2), then (2, 1), ...
    no_go = np.zeros((3, 3), dtype=bool)
    no_go[2, 1] = True
    chosen = select_points(scores, pixels, 3, exclude=np.array([[2, 2], [7, 7]]), no_go=no_go)
    np.testing.assert_array_equal(pixels[chosen], [[2, 0], [1, 2], [1, 1]])


def test_select_min_distance_greedy() -> None:
    pixels = np.array([[0, 0], [0, 1], [0, 2], [0, 5], [3, 4]])
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    chosen = select_points(scores, pixels, 3, min_distance=3.0)
    # (0,0) taken; (0,1), (0,2) too close; (0,5) at 5; (3,4) at 5 and sqrt(10) from those.
    np.testing.assert_array_equal(chosen, [0, 3, 4])
    # Exactly at the minimum distance is allowed.
    np.testing.assert_array_equal(select_points(scores, pixels, 2, min_distance=2.0), [0, 2])


def test_select_min_distance_falls_back_by_rank() -> None:
    pixels = np.array([[0, 0], [0, 1], [0, 2], [0, 3]])
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    # Only (0,0) and (0,3) are 3 apart; the third slot is filled with the best remaining.
    np.testing.assert_array_equal(select_points(scores, pixels, 3, min_distance=3.0), [0, 3, 1])


def test_select_errors() -> None:
    pixels = grid_pixels(2, 2)
    with pytest.raises(AcquisitionError, match=r"cannot choose 3 points: only 2 of 4 candidates"):
        select_points(np.zeros(4), pixels, 3, exclude=pixels[:2])
    with pytest.raises(AcquisitionError, match=r"'q' must be an integer >= 1. Got 0 instead"):
        select_points(np.zeros(4), pixels, 0)
    with pytest.raises(AcquisitionError, match=r"'min_distance' parameter must be a float >= 0"):
        select_points(np.zeros(4), pixels, 1, min_distance=-2)
    with pytest.raises(AcquisitionError, match=r"scores \(3,\) and pixels \(4, 2\)"):
        select_points(np.zeros(3), pixels, 1)
    with pytest.raises(AcquisitionError, match=r"1 NaN scores"):
        select_points(np.array([0.0, np.nan, 0.0, 0.0]), pixels, 1)
    with pytest.raises(AcquisitionError, match=r"no-go mask of shape \(1, 1\) does not cover"):
        select_points(np.zeros(4), pixels, 1, no_go=np.zeros((1, 1), dtype=bool))
    with pytest.raises(AcquisitionError, match=r"boolean mask of shape \(H, W\)"):
        select_points(np.zeros(4), pixels, 1, no_go=np.zeros((2, 2)))
    with pytest.raises(AcquisitionError, match=r"whole pixel indices"):
        select_points(np.zeros(1), np.array([[0.5, 1.0]]), 1)


def test_select_is_fast_on_large_grids() -> None:
    pixels = grid_pixels(512, 512)
    scores = np.random.default_rng(0).random(pixels.shape[0])
    exclude = pixels[::7]
    chosen = select_points(scores, pixels, 8, exclude=exclude, min_distance=10.0)
    assert chosen.shape == (8,)
    chosen_xy = pixels[chosen].astype(float)
    gaps = np.linalg.norm(chosen_xy[:, None] - chosen_xy[None], axis=-1)
    assert gaps[~np.eye(8, dtype=bool)].min() >= 10.0


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    q=st.integers(1, 4),
    min_distance=st.sampled_from([0.0, 1.5, 2.0]),
)
def test_select_never_returns_forbidden(
    height: int, width: int, seed: int, q: int, min_distance: float
) -> None:
    rng = np.random.default_rng(seed)
    pixels = grid_pixels(height, width)
    scores = rng.integers(0, 3, pixels.shape[0]).astype(float)  # many ties
    exclude = pixels[rng.random(pixels.shape[0]) < 0.3]
    no_go = rng.random((height, width)) < 0.3
    allowed = allowed_mask(pixels, exclude=exclude, no_go=no_go)
    if allowed.sum() < q:
        with pytest.raises(AcquisitionError, match="cannot choose"):
            select_points(scores, pixels, q, exclude=exclude, no_go=no_go)
        return
    chosen = select_points(
        scores, pixels, q, exclude=exclude, no_go=no_go, min_distance=min_distance
    )
    assert chosen.shape == (q,)
    assert len(set(chosen.tolist())) == q
    assert np.all(allowed[chosen])
    excluded_set = {tuple(p) for p in exclude.tolist()}
    assert all(tuple(p) not in excluded_set for p in pixels[chosen].tolist())
    assert not np.any(no_go[pixels[chosen, 0], pixels[chosen, 1]])
    # The first pick is the best allowed score with the lowest index.
    best = np.flatnonzero(allowed & (scores == scores[allowed].max()))[0]
    assert chosen[0] == best
    # Deterministic.
    again = select_points(
        scores, pixels, q, exclude=exclude, no_go=no_go, min_distance=min_distance
    )
    np.testing.assert_array_equal(chosen, again)
