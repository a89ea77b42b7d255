"""Multi-objective acquisition: score candidates from a vector posterior ``(mean, var)`` ``(m, k)``.

A scalarizer of kind ``multi`` gives ``k`` targets per measured pixel, ``Y`` of
shape ``(n, k)``; a :class:`~steerscope.models.multi_objective.MultiObjectiveSurrogate`
gives the posterior mean and variance of every candidate, each ``(m, k)``.
Everything here is a pure function of those arrays, like the single-objective
functions (DESIGN.md: models and acquisition meet only at the posterior). Every
objective is *maximised*; negate a column to minimise it.

Three ways to turn the vector into one score per candidate (higher is better):

- ``"ehvi"``: expected hypervolume improvement over the measured Pareto front
  (BoTorch's analytic ``ExpectedHypervolumeImprovement``, exact for independent
  normal marginals). No weights to choose: it looks for the whole trade-off curve.
- ``"weighted_sum"``: UCB on a weighted sum of the standardised objectives.
- ``"chebyshev"``: UCB on an augmented Chebyshev scalarisation of the
  standardised objectives; unlike a weighted sum it can reach points in a
  concave part of the front.

The two scalarisations take weights an operator can change between two steps.
Objectives are first standardised with the *measured* targets' mean and
standard deviation (never with unmeasured pixels, which a live instrument does
not know), so that a weight means the same thing whatever the units of each
objective (counts, eV, ratios).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.acquisition.functions import _check_nonnegative
from steerscope.acquisition.registry import (
    AcquisitionInfo,
    ScoringInputs,
    acquisitions_for,
    register_acquisition,
    score_candidates,
)
from steerscope.errors import AcquisitionError

if TYPE_CHECKING:
    import torch

__all__ = [
    "chebyshev_scores",
    "default_reference_point",
    "expected_hypervolume_improvement",
    "hypervolume",
    "multi_objective_scores",
    "pareto_front",
    "weighted_sum_scores",
]

REFERENCE_MARGIN = 0.1
"""Default margin of :func:`default_reference_point`, as a fraction of each objective's range.

0.1 is the multiplier Ishibuchi et al. (2011) found robust, and BoTorch's
``infer_reference_point`` default."""

EHVI_BATCH = 4096
"""Candidates per BoTorch call in :func:`expected_hypervolume_improvement` (bounds memory)."""

_MIN_STD = 1e-12


# -- checks -----------------------------------------------------------------------------


def _targets(Y: ArrayLike, function: str, *, min_rows: int = 0) -> NDArray[np.float64]:
    """Return measured targets ``Y (n, k)`` as float64, or raise a helpful AcquisitionError."""
    Y_arr = np.asarray(Y, dtype=np.float64)
    if Y_arr.ndim != 2 or Y_arr.shape[1] < 1:
        raise AcquisitionError(
            f"{function} expects measured targets of shape (n_points, n_objectives); got an "
            f"array of shape {Y_arr.shape}. Pass the multi-output scalarizer's (n, k) matrix."
        )
    if Y_arr.shape[0] < min_rows:
        raise AcquisitionError(
            f"{function} needs at least {min_rows} measured point(s); got {Y_arr.shape[0]}. "
            "Measure a few seed points first."
        )
    if not np.all(np.isfinite(Y_arr)):
        bad = np.argwhere(~np.isfinite(Y_arr))
        raise AcquisitionError(
            f"{function} expects finite measured targets; got {bad.shape[0]} NaN or infinite "
            f"values (first at row {int(bad[0, 0])}, objective {int(bad[0, 1])}). Check the "
            "scalarizer (e.g. a ratio with a zero denominator) or drop those points."
        )
    return Y_arr


def _moments(
    mean: ArrayLike, var: ArrayLike, function: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(mean, var)`` ``(m, k)`` as float64, variance clamped to >= 0."""
    mean_arr = np.asarray(mean, dtype=np.float64)
    var_arr = np.asarray(var, dtype=np.float64)
    if mean_arr.ndim != 2 or var_arr.shape != mean_arr.shape:
        raise AcquisitionError(
            f"{function} expects the posterior mean and var as arrays of the same shape "
            f"(m_candidates, n_objectives); got mean {mean_arr.shape} and var {var_arr.shape}. "
            "Use MultiObjectiveSurrogate.posterior, which returns both as (m, k)."
        )
    if not (np.all(np.isfinite(mean_arr)) and np.all(np.isfinite(var_arr))):
        raise AcquisitionError(
            f"{function} expects a finite posterior; got "
            f"{int(np.sum(~np.isfinite(mean_arr)))} non-finite means and "
            f"{int(np.sum(~np.isfinite(var_arr)))} non-finite variances. Check the "
            "surrogate's fit (targets, features) before scoring."
        )
    # Round-off in a GP solve can give tiny negative variances.
    return mean_arr, np.clip(var_arr, 0.0, None)


