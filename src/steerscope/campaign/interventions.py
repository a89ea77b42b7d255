"""Interventions: what an operator can do to a running campaign, as small frozen messages.

The engine applies them between two steps in one place
(:meth:`steerscope.campaign.Campaign.apply`) and records each one, with the
step, the time and the state before → after. ``Pause``, ``Resume``, ``Stop``
and ``RunSteps`` steer the background runner rather than the engine.

Points are ``(row, col)`` overview pixels. Constructors only normalise their
arguments (points to tuples, masks to read-only arrays); whether a value is
acceptable (``beta >= 0``, points on the image) is checked by the engine,
which records a refused intervention as an event instead of crashing.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ConfigError, SteerscopeError

__all__ = [
    "ANSWERS",
    "CONTROLS",
    "CONTROL_KINDS",
    "VERDICTS",
    "AddNoGoRegion",
    "AddPoints",
    "Compare",
    "Intervention",
    "Pause",
    "Resume",
    "RunSteps",
    "SetBudget",
    "SetDescriptor",
    "SetPolicy",
    "SetScalarizer",
    "Stop",
    "VetoPoints",
    "Vote",
    "describe_change",
    "describe_intervention",
    "intervention_from_dict",
]


def _as_point_tuple(points: ArrayLike, what: str) -> tuple[tuple[int, int], ...]:
    arr = np.asarray(points)
    if arr.size == 0:
        return ()
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ConfigError(
            f"{what} expects points of shape (n, 2) as (row, col); got shape {arr.shape}. "
            "Pass e.g. [[10, 12], [40, 3]]."
        )
    if not np.all(np.isfinite(arr.astype(np.float64))):
        raise ConfigError(f"{what} expects finite pixel coordinates; got {arr.tolist()}")
    return tuple((int(r), int(c)) for r, c in np.rint(arr).astype(np.int64))


class SetPolicy:
    """Change the acquisition policy; fields not given (or None) stay as they are.

    Its fields are those of :class:`~steerscope.campaign.PolicyConfig`, read from it
    (a policy field added there can be set mid-run with no edit here), e.g.
    ``SetPolicy(beta=4.0)``, ``SetPolicy(acquisition="ei", xi=0.05)``,
    ``SetPolicy(weights=[2, 1])``. Values are checked by the engine, which records
    a refused change instead of crashing; an unknown field name fails here.

    Parameters
    ----------
    **changes
        Any :class:`~steerscope.campaign.PolicyConfig` field (``acquisition``, ``beta``,
        ``xi``, ``batch_size``, ``min_distance``, ``weights``, ``ref_point``, ``ideal``, …).

    Raises
    ------
    ConfigError
        For a name that is not a policy field.
    """

    __slots__ = ("_changes",)
    _changes: tuple[tuple[str, Any], ...]

    def __init__(self, **changes: Any) -> None:
        from steerscope.campaign.config import PolicyConfig

        fields = PolicyConfig.model_fields
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ConfigError(
                f"SetPolicy has no field {', '.join(map(repr, unknown))}; the policy fields are "
                f"{', '.join(fields)}."
            )
        kept = tuple(
            (name, _frozen(value)) for name in fields if (value := changes.get(name)) is not None
        )
        object.__setattr__(self, "_changes", kept)

    def __getattr__(self, name: str) -> Any:
        from steerscope.campaign.config import PolicyConfig

        if name in PolicyConfig.model_fields:
            return dict(object.__getattribute__(self, "_changes")).get(name)
        raise AttributeError(f"SetPolicy has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SetPolicy is frozen; post a new SetPolicy instead")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SetPolicy) and other._changes == self._changes

    def __hash__(self) -> int:
        return hash(self._changes)

    def __repr__(self) -> str:
        return f"SetPolicy({', '.join(f'{k}={v!r}' for k, v in self._changes)})"

    def changes(self) -> dict[str, Any]:
        """The fields this intervention sets, JSON-able (vectors as lists of floats).

        Raises
        ------
        ConfigError
            If a vector field (``weights``, ``ref_point``, ``ideal``) holds something
            that is not a number.
        """
        out: dict[str, Any] = {}
        for name, value in self._changes:
            if isinstance(value, tuple):
                try:
                    value = _float_list(value)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(
                        "SetPolicy refused: vector policy fields must be sequences of numbers, "
                        f"one per objective; {name} got {list(value)!r} ({exc}). "
                        "Nothing was changed."
                    ) from None
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload (see :func:`intervention_from_dict`)."""
        return self.changes()


