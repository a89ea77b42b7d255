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

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import Pyro5.api
import Pyro5.errors
import serpent

from steerscope.campaign import CampaignRunner, intervention_from_dict
from steerscope.campaign.interventions import Intervention
from steerscope.campaign.snapshot import CampaignSnapshot, EventView, frozen_array
from steerscope.errors import ConfigError, InstrumentError, SteerscopeError
from steerscope.instruments.server import TOKEN_ENV, TOKEN_REJECTED, TokenServer
from steerscope.records.schema import json_plain
from steerscope.tuning import TuningRunner
from steerscope.tuning.interventions import TuningIntervention, to_dict

__all__ = [
    "STEERING_OBJECT_ID",
    "TUNING_OBJECT_ID",
    "SteeringClient",
    "SteeringServer",
    "TuningClient",
    "TuningSteeringServer",
    "snapshot_from_wire",
    "snapshot_to_wire",
]

STEERING_OBJECT_ID = "steerscope.campaign"
"""Pyro5 object id; the URI is ``PYRO:steerscope.campaign@host:port``."""
TUNING_OBJECT_ID = "steerscope.tuning"
"""Pyro5 object id of a served tuning campaign."""
EVENTS_SHOWN = 50
"""How many of the latest events :meth:`SteeringClient.status` returns."""


STATIC_FIELDS = ("overview", "ground_truth")
"""Snapshot arrays fixed for a campaign's life: sent once to each client, not every refresh."""
_MAP_FIELDS = ("mean_map", "std_map", "acquisition_map", "ground_truth")
_TUPLE_FIELDS = ("queued", "objective_labels", "measured_phases", "proposals")
_PAIR_LIST_FIELDS = ("discovery", "hypervolume_history")


def _array_to_wire(values: np.ndarray, *, as_float32: bool = False) -> dict[str, Any]:
    arr = np.ascontiguousarray(values, dtype=np.float32 if as_float32 else None)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tobytes()}


def _array_from_wire(wire: dict[str, Any]) -> np.ndarray:
    data = serpent.tobytes(wire["data"])
    arr = np.frombuffer(data, dtype=np.dtype(wire["dtype"])).reshape(wire["shape"])
    return frozen_array(arr)


def snapshot_to_wire(snapshot: CampaignSnapshot, *, with_static: bool = True) -> dict[str, Any]:
    """A :class:`CampaignSnapshot` as plain values Pyro5's serpent carries.

    Arrays travel as raw bytes with dtype and shape; the per-pixel maps as float32
    (what a display needs, half the bytes). ``with_static=False`` leaves out the arrays
    fixed for the campaign's life (:data:`STATIC_FIELDS`), which a client keeps.
    """
    wire: dict[str, Any] = {}
    for spec in dataclasses.fields(snapshot):
        name = spec.name
        value = getattr(snapshot, name)
        if name in STATIC_FIELDS and not with_static:
            continue
        if isinstance(value, np.ndarray):
            wire[name] = _array_to_wire(value, as_float32=name in _MAP_FIELDS)
        elif name == "events":
            wire[name] = [[e.step, e.time, e.kind, e.text] for e in value]
        else:  # NaN travels as None; snapshot_from_wire turns it back
            wire[name] = json_plain(value)
    return wire


def snapshot_from_wire(
    wire: dict[str, Any], static: dict[str, Any] | None = None
) -> CampaignSnapshot:
    """Inverse of :func:`snapshot_to_wire`; ``static`` supplies the arrays left out.

    Raises
    ------
    KeyError
        If a static array is neither in ``wire`` nor in ``static``.
    """
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(CampaignSnapshot):
        name = spec.name
        if name not in wire:
            if static is not None and name in static:
                values[name] = static[name]
            continue
        value = wire[name]
        if isinstance(value, dict) and {"dtype", "shape", "data"} <= set(value):
            values[name] = _array_from_wire(value)
        elif name == "events":
            values[name] = tuple(
                EventView(int(s), float(t), str(k), str(x)) for s, t, k, x in value
            )
        elif name == "beam_idle":
            values[name] = float("nan") if value is None else float(value)
        elif name in _PAIR_LIST_FIELDS:
            values[name] = [(int(n), float("nan") if v is None else float(v)) for n, v in value]
        elif name in _TUPLE_FIELDS:
            values[name] = tuple(value)
        elif name == "votes":
            values[name] = tuple((int(i), str(v)) for i, v in value)
        elif name == "comparison":
            values[name] = None if value is None else (int(value[0]), int(value[1]))
        else:
            values[name] = value
    if "overview" not in values:  # ground_truth may be None; the overview never is
        raise KeyError("the snapshot on the wire has no 'overview' and none is kept")
    return CampaignSnapshot(**values)


