"""A steerscope child process that serves its runner on loopback, seen from the parent.

What a campaign process and a tuning process share: the child's standard input is a
pipe the parent keeps open (closing it, or the parent's death, stops the child after
the measurement in flight); its standard output says where it serves (``steering:
URI``) or why it could not (``error: Kind: message``); its standard error goes to a
temporary file, whose last line explains an unexpected end.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
import time
from typing import IO

from steerscope.errors import InstrumentError

__all__ = ["ERROR_PREFIX", "URI_PREFIX", "ServedChild"]

URI_PREFIX = "steering: "
"""How a child announces where it serves: ``steering: PYRO:...``."""
ERROR_PREFIX = "error: "
"""How a child says it could not start: ``error: ConfigError: ...``."""
_LOG_TAIL = 2000


class ServedChild:
    """The pipes, log and lifetime of one child process.

    Parameters
    ----------
    command : list of str
        The child's command line.
    env : dict of str
        Its whole environment.
    what : str
        How messages name it (``"campaign process"``).
    first_line : str, optional
        A line written to the child's input at once (its task).
    nice : int
        CPU niceness of the child, set before it reads its task.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        what: str,
        first_line: str | None = None,
        nice: int = 0,
    ) -> None:
        self.what = what
        self._tail: str | None = None
        # the child's stderr, for the reason when it ends; closed with this object
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix=f"steerscope-{what.split()[0]}-")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            text=True,
            encoding="utf-8",
        )
        if nice:
            os.setpriority(os.PRIO_PROCESS, self.process.pid, nice)
        assert self.process.stdin is not None and self.process.stdout is not None
        if first_line is not None:
            self.process.stdin.write(first_line + "\n")
            self.process.stdin.flush()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(
            target=_drain,
            args=(self.process.stdout, self._lines),
            daemon=True,
            name=f"{what.replace(' ', '-')}-stdout",
        )
        self._reader.start()

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self.process.poll() is None

    def await_uri(self, timeout_s: float) -> str:
        """The URI the child announces, once it serves.

        Raises
        ------
        SteerscopeError
            The child's own error (``error:`` line), of its kind.
        InstrumentError
            If it ended or said nothing within ``timeout_s`` (then it is killed).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                self.process.wait()
                self.release()
                raise InstrumentError(
                    f"the {self.what} did not start within {timeout_s:g} s{self.log_tail()}"
                ) from None
            if line is None:
                self.process.wait()
                self.release()
                raise InstrumentError(
                    f"the {self.what} ended before serving (exit code "
                    f"{self.process.returncode}){self.log_tail()}"
                )
            if line.startswith(URI_PREFIX):
                return line[len(URI_PREFIX) :].strip()
            if line.startswith(ERROR_PREFIX):
                self.process.wait()
                self.release()
                kind, _, message = line[len(ERROR_PREFIX) :].strip().partition(": ")
                from steerscope.instruments.client import error_class

                raise error_class(kind)(message)

    def close_input(self, timeout: float) -> bool:
        """Close the child's input, so it stops; kill it after ``timeout`` seconds.

        Returns
        -------
        bool
            Whether it exited by itself.
        """
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self.process.wait(timeout)
            ended = True
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            ended = False
        self.release()
        return ended

    def release(self) -> None:
        """Once the child is gone: keep the end of its log, close the pipes and the log."""
        if self._tail is None:
            self._tail = self._read_log_tail()
        self._reader.join(5.0)  # the child is gone: its stdout ends
        for stream in (self.process.stdout, self.process.stdin, self._log):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()

    def log_tail(self) -> str:
        """``": <what the child last said on its error stream>"``, or "" when it said nothing.

        Its last ``error:`` message with the lines after it (a config error lists its
        fields there), on one line; otherwise its last line (a traceback's is the
        exception).
        """
        text = self._tail if self._tail is not None else self._read_log_tail()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            return ""
        starts = [i for i, line in enumerate(lines) if line.startswith(ERROR_PREFIX)]
        return ": " + " ".join(lines[starts[-1] :] if starts else lines[-1:])

    def _read_log_tail(self) -> str:
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - _LOG_TAIL))
            return self._log.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""


def _drain(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Pass the child's stdout lines on (and keep its pipe from filling); None at its end."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):
        pass  # closed under it
    finally:
        lines.put(None)
