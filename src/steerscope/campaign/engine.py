"""The campaign loop: ask → decide → acquire → tell, one durable step at a time.

:class:`Campaign` drives one experiment. Each :meth:`Campaign.step` asks for the
next points, records the decision, acquires the spectra and records them
*before* the next beam move, so a campaign killed at any moment resumes from its
record with :meth:`Campaign.resume`, losing nothing it measured. Interventions
are applied in one place, :meth:`Campaign.apply`.

The loop delegates each other job to its own piece: where spectra come from
(:mod:`~steerscope.campaign.sources`), the measured history
(:mod:`~steerscope.campaign.history`), the target in force
(:mod:`~steerscope.campaign.targets`), where the beam may go
(:mod:`~steerscope.campaign.candidates`) and the Pareto bookkeeping
(:mod:`~steerscope.campaign.pareto`).

The engine is not thread-safe: one thread (the :class:`CampaignRunner`'s, or
the caller's) drives it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import ValidationError

from steerscope.acquisition import acquisition_info, select_points
from steerscope.campaign.candidates import Candidates, safety_no_go, source_notes
from steerscope.campaign.config import (
    AUTO_BATCH_MAX,
    CampaignConfig,
    InstanceSource,
    ListSeeds,
    PolicyConfig,
    load_config,
)
from steerscope.campaign.history import MeasuredHistory, as_points
from steerscope.campaign.interventions import (
    CONTROL_KINDS,
    CONTROLS,
    AddNoGoRegion,
    AddPoints,
    Compare,
    Intervention,
    SetBudget,
    SetDescriptor,
    SetPolicy,
    SetScalarizer,
    VetoPoints,
    Vote,
    describe_change,
    intervention_from_dict,
)
from steerscope.campaign.pareto import HypervolumeReference, ParetoTracker, pareto_mask
from steerscope.campaign.proposals import (
    ComputedProposal,
    PosteriorMemo,
    Proposal,
    ProposalJob,
    believed_variance,
    choose_points,
    compute_proposal,
    nan_array,
    phase_label,
    step_phases,
)
from steerscope.campaign.skill import ModelSkill, model_skill
from steerscope.campaign.snapshot import EventView
from steerscope.campaign.sources import (
    acquire_at_dwell,
    acquire_timed,
    build_instrument,
    default_record_path,
)
from steerscope.campaign.targets import Targets
from steerscope.descriptors import DescriptorSpec
from steerscope.errors import (
    AcquisitionError,
    ConfigError,
    DescriptorError,
    ModelError,
    SteerscopeError,
)
from steerscope.instruments.base import Microscope, can_set_dwell
from steerscope.instruments.safety import SafeMicroscope, SafetyLimits
from steerscope.models import MultiObjectiveSurrogate, make_surrogate
from steerscope.models.spec import check_buildable
from steerscope.models.updating import CandidatePosterior
from steerscope.records import CampaignRecord
from steerscope.records.schema import json_plain
from steerscope.types import EnergyAxis, Measurement, Overview

__all__ = ["Campaign", "Proposal", "StepResult", "build_instrument", "default_record_path"]

logger = logging.getLogger(__name__)

_MODEL_SOURCES = ("model", "explore")  # decisions whose points the model predicted first
_MIN_TRAIN = 2  # a GP needs at least two finite targets to say anything about variance
_AUTO_MIN_DECISIONS = 20  # an automatic batch takes at most 1/20 of the budget
AUTO_BUSY = 0.9
"""The share of the time ``batch_size: auto`` keeps an updated pipeline's beam acquiring."""


@dataclass(frozen=True, eq=False)
class StepResult:
    """What one :meth:`Campaign.step` did.

    Parameters
    ----------
    step : int
        Step index.
    points : ndarray of shape (q, 2)
        Measured pixels.
    targets : ndarray of shape (q,)
        Their targets under the scalarizer in force.
    best : float
        Best finite target of the whole campaign so far.
    source : str
        See :attr:`Proposal.source`.
    timings : dict of str to float
        ``fit_s``, ``posterior_s``, ``acquisition_s``, ``record_s``, ``instrument_s``,
        ``total_s``.
    """

    step: int
    points: NDArray[np.int64]
    targets: NDArray[np.float64]
    best: float
    source: str
    timings: dict[str, float]


def best_dwell(
    variance: ArrayLike, noise: float, ladder: ArrayLike, overhead_s: float
) -> NDArray[np.float64]:
    """The dwell of ``ladder`` that removes the most variance per second at each point.

    Measuring for ``t`` seconds adds a target whose noise variance is ``noise / t``;
    a variance ``v`` then falls by ``v² / (v + noise / t)``, which costs ``t +
    overhead_s`` seconds.

    Parameters
    ----------
    variance : array_like of shape (q,)
        The variance to beat at each point (> 0): the measured targets' spread, or the
        model's posterior there.
    noise : float
        Counting-noise variance of the target times the dwell (> 0).
    ladder : array_like of shape (L,)
        Dwells to choose from, seconds.
    overhead_s : float
        Time per point that is not exposure, seconds.

    Returns
    -------
    ndarray of shape (q,)
    """
    v = np.asarray(variance, dtype=np.float64)[:, None]
    t = np.asarray(ladder, dtype=np.float64)[None, :]
    gain = v**2 / (v + noise / t) / (t + overhead_s)
    return np.asarray(ladder, dtype=np.float64)[np.argmax(gain, axis=1)]


