"""A campaign run in its own process, watched and steered through the steering channel.

The web UI runs every campaign so: the Streamlit server only draws and posts, and
a DKL fit never competes with it for the interpreter (a click while a campaign ran
in a thread of the server took seconds to be handled). The child process is the
campaign's only writer; it serves its runner with a :class:`SteeringServer` on
loopback with a fresh token, and the parent reads snapshots and posts
interventions through a :class:`SteeringClient`.

The parent hands the child its task as one line of JSON on the child's standard
input (nothing lands in ``ps`` or on disk) and keeps that pipe open: when it closes
— :meth:`CampaignProcess.stop`, or the parent's death — the child stops its runner
after the spectrum in flight, closes the record and exits. No orphan keeps a
microscope busy.

Examples
--------
>>> process = CampaignProcess.create(config, "records/run.sqlite")   # doctest: +SKIP
>>> process.post(SetPolicy(beta=4.0))                                 # doctest: +SKIP
'beta 1 → 4'
>>> process.wait_for(lambda s: s.n_measured >= 10, 120)               # doctest: +SKIP
>>> process.stop()                                                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from steerscope.campaign import CampaignSnapshot, Intervention
from steerscope.errors import InstrumentError, SteerscopeError
from steerscope.service.child import ERROR_PREFIX, URI_PREFIX, ServedChild
from steerscope.service.steering import SteeringClient

__all__ = ["STARTUP_TIMEOUT_S", "CampaignProcess", "main"]

STARTUP_TIMEOUT_S = 180.0
"""How long the parent waits for the child to create (or resume) the campaign and serve it."""
STEERING_TOKEN_ENV = "STEERSCOPE_STEERING_TOKEN"
"""Environment variable that carries the steering token to the child (not
``$STEERSCOPE_TOKEN``, which a config's ``token_env`` may use for the microscope)."""


class CampaignProcess:
    """A campaign in a child process: ``snapshot``, ``post``, ``wait_for``, ``stop``.

    The same calls as :class:`~steerscope.campaign.CampaignRunner`, so an observer
    (the web UI) holds either. Build one with :meth:`create` or :meth:`resume`.

    Parameters
    ----------
    task : dict
        ``{"create": config, "record": path}`` or ``{"resume": path}``.
    env : dict of str, optional
        Extra environment of the child (e.g. ``STEERSCOPE_TOKEN`` for a remote microscope).
    startup_timeout_s : float
        Seconds to wait for the child to serve the campaign.
    nice : int
        CPU niceness of the child (0: as this process; a teaching server runs its
        visitors' campaigns at 10, so they never starve the server that draws the pages).

    Attributes
    ----------
    uri : str
        ``PYRO:steerscope.campaign@127.0.0.1:PORT``, where other clients reach the
        campaign: a notebook's :class:`SteeringClient`, ``steerscope steer``.
    token : str
        The steering token those clients present (made fresh for this process).

    Raises
    ------
    SteerscopeError
        The child's own error (a bad config, a record another process writes, an
        unreachable microscope), with its message, if it could not start the campaign.
    """

    def __init__(
        self,
        task: dict[str, Any],
        *,
        env: dict[str, str] | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        nice: int = 0,
    ) -> None:
        token = secrets.token_urlsafe(24)
        self._child = ServedChild(
            [sys.executable, "-m", "steerscope.service.process"],
            env={**os.environ, **(env or {}), STEERING_TOKEN_ENV: token},
            what="campaign process",
            first_line=json.dumps(task),
            nice=nice,
        )
        self._process = self._child.process
        uri = self._child.await_uri(startup_timeout_s)
        self._client = SteeringClient(uri, token=token)
        self.uri = uri
        self.token = token
        self._stopping = False
        self._last: CampaignSnapshot | None = None
        try:
            self._last = self.snapshot()
        except SteerscopeError:
            self.stop(10.0)
            raise

    @classmethod
    def create(
        cls, config: dict[str, Any], record_path: str | os.PathLike[str], **kwargs: Any
    ) -> CampaignProcess:
        """Create the campaign of ``config`` (a config dict) with a new record, and run it."""
        return cls({"create": config, "record": str(record_path)}, **kwargs)

    @classmethod
    def resume(cls, record_path: str | os.PathLike[str], **kwargs: Any) -> CampaignProcess:
        """Resume the campaign of ``record_path`` and run it."""
        return cls({"resume": str(record_path)}, **kwargs)

    # -- what an observer calls ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process.poll() is None

    def snapshot(self) -> CampaignSnapshot:
        """The campaign's latest snapshot; after the child died, the last one, in error."""
        if self._process.poll() is not None:
            return self._ended()
        try:
            self._last = self._client.snapshot()
        except SteerscopeError:
            if self._process.poll() is not None:
                return self._ended()
            if self._last is None:
                raise
            # alive but slow to answer: show the last view rather than fail the page
        return self._last

    def post(self, intervention: Intervention) -> str:
        """Post ``intervention``; returns the acknowledgement (``"beta 0.25 → 1"``).

        Raises
        ------
        InstrumentError
            If the campaign's process has ended.
        """
        self._check_alive()
        return self._client.post(intervention)

    def propose(self, intervention: Intervention, *, by: str, reason: str = "") -> int:
        """Hold a proposed change for the operator (:meth:`CampaignRunner.propose`)."""
        self._check_alive()
        return self._client.propose(intervention, by=by, reason=reason)

    def decide(self, proposal: int, *, approve: bool) -> str:
        """The operator's answer to a proposal (:meth:`CampaignRunner.decide`)."""
        self._check_alive()
        return self._client.decide(proposal, approve=approve)

    def _check_alive(self) -> None:
        if self._process.poll() is not None:
            raise InstrumentError(
                f"the campaign's process has ended (exit code {self._process.returncode}); "
                "resume it from its record on the Campaign page"
            )

    def wait_for(
        self, predicate: Callable[[CampaignSnapshot], bool], timeout: float
    ) -> CampaignSnapshot:
        """Poll until ``predicate(snapshot)`` holds, at most ``timeout`` seconds.

        Raises
        ------
        TimeoutError
            If it did not hold in time (the message shows the last status).
        """
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the campaign did not reach the awaited state within {timeout} s; "
                    f"last status {snap.status!r} ({snap.reason or 'no reason'}), "
                    f"step {snap.step}, {snap.n_measured} measured"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> bool:
        """Close the child's pipe: it stops after the spectrum in flight and exits.

        Returns
        -------
        bool
            True if it exited within ``timeout`` seconds; otherwise it is killed (what
            it measured is in the record already: each spectrum is committed on arrival).
        """
        if self._process.poll() is None:
            with contextlib.suppress(SteerscopeError):
                self._last = self._client.snapshot()
        self._stopping = True
        return self._child.close_input(timeout)

    # -- internals -----------------------------------------------------------------------------

    def _ended(self) -> CampaignSnapshot:
        """The last snapshot, marked as ended, once the child is gone."""
        code = self._process.wait()
        self._child.release()
        last = self._last
        if last is None:
            raise InstrumentError(f"the campaign process ended (exit code {code})")
        if last.status in ("finished", "stopped", "error"):
            return last
        if self._stopping and code == 0:  # it stopped as asked, after the spectrum in flight
            self._last = dataclasses.replace(last, status="stopped", reason="stopped")
            return self._last
        self._last = dataclasses.replace(
            last,
            status="error",
            reason=f"the campaign's process ended (exit code {code}); resume it from its "
            f"record{self._child.log_tail()}",
        )
        return self._last


def _tell_parent(line: str) -> None:
    """One line on stdout, the pipe the parent reads."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    """The child: read the task, run the campaign served on loopback until stdin closes."""
    from steerscope.campaign import Campaign, CampaignRunner, load_config
    from steerscope.service.steering import SteeringServer

    token = os.environ.pop(STEERING_TOKEN_ENV, None)
    try:
        task = json.loads(sys.stdin.readline())
        if "resume" in task:
            campaign = Campaign.resume(Path(task["resume"]))
        else:
            record = Path(task["record"])
            record.parent.mkdir(parents=True, exist_ok=True)
            campaign = Campaign.create(load_config(task["create"]), record)
    except Exception as exc:  # the parent shows it: a config error, a second writer, ...
        import pydantic

        kind = "ConfigError" if isinstance(exc, pydantic.ValidationError) else type(exc).__name__
        message = str(exc).replace("\n", " ")
        _tell_parent(f"{ERROR_PREFIX}{kind}: {message}")
        return 2
    with campaign:
        runner = CampaignRunner(campaign)
        with SteeringServer(runner, "127.0.0.1", 0, token) as server:
            _tell_parent(f"{URI_PREFIX}{server.uri}")
            runner.start()
            sys.stdin.read()  # until the parent closes the pipe, or dies
            runner.stop(timeout=60.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