def _frozen(value: Any) -> Any:
    """A hashable copy of a policy value: sequences become tuples."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, np.ndarray) or (
        hasattr(value, "__iter__") and not isinstance(value, dict)
    ):
        return tuple(np.asarray(value).reshape(-1).tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _float_list(values: Any) -> list[float] | None:
    """A JSON-able list of floats (None stays None), for vector policy fields."""
    if values is None:
        return None
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]


@dataclass(frozen=True)
class SetScalarizer:
    """Use a new scalarizer from now on; every stored spectrum is relabelled with it.

    Parameters
    ----------
    spec : dict
        A scalarizer spec, e.g. ``{"kind": "window_sum", "window": [1.0, 1.6]}``.
    """

    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"spec": dict(self.spec)}


@dataclass(frozen=True)
class SetDescriptor:
    """Cut patches of a new size; features are re-extracted and the model refitted from scratch.

    Parameters
    ----------
    patch_size : int
        Side of the square patch around each candidate pixel, >= 1.
    """

    patch_size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"patch_size": int(self.patch_size)}


@dataclass(frozen=True)
class SetBudget:
    """Change the number of spectra to acquire in total (may extend a finished campaign).

    Parameters
    ----------
    measurements : int
        New total, >= the number already measured.
    """

    measurements: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"measurements": int(self.measurements)}


@dataclass(frozen=True)
class _PointsMessage:
    """An intervention about a list of overview pixels, stored as ``(row, col)`` int tuples.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Overview pixels ``(row, col)``.
    """

    points: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _as_point_tuple(self.points, type(self).__name__))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class AddPoints(_PointsMessage):
    """Measure these points next, before any model-driven choice.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Overview pixels ``(row, col)``.
    """


@dataclass(frozen=True)
class VetoPoints(_PointsMessage):
    """Never choose these points.

    Parameters
    ----------
    points : array_like of shape (n, 2)
        Overview pixels ``(row, col)``.
    """


@dataclass(frozen=True, eq=False)
class AddNoGoRegion:
    """Never send the beam where ``mask`` is True (added to any earlier no-go region).

    Parameters
    ----------
    mask : ndarray of shape (H, W) of bool
        On the overview grid.
    """

    mask: NDArray[np.bool_] = field(repr=False)

    def __post_init__(self) -> None:
        mask = np.array(self.mask, dtype=bool, copy=True)
        if mask.ndim != 2:
            raise ConfigError(
                f"AddNoGoRegion expects a boolean mask of shape (H, W) on the overview grid; "
                f"got shape {mask.shape}."
            )
        mask.flags.writeable = False
        object.__setattr__(self, "mask", mask)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload: the mask bit-packed and base64-encoded."""
        packed = np.packbits(self.mask.ravel())
        return {
            "shape": [int(s) for s in self.mask.shape],
            "packbits_b64": base64.b64encode(packed.tobytes()).decode("ascii"),
            "n_pixels": int(self.mask.sum()),
        }


@dataclass(frozen=True)
class _BareMessage:
    """An intervention that carries nothing but its kind."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload: empty."""
        return {}


@dataclass(frozen=True)
class Pause(_BareMessage):
    """Stop stepping after the current step; state and record stay as they are."""


@dataclass(frozen=True)
class Resume(_BareMessage):
    """Continue stepping (also retries after an instrument error)."""


@dataclass(frozen=True)
class Stop(_BareMessage):
    """End the run after the current step; the record stays resumable."""


@dataclass(frozen=True)
class RunSteps:
    """Run exactly ``n`` more steps, then pause.

    Parameters
    ----------
    n : int
        Number of steps, >= 1.
    """

    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"n": int(self.n)}


def _spectrum_index(kind: str, name: str, message: Any) -> int:
    """Field ``name`` of ``message`` as a measured spectrum's index, an int >= 0.

    A ConfigError names the message kind and says what was expected.
    """
    value = getattr(message, name)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{kind}: {name} must be an integer; got {value!r}")
    if value < 0:
        raise ConfigError(f"{kind}: {name} must be >= 0; got {value}")
    return int(value)


ANSWERS = ("first", "second", "none")
"""What an operator may answer to "which of these two spectra is more interesting?"."""

VERDICTS = ("good", "bad", "none", "1", "2", "3", "4", "5")
"""What an operator may say of a measured spectrum: good, bad, a score from 1 (least
interesting) to 5, or ``none`` to withdraw a vote."""


