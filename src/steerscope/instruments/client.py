"""A :class:`~steerscope.instruments.base.Microscope` on the other end of a Pyro5 connection.

:class:`RemoteMicroscope` talks to :mod:`steerscope.instruments.server` on the
microscope PC. It sets a timeout on every call, retries a call that failed on the
network (refused, timed out, dropped) with exponential backoff, reconnecting each
time, and raises :class:`~steerscope.errors.InstrumentError` when the server
stays out of reach; the campaign engine then pauses. A retried ``acquire`` may
reach the beam twice; that is harmless, because the engine records spectra by
decision point and never stores the same one twice.

Errors the server raises on purpose (a safety limit, a read-only server, a point
outside the field of view) come back as the same steerscope exception class and
are not retried.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import numpy as np
import Pyro5.api
import Pyro5.errors
from numpy.typing import ArrayLike

from steerscope import errors as _errors
from steerscope.errors import InstrumentError, SteerscopeError
from steerscope.instruments import faults as _faults
from steerscope.instruments import wire
from steerscope.instruments.faults import InstrumentDisconnectedError, InstrumentTimeoutError
from steerscope.instruments.server import TOKEN_ENV as _TOKEN_ENV
from steerscope.instruments.server import TOKEN_REJECTED as _TOKEN_REJECTED
from steerscope.types import Measurement, Overview

__all__ = ["RemoteMicroscope", "error_class"]

log = logging.getLogger(__name__)


_TRANSIENT = (InstrumentTimeoutError, InstrumentDisconnectedError)


def error_class(name: str) -> type[SteerscopeError]:
    """The steerscope exception class called ``name`` (``InstrumentError`` if unknown).

    Only classes of :mod:`steerscope.errors` and :mod:`steerscope.instruments.faults`
    are looked up, so a server can never make the client build an arbitrary class.
    """
    cls = getattr(_errors, str(name), None) or getattr(_faults, str(name), None)
    if isinstance(cls, type) and issubclass(cls, SteerscopeError):
        return cls
    return InstrumentError


class RemoteMicroscope:
    """Client for a microscope served by ``steerscope serve``; implements ``Microscope``.

    Parameters
    ----------
    uri : str
        ``PYRO:steerscope.microscope@host:port`` as the server prints it.
    token : str or None
        Shared secret the server expects; defaults to ``$STEERSCOPE_TOKEN``.
    timeout_s : float
        Limit on one call (connect, send, wait for the reply), seconds.
    retries : int
        How many times a call that failed on the network is tried again.
    backoff_s : float
        Wait before the first retry; doubled before each further retry.

    Notes
    -----
    ``close()`` only drops the connection; the instrument belongs to the server
    and stays as it is. One call runs at a time; the object may be used from any
    thread (the campaign runner's thread, say).
    """

    def __init__(
        self,
        uri: str,
        token: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        if timeout_s <= 0:
            raise InstrumentError(f"timeout_s must be > 0 seconds; got {timeout_s}")
        if retries < 0:
            raise InstrumentError(f"retries must be >= 0; got {retries}")
        if backoff_s < 0:
            raise InstrumentError(f"backoff_s must be >= 0 seconds; got {backoff_s}")
        try:
            Pyro5.api.URI(uri)
        except Pyro5.errors.PyroError as exc:
            raise InstrumentError(
                f"{uri!r} is not a microscope server address; expected "
                f"'PYRO:steerscope.microscope@HOST:PORT' as `steerscope serve` prints it ({exc})"
            ) from exc
        self.uri = uri
        self.token = token if token is not None else (os.environ.get(_TOKEN_ENV) or None)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self._proxy: Pyro5.api.Proxy | None = None
        self._lock = threading.RLock()
        self._dwell_s: float | None = None

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> Pyro5.api.Proxy:
        if self._proxy is None:
            proxy = Pyro5.api.Proxy(self.uri)
            proxy._pyroSerializer = "serpent"
            proxy._pyroTimeout = self.timeout_s
            proxy._pyroMaxRetries = 0  # we retry ourselves, with backoff and clear errors
            if self.token is not None:
                proxy._pyroHandshake = self.token
            self._proxy = proxy
        self._proxy._pyroClaimOwnership()  # the caller's thread may differ from the creator's
        return self._proxy

    def _drop(self) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            try:
                proxy._pyroClaimOwnership()
                proxy._pyroRelease()
            except Exception:  # the connection is gone anyway
                log.debug("ignoring an error while dropping the proxy", exc_info=True)

    def _call(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the server with retries; unwrap the ``ok``/``error`` reply.

        Network failures (refused, timed out, dropped) and transient driver errors
        reported by the server (:class:`InstrumentTimeoutError`,
        :class:`InstrumentDisconnectedError`) are retried ``retries`` times with
        exponential backoff; anything else is raised at once.
        """
        with self._lock:
            attempt = 0
            while True:
                try:
                    return self._call_once(method, *args)
                except (Pyro5.errors.CommunicationError, *_TRANSIENT) as exc:
                    if attempt >= self.retries:
                        raise self._give_up(exc, attempt + 1) from exc
                    delay = self.backoff_s * (2**attempt)
                    attempt += 1
                    log.warning(
                        "%s failed (%s); retry %d/%d in %.2f s",
                        method,
                        exc,
                        attempt,
                        self.retries,
                        delay,
                    )
                    time.sleep(delay)

    def _call_once(self, method: str, *args: Any) -> Any:
        try:
            reply = getattr(self._connect(), method)(*args)
        except Pyro5.errors.CommunicationError as exc:
            self._drop()
            if _TOKEN_REJECTED in str(exc):
                raise InstrumentError(
                    f"the microscope server at {self.uri} rejected the token: pass the token "
                    f"the server was started with (token=… or ${_TOKEN_ENV})"
                ) from exc
            raise
        except Pyro5.errors.PyroError as exc:
            self._drop()
            raise InstrumentError(
                f"the microscope server at {self.uri} failed the {method} call: {exc}"
            ) from exc
        if not isinstance(reply, dict) or "ok" not in reply:
            raise InstrumentError(
                f"unexpected reply to {method} from {self.uri}: {type(reply).__name__}; is it a "
                "steerscope server of the same version?"
            )
        if not reply["ok"]:
            raise error_class(reply.get("error_type", "InstrumentError"))(
                str(reply.get("message", "the server refused the call"))
            )
        return reply["result"]

    def _give_up(self, exc: Exception, attempts: int) -> InstrumentError:
        suffix = f" (gave up after {attempts} attempts)"
        if isinstance(exc, InstrumentError):  # a transient driver error reported by the server
            return type(exc)(f"{exc}{suffix}")
        text = str(exc)
        if isinstance(exc, Pyro5.errors.TimeoutError):
            return InstrumentTimeoutError(
                f"the microscope server at {self.uri} did not answer within {self.timeout_s:g} s; "
                f"raise timeout_s if acquisitions take longer, or check the server{suffix}"
            )
        if "refused" in text.lower():
            return InstrumentDisconnectedError(
                f"cannot reach microscope server at {self.uri}: connection refused; is "
                f"`steerscope serve` running?{suffix}"
            )
        return InstrumentDisconnectedError(
            f"lost the connection to the microscope server at {self.uri}: {text}{suffix}"
        )

    # -- Microscope protocol -----------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """Check the server answers; returns its protocol version and read-only flag."""
        return dict(self._call("ping"))

    def overview(self) -> Overview:
        """Acquire the overview on the server and return it."""
        return wire.decode_overview(self._call("overview"))

    def acquire(self, points: ArrayLike) -> Measurement:
        """Acquire spectra at ``points`` (shape ``(n, 2)``, ``(row, col)`` overview pixels)."""
        pts = np.asarray(points)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InstrumentError(
                f"points must be an array of shape (n, 2) holding (row, col); got shape {pts.shape}"
            )
        return wire.decode_measurement(
            self._call("acquire", wire.encode_array(pts.astype(np.int64)))
        )

    @property
    def can_set_dwell(self) -> bool:
        """Whether the served microscope can change its dwell (the server says so)."""
        server = self.describe().get("server", {})
        return bool(server.get("set_dwell", False)) and not bool(server.get("read_only", False))

    @property
    def dwell_time_s(self) -> float | None:
        """The dwell this client last set (None before it set one)."""
        return self._dwell_s

    def set_dwell(self, seconds: float) -> None:
        """Ask the server's microscope to take the next spectra with ``seconds`` of dwell.

        Raises
        ------
        InstrumentError
            If the served microscope cannot, or the server is read-only.
        SafetyLimitError
            If the server's limits refuse the dwell.
        """
        self._call("set_dwell", float(seconds))
        self._dwell_s = float(seconds)

    def describe(self) -> dict[str, Any]:
        """The server's description of its microscope, plus ``"remote": {"uri": ...}``."""
        desc = dict(self._call("describe"))
        desc["remote"] = {"uri": self.uri, "timeout_s": self.timeout_s}
        return desc

    def close(self) -> None:
        """Drop the connection (the instrument on the server is left alone). Idempotent."""
        with self._lock:
            self._drop()

    def __enter__(self) -> RemoteMicroscope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteMicroscope({self.uri!r}, timeout_s={self.timeout_s}, retries={self.retries})"
