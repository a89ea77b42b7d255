"""Acquisition functions: pure numpy functions of the posterior ``(mean, var)``.

Every function here scores candidates so that *higher is better*; the policy
layer (:func:`steerscope.acquisition.select_points`) picks the best allowed
ones. Nothing here knows about a model: acquisition and surrogates meet only
at the posterior mean and variance (DESIGN.md, "Layers").
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from steerscope.acquisition.registry import (
    AcquisitionInfo,
    ScoringInputs,
    acquisition_info,
    acquisitions_for,
    register_acquisition,
    score_candidates,
)
from steerscope.errors import AcquisitionError

__all__ = [
    "acquisition_scores",
    "expected_improvement",
    "max_variance",
    "random_scores",
    "raster_scores",
    "thompson",
    "ucb",
]


def _moments(mean: ArrayLike, var: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Check and return ``(mean, std)`` as float64 arrays of shape ``(m,)``.

    Tiny negative variances (round-off from a GP solve) are clamped to 0 before
    the square root instead of producing NaN.
    """
    mean_arr = np.asarray(mean, dtype=np.float64)
    var_arr = np.asarray(var, dtype=np.float64)
    if mean_arr.ndim != 1 or var_arr.shape != mean_arr.shape:
        raise AcquisitionError(
            "acquisition expects mean and var as 1-D arrays of the same shape (m,); "
            f"got mean {mean_arr.shape} and var {var_arr.shape}. Pass the posterior "
            "of all candidates as two flat arrays."
        )
    if not (np.all(np.isfinite(mean_arr)) and np.all(np.isfinite(var_arr))):
        raise AcquisitionError(
            "acquisition expects finite posterior mean and variance; got "
            f"{int(np.sum(~np.isfinite(mean_arr)))} non-finite means and "
            f"{int(np.sum(~np.isfinite(var_arr)))} non-finite variances. "
            "Check the surrogate's fit (targets, features) before scoring."
        )
    return mean_arr, np.sqrt(np.clip(var_arr, 0.0, None))


def _check_nonnegative(name: str, function: str, value: float) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise AcquisitionError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise AcquisitionError(
            f"The {name!r} parameter of {function} must be a float >= 0. Got {value!r} instead."
        )
    return number


