"""Expose any :class:`~steerscope.instruments.base.Microscope` on the network with Pyro5.

Run this on the microscope PC; the campaign connects with
:class:`~steerscope.instruments.client.RemoteMicroscope`.

Security model, in plain words:

* The server binds to **loopback** (``127.0.0.1``) unless told otherwise, so only
  programs on the same PC can reach it.
* Binding to any other address needs a **token** (``--token`` or the
  ``STEERSCOPE_TOKEN`` environment variable); the server refuses to start
  without one. Clients present it in the Pyro5 handshake; it is compared in
  constant time (:func:`hmac.compare_digest`); refused connections are logged.
  The token is sent in clear text: keep the server on the lab network, or use an
  SSH tunnel (or Pyro5's TLS settings) to cross untrusted networks.
* Only the **serpent** serializer is accepted (Pyro5 has no pickle; marshal,
  json and msgpack calls are refused), and only plain values travel
  (:mod:`steerscope.instruments.wire`).
* ``read_only=True`` serves ``overview()`` and ``describe()`` but refuses
  ``acquire`` (which moves the beam).
* Put a :class:`~steerscope.instruments.safety.SafeMicroscope` in front of the
  driver (``limits=``) so that field of view, dwell, dose and no-go regions are
  enforced on the microscope PC, whatever the client asks.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

import Pyro5.api
import Pyro5.core
import Pyro5.errors
import Pyro5.serializers
from Pyro5 import protocol
from Pyro5.callcontext import current_context

from steerscope.errors import InstrumentError, SteerscopeError
from steerscope.instruments import wire
from steerscope.instruments.base import Microscope, can_set_dwell
from steerscope.instruments.registry import make_driver
from steerscope.instruments.safety import SafeMicroscope, SafetyLimits

__all__ = [
    "DEFAULT_OBJECT_ID",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "TOKEN_REJECTED",
    "MicroscopeServer",
    "TokenDaemon",
    "TokenServer",
    "check_exposure",
    "is_loopback",
    "make_driver",
    "serve",
    "serve_from_cli",
]

log = logging.getLogger(__name__)

DEFAULT_OBJECT_ID = "steerscope.microscope"
"""Pyro5 object id of the served microscope; the URI is ``PYRO:steerscope.microscope@host:port``."""
DEFAULT_PORT = 9097
"""Port the CLI suggests; the library default is ``0`` (any free port)."""
TOKEN_ENV = "STEERSCOPE_TOKEN"
"""Environment variable read when no token is passed."""
TOKEN_REJECTED = "steerscope token rejected"
"""Marker in the handshake refusal, so the client can say the token was wrong."""
MIN_TOKEN_LENGTH = 12
MIN_TOKEN_DISTINCT = 8
"""A token needs this many different characters ("aaaaaaaaaaaa" is twelve long, not secret)."""
REFUSAL_BACKOFF_S = (0.05, 2.0)
"""Wait before answering a wrong token: first, then doubling per refusal up to the second."""
REFUSAL_LOG_EVERY_S = 10.0
"""At most one log line per peer address in this many seconds of refusals."""
HANDSHAKE_TIMEOUT_S = 5.0
"""A connection that has not completed its handshake by then is closed (idle sockets)."""
MAX_HANDSHAKE_BYTES = 64 * 1024
"""Largest connect message read before the token is checked (a real one is ~100 bytes)."""

_SERPENT_ID = Pyro5.serializers.SerpentSerializer.serializer_id
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1`` or ``localhost``)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public address, so treat as exposed


def check_exposure(host: str, token: str | None) -> str | None:
    """Refuse a non-loopback ``host`` without a token; return the token in force.

    ``token`` falls back to ``$STEERSCOPE_TOKEN``. Called before anything binds.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and not token:
        raise InstrumentError(
            f"refusing to serve the microscope on {host!r} without a token: any machine that "
            f"reaches this address could move the beam. Pass --token TOKEN (or set the "
            f"{TOKEN_ENV} environment variable) on both the server and the client; make one "
            'with `python -c "import secrets; print(secrets.token_urlsafe(24))"`, or bind '
            "to 127.0.0.1"
        )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise InstrumentError(
            f"the token must have at least {MIN_TOKEN_LENGTH} characters; got {len(token)}. "
            'Make one with `python -c "import secrets; print(secrets.token_urlsafe(24))"`'
        )
    if token is not None and len(set(token.strip())) < MIN_TOKEN_DISTINCT:
        raise InstrumentError(
            f"the token is too easy to guess: it has {len(set(token.strip()))} different "
            f"character(s), and a token needs at least {MIN_TOKEN_DISTINCT}. Make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(24))"`'
        )
    return token


class TokenDaemon(Pyro5.api.Daemon):
    """A Pyro5 daemon that checks a shared token in the connection handshake.

    Also serves the campaign's steering object (:mod:`steerscope.service`).
    """

    def __init__(
        self,
        *args: Any,
        token: str | None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        self._token = token
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        self._sleep = sleep
        self._refusals: dict[str, tuple[int, float, int]] = {}  # peer: (count, logged at, unlogged)
        super().__init__(*args, **kwargs)

    def _handshake(self, conn: Any, denied_reason: str | None = None) -> bool:
        """Pyro5's connect handshake, read defensively before the token is known.

        Pyro5 decodes the connect message with whatever serializer its header names and
        reads it whole; here the header is read first, and anything but a small serpent
        connect message is refused unread. A connection has ``HANDSHAKE_TIMEOUT_S`` to
        finish, so idle sockets cannot hold the workers that good clients need.
        """
        sock = getattr(conn, "sock", None)
        if sock is not None:
            sock.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            header = conn.recv(6)
            protocol.ReceivingMessage.validate(header)
            header += conn.recv(protocol._header_size - 6)
            msg = protocol.ReceivingMessage(header)
            size = msg.data_size + msg.annotations_size
            if msg.type != protocol.MSG_CONNECT:
                reason = "expected a connect message first"
            elif msg.serializer_id != _SERPENT_ID:
                reason = "only the serpent serializer is accepted"
            elif size > MAX_HANDSHAKE_BYTES:
                reason = f"connect message too large ({size} bytes)"
            else:
                reason = denied_reason or ""
            if reason:
                return self._handshake_failed(conn, msg.seq, reason)
            msg.add_payload(conn.recv(size))
            current_context.correlation_id = (
                uuid.UUID(bytes=msg.corr_id) if msg.flags & protocol.FLAGS_CORR_ID else uuid.uuid4()
            )
            serializer = Pyro5.serializers.serializers_by_id[_SERPENT_ID]
            data = serializer.loads(msg.data)
            response = {
                "handshake": self.validateHandshake(conn, data["handshake"]),
                "meta": self.objectsById[Pyro5.core.DAEMON_NAME].get_metadata(data["object"]),
            }
        except Pyro5.errors.SecurityError as exc:
            return self._handshake_failed(conn, msg.seq, str(exc))
        except (OSError, Pyro5.errors.PyroError, ValueError, TypeError, KeyError) as exc:
            log.debug("handshake failed: %s", exc)  # a broken or idle client: just close
            return False
        if sock is not None:
            sock.settimeout(None)  # served now: calls may be far apart
        reply = protocol.SendingMessage(
            protocol.MSG_CONNECTOK,
            0,
            msg.seq,
            _SERPENT_ID,
            serializer.dumps(response),
            annotations=self._Daemon__annotations(),
        )
        conn.send(reply.data)
        return True

    def _handshake_failed(self, conn: Any, seq: int, reason: str) -> bool:
        """Answer a refused handshake in serpent (what steerscope clients speak); close it."""
        reply = protocol.SendingMessage(
            protocol.MSG_CONNECTFAIL,
            0,
            seq,
            _SERPENT_ID,
            Pyro5.serializers.serializers_by_id[_SERPENT_ID].dumps(reason),
        )
        with contextlib.suppress(OSError, Pyro5.errors.PyroError):
            conn.send(reply.data)
        return False

    def validateHandshake(self, conn: Any, data: Any) -> Any:
        """Accept the connection if it presents the token (Pyro5 hook)."""
        where = self._check_token(conn, data)
        with self._connections_lock:
            self._connections.add(conn)
            self._refusals.pop(where, None)  # a good token from there: no more waiting
        return "hello"

    def clientDisconnect(self, conn: Any) -> None:
        """Forget a closed connection (Pyro5 hook)."""
        with self._connections_lock:
            self._connections.discard(conn)

    def drop_clients(self) -> None:
        """Close every client connection (Pyro5's shutdown leaves served connections open)."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):  # already gone
                conn.sock.shutdown(socket.SHUT_RDWR)

    def _check_token(self, conn: Any, data: Any) -> str:
        """Raise SecurityError unless ``data`` is the token; return the peer's address."""
        peer = getattr(conn, "sock", None)
        try:
            where = str(peer.getpeername()[0]) if peer is not None else "?"
        except (OSError, IndexError, TypeError):
            where = "?"
        if self._token is None:
            return where
        offered = data if isinstance(data, str) else ""
        if not hmac.compare_digest(offered.encode(), self._token.encode()):
            self._refuse(where)
            raise Pyro5.errors.SecurityError(TOKEN_REJECTED)
        return where

    def _refuse(self, where: str) -> None:
        """Slow down a guesser (doubling waits per address) and log it without flooding."""
        with self._connections_lock:
            count, logged_at, unlogged = self._refusals.get(where, (0, -math.inf, 0))
            count += 1
            now = time.monotonic()
            due = now - logged_at >= REFUSAL_LOG_EVERY_S
            self._refusals[where] = (count, now if due else logged_at, 0 if due else unlogged + 1)
        if due:
            more = f" ({unlogged} more since the last line)" if unlogged else ""
            log.warning("refused a connection from %s: wrong or missing token%s", where, more)
        first, longest = REFUSAL_BACKOFF_S
        self._sleep(min(first * 2 ** (count - 1), longest))


class _MicroscopeService:
    """The object Pyro5 serves: plain values in and out, one call at a time.

    Every method returns ``{"ok": True, "result": ...}`` or ``{"ok": False,
    "error_type": <steerscope exception name>, "message": ...}`` so that the
    client can re-raise the right steerscope error without deserialising classes.
    """

    def __init__(self, microscope: Microscope, read_only: bool) -> None:
        self._microscope = microscope
        self._read_only = read_only
        self._lock = threading.Lock()  # drivers are not thread-safe; Pyro5 serves threads

    def _run(self, name: str, fn: Callable[[], Any]) -> dict[str, Any]:
        serializer_id = getattr(current_context, "serializer_id", _SERPENT_ID)
        if serializer_id != _SERPENT_ID:
            log.warning("refused %s: call used serializer id %s, not serpent", name, serializer_id)
            return {
                "ok": False,
                "error_type": "InstrumentError",
                "message": "this steerscope server accepts only the serpent serializer; "
                "set SERIALIZER='serpent' on the client (RemoteMicroscope does)",
            }
        try:
            with self._lock:
                return {"ok": True, "result": fn()}
        except SteerscopeError as exc:
            log.info("%s refused: %s", name, exc)
            return {"ok": False, "error_type": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # a driver bug must not kill the server
            log.exception("%s failed in the driver", name)
            return {
                "ok": False,
                "error_type": "InstrumentError",
                "message": f"the microscope driver failed during {name}: "
                f"{type(exc).__name__}: {exc}",
            }

    @Pyro5.api.expose
    def ping(self) -> dict[str, Any]:
        return self._run("ping", lambda: {"protocol": wire.PROTOCOL, "read_only": self._read_only})

    @Pyro5.api.expose
    def overview(self) -> dict[str, Any]:
        return self._run("overview", lambda: wire.encode_overview(self._microscope.overview()))

    @Pyro5.api.expose
    def describe(self) -> dict[str, Any]:
        def _describe() -> Any:
            desc = dict(self._microscope.describe())
            desc["server"] = {
                "protocol": wire.PROTOCOL,
                "read_only": self._read_only,
                "set_dwell": can_set_dwell(self._microscope),
            }
            return wire.to_wire_value(desc)

        return self._run("describe", _describe)

    @Pyro5.api.expose
    def set_dwell(self, seconds: Any) -> dict[str, Any]:
        def _set_dwell() -> None:
            if self._read_only:
                raise InstrumentError(
                    "this microscope server is read-only: it does not change the dwell"
                )
            if not can_set_dwell(self._microscope):
                raise InstrumentError(
                    f"the served microscope ({type(self._microscope).__name__}) cannot change "
                    "its dwell between points; remove policy.dwell from the campaign"
                )
            self._microscope.set_dwell(float(seconds))  # type: ignore[attr-defined]

        return self._run("set_dwell", _set_dwell)

    @Pyro5.api.expose
    def acquire(self, points: Any) -> dict[str, Any]:
        def _acquire() -> Any:
            if self._read_only:
                raise InstrumentError(
                    "this microscope server is read-only: it serves overview() and describe() "
                    "but refuses acquire(), which moves the beam; restart `steerscope serve` "
                    "without --read-only to allow acquisitions"
                )
            pts = wire.decode_array(points)
            return wire.encode_measurement(self._microscope.acquire(pts))

        return self._run("acquire", _acquire)


class TokenServer:
    """Serve one object with a :class:`TokenDaemon`: bind, register, serve, shut down.

    A subclass says what it serves (:meth:`_served`) and what to call it in
    messages (``what``). The exposure rules are checked before anything binds.

    Parameters
    ----------
    host : str
        Address to bind; loopback by default. Anything else needs ``token``.
    port : int
        TCP port; ``0`` picks a free one (read it from :attr:`uri`).
    token : str or None
        Shared secret clients must present; defaults to ``$STEERSCOPE_TOKEN``.
    object_id : str
        Pyro5 object id.
    what : str
        What is served, for messages ("microscope server", "steering server").
    """

    def __init__(
        self, host: str, port: int, token: str | None, *, object_id: str, what: str
    ) -> None:
        token = check_exposure(host, token)
        if not 0 <= int(port) <= 65535:
            raise InstrumentError(f"port must be in 0..65535; got {port}")
        self.host = host
        self.port = int(port)
        self.object_id = object_id
        self.what = what
        self._token = token
        self._daemon: TokenDaemon | None = None
        self._uri: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _served(self) -> Any:
        """The object Pyro5 serves (subclass)."""
        raise NotImplementedError

    @property
    def uri(self) -> str:
        """``PYRO:<object_id>@<host>:<port>``, available once started."""
        if self._uri is None:
            raise InstrumentError(f"the {self.what} is not started yet; call start() first")
        return self._uri

    @property
    def has_token(self) -> bool:
        """Whether clients must present a token."""
        return self._token is not None

    def start(self) -> Self:
        """Bind the socket and register the served object (does not serve yet)."""
        if self._daemon is not None:
            return self
        try:
            daemon = TokenDaemon(host=self.host, port=self.port, token=self._token)
        except OSError as exc:
            raise InstrumentError(
                f"cannot bind the {self.what} to {self.host}:{self.port}: {exc}; choose "
                "another --port or stop the program using it"
            ) from exc
        self._uri = str(daemon.register(self._served(), objectId=self.object_id))
        self._daemon = daemon
        self._stop.clear()
        log.info("%s at %s (token: %s)", self.what, self._uri, "yes" if self._token else "no")
        return self

    def serve_forever(self) -> None:
        """Serve requests until :meth:`shutdown` is called (or Ctrl-C)."""
        self.start()
        daemon = self._daemon
        assert daemon is not None
        try:
            daemon.requestLoop(loopCondition=lambda: not self._stop.is_set())
        finally:
            self._close_daemon()

    def start_in_thread(self) -> Self:
        """Start serving in a daemon thread; returns at once."""
        self.start()
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"steerscope-{self.object_id}", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port. Idempotent; the served object is not closed."""
        self._stop.set()
        daemon = self._daemon
        if daemon is not None:
            daemon.shutdown()
            daemon.drop_clients()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close_daemon()

    def _close_daemon(self) -> None:
        daemon, self._daemon = self._daemon, None
        if daemon is not None:
            daemon.close()

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class MicroscopeServer(TokenServer):
    """A Pyro5 server for one microscope.

    Parameters
    ----------
    microscope : Microscope
        The instrument to serve (simulator, vendor adapter, ...).
    host : str
        Address to bind; loopback by default. Anything else needs ``token``.
    port : int
        TCP port; ``0`` picks a free one (read it from :attr:`uri`).
    token : str or None
        Shared secret clients must present; defaults to ``$STEERSCOPE_TOKEN``.
    read_only : bool
        Refuse ``acquire`` (serve overview and describe only).
    limits : SafetyLimits or None
        If given, the microscope is wrapped in a :class:`SafeMicroscope`.
    object_id : str
        Pyro5 object id.

    Examples
    --------
    >>> with MicroscopeServer(my_microscope) as server:  # doctest: +SKIP
    ...     remote = RemoteMicroscope(server.uri)
    """

    def __init__(
        self,
        microscope: Microscope,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        read_only: bool = False,
        *,
        limits: SafetyLimits | None = None,
        object_id: str = DEFAULT_OBJECT_ID,
    ) -> None:
        super().__init__(host, port, token, object_id=object_id, what="microscope server")
        self.microscope: Microscope = (
            SafeMicroscope(microscope, limits) if limits is not None else microscope
        )
        self.read_only = read_only

    def _served(self) -> Any:
        log.info("serving %s (read-only: %s)", type(self.microscope).__name__, self.read_only)
        return _MicroscopeService(self.microscope, self.read_only)


def serve(
    microscope: Microscope,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    read_only: bool = False,
    *,
    limits: SafetyLimits | None = None,
    object_id: str = DEFAULT_OBJECT_ID,
    block: bool = True,
) -> MicroscopeServer:
    """Serve ``microscope``; block until shut down, or return at once with ``block=False``.

    With ``block=False`` the server runs in a background thread; stop it with
    ``server.shutdown()``. See :class:`MicroscopeServer` for the parameters.
    """
    server = MicroscopeServer(
        microscope, host, port, token, read_only, limits=limits, object_id=object_id
    )
    if block:
        server.serve_forever()
    else:
        server.start_in_thread()
    return server


def serve_from_cli(
    driver: str,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    read_only: bool = False,
    *,
    limits: SafetyLimits | dict[str, Any] | None = None,
    **driver_options: Any,
) -> None:
    """What ``steerscope serve --driver …`` runs: build the driver, serve until Ctrl-C, close.

    Parameters
    ----------
    driver : str
        Which adapter to build, one of
        :func:`~steerscope.instruments.registry.driver_names` (see :func:`make_driver`).
    host, port, token, read_only
        As for :class:`MicroscopeServer`; ``token`` falls back to ``$STEERSCOPE_TOKEN``.
    limits : SafetyLimits or dict, optional
        Safety limits enforced on the microscope PC.
    **driver_options
        Passed to the driver (e.g. ``dataset="plasmonic_nanoparticles"`` for ``sim``,
        ``host``/``port`` of the AutoScript service as ``as_host``/``as_port``).
    """
    safety = SafetyLimits.model_validate(limits) if isinstance(limits, dict) else limits
    token = check_exposure(host, token)  # refuse before touching the instrument
    microscope = make_driver(driver, **driver_options)
    try:
        server = MicroscopeServer(microscope, host, port, token, read_only, limits=safety)
        server.start()
        print(f"steerscope: serving {driver} microscope at {server.uri}", flush=True)  # noqa: T201  (command-line output)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped by Ctrl-C")
        finally:
            server.shutdown()
    finally:
        microscope.close()