class _SteeringObject:
    """What Pyro5 serves: plain values in and out."""

    def __init__(self, runner: CampaignRunner) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._served: CampaignSnapshot | None = None
        self._version = 0

    @Pyro5.api.expose
    def snapshot(self, have_version: int = -1, have_static: bool = False) -> dict[str, Any]:
        """The runner's latest snapshot on the wire, or only its version when unchanged.

        Returns ``{"version": v, "snapshot": wire or None}``; ``snapshot`` is None
        when the caller already holds version ``have_version``.
        """
        snap = self._runner.snapshot()
        with self._lock:
            if snap is not self._served:
                self._served, self._version = snap, self._version + 1
            version = self._version
        if int(have_version) == version:
            return {"version": version, "snapshot": None}
        return {
            "version": version,
            "snapshot": snapshot_to_wire(snap, with_static=not have_static),
        }

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
                "comparison": None if snap.comparison is None else list(snap.comparison),
                "events": [
                    {"step": e.step, "time": e.time, "kind": e.kind, "text": e.text}
                    for e in snap.events[-EVENTS_SHOWN:]
                ],
            }
        )

    @Pyro5.api.expose
    def post(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._with_intervention(kind, payload, lambda i: {"queued": self._runner.post(i)})

    @Pyro5.api.expose
    def propose(self, kind: str, payload: dict[str, Any], by: str, reason: str) -> dict[str, Any]:
        return self._with_intervention(
            kind,
            payload,
            lambda i: {"id": self._runner.propose(i, by=str(by), reason=str(reason))},
        )

    @staticmethod
    def _with_intervention(
        kind: str, payload: dict[str, Any], act: Callable[[Intervention], dict[str, Any]]
    ) -> dict[str, Any]:
        """Rebuild the intervention and ``act`` on it; a refusal as a plain answer."""
        try:
            return _answer(lambda: act(intervention_from_dict(str(kind), dict(payload))))
        except (TypeError, ValueError) as exc:
            message = f"{kind} with {payload!r} is not a valid intervention: {exc}"
            return {"ok": False, "error_type": "ConfigError", "message": message}

    @Pyro5.api.expose
    def decide(self, proposal: int, approve: bool) -> dict[str, Any]:
        return _answer(
            lambda: {"queued": self._runner.decide(int(proposal), approve=bool(approve))}
        )


def _answer(act: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``act()``'s answer marked ok, or a steerscope error as plain values for the client."""
    try:
        return {"ok": True, **act()}
    except SteerscopeError as exc:
        return {"ok": False, "error_type": type(exc).__name__, "message": str(exc)}


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


class _ServedClient:
    """A client of one object a steering server serves: its URI, token and timeout.

    Parameters
    ----------
    uri : str
        ``PYRO:<object id>@host:port`` as printed by ``steerscope run --serve``.
    token : str, optional
        The server's token, if it has one; default ``$STEERSCOPE_TOKEN``.
    timeout_s : float
        Seconds to wait for an answer.
    """

    object_id = STEERING_OBJECT_ID

    def __init__(self, uri: str, *, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.uri = uri
        self.token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the served object; clear errors for a bad URI or token."""
        with self._lock:
            try:
                proxy = Pyro5.api.Proxy(self.uri)
            except Pyro5.errors.PyroError as exc:
                raise ConfigError(
                    f"{self.uri!r} is not a steering URI; expected PYRO:{self.object_id}@host:port "
                    "as printed by `steerscope run --serve`"
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

    @staticmethod
    def _checked(reply: dict[str, Any]) -> dict[str, Any]:
        if not reply.get("ok"):
            from steerscope.instruments.client import error_class

            raise error_class(str(reply.get("error_type")))(str(reply.get("message")))
        return reply


class SteeringClient(_ServedClient):
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
        super().__init__(uri, token=token, timeout_s=timeout_s)
        self._snapshot: CampaignSnapshot | None = None
        self._version = -1

    def status(self) -> dict[str, Any]:
        """The campaign's state: status, step, spectra, policy, queued changes, recent events.

        Returns
        -------
        dict
            ``status``, ``reason``, ``step``, ``n_measured``, ``budget``,
            ``best_target``, ``beam_idle``, ``queued`` (list of str), ``next_points``,
            ``policy``, ``scalarizer``, ``descriptor``, ``record_path`` (read the
            spectra from it), ``comparison`` (the two measured spectra, 0-based, a
            preference target asks about next, or None), ``events`` (the latest 50 as
            dicts).
        """
        result: dict[str, Any] = self._call("status")
        return result

    def snapshot(self) -> CampaignSnapshot:
        """The campaign's latest :class:`CampaignSnapshot`, as its runner has it.

        The arrays fixed for the campaign's life (the overview) come once; an unchanged
        snapshot is not sent again, and the same object is returned, so an observer's
        caches keyed on it keep working.
        """
        held = self._snapshot
        reply = self._call("snapshot", self._version, held is not None)
        if reply["snapshot"] is not None:
            static = None if held is None else {name: getattr(held, name) for name in STATIC_FIELDS}
            self._snapshot = snapshot_from_wire(reply["snapshot"], static)
            self._version = int(reply["version"])
        assert self._snapshot is not None
        return self._snapshot

    def post(self, intervention: Intervention) -> str:
        """Post an intervention; returns the acknowledgement (``"beta 1 → 4"``).

        Raises
        ------
        ConfigError
            (or the server's error type) if the server refused it.
        """
        reply = self._checked(
            self._call("post", type(intervention).__name__, intervention.to_dict())
        )
        return str(reply["queued"])

    def propose(self, intervention: Intervention, *, by: str, reason: str = "") -> int:
        """Propose a change for the operator to approve; returns its number.

        It takes no effect until the operator approves it (in the web UI, or with
        :meth:`decide`); see :meth:`CampaignRunner.propose`.
        """
        kind, payload = type(intervention).__name__, intervention.to_dict()
        reply = self._checked(self._call("propose", kind, payload, str(by), str(reason)))
        return int(reply["id"])

    def decide(self, proposal: int, *, approve: bool) -> str:
        """Approve (post as the operator's) or reject proposal number ``proposal``."""
        return str(self._checked(self._call("decide", int(proposal), bool(approve)))["queued"])


class _TuningObject:
    """What Pyro5 serves for a tuning campaign: plain values in and out."""

    def __init__(self, runner: TuningRunner) -> None:
        self._runner = runner

    @Pyro5.api.expose
    def status(self) -> dict[str, Any]:
        return json_plain(self._runner.status())

    @Pyro5.api.expose
    def post(self, change: dict[str, Any]) -> dict[str, Any]:
        return _answer(lambda: {"queued": self._runner.post(dict(change))})

    @Pyro5.api.expose
    def stop(self) -> dict[str, Any]:
        return _answer(lambda: {"queued": self._runner.stop()})


class TuningSteeringServer(TokenServer):
    """Serve a :class:`~steerscope.tuning.TuningRunner`'s status and queue over Pyro5.

    Same rules as :class:`SteeringServer`: loopback unless a token is given.
    """

    def __init__(
        self, runner: TuningRunner, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        super().__init__(host, port, token, object_id=TUNING_OBJECT_ID, what="tuning server")
        self.runner = runner

    def _served(self) -> Any:
        return _TuningObject(self.runner)


class TuningClient(_ServedClient):
    """Watch a served tuning campaign and post changes to it.

    Parameters
    ----------
    uri : str
        ``PYRO:steerscope.tuning@host:port`` as printed by ``steerscope run --serve``.
    token : str, optional
        The server's token, if it has one; default ``$STEERSCOPE_TOKEN``.
    timeout_s : float
        Seconds to wait for an answer.
    """

    object_id = TUNING_OBJECT_ID

    def status(self) -> dict[str, Any]:
        """The runner's :meth:`~steerscope.tuning.TuningRunner.status`."""
        result: dict[str, Any] = self._call("status")
        return result

    def post(self, change: TuningIntervention) -> str:
        """Post a change; the acknowledgement ("queued: beta 1 → 0.25, …").

        Raises
        ------
        ConfigError, SafetyLimitError
            If the campaign refused it.
        """
        return str(self._checked(self._call("post", to_dict(change)))["queued"])

    def stop(self) -> str:
        """Stop the campaign after the frame in flight."""
        return str(self._checked(self._call("stop"))["queued"])
