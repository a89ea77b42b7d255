"""Run a tuning campaign while other threads watch it and post changes.

The thread that calls :meth:`TuningRunner.run` is the only one that touches the
instrument and the record. Another thread (the steering server's, for the web UI
or a notebook) posts changes: each is checked at once and acknowledged ("queued:
beta 1 → 0.25, applies to the next frame"), then recorded and applied by the
running thread before its next frame. Pause and stop take effect after the frame
in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from steerscope.errors import SteerscopeError
from steerscope.records.tuning_record import TrialRow
from steerscope.tuning.campaign import TuningCampaign
from steerscope.tuning.interventions import TuningIntervention, parse_intervention

__all__ = ["TuningRunner"]

EVENTS_KEPT = 50
"""Latest applied changes :meth:`TuningRunner.status` reports."""


class TuningRunner:
    """A :class:`TuningCampaign` with a thread-safe queue of changes and a status.

    Parameters
    ----------
    campaign : TuningCampaign
        Driven by whichever thread calls :meth:`run`.
    """

    def __init__(self, campaign: TuningCampaign) -> None:
        self.campaign = campaign
        self._lock = threading.Condition()
        self._queue: list[tuple[TuningIntervention, str]] = []
        self._events: list[dict[str, Any]] = []
        self._stop = False
        self._state = "paused" if campaign.paused else "running"
        self._error = ""

    def post(self, change: TuningIntervention | dict[str, Any]) -> str:
        """Check a change and queue it for the next frame; the acknowledgement.

        Raises
        ------
        ConfigError, SafetyLimitError
            If the change is refused; nothing is queued.
        """
        if isinstance(change, dict):
            change = parse_intervention(change)
        with self._lock:
            self.campaign.check(change)
            text = self.campaign.describe(change)
            self._queue.append((change, text))
            self._lock.notify_all()
        return f"queued: {text}, applies to the next frame"

    def stop(self) -> str:
        """End :meth:`run` after the frame in flight; the acknowledgement."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        return "stop after the frame in flight"

    def status(self) -> dict[str, Any]:
        """The campaign's state as plain values.

        Returns
        -------
        dict
            ``state`` (running, paused, finished, stopped, error), ``error``,
            ``name``, ``budget``, ``beta``, ``bounds`` (name → [low, high]),
            ``units``, ``merit`` (the figure's config: ``radius_mrad``, ...),
            ``trials`` (index, how, merit, settings, started, ended),
            ``best_index``, ``queued`` (texts), ``events`` (the latest applied
            changes: frame, text), ``record_path``.
        """
        c = self.campaign
        with self._lock:
            best = c.best
            return {
                "state": self._state,
                "error": self._error,
                "name": c.config.name,
                "budget": c.budget,
                "beta": c.beta,
                "bounds": {k: list(v) for k, v in c.bounds.items()},
                "units": {s.name: s.unit for s in c.config.settings},
                "merit": c.merit.model_dump(),
                "vetoes": [dict(v) for v in c.vetoes],
                "trials": [
                    {
                        "index": t.index,
                        "how": t.how,
                        "merit": t.merit,
                        "settings": dict(t.settings),
                        "started": t.started,
                        "ended": t.ended,
                    }
                    for t in c.trials
                ],
                "best_index": None if best is None else best.index,
                "queued": [text for _, text in self._queue],
                "events": list(self._events[-EVENTS_KEPT:]),
                "record_path": str(c.record.path),
            }

    def _apply_queued(self) -> None:
        with self._lock:
            queued, self._queue = self._queue, []
        for change, text in queued:
            try:
                self.campaign.apply(change)  # re-checked: the state may have moved since
                event = {"frame": len(self.campaign.trials), "text": text}
            except SteerscopeError as exc:
                event = {"frame": len(self.campaign.trials), "text": f"refused {text}: {exc}"}
            with self._lock:
                self._events.append(event)

    def run(
        self, on_trial: Callable[[TrialRow], None] | None = None, *, frames: int | None = None
    ) -> str:
        """Make frames until the budget is spent, :meth:`stop`, or ``frames`` more; the state.

        Queued changes are applied (and recorded) before each frame; while paused it
        waits for a change or a stop.
        """
        limit = None if frames is None else len(self.campaign.trials) + frames
        try:
            while True:
                self._apply_queued()
                with self._lock:
                    if self._stop or (limit is not None and len(self.campaign.trials) >= limit):
                        self._state = "stopped"
                        break
                    if self.campaign.done:
                        self._state = "finished"
                        break
                    if self.campaign.paused:
                        self._state = "paused"
                        if not self._queue:
                            self._lock.wait(0.5)
                        continue
                    self._state = "running"
                trial = self.campaign.step()
                if on_trial is not None:
                    on_trial(trial)
        except SteerscopeError as exc:
            with self._lock:
                self._state, self._error = "error", str(exc)
        except BaseException as exc:  # said in the status, then raised as it is
            with self._lock:
                self._state, self._error = "error", f"{type(exc).__name__}: {exc}"
            raise
        return self._state
