"""The campaign configuration: everything a run needs, as data that round-trips through YAML.

A :class:`CampaignConfig` is built from a YAML file or a dict with
:func:`load_config`, dumped back with :meth:`CampaignConfig.to_yaml`, and
stored in the campaign record, so a run can be rebuilt (resumed, replayed)
from its record alone. Every problem in a bad config is reported at once, in
one :class:`~steerscope.errors.ConfigError`, each with its field path.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from steerscope.acquisition import (
    ACQUISITIONS,
    MO_ACQUISITIONS,
    acquisition_info,
    acquisitions_for,
    default_acquisition,
)
from steerscope.descriptors import DescriptorSpec
from steerscope.errors import ConfigError, SteerscopeError
from steerscope.instruments.safety import SafetyLimits
from steerscope.models import ModelSpec
from steerscope.scalarizers import ScalarizerBase, ScalarizerSpec, parse_scalarizer

__all__ = [
    "BudgetConfig",
    "CampaignConfig",
    "DatasetSource",
    "FileSource",
    "GridSeeds",
    "InstanceSource",
    "InstrumentConfig",
    "ListSeeds",
    "PauseConfig",
    "PolicyConfig",
    "RandomSeeds",
    "RemoteSource",
    "load_config",
    "read_yaml_file",
    "validated",
]

DEFAULT_BETA = 1.0
"""Default UCB weight: ``mean + sqrt(beta) * std`` = mean plus one posterior standard deviation.

