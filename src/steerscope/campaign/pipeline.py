"""Keep the beam busy: acquire on one thread while the next proposal is computed on another.

The sequential loop (:meth:`Campaign.step`) leaves the beam idle while the
model trains. :class:`Pipeline` overlaps the two: as soon as a decision goes to
the instrument, the proposal for the one after it is computed, conditioned on
the points in flight (believed at their predicted mean). When the spectra
arrive they are recorded first, then the ready proposal is recorded and sent.

Three threads, one owner:

- the **owner** (a :class:`~steerscope.campaign.runner.CampaignRunner` thread
  or :func:`run_pipelined`'s caller) is the only one that touches the campaign
  and its record; it feeds every event to :meth:`Pipeline.handle`;
- the **beam** thread only calls ``instrument.acquire``;
- the **compute** thread only runs :func:`~steerscope.campaign.proposals.compute_proposal`
  on a job that holds copies of what it needs.

Rules that keep the record honest:

- at most one decision is pending (the one in flight), so a kill at any
  moment resumes exactly as for the sequential loop;
- an intervention makes every proposal made before it *superseded*: it is
  logged and never measured, and the next proposal is computed under the new
  settings;
- while a refit runs, the next points come from the last fit updated with
  every spectrum since, without training (:meth:`Campaign.update_proposal`, a
  few milliseconds; the decision records how many spectra the fit saw),
  computed ahead while the beam works when refits take longer than a
  spectrum, as long as ``policy.max_unfitted`` allows; beyond it the beam
  waits for the refit;
- a refit that runs long past its usual time never stops the beam: the
  updated fit chooses whatever ``max_unfitted`` says, or, for a model that
  cannot be updated (several objectives), the next points of the last
  model's ranking (source ``queue``, kept away from what was measured
  since); then it waits as long again before the next such choice; the
  event log says so.
"""

from __future__ import annotations

import contextlib
import math
import queue
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from steerscope.campaign.engine import Campaign, StepResult
from steerscope.campaign.proposals import ComputedProposal, Proposal, ProposalJob, compute_proposal
from steerscope.campaign.sources import acquire_at_dwell
from steerscope.types import Measurement

__all__ = ["BeamDone", "BeamPoint", "Pipeline", "ProposalDone", "RunSummary", "run_pipelined"]

STALL_FACTOR = 3.0
"""A refit counts as stalled once it has run this many times its recent median."""
MIN_STALL_S = 0.25
"""…and at least this long, so a fast model is never cut short by jitter."""


@dataclass(frozen=True, eq=False)
class BeamDone:
    """The instrument finished (or failed) a decision's acquisition.

    ``arrived`` holds the spectra acquired so far, one point at a time, so
    the owner records each as it comes (a batch cut short keeps what it got);
    :class:`BeamPoint` says one more is there. Setting ``halt`` ends the
    acquisition after the spectrum in flight (the rest stays pending).
    """

    future: Future[float]
    proposal: Proposal
    step: int
    started: float
    waited_s: float
    arrived: queue.SimpleQueue[Measurement]
    halt: threading.Event


@dataclass(frozen=True, eq=False)
class BeamPoint:
    """One more spectrum of the decision in flight is in ``beam.arrived``."""

    beam: BeamDone


@dataclass(frozen=True, eq=False)
class ProposalDone:
    """The compute thread finished (or failed) a proposal job."""

    future: Future[ComputedProposal]
    job: ProposalJob
    started: float


@dataclass(frozen=True)
class RunSummary:
    """What a run did, for its last line: spectra, wall time, beam idle fraction."""

    n_spectra: int
    wall_s: float
    beam_idle: float

    def line(self) -> str:
        """``"12 spectra in 30.1 s, beam idle 3.2 %"``."""
        idle = "n/a" if math.isnan(self.beam_idle) else f"{100 * self.beam_idle:.1f} %"
        return f"{self.n_spectra} spectra in {self.wall_s:.1f} s, beam idle {idle}"


