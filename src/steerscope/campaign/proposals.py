"""Model proposals as self-contained jobs, so they can be computed while the beam works.

:class:`ProposalJob` holds copies of everything one model proposal needs (the
training data, the points being measured now, the exclusions, the policy, the
surrogate to fit); :func:`compute_proposal` turns it into a
:class:`ComputedProposal` without touching the campaign, its record or its
history. The engine builds the job on its own thread and accepts the result
there; the pipeline (:mod:`~steerscope.campaign.pipeline`) runs the computation
on a worker thread in between, while the instrument acquires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.acquisition import (
    ScoringInputs,
    acquisition_info,
    score_candidates,
    select_points,
    space_filling_scores,
)
from steerscope.campaign.config import PolicyConfig
from steerscope.errors import ModelError
from steerscope.models.updating import CandidatePosterior

__all__ = [
    "EHVI_MIN_DISTANCE",
    "ComputedProposal",
    "PosteriorMemo",
    "Proposal",
    "ProposalJob",
    "batch_min_distance",
    "believed_variance",
    "choose_points",
    "compute_proposal",
    "nan_array",
    "phase_label",
    "short_path",
    "step_phases",
]

EHVI_MIN_DISTANCE = 2.0
"""Pixels between the points of one EHVI batch when the policy sets no ``min_distance``.