A balanced start on the built-in data, where the interesting regions are a few
small hot spots: 0.25 locks onto the first bright spot found, 4 keeps exploring.
"""


_NUMBERS = (int, float, int | None, float | None)

MAX_DWELL_S = 100.0
"""Longest dwell per spectrum a config accepts, seconds (a typo like 1e6 s is refused)."""

MAX_DRIFT_PX = 100.0
"""Largest simulated stage drift per acquisition, overview pixels."""

MAX_SEED_POINTS = 10_000
"""Most random or grid seed points a config accepts (each is a spectrum spent blindly)."""


class _Strict(BaseModel):
    """Base of every config section: unknown keys are errors, not silently dropped.

    So are infinities, NaN and ``true``/``false`` where a number is expected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, data: Any) -> Any:
        """YAML's ``true`` is not the number 1: refuse a boolean for an int or float field."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(str(name))
                numeric = field is not None and field.annotation in _NUMBERS
                if numeric and isinstance(value, bool):
                    raise ValueError(f"{name}: expected a number, got {str(value).lower()}")
        return data


class DatasetSource(_Strict):
    """A built-in dataset served by the simulator (``steerscope datasets list``)."""

    dataset: str = Field(description="Registry name of a built-in dataset.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the dataset's generator, e.g. {seed: 0}."
    )


class FileSource(_Strict):
    """A spectrum-image file served by the simulator (any format ``steerscope.load`` reads)."""

    file: str = Field(description="Path of a spectrum-image file (.hspy, .emd, .bcf, .npz, ...).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword options passed to steerscope.load."
    )


class RemoteSource(_Strict):
    """A microscope served on the network by ``steerscope serve``."""

    remote: str = Field(description="Server address as printed by `steerscope serve` (PYRO:...).")
    token_env: str = Field(
        default="STEERSCOPE_TOKEN",
        description="Name of the environment variable holding the server's token.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Limit on one call, seconds.")
    retries: int = Field(
        default=3, ge=0, description="Retries of a call that failed on the network."
    )


class InstanceSource(_Strict):
    """A microscope object the caller hands over: ``Campaign.create(..., instrument=scope)``.

    Used for drivers that run in the caller's own process (Nion Swift's Python,
    a test double). The engine writes it into the config it records, so that
    resuming such a campaign without passing the instrument again fails with a
    clear message instead of silently falling back to a simulator.
    """

    instance: str = Field(
        description="Label of the microscope object that was passed in (its class name)."
    )


MAX_DRIFT_NM_S = 10.0
"""Largest simulated probe drift a config accepts, nm/s per axis (real STMs drift < 0.1)."""


class ProbeMotion(_Strict):
    """How a simulated scanning probe (STM/AFM) moves: the tip travels, settles, the sample drifts.

    Set as ``instrument.probe`` to replay a grid of curves as a probe would take
    them (see :class:`~steerscope.instruments.probe_simulator.SimulatedProbeMicroscope`).
    """

    tip_speed_nm_s: float = Field(
        default=50.0, gt=0, le=1e5, description="Lateral tip speed between points, nm/s."
    )
    settle_s: float = Field(
        default=0.1, ge=0, le=MAX_DWELL_S, description="Wait after each move, seconds."
    )
    drift_nm_per_s: tuple[
        Annotated[float, Field(ge=-MAX_DRIFT_NM_S, le=MAX_DRIFT_NM_S)],
        Annotated[float, Field(ge=-MAX_DRIFT_NM_S, le=MAX_DRIFT_NM_S)],
    ] = Field(
        default=(0.0, 0.0),
        description="Sample drift (y, x) in nm per second of simulated time, y down the image.",
    )


class InstrumentConfig(_Strict):
    """Options of the simulated microscope (ignored for a remote instrument)."""

    dwell_time_s: float = Field(
        default=0.01, gt=0, le=MAX_DWELL_S, description="Exposure per spectrum, seconds."
    )
    reference_dwell_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DWELL_S,
        description="Dwell the stored spectra were taken at (None: same as dwell_time_s).",
    )
    noise: bool = Field(default=False, description="Draw Poisson counting noise per channel.")
    drift_px_per_step: tuple[
        Annotated[float, Field(ge=-MAX_DRIFT_PX, le=MAX_DRIFT_PX)],
        Annotated[float, Field(ge=-MAX_DRIFT_PX, le=MAX_DRIFT_PX)],
    ] = Field(
        default=(0.0, 0.0),
        description=f"Stage drift in overview pixels (rows, cols) per acquire, at most "
        f"{MAX_DRIFT_PX:g} each.",
    )
    acquisition_delay_s: float = Field(
        default=0.0, ge=0, description="Wall-clock sleep per point, to feel like a live run."
    )
    probe: ProbeMotion | None = Field(
        default=None,
        description="Simulate a scanning probe (tip travel, settling, drift with time) instead "
        "of an electron beam; dwell_time_s is then the spectroscopy sweep per point.",
    )

    @model_validator(mode="after")
    def _one_kind_of_drift(self) -> InstrumentConfig:
        if self.probe is not None and any(self.drift_px_per_step):
            raise ValueError(
                "a probe drifts with time: set probe.drift_nm_per_s, not drift_px_per_step"
            )
        return self


DEFAULT_MO_ACQUISITION = default_acquisition(2)
"""Acquisition of a multi-objective campaign whose config does not name one (see
:func:`steerscope.acquisition.default_acquisition`)."""

_VECTOR_FIELDS = ("weights", "ref_point", "ideal")


AUTO_BATCH_MAX = 32
"""The largest batch ``batch_size: auto`` chooses."""

DEFAULT_MAX_UNFITTED = 0.1
"""Default ``policy.max_unfitted``: at 10 ms a spectrum, 0.1 found as much per spectrum as
waiting for every refit on the tuning datasets (bench/README.md, pipeline)."""


class DwellChoice(_Strict):
    """Let the engine choose each point's dwell from a ladder (exposure as an input).

    Following Slautin et al. (Digital Discovery 2025, measurement time as a BO
    input), the dwell trades counting noise against time. The rule: the dwell that
    removes the most variance per second spent at the point, ``v² / (v + c / t) / (t +
    overhead_s)``, for a target whose counting-noise variance is ``c / t`` (``c``
    estimated from the measured spectra by Poisson resampling). ``v`` is the spread of
    the measured targets (``against: spread``: measure long enough to tell the
    sample's values apart, the same dwell everywhere) or the model's posterior
    variance at the point (``against: posterior``: look longer where the model is
    already sure). Without a per-point overhead, many short looks equal one long one
    and the shortest dwell always wins; the overhead (beam move and read-out, or tip
    travel and settling) is what makes a longer dwell worth it. Targets are then
    compared per second of dwell (spectra divided by their dwell).
    """

    choices_s: list[Annotated[float, Field(gt=0, le=MAX_DWELL_S)]] = Field(
        min_length=2,
        max_length=8,
        description="Dwells the engine may choose from, seconds, in increasing order.",
    )
    overhead_s: float = Field(
        default=0.0,
        ge=0,
        le=MAX_DWELL_S,
        description="Time per point that is not exposure (move, settle, read-out), seconds.",
    )
    against: Literal["spread", "posterior"] = Field(
        default="spread",
        description="The variance a dwell must beat: the spread of the measured targets "
        "('spread', one dwell for all points) or the model's at each point ('posterior').",
    )

    @field_validator("choices_s")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError(
                f"choices_s must increase strictly, e.g. [0.01, 0.04, 0.16]; got {value}"
            )
        return value


class PolicyConfig(_Strict):
    """How the next points are chosen from the posterior.

    ``weights``, ``ref_point`` and ``ideal`` apply to a multi-objective campaign
    (a scalarizer with ``n_outputs > 1``) only; each has one value per objective.
    """

    acquisition: str = Field(
        default="ucb",
        description=f"Acquisition function: one of {', '.join(ACQUISITIONS)} for one target, "
        f"one of {', '.join(MO_ACQUISITIONS)} for several (default then "
        f"{DEFAULT_MO_ACQUISITION!r}); steerscope.acquisition.acquisition_info(name).parameters "
        "lists the policy fields each one reads.",
    )
    beta: float = Field(
        default=DEFAULT_BETA,
        ge=0,
        description="UCB exploration weight: score = mean + sqrt(beta) * std (>= 0).",
    )
    xi: float = Field(default=0.01, ge=0, description="Expected-improvement margin (>= 0).")
    exploration: Literal["adaptive", "off"] = Field(
        default="adaptive",
        description="'adaptive': while the model predicts the measured targets no better "
        "than their running mean (steerscope.campaign.skill), every second point goes to the "
        "least-covered part of the field instead of the acquisition's choice; 'off': always "
        "the acquisition (a pure policy).",
    )
    batch_size: int | Literal["auto"] = Field(
        default="auto",
        description="Points measured per step (q >= 1), or 'auto': in a pipelined run "
        "(steerscope run, the UI) as many as the beam measures while the next choice is "
        f"made (measured as the campaign runs; at most {AUTO_BATCH_MAX} and 1/20 of the "
        "budget), so the beam stays busy at millisecond dwells; one point a step in the "
        "sequential loop (Campaign.run, sweeps), which has nothing to overlap.",
    )
    dwell: DwellChoice | None = Field(
        default=None,
        description="Let the engine choose each point's dwell from choices_s (None: every "
        "point at the instrument's dwell).",
    )
    max_unfitted: float = Field(
        default=DEFAULT_MAX_UNFITTED,
        ge=0,
        le=1,
        description="Pipelined runs: the largest share of the spectra a choice may know only "
        "by updating the last fit (no training) while a refit runs; beyond it the beam waits "
        "for the refit. 0 waits for every refit (best choices, idle beam at fast dwells); 1 "
        "never waits (busiest beam, choices from older fits).",
    )

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch_size_is_positive_or_auto(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
            raise ValueError(f"batch_size must be an integer >= 1 or 'auto'; got {value!r}")
        if value != int(value):
            raise ValueError(f"batch_size must be a whole number of points; got {value!r}")
        return int(value)

    min_distance: float = Field(
        default=0.0, ge=0, description="Minimum pixel distance between points of one batch."
    )
    batch_diversity: Literal["distance", "believer"] = Field(
        default="distance",
        description="How the points of one batch are kept apart: 'distance' (the best "
        "candidates at least min_distance apart, half a patch for batch_size auto) or "
        "'believer' (chosen one by one, each earlier one believed at its predicted mean, so "
        "the uncertainty near it drops; single target only).",
    )
    weights: tuple[float, ...] | None = Field(
        default=None,
        description="Multi-objective weights of weighted_sum / chebyshev, one per objective, "
        ">= 0 and not all 0 (only ratios matter); None: equal weights.",
    )
    ref_point: tuple[float, ...] | None = Field(
        default=None,
        description="EHVI reference point in target units, one per objective; None: the "
        "measured nadir minus 10 % of each objective's measured range.",
    )
    ideal: tuple[float, ...] | None = Field(
        default=None,
        description="Chebyshev ideal point in target units, one per objective; None: the best "
        "measured value of each objective.",
    )

    @field_validator("acquisition")
    @classmethod
    def _known_acquisition(cls, value: str) -> str:
        try:
            acquisition_info(value)
        except SteerscopeError:
            raise ValueError(
                f"unknown acquisition {value!r}; choose one of {', '.join(acquisitions_for(1))} "
                f"(one target) or {', '.join(acquisitions_for(2))} (several targets)"
            ) from None
        return value

    @field_validator("weights")
    @classmethod
    def _valid_weights(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return None
        if any(not (w >= 0) or w == float("inf") for w in value) or not any(w > 0 for w in value):
            raise ValueError(
                f"weights must be finite numbers >= 0, not all 0, one per objective; got "
                f"{list(value)}. Example: [1, 1] for two equally important targets"
            )
        return value

    def check_objectives(self, n_objectives: int) -> list[str]:
        """Problems of this policy for a target with ``n_objectives`` outputs (empty: none).

        Parameters
        ----------
        n_objectives : int
            ``n_outputs`` of the scalarizer in force.

        Returns
        -------
        list of str
            One ``field: message`` line per problem.
        """
        problems = []
        several = acquisition_info(self.acquisition).multi_objective
        if n_objectives > 1 and not several:
            problems.append(
                f"acquisition: {self.acquisition!r} scores one target, but the scalarizer gives "
                f"{n_objectives}; choose one of {', '.join(acquisitions_for(n_objectives))}, "
                "or use a single-target scalarizer"
            )
        if n_objectives == 1 and several:
            problems.append(
                f"acquisition: {self.acquisition!r} needs several targets (a scalarizer of kind "
                f"'multi'), but the scalarizer gives one; choose one of "
                f"{', '.join(acquisitions_for(1))}"
            )
        for name in _VECTOR_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if n_objectives == 1:
                problems.append(
                    f"{name}: only a multi-objective campaign takes {name}; the scalarizer "
                    f"gives one target; remove {name}"
                )
            elif len(value) != n_objectives:
                problems.append(
                    f"{name}: expected {n_objectives} values, one per objective of the "
                    f"scalarizer; got {len(value)} ({list(value)})"
                )
        return problems

    def fitted_to(self, n_objectives: int, *, previous: int | None = None) -> PolicyConfig:
        """The policy, made to fit a target with ``n_objectives`` outputs.

        The one place of the rule "several targets take a multi-objective
        acquisition": an acquisition of the wrong kind becomes the default of the
        right kind, and per-objective vectors are dropped when the number of
        objectives changes (from ``previous``) or becomes one. A policy that
        fits already is returned unchanged.

        Parameters
        ----------
        n_objectives : int
            ``n_outputs`` of the scalarizer now in force.
        previous : int, optional
            ``n_outputs`` of the scalarizer before (None: unknown, keep vectors that fit).
        """
        if not self.check_objectives(n_objectives):
            return self
        update: dict[str, Any] = {}
        if acquisition_info(self.acquisition).multi_objective != (n_objectives > 1):
            update["acquisition"] = default_acquisition(n_objectives)
        for name in _VECTOR_FIELDS:
            value = getattr(self, name)
            if value is not None and (
                n_objectives == 1
                or len(value) != n_objectives
                or (previous is not None and previous != n_objectives)
            ):
                update[name] = None
        return PolicyConfig.model_validate({**self.model_dump(), **update})


class RandomSeeds(_Strict):
    """``n`` seed points drawn at random among the candidates (from the campaign ``seed``)."""

    kind: Literal["random"] = Field(default="random", description="Random seed points.")
    n: int = Field(default=5, ge=0, le=MAX_SEED_POINTS, description="Number of seed points.")


class GridSeeds(_Strict):
    """About ``n`` seed points on a regular grid over the field of view."""

    kind: Literal["grid"] = Field(description="Seed points on a regular grid.")
    n: int = Field(
        default=9,
        ge=0,
        le=MAX_SEED_POINTS,
        description="Number of seed points (rounded to a square).",
    )


class ListSeeds(_Strict):
    """Seed points given explicitly."""

    kind: Literal["list"] = Field(description="Seed points listed by the operator.")
    points: list[tuple[int, int]] = Field(
        default_factory=list, description="Overview pixels (row, col) measured first."
    )


SeedPoints = Annotated[RandomSeeds | GridSeeds | ListSeeds, Field(discriminator="kind")]


class BudgetConfig(_Strict):
    """When the campaign stops by itself (whichever limit is reached first)."""

    measurements: int = Field(default=50, ge=1, description="Number of spectra to acquire.")
    wall_time_s: float | None = Field(
        default=None, gt=0, description="Wall-clock limit from the first measurement, seconds."
    )
    dose_s: float | None = Field(
        default=None, gt=0, description="Total dwell time over all spectra, seconds (dose proxy)."
    )


class PauseConfig(_Strict):
    """Holds the campaign makes by itself so the operator can look before it goes on.

    They apply where someone can post Resume: the web UI and ``steerscope run --serve``;
    a plain headless ``steerscope run`` has nobody to resume it and ignores them.
    """

    after_seeds: bool = Field(
        default=False,
        description="Pause once every seed point is measured, before the model's first "
        "choice: look at the first maps, adjust beta or the target, then Resume.",
    )
    every: int = Field(
        default=0,
        ge=0,
        description="Pause after every this many spectra (0: never), to check the run.",
    )


class CampaignConfig(_Strict):
    """One campaign: source, instrument, safety, scalarizer, descriptor, model, policy, budget.

    Examples
    --------
    >>> cfg = CampaignConfig(source={"dataset": "plasmonic_nanoparticles"})
    >>> cfg.policy.acquisition
    'ucb'
    >>> CampaignConfig.from_yaml(cfg.to_yaml()) == cfg
    True
    """

    name: str = Field(default="campaign", min_length=1, description="Name of the campaign.")
    source: DatasetSource | FileSource | RemoteSource | InstanceSource = Field(
        default_factory=lambda: DatasetSource(dataset="plasmonic_nanoparticles"),
        description="Where spectra come from: {dataset: ...}, {file: ...}, {remote: ...} or "
        "{instance: ...} (a Microscope passed to Campaign.create).",
    )
    instrument: InstrumentConfig = Field(
        default_factory=InstrumentConfig, description="Simulated-microscope options."
    )
    safety: SafetyLimits | None = Field(
        default=None,
        description="Safety limits enforced by a SafeMicroscope around the instrument of any "
        "source (field of view, allowed region, no-go rectangles, dwell, number of spectra, "
        "dose); None: no limits on the campaign's side.",
    )
    scalarizer: ScalarizerSpec | None = Field(
        default=None,
        description="Scalarizer spec (steerscope.scalarizers, a mapping with a `kind`); None: "
        "the dataset's default.",
    )
    descriptor: DescriptorSpec = Field(
        default_factory=DescriptorSpec, description="Patch descriptor of each candidate pixel."
    )
    model: ModelSpec = Field(default_factory=ModelSpec, description="Surrogate model.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Acquisition policy.")
    seed_points: SeedPoints = Field(
        default_factory=RandomSeeds, description="Points measured before the model decides."
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="When to stop.")
    pauses: PauseConfig = Field(
        default_factory=PauseConfig, description="When to pause by itself for the operator."
    )
    seed: int = Field(
        default=0, ge=0, description="Seed of every random choice of the campaign (>= 0)."
    )
    records_dir: str = Field(
        default="records", description="Folder where new campaign records are written."
    )

    @field_validator("scalarizer", mode="before")
    @classmethod
    def _parse_scalarizer(cls, value: Any) -> Any:
        """Parse once at the edge, with the scalarizers' own messages (field and fix)."""
        if value is None or isinstance(value, ScalarizerBase):
            return value
        try:
            return parse_scalarizer(value)
        except SteerscopeError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="before")
    @classmethod
    def _default_acquisition(cls, data: Any) -> Any:
        """A config that names no acquisition gets the default for its number of targets."""
        if not isinstance(data, dict) or data.get("scalarizer") is None:
            return data
        policy = data.get("policy")
        if isinstance(policy, PolicyConfig) or (
            isinstance(policy, dict) and "acquisition" in policy
        ):
            return data
        n_outputs = _n_outputs(data["scalarizer"])
        if n_outputs > 1:
            named = {**(policy or {}), "acquisition": default_acquisition(n_outputs)}
            data = {**data, "policy": named}
        return data

    @model_validator(mode="after")
    def _policy_fits_scalarizer(self) -> CampaignConfig:
        if self.scalarizer is not None:
            problems = self.policy.check_objectives(self.scalarizer.n_outputs)
            if problems:
                raise ValueError("policy." + "; policy.".join(problems))
        return self

    @property
    def n_objectives(self) -> int:
        """Targets per spectrum of the scalarizer (1 when none is set yet)."""
        return 1 if self.scalarizer is None else int(self.scalarizer.n_outputs)

    def with_scalarizer(self, spec: Any) -> CampaignConfig:
        """The config with a new scalarizer, its policy fitted to it, validated again.

        Parameters
        ----------
        spec : ScalarizerSpec, dict or YAML str
            The new target.

        Raises
        ------
        ScalarizerError
            If the spec is invalid.
        ConfigError
            If the resulting config is invalid.
        """
        new_spec = parse_scalarizer(spec)
        policy = self.policy.fitted_to(int(new_spec.n_outputs), previous=self.n_objectives)
        return load_config(
            {**self.model_dump(), "scalarizer": new_spec, "policy": policy.model_dump()}
        )

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able data (what the record stores)."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The config as YAML text that :func:`load_config` reads back to an equal config."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> CampaignConfig:
        """Parse YAML text (see :func:`load_config`)."""
        return load_config(_parse_yaml(text, "the YAML text"))