class Campaign:
    """One automated experiment: instrument + record + descriptors + surrogate + policy.

    Build it with :meth:`create` (new record) or :meth:`resume` (existing
    record), not with the constructor.

    Parameters
    ----------
    config : CampaignConfig
        The configuration in force (its scalarizer resolved).
    instrument : Microscope
        Where spectra come from.
    record : CampaignRecord
        Where everything is written.
    overview : Overview
        The overview the campaign runs on (the record's).
    dataset : Dataset or None
        The built-in dataset behind a simulated instrument (for ground truth).

    Attributes
    ----------
    config : CampaignConfig
        The configuration in force, including every intervention applied so far.
    versions : dict of str to int
        ``policy``, ``scalarizer``, ``descriptor``, ``model`` counters, each bumped
        by an intervention that changes it.
    events : list of EventView
        The campaign log.
    last_posterior : tuple of (mean, var, scores) or None
        Over all candidates ``(M,)`` each, from the last model-driven ask (objective
        0's mean and variance in a multi-objective campaign).
    last_objective_posterior : tuple of (mean, var) or None
        Multi-objective campaigns: ``(M, k)`` each, from the last model-driven ask.
    in_flight : bool
        Set by the pipeline while the pending decision is being acquired (its
        points are then not dropped by a veto: they are measured and recorded).
    revision : int
        Interventions applied so far; a proposal made under an older one is superseded.
    compute_seconds : list of float
        Wall time of the last five model proposals (fit, posterior, acquisition):
        what ``batch_size: auto`` and the pipeline's stall rule compare with.
    """

    def __init__(
        self,
        config: CampaignConfig,
        instrument: Microscope,
        record: CampaignRecord,
        overview: Overview,
        dataset: Any = None,
    ) -> None:
        if config.scalarizer is None:
            raise ConfigError(
                "the campaign has no scalarizer: a file or remote source has no default target; "
                "set `scalarizer:` in the config, e.g. {kind: window_sum, window: [1.0, 1.6]}."
            )
        self.config = config
        self.instrument = instrument
        self.record = record
        self.overview = overview
        self.dataset = dataset
        self.versions = {"policy": 0, "scalarizer": 0, "descriptor": 0, "model": 0}
        self.events: list[EventView] = []
        self.last_posterior: tuple[NDArray[Any], NDArray[Any], NDArray[Any]] | None = None
        self.last_objective_posterior: tuple[NDArray[Any], NDArray[Any]] | None = None
        self.last_fit_info: dict[str, Any] = {}
        self.step_timings: list[dict[str, float]] = []

        self._rng = np.random.default_rng(config.seed)
        self.history = MeasuredHistory()
        self._targets = Targets(config.scalarizer, self._log)
        self._targets.per_second = config.policy.dwell is not None
        self.candidates = Candidates(overview.image, config.descriptor)
        self._pareto = ParetoTracker(record, getattr(dataset, "image", None), self._log)
        self._init_safety()
        self._forced: list[tuple[int, int]] = []
        self._pending: tuple[int | None, int, NDArray[np.int64]] | None = None
        self._dwell_of: dict[tuple[int, int], float] = {}  # chosen dwell of a pending point
        self._noise_per_second: tuple[Any, float | None] | None = None
        self._step_phases: dict[int, str] = {}  # step -> what chose its points (phase_label)
        # pixel -> (the model's mean there when it chose it, scalarizer version): model skill
        self._predicted_at: dict[tuple[int, int], tuple[float, int]] = {}
        self._lost = False  # the model skill's verdict, logged when it changes
        self._explored_last = False  # the last model decision chose the least-covered point
        self._step = 0
        self._started_at = time.time()
        self._followups: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self._memo = PosteriorMemo()
        self.revision = 0
        self.last_ranking: NDArray[np.float64] | None = None
        self.in_flight = False
        self.pipelined = False  # a Pipeline drives it (batch_size auto batches only then)
        self.compute_seconds: list[float] = []
        self.update_seconds: list[float] = []
        self._ranked_at = 0
        # the last fit's posterior over every candidate, kept up to date without refitting
        # (see update_proposal): (model version, history rows its fit saw, rows it has
        # seen since by update, the posterior)
        self._updater: tuple[int, int, int, CandidatePosterior] | None = None
        self._surrogate: Any = self._make_model()
        self._seeds = self.candidates.seed_points(config.seed_points, config.seed)
        self._check_dwell_choice(config.policy)

    def _check_dwell_choice(self, policy: PolicyConfig) -> None:
        """Refuse ``policy.dwell`` on an instrument that cannot change its dwell."""
        if policy.dwell is None:
            return
        if not can_set_dwell(self.instrument):
            inner = getattr(self.instrument, "inner", self.instrument)
            raise ConfigError(
                f"policy.dwell lets the engine choose each point's dwell, but this instrument "
                f"({type(inner).__name__}) cannot change its dwell between points (the "
                "simulators and the Nion, AutoScript and Gatan drivers can); remove "
                "policy.dwell to measure every point at its dwell"
            )

    # -- construction -------------------------------------------------------------------

    def _init_safety(self) -> None:
        """Fold the safety limits into the no-go mask; pin a SafeMicroscope to this overview.

        The engine never proposes a point the safety layer would refuse for its
        position: ``no_go_rects``, pixels outside ``allowed_region`` and outside
        ``field_of_view_shape`` join the engine's no-go mask. The limits come from
        the config's ``safety`` section and from the instrument's own description at
        creation (a ``steerscope serve`` with ``limits=`` reports them), so a
        server's position limits are avoided too.
        """
        found: list[SafetyLimits] = []
        if self.config.safety is not None:
            found.append(self.config.safety)
        reported = self.record.instrument().get("safety")
        if isinstance(reported, dict) and isinstance(reported.get("limits"), dict):
            with contextlib.suppress(ValidationError):  # a description from another version
                found.append(SafetyLimits.model_validate(reported["limits"]))
        for limits in found:
            self.candidates.no_go |= safety_no_go(limits, self.shape)
        if isinstance(self.instrument, SafeMicroscope):
            limits = self.instrument.limits
            if limits.field_of_view_shape is None:
                # points are pixels of *this* overview; after a resume the wrapper has not
                # seen it, so give it the shape instead of asking the driver
                self.instrument.limits = limits.model_copy(
                    update={"field_of_view_shape": self.shape}
                )

    @classmethod
    def create(
        cls,
        config: CampaignConfig | dict[str, Any] | str | Path,
        record_path: str | Path | None,
        *,
        instrument: Microscope | None = None,
    ) -> Campaign:
        """Start a new campaign: build the instrument, take the overview, create the record.

        Parameters
        ----------
        config : CampaignConfig, dict, or path of a YAML file
            See :func:`~steerscope.campaign.load_config`.
        record_path : str, Path or None
            The new record file (must not exist); None: a fresh name under
            ``config.records_dir``.
        instrument : Microscope, optional
            A microscope object to run on instead of the config's source (a driver
            living in this process, e.g. ``NionMicroscope`` inside Nion Swift). The
            recorded config then says ``source: {instance: <class name>}``, the
            config needs a ``scalarizer``, ``safety`` limits still apply, and the
            campaign owns the object from now on (it closes it). Resume such a
            campaign with ``Campaign.resume(path, instrument=...)``.

        Returns
        -------
        Campaign

        Raises
        ------
        ConfigError, RecordError, InstrumentError, DataError
            For a bad config, an existing record file, an unreachable instrument,
            or an unreadable source.
        """
        cfg = load_config(config)
        if instrument is not None and not isinstance(cfg.source, InstanceSource):
            label = InstanceSource(instance=type(instrument).__name__)
            cfg = cfg.model_copy(update={"source": label})
        instrument, dataset = build_instrument(cfg, instrument)
        try:
            if cfg.scalarizer is None and dataset is not None:
                cfg = cfg.with_scalarizer(dataset.default_scalarizer)
            if cfg.scalarizer is None:
                raise ConfigError(
                    "the campaign has no scalarizer: a file or remote source has no default "
                    "target; set `scalarizer:` in the config, e.g. {kind: window_sum, "
                    "window: [1.0, 1.6]}."
                )
            overview = instrument.overview()
            _check_budget_fits(cfg.budget.measurements, overview.image.shape)
            _check_seeds_fit(cfg)
            try:
                check_buildable(cfg.model, cfg.descriptor.n_features)
            except ModelError as exc:
                raise ConfigError(
                    f"model: {exc} The campaign would run on random choices; fix the model."
                ) from exc
            path = Path(record_path) if record_path is not None else default_record_path(cfg)
            record = CampaignRecord.create(
                path, config=cfg.to_dict(), overview=overview, instrument=instrument.describe()
            )
        except BaseException:
            instrument.close()
            raise
        try:
            campaign = cls(cfg, instrument, record, overview, dataset)
        except BaseException:
            record.close()
            instrument.close()
            raise
        campaign._log("created", f"campaign {cfg.name!r} created at {path}")
        for note in source_notes(
            campaign.record.instrument(), campaign.shape, cfg.descriptor.stride
        ):
            logger.info("%s", note)
            campaign._log("source_note", note)
        return campaign

    @classmethod
    def resume(cls, record_path: str | Path, *, instrument: Microscope | None = None) -> Campaign:
        """Rebuild a campaign from its record and carry on where it stopped.

        The config in force is the recorded one with every recorded intervention
        re-applied; measured spectra and the step index come from the record;
        points of the last decision that were never measured are measured first.
        Safety limits count what the record already holds (spectra, dwell).

        Parameters
        ----------
        record_path : str or Path
        instrument : Microscope, optional
            The microscope to continue on instead of rebuilding it from the recorded
            source; required when the campaign was created with ``instrument=``.

        Returns
        -------
        Campaign

        Raises
        ------
        RecordError
            If the record is missing, foreign or corrupt.
        """
        record = CampaignRecord.open(record_path)
        try:
            cfg = load_config(record.config())
            overview = record.overview()
            instrument, dataset = build_instrument(cfg, instrument)
        except BaseException:
            record.close()
            raise
        try:
            campaign = cls(cfg, instrument, record, overview, dataset)
            campaign._replay_record()
        except BaseException:
            record.close()
            instrument.close()
            raise
        campaign._log(
            "resumed",
            f"resumed at step {campaign.step_index} with {campaign.n_measured} spectra measured",
        )
        return campaign

    def _replay_record(self) -> None:
        for event in self.record.events():
            self.events.append(EventView(event.step, event.at, event.kind, event.message))
        for item in self.record.interventions():
            if item.kind in CONTROL_KINDS or item.kind.endswith("rejected"):
                continue
            self._apply(intervention_from_dict(item.kind, item.after), record=False)
        measured = self.record.measurements()
        self.history = MeasuredHistory.from_record(measured)
        if len(measured):
            self._started_at = float(self.history.started_at or self._started_at)
            self._step = int(np.max(measured.steps)) + 1
        decisions = self.record.decisions()
        self._step_phases.update(step_phases(decisions))
        for decision in decisions:
            self._remember_predictions(
                str(decision.policy.get("source", "")),
                decision.points,
                decision.predicted_mean,
                int(decision.scalarizer.get("version", -1)),
            )
        self._lost = self.model_skill().lost
        if decisions:
            last = decisions[-1]
            pending = self.record.pending_points()
            if pending.shape[0]:
                self._pending = (last.id, last.step, as_points(pending))
                self._step = last.step
                self._drop_blocked_pending(log=False)  # vetoed in the run that stopped
            else:
                self._step = max(self._step, last.step + 1)
        self._forced = [p for p in self._forced if not self.history.contains(p)]
        if isinstance(self.instrument, SafeMicroscope):
            # the limits bind the campaign, not one process: count what is already spent
            self.instrument.n_acquired_ = self.n_measured
            self.instrument.total_dwell_s_ = self.history.dose_s

    # -- state --------------------------------------------------------------------------

    @property
    def step_index(self) -> int:
        """Index of the next step (= number of steps completed)."""
        return self._step

    @property
    def spread(self) -> float:
        """Pixels kept between points chosen without a refit: half a patch, at least 2."""
        return max(2.0, self.config.descriptor.patch_size / 2)

    @property
    def n_measured(self) -> int:
        """Spectra acquired so far."""
        return len(self.history)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the overview grid."""
        return self.candidates.shape

    @property
    def measured_points(self) -> NDArray[np.int64]:
        """Measured pixels ``(n, 2)`` in acquisition order (a copy)."""
        return self.history.points.copy()

    @property
    def measured_spectra(self) -> NDArray[np.float64]:
        """Raw spectra ``(n, C)`` in acquisition order (a copy)."""
        if self.history.spectra is None:
            return np.zeros((0, 0), dtype=np.float64)
        return self.history.spectra.copy()

    @property
    def measured_phases(self) -> list[str]:
        """What chose each measured point (``phase_label``), shape ``(n,)``, in order."""
        return [self._step_phases.get(int(step), "measured") for step in self.history.steps]

    @property
    def energy(self) -> EnergyAxis | None:
        """Energy axis of the measured spectra (None before the first one)."""
        return self.history.energy

    @property
    def dose_s(self) -> float:
        """Total dwell over all spectra, seconds."""
        return self.history.dose_s

    @property
    def no_go_mask(self) -> NDArray[np.bool_]:
        """Pixels never chosen, ``(H, W)`` bool (a copy)."""
        return self.candidates.no_go.copy()

    @property
    def vetoed_points(self) -> NDArray[np.int64]:
        """Vetoed pixels ``(k, 2)``."""
        return self.candidates.vetoed_points

    @property
    def pending_points(self) -> NDArray[np.int64]:
        """Points of a recorded decision not yet measured ``(p, 2)``."""
        return self._pending[2].copy() if self._pending else np.zeros((0, 2), np.int64)

    @property
    def queued_points(self) -> NDArray[np.int64]:
        """Operator-added points still to measure ``(k, 2)``."""
        return as_points(self._forced) if self._forced else np.zeros((0, 2), np.int64)

    @property
    def features(self) -> NDArray[np.float32]:
        """Descriptor features of every candidate ``(M, d)``."""
        return self.candidates.features

    @property
    def candidate_pixels(self) -> NDArray[np.int64]:
        """Candidate pixels ``(M, 2)``."""
        return self.candidates.pixels

    @property
    def scalarizer_label(self) -> str:
        """Human label of the scalarizer in force."""
        return self._targets.label

    def describe_settings(self) -> dict[str, dict[str, Any]]:
        """Policy, scalarizer and descriptor in force, each with its version counter."""
        return {
            "policy": {**self.config.policy.model_dump(mode="json"), **self._v("policy")},
            "scalarizer": {
                "spec": self._scalarizer_json(),
                "label": self.scalarizer_label,
                "n_objectives": self.n_objectives,
                "labels": self.objective_labels,
                **self._v("scalarizer"),
            },
            "descriptor": {
                **self.config.descriptor.model_dump(mode="json"),
                "n_features": int(self.features.shape[1]),
                **self._v("descriptor"),
            },
        }

    def _scalarizer_json(self) -> dict[str, Any]:
        return self._targets.spec.model_dump(mode="json")

    def _v(self, name: str) -> dict[str, int]:
        return {"version": self.versions[name]}

    def done_reason(self) -> str:
        """Why the campaign is over ("" while it is not)."""
        budget = self.config.budget
        if self._pending is not None:
            return ""
        if self.n_measured >= budget.measurements:
            return f"budget reached: {self.n_measured} of {budget.measurements} spectra measured"
        if budget.dose_s is not None and self.history.dose_s >= budget.dose_s:
            return (
                f"dose budget reached: {self.history.dose_s:.3g} s of {budget.dose_s:.3g} s dwell"
            )
        if budget.wall_time_s is not None and self.n_measured:
            elapsed = time.time() - self._started_at
            if elapsed >= budget.wall_time_s:
                return f"wall-time budget reached: {elapsed:.0f} s of {budget.wall_time_s:.0f} s"
        return ""

    @property
    def done(self) -> bool:
        """Whether a budget limit is reached."""
        return bool(self.done_reason())

    # -- targets and the Pareto front -----------------------------------------------------

    @property
    def n_objectives(self) -> int:
        """Targets per spectrum of the scalarizer in force (``k``; 1 for a single target)."""
        return self._targets.n_outputs

    @property
    def is_multi_objective(self) -> bool:
        """Whether the scalarizer in force gives several targets (a Pareto campaign)."""
        return self.n_objectives > 1

    @property
    def objective_labels(self) -> list[str]:
        """Human label of each objective (``k`` of them)."""
        return self._targets.labels

    def targets(self) -> NDArray[np.float64]:
        """Targets ``(n,)`` of every measured spectrum under the scalarizer in force.

        Recomputed from the raw spectra (cached per scalarizer version). Spectra
        the scalarizer cannot score, or that give a non-finite value, have a NaN
        target and are logged once as a ``skipped_target`` event. For a
        multi-objective campaign this is objective 0; :meth:`objectives` has all.
        """
        return self.objectives()[:, 0]

    def objectives(self) -> NDArray[np.float64]:
        """Targets ``(n, k)`` of every measured spectrum, one column per objective.

        See :meth:`targets`; a row with any non-finite objective is NaN throughout
        and is left out of the model.
        """
        return self._targets.objectives(self.history)

    def best_target(self) -> float:
        """Largest finite target so far (NaN if none)."""
        y = self.targets()
        finite = y[np.isfinite(y)]
        return float(finite.max()) if finite.size else float("nan")

    def hypervolume_reference(self) -> HypervolumeReference | None:
        """The campaign's fixed hypervolume reference point (None until it can be fixed).

        From the ground truth of a built-in dataset, else from the seed
        measurements once every seed point is measured (see
        :mod:`steerscope.campaign.pareto`); recomputed only when the scalarizer
        changes, and logged as a ``reference_point`` event when fixed.
        """
        if not self.is_multi_objective:
            return None
        return self._pareto.reference(self._targets, self.history, self.seeds_measured)

    @property
    def seeds_measured(self) -> bool:
        """Whether every seed point is measured (or can no longer be: vetoed, no-go)."""
        return self.n_measured > 0 and not any(self._allowed(p) for p in self._seeds)

    def pareto_mask(self) -> NDArray[np.bool_]:
        """Measured points on the Pareto front ``(n,)`` (all False for one objective)."""
        if not self.is_multi_objective:
            return np.zeros(self.n_measured, dtype=bool)
        return pareto_mask(self.objectives())

    def hypervolume_history(self) -> list[tuple[int, int, float]]:
        """``(step, n_measured, hypervolume)`` after every step, above the fixed reference.

        Empty for a single-objective campaign and until the reference point is fixed.
        """
        reference = self.hypervolume_reference()
        if reference is None:
            return []
        return self._pareto.hypervolumes(reference, self._targets, self.history)

    def ground_truth_hypervolume(self) -> float:
        """Hypervolume of every spectrum of the built-in dataset above the reference (NaN: none)."""
        return self._pareto.truth_hypervolume(self.hypervolume_reference(), self._targets)

    # -- candidates ------------------------------------------------------------------------

    def nearest_candidates(self, points: ArrayLike) -> NDArray[np.int64]:
        """Index ``(n,)`` of the candidate nearest to each of ``points`` ``(n, 2)``."""
        return self.candidates.nearest(points)

    def candidate_index_map(self) -> NDArray[np.int64]:
        """``(H, W)`` index of the nearest candidate of every overview pixel (for maps)."""
        return self.candidates.index_map()

    def to_overview_map(self, values: ArrayLike) -> NDArray[np.float64]:
        """Spread per-candidate values ``(M,)`` onto the overview grid ``(H, W)``."""
        return self.candidates.to_overview_map(values)

    def _allowed(self, p: tuple[int, int], in_flight: set[tuple[int, int]] | None = None) -> bool:
        return (
            self.candidates.inside(p)
            and not self.candidates.blocked(p)
            and not self.history.contains(p)
            and (not in_flight or p not in in_flight)
        )

    # -- ask / tell ---------------------------------------------------------------------

    def _batch_size(self, n_in_flight: int = 0) -> int:
        remaining = self.config.budget.measurements - self.n_measured - n_in_flight
        setting = self.config.policy.batch_size
        if setting == "auto":
            # a batch never takes more than 1/20 of the budget: the model still learns
            # from most of what is measured
            budget = self.config.budget.measurements
            q = min(self.auto_batch_size(), max(1, budget // _AUTO_MIN_DECISIONS))
        else:
            q = setting
        return max(1, min(q, remaining))

    def auto_batch_size(self) -> int:
        """The batch ``batch_size: auto`` picks now, from the measured times.

        As many points as the beam measures while the next choice is made, so
        the beam need not wait for it. The choice costs a refit (median of the
        last three); where a pipeline updates the last fit instead
        (:meth:`update_proposal`), that update, and the batch is also long
        enough that the beam's fixed wait per decision (writing the last
        spectrum and the next decision, measured as ``beam_wait_s``) keeps it
        busy :data:`AUTO_BUSY` of the time. 1 in the sequential loop (nothing
        overlaps the beam there) and until both have been measured; at most
        ``AUTO_BATCH_MAX`` (and, when a step is planned, at most 1/20 of the
        budget).
        """
        per_point = self.recent_point_seconds()
        if not self.pipelined or not self.compute_seconds or per_point is None:
            return 1
        choose = float(np.median(self.compute_seconds[-3:]))
        if self.update_seconds and self._updater is not None:
            waits = [t["beam_wait_s"] for t in self.step_timings[-5:] if "beam_wait_s" in t]
            wait = float(np.median(waits)) if waits else 0.0
            choose = max(float(np.median(self.update_seconds)), AUTO_BUSY / (1 - AUTO_BUSY) * wait)
        return int(min(AUTO_BATCH_MAX, max(1, math.ceil(choose / per_point))))

    def recent_point_seconds(self) -> float | None:
        """The beam's seconds per point, median of the last five measured; None before any."""
        hist = self.history
        durations = (hist.acquired_at - hist.acquisition_started_at)[-5:]
        durations = durations[np.isfinite(durations) & (durations > 0)]
        return float(np.median(durations)) if durations.size else None

    def _in_flight_points(self) -> NDArray[np.int64]:
        if self._pending is None:
            return np.zeros((0, 2), dtype=np.int64)
        return self._pending[2]

    def conditioning(self, pending: NDArray[np.int64] | None = None) -> dict[str, Any]:
        """What a proposal made now knows: see :attr:`Proposal.conditioned_on`."""
        ids = self.history.ids
        return {
            "n_measured": self.n_measured,
            "last_measurement_id": int(ids[-1]) if len(ids) else None,
            "pending_points": [] if pending is None else pending.tolist(),
            "model_version": self.versions["model"],
            "revision": self.revision,
        }

    def plan(self, *, in_flight: bool = False) -> Proposal | ProposalJob:
        """The next points, or the model job that will choose them (nothing recorded or moved).

        Order: points of an unfinished recorded decision, then operator-added
        points (:class:`AddPoints`), then seed points, then the model's choice,
        returned as a :class:`ProposalJob` for :func:`compute_proposal`.

        Parameters
        ----------
        in_flight : bool
            The pending decision is being measured now (the pipeline asks ahead):
            its points are excluded and, for the model, believed at their
            predicted mean, instead of being proposed again.

        Returns
        -------
        Proposal or ProposalJob
        """
        flying = self._in_flight_points() if in_flight else None
        if self._pending is not None and not in_flight:
            return Proposal.unscored(self._pending[2].copy(), "pending", self.conditioning())
        n_flying = 0 if flying is None else flying.shape[0]
        q = self._batch_size(n_flying)
        taken = set() if flying is None else {(int(r), int(c)) for r, c in flying}
        forced = [p for p in self._forced if self._allowed(p, taken)][:q]
        if forced:
            return Proposal.unscored(as_points(forced), "operator", self.conditioning(flying))
        seeds = [p for p in self._seeds if self._allowed(p, taken)]
        seeds = list(dict.fromkeys(seeds))[:q]
        if seeds:
            return Proposal.unscored(as_points(seeds), "seed", self.conditioning(flying))
        return self._model_job(q, flying)

    def ask(self) -> Proposal:
        """The next points to measure (nothing is recorded or moved).

        Order: points of an unfinished recorded decision, then operator-added
        points (:class:`AddPoints`), then seed points, then the model's choice.

        Returns
        -------
        Proposal
        """
        planned = self.plan()
        if isinstance(planned, Proposal):
            return planned
        return self.accept(compute_proposal(planned))

    def _exclusions(self, flying: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
        measured = self.history.points
        parts = [measured, self.candidates.pixels[self.candidates.nearest(measured)]]
        if flying is not None and flying.shape[0]:
            parts += [flying, self.candidates.pixels[self.candidates.nearest(flying)]]
        if self.candidates.vetoed:
            parts.append(self.vetoed_points)
        return np.concatenate(parts, axis=0)

    def _model_job(self, q: int, flying: NDArray[np.int64] | None) -> ProposalJob:
        """The model proposal of ``q`` points as a self-contained job."""
        Y = self.objectives()
        finite = np.all(np.isfinite(Y), axis=1)
        nearest = self.candidates.nearest
        pending = np.zeros((0, 2), np.int64) if flying is None else flying
        pending_index = nearest(pending) if pending.shape[0] else np.zeros(0, np.int64)
        key = (
            self.versions["model"],
            self._targets.key,
            self.n_measured,
            tuple(map(tuple, pending.tolist())),
        )
        return ProposalJob(
            q=q,
            surrogate=self._surrogate,
            features=self.features,
            pixels=self.candidates.pixels,
            train_index=nearest(self.history.points[finite]),
            targets=Y[finite] if self.is_multi_objective else Y[finite, 0],
            pending_index=np.asarray(pending_index, np.int64),
            exclude=self._exclusions(flying),
            no_go=self.candidates.no_go.copy(),
            policy=self.config.policy,
            multi_objective=self.is_multi_objective,
            rng=self._rng,
            cache_key=key,
            conditioned_on=self.conditioning(flying),
            memo=self._memo,
            min_train=_MIN_TRAIN,
            spread=self.spread,
            start=self.history.points[-1].copy() if len(self.history) else None,
            explore=self._should_explore(),
        )

    def _should_explore(self) -> bool:
        """Every second model point goes to the least-covered pixel while the model is lost."""
        policy = self.config.policy
        return (
            policy.exploration == "adaptive"
            and not self.is_multi_objective
            and self._lost
            and not self._explored_last
        )

    def accept(self, computed: ComputedProposal) -> Proposal:
        """Keep what a computed proposal learnt (posterior maps, fit facts); log its messages."""
        for kind, text in computed.messages:
            self._log(kind, text)
        if computed.posterior is not None:
            self.compute_seconds = [*self.compute_seconds[-4:], computed.seconds]
        job = computed.job
        if computed.updater is not None and job.cache_key[0] == self.versions["model"]:
            seen = int(job.conditioned_on["n_measured"])
            self._updater = (job.cache_key[0], seen, seen, computed.updater)
        if computed.posterior is not None and job.surrogate is self._surrogate:
            mean_2d, var_2d, scores = computed.posterior
            self.last_fit_info = dict(computed.fit_info)
            self.last_posterior = (mean_2d[:, 0], var_2d[:, 0], scores)
            self.last_ranking = scores
            self._ranked_at = int(computed.job.conditioned_on.get("n_measured", self.n_measured))
            if self.is_multi_objective:
                self.last_objective_posterior = (mean_2d, var_2d)
        return computed.proposal

    def update_proposal(
        self, *, in_flight: bool = False, max_unfitted: float | None = None
    ) -> Proposal | None:
        """The model's next points from the last fit, updated with every spectrum since.

        No training: the last fit's network and hyperparameters, conditioned on
        all the measured targets by rank-one updates
        (:class:`~steerscope.models.updating.CandidatePosterior`) and on the
        points in flight at their predicted mean. A few milliseconds, so a
        pipeline asks for it while a refit runs instead of keeping the beam
        waiting. ``conditioned_on`` says how many spectra the fit saw
        (``fit_n_measured``).

        Parameters
        ----------
        in_flight : bool
            As for :meth:`plan`.
        max_unfitted : float, optional
            Largest share of the spectra (measured and in flight) the fit may
            not have seen; beyond it, None: wait for the refit. Default: the
            policy's ``max_unfitted``.

        Returns
        -------
        Proposal or None
            None when there is no up-to-date fit to update (none yet, the model
            or target changed since, the update room is used up, too many
            spectra since the fit, or a model that cannot be updated, e.g.
            several objectives, or an unfinished decision to measure first); a
            seed or operator proposal when one comes first.
        """
        start = time.perf_counter()
        planned = self.plan(in_flight=in_flight)
        if isinstance(planned, Proposal):
            return None if planned.source == "pending" else planned
        synced = self._synced_updater()
        if synced is None or not acquisition_info(planned.policy.acquisition).needs_model:
            return None
        fit_n, updater = synced
        flying = planned.pending_index.shape[0]
        share = self.config.policy.max_unfitted if max_unfitted is None else max_unfitted
        if self.n_measured + flying - fit_n > share * (self.n_measured + flying):
            return None
        mean, var = updater.mean_var(planned.pending_index)
        t1 = time.perf_counter()
        proposal, scores = choose_points(
            planned,
            mean,
            var,
            posterior_s=t1 - start,
            believed_var=believed_variance(updater, planned.pending_index),
        )
        proposal.conditioned_on["fit_n_measured"] = fit_n
        self.last_posterior = (mean, var, scores)
        self.last_ranking = scores
        self._ranked_at = self.n_measured
        self.update_seconds = [*self.update_seconds[-4:], time.perf_counter() - start]
        return proposal

    def _synced_updater(self) -> tuple[int, CandidatePosterior] | None:
        """(spectra the last fit saw, its candidate posterior told every target since), or None."""
        if self._updater is None:
            return None
        version, fit_n, seen, updater = self._updater
        if version != self.versions["model"]:
            self._updater = None
            return None
        n = self.n_measured
        if seen < n:
            y = self.objectives()[seen:n, 0]
            index = self.candidates.nearest(self.history.points[seen:n])
            try:
                for i, value in zip(index, y, strict=True):
                    if np.isfinite(value):
                        updater.add(int(i), float(value))
            except ModelError:
                self._updater = None  # out of room: wait for the next fit
                return None
            self._updater = (version, fit_n, n, updater)
        return fit_n, updater

    def is_current(self, proposal: Proposal) -> bool:
        """Whether a proposal made ahead may still be measured (see :meth:`why_stale`)."""
        return self.why_stale(proposal) is None

    def why_stale(self, proposal: Proposal) -> str | None:
        """Why a proposal made ahead may no longer be measured, or None if it may.

        It may not when an intervention came after it (it was computed under the
        old settings), when the budget has no room left for it, or when one of its
        points is no longer allowed (measured, vetoed, in a no-go region, or being
        measured now).
        """
        if proposal.revision != self.revision:
            return "an intervention came after it was computed"
        left = self.config.budget.measurements - self.n_measured
        if proposal.points.shape[0] > left:
            return "the budget is spent" if left <= 0 else f"the budget has room for {left} only"
        taken = {(int(r), int(c)) for r, c in self._in_flight_points()}
        if not all(self._allowed((int(r), int(c)), taken) for r, c in proposal.points):
            return "one of its points was measured, vetoed or forbidden since"
        return None

    def queue_proposal(self) -> Proposal | None:
        """The next points of the last model's ranking, or None before the model ranked any.

        What the beam measures when the proposal for it is not ready yet (a slow
        refit): no new fit, the last acquisition scores, the usual exclusions.
        """
        ranking = self.last_ranking
        if ranking is None or ranking.shape[0] != self.candidates.pixels.shape[0]:
            return None
        flying = self._in_flight_points()
        q = self._batch_size(flying.shape[0])
        # the ranking does not know the points measured since it was made: keep away from
        # them (and from those in flight), as a model told about them would
        unknown = np.concatenate([self.history.points[self._ranked_at :], flying])
        plain = self._exclusions(flying)
        near = self.candidates.pixels[self.candidates.within(unknown, self.spread)]
        min_distance = max(self.spread, self.config.policy.min_distance) if q > 1 else 0.0
        idx = None
        # too crowded to keep away: take the ranking as it is; nothing left: no choice
        for exclude in (np.concatenate([plain, near]), plain):
            with contextlib.suppress(AcquisitionError):
                idx = select_points(
                    ranking,
                    self.candidates.pixels,
                    q,
                    exclude=exclude,
                    no_go=self.candidates.no_go,
                    min_distance=min_distance,
                )
                break
        if idx is None or idx.shape[0] == 0:
            return None
        n = idx.shape[0]
        return Proposal(
            self.candidates.pixels[idx].copy(),
            nan_array(n),
            nan_array(n),
            ranking[idx].copy(),
            "queue",
            {"fit_s": 0.0, "posterior_s": 0.0, "acquisition_s": 0.0},
            conditioned_on=self.conditioning(flying),
        )

    def _decision_context(self, proposal: Proposal) -> dict[str, dict[str, Any]]:
        """Model, scalarizer and policy JSON of a decision.

        Multi-objective campaigns add ``model["objectives"]``: ``labels`` (k),
        ``predicted_mean`` and ``predicted_var`` (q lists of k, null where not
        predicted); the decision's own ``predicted_mean``/``predicted_var``
        columns hold objective 0's, so records stay readable by older code.
        The policy JSON adds ``n_objectives`` and the fixed hypervolume reference.
        """
        objectives: dict[str, Any] = {}
        policy_extra: dict[str, Any] = {}
        if self.is_multi_objective:
            q, k = proposal.points.shape[0], self.n_objectives
            mean = proposal.objective_mean
            var = proposal.objective_var
            objectives = {
                "objectives": {
                    "labels": self.objective_labels,
                    "predicted_mean": json_plain(
                        (np.full((q, k), np.nan) if mean is None else mean).tolist()
                    ),
                    "predicted_var": json_plain(
                        (np.full((q, k), np.nan) if var is None else var).tolist()
                    ),
                }
            }
            reference = self.hypervolume_reference()
            policy_extra = {
                "n_objectives": k,
                "hypervolume_reference": None if reference is None else reference.to_dict(),
            }
        return {
            "model": {
                "spec": self.config.model.model_dump(mode="json"),
                "conditioned_on": json_plain(proposal.conditioned_on),
                "fit": json_plain(self.last_fit_info) if proposal.source in _MODEL_SOURCES else {},
                "skill": json_plain(self.model_skill().current),
                "n_train": int(np.isfinite(self.targets()).sum()),
                **objectives,
                **self._v("model"),
            },
            "scalarizer": {
                "spec": self._scalarizer_json(),
                "label": self.scalarizer_label,
                **self._v("scalarizer"),
            },
            "policy": {
                **self.config.policy.model_dump(mode="json"),
                "source": proposal.source,
                "descriptor_version": self.versions["descriptor"],
                **policy_extra,
                **self._v("policy"),
            },
        }

    def dwell_for(self, points: NDArray[np.int64]) -> NDArray[np.float64] | None:
        """The dwell chosen for each of ``points`` ``(q, 2)``; None when the policy chooses none.

        A point whose choice was not kept (a pending decision after a restart) gets
        the middle of the ladder.
        """
        choice = self.config.policy.dwell
        if choice is None:
            return None
        middle = choice.choices_s[len(choice.choices_s) // 2]
        return np.array([self._dwell_of.get((int(r), int(c)), middle) for r, c in points])

    def choose_dwell(self, proposal: Proposal) -> NDArray[np.float64] | None:
        """Each point's dwell under ``policy.dwell`` (see :class:`DwellChoice`); None without it.

        Before the counting noise and the spread are known (three spectra), and under
        ``against: posterior`` for a point the model did not score (seed, operator,
        queue), the middle of the ladder.
        """
        choice = self.config.policy.dwell
        if choice is None:
            return None
        ladder = np.asarray(choice.choices_s, dtype=np.float64)
        dwell = np.full(proposal.points.shape[0], ladder[len(ladder) // 2])
        noise = self.noise_per_second()
        if choice.against == "spread":
            measured = self.targets()
            measured = measured[np.isfinite(measured)]
            spread = float(np.var(measured)) if measured.size >= 3 else 0.0
            var = np.full(dwell.shape, spread)
        else:
            var = np.asarray(proposal.predicted_var, dtype=np.float64)
        scored = np.isfinite(var) & (var > 0)
        if noise is None or not scored.any():
            return dwell
        dwell[scored] = best_dwell(var[scored], noise, ladder, choice.overhead_s)
        return dwell

    def noise_per_second(self) -> float | None:
        """The counting-noise variance of a per-second target times the dwell, ``c``.

        Estimated by Poisson resampling of the last (up to 40) measured spectra: each
        is redrawn 8 times around its counts, divided by its dwell and scalarised; the
        variance of those targets times the dwell, mean over spectra. A target whose
        counting noise falls as ``1/t`` then has variance ``c / t`` at dwell ``t``.
        None before 3 spectra, under a learned target, or when it is not finite.
        """
        n = self.n_measured
        key = (self._targets.key, n // 4)
        if self._noise_per_second is not None and self._noise_per_second[0] == key:
            return self._noise_per_second[1]
        value: float | None = None
        spectra, energy = self.history.spectra, self.history.energy
        if n >= 3 and spectra is not None and energy is not None and not self._targets.learned:
            last = slice(max(0, n - 40), n)
            counts = np.clip(np.nan_to_num(spectra[last]), 0.0, None)
            dwell = self.history.dwell_s[last]
            draws = np.random.default_rng(n).poisson(counts[None], (8, *counts.shape))
            with contextlib.suppress(SteerscopeError, ValueError):
                rates = draws / dwell[None, :, None]
                flat = self._targets.spec.apply(rates.reshape(-1, counts.shape[1]), energy)
                targets = np.asarray(flat, np.float64).reshape(8, counts.shape[0], -1)[..., 0]
                spread = np.nanvar(targets, axis=0) * dwell
                mean = float(np.nanmean(spread)) if np.isfinite(spread).any() else np.nan
                value = mean if np.isfinite(mean) and mean > 0 else None
        self._noise_per_second = (key, value)
        return value

    def record_decision(self, proposal: Proposal) -> int:
        """Write ``proposal`` to the record as the decision of this step; returns its id."""
        ctx = self._decision_context(proposal)
        dwell = self.choose_dwell(proposal)
        if dwell is not None:
            ctx["policy"]["dwell_chosen_s"] = dwell.tolist()
            self._dwell_of = {
                (int(r), int(c)): float(t) for (r, c), t in zip(proposal.points, dwell, strict=True)
            }
        self._step_phases[self._step] = phase_label(proposal.source, ctx["policy"])
        decision_id = self.record.add_decision(
            self._step,
            proposal.points,
            predicted_mean=proposal.predicted_mean,
            predicted_var=proposal.predicted_var,
            acquisition_value=proposal.acquisition_value,
            model=ctx["model"],
            scalarizer=ctx["scalarizer"],
            policy=ctx["policy"],
            timings=dict(proposal.timings),
        )
        self._pending = (decision_id, self._step, proposal.points.copy())
        self._remember_predictions(
            proposal.source, proposal.points, proposal.predicted_mean, self.versions["scalarizer"]
        )
        return decision_id

    def _remember_predictions(
        self, source: str, points: NDArray[np.int64], mean: NDArray[np.float64], version: int
    ) -> None:
        if source not in _MODEL_SOURCES:
            return
        self._explored_last = source == "explore"
        for (r, c), m in zip(
            np.asarray(points).reshape(-1, 2), np.asarray(mean).reshape(-1), strict=True
        ):
            self._predicted_at[(int(r), int(c))] = (float(m), version)

    def model_skill(self) -> ModelSkill:
        """How well the model predicted each measured point before measuring it.

        Predictions made for another target (before a scalarizer change) do not
        count; several targets: objective 0's. See :mod:`steerscope.campaign.skill`.
        """
        version = self.versions["scalarizer"]
        missing = (float("nan"), -1)
        predicted = [
            self._predicted_at.get((int(r), int(c)), missing) for r, c in self.history.points
        ]
        mean = [m if v == version else float("nan") for m, v in predicted]
        y = self.objectives()[:, 0] if len(self.history) else np.zeros(0)
        return model_skill(self.history.steps, mean, y)

    def _check_skill(self) -> None:
        """Log when the model becomes lost (no better than a constant) and when it recovers."""
        skill = self.model_skill()
        if skill.lost and not self._lost:
            self._log("model_lost", skill.message())
        elif self._lost and skill.current > 0:
            self._log(
                "model_skill",
                f"the model predicts again: skill {skill.current:+.2f} over the last "
                f"{skill.window} predicted targets",
            )
        self._lost = skill.lost

    def tell(self, measurement: Measurement) -> list[int]:
        """Record the spectra of a measurement (durably, before returning) and learn from them.

        If a recorded decision is pending, the measurement is tied to it; the
        decision is complete (and the step index advances by one) once every one
        of its points is measured, so a batch may be told point by point. A
        measurement with no decision pending is stored without one, and the
        step index advances.

        Parameters
        ----------
        measurement : Measurement
            ``points`` ``(n, 2)``, ``spectra`` ``(n, C)``.

        Returns
        -------
        list of int
            The record's measurement ids.
        """
        if self._pending is not None:
            decision_id, step, points = self._pending
        else:
            decision_id, step, points = None, self._step, np.zeros((0, 2), np.int64)
        ids = self.record.add_measurement(measurement, step=step, decision_id=decision_id)
        first = self.n_measured == 0
        if self.history.append_measurement(ids, measurement, step) and first:
            self._started_at = float(np.min(measurement.acquired_at))
        self._forced = [p for p in self._forced if not self.history.contains(p)]
        told = {(int(r), int(c)) for r, c in np.asarray(measurement.points).reshape(-1, 2)}
        left = [(int(r), int(c)) for r, c in points if (int(r), int(c)) not in told]
        if decision_id is not None and left:
            self._pending = (decision_id, step, as_points(left))  # part of a batch so far
        else:
            self._pending = None
            self._step = step + 1
            if decision_id is not None:
                self._check_skill()
        return ids

    def step(self) -> StepResult | None:
        """Ask, record the decision, acquire, tell; None if the campaign is done.

        Raises
        ------
        InstrumentError
            If the acquisition fails; the decision stays pending and the next
            ``step()`` retries the same points.
        """
        if self.done:
            return None
        t0 = time.perf_counter()
        proposal = self.ask()
        t1 = time.perf_counter()
        if self._pending is None:
            self.record_decision(proposal)
        t2 = time.perf_counter()
        step = self._step
        dwell = self.dwell_for(proposal.points)
        telling = 0.0
        if dwell is None:
            measurement = acquire_timed(self.instrument, proposal.points)
            t3 = time.perf_counter()
            self.tell(measurement)
        else:
            for i in range(proposal.points.shape[0]):  # one point at a time, each at its dwell
                point = proposal.points[i : i + 1]
                measurement = acquire_at_dwell(self.instrument, point, dwell[i])
                told = time.perf_counter()
                self.tell(measurement)  # each spectrum committed before the next is taken
                telling += time.perf_counter() - told
            t3 = time.perf_counter() - telling
        if self.is_multi_objective:
            self.save_pareto_summary()
        t4 = time.perf_counter()
        timings = {
            **{k: float(v) for k, v in proposal.timings.items()},
            "ask_s": t1 - t0,
            "instrument_s": t3 - t2,
            "record_s": (t2 - t1) + (t4 - t3),
            "total_s": t4 - t0,
        }
        self.step_timings.append(timings)
        return self.step_result(step, proposal.points, proposal.source, timings)

    def step_result(
        self, step: int, points: NDArray[np.int64], source: str, timings: dict[str, float]
    ) -> StepResult:
        """The :class:`StepResult` of ``points`` ``(n, 2)``, the last ones told."""
        y = self.targets()
        n = points.shape[0]
        return StepResult(
            step=step,
            points=points,
            targets=y[-n:].copy() if 0 < n <= y.shape[0] else nan_array(n),
            best=self.best_target(),
            source=source,
            timings=timings,
        )

    def save_pareto_summary(self) -> None:
        """Write the Pareto summary (front, hypervolume history) of the record's targets."""
        self._pareto.save_summary(self.hypervolume_reference(), self._targets, self.history)

    def run(
        self,
        n_steps: int | None = None,
        callback: Callable[[StepResult], None] | None = None,
    ) -> list[StepResult]:
        """Step until the budget is reached, or ``n_steps`` steps.

        Parameters
        ----------
        n_steps : int or None
            Most steps to run; None: to the budget.
        callback : callable, optional
            Called with each :class:`StepResult` (progress display).

        Returns
        -------
        list of StepResult
        """
        results: list[StepResult] = []
        self.record.set_status("running")
        while n_steps is None or len(results) < n_steps:
            result = self.step()
            if result is None:
                break
            results.append(result)
            if callback is not None:
                callback(result)
        if self.done:
            self.record.set_status("finished", self.done_reason())
        else:
            self.record.set_status("paused", f"stopped after {len(results)} step(s)")
        return results

    # -- interventions ------------------------------------------------------------------

    def apply(self, intervention: Intervention) -> None:
        """Apply an operator intervention between two steps and record it.

        Parameters
        ----------
        intervention : Intervention
            Any of the engine's interventions (``Pause``/``Resume``/``Stop``/
            ``RunSteps`` belong to the :class:`CampaignRunner`).

        Raises
        ------
        SteerscopeError
            (usually :class:`ConfigError`) if the intervention is not acceptable;
            it is then recorded as an ``intervention_rejected`` event and nothing
            changes.
        """
        try:
            self._apply(intervention, record=True)
        except SteerscopeError as exc:
            self._log("intervention_rejected", f"{type(intervention).__name__} refused: {exc}")
            raise

    def note_control(self, intervention: Intervention, before: str, after: str) -> None:
        """Record a runner control message (Pause, Resume, Stop, RunSteps) and its effect."""
        kind = type(intervention).__name__
        self.record.add_intervention(
            self._step, kind, {"status": before}, {"status": after, **intervention.to_dict()}
        )
        self._log("intervention", f"{kind}: {before} → {after}", record=False)

    def _apply(self, intervention: Intervention, *, record: bool) -> None:
        if isinstance(intervention, CONTROLS):
            raise ConfigError(
                f"{type(intervention).__name__} steers the background runner; post it to a "
                "CampaignRunner instead of applying it to the Campaign."
            )
        handlers: dict[type, Callable[[Any], tuple[dict[str, Any], dict[str, Any]]]] = {
            SetPolicy: self._set_policy,
            SetScalarizer: self._set_scalarizer,
            SetDescriptor: self._set_descriptor,
            SetBudget: self._set_budget,
            AddPoints: self._add_points,
            VetoPoints: self._veto_points,
            AddNoGoRegion: self._add_no_go,
            Vote: self._vote,
            Compare: self._compare,
        }
        handler = handlers.get(type(intervention))
        if handler is None:
            raise ConfigError(
                f"unknown intervention {type(intervention).__name__}; expected one of "
                f"{', '.join(cls.__name__ for cls in handlers)}."
            )
        self._followups = []
        before, after = handler(intervention)
        if before == after and not self._followups:
            return  # nothing changed (a repeated post): nothing to record or supersede
        if not isinstance(intervention, Vote | Compare):  # judgements change no setting
            self.revision += 1  # a proposal made before this one is superseded
        changes = [(type(intervention).__name__, before, after), *self._followups]
        self._followups = []
        if record:
            # a follow-up (the policy switched by a scalarizer change) is its own row, so a
            # resume replays it like any other intervention
            for kind, old, new in changes:
                self.record.add_intervention(self._step, kind, old, new)
                self._log(
                    "intervention", f"{kind}: {describe_change(kind, old, new)}", record=False
                )

    def _set_policy(self, change: SetPolicy) -> tuple[dict[str, Any], dict[str, Any]]:
        old = self.config.policy
        requested = change.changes()
        try:
            new = PolicyConfig.model_validate({**old.model_dump(), **requested})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')} "
                f"(got {e.get('input')!r})"
                for e in exc.errors()
            )
            raise ConfigError(f"SetPolicy refused: {problems}. Nothing was changed.") from None
        misfits = new.check_objectives(self.n_objectives)
        if misfits:
            raise ConfigError(f"SetPolicy refused: {'; '.join(misfits)}. Nothing was changed.")
        if new == old:
            return old.model_dump(mode="json"), old.model_dump(mode="json")  # a no-op
        try:
            self._check_dwell_choice(new)
        except ConfigError as exc:
            raise ConfigError(f"SetPolicy refused: {exc}. Nothing was changed.") from None
        self.config = self.config.model_copy(update={"policy": new})
        self._targets.per_second = new.dwell is not None  # relabels the history if it flips
        self.versions["policy"] += 1
        return old.model_dump(mode="json"), new.model_dump(mode="json")

    def _set_scalarizer(self, change: SetScalarizer) -> tuple[dict[str, Any], dict[str, Any]]:
        new_config = self.config.with_scalarizer(change.spec)  # validated, policy fitted
        assert new_config.scalarizer is not None
        if new_config.scalarizer == self.config.scalarizer:
            return {"spec": self._scalarizer_json()}, {"spec": self._scalarizer_json()}
        spectra, energy = self.history.spectra, self.history.energy
        if spectra is not None and energy is not None and spectra.shape[0]:
            ok = np.all(np.isfinite(spectra), axis=1)
            new_config.scalarizer.check_fits(spectra[ok][:1], energy)  # e.g. a bad window
        old_spec, old_policy = self._scalarizer_json(), self.config.policy
        self.config = new_config
        self._targets.set(new_config.scalarizer)
        self.versions["scalarizer"] += 1
        self._new_model()  # a new k needs a new model; a new target, fresh hyperparameters
        if new_config.policy != old_policy:
            # the old acquisition (or weights) could not score the new targets: the policy
            # fitted to them is a recorded SetPolicy follow-up
            self.versions["policy"] += 1
            self._followups.append(
                (
                    "SetPolicy",
                    old_policy.model_dump(mode="json"),
                    new_config.policy.model_dump(mode="json"),
                )
            )
        return {"spec": old_spec}, {"spec": self._scalarizer_json()}

    def _set_descriptor(self, change: SetDescriptor) -> tuple[dict[str, Any], dict[str, Any]]:
        old = self.config.descriptor
        try:
            new = DescriptorSpec.model_validate(
                {**old.model_dump(), "patch_size": change.patch_size}
            )
        except ValidationError as exc:
            raise DescriptorError(
                f"SetDescriptor refused: patch_size must be a positive integer; got "
                f"{change.patch_size!r} ({exc.errors()[0]['msg']})."
            ) from None
        if new == old:
            return {"patch_size": old.patch_size}, {"patch_size": old.patch_size}
        self.candidates.set_descriptor(new)  # raises DescriptorError before anything changes
        self.config = self.config.model_copy(update={"descriptor": new})
        self.versions["descriptor"] += 1
        self._new_model()
        return {"patch_size": old.patch_size}, {"patch_size": new.patch_size}

    def _make_model(self) -> Any:
        """One surrogate, or one per objective when the scalarizer gives several targets."""
        k = self.n_objectives
        if k > 1:
            return MultiObjectiveSurrogate(self.config.model, k, seed=self.config.seed)
        return make_surrogate(self.config.model, seed=self.config.seed)

    def _new_model(self) -> None:
        self._surrogate = self._make_model()
        self.last_posterior = None
        self.last_objective_posterior = None
        self.versions["model"] += 1

    def _set_budget(self, change: SetBudget) -> tuple[dict[str, Any], dict[str, Any]]:
        n = change.measurements
        if not isinstance(n, int | np.integer) or n < max(1, self.n_measured):
            raise ConfigError(
                f"SetBudget refused: the budget must be an integer >= {max(1, self.n_measured)} "
                f"(spectra already measured); got {n!r}."
            )
        _check_budget_fits(int(n), self.shape, what="SetBudget refused: the budget")
        old = self.config.budget
        self.config = self.config.model_copy(
            update={"budget": old.model_copy(update={"measurements": int(n)})}
        )
        return {"measurements": old.measurements}, {"measurements": int(n)}

    def _add_points(self, change: AddPoints) -> tuple[dict[str, Any], dict[str, Any]]:
        self.candidates.check_points(change.points, "AddPoints")
        blocked = [p for p in change.points if self.candidates.blocked(p)]
        if blocked:
            raise ConfigError(
                f"AddPoints refused: {blocked} are vetoed or inside a no-go region; "
                "choose other points."
            )
        before = [list(p) for p in self._forced]
        for p in change.points:
            if p not in self._forced:
                self._forced.append(p)
        return {"queued": before}, change.to_dict()

    def _vote(self, vote: Vote) -> tuple[dict[str, Any], dict[str, Any]]:
        self._check_measured("Vote", vote.measurement)
        before = {"measurement": vote.measurement, "verdict": self.votes.get(vote.measurement)}
        self._targets.set_vote(vote.measurement, vote.verdict)
        return {**before, "verdict": before["verdict"] or "none"}, vote.to_dict()

    def _check_measured(self, kind: str, index: int) -> None:
        """Refuse a judgement of spectrum ``index`` before it is measured."""
        # the record's count, not the history's: a resume replays judgements before spectra
        measured = len(self.record.measurement_steps())
        if index >= measured:
            raise ConfigError(
                f"{kind} refused: spectrum #{index + 1} has not been measured ({measured} so far)"
            )

    def _compare(self, judgement: Compare) -> tuple[dict[str, Any], dict[str, Any]]:
        self._check_measured("Compare", max(judgement.first, judgement.second))
        self._targets.add_comparison(judgement.first, judgement.second, judgement.answer)
        return {"comparisons": len(self._targets.comparisons) - 1}, judgement.to_dict()

    @property
    def votes(self) -> dict[int, str]:
        """The operator's verdicts by measurement index (good, bad or a score 1 to 5)."""
        return dict(self._targets.votes)

    @property
    def comparisons(self) -> list[tuple[int, int, str]]:
        """The operator's judgements so far: ``(first, second, answer)``, in order."""
        return list(self._targets.comparisons)

    @property
    def learned_target(self) -> bool:
        """Whether the target in force is learned from the operator's comparisons."""
        return self._targets.learned

    def next_comparison(self) -> tuple[int, int] | None:
        """The two measured spectra the operator should compare next, or None.

        The newest spectrum no judgement has named yet (the newest of all once every
        one has been, or the next newest when every pair with it was asked), with the
        partner of highest expected utility of the best option
        under the comparisons so far
        (:meth:`~steerscope.models.preference.PreferenceModel.best_partner`). At most
        one question per spectrum measured: None once there have been as many
        judgements as spectra, and before two spectra.

        Returns
        -------
        (int, int) or None
            Measurement indices ``(first, second)``, the one to judge first.
        """
        n = self.n_measured
        judged = self._targets.comparisons
        if n < 2 or len(judged) >= n:
            return None
        named = {i for a, b, _ in judged for i in (a, b)}
        finite = [int(i) for i in np.flatnonzero(np.all(np.isfinite(self.measured_spectra), 1))]
        order = [i for i in reversed(finite) if i not in named]
        order += [i for i in reversed(finite) if i in named]
        asked = {(a, b) for a, b, _ in judged}
        model = self._targets.preference_model(self.history)
        for first in order:
            partner = model.best_partner(first, asked)
            if partner is not None:
                return first, partner
        return None

    def _veto_points(self, change: VetoPoints) -> tuple[dict[str, Any], dict[str, Any]]:
        self.candidates.check_points(change.points, "VetoPoints")
        before = len(self.candidates.vetoed)
        self.candidates.vetoed.update(change.points)
        self._forced = [p for p in self._forced if p not in self.candidates.vetoed]
        self._drop_blocked_pending()
        return {"n_vetoed": before}, change.to_dict()

    def _drop_blocked_pending(self, *, log: bool = True) -> None:
        """Forget pending points that are now vetoed or in a no-go region.

        This is how an operator gets past a decision the instrument refuses
        (a safety limit on the server, say): veto its points, then Resume. If no
        point of the decision is left, the step counts as done with nothing measured.
        """
        if self._pending is None or self.in_flight:
            return  # points being measured now are measured; the record says so
        decision_id, step, points = self._pending
        keep = [
            i for i, (r, c) in enumerate(points.tolist()) if not self.candidates.blocked((r, c))
        ]
        if len(keep) == points.shape[0]:
            return
        dropped = [tuple(p) for p in points[[i for i in range(len(points)) if i not in keep]]]
        if keep:
            self._pending = (decision_id, step, points[keep])
        else:
            self._pending = None
            self._step = step + 1
        if log:
            self._log(
                "pending_dropped",
                f"pending points {dropped} of step {step} dropped (vetoed or no-go); "
                f"{len(keep)} left to measure",
            )

    def _add_no_go(self, change: AddNoGoRegion) -> tuple[dict[str, Any], dict[str, Any]]:
        if change.mask.shape != self.shape:
            raise ConfigError(
                f"AddNoGoRegion refused: the mask must cover the overview, shape {self.shape}; "
                f"got {change.mask.shape}."
            )
        before = int(self.candidates.no_go.sum())
        self.candidates.no_go |= change.mask
        if isinstance(self.instrument, SafeMicroscope):
            # the safety layer enforces the operator's region too, whoever asks for a point
            self.instrument.add_no_go_mask(change.mask)
        self._forced = [p for p in self._forced if not self.candidates.no_go[p[0], p[1]]]
        self._drop_blocked_pending()
        return {"n_no_go_pixels": before}, change.to_dict()

    # -- log and lifetime ---------------------------------------------------------------

    def _log(self, kind: str, text: str, *, record: bool = True) -> None:
        self.events.append(EventView(self._step, time.time(), kind, text))
        if record:
            with contextlib.suppress(SteerscopeError):  # the log must never stop a campaign
                self.record.add_event(self._step, kind, text)

    def log(self, kind: str, text: str) -> None:
        """Append a line to the campaign log (memory and record)."""
        self._log(kind, text)

    def close(self) -> None:
        """Close the record and release the instrument. Idempotent."""
        try:
            self.instrument.close()
        finally:
            self.record.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Campaign({self.config.name!r}, step={self._step}, measured={self.n_measured}/"
            f"{self.config.budget.measurements}, record={str(self.record.path)!r})"
        )


def _check_budget_fits(
    n: int, shape: tuple[int, ...], *, what: str = "budget.measurements"
) -> None:
    """A budget above the overview's pixel count can never be spent: refuse it by name.

    Raises
    ------
    ConfigError
        If ``n`` exceeds ``H × W`` (a point is measured once).
    """
    pixels = int(shape[0]) * int(shape[1])
    if n > pixels:
        raise ConfigError(
            f"{what} {n:,} is more than the {pixels:,} pixels of the "
            f"{shape[0]}×{shape[1]} overview, and a point is measured once; set at most {pixels:,}."
        )


def _check_seeds_fit(config: CampaignConfig) -> None:
    """A new campaign whose seed points outnumber its budget never lets the model choose.

    Checked when a campaign is created, not in the config: a what-if fork may lower the
    budget of a campaign whose seeds are already measured.

    Raises
    ------
    ConfigError
        If there are more seed points than ``budget.measurements``.
    """
    seeds = config.seed_points
    n = len(seeds.points) if isinstance(seeds, ListSeeds) else int(seeds.n)
    if n > config.budget.measurements:
        raise ConfigError(
            f"seed_points: {n} seed points would spend more than the whole budget of "
            f"{config.budget.measurements} spectra before the model chooses one; ask for at "
            "most budget.measurements seeds (usually 5-10)."
        )
