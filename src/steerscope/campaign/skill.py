"""Model skill: whether the surrogate predicts the next measurements better than a constant.

Each model-chosen point was predicted before it was measured. Its squared error is
compared with that of the constant-mean baseline (the mean of every target measured
before the decision), prequentially: nothing is refitted, and the figure costs
nothing. Over the last ``window`` predicted points,

    skill = 1 − Σ (y − model mean)² / Σ (y − baseline mean)²,

1 is a perfect prediction, 0 no better than the constant, below 0 worse. Points a
model chose with an acquisition function are not a random sample (UCB goes where
the model expects the most), so the figure tells whether the model can be trusted
where it looks, which is the question while a campaign runs. A campaign whose skill
stays at or below 0 is lost: the patches do not predict the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["LOST_MESSAGE", "SKILL_WINDOW", "ModelSkill", "model_skill"]

SKILL_WINDOW = 10
"""Predicted points the running skill is taken over, and the fewest before a verdict."""

LOST_MESSAGE = (
    "the model predicts the last {n} measured targets no better than their running mean "
    "(skill {skill:+.2f}): the patches do not predict this target. Try a larger patch, more "
    "exploration (a higher beta), or a different descriptor; meanwhile the policy spends "
    "every second point on the least-covered part of the field."
)


@dataclass(frozen=True)
class ModelSkill:
    """The prequential skill of a campaign's model, point by point.

    Parameters
    ----------
    steps : ndarray of shape (n,)
        Step of each measured point, in measurement order.
    predicted : ndarray of shape (n,), bool
        Whether the model predicted the point before it was measured.
    squared_error : ndarray of shape (n,)
        ``(y − model mean)²``; NaN where not predicted.
    baseline_squared_error : ndarray of shape (n,)
        ``(y − mean of the earlier targets)²``; NaN where not predicted.
    running : ndarray of shape (n,)
        Skill over the last ``window`` predicted points up to each point; NaN until
        ``window`` points have been predicted.
    window : int
    """

    steps: NDArray[np.int64]
    predicted: NDArray[np.bool_]
    squared_error: NDArray[np.float64]
    baseline_squared_error: NDArray[np.float64]
    running: NDArray[np.float64]
    window: int = SKILL_WINDOW

    @property
    def current(self) -> float:
        """The running skill after the last point (NaN before ``window`` predictions)."""
        return float(self.running[-1]) if self.running.size else float("nan")

    @property
    def lost(self) -> bool:
        """True when the model has done no better than the constant over the last window."""
        return bool(np.isfinite(self.current) and self.current <= 0.0)

    @property
    def n_predicted(self) -> int:
        """How many measured points the model predicted first."""
        return int(self.predicted.sum())

    def message(self) -> str:
        """The operator's warning for a lost model."""
        return LOST_MESSAGE.format(n=self.window, skill=self.current)


def model_skill(
    steps: ArrayLike,
    predicted_mean: ArrayLike,
    targets: ArrayLike,
    *,
    window: int = SKILL_WINDOW,
) -> ModelSkill:
    """Prequential skill of the predictions made before each measurement.

    Parameters
    ----------
    steps : array_like of shape (n,)
        Step (decision) of each measured point, in measurement order; the baseline
        of a point is the mean of the targets measured at earlier steps.
    predicted_mean : array_like of shape (n,)
        The model's mean at the point when it was chosen; NaN where no model
        predicted it (seed points, points added by hand, random choices).
    targets : array_like of shape (n,)
        The measured targets (NaN where the spectrum gave none).
    window : int
        Predicted points per running figure (>= 2).

    Returns
    -------
    ModelSkill
    """
    step = np.asarray(steps, dtype=np.int64).reshape(-1)
    mean = np.asarray(predicted_mean, dtype=np.float64).reshape(-1)
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    if not (step.shape == mean.shape == y.shape):
        raise ValueError(
            f"steps, predicted_mean and targets must have one entry per measured point; got "
            f"{step.shape}, {mean.shape} and {y.shape}"
        )
    if int(window) < 2:
        raise ValueError(f"window must be an integer >= 2; got {window!r}")
    n, w = y.shape[0], int(window)
    finite = np.isfinite(y)
    # Baseline of point i: the mean of the finite targets measured at steps before step[i].
    order = np.argsort(step, kind="stable")
    sorted_steps = step[order]
    values = np.where(finite, y, 0.0)[order]
    sums = np.concatenate([[0.0], np.cumsum(values)])
    counts = np.concatenate([[0], np.cumsum(finite[order])])
    earlier = np.searchsorted(sorted_steps, step, side="left")
    n_earlier = counts[earlier]
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = sums[earlier] / n_earlier
    predicted = np.isfinite(mean) & finite & (n_earlier >= 2)
    err = np.where(predicted, (y - mean) ** 2, np.nan)
    base = np.where(predicted, (y - baseline) ** 2, np.nan)
    running = np.full(n, np.nan)
    at = np.flatnonzero(predicted)
    if at.size >= w:
        e = np.concatenate([[0.0], np.cumsum(err[at])])
        b = np.concatenate([[0.0], np.cumsum(base[at])])
        e_w, b_w = e[w:] - e[:-w], b[w:] - b[:-w]
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(b_w > 0, 1.0 - e_w / b_w, 0.0)
        # Each point carries the figure of the last window completed at or before it.
        filled = np.full(n, -1)
        filled[at[w - 1 :]] = np.arange(at.size - w + 1)
        filled = np.maximum.accumulate(filled)
        running = np.where(filled >= 0, value[np.clip(filled, 0, None)], np.nan)
    return ModelSkill(step, predicted, err, base, running, int(window))