def _n_outputs(spec: Any) -> int:
    """``n_outputs`` of a scalarizer spec; 1 when it does not parse (reported elsewhere)."""
    try:
        return int(parse_scalarizer(spec).n_outputs)
    except SteerscopeError:
        return 1


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}. Fix the syntax and retry.") from exc


def _describe_errors(exc: ValidationError) -> str:
    """One line per problem: ``field.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        # a whole-config check (loc empty) would echo the whole config: say nothing
        got_text = "" if err["type"] == "missing" or not err["loc"] else f" (got {got!r:.80})"
        lines.append(f"  - {loc}: {message}{got_text}")
    return "\n".join(lines)


def load_config(source: str | Path | dict[str, Any] | CampaignConfig) -> CampaignConfig:
    """Build a :class:`CampaignConfig` from a YAML file, a dict or a config.

    Parameters
    ----------
    source : str, Path, dict or CampaignConfig
        Path of a YAML file, the parsed mapping, or an existing config (returned as is).

    Returns
    -------
    CampaignConfig

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or the config is invalid; the message
        lists every problem with its field path.
    """
    if isinstance(source, CampaignConfig):
        return source
    where = "the config"
    if isinstance(source, str | Path):
        where = f"config file {str(source)!r}"
        data = read_yaml_file(source, "a YAML campaign config", "examples/plasmonic.yaml")
        if data is None:
            raise ConfigError(
                f"{where} is empty; a campaign config needs at least a `source:` "
                "(see examples/plasmonic.yaml). An empty file is refused rather than run as "
                "the default campaign."
            )
    else:
        data = source
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping of fields (name, source, policy, ...); "
            f"got {type(data).__name__}."
        )
    return validated(CampaignConfig, data, where)


def read_yaml_file(source: str | Path, expected: str, example: str) -> Any:
    """The parsed YAML of a config file, or a :class:`ConfigError` that says how to fix it.

    Parameters
    ----------
    source : str or Path
        The file.
    expected : str
        What it should hold, for the message ("a YAML campaign config").
    example : str
        An example file to point at.
    """
    path = Path(source)
    if not path.is_file():
        raise ConfigError(
            f"config file {str(path)!r} does not exist; expected {expected} (see {example})."
        )
    where = f"config file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); "
            f"save it as UTF-8 YAML (see {example})."
        ) from None
    return _parse_yaml(text, where)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, where: str) -> M:
    """``model`` validated from ``data``, or one :class:`ConfigError` listing every problem.

    Parameters
    ----------
    model : type of pydantic model
        The config class.
    data : Any
        The parsed mapping.
    where : str
        What the data came from, for the message ("config file 'run.yaml'").
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        n = exc.error_count()
        raise ConfigError(
            f"{where} has {n} problem{'s' if n != 1 else ''}:\n{_describe_errors(exc)}\n"
            "Fix each field above (field paths are dotted, list items by index)."
        ) from None