class Pipeline:
    """Drive a campaign's beam and model side by side; see the module docstring.

    Parameters
    ----------
    campaign : Campaign
        The engine; only the owner's thread touches it.
    notify : callable
        Puts an event (:class:`BeamDone`, :class:`ProposalDone`) into the
        owner's queue; called from the worker threads.
    stall_factor, min_stall_s : float
        When the beam is free and the proposal for it has been computing longer
        than ``max(stall_factor * median recent compute, min_stall_s)``, the
        beam takes the updated last fit's choice whatever ``max_unfitted`` says
        (or, for a model that cannot be updated, the next points of the last
        ranking). ``stall_factor = inf`` always waits for the refit, with no
        updates in between either (deterministic runs).
    """

    def __init__(
        self,
        campaign: Campaign,
        notify: Callable[[Any], None],
        *,
        stall_factor: float = STALL_FACTOR,
        min_stall_s: float = MIN_STALL_S,
    ) -> None:
        self.campaign = campaign
        self.notify = notify
        self.stall_factor = float(stall_factor)
        self.min_stall_s = float(min_stall_s)
        self.updates = math.isfinite(self.stall_factor)
        campaign.pipelined = True
        self._beam = ThreadPoolExecutor(1, thread_name_prefix="steerscope-beam")
        self._compute = ThreadPoolExecutor(1, thread_name_prefix="steerscope-compute")
        self._beam_event: BeamDone | None = None
        self._computing: ProposalDone | None = None
        self._ready: Proposal | None = None
        self._beam_free_since: float | None = None
        self.started_at = time.time()
        self.n_told = 0
        self.beam_busy_s = 0.0
        self.beam_wait_s = 0.0
        self._told: list[Measurement] = []

    # -- state --------------------------------------------------------------------------

    @property
    def beam_busy(self) -> bool:
        """Whether an acquisition is in flight."""
        return self._beam_event is not None

    @property
    def ready(self) -> Proposal | None:
        """The proposal computed ahead for the next beam move, if any."""
        return self._ready

    @property
    def computing(self) -> bool:
        """Whether a proposal job is running."""
        return self._computing is not None

    def summary(self) -> RunSummary:
        """Spectra told, wall time and beam idle fraction since this pipeline started.

        The beam is idle while it waits for a proposal or for the record, not
        while the operator holds it (paused, or out of requested steps).
        """
        total = self.beam_busy_s + self.beam_wait_s
        idle = self.beam_wait_s / total if total > 0 else math.nan
        return RunSummary(self.n_told, time.time() - self.started_at, idle)

    # -- driving ------------------------------------------------------------------------

    def advance(self, *, start_beam: bool = True) -> None:
        """Start whatever can start: the beam on the next points, the model on the one after.

        Parameters
        ----------
        start_beam : bool
            False while paused or out of steps: the beam stays idle, but the
            proposal for the next points is still computed.
        """
        c = self.campaign
        if not start_beam:
            self._beam_free_since = None  # held by the operator, not waiting on compute
        if start_beam and not self.beam_busy and not c.done:
            proposal = self._next_for_beam()
            if proposal is not None:
                self._send(proposal)
        if self._ready is None and not self.computing and not c.done:
            self._start_compute()
        if self._ready is None and self.computing and not c.done and self._refit_outlasts_beam():
            # the refit will not be ready when the beam is: choose ahead from the last fit
            self._ready = c.update_proposal(in_flight=self.beam_busy)

    def handle(self, event: Any) -> StepResult | None:
        """Apply a worker's event on the owner's thread; a StepResult when spectra were recorded.

        Raises
        ------
        Exception
            What the instrument raised for a failed acquisition (the decision
            stays pending and the next :meth:`advance` retries it).
        """
        if isinstance(event, ProposalDone):
            self._proposal_done(event)
            return None
        if isinstance(event, BeamPoint):
            if event.beam is self._beam_event:
                self._tell_arrived(event.beam)
            return None
        if isinstance(event, BeamDone):
            return self._beam_done(event)
        raise TypeError(f"not a pipeline event: {event!r}")

    def supersede(self, reason: str) -> None:
        """Drop proposals made before an intervention (they are logged, never measured)."""
        if self._ready is not None:
            self._log_superseded(self._ready, reason)
            self._ready = None

    def halt(self) -> None:
        """End the acquisition in flight after its current spectrum (Pause, Stop).

        The decision's other points stay pending in the record and are measured
        first when the beam is sent again.
        """
        if self._beam_event is not None:
            self._beam_event.halt.set()

    def finish(self, timeout: float | None = None) -> StepResult | None:
        """Wait for the acquisition in flight and record it (before a stop or a pause)."""
        event = self._beam_event
        if event is None:
            return None
        done, _ = wait([event.future], timeout)
        if not done:
            return None  # still acquiring; the record keeps the decision pending
        return self._beam_done(event)

    def close(self) -> None:
        """Stop the worker threads (a running computation is left to end on its own)."""
        self.campaign.pipelined = False
        self._beam.shutdown(wait=True)
        self._compute.shutdown(wait=False, cancel_futures=True)

    # -- the beam -----------------------------------------------------------------------

    def _next_for_beam(self) -> Proposal | None:
        c = self.campaign
        if c.pending_points.shape[0]:
            # an unfinished recorded decision (after an error or a resume): measure it first
            planned = c.plan()
            return planned if isinstance(planned, Proposal) else None
        ready = self._ready
        if ready is not None:
            self._ready = None
            stale = c.why_stale(ready)
            if stale is None:
                return ready
            self._log_superseded(ready, stale)
        if self.computing:
            updated = c.update_proposal() if self.updates else None
            if updated is not None:
                return updated
            if self._stalled():
                # a stall: the last fit updated with every spectrum since, however many;
                # a model that cannot be updated: the last ranking
                updated = c.update_proposal(max_unfitted=1.0) if self.updates else None
                fallback = updated if updated is not None else c.queue_proposal()
                if fallback is not None:
                    waited = time.perf_counter() - self._computing.started  # type: ignore[union-attr]
                    what = (
                        "of the last fit, updated with every spectrum since"
                        if updated is not None
                        else "of the last model's ranking"
                    )
                    c.log(
                        "model_stall",
                        f"the model was still training after {waited:.1f} s; measuring the next "
                        f"{fallback.points.shape[0]} point(s) {what}",
                    )
                    return fallback
            return None
        planned = c.plan()
        if isinstance(planned, Proposal):
            return planned
        self._submit(planned)
        return None

    def _send(self, proposal: Proposal) -> None:
        c = self.campaign
        if c.pending_points.shape[0] == 0:
            c.record_decision(proposal)
        points = c.pending_points.copy()
        waited = 0.0
        now = time.perf_counter()
        if self._beam_free_since is not None:
            waited = now - self._beam_free_since
        c.in_flight = True
        arrived: queue.SimpleQueue[Measurement] = queue.SimpleQueue()
        future: Future[float] = Future()
        event = BeamDone(future, proposal, c.step_index, now, waited, arrived, threading.Event())
        self._beam_event = event
        self._told = []
        dwell = c.dwell_for(points)
        self._beam.submit(_acquire_points, c.instrument, points, dwell, event, self.notify)
        future.add_done_callback(lambda _: self.notify(event))

    def _tell_arrived(self, event: BeamDone) -> None:
        """Record every spectrum that has arrived (durably, each before the next beam move)."""
        c = self.campaign
        while True:
            try:
                measurement = event.arrived.get_nowait()
            except queue.Empty:
                return
            c.tell(measurement)
            self._told.append(measurement)

    def _beam_done(self, event: BeamDone) -> StepResult | None:
        if self._beam_event is not event:
            return None  # already handled (finish() then the queued event)
        c = self.campaign
        t0 = time.perf_counter()
        self._tell_arrived(event)
        self._beam_event = None
        c.in_flight = False
        try:
            ended = event.future.result()
        except BaseException:
            self._beam_free_since = None  # a failed acquisition pauses the run
            raise
        finally:
            if self._told and c.is_multi_objective:
                c.save_pareto_summary()
        t1 = time.perf_counter()
        self._beam_free_since = ended
        self.beam_busy_s += ended - event.started
        self.beam_wait_s += event.waited_s
        points = (
            np.concatenate([m.points for m in self._told])
            if self._told
            else event.proposal.points[:0]
        )
        n = points.shape[0]
        self.n_told += n
        timings = {
            **{k: float(v) for k, v in event.proposal.timings.items()},
            "instrument_s": ended - event.started,
            "record_s": t1 - t0,
            "beam_wait_s": event.waited_s,
        }
        c.step_timings.append({"step": event.step, **timings})
        return c.step_result(event.step, points, event.proposal.source, timings)

    # -- the model ----------------------------------------------------------------------

    def _start_compute(self) -> None:
        c = self.campaign
        planned = c.plan(in_flight=self.beam_busy)
        if isinstance(planned, Proposal):
            if planned.source != "pending":
                self._ready = planned
            return
        self._submit(planned)

    def _submit(self, job: ProposalJob) -> None:
        if self.computing:
            return
        future = self._compute.submit(compute_proposal, job)
        event = ProposalDone(future, job, time.perf_counter())
        self._computing = event
        future.add_done_callback(lambda _: self.notify(event))

    def _proposal_done(self, event: ProposalDone) -> None:
        if self._computing is not event:
            return
        self._computing = None
        c = self.campaign
        computed = event.future.result()  # a bug in the model code shows, it is not hidden
        proposal = c.accept(computed)
        if self.updates and c.n_measured > int(proposal.conditioned_on.get("n_measured", -1)):
            # spectra came in while it trained: the new fit, updated with them, chooses
            updated = c.update_proposal(in_flight=self.beam_busy)
            if updated is not None:
                self._ready = updated
                return
        stale = c.why_stale(proposal)
        if stale is None:
            self._ready = proposal
        else:
            self._log_superseded(proposal, stale)

    def _refit_outlasts_beam(self) -> bool:
        """Whether refits (median of the last ones) take longer than the beam's points."""
        c = self.campaign
        if not self.updates or not c.compute_seconds:
            return False
        per_point = c.recent_point_seconds()
        return per_point is not None and statistics.median(c.compute_seconds) > per_point

    def _stalled(self) -> bool:
        recent = self.campaign.compute_seconds
        if self._computing is None or not recent:
            return False  # nothing to compare with: the first fit is always waited for
        usual = statistics.median(recent)
        limit = max(self.stall_factor * usual, self.min_stall_s)
        now = time.perf_counter()
        started = self._computing.started
        waiting_since = started if self._beam_free_since is None else self._beam_free_since
        # the beam waits ``limit`` before each fallback: a long stall is bridged, while a
        # short one at millisecond dwells does not fill the record with stale choices
        return now - started > limit and now - max(waiting_since, started) > limit

    def _log_superseded(self, proposal: Proposal, reason: str) -> None:
        pts = ", ".join(f"({int(r)}, {int(col)})" for r, col in proposal.points)
        self.campaign.log("proposal_superseded", f"proposal {pts} not measured: {reason}")