@dataclass(frozen=True)
class Vote:
    """The operator's judgement of a measured spectrum: good, bad, a score 1–5, or withdrawn.

    Votes change no setting and supersede no proposal; they are recorded like any other
    intervention. They become a target when the operator turns the good and bad ones
    into a ``similarity`` scalarizer (posted as SetScalarizer), and under a
    ``preference`` target they are learnt with the comparisons: each voted spectrum is
    preferred to every one voted lower (bad < 1 < … < 5 < good), so the target is a
    learned score.

    Parameters
    ----------
    measurement : int
        Index of the measured spectrum (0-based: the one numbered ``measurement + 1``).
    verdict : {"good", "bad", "1", "2", "3", "4", "5", "none"}
        The judgement (an integer score 1–5 is taken as its string); ``"none"``
        withdraws an earlier one.
    """

    measurement: int
    verdict: str

    def __post_init__(self) -> None:
        score = self.verdict
        if isinstance(score, int | np.integer) and not isinstance(score, bool):
            object.__setattr__(self, "verdict", str(int(score)))
        object.__setattr__(self, "measurement", _spectrum_index("Vote", "measurement", self))
        if self.verdict not in VERDICTS:
            raise ConfigError(
                f"Vote: verdict must be one of {', '.join(VERDICTS)}; got {self.verdict!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        return {"measurement": self.measurement, "verdict": self.verdict}


@dataclass(frozen=True)
class Compare:
    """The operator's answer to "which of these two measured spectra is more interesting?".

    Under a ``preference`` target the answers are the target: each one relabels the
    measured spectra with the utility all answers so far give them. Under a formula
    target they are kept for a later switch to one. Like votes, they change no
    setting and supersede no proposal.

    Parameters
    ----------
    first, second : int
        Indices of the two measured spectra (0-based: ``first`` is spectrum number
        ``first + 1``), as shown: ``first`` on the left.
    answer : {"first", "second", "none"}
        Which is more interesting; ``"none"``: no preference (recorded; it carries no
        weight in the utility, whose probit likelihood has no tie).
    by : str
        Who judged (e.g. ``"web UI"``, an operator's name, ``"simulated operator"``):
        recorded with the answer when given.
    """

    first: int
    second: int
    answer: str
    by: str = ""

    def __post_init__(self) -> None:
        for name in ("first", "second"):
            object.__setattr__(self, name, _spectrum_index("Compare", name, self))
        if self.first == self.second:
            raise ConfigError(
                f"Compare: a comparison needs two different spectra; got #{self.first + 1} twice"
            )
        if self.answer not in ANSWERS:
            raise ConfigError(
                f"Compare: answer must be one of {', '.join(ANSWERS)}; got {self.answer!r}"
            )
        if not isinstance(self.by, str) or len(self.by) > 80:
            raise ConfigError(
                f"Compare: by must be a name of at most 80 characters; got {self.by!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able payload."""
        payload = {"first": self.first, "second": self.second, "answer": self.answer}
        return {**payload, "by": self.by} if self.by else payload


Intervention = (
    SetPolicy
    | SetScalarizer
    | SetDescriptor
    | SetBudget
    | AddPoints
    | VetoPoints
    | AddNoGoRegion
    | Pause
    | Resume
    | Stop
    | RunSteps
    | Vote
    | Compare
)
"""Any operator message the runner accepts."""

CONTROLS = (Pause, Resume, Stop, RunSteps)
"""The runner's controls: they hold or release the run and change no setting."""

CONTROL_KINDS = frozenset(cls.__name__ for cls in CONTROLS)
"""Their class names, as the record and the event log write them."""

_KINDS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        SetPolicy,
        SetScalarizer,
        SetDescriptor,
        SetBudget,
        AddPoints,
        VetoPoints,
        AddNoGoRegion,
        Pause,
        Resume,
        Stop,
        RunSteps,
        Vote,
        Compare,
    )
}


