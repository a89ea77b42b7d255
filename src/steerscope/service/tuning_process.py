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
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from steerscope.errors import InstrumentError
from steerscope.service.process import STARTUP_TIMEOUT_S, _drain
from steerscope.service.steering import TuningClient
from steerscope.tuning.interventions import TuningIntervention

__all__ = ["STOP_ON_STDIN_EOF_ENV", "TuningProcess"]

STOP_ON_STDIN_EOF_ENV = "STEERSCOPE_STOP_ON_STDIN_EOF"
"""Set to 1 in a served run's environment: it stops when its standard input closes."""
_URI_PREFIX = "steering: "


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
        env = {**os.environ, "STEERSCOPE_TOKEN": token, STOP_ON_STDIN_EOF_ENV: "1"}
        self.record = Path(record)
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix="steerscope-tuning-")  # noqa: SIM115
        command = [sys.executable, "-m", "steerscope.cli", "run", str(config), "--record"]
        self._process = subprocess.Popen(
            [*command, str(record), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            encoding="utf-8",
        )
        assert self._process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=_drain, args=(self._process.stdout, lines), daemon=True, name="tuning-stdout"
        )
        self._reader.start()
        deadline = time.monotonic() + startup_timeout_s
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop(5.0)
                raise InstrumentError(
                    f"the tuning process did not start within {startup_timeout_s:g} s"
                ) from None
            if line is None:
                self._process.wait()
                raise InstrumentError(f"the tuning campaign did not start: {self.log_tail()}")
            if line.startswith(_URI_PREFIX):
                break
        self.client = TuningClient(line[len(_URI_PREFIX) :].strip(), token=token)
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
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self._process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            return False

    def log_tail(self) -> str:
        """The last line the child wrote on its error stream."""
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return text.splitlines()[-1] if text else ""
