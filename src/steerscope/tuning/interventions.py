"""What the operator may change while a tuning campaign runs; each is recorded.

Values are in the units of the config's settings (nm for aberrations). Every
intervention is checked before it is recorded, so a refused one leaves no trace
but its error message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from steerscope.errors import ConfigError

__all__ = [
    "VETO_WIDTH",
    "SetBeta",
    "SetBounds",
    "SetBudget",
    "SetMerit",
    "TrySettings",
    "TuningIntervention",
    "VetoSettings",
    "parse_intervention",
]


@dataclass(frozen=True)
class SetBudget:
    """Frames in all (the trials already made count)."""

    kind: ClassVar[str] = "set_budget"
    frames: int


@dataclass(frozen=True)
class SetBounds:
    """Move one setting's search range (inside its safe range)."""

    kind: ClassVar[str] = "set_bounds"
    name: str
    low: float
    high: float


@dataclass(frozen=True)
class TrySettings:
    """Measure these settings next; unnamed settings keep the best trial's values."""

    kind: ClassVar[str] = "try_settings"
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SetBeta:
    """UCB's exploration weight from the next proposal on."""

    kind: ClassVar[str] = "set_beta"
    beta: float


@dataclass(frozen=True)
class VetoSettings:
    """Never try settings near these: within ``VETO_WIDTH`` of each named setting's safe range.

    Unnamed settings are free, so ``{"defocus": 120}`` vetoes a slab of defocus at every
    astigmatism (a lens state the operator knows is bad, a value that trips a limit).
    """

    kind: ClassVar[str] = "veto_settings"
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SetMerit:
    """Score frames by another disc radius or smoothing; every recorded frame is re-scored."""

    kind: ClassVar[str] = "set_merit"
    radius_mrad: float | None = None
    smoothing_px: float | None = None


@dataclass(frozen=True)
class SetPaused:
    """Pause after the frame in flight (``paused=True``), or go on."""

    kind: ClassVar[str] = "set_paused"
    paused: bool


TuningIntervention = (
    SetBudget | SetBounds | TrySettings | SetBeta | SetPaused | VetoSettings | SetMerit
)

VETO_WIDTH = 0.05
"""Half-width of a veto, as a fraction of each named setting's safe range."""

_KINDS: dict[str, type[Any]] = {
    c.kind: c
    for c in (SetBudget, SetBounds, TrySettings, SetBeta, SetPaused, VetoSettings, SetMerit)
}


def to_dict(change: TuningIntervention) -> dict[str, Any]:
    """``{"kind": ..., **fields}``, as the record keeps it."""
    return {"kind": change.kind, **asdict(change)}


def parse_intervention(data: dict[str, Any]) -> TuningIntervention:
    """The intervention a :func:`to_dict` mapping describes.

    Raises
    ------
    ConfigError
        For an unknown kind or wrong fields, saying which kinds exist.
    """
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise ConfigError(f"unknown tuning intervention {kind!r}; expected one of {sorted(_KINDS)}")
    try:
        change: TuningIntervention = cls(**fields)
    except TypeError as exc:
        raise ConfigError(f"{kind}: {exc}") from None
    return change