def intervention_from_dict(kind: str, payload: dict[str, Any]) -> Intervention:
    """Rebuild an intervention from its class name and :meth:`to_dict` payload.

    Parameters
    ----------
    kind : str
        Class name, e.g. ``"SetPolicy"``.
    payload : dict
        What the intervention's ``to_dict()`` returned.

    Raises
    ------
    ConfigError
        If ``kind`` is unknown or the payload does not fit it.
    """
    cls = _KINDS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown intervention {kind!r}; expected one of {', '.join(_KINDS)}")
    try:
        if cls is AddNoGoRegion:
            shape = tuple(int(s) for s in payload["shape"])
            bits = np.frombuffer(base64.b64decode(payload["packbits_b64"]), dtype=np.uint8)
            mask = np.unpackbits(bits)[: shape[0] * shape[1]].reshape(shape).astype(bool)
            return AddNoGoRegion(mask)
        result: Intervention = cls(**payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"intervention {kind} cannot be rebuilt from {payload!r:.200}: {exc}"
        ) from exc
    return result


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def describe_intervention(intervention: Intervention, policy: dict[str, Any] | None = None) -> str:
    """A one-line account of an intervention for the operator, e.g. ``"beta 0.25 → 1"``.

    Parameters
    ----------
    intervention : Intervention
    policy : dict, optional
        The policy in force, to show a policy change as ``old → new``.

    Returns
    -------
    str
    """
    if isinstance(intervention, SetPolicy):
        now = policy or {}
        parts = []
        for name, value in intervention.changes().items():
            old = f"{_value(now[name])} → " if name in now else ""
            parts.append(f"{name} {old}{_value(value)}")
        return ", ".join(parts) or "policy unchanged"
    if isinstance(intervention, SetScalarizer):
        return f"target → {intervention.spec.get('kind', 'new scalarizer')}"
    if isinstance(intervention, SetDescriptor):
        return f"patch size → {intervention.patch_size}"
    if isinstance(intervention, SetBudget):
        return f"budget → {intervention.measurements} spectra"
    if isinstance(intervention, AddPoints):
        return f"measure {len(intervention.points)} point(s) next"
    if isinstance(intervention, VetoPoints):
        return f"forbid {len(intervention.points)} point(s)"
    if isinstance(intervention, AddNoGoRegion):
        return f"no-go region of {int(intervention.mask.sum())} pixel(s)"
    if isinstance(intervention, Pause):
        return "pause after the spectrum in flight"
    if isinstance(intervention, Resume):
        return "resume"
    if isinstance(intervention, Stop):
        return "stop after the spectrum in flight"
    if isinstance(intervention, RunSteps):
        return f"run {intervention.n} step(s)"
    if isinstance(intervention, Vote):
        if intervention.verdict == "none":
            return f"vote on spectrum #{intervention.measurement + 1} withdrawn"
        if intervention.verdict.isdigit():
            return f"spectrum #{intervention.measurement + 1} scored {intervention.verdict}/5"
        return f"spectrum #{intervention.measurement + 1} marked {intervention.verdict}"
    if isinstance(intervention, Compare):
        return _comparison_text(intervention.first, intervention.second, intervention.answer)
    return type(intervention).__name__


def _comparison_text(first: int, second: int, answer: str) -> str:
    """``"spectrum #12 preferred to #7"`` or ``"no preference between #12 and #7"``."""
    if answer == "none":
        return f"no preference between #{first + 1} and #{second + 1}"
    won, lost = (first, second) if answer == "first" else (second, first)
    return f"spectrum #{won + 1} preferred to #{lost + 1}"


def describe_change(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """A recorded intervention in words, e.g. ``"beta 0.25 → 1"`` (event log, Review table).

    Parameters
    ----------
    kind : str
        The intervention's class name, as recorded.
    before, after : mapping
        The record's before/after payloads (:meth:`Campaign.apply` writes them).

    Returns
    -------
    str
        What changed, never a raw dict: the policy fields that changed, old → new; the
        target's label; a count of points or pixels; a status change for the controls.
    """
    if kind in CONTROL_KINDS:
        text = f"{before.get('status', '?')} → {after.get('status', '?')}"
        return text + (f" ({after['n']} step(s))" if kind == "RunSteps" and "n" in after else "")
    if kind == "SetPolicy":
        names = [k for k in after if k != "version" and before.get(k) != after.get(k)]
        parts = [f"{k} {_value(before.get(k))} → {_value(after[k])}" for k in names]
        return ", ".join(parts) or "policy unchanged"
    if kind == "SetScalarizer":
        return f"target {_target_label(before.get('spec'))} → {_target_label(after.get('spec'))}"
    if kind == "SetDescriptor":
        return f"patch size {before.get('patch_size', '?')} → {after.get('patch_size', '?')}"
    if kind == "SetBudget":
        return (
            f"budget {before.get('measurements', '?')} → {after.get('measurements', '?')} spectra"
        )
    try:
        described = describe_intervention(intervention_from_dict(kind, dict(after)))
    except (SteerscopeError, TypeError, ValueError, KeyError):
        return kind
    if kind in ("AddPoints", "VetoPoints"):
        points = [tuple(int(v) for v in p) for p in after.get("points", [])][:4]
        shown = ", ".join(f"({r}, {c})" for r, c in points)
        more = ", …" if len(after.get("points", [])) > 4 else ""
        return f"{described}: {shown}{more}" if shown else described
    return described


def _target_label(spec: Any) -> str:
    from steerscope.scalarizers import parse_scalarizer

    if not isinstance(spec, Mapping):
        return "?"
    try:
        return parse_scalarizer(dict(spec)).label
    except (SteerscopeError, ValueError, TypeError):
        return str(spec.get("kind", "?"))