def _check_rng(rng: object, function: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise AcquisitionError(
            f"{function} needs a numpy random Generator as `rng`; got {type(rng).__name__}. "
            "Pass rng=np.random.default_rng(seed) so the choice is reproducible."
        )
    return rng


def ucb(mean: ArrayLike, var: ArrayLike, beta: float) -> NDArray[np.float64]:
    """Upper confidence bound ``mean + sqrt(beta) * std``.

    This is the BoTorch (``UpperConfidenceBound``) and gpax (``UCB``) convention:
    ``beta`` multiplies the *variance*, so ``beta = 4`` means two standard
    deviations. ``beta = 0`` is pure exploitation; large ``beta`` approaches
    :func:`max_variance`.

    Parameters
    ----------
    mean : array_like of shape (m,)
        Posterior mean of the target at each candidate.
    var : array_like of shape (m,)
        Posterior variance at each candidate (tiny negatives are treated as 0).
    beta : float
        Exploration weight, >= 0.

    Returns
    -------
    scores : ndarray of shape (m,)
        Higher is better.
    """
    beta = _check_nonnegative("beta", "UCB", beta)
    mean_arr, std = _moments(mean, var)
    return mean_arr + math.sqrt(beta) * std


def expected_improvement(
    mean: ArrayLike, var: ArrayLike, best: float, xi: float = 0.01
) -> NDArray[np.float64]:
    """Expected improvement over ``best + xi`` for maximisation (closed form).

    ``EI = (mu - best - xi) * Phi(z) + sigma * phi(z)`` with
    ``z = (mu - best - xi) / sigma``. Where ``sigma == 0`` the score is 0: a
    candidate the model is certain about cannot surprise us (this is the usual
    convention at already-measured points).

    Parameters
    ----------
    mean : array_like of shape (m,)
        Posterior mean, in the units of ``best``.
    var : array_like of shape (m,)
        Posterior variance.
    best : float
        Incumbent value, usually the largest measured target.
    xi : float, default 0.01
        Margin (>= 0) the improvement must exceed, in target units; larger
        values explore more.

    Returns
    -------
    scores : ndarray of shape (m,)
        Non-negative; higher is better.
    """
    xi = _check_nonnegative("xi", "EI", xi)
    best_value = float(best)
    if not math.isfinite(best_value):
        raise AcquisitionError(
            f"The 'best' parameter of EI must be a finite float. Got {best!r} instead; "
            "pass the largest measured target."
        )
    mean_arr, std = _moments(mean, var)
    improvement = mean_arr - best_value - xi
    scores = np.zeros_like(mean_arr)
    positive = std > 0
    z = improvement[positive] / std[positive]
    scores[positive] = improvement[positive] * norm.cdf(z) + std[positive] * norm.pdf(z)
    # The closed form can dip a hair below 0 through cancellation for very negative z.
    return np.clip(scores, 0.0, None)


def max_variance(mean: ArrayLike, var: ArrayLike) -> NDArray[np.float64]:
    """Pure exploration: the posterior variance itself.

    Parameters
    ----------
    mean : array_like of shape (m,)
        Posterior mean (checked for shape only).
    var : array_like of shape (m,)
        Posterior variance.

    Returns
    -------
    scores : ndarray of shape (m,)
        The variance, clamped to >= 0.
    """
    _, std = _moments(mean, var)
    return std**2


def space_filling_scores(pixels: ArrayLike, measured: ArrayLike) -> NDArray[np.float64]:
    """Distance of every candidate to its nearest measured point: the best is the least covered.

    The model-free choice a campaign falls back on while its model is lost: unlike a
    random point it never lands next to one already measured, so it covers the field
    (and finds a region a few percent of it in size) at least as fast as random.

    Parameters
    ----------
    pixels : array_like of shape (m, 2)
        Candidate ``(row, col)`` pixels.
    measured : array_like of shape (n, 2)
        Pixels measured (or being measured) so far.

    Returns
    -------
    scores : ndarray of shape (m,)
        Euclidean distance in pixels; all equal (``inf``) when nothing is measured.
    """
    from scipy.spatial import cKDTree

    points = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    done = np.asarray(measured, dtype=np.float64).reshape(-1, 2)
    if done.shape[0] == 0:
        return np.full(points.shape[0], np.inf)
    distance, _ = cKDTree(done).query(points)
    return np.asarray(distance, dtype=np.float64)


def thompson(mean: ArrayLike, var: ArrayLike, rng: np.random.Generator) -> NDArray[np.float64]:
    """One Thompson draw, approximated by independent draws from the marginals.

    A true Thompson sample is one joint draw from the posterior over all
    candidates, which needs the full ``(m, m)`` covariance. Here each candidate
    gets an independent draw ``N(mean_i, var_i)``: it keeps Thompson's
    property of choosing each point with roughly its probability of being good
    for ``q = 1``, but ignores correlations between neighbours (so a batch may
    cluster; use ``min_distance`` in :func:`select_points`).

    Parameters
    ----------
    mean : array_like of shape (m,)
        Posterior mean.
    var : array_like of shape (m,)
        Posterior variance.
    rng : numpy.random.Generator
        Source of randomness (pass a seeded generator for reproducibility).

    Returns
    -------
    scores : ndarray of shape (m,)
        The drawn values.
    """
    generator = _check_rng(rng, "Thompson sampling")
    mean_arr, std = _moments(mean, var)
    return mean_arr + std * generator.standard_normal(mean_arr.shape[0])


def random_scores(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Uniform random scores: selecting the top ones picks candidates at random.

    Parameters
    ----------
    n : int
        Number of candidates ``m``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    scores : ndarray of shape (n,)
        Independent draws in ``[0, 1)``.
    """
    generator = _check_rng(rng, "random selection")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise AcquisitionError(f"random_scores expects a count n >= 0. Got {n!r} instead.")
    return generator.random(int(n))


def raster_scores(pixels: ArrayLike) -> NDArray[np.float64]:
    """Scores that make selection walk the candidates in row-major (raster) order.

    The first pixel in raster order (smallest row, then smallest column) gets the
    highest score, so repeatedly selecting the best unmeasured candidates scans
    the image line by line, like a conventional spectrum-image acquisition.

    Parameters
    ----------
    pixels : array_like of shape (m, 2)
        Candidate pixels ``(row, col)``.

    Returns
    -------
    scores : ndarray of shape (m,)
        ``-rank`` in raster order: 0 for the first pixel, ``-(m - 1)`` for the last.
    """
    pixel_arr = np.asarray(pixels)
    if pixel_arr.ndim != 2 or pixel_arr.shape[1] != 2:
        raise AcquisitionError(
            "raster_scores expects candidate pixels of shape (m, 2) as (row, col); "
            f"got shape {pixel_arr.shape}."
        )
    order = np.lexsort((pixel_arr[:, 1], pixel_arr[:, 0]))
    scores = np.empty(pixel_arr.shape[0], dtype=np.float64)
    scores[order] = -np.arange(pixel_arr.shape[0], dtype=np.float64)
    return scores


def acquisition_scores(
    name: str,
    mean: ArrayLike,
    var: ArrayLike,
    *,
    beta: float = 1.0,
    xi: float = 0.01,
    best: float | None = None,
    rng: np.random.Generator | None = None,
    pixels: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Score every candidate with the acquisition function called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`ACQUISITIONS`.
    mean, var : array_like of shape (m,)
        Posterior mean and variance of the candidates.
    beta : float, default 1.0
        UCB exploration weight (``mean + sqrt(beta) * std``).
    xi : float, default 0.01
        EI margin.
    best : float, optional
        EI incumbent; when None the largest posterior mean is used (a common
        fallback; pass the largest *measured* target when you have it).
    rng : numpy.random.Generator, optional
        Required for ``"thompson"`` and ``"random"``.
    pixels : array_like of shape (m, 2), optional
        Required for ``"raster"``.

    Returns
    -------
    scores : ndarray of shape (m,)
        Higher is better.
    """
    info = acquisition_info(name)
    if info.multi_objective:
        raise AcquisitionError(
            f"{name!r} scores several targets; for one target choose one of "
            f"{', '.join(acquisitions_for(1))}."
        )
    inputs = ScoringInputs(
        Y_measured=np.zeros((0, 1)) if best is None else np.array([[best]], dtype=np.float64),
        rng=rng,
        pixels=None if pixels is None else np.asarray(pixels),
    )
    return score_candidates(name, mean, var, inputs, {"beta": beta, "xi": xi})


def _ei(mean: ArrayLike, var: ArrayLike, inputs: ScoringInputs, xi: float) -> NDArray[np.float64]:
    """EI against the best measured target (the largest posterior mean before any)."""
    y = inputs.Y_measured[:, 0] if inputs.Y_measured.size else np.zeros(0)
    finite = y[np.isfinite(y)]
    if finite.size:
        best = float(finite.max())
    else:
        mean_arr, _ = _moments(mean, var)
        best = float(mean_arr.max()) if mean_arr.size else 0.0
    return expected_improvement(mean, var, best, xi)


def _random(mean: ArrayLike, var: ArrayLike, inputs: ScoringInputs) -> NDArray[np.float64]:
    mean_arr, _ = _moments(mean, var)
    return random_scores(mean_arr.shape[0], _check_rng(inputs.rng, "random selection"))


def _raster(mean: ArrayLike, var: ArrayLike, inputs: ScoringInputs) -> NDArray[np.float64]:
    mean_arr, _ = _moments(mean, var)
    if inputs.pixels is None:
        raise AcquisitionError(
            "the 'raster' acquisition needs the candidate pixels; pass pixels= of shape (m, 2)."
        )
    scores = raster_scores(inputs.pixels)
    if scores.shape != mean_arr.shape:
        raise AcquisitionError(
            f"raster: pixels give {scores.shape[0]} candidates but the posterior has "
            f"{mean_arr.shape[0]}; pass the pixels the posterior was computed for."
        )
    return scores


for _info in (
    AcquisitionInfo(
        "ucb",
        lambda mean, var, inputs, beta: ucb(mean, var, beta),
        ("beta",),
        summary="upper confidence bound: mean + sqrt(beta) * std",
    ),
    AcquisitionInfo("ei", _ei, ("xi",), summary="expected improvement over the best measured"),
    AcquisitionInfo(
        "max_variance",
        lambda mean, var, inputs: max_variance(mean, var),
        summary="where the model is least sure (pure exploration)",
    ),
    AcquisitionInfo(
        "thompson",
        lambda mean, var, inputs: thompson(mean, var, _check_rng(inputs.rng, "Thompson sampling")),
        summary="one posterior sample, maximised",
    ),
    AcquisitionInfo(
        "random", _random, summary="uniform at random (the baseline)", needs_model=False
    ),
    AcquisitionInfo(
        "raster", _raster, summary="row by row, as a conventional scan", needs_model=False
    ),
):
    register_acquisition(_info)
