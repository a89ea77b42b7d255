"""A tuning campaign run in its own process (``steerscope run CONFIG --serve``), for the web UI.

As :class:`~steerscope.service.CampaignProcess` for spectrum campaigns: the child is
the record's only writer and serves its :class:`~steerscope.tuning.TuningRunner` on
loopback with a fresh token; the parent watches and posts through a
:class:`~steerscope.service.TuningClient`. The parent keeps the child's standard
input open; when it closes (:meth:`TuningProcess.stop`, or the parent's death) the
child stops after the frame in flight, leaves the record closed and exits.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from steerscope.errors import InstrumentError
from steerscope.service.child import ServedChild
from steerscope.service.process import STARTUP_TIMEOUT_S
from steerscope.service.steering import TuningClient
from steerscope.tuning.interventions import TuningIntervention

__all__ = ["STOP_ON_STDIN_EOF_ENV", "TuningProcess"]

STOP_ON_STDIN_EOF_ENV = "STEERSCOPE_STOP_ON_STDIN_EOF"
"""Set to 1 in a served run's environment: it stops when its standard input closes."""


class TuningProcess:
    """A tuning campaign in a child process: ``status``, ``post``, ``stop``.

    Parameters
    ----------
    config : str or Path
        The tuning config (YAML, ``kind: tuning``).
    record : str or Path
        The new record.
    startup_timeout_s : float
        Seconds to wait for the child to serve the campaign (usim starts in a few).

    Raises
    ------
    InstrumentError
        With the child's own message, if it could not start the campaign.
    """

    def __init__(
        self,
        config: str | Path,
        record: str | Path,
        *,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        token = secrets.token_urlsafe(24)
        self.record = Path(record)
        command = [sys.executable, "-m", "steerscope.cli", "run", str(config), "--record"]
        self._child = ServedChild(
            [*command, str(record), "--serve"],
            env={**os.environ, "STEERSCOPE_TOKEN": token, STOP_ON_STDIN_EOF_ENV: "1"},
            what="tuning process",
        )
        self._process = self._child.process
        self.client = TuningClient(self._child.await_uri(startup_timeout_s), token=token)
        self._last: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        """Whether the child is still there."""
        return self._process.poll() is None

    def status(self) -> dict[str, Any]:
        """The runner's status, or its last one once the child is gone.

        A child gone while running is marked ``stopped`` (exit 0) or ``error`` with its
        last words.
        """
        if self.running:
            with contextlib.suppress(InstrumentError):
                self._last = self.client.status()
                return self._last
        code = self._process.wait()
        last = dict(self._last or {"trials": [], "events": [], "queued": []})
        if last.get("state") in (None, "running", "paused"):
            last["state"] = "stopped" if code == 0 else "error"
            if code != 0:
                last["error"] = self.log_tail()
        return last

    def post(self, change: TuningIntervention) -> str:
        """Post a change; the acknowledgement (see :meth:`TuningClient.post`)."""
        return self.client.post(change)

    def stop(self, timeout: float = 30.0) -> bool:
        """Close the child's input: it stops after the frame in flight. Killed after ``timeout``.

        Returns
        -------
        bool
            Whether it exited by itself.
        """
        if self.running:
            with contextlib.suppress(InstrumentError):
                self._last = self.client.status()
        return self._child.close_input(timeout)

    def log_tail(self) -> str:
        """The last line the child wrote on its error stream ("" if none)."""
        return self._child.log_tail().removeprefix(": ")
