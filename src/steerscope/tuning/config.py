"""What a tuning campaign moves, what it judges, and how long it may take.

A tuning campaign's inputs are instrument settings in a box (not pixel positions);
each trial sets them, records a frame and scores it with a figure of merit
(:mod:`steerscope.tuning.merit`). Values are given in the units a microscopist
reads (nm for aberration coefficients) and converted to SI at the instrument.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from steerscope.campaign.config import _parse_yaml, _Strict, read_yaml_file, validated
from steerscope.errors import ConfigError

__all__ = [
    "FlatnessMerit",
    "Setting",
    "TuningConfig",
    "TuningInstrument",
    "format_settings",
    "is_tuning_config",
    "load_tuning_config",
]

UNITS = {"m": 1.0, "um": 1e-6, "nm": 1e-9, "rad": 1.0, "mrad": 1e-3}
"""Units a setting may be given in, and their size in SI."""


class Setting(_Strict):
    """One tunable control: its search range and the range it may never leave.

    Parameters
    ----------
    name : str
        The instrument's setting (e.g. ``C10``, ``C12.a``).
    low, high : float
        The search range, in ``unit``.
    unit : str
        One of :data:`UNITS`.
    safe_low, safe_high : float or None
        Hard limits, in ``unit``; default the search range. No trial, forced or
        proposed, leaves them, and the search range can be moved only inside them.
    """

    name: str = Field(min_length=1)
    low: float
    high: float
    unit: Literal["m", "um", "nm", "rad", "mrad"] = "nm"
    safe_low: float | None = None
    safe_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Setting:
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low must be below high; got {self.low} ≥ {self.high}")
        if not self.safe[0] <= self.low < self.high <= self.safe[1]:
            raise ValueError(
                f"{self.name}: the search range [{self.low}, {self.high}] {self.unit} must lie "
                f"inside the safe range [{self.safe[0]}, {self.safe[1]}] {self.unit}"
            )
        return self

    @property
    def safe(self) -> tuple[float, float]:
        """The hard limits ``(low, high)``, in ``unit``."""
        low = self.low if self.safe_low is None else self.safe_low
        high = self.high if self.safe_high is None else self.safe_high
        return low, high

    @property
    def si(self) -> float:
        """The size of one ``unit`` in SI."""
        return UNITS[self.unit]


class FlatnessMerit(_Strict):
    """:func:`~steerscope.tuning.merit.ronchigram_flatness` as the figure to maximise."""

    kind: Literal["ronchigram_flatness"] = "ronchigram_flatness"
    radius_mrad: float = Field(40.0, gt=0)
    smoothing_px: float = Field(2.0, ge=0)


class TuningInstrument(_Strict):
    """Which instrument a tuning campaign runs on.

    Parameters
    ----------
    driver : {"usim", "nion"}
        ``usim``: a headless nionswift-usim started for the campaign; ``nion``: the
        STEM controller of the Nion Swift this runs in.
    mistuning : dict of str to float
        usim only: where the settings start, in the settings' units (default all 0).
    binning : int
        Ronchigram camera binning.
    exposure_ms : float
        Exposure per Ronchigram.
    """

    driver: Literal["usim", "nion"] = "usim"
    mistuning: dict[str, float] = Field(default_factory=dict)
    binning: int = Field(8, ge=1, le=64)
    exposure_ms: float = Field(100.0, gt=0, le=60_000)


MAX_GRID = 200_000
"""Most grid points a discrete tuning grid may have (the acquisition scores them all)."""


class TuningConfig(_Strict):
    """A tuning campaign: settings, figure of merit, optimiser, budget.

    Parameters
    ----------
    kind : "tuning"
        Says that a YAML file is a tuning campaign (``steerscope run`` reads both).
    name : str
        Shown in the record and the output.
    instrument : TuningInstrument
        Where it runs.
    settings : list of Setting
        The box searched (at least one setting, names unique).
    merit : FlatnessMerit
        The figure each frame is scored by (higher is better).
    budget : int
        Frames in all, the one at the starting settings included.
    initial : int or None
        Space-filling trials after the start, before the model proposes; default
        ``2 * len(settings)``.
    optimiser : {"bo", "random"}
        Bayesian optimisation (a GP over the box with UCB, BoTorch) or uniform random
        settings (the baseline).
    beta : float
        UCB's exploration weight.
    grid_points : int or None
        Search a discrete grid instead of the continuous box: this many values per
        setting over its safe range (every trial lies on it; the acquisition is
        maximised over the grid points inside the search range). None: continuous.
    seed : int
        For the space-filling points and the optimiser's restarts.
    """

    kind: Literal["tuning"] = "tuning"
    name: str = "tuning"
    instrument: TuningInstrument = TuningInstrument()
    settings: list[Setting] = Field(min_length=1)
    merit: FlatnessMerit = FlatnessMerit()
    budget: int = Field(30, ge=1, le=10_000)
    initial: int | None = Field(None, ge=0, le=1_000)
    optimiser: Literal["bo", "random"] = "bo"
    beta: float = Field(1.0, ge=0)
    grid_points: int | None = Field(None, ge=2, le=1001)
    seed: int = 0

    @model_validator(mode="after")
    def _unique(self) -> TuningConfig:
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError(f"settings must have different names; got {names}")
        if self.grid_points is not None and self.grid_points ** len(names) > MAX_GRID:
            raise ValueError(
                f"grid_points {self.grid_points} over {len(names)} settings makes "
                f"{self.grid_points ** len(names)} grid points; keep it within {MAX_GRID}"
            )
        unknown = sorted(set(self.instrument.mistuning) - set(names))
        if unknown:
            raise ValueError(
                f"instrument.mistuning names {unknown}, not among the settings {names}"
            )
        return self

    @property
    def n_initial(self) -> int:
        """Space-filling trials after the start."""
        return 2 * len(self.settings) if self.initial is None else self.initial

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON types."""
        return self.model_dump(mode="json")


def format_settings(settings: Mapping[str, float], units: Mapping[str, str]) -> str:
    """``"C10 -4.1 nm, C12.a -3.2 nm"``: settings as a line for a person."""
    return ", ".join(f"{k} {v:.1f} {units.get(k, '')}".rstrip() for k, v in settings.items())


def is_tuning_config(source: str | Path) -> bool:
    """Whether the YAML file at ``source`` says ``kind: tuning`` (False if it cannot tell)."""
    try:
        data = _parse_yaml(Path(source).read_text(encoding="utf-8"), str(source))
    except (OSError, UnicodeDecodeError, ConfigError):
        return False
    return isinstance(data, dict) and data.get("kind") == "tuning"


def load_tuning_config(source: str | Path | dict[str, Any] | TuningConfig) -> TuningConfig:
    """Build a :class:`TuningConfig` from a YAML file, a dict or a config.

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or the config is invalid; the message
        lists every problem with its field path.
    """
    if isinstance(source, TuningConfig):
        return source
    where = "the tuning config"
    data: Any = source
    if isinstance(source, str | Path):
        where = f"config file {str(source)!r}"
        data = read_yaml_file(
            source, "a YAML tuning config with `settings:`", "examples/tuning_usim.yaml"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping with at least `settings:` (see "
            f"examples/tuning_usim.yaml); got {type(data).__name__}."
        )
    return validated(TuningConfig, data, where)
