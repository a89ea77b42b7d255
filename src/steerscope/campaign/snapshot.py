"""Immutable views of a running campaign, for any number of observers.

The runner builds a new :class:`CampaignSnapshot` after every step or change
and swaps one reference; observers (UI tabs, the CLI) read it without locks.
Arrays in a snapshot are read-only copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["CampaignSnapshot", "EventView", "SnapshotStatus", "frozen_array", "frozen_or_none"]

SnapshotStatus = Literal["idle", "running", "paused", "stopped", "finished", "error"]


def frozen_array(values: Any, dtype: Any = None) -> NDArray[Any]:
    """A read-only copy of ``values``."""
    arr = np.array(values, dtype=dtype, copy=True)
    arr.flags.writeable = False
    return arr


def frozen_or_none(values: Any, dtype: Any = None) -> NDArray[Any] | None:
    """:func:`frozen_array`, or None when ``values`` is None."""
    return None if values is None else frozen_array(values, dtype)


@dataclass(frozen=True)
class EventView:
    """One line of the campaign's log.

    Parameters
    ----------
    step : int
        Step index at which it happened.
    time : float
        Unix time.
    kind : str
        ``"intervention"``, ``"intervention_rejected"``, ``"skipped_target"``,
        ``"instrument_error"``, ``"status"``, ...
    text : str
        What a person reads.
    """

    step: int
    time: float
    kind: str
    text: str


@dataclass(frozen=True, eq=False)
class CampaignSnapshot:
    """What the campaign looks like now.

    Parameters
    ----------
    status : {"idle", "running", "paused", "stopped", "finished", "error"}
        What the runner is doing.
    reason : str
        Why it is paused, stopped or in error ("" otherwise).
    step : int
        Index of the next step (= steps done so far).
    budget : int
        Spectra to acquire in total.
    n_measured : int
        Spectra acquired so far.
    overview : ndarray of shape (H, W)
        The overview image.
    pixel_size, pixel_units : float, str
        Size of one overview pixel (scale bars, axes in length).
    measured_steps : ndarray of shape (n,)
        The step that measured each point (to place the interventions on history plots).
    measured_phases : tuple of str
        What chose each measured point, shape ``(n,)``: ``"seed point"``, ``"added by
        hand"``, ``"UCB β 0.25"`` (one per acquisition and beta regime), ...
    vetoed_points : ndarray of shape (v, 2)
        Pixels the operator forbade (VetoPoints), never to be measured.
    measured_points : ndarray of shape (n, 2)
        Measured pixels ``(row, col)``, in acquisition order.
    targets : ndarray of shape (n,)
        Their targets under the scalarizer in force (NaN where not finite).
    next_points : ndarray of shape (q, 2)
        Points chosen and not measured yet: the spectrum in flight and the rest of its
        batch (or, when none, the operator-added points waiting their turn).
    ahead_points : ndarray of shape (p, 2)
        The proposal already computed for the beam's move after those (empty while it
        is being computed or when none is due).
    mean_map, std_map, acquisition_map : ndarray of shape (H, W) or None
        Posterior mean, standard deviation and acquisition score on the overview
        grid, from the last model step (None before it).
    ground_truth : ndarray of shape (H, W) or None
        The dataset's ground truth, when the source is a built-in dataset.
    model_skill : ndarray of shape (n,)
        The model skill after each measured point (:mod:`steerscope.campaign.skill`:
        1 − the model's squared error over that of the running mean, last 10 predicted
        points; at or below 0 the model is lost); NaN before a verdict.
    discovery : list of (int, float)
        ``(n_measured, fraction of top-1 % ground-truth pixels found within 2 px)``; for a
        multi-objective campaign on a built-in dataset, ``(n_measured, hypervolume of the
        measured points / hypervolume of every pixel of the dataset)``.
    step_timings : list of dict
        One dict of seconds per step (fit, posterior, acquisition, instrument, record,
        beam wait).
    events : tuple of EventView
        The campaign log, oldest first.
    policy, scalarizer, descriptor : dict
        Settings in force (with their version counters).
    record_path : str
        Path of the campaign record.
    queued : tuple of str
        Interventions posted and not applied yet, each in one line for the
        operator (``"beta 0.25 → 1"``); shown the moment they are posted.
    beam_idle : float
        Fraction of the time since the runner started that the beam was not
        acquiring (NaN before two acquisitions).
    objectives : ndarray of shape (n, k) or None
        Multi-objective campaigns: every objective of the measured points (``targets``
        is column 0); None for a single target.
    pareto_mask : ndarray of shape (n,) or None
        Multi-objective campaigns: True for measured points on the Pareto front.
    hypervolume_history : list of (int, float)
        ``(n_measured, hypervolume)`` after each step, above ``reference_point``
        (empty for a single target and until the reference point is fixed).
    reference_point : ndarray of shape (k,) or None
        The fixed hypervolume reference point.
    objective_labels : tuple of str
        Label of each objective.
    proposals : tuple of dict
        Changes proposed by an assistant (:meth:`CampaignRunner.propose`) and waiting for
        the operator, oldest first: ``{"id", "text", "by", "reason"}`` each. None takes
        effect before the operator approves it.
    votes : tuple of (int, str)
        The operator's verdicts on measured spectra, ``(measurement index, "good" or
        "bad")`` in index order (:class:`~steerscope.campaign.interventions.Vote`).
    comparison : (int, int) or None
        Under a preference target, the two measured spectra (indices) the operator is
        asked to compare next (:meth:`~steerscope.campaign.Campaign.next_comparison`).
    n_comparisons : int
        The operator's judgements so far (:class:`~steerscope.campaign.interventions.Compare`).
    """

    status: SnapshotStatus
    reason: str
    step: int
    budget: int
    n_measured: int
    overview: NDArray[np.float32]
    measured_points: NDArray[np.int64]
    targets: NDArray[np.float64]
    next_points: NDArray[np.int64]
    ahead_points: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    pixel_size: float = 1.0
    pixel_units: str = "nm"
    measured_steps: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    measured_phases: tuple[str, ...] = ()
    vetoed_points: NDArray[np.int64] = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    mean_map: NDArray[np.float64] | None = None
    std_map: NDArray[np.float64] | None = None
    acquisition_map: NDArray[np.float64] | None = None
    ground_truth: NDArray[np.float64] | None = None
    model_skill: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, np.float64))
    discovery: list[tuple[int, float]] = field(default_factory=list)
    step_timings: list[dict[str, float]] = field(default_factory=list)
    events: tuple[EventView, ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)
    scalarizer: dict[str, Any] = field(default_factory=dict)
    descriptor: dict[str, Any] = field(default_factory=dict)
    record_path: str = ""
    queued: tuple[str, ...] = ()
    beam_idle: float = float("nan")
    objectives: NDArray[np.float64] | None = None
    pareto_mask: NDArray[np.bool_] | None = None
    hypervolume_history: list[tuple[int, float]] = field(default_factory=list)
    reference_point: NDArray[np.float64] | None = None
    objective_labels: tuple[str, ...] = ()
    proposals: tuple[dict[str, Any], ...] = ()
    votes: tuple[tuple[int, str], ...] = ()
    comparison: tuple[int, int] | None = None
    n_comparisons: int = 0

    @property
    def is_multi_objective(self) -> bool:
        """Whether the campaign optimises several targets at once."""
        return self.objectives is not None

    @property
    def best_target(self) -> float:
        """Largest finite target so far (NaN if none)."""
        finite = self.targets[np.isfinite(self.targets)]
        return float(finite.max()) if finite.size else float("nan")
