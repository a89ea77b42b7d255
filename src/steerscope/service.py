"""Watch and steer a running campaign from other processes: a small Pyro5 channel.

The process that runs the campaign (``steerscope run CONFIG --serve``, or any
script holding a :class:`~steerscope.campaign.CampaignRunner`) is the only one
that writes its record. :class:`SteeringServer` lets other processes — a
notebook, a second terminal, another UI — read its state and post
interventions through one object; they read the measured spectra and maps
from the record itself (SQLite in WAL mode reads concurrently).

Same rules as ``steerscope serve`` (it reuses its daemon): loopback unless a
token is given, the token checked in the handshake in constant time, serpent
only, plain values on the wire.

Examples
--------
>>> with SteeringServer(runner) as server:          # doctest: +SKIP
...     client = SteeringClient(server.uri)
...     client.post(SetPolicy(beta=4.0))              # "beta 1 → 4"
...     client.status()["policy"]["beta"]
"""

from __future__ import annotations

import os
import threading
from typing import Any

import Pyro5.api
import Pyro5.errors

from steerscope.campaign import CampaignRunner, intervention_from_dict
from steerscope.campaign.interventions import Intervention
from steerscope.errors import ConfigError, InstrumentError, SteerscopeError
from steerscope.instruments.server import TOKEN_ENV, TOKEN_REJECTED, TokenServer
from steerscope.records.schema import json_plain

__all__ = ["STEERING_OBJECT_ID", "SteeringClient", "SteeringServer"]

STEERING_OBJECT_ID = "steerscope.campaign"
"""Pyro5 object id; the URI is ``PYRO:steerscope.campaign@host:port``."""
EVENTS_SHOWN = 50
"""How many of the latest events :meth:`SteeringClient.status` returns."""


class _SteeringObject:
    """What Pyro5 serves: plain values in and out."""

    def __init__(self, runner: CampaignRunner) -> None:
        self._runner = runner

    @Pyro5.api.expose
    def status(self) -> dict[str, Any]:
        snap = self._runner.snapshot()
        return json_plain(
            {
                "status": snap.status,
                "reason": snap.reason,
                "step": snap.step,
                "n_measured": snap.n_measured,
                "budget": snap.budget,
                "best_target": snap.best_target,
                "beam_idle": snap.beam_idle,
                "queued": list(snap.queued),
                "next_points": snap.next_points.tolist(),
                "policy": snap.policy,
                "scalarizer": snap.scalarizer,
                "descriptor": snap.descriptor,
                "record_path": snap.record_path,
                "events": [
                    {"step": e.step, "time": e.time, "kind": e.kind, "text": e.text}
                    for e in snap.events[-EVENTS_SHOWN:]
                ],
            }
        )

    @Pyro5.api.expose
    def post(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            intervention = intervention_from_dict(str(kind), dict(payload))
            text = self._runner.post(intervention)
        except SteerscopeError as exc:
            return {"ok": False, "error_type": type(exc).__name__, "message": str(exc)}
        except (TypeError, ValueError) as exc:
            message = f"{kind} with {payload!r} is not a valid intervention: {exc}"
            return {"ok": False, "error_type": "ConfigError", "message": message}
        return {"ok": True, "queued": text}


class SteeringServer(TokenServer):
    """Serve a :class:`CampaignRunner`'s state and intervention queue over Pyro5.

    Parameters
    ----------
    runner : CampaignRunner
        The running campaign (this process keeps driving it).
    host : str
        Address to bind; loopback by default. Any other needs a token.
    port : int
        0: any free port (see :attr:`uri`).
    token : str, optional
        Shared secret clients present; falls back to ``$STEERSCOPE_TOKEN``.

    Raises
    ------
    InstrumentError
        For a non-loopback host without a token, a short token, or a port in use.
    """

    def __init__(
        self,
        runner: CampaignRunner,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        super().__init__(host, port, token, object_id=STEERING_OBJECT_ID, what="steering server")
        self.runner = runner

    def _served(self) -> Any:
        return _SteeringObject(self.runner)


class SteeringClient:
    """Read a served campaign's state and post interventions to it.

    Parameters
    ----------
    uri : str
        ``PYRO:steerscope.campaign@host:port`` as printed by ``steerscope run --serve``.
    token : str, optional
        The server's token, if it has one; default ``$STEERSCOPE_TOKEN``.
    timeout_s : float
        Seconds to wait for an answer.
    """

    def __init__(self, uri: str, *, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.uri = uri
        self.token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            try:
                proxy = Pyro5.api.Proxy(self.uri)
            except Pyro5.errors.PyroError as exc:
                raise ConfigError(
                    f"{self.uri!r} is not a steering URI; expected "
                    f"PYRO:{STEERING_OBJECT_ID}@host:port as printed by `steerscope run --serve`"
                ) from exc
            proxy._pyroSerializer = "serpent"
            proxy._pyroTimeout = self.timeout_s
            if self.token is not None:
                proxy._pyroHandshake = self.token
            try:
                with proxy:
                    return getattr(proxy, method)(*args)
            except Pyro5.errors.CommunicationError as exc:
                if TOKEN_REJECTED in str(exc):
                    raise InstrumentError(
                        f"the steering server at {self.uri} refused the token; pass the token "
                        "it was started with"
                    ) from None
                raise InstrumentError(
                    f"cannot reach the campaign at {self.uri}: {exc}; is `steerscope run "
                    "--serve` still running?"
                ) from None

    def status(self) -> dict[str, Any]:
        """The campaign's state: status, step, spectra, policy, queued changes, recent events.

        Returns
        -------
        dict
            ``status``, ``reason``, ``step``, ``n_measured``, ``budget``,
            ``best_target``, ``beam_idle``, ``queued`` (list of str), ``next_points``,
            ``policy``, ``scalarizer``, ``descriptor``, ``record_path`` (read the
            spectra from it), ``events`` (the latest 50 as dicts).
        """
        result: dict[str, Any] = self._call("status")
        return result

    def post(self, intervention: Intervention) -> str:
        """Post an intervention; returns the acknowledgement (``"beta 1 → 4"``).

        Raises
        ------
        ConfigError
            (or the server's error type) if the server refused it.
        """
        reply = self._call("post", type(intervention).__name__, intervention.to_dict())
        if not reply.get("ok"):
            from steerscope.instruments.client import error_class

            raise error_class(str(reply.get("error_type")))(str(reply.get("message")))
        return str(reply["queued"])