def _check_objectives(n_objectives: int, Y: NDArray[np.float64], function: str) -> None:
    if Y.shape[1] != n_objectives:
        raise AcquisitionError(
            f"{function}: the posterior has {n_objectives} objectives but the measured targets "
            f"have {Y.shape[1]} columns; pass Y_measured from the same scalarizer."
        )


def _vector(
    values: ArrayLike, n_objectives: int, name: str, function: str, hint: str
) -> NDArray[np.float64]:
    """Return a finite float64 vector of length ``n_objectives`` or raise AcquisitionError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise AcquisitionError(
            f"{function}: {name} must be {n_objectives} numbers, one per objective; got "
            f"{values!r}. {hint}"
        ) from None
    if arr.ndim != 1 or arr.shape[0] != n_objectives:
        raise AcquisitionError(
            f"{function}: {name} must have one value per objective ({n_objectives}); got "
            f"{arr.shape[0] if arr.ndim == 1 else f'an array of shape {arr.shape}'}. {hint}"
        )
    if not np.all(np.isfinite(arr)):
        raise AcquisitionError(f"{function}: {name} must be finite; got {arr.tolist()}. {hint}")
    return arr


def _weights(weights: ArrayLike | None, n_objectives: int, function: str) -> NDArray[np.float64]:
    """Check weights (>= 0, not all zero) and normalise them to sum to 1."""
    if weights is None:
        raise AcquisitionError(
            f"{function} needs weights, one per objective ({n_objectives}); pass e.g. "
            f"weights={[round(1 / n_objectives, 3)] * n_objectives}."
        )
    hint = "Give one non-negative weight per objective, not all zero."
    w = _vector(weights, n_objectives, "weights", function, hint)
    if np.any(w < 0):
        raise AcquisitionError(
            f"{function}: weights must be >= 0 (to minimise an objective, negate it in the "
            f"scalarizer instead); got {w.tolist()}."
        )
    if not np.any(w > 0):
        raise AcquisitionError(
            f"{function}: weights must not all be zero; got {w.tolist()}. Put a positive "
            "weight on at least one objective."
        )
    return w / w.sum()


def _standardisation(
    Y_measured: ArrayLike | None, n_objectives: int, function: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    """Per-objective centre and scale from the measured targets (identity when there are none).

    A column with (near) zero spread, or a single measured row, gets scale 1 so
    that nothing is divided by zero.
    """
    if Y_measured is None:
        return np.zeros(n_objectives), np.ones(n_objectives), None
    Y = _targets(Y_measured, function)
    _check_objectives(n_objectives, Y, function)
    if Y.shape[0] == 0:
        return np.zeros(n_objectives), np.ones(n_objectives), Y
    center = Y.mean(axis=0)
    scale = Y.std(axis=0)
    flat = ~(scale > 1e-12 * np.maximum(1.0, np.abs(center)))
    scale[flat] = 1.0
    return center, scale, Y


# -- Pareto front and hypervolume ------------------------------------------------------


def pareto_front(Y: ArrayLike) -> NDArray[np.bool_]:
    """Mark the Pareto-optimal rows of ``Y`` (every objective maximised).

    A row is on the front when no other row is at least as good in every
    objective and strictly better in one. Duplicated optimal rows are all marked.

    Parameters
    ----------
    Y : array_like of shape (n_points, n_objectives)
        Measured targets.

    Returns
    -------
    mask : ndarray of shape (n_points,), bool
        True for the non-dominated rows.
    """
    Y_arr = _targets(Y, "pareto_front")
    n = Y_arr.shape[0]
    mask = np.ones(n, dtype=bool)
    # Chunked pairwise comparison: (chunk, n, k) booleans at a time.
    chunk = max(1, 2_000_000 // max(1, n * Y_arr.shape[1]))
    for start in range(0, n, chunk):
        block = Y_arr[start : start + chunk, None, :]  # (b, 1, k)
        at_least = np.all(Y_arr[None, :, :] >= block, axis=2)  # (b, n)
        better = np.any(Y_arr[None, :, :] > block, axis=2)
        mask[start : start + chunk] = ~np.any(at_least & better, axis=1)
    return mask


def default_reference_point(Y: ArrayLike, margin: float = REFERENCE_MARGIN) -> NDArray[np.float64]:
    """A reference point for hypervolume: the measured nadir minus a margin.

    ``ref_j = min_i Y_ij - margin * range_j``: the worst *measured* value of
    each objective, stepped down by ``margin`` times that objective's measured
    spread ``max - min`` (or ``max(|min|, 1)`` when every row has the same
    value). With the margin every measured point lies strictly above the
    reference point, so the front's extreme points (best in one objective,
    worst in another) still add volume.

    Why the nadir of *all* measured rows and not of the Pareto front only
    (BoTorch's ``infer_reference_point``): early in a campaign the front has
    one or two points, and a reference point just under them gives zero EHVI
    to every candidate that would be a new extreme in one objective but
    mediocre in the other. On the plasmonic two-objective test (budget 30,
    6 seeds) the front's nadir halved the median final hypervolume compared
    with this choice.

    Because it moves as measurements come in, compare hypervolumes across
    steps with one *fixed* reference point instead.

    Parameters
    ----------
    Y : array_like of shape (n_points, n_objectives)
        Measured targets, ``n_points >= 1``.
    margin : float, default 0.1
        Fraction of each objective's range to step below the nadir (>= 0).

    Returns
    -------
    ref_point : ndarray of shape (n_objectives,)
    """
    Y_arr = _targets(Y, "default_reference_point", min_rows=1)
    try:
        margin_value = float(margin)
    except (TypeError, ValueError):
        margin_value = math.nan
    if not (math.isfinite(margin_value) and margin_value >= 0):
        raise AcquisitionError(
            f"The 'margin' parameter of default_reference_point must be a float >= 0. "
            f"Got {margin!r} instead."
        )
    nadir = Y_arr.min(axis=0)
    spread = Y_arr.max(axis=0) - nadir
    flat = ~(spread > 0)
    spread[flat] = np.maximum(np.abs(nadir[flat]), 1.0)
    reference: NDArray[np.float64] = nadir - margin_value * spread
    return reference


def hypervolume(Y: ArrayLike, ref_point: ArrayLike) -> float:
    """Volume of objective space dominated by ``Y`` and bounded below by ``ref_point``.

    Rows not strictly better than the reference point in every objective add
    nothing. Computed exactly with BoTorch's box decomposition
    (``DominatedPartitioning``).

    Parameters
    ----------
    Y : array_like of shape (n_points, n_objectives)
        Measured targets (maximised); ``n_points`` may be 0.
    ref_point : array_like of shape (n_objectives,)
        Lower corner of the volume, in target units.

    Returns
    -------
    float
        The hypervolume, in the product of the objectives' units (0.0 if no row
        beats the reference point).
    """
    # Torch and BoTorch load on first use: the rest of the package stays numpy-only.
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import (
        DominatedPartitioning,
    )

    Y_arr = _targets(Y, "hypervolume")
    ref = _vector(
        ref_point,
        Y_arr.shape[1],
        "ref_point",
        "hypervolume",
        "Pass one reference value per objective, e.g. default_reference_point(Y).",
    )
    better = np.all(Y_arr > ref, axis=1)
    if not np.any(better):
        return 0.0
    front = Y_arr[better]
    front = front[pareto_front(front)]
    partitioning = DominatedPartitioning(
        ref_point=torch.from_numpy(ref), Y=torch.from_numpy(np.ascontiguousarray(front))
    )
    return float(partitioning.compute_hypervolume())


# -- expected hypervolume improvement --------------------------------------------------


def _tabulated_model(mean: torch.Tensor, var: torch.Tensor) -> object:
    """A BoTorch ``Model`` over a discrete candidate set whose posterior is given.

    Its inputs are candidate indices as a one-column tensor ``(..., q, 1)``; the
    posterior at index ``i`` is independent normals with mean ``mean[i]`` and
    variance ``var[i]`` (each ``(k,)``). The posterior object exposes only
    ``mean`` and ``variance``, which is all the analytic EHVI reads: a full
    ``GPyTorchPosterior`` with a diagonal ``MultitaskMultivariateNormal`` gives
    the same scores but was ~20x slower over 16k candidates.
    """
    import torch
    from botorch.models.model import Model
    from botorch.posteriors.posterior import Posterior

    class _DiagonalPosterior(Posterior):
        def __init__(self, posterior_mean: torch.Tensor, posterior_var: torch.Tensor) -> None:
            self._mean = posterior_mean
            self._var = posterior_var

        @property
        def mean(self) -> torch.Tensor:
            return self._mean

        @property
        def variance(self) -> torch.Tensor:
            return self._var

        @property
        def device(self) -> torch.device:
            return self._mean.device

        @property
        def dtype(self) -> torch.dtype:
            return self._mean.dtype

        def rsample(self, sample_shape: torch.Size | None = None) -> torch.Tensor:
            shape = torch.Size() if sample_shape is None else sample_shape
            noise = torch.randn(*shape, *self._mean.shape, dtype=self._mean.dtype)
            return self._mean + noise * self._var.sqrt()

    class _TabulatedModel(Model):
        def __init__(self) -> None:
            super().__init__()
            self._table_mean = mean
            self._table_var = var

        @property
        def num_outputs(self) -> int:
            return int(self._table_mean.shape[1])

        @property
        def batch_shape(self) -> torch.Size:
            return torch.Size()

        def posterior(  # type: ignore[override]
            self,
            X: torch.Tensor,
            output_indices: list[int] | None = None,
            observation_noise: bool = False,
            posterior_transform: object = None,
            **kwargs: object,
        ) -> Posterior:
            index = X[..., 0].long()  # (batch, q)
            return _DiagonalPosterior(self._table_mean[index], self._table_var[index])

    return _TabulatedModel()


def expected_hypervolume_improvement(
    mean: ArrayLike,
    var: ArrayLike,
    Y_measured: ArrayLike,
    ref_point: ArrayLike | None = None,
    *,
    batch_size: int = EHVI_BATCH,
) -> NDArray[np.float64]:
    """Expected hypervolume improvement of each candidate over the measured Pareto front.

    Exact for independent normal marginals (BoTorch's analytic
    ``ExpectedHypervolumeImprovement``, Yang et al. 2019): the expected volume
    a candidate's (random) outcome would add to the region dominated by the
    measured front above ``ref_point``. A candidate the model is sure lies
    under the front scores ~0; one that may extend the front scores > 0.

    Objectives are standardised with the measured targets' mean and standard
    deviation before the call (an affine map per objective scales every
    candidate's EHVI by the same factor, so the ranking is unchanged, and the
    numbers stay O(1) whatever the units). Scores are therefore in
    *standardised* hypervolume units.

    Parameters
    ----------
    mean : array_like of shape (m, n_objectives)
        Posterior mean of every candidate, ``n_objectives >= 2``.
    var : array_like of shape (m, n_objectives)
        Posterior variance (tiny negatives are treated as 0).
    Y_measured : array_like of shape (n, n_objectives)
        Measured targets, ``n >= 1``.
    ref_point : array_like of shape (n_objectives,), optional
        Reference point in target units; None uses
        :func:`default_reference_point` of ``Y_measured``.
    batch_size : int, default 4096
        Candidates per BoTorch call (bounds memory).

    Returns
    -------
    scores : ndarray of shape (m,)
        Non-negative; higher is better.
    """
    import torch
    from botorch.acquisition.multi_objective.analytic import ExpectedHypervolumeImprovement
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )

    function = "expected_hypervolume_improvement"
    mean_arr, var_arr = _moments(mean, var, function)
    n_objectives = mean_arr.shape[1]
    if n_objectives < 2:
        raise AcquisitionError(
            f"{function} needs at least 2 objectives; got a posterior with {n_objectives}. "
            "For one target use the single-objective functions (ucb, expected_improvement)."
        )
    Y = _targets(Y_measured, function, min_rows=1)
    _check_objectives(n_objectives, Y, function)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AcquisitionError(
            f"The 'batch_size' parameter of {function} must be an integer >= 1. "
            f"Got {batch_size!r} instead."
        )
    if ref_point is None:
        ref = default_reference_point(Y)
    else:
        ref = _vector(
            ref_point,
            n_objectives,
            "ref_point",
            function,
            "Pass one reference value per objective in target units, or None for the default.",
        )
    center, scale, _ = _standardisation(Y, n_objectives, function)
    mean_z = (mean_arr - center) / scale
    var_z = var_arr / scale**2
    Y_z = (Y - center) / scale
    ref_z = (ref - center) / scale
    # Only front points above the reference point shape the improvement region.
    front = Y_z[pareto_front(Y_z)]
    front = front[np.all(front > ref_z, axis=1)]
    ref_t = torch.from_numpy(ref_z)
    partitioning = FastNondominatedPartitioning(
        ref_point=ref_t, Y=torch.from_numpy(np.ascontiguousarray(front))
    )
    model = _tabulated_model(torch.from_numpy(mean_z), torch.from_numpy(var_z))
    acquisition = ExpectedHypervolumeImprovement(
        model,  # type: ignore[arg-type]
        ref_point=ref_z.tolist(),
        partitioning=partitioning,  # type: ignore[arg-type]
    )
    m = mean_arr.shape[0]
    scores = np.empty(m, dtype=np.float64)
    with torch.no_grad():
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)
            index = torch.arange(start, stop, dtype=torch.float64).reshape(-1, 1, 1)
            scores[start:stop] = acquisition(index).numpy()
    return np.clip(scores, 0.0, None)


# -- scalarisations --------------------------------------------------------------------


def weighted_sum_scores(
    mean: ArrayLike,
    var: ArrayLike,
    weights: ArrayLike,
    beta: float = 1.0,
    *,
    Y_measured: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """UCB of a weighted sum of the standardised objectives.

    With ``z_j = (y_j - mu_j) / s_j`` (``mu_j``, ``s_j``: mean and standard
    deviation of the *measured* objective ``j``) and weights normalised to sum
    to 1, the scalarised objective ``S = sum_j w_j z_j`` has posterior mean
    ``sum_j w_j (mean_j - mu_j) / s_j`` and, treating the objectives as
    independent (as the per-objective surrogates do), variance
    ``sum_j w_j**2 var_j / s_j**2``. The score is ``mean_S + sqrt(beta) * std_S``,
    so weights ``(1, 0, ...)`` rank candidates exactly like single-objective
    UCB on objective 0.

    Parameters
    ----------
    mean, var : array_like of shape (m, n_objectives)
        Posterior mean and variance of every candidate.
    weights : array_like of shape (n_objectives,)
        Non-negative, not all zero; only their ratios matter.
    beta : float, default 1.0
        UCB exploration weight (>= 0) on the scalarised objective.
    Y_measured : array_like of shape (n, n_objectives), optional
        Measured targets for the standardisation; None scores in raw units
        (only sensible when the objectives share units and scale).

    Returns
    -------
    scores : ndarray of shape (m,)
        Higher is better (standardised units).
    """
    function = "weighted_sum_scores"
    beta_value = _check_nonnegative("beta", function, beta)
    mean_arr, var_arr = _moments(mean, var, function)
    w = _weights(weights, mean_arr.shape[1], function)
    center, scale, _ = _standardisation(Y_measured, mean_arr.shape[1], function)
    scalar_mean = ((mean_arr - center) / scale) @ w
    scalar_var = (var_arr / scale**2) @ (w**2)
    scores: NDArray[np.float64] = scalar_mean + math.sqrt(beta_value) * np.sqrt(scalar_var)
    return scores


def chebyshev_scores(
    mean: ArrayLike,
    var: ArrayLike,
    weights: ArrayLike,
    ideal: ArrayLike | None = None,
    beta: float = 1.0,
    *,
    Y_measured: ArrayLike | None = None,
    rho: float = 0.05,
) -> NDArray[np.float64]:
    """UCB of the augmented Chebyshev scalarisation of the standardised objectives.

    For standardised objectives ``z_j`` (as in :func:`weighted_sum_scores`),
    weights normalised to sum to 1, and an ideal point ``z*``, the scalarised
    objective (to maximise) is

        ``g(z) = -max_j w_j (z*_j - z_j) - rho * sum_j w_j (z*_j - z_j)``

    (Knowles' ParEGO form). Maximising ``g`` pulls towards the point of the
    front in the direction the weights set, including concave parts of the
    front a weighted sum cannot reach; the small ``rho`` term breaks ties
    between weakly dominated points. ``g`` increases with every ``z_j``, so
    its largest value over the confidence box ``z_j <= mean_j + sqrt(beta) *
    std_j`` is at the box's upper corner: the score is ``g`` of each
    objective's UCB, an optimistic bound in the UCB spirit.

    Parameters
    ----------
    mean, var : array_like of shape (m, n_objectives)
        Posterior mean and variance of every candidate.
    weights : array_like of shape (n_objectives,)
        Non-negative, not all zero; only their ratios matter.
    ideal : array_like of shape (n_objectives,), optional
        Ideal (utopia) point in target units; None uses the best measured
        value of each objective (or the best posterior mean without
        ``Y_measured``).
    beta : float, default 1.0
        UCB exploration weight (>= 0).
    Y_measured : array_like of shape (n, n_objectives), optional
        Measured targets for the standardisation (and the default ideal).
    rho : float, default 0.05
        Augmentation weight (>= 0).

    Returns
    -------
    scores : ndarray of shape (m,)
        Higher is better (standardised units).
    """
    function = "chebyshev_scores"
    beta_value = _check_nonnegative("beta", function, beta)
    rho_value = _check_nonnegative("rho", function, rho)
    mean_arr, var_arr = _moments(mean, var, function)
    n_objectives = mean_arr.shape[1]
    w = _weights(weights, n_objectives, function)
    center, scale, Y = _standardisation(Y_measured, n_objectives, function)
    if ideal is not None:
        ideal_arr = _vector(
            ideal,
            n_objectives,
            "ideal",
            function,
            "Pass the best value you hope for in each objective (target units), or None.",
        )
    elif Y is not None and Y.shape[0] > 0:
        ideal_arr = Y.max(axis=0)
    else:
        ideal_arr = mean_arr.max(axis=0) if mean_arr.shape[0] else np.zeros(n_objectives)
    optimistic = (mean_arr - center) / scale + math.sqrt(beta_value) * np.sqrt(var_arr) / scale
    gap = ((ideal_arr - center) / scale)[None, :] - optimistic  # (m, k)
    weighted = gap * w[None, :]
    scores: NDArray[np.float64] = -weighted.max(axis=1) - rho_value * weighted.sum(axis=1)
    return scores


def multi_objective_scores(
    name: str,
    mean: ArrayLike,
    var: ArrayLike,
    *,
    Y_measured: ArrayLike,
    ref_point: ArrayLike | None = None,
    weights: ArrayLike | Sequence[float] | None = None,
    beta: float = 1.0,
    ideal: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Score every candidate with the multi-objective acquisition called ``name``.

    Parameters
    ----------
    name : str
        A registered multi-objective acquisition (``acquisitions_for(2)``).
    mean, var : array_like of shape (m, n_objectives)
        Posterior mean and variance of the candidates.
    Y_measured : array_like of shape (n, n_objectives)
        Measured targets (Pareto front for EHVI, standardisation for all).
    ref_point : array_like of shape (n_objectives,), optional
        EHVI reference point in target units (default:
        :func:`default_reference_point`).
    weights : array_like of shape (n_objectives,), optional
        Required for ``"weighted_sum"`` and ``"chebyshev"``.
    beta : float, default 1.0
        UCB exploration weight of the scalarisations (EHVI has none).
    ideal : array_like of shape (n_objectives,), optional
        Chebyshev ideal point in target units (default: best measured values).

    Returns
    -------
    scores : ndarray of shape (m,)
        Higher is better; feed them to :func:`steerscope.acquisition.select_points`.
    """
    if name not in acquisitions_for(2):
        raise AcquisitionError(
            f"unknown multi-objective acquisition {name!r}; choose one of "
            f"{', '.join(acquisitions_for(2))}."
        )
    if name in ("weighted_sum", "chebyshev") and weights is None:
        _, k = np.shape(mean) if np.ndim(mean) == 2 else (0, 2)
        raise AcquisitionError(
            f"the {name!r} acquisition needs weights, one per objective; pass e.g. "
            f"weights={[round(1 / max(k, 1), 3)] * max(k, 1)}, or use 'ehvi', which needs none."
        )
    inputs = ScoringInputs(Y_measured=np.asarray(Y_measured, dtype=np.float64))
    given = {"ref_point": ref_point, "weights": weights, "beta": beta, "ideal": ideal}
    return score_candidates(name, mean, var, inputs, given)


def _equal_weights(weights: ArrayLike | None, mean: ArrayLike) -> ArrayLike:
    """``weights``, or equal weights over the ``k`` objectives of ``mean (m, k)`` when None."""
    return np.ones(np.shape(mean)[-1]) if weights is None else weights


for _info in (
    AcquisitionInfo(
        "ehvi",
        lambda mean, var, inputs, ref_point: expected_hypervolume_improvement(
            mean, var, inputs.Y_measured, ref_point
        ),
        ("ref_point",),
        multi_objective=True,
        summary="expected hypervolume improvement (BoTorch): the whole trade-off curve",
    ),
    AcquisitionInfo(
        "weighted_sum",
        lambda mean, var, inputs, weights, beta: weighted_sum_scores(
            mean, var, _equal_weights(weights, mean), beta, Y_measured=inputs.Y_measured
        ),
        ("beta", "weights"),
        multi_objective=True,
        summary="UCB of a weighted sum of the standardised targets",
    ),
    AcquisitionInfo(
        "chebyshev",
        lambda mean, var, inputs, weights, beta, ideal: chebyshev_scores(
            mean, var, _equal_weights(weights, mean), ideal, beta, Y_measured=inputs.Y_measured
        ),
        ("beta", "weights", "ideal"),
        multi_objective=True,
        summary="UCB of the augmented Chebyshev scalarisation (one corner of the front)",
    ),
):
    register_acquisition(_info)