def _acquire_points(
    instrument: Any,
    points: Any,
    dwell: Any,
    event: BeamDone,
    notify: Callable[[Any], None],
) -> None:
    """The beam thread's job: acquire one point at a time, handing each spectrum over at once.

    ``dwell`` ``(q,)`` is each point's chosen dwell, or None to keep the instrument's.
    Sets ``event.future`` to the ``perf_counter`` time the last spectrum ended,
    or to the instrument's error (the spectra before it are kept).
    """
    try:
        for i in range(len(points)):
            if event.halt.is_set():
                break
            at = None if dwell is None else dwell[i]
            event.arrived.put(acquire_at_dwell(instrument, points[i : i + 1], at))
            notify(BeamPoint(event))
    except BaseException as exc:
        event.future.set_exception(exc)
        return
    event.future.set_result(time.perf_counter())


def run_pipelined(
    campaign: Campaign,
    n_steps: int | None = None,
    callback: Callable[[StepResult], None] | None = None,
    *,
    stall_factor: float = STALL_FACTOR,
    poll_s: float = 0.05,
) -> tuple[list[StepResult], RunSummary]:
    """Run to the budget (or ``n_steps`` decisions) with the beam and the model overlapped.

    The headless twin of :meth:`Campaign.run`. A ``KeyboardInterrupt`` lets the
    acquisition in flight finish and records it before it propagates.

    Parameters
    ----------
    campaign : Campaign
    n_steps : int or None
        Most decisions to send to the beam; None: to the budget.
    callback : callable, optional
        Called with each :class:`StepResult`.
    stall_factor : float
        See :class:`Pipeline`.
    poll_s : float
        How often the loop looks for a stalled refit.

    Returns
    -------
    results : list of StepResult
    summary : RunSummary
    """
    events: queue.Queue[Any] = queue.Queue()
    pipeline = Pipeline(campaign, events.put, stall_factor=stall_factor)
    results: list[StepResult] = []
    sent = 0
    campaign.record.set_status("running")
    try:
        while True:
            may_send = n_steps is None or sent < n_steps
            was_busy = pipeline.beam_busy
            pipeline.advance(start_beam=may_send)
            if pipeline.beam_busy and not was_busy:
                sent += 1
            if not pipeline.beam_busy and (campaign.done or not may_send):
                break
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                continue
            result = pipeline.handle(event)
            if result is not None:
                results.append(result)
                if callback is not None:
                    callback(result)
    except BaseException:
        pipeline.halt()  # Ctrl-C: the spectrum in flight is recorded, the rest stays pending
        with contextlib.suppress(Exception):
            pipeline.finish()
        raise
    finally:
        pipeline.close()
    if campaign.done:
        campaign.record.set_status("finished", campaign.done_reason())
    else:
        campaign.record.set_status("paused", f"stopped after {len(results)} step(s)")
    return results, pipeline.summary()
