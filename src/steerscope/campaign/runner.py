"""The background runner: drives a :class:`Campaign` on its own thread, steered through a queue.

Operators (UI tabs, scripts) :meth:`CampaignRunner.post` interventions to a
thread-safe queue. A posted intervention shows in the snapshot at once, as
*queued*; the runner thread applies it as soon as it reaches it (it never waits
for a fit or an acquisition to end, see :mod:`~steerscope.campaign.pipeline`),
and the next proposal is made under it. The runner publishes an immutable
:class:`CampaignSnapshot` after every change, which any number of observers
read with :meth:`CampaignRunner.snapshot` without locks.

An instrument error during a step pauses the run with the reason shown;
nothing is lost (the decision stays pending in the record) and
:class:`Resume` retries it. A refused safety limit pauses the same way, with
the limit named in the reason; since retrying the same points would be refused
again, veto them (or add a no-go region over them) before resuming.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.campaign.engine import Campaign
from steerscope.campaign.interventions import (
    Intervention,
    Pause,
    Resume,
    RunSteps,
    Stop,
    describe_intervention,
)
from steerscope.campaign.pipeline import STALL_FACTOR, BeamDone, BeamPoint, Pipeline, ProposalDone
from steerscope.campaign.snapshot import (
    CampaignSnapshot,
    SnapshotStatus,
    frozen_array,
    frozen_or_none,
)
from steerscope.errors import ConfigError, InstrumentError, SafetyLimitError, SteerscopeError

__all__ = ["CampaignRunner", "discovery_curve"]

log = logging.getLogger(__name__)

MAX_SAVED_MAP_PIXELS = 256 * 256
"""Maps saved into the record each step are strided down to at most about this many pixels."""


@dataclasses.dataclass(frozen=True)
class _LogNote:
    """An event for the runner thread to write into the campaign log."""

    kind: str
    text: str


def discovery_curve(
    ground_truth: NDArray[np.floating[Any]],
    points: NDArray[np.int64],
    *,
    top_fraction: float = 0.01,
    radius: float = 2.0,
) -> list[tuple[int, float]]:
    """How fast a campaign found the best pixels of the ground truth.

    Parameters
    ----------
    ground_truth : ndarray of shape (H, W)
        The true target on the overview grid.
    points : ndarray of shape (n, 2)
        Measured pixels in acquisition order.
    top_fraction : float
        The "best pixels" are the top ``top_fraction`` of the ground truth (at least one).
    radius : float
        A best pixel is found once a measured point lies within ``radius`` pixels of it.

    Returns
    -------
    list of (int, float)
        ``(k, fraction of best pixels found by the first k measurements)`` for k = 1..n.
    """
    truth = np.asarray(ground_truth, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return []
    finite = np.where(np.isfinite(truth), truth, -np.inf).ravel()
    n_top = max(1, round(top_fraction * finite.size))
    top = np.argsort(-finite, kind="stable")[:n_top]
    top_rc = np.stack(np.unravel_index(top, truth.shape), axis=1).astype(np.float64)
    dist = np.linalg.norm(top_rc[:, None, :] - pts[None, :, :], axis=2)  # (T, n)
    hit = dist <= radius
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), pts.shape[0])  # first finder
    counts = np.bincount(first, minlength=pts.shape[0] + 1)[: pts.shape[0]]
    found = np.cumsum(counts) / float(n_top)
    return [(k + 1, float(found[k])) for k in range(pts.shape[0])]


def _multi_objective_views(campaign: Campaign) -> dict[str, Any]:
    """Snapshot fields of a multi-objective campaign (empty dict for a single target).

    ``discovery`` there is the hypervolume curve normalised by the hypervolume of
    every pixel of the built-in dataset (empty when the ground truth is unknown).
    """
    if not campaign.is_multi_objective:
        return {}
    history = campaign.hypervolume_history()
    reference = campaign.hypervolume_reference()
    total = campaign.ground_truth_hypervolume()
    discovery = (
        [(n, volume / total) for _, n, volume in history]
        if np.isfinite(total) and total > 0
        else []
    )
    return {
        "objectives": frozen_array(campaign.objectives(), np.float64),
        "pareto_mask": frozen_array(campaign.pareto_mask(), bool),
        "hypervolume_history": [(n, volume) for _, n, volume in history],
        "reference_point": None if reference is None else frozen_array(reference.point),
        "objective_labels": tuple(campaign.objective_labels),
        "discovery": discovery,
    }


def _stride_for(shape: tuple[int, int]) -> int:
    stride = 1
    while (shape[0] // stride) * (shape[1] // stride) > MAX_SAVED_MAP_PIXELS:
        stride += 1
    return stride


class CampaignRunner:
    """Run a campaign on a background thread; apply posted interventions between steps.

    Parameters
    ----------
    campaign : Campaign
        The engine to drive; from :meth:`start` on only the runner's thread touches it.
    save_maps : bool
        Save the posterior maps into the record after each model step (strided
        down when the overview is large), so a UI can scrub history.
    idle_poll_s : float
        How long the thread waits for a message when it has nothing to do.
    stall_factor : float
        See :class:`~steerscope.campaign.pipeline.Pipeline`; ``inf`` always waits
        for the model (no ``queue`` points, deterministic runs).

    Attributes
    ----------
    pipeline : Pipeline
        The beam and model threads this runner drives (read-only for observers).

    Examples
    --------
    >>> runner = CampaignRunner(campaign).start()          # doctest: +SKIP
    >>> runner.post(SetPolicy(beta=4.0))                    # doctest: +SKIP
    >>> runner.wait_for(lambda s: s.n_measured >= 10, 60)  # doctest: +SKIP
    >>> runner.stop(timeout=30)                             # doctest: +SKIP
    """

    def __init__(
        self,
        campaign: Campaign,
        *,
        save_maps: bool = True,
        idle_poll_s: float = 0.05,
        stall_factor: float = STALL_FACTOR,
    ) -> None:
        self.campaign = campaign
        self.save_maps = save_maps
        self.idle_poll_s = idle_poll_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._queued: list[tuple[Intervention, str]] = []
        self._proposals: dict[int, tuple[Intervention, dict[str, Any]]] = {}
        self._last_proposal_id = 0
        self.pipeline = Pipeline(campaign, self._queue.put, stall_factor=stall_factor)
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._status: SnapshotStatus = "idle"
        self._reason = ""
        self._steps_left: int | None = None
        self._next_points = np.zeros((0, 2), dtype=np.int64)
        self._held_after_seeds = campaign.seeds_measured  # a resumed run does not hold again
        self._snapshot = self._build_snapshot()

    # -- public API ---------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> CampaignRunner:
        """Start the background thread; with ``paused=True`` it waits for Resume or RunSteps."""
        if self._thread is not None:
            raise ConfigError("this runner was already started; create a new CampaignRunner")
        self._status = "paused" if paused else "running"
        self._reason = "started paused" if paused else ""
        self._publish()
        self._thread = threading.Thread(
            target=self._loop, name=f"steerscope-runner-{self.campaign.config.name}", daemon=True
        )
        self._thread.start()
        return self

    def post(self, intervention: Intervention) -> str:
        """Queue an intervention; it shows in the snapshot at once and governs the next proposal.

        Returns
        -------
        str
            The acknowledgement, as in the snapshot's ``queued`` (``"beta 0.25 → 1"``).
        """
        text = describe_intervention(intervention, self._snapshot.policy)
        with self._changed:
            self._queued.append((intervention, text))
            self._snapshot = dataclasses.replace(
                self._snapshot, queued=tuple(t for _, t in self._queued)
            )
            self._changed.notify_all()
        self._queue.put(intervention)
        return text

    def propose(self, intervention: Intervention, *, by: str, reason: str = "") -> int:
        """Hold a change an assistant proposes until the operator decides (:meth:`decide`).

        It shows in the snapshot's ``proposals`` at once and is logged as an event; it
        takes no effect unless approved. The guardrail of an assistant that may suggest
        but never steer (``steerscope assistant``).

        Parameters
        ----------
        intervention : Intervention
            The change proposed.
        by : str
            Who proposes it, for the operator and the record (``"assistant"``).
        reason : str
            Why, in the proposer's words.

        Returns
        -------
        int
            The proposal's number, for :meth:`decide`.
        """
        text = describe_intervention(intervention, self._snapshot.policy)
        view = {"text": text, "by": str(by), "reason": str(reason)}
        with self._changed:
            self._last_proposal_id += 1
            number = self._last_proposal_id
            self._proposals[number] = (intervention, {"id": number, **view})
            self._snapshot = dataclasses.replace(self._snapshot, proposals=self._proposal_views())
            self._changed.notify_all()
        why = f" because {reason}" if reason else ""
        self._queue.put(
            _LogNote("intervention_proposed", f"#{number} {by} proposes {text}{why}; waiting")
        )
        return number

    def decide(self, proposal: int, *, approve: bool) -> str:
        """The operator's answer to proposal ``proposal``: approved, it is posted as theirs.

        Returns
        -------
        str
            The acknowledgement (``"beta 1 → 4"``), or what was rejected.

        Raises
        ------
        ConfigError
            When no proposal of that number is waiting (decided already, or unknown).
        """
        with self._changed:
            entry = self._proposals.pop(int(proposal), None)
            self._snapshot = dataclasses.replace(self._snapshot, proposals=self._proposal_views())
            self._changed.notify_all()
        if entry is None:
            raise ConfigError(f"no proposal #{proposal} is waiting; it was decided already")
        intervention, view = entry
        verdict = "approved" if approve else "rejected"
        self._queue.put(
            _LogNote(
                f"proposal_{verdict}",
                f"#{view['id']} {view['text']} (proposed by {view['by']}): {verdict} by the "
                "operator",
            )
        )
        if approve:
            return self.post(intervention)
        return f"rejected: {view['text']}"

    def _proposal_views(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(view) for _, view in self._proposals.values())

    def snapshot(self) -> CampaignSnapshot:
        """The latest immutable view of the campaign (no lock; never blocks)."""
        return self._snapshot

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait_for(
        self, predicate: Callable[[CampaignSnapshot], bool], timeout: float
    ) -> CampaignSnapshot:
        """Block until ``predicate(snapshot)`` holds, at most ``timeout`` seconds.

        Returns
        -------
        CampaignSnapshot
            The first snapshot for which the predicate held.

        Raises
        ------
        TimeoutError
            If it did not hold in time (the message shows the last status).
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                snap = self._snapshot
                if predicate(snap):
                    return snap
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"the campaign did not reach the awaited state within {timeout} s; "
                        f"last status {snap.status!r} ({snap.reason or 'no reason'}), "
                        f"step {snap.step}, {snap.n_measured} measured"
                    )
                self._changed.wait(min(left, 0.5))

    def stop(self, timeout: float = 30.0) -> bool:
        """Post :class:`Stop` and join the thread, at most ``timeout`` seconds.

        Returns
        -------
        bool
            True if the thread ended in time (the current step finishes first).
        """
        if self._thread is None:
            self._status = "stopped"
            self._publish()
            return True
        self.post(Stop())
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        pipeline = self.pipeline
        try:
            self.campaign.record.set_status(self._status, self._reason)
            while self._status != "stopped":
                self._drain()
                if self._status == "stopped":
                    break
                self._advance()
                try:
                    message = self._queue.get(timeout=self.idle_poll_s)
                except queue.Empty:
                    continue
                self._handle(message)
        except Exception as exc:  # a bug must show in the UI, not kill the thread silently
            log.exception("campaign runner failed")
            self._set_status("error", f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):  # spectra in flight are recorded, not lost
                self._step_done(pipeline.finish(timeout=60.0))
            pipeline.close()
            self._publish()

    def _advance(self) -> None:
        """Send the next points to the beam when running; compute ahead when running or paused."""
        c, pipeline = self.campaign, self.pipeline
        if self._status not in ("running", "paused"):
            return
        may_send = self._status == "running" and (self._steps_left is None or self._steps_left > 0)
        was_busy = pipeline.beam_busy
        try:
            pipeline.advance(start_beam=may_send)
        except SteerscopeError as exc:
            c.log("step_error", str(exc))
            self._set_status("paused", f"{type(exc).__name__}: {exc}. Fix it, then Resume.")
            return
        if pipeline.beam_busy and not was_busy:
            if self._steps_left is not None:
                self._steps_left -= 1
            self._publish()  # the points in flight show as next points
        if pipeline.beam_busy:
            return
        if self._status == "running" and c.done:
            self._set_status("finished", c.done_reason())
        elif self._status == "running" and self._steps_left == 0:
            self._steps_left = None
            self._set_status("paused", "ran the requested steps")

    def _drain(self) -> None:
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return
            self._handle(message)
            if self._status == "stopped":
                return

    def _handle(self, message: Any) -> None:
        if isinstance(message, BeamDone | BeamPoint | ProposalDone):
            self._pipeline_event(message)
            return
        if isinstance(message, _LogNote):  # logged here: only this thread writes the record
            self.campaign.log(message.kind, message.text)
            self._publish()
            return
        self._dequeue(message)
        before = self._status
        if self._control_is_moot(message):
            self._publish()
            return
        if isinstance(message, Pause | Stop):
            self.pipeline.halt()  # after the spectrum in flight, not the whole batch
        if isinstance(message, Stop):
            if before == "finished":
                # end the thread; the record keeps "finished", which is what happened
                self._status = "stopped"
                self._reason = f"finished ({self.campaign.done_reason()}); runner stopped"
                return
            self.campaign.note_control(message, before, "stopped")
            self._set_status("stopped", "stopped by the operator")
        elif isinstance(message, Pause):
            self._steps_left = None
            self.campaign.note_control(message, before, "paused")
            self._set_status("paused", "paused by the operator")
        elif isinstance(message, Resume):
            self._steps_left = None
            self.campaign.note_control(message, before, "running")
            self._set_status("running", "")
        elif isinstance(message, RunSteps):
            if not isinstance(message.n, int) or message.n < 1:
                self.campaign.log(
                    "intervention_rejected",
                    f"RunSteps refused: n must be an integer >= 1; got {message.n!r}",
                )
                self._publish()
                return
            self._steps_left = message.n
            self.campaign.note_control(message, before, "running")
            self._set_status("running", f"running {message.n} step(s)")
        else:
            # a refused intervention is recorded as an event by the engine; the run goes on
            with contextlib.suppress(SteerscopeError):
                revision = self.campaign.revision
                self.campaign.apply(message)
                if self.campaign.revision != revision:  # a setting changed (a vote is none)
                    self.pipeline.supersede(f"{type(message).__name__} came after it")
            if self._status == "finished" and not self.campaign.done:
                self._set_status("running", "")
            self._publish()

    def _control_is_moot(self, message: Any) -> bool:
        """Pause while paused, Resume while running: nothing to do, nothing recorded.

        A finished campaign cannot be paused, resumed or stepped (raise its budget
        first); the event log says so instead of the status turning to "paused".
        """
        if isinstance(message, Pause) and self._status == "paused":
            return True
        if isinstance(message, Resume) and self._status == "running":
            return True
        if isinstance(message, Pause | Resume | RunSteps) and self._status == "finished":
            self.campaign.log(
                "intervention_rejected",
                f"{type(message).__name__} ignored: the campaign is finished "
                f"({self.campaign.done_reason()}); raise the budget to go on.",
            )
            return True
        return False

    def _dequeue(self, message: Intervention) -> None:
        with self._changed:
            for i, (queued, _) in enumerate(self._queued):
                if queued is message:
                    del self._queued[i]
                    break

    def _pipeline_event(self, event: BeamDone | BeamPoint | ProposalDone) -> None:
        n_before = self.campaign.n_measured
        try:
            result = self.pipeline.handle(event)
        except SafetyLimitError as exc:
            reason = (
                f"safety limit refused the step: {exc}. Nothing was acquired and the points "
                "stay pending; veto them (or add a no-go region) and Resume to go on elsewhere, "
                "or Stop if a dose or acquisition limit is spent."
            )
            self.campaign.log("safety_limit", str(exc))
            self._set_status("paused", reason)
            return
        except InstrumentError as exc:
            reason = f"instrument error: {exc}. Post Resume to retry the same points."
            self.campaign.log("instrument_error", str(exc))
            self._set_status("paused", reason)
            return
        except SteerscopeError as exc:
            self.campaign.log("step_error", str(exc))
            self._set_status("paused", f"{type(exc).__name__}: {exc}. Fix it, then Resume.")
            return
        self._step_done(result)
        self._hold_if_due(n_before)
        self._publish()

    def _hold_if_due(self, n_before: int) -> None:
        """Pause by itself where ``config.pauses`` asks, so the operator can look first."""
        c = self.campaign
        pauses = c.config.pauses
        if self._status != "running" or c.done or c.n_measured == n_before:
            return
        reason = ""
        if pauses.after_seeds and not self._held_after_seeds and c.seeds_measured:
            self._held_after_seeds = True
            reason = (
                "paused after the seed points (pauses.after_seeds): look at the first maps, "
                "change beta or the target if needed, then Resume"
            )
        elif pauses.every and c.n_measured // pauses.every > n_before // pauses.every:
            reason = f"paused after {c.n_measured} spectra (pauses.every = {pauses.every}); Resume"
        if reason:
            self.pipeline.halt()  # after the spectrum in flight, if one is
            self._steps_left = None
            c.log("auto_pause", reason)
            self._set_status("paused", reason)

    def _step_done(self, result: Any) -> None:
        if result is not None:
            self._save_maps(result.step)

    def _save_maps(self, step: int) -> None:
        maps = self._maps()
        if not self.save_maps or maps["mean"] is None:
            return
        stride = _stride_for(self.campaign.shape)
        try:
            self.campaign.record.save_maps(
                step,
                {
                    name: value[::stride, ::stride]
                    for name, value in maps.items()
                    if value is not None
                },
            )
        except SteerscopeError as exc:
            self.campaign.log("record_error", f"maps of step {step} not saved: {exc}")

    def _set_status(self, status: SnapshotStatus, reason: str) -> None:
        changed = (status, reason) != (self._status, self._reason)
        self._status, self._reason = status, reason
        if changed:
            try:
                self.campaign.record.set_status(status, reason)
            except SteerscopeError as exc:
                log.warning("cannot write the status to the record: %s", exc)
        self._publish()

    # -- snapshots ----------------------------------------------------------------------

    def _maps(self) -> dict[str, NDArray[np.float64] | None]:
        posterior = self.campaign.last_posterior
        if posterior is None:
            return {"mean": None, "std": None, "acquisition": None}
        mean, var, scores = posterior
        return {
            "mean": self.campaign.to_overview_map(mean),
            "std": self.campaign.to_overview_map(np.sqrt(np.clip(var, 0.0, None))),
            "acquisition": self.campaign.to_overview_map(scores),
        }

    def _build_snapshot(self) -> CampaignSnapshot:
        c = self.campaign
        settings = c.describe_settings()
        maps = self._maps()
        truth = None if c.dataset is None else np.asarray(c.dataset.ground_truth, np.float64)
        points = c.measured_points
        mo = _multi_objective_views(c)
        if c.is_multi_objective:
            discovery = mo.pop("discovery")
        else:
            discovery = discovery_curve(truth, points) if truth is not None else []
        next_points = np.zeros((0, 2), dtype=np.int64)
        if c.pending_points.shape[0]:
            next_points = c.pending_points
        elif c.queued_points.shape[0]:
            next_points = c.queued_points
        ready = self.pipeline.ready
        ahead = ready.points if ready is not None else np.zeros((0, 2), dtype=np.int64)
        return CampaignSnapshot(
            status=self._status,
            reason=self._reason,
            step=c.step_index,
            budget=c.config.budget.measurements,
            n_measured=c.n_measured,
            overview=frozen_array(c.overview.image, np.float32),
            measured_points=frozen_array(points, np.int64),
            targets=frozen_array(c.targets(), np.float64),
            next_points=frozen_array(next_points, np.int64),
            ahead_points=frozen_array(ahead, np.int64),
            pixel_size=float(c.overview.pixel_size),
            pixel_units=str(c.overview.pixel_units),
            measured_steps=frozen_array(c.history.steps, np.int64),
            measured_phases=tuple(c.measured_phases),
            vetoed_points=frozen_array(c.vetoed_points, np.int64).reshape(-1, 2),
            mean_map=frozen_or_none(maps["mean"]),
            std_map=frozen_or_none(maps["std"]),
            acquisition_map=frozen_or_none(maps["acquisition"]),
            ground_truth=frozen_or_none(truth),
            model_skill=frozen_array(c.model_skill().running, np.float64),
            discovery=discovery,
            step_timings=[dict(t) for t in c.step_timings],
            events=tuple(c.events),
            policy=settings["policy"],
            scalarizer=settings["scalarizer"],
            descriptor=settings["descriptor"],
            record_path=str(c.record.path),
            votes=tuple(sorted(c.votes.items())),
            comparison=c.next_comparison() if c.learned_target else None,
            n_comparisons=len(c.comparisons),
            beam_idle=self.pipeline.summary().beam_idle,
            **mo,
        )

    def _publish(self) -> None:
        snap = self._build_snapshot()
        with self._changed:
            queued = tuple(text for _, text in self._queued)
            self._snapshot = dataclasses.replace(
                snap, queued=queued, proposals=self._proposal_views()
            )
            self._changed.notify_all()
