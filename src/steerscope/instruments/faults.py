"""Injectable instrument faults, for testing how a campaign survives a misbehaving microscope.

A :class:`FaultPlan` says which acquisitions fail and how. The simulator checks
it *before* it touches any state, so a failed call has no side effects: no
counter moves, no drift accumulates, no spectrum is returned.

The two transient failures a real microscope link shows most — a timeout and a
dropped connection — are raised as :class:`InstrumentTimeoutError` and
:class:`InstrumentDisconnectedError`. Each is both an
:class:`~steerscope.errors.InstrumentError` (what the campaign engine catches)
and the matching builtin (``TimeoutError`` / ``ConnectionError``), so generic
retry code written against the builtins works too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from steerscope.errors import ConfigError, InstrumentError

__all__ = [
    "FaultPlan",
    "InstrumentDisconnectedError",
    "InstrumentFaultError",
    "InstrumentTimeoutError",
]


class InstrumentTimeoutError(InstrumentError, TimeoutError):
    """The instrument did not answer in time; retrying the same request is safe."""


class InstrumentDisconnectedError(InstrumentError, ConnectionError):
    """The link to the instrument dropped; reconnect (or retry) before the next request."""


class InstrumentFaultError(InstrumentError):
    """The instrument reported a failure of the acquisition itself (detector, beam blank, …)."""


def _call_set(name: str, calls: Iterable[int]) -> frozenset[int]:
    try:
        values = frozenset(int(c) for c in calls)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"FaultPlan.{name} must be a set of acquisition numbers (1, 2, …); got {calls!r}"
        ) from exc
    if any(c < 1 for c in values):
        raise ConfigError(
            f"FaultPlan.{name} counts acquisitions from 1; got {sorted(values)}. "
            "Use 1 for the first acquire() call."
        )
    return values


@dataclass(frozen=True)
class FaultPlan:
    """Which acquisitions fail, how, and how many times in a row.

    Acquisitions are numbered from 1 by how many have *succeeded* so far: the
    attempt that would become the k-th successful acquisition is acquisition
    k, however many failed attempts preceded it. Acquisition k in one of the
    sets fails ``fail_times`` times; the next attempt succeeds. That models a
    transient fault a retry gets past; use ``fail_times=None`` for a fault
    that never clears.

    Parameters
    ----------
    timeout_on_calls : iterable of int
        Acquisitions that raise :class:`InstrumentTimeoutError`.
    disconnect_on_calls : iterable of int
        Acquisitions that raise :class:`InstrumentDisconnectedError`.
    error_on_calls : iterable of int
        Acquisitions that raise :class:`InstrumentFaultError`.
    fail_times : int or None
        How many consecutive attempts at a faulty acquisition fail (>= 1), or
        ``None`` for every attempt.

    Examples
    --------
    >>> plan = FaultPlan(timeout_on_calls={3}, disconnect_on_calls={5}, fail_times=1)
    >>> plan.fault_for(3, failures_so_far=0)
    'timeout'
    >>> plan.fault_for(3, failures_so_far=1) is None
    True
    """

    timeout_on_calls: frozenset[int] = field(default_factory=frozenset)
    disconnect_on_calls: frozenset[int] = field(default_factory=frozenset)
    error_on_calls: frozenset[int] = field(default_factory=frozenset)
    fail_times: int | None = 1

    def __post_init__(self) -> None:
        sets = {
            "timeout_on_calls": _call_set("timeout_on_calls", self.timeout_on_calls),
            "disconnect_on_calls": _call_set("disconnect_on_calls", self.disconnect_on_calls),
            "error_on_calls": _call_set("error_on_calls", self.error_on_calls),
        }
        for name, values in sets.items():
            object.__setattr__(self, name, values)
        names = list(sets)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                both = sets[first] & sets[second]
                if both:
                    raise ConfigError(
                        f"acquisitions {sorted(both)} are in both FaultPlan.{first} and "
                        f"FaultPlan.{second}; give each acquisition at most one fault."
                    )
        if self.fail_times is not None and (
            isinstance(self.fail_times, bool)
            or not isinstance(self.fail_times, int)
            or self.fail_times < 1
        ):
            raise ConfigError(
                f"FaultPlan.fail_times must be an integer >= 1 or None (never clears); "
                f"got {self.fail_times!r}"
            )

    def fault_for(self, acquisition: int, failures_so_far: int) -> str | None:
        """The fault the attempt at ``acquisition`` raises, or ``None``.

        Parameters
        ----------
        acquisition : int
            1-based number of the acquisition being attempted.
        failures_so_far : int
            How many attempts at this same acquisition already failed.

        Returns
        -------
        str or None
            ``"timeout"``, ``"disconnect"``, ``"error"``, or ``None`` when the
            attempt succeeds.
        """
        if self.fail_times is not None and failures_so_far >= self.fail_times:
            return None
        if acquisition in self.timeout_on_calls:
            return "timeout"
        if acquisition in self.disconnect_on_calls:
            return "disconnect"
        if acquisition in self.error_on_calls:
            return "error"
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (sets as sorted lists)."""
        return {
            "timeout_on_calls": sorted(self.timeout_on_calls),
            "disconnect_on_calls": sorted(self.disconnect_on_calls),
            "error_on_calls": sorted(self.error_on_calls),
            "fail_times": self.fail_times,
        }


def raise_fault(kind: str, acquisition: int, attempt: int) -> None:
    """Raise the exception for a fault ``kind`` chosen by :meth:`FaultPlan.fault_for`.

    Parameters
    ----------
    kind : {"timeout", "disconnect", "error"}
        The fault.
    acquisition : int
        1-based acquisition number, for the message.
    attempt : int
        1-based attempt number at this acquisition, for the message.
    """
    where = f"acquisition {acquisition} (attempt {attempt})"
    if kind == "timeout":
        raise InstrumentTimeoutError(
            f"simulated timeout: the microscope did not answer {where} in time; "
            "no spectrum was acquired, retry the same points"
        )
    if kind == "disconnect":
        raise InstrumentDisconnectedError(
            f"simulated disconnect: the link to the microscope dropped during {where}; "
            "no spectrum was acquired, reconnect and retry the same points"
        )
    raise InstrumentFaultError(
        f"simulated instrument fault: the detector reported a failure on {where}; "
        "no spectrum was acquired, retry or stop the campaign"
    )