EHVI scores each candidate alone, so without a distance the q best of one batch
are neighbours that tell the model the same thing."""


def batch_min_distance(policy: PolicyConfig, q: int, spread: float = 0.0) -> float:
    """Pixels between the points of one batch.

    The policy's ``min_distance`` when set; otherwise EHVI's own default, or
    ``spread`` for a ``batch_size: auto`` batch (its points would otherwise be
    neighbours on the same peak of the acquisition, which tell the model the
    same thing), or 0.
    """
    if policy.min_distance > 0 or q <= 1:
        return float(policy.min_distance)
    if policy.acquisition == "ehvi":
        return EHVI_MIN_DISTANCE
    if policy.batch_size == "auto":
        return float(spread)
    return 0.0


def short_path(points: NDArray[np.int64], start: NDArray[np.int64] | None) -> NDArray[np.int64]:
    """The order ``(q,)`` that visits ``points`` ``(q, 2)`` along a short beam path.

    Greedy nearest neighbour from ``start`` (the last measured pixel; the first
    point when None): travel costs settling time on a real scan coil and lets
    drift build up between neighbours.
    """
    q = points.shape[0]
    if q <= 2 and start is None:
        return np.arange(q)
    left = list(range(q))
    here = points[0].astype(np.float64) if start is None else start.astype(np.float64)
    order: list[int] = []
    while left:
        d = np.linalg.norm(points[left].astype(np.float64) - here, axis=1)
        nxt = left.pop(int(np.argmin(d)))
        order.append(nxt)
        here = points[nxt].astype(np.float64)
    return np.asarray(order, dtype=np.int64)


def nan_array(n: int) -> NDArray[np.float64]:
    """``n`` NaNs: the prediction of a point no model chose."""
    return np.full(n, np.nan, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Proposal:
    """The next points and why they were chosen.

    Parameters
    ----------
    points : ndarray of shape (q, 2)
        Overview pixels ``(row, col)`` to measure next.
    predicted_mean, predicted_var, acquisition_value : ndarray of shape (q,)
        Posterior and acquisition score at each point (NaN for points not chosen
        by the model: seed, operator-added, or re-measured pending points).
    source : str
        ``"operator"`` (AddPoints), ``"seed"``, ``"model"``, ``"random"`` (the
        model could not be used yet), ``"no_model"`` (an acquisition that needs
        no model, random or raster: nothing was fitted), ``"pending"`` (re-measuring a decision
        whose spectra were lost when the previous run stopped) or ``"queue"``
        (the next points of the last model's ranking, taken while a slow refit
        would otherwise have left the beam waiting).
    timings : dict of str to float
        Seconds spent: ``fit_s``, ``posterior_s``, ``acquisition_s``.
    objective_mean, objective_var : ndarray of shape (q, k) or None
        Multi-objective campaigns: the posterior of every objective at each point
        (``predicted_mean``/``predicted_var`` then hold objective 0's); None otherwise.
    conditioned_on : dict
        What the choice knew: ``n_measured`` (spectra told to the model),
        ``last_measurement_id``, ``pending_points`` (points being measured, believed
        at their predicted mean), ``model_version``, ``revision`` (the campaign's
        intervention count). Written into the decision's model JSON.
    """

    points: NDArray[np.int64]
    predicted_mean: NDArray[np.float64]
    predicted_var: NDArray[np.float64]
    acquisition_value: NDArray[np.float64]
    source: str
    timings: dict[str, float] = field(default_factory=dict)
    objective_mean: NDArray[np.float64] | None = None
    objective_var: NDArray[np.float64] | None = None
    conditioned_on: dict[str, Any] = field(default_factory=dict)

    @property
    def revision(self) -> int:
        """The campaign revision the proposal was computed under (-1 if unknown)."""
        return int(self.conditioned_on.get("revision", -1))

    @classmethod
    def unscored(
        cls, points: NDArray[np.int64], source: str, conditioned_on: dict[str, Any]
    ) -> Proposal:
        """Points chosen without a model (seed, operator, pending): NaN predictions."""
        n = points.shape[0]
        return cls(
            points, nan_array(n), nan_array(n), nan_array(n), source, conditioned_on=conditioned_on
        )


class PosteriorMemo:
    """The last posterior over every candidate and the key of the fit that made it."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.value: tuple[Any, Any] | None = None


@dataclass(frozen=True, eq=False)
class ProposalJob:
    """Everything one model proposal needs, copied off the campaign.

    Parameters
    ----------
    q : int
        Points to choose.
    surrogate : object
        The model to fit (only the job's computation touches it while it runs).
    features : ndarray of shape (M, d)
        Descriptors of every candidate.
    pixels : ndarray of shape (M, 2)
        The candidates' overview pixels.
    train_index : ndarray of shape (n,)
        Candidate index of each measured point with finite targets.
    targets : ndarray of shape (n,) or (n, k)
        Their targets (one column per objective when multi-objective).
    pending_index : ndarray of shape (p,)
        Candidate index of each point being measured now.
    exclude : ndarray of shape (e, 2)
        Pixels not to choose (measured, vetoed, in flight).
    no_go : ndarray of bool, shape (H, W)
        The no-go mask.
    policy : PolicyConfig
        The policy in force.
    multi_objective : bool
        Whether ``targets`` has one column per objective.
    rng : numpy.random.Generator
        Random numbers for a random choice and for stochastic acquisitions.
    cache_key : tuple
        Identifies the fit: the same key reuses the posterior kept in ``memo``.
    conditioned_on : dict
        See :attr:`Proposal.conditioned_on`.
    memo : PosteriorMemo
        The campaign's last posterior (written by the computation only).
    min_train : int
        Fewest finite targets the model is fitted on (a GP needs two to say
        anything about variance).
    spread : float
        Pixels between the points of an automatic batch (see :func:`batch_min_distance`).
    start : ndarray of shape (2,) or None
        Where the beam is (the last measured pixel): a batch is ordered as a
        short path from there (:func:`short_path`).
    explore : bool
        Choose the least-covered points (:func:`~steerscope.acquisition.space_filling_scores`)
        instead of the acquisition's, still recording the model's prediction there
        (the campaign's model is lost, see :mod:`steerscope.campaign.skill`).
    """

    q: int
    surrogate: Any
    features: NDArray[np.float32]
    pixels: NDArray[np.int64]
    train_index: NDArray[np.int64]
    targets: NDArray[np.float64]
    pending_index: NDArray[np.int64]
    exclude: NDArray[np.int64]
    no_go: NDArray[np.bool_]
    policy: PolicyConfig
    multi_objective: bool
    rng: np.random.Generator
    cache_key: tuple[Any, ...]
    conditioned_on: dict[str, Any]
    memo: PosteriorMemo
    min_train: int = 2
    spread: float = 0.0
    start: NDArray[np.int64] | None = None
    explore: bool = False


@dataclass(frozen=True, eq=False)
class ComputedProposal:
    """A computed job: the proposal and what the engine keeps from it.

    Parameters
    ----------
    job : ProposalJob
        The job it answers.
    proposal : Proposal
        The chosen points.
    posterior : tuple of (mean (M, k), var (M, k), scores (M,)) or None
        Over every candidate; None when the model was not used.
    fit_info : dict
        The surrogate's ``last_fit_info``.
    messages : list of (kind, text)
        Events to log (a model that could not be used).
    seconds : float
        Wall time of the computation.
    updater : CandidatePosterior or None
        The fit's posterior over every candidate, conditioned on the job's
        training data only (not its points in flight), handed to the owner to
        update without refitting; None when not fitted or not a single-target GP.
    """

    job: ProposalJob
    proposal: Proposal
    posterior: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None
    fit_info: dict[str, Any]
    messages: list[tuple[str, str]]
    seconds: float
    updater: CandidatePosterior | None = None


def compute_proposal(job: ProposalJob) -> ComputedProposal:
    """Fit, predict every candidate, score and select: the job's ``q`` best allowed points.

    One path for one and for several targets: the posterior is ``(M,)`` or
    ``(M, k)``, and the acquisition (from the registry) receives exactly the
    policy fields it declares. Points in flight are believed at their predicted
    mean (kriging believer) so the choice moves away from them. Asking again
    with the same training data and points in flight (e.g. after a policy
    change) reuses the posterior: only the acquisition changes, and no refit
    drifts the model in between. Before the model can be fitted, or when it
    fails, the points are random and a message says why.

    Parameters
    ----------
    job : ProposalJob

    Returns
    -------
    ComputedProposal
    """
    start = time.perf_counter()
    if not acquisition_info(job.policy.acquisition).needs_model:
        return _model_free_proposal(job, start)
    messages: list[tuple[str, str]] = []
    fitted = None
    if job.train_index.shape[0] >= job.min_train:
        fitted = _fit_posterior(job, messages)
    pixels = job.pixels
    if fitted is None:
        noise = job.rng.random(pixels.shape[0])
        idx = select_points(noise, pixels, job.q, exclude=job.exclude, no_go=job.no_go)
        n = idx.shape[0]
        proposal = Proposal(
            pixels[idx].copy(),
            nan_array(n),
            nan_array(n),
            nan_array(n),
            "random",
            {"fit_s": 0.0, "posterior_s": 0.0, "acquisition_s": 0.0},
            conditioned_on=job.conditioned_on,
        )
        info = dict(getattr(job.surrogate, "last_fit_info", {}) or {})
        return ComputedProposal(job, proposal, None, info, messages, time.perf_counter() - start)
    mean, var, fit_s, posterior_s, updater = fitted
    believed = None if updater is None else believed_variance(updater, job.pending_index)
    proposal, scores = choose_points(
        job, mean, var, fit_s=fit_s, posterior_s=posterior_s, believed_var=believed
    )
    m = pixels.shape[0]
    mean_2d = np.asarray(mean, np.float64).reshape(m, -1)
    var_2d = np.asarray(var, np.float64).reshape(m, -1)
    info = dict(getattr(job.surrogate, "last_fit_info", {}) or {})
    return ComputedProposal(
        job,
        proposal,
        (mean_2d, var_2d, scores),
        info,
        messages,
        time.perf_counter() - start,
        updater,
    )


def choose_points(
    job: ProposalJob,
    mean: NDArray[np.float64],
    var: NDArray[np.float64],
    *,
    fit_s: float = 0.0,
    posterior_s: float = 0.0,
    believed_var: Callable[[NDArray[np.int64]], NDArray[np.float64]] | None = None,
) -> tuple[Proposal, NDArray[np.float64]]:
    """Score every candidate from a posterior and select the job's ``q`` points.

    Parameters
    ----------
    job : ProposalJob
    mean, var : ndarray of shape (M,) or (M, k)
        The posterior over every candidate (with the points in flight believed).
    fit_s, posterior_s : float
        Seconds the posterior took, for the proposal's timings.
    believed_var : callable, optional
        Candidate indices ``(p,)`` → the variance ``(M,)`` with them (and the
        job's points in flight) believed: what a ``believer`` batch needs. None:
        the job's surrogate, which must then not be training on another thread.

    Returns
    -------
    proposal : Proposal
    scores : ndarray of shape (M,)
        The acquisition over every candidate (the least-covered score when exploring).
    """
    t3 = time.perf_counter()
    policy = job.policy
    pixels = job.pixels
    Y_measured = job.targets.reshape(job.targets.shape[0], -1)
    inputs = ScoringInputs(Y_measured=Y_measured, rng=job.rng, pixels=pixels)
    scored = score_candidates(policy.acquisition, mean, var, inputs, dict(policy))
    scores: NDArray[np.float64] = np.asarray(scored, np.float64)
    source = "model"
    if job.explore and not job.multi_objective:
        scores, source = space_filling_scores(pixels, job.exclude), "explore"
    if job.q > 1 and policy.batch_diversity == "believer" and source == "model":
        idx = _believer_batch(job, mean, scores, inputs, believed_var or _surrogate_var(job))
    else:
        min_distance = batch_min_distance(policy, job.q, job.spread)
        idx = select_points(
            scores, pixels, job.q, exclude=job.exclude, no_go=job.no_go, min_distance=min_distance
        )
    if idx.shape[0] > 1:
        idx = idx[short_path(pixels[idx], job.start)]
    t4 = time.perf_counter()
    m = pixels.shape[0]
    mean_2d = np.asarray(mean, np.float64).reshape(m, -1)
    var_2d = np.asarray(var, np.float64).reshape(m, -1)
    several = job.multi_objective
    proposal = Proposal(
        pixels[idx].copy(),
        mean_2d[idx, 0],
        var_2d[idx, 0],
        scores[idx],
        source,
        {"fit_s": fit_s, "posterior_s": posterior_s, "acquisition_s": t4 - t3},
        objective_mean=mean_2d[idx] if several else None,
        objective_var=var_2d[idx] if several else None,
        conditioned_on=job.conditioned_on,
    )
    return proposal, scores


def _model_free_proposal(job: ProposalJob, start: float) -> ComputedProposal:
    """Points of an acquisition that ignores the posterior (random, raster): no fit at all."""
    pixels = job.pixels
    zeros = np.zeros(pixels.shape[0], dtype=np.float64)
    Y_measured = job.targets.reshape(job.targets.shape[0], -1)
    inputs = ScoringInputs(Y_measured=Y_measured, rng=job.rng, pixels=pixels)
    t0 = time.perf_counter()
    scores = np.asarray(
        score_candidates(job.policy.acquisition, zeros, zeros, inputs, dict(job.policy)),
        np.float64,
    )
    min_distance = batch_min_distance(job.policy, job.q, job.spread)
    idx = select_points(
        scores, pixels, job.q, exclude=job.exclude, no_go=job.no_go, min_distance=min_distance
    )
    if idx.shape[0] > 1:
        idx = idx[short_path(pixels[idx], job.start)]
    n = idx.shape[0]
    proposal = Proposal(
        pixels[idx].copy(),
        nan_array(n),
        nan_array(n),
        scores[idx],
        "no_model",
        {"fit_s": 0.0, "posterior_s": 0.0, "acquisition_s": time.perf_counter() - t0},
        conditioned_on=job.conditioned_on,
    )
    return ComputedProposal(job, proposal, None, {}, [], time.perf_counter() - start)


def believed_variance(
    updater: CandidatePosterior, pending_index: NDArray[np.int64]
) -> Callable[[NDArray[np.int64]], NDArray[np.float64]]:
    """Candidate indices → the variance with them and ``pending_index`` believed."""

    def believed(index: NDArray[np.int64]) -> NDArray[np.float64]:
        return updater.mean_var(np.concatenate([pending_index, index]))[1]

    return believed


def _surrogate_var(job: ProposalJob) -> Callable[[NDArray[np.int64]], NDArray[np.float64]]:
    """The job's surrogate's variance with candidates believed (and the points in flight)."""

    def believed(index: NDArray[np.int64]) -> NDArray[np.float64]:
        pending = np.concatenate([job.pending_index, index])
        _, var = job.surrogate.posterior(job.features, pending=job.features[pending])
        return np.asarray(var, np.float64)

    return believed


def _believer_batch(
    job: ProposalJob,
    mean: NDArray[np.float64],
    scores: NDArray[np.float64],
    inputs: ScoringInputs,
    believed_var: Callable[[NDArray[np.int64]], NDArray[np.float64]],
) -> NDArray[np.int64]:
    """``q`` points chosen one at a time, each earlier one believed at its predicted mean.

    The believed points leave the posterior mean where it is and shrink the
    variance around them, so the next choice goes where the model is still
    uncertain instead of next door (kriging believer). Costs one posterior over
    the candidates per point.
    """
    policy = job.policy
    chosen: list[int] = []
    current = scores
    for _ in range(job.q):
        exclude = job.exclude
        if chosen:
            exclude = np.concatenate([exclude, job.pixels[chosen]])
        (best,) = select_points(current, job.pixels, 1, exclude=exclude, no_go=job.no_go)
        chosen.append(int(best))
        if len(chosen) == job.q:
            break
        var = believed_var(np.asarray(chosen, dtype=np.int64))
        scored = score_candidates(policy.acquisition, mean, var, inputs, dict(policy))
        current = np.asarray(scored, np.float64)
    return np.asarray(chosen, dtype=np.int64)


def _fit_posterior(
    job: ProposalJob, messages: list[tuple[str, str]]
) -> tuple[Any, Any, float, float, CandidatePosterior | None] | None:
    """Fit on the job's training data, predict every candidate; None (and a message) if it fails.

    A single-target GP surrogate also hands back its :class:`CandidatePosterior`
    (built from the same pass over the candidates), which the owner updates
    with the spectra that arrive before the next fit.
    """
    memo = job.memo
    X = job.features[job.train_index]
    pending = job.features[job.pending_index] if job.pending_index.shape[0] else None
    updater = None
    try:
        t0 = time.perf_counter()
        if memo.key == job.cache_key and memo.value is not None:
            mean, var = memo.value
            t1 = t2 = t0
        else:
            if getattr(job.surrogate, "needs_pretraining", False):
                job.surrogate.pretrain(job.features)  # once: every candidate, no labels
            job.surrogate.fit(X, job.targets)
            t1 = time.perf_counter()
            if not job.multi_objective and hasattr(job.surrogate, "cache_"):
                updater = CandidatePosterior.from_fit(job.surrogate, job.features)
            if updater is not None:
                mean, var = updater.mean_var(job.pending_index)
            elif pending is None:
                mean, var = job.surrogate.posterior(job.features)
            else:
                mean, var = job.surrogate.posterior(job.features, pending=pending)
            t2 = time.perf_counter()
            memo.key, memo.value = job.cache_key, (mean, var)
    except ModelError as exc:
        messages.append(("model_error", f"the model could not be used ({exc}); choosing randomly"))
        return None
    return mean, var, t1 - t0, t2 - t1, updater


def phase_label(source: str, policy: dict[str, Any]) -> str:
    """What chose a measured point, in the operator's words, for its colour on the overview.

    Parameters
    ----------
    source : str
        The decision's :attr:`Proposal.source`.
    policy : dict
        The policy in force at that decision (``acquisition``, ``beta``).

    Returns
    -------
    str
        ``"seed point"``, ``"added by hand"``, ``"UCB β 0.25"`` (one label per
        acquisition and beta regime), ``"last ranking (slow refit)"``, ...
    """
    if source == "model":
        name = str(policy.get("acquisition", "model"))
        beta = policy.get("beta")
        if name == "ucb" and isinstance(beta, int | float):
            return f"UCB β {beta:g}"
        return name.upper() if len(name) <= 4 else name.replace("_", " ")
    return {
        "seed": "seed point",
        "operator": "added by hand",
        "random": "random (no model yet)",
        "no_model": f"{policy.get('acquisition', 'random')} (no model)",
        "queue": "last ranking (slow refit)",
        "explore": "least covered (model lost)",
        "pending": "re-measured after a restart",
    }.get(source, source or "measured")


def step_phases(decisions: Any) -> dict[int, str]:
    """``step -> phase_label`` of recorded decisions (a record's ``decisions()``)."""
    return {int(d.step): phase_label(str(d.policy.get("source", "")), d.policy) for d in decisions}
