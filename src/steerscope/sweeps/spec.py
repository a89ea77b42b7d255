"""The sweep specification: a base campaign config and the settings to vary over it.

A :class:`SweepSpec` names a base campaign (a config mapping or a YAML path)
and the overrides to try on it, as a ``grid`` of dotted config field paths
(``descriptor.patch_size: [8, 16]``) and/or an explicit list of ``runs``.
:meth:`SweepSpec.expand` turns it into :class:`SweepRun` s, each a full,
validated :class:`~steerscope.campaign.CampaignConfig` with a stable id (a short
hash of its overrides), so a rerun of the same sweep finds the same records.
Every problem is reported before any run starts, in one
:class:`~steerscope.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from steerscope.campaign import CampaignConfig, load_config
from steerscope.errors import ConfigError

__all__ = ["SweepRun", "SweepSpec", "load_sweep", "run_id_for"]

RUN_ID_LENGTH = 10
"""Hex digits of the run id (40 bits: collisions are negligible for any sweep a person writes)."""


class SweepSpec(BaseModel):
    """A planning sweep: many simulated campaigns over one pre-acquired spectrum image.

    Examples
    --------
    >>> spec = SweepSpec(
    ...     base={"source": {"dataset": "plasmonic_nanoparticles"}},
    ...     grid={"policy.beta": [0.25, 4.0], "seed": [0, 1]},
    ... )
    >>> [run.name for run in spec.expand()][:2]
    ['beta=0.25 seed=0', 'beta=0.25 seed=1']
    >>> SweepSpec.from_yaml(spec.to_yaml()) == spec
    True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="sweep", min_length=1, description="Name of the sweep.")
    base: dict[str, Any] | str = Field(
        description="The campaign every run starts from: a campaign config mapping, or the path "
        "of a campaign YAML (relative paths are relative to the sweep file)."
    )
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Dotted config field path → values to try; every combination is one run "
        "(e.g. {'descriptor.patch_size': [8, 16], 'policy.beta': [0.25, 4.0]}).",
    )
    runs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Explicit runs, each a mapping of dotted field path → value. With a grid "
        "too, every explicit run is combined with every grid point.",
    )
    checkpoints: list[int] = Field(
        default_factory=lambda: [25, 50, 100],
        description="Measurement counts at which the summary reports discovery.",
    )
    out_dir: str = Field(
        default="sweeps/sweep",
        min_length=1,
        description="Folder of the sweep: runs/<run_id>.sqlite records and the summary files.",
    )
    ground_truth: Literal["auto", "scalarizer", "none"] = Field(
        default="auto",
        description="What discovery is scored against. 'auto': the built-in dataset's ground "
        "truth when the run uses its default scalarizer, else the run's scalarizer applied to "
        "every stored spectrum of the dataset; nothing for a file source. 'scalarizer': the "
        "run's scalarizer over every stored spectrum, for file sources too. 'none': no "
        "discovery.",
    )
    top_fraction: float = Field(
        default=0.01, gt=0, le=1, description="The best pixels are this top fraction of truth."
    )
    radius_px: float = Field(
        default=2.0, ge=0, description="A best pixel is found by a measurement this close (px)."
    )

    @field_validator("checkpoints")
    @classmethod
    def _positive_sorted(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v < 1]
        if bad:
            raise ValueError(f"checkpoints must be measurement counts >= 1; got {bad}")
        return sorted(set(value))

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [key for key, values in value.items() if not values]
        if empty:
            raise ValueError(
                f"grid entries {empty} have no values; give each at least one value or remove it"
            )
        return value

    # -- YAML ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The spec as YAML text that :func:`load_sweep` reads back to an equal spec."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> SweepSpec:
        """Parse YAML text (see :func:`load_sweep`)."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"the sweep YAML is not valid YAML: {exc}. Fix the syntax and retry."
            ) from exc
        return load_sweep(data)

    # -- expansion ----------------------------------------------------------------------

    def base_config(self, relative_to: str | Path | None = None) -> dict[str, Any]:
        """The base campaign config as a mapping (a YAML ``base`` is read from its file).

        Parameters
        ----------
        relative_to : str or Path, optional
            Folder a relative ``base`` path is resolved against (the sweep file's folder).
        """
        if isinstance(self.base, dict):
            return dict(self.base)
        path = Path(self.base)
        if not path.is_absolute() and relative_to is not None:
            path = Path(relative_to) / path
        if not path.is_file():
            raise ConfigError(
                f"the sweep's base campaign file {str(path)!r} does not exist; give a campaign "
                "YAML path (relative to the sweep file) or the config mapping itself."
            )
        return load_config(path).to_dict()

    def overrides(self) -> list[dict[str, Any]]:
        """Every run's override mapping (dotted path → value), grid order then runs order."""
        keys = list(self.grid)
        grid_points = [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*(self.grid[k] for k in keys))
        ]
        explicit = [dict(run) for run in self.runs] or [{}]
        return [{**run, **point} for run in explicit for point in grid_points]

    def expand(self, relative_to: str | Path | None = None) -> list[SweepRun]:
        """All runs of the sweep, each with its full validated config.

        Parameters
        ----------
        relative_to : str or Path, optional
            Folder a relative ``base`` path is resolved against.

        Returns
        -------
        list of SweepRun

        Raises
        ------
        ConfigError
            For an unknown field path (the message lists the valid fields), a value
            the campaign config refuses (with the run and field named), or two runs
            with the same overrides. Every problem is listed at once.
        """
        base = self.base_config(relative_to)
        try:
            load_config(base)
        except ConfigError as exc:
            raise ConfigError(f"the sweep's base campaign is invalid: {exc}") from None
        problems: list[str] = []
        paths = sorted({key for over in self.overrides() for key in over})
        for path in paths:
            problem = _check_field_path(path)
            if problem:
                problems.append(problem)
        if problems:
            raise _sweep_error(problems)
        runs: list[SweepRun] = []
        seen: dict[str, str] = {}
        all_overrides = self.overrides()
        constant = _constant_paths(all_overrides)
        for index, over in enumerate(all_overrides):
            run_id = run_id_for(over)
            name = _readable_name({k: v for k, v in over.items() if k not in constant}) or "base"
            if run_id in seen:
                problems.append(
                    f"run {index} repeats the overrides {over} of an earlier run; remove one"
                )
                continue
            seen[run_id] = name
            merged = _apply_overrides(base, over)
            merged["name"] = f"{self.name}-{run_id}"
            try:
                config = load_config(merged)
            except ConfigError as exc:
                nested = str(exc).replace("\n", "\n    ")
                problems.append(f"run {index} ({name}): {nested}")
                continue
            runs.append(SweepRun(run_id=run_id, name=name, overrides=over, config=config))
        if problems:
            raise _sweep_error(problems)
        if not runs:
            raise ConfigError("the sweep has no runs; give a non-empty `grid` or `runs`.")
        return runs


@dataclass(frozen=True)
class SweepRun:
    """One campaign of a sweep.

    Parameters
    ----------
    run_id : str
        Short hash of ``overrides``: the same overrides give the same id in every rerun.
    name : str
        Human-readable form of the overrides that differ between runs, e.g.
        ``"patch_size=8 beta=0.25"``.
    overrides : dict
        Dotted config field path → value, as given in the sweep.
    config : CampaignConfig
        The base config with the overrides applied, validated.
    """

    run_id: str
    name: str
    overrides: dict[str, Any]
    config: CampaignConfig


def run_id_for(overrides: dict[str, Any]) -> str:
    """The stable id of a run: the first hex digits of the SHA-1 of its overrides as JSON.

    Parameters
    ----------
    overrides : dict
        Dotted field path → value; key order does not matter.

    Returns
    -------
    str
        ``RUN_ID_LENGTH`` lowercase hex digits.
    """
    text = json.dumps(overrides, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:RUN_ID_LENGTH]


def load_sweep(source: str | Path | dict[str, Any] | SweepSpec) -> SweepSpec:
    """Build a :class:`SweepSpec` from a YAML file, a mapping or a spec.

    A relative ``base`` path in a file is made relative to the file's folder,
    so a sweep file can sit next to the campaign YAML it varies.

    Parameters
    ----------
    source : str, Path, dict or SweepSpec

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or the spec is invalid (every problem
        listed with its field).
    """
    if isinstance(source, SweepSpec):
        return source
    where = "the sweep spec"
    folder: Path | None = None
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                f"sweep file {str(path)!r} does not exist; expected a sweep YAML "
                "(see examples/sweep_plasmonic.yaml)."
            )
        where = f"sweep file {str(path)!r}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where} is not valid YAML: {exc}. Fix the syntax.") from exc
        folder = path.parent
    else:
        data = source
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping with `base` and `grid` and/or `runs`; "
            f"got {type(data).__name__}."
        )
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = "" if err["type"] == "missing" else f" (got {err.get('input')!r:.80})"
            lines.append(f"  - {loc}: {err['msg'].removeprefix('Value error, ')}{got}")
        raise ConfigError(
            f"{where} has {exc.error_count()} problem(s):\n" + "\n".join(lines) + "\n"
            f"Valid sweep fields: {', '.join(SweepSpec.model_fields)}."
        ) from None
    if folder is not None and isinstance(spec.base, str) and not Path(spec.base).is_absolute():
        spec = spec.model_copy(update={"base": str(folder / spec.base)})
    return spec


# -- helpers ------------------------------------------------------------------------------


def _sweep_error(problems: list[str]) -> ConfigError:
    n = len(problems)
    body = "\n".join(f"  - {p}" for p in problems)
    return ConfigError(f"the sweep has {n} problem{'s' if n != 1 else ''}:\n{body}")


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (unions and Annotated unpacked)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_model_classes(arg))
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _check_field_path(path: str) -> str:
    """'' if ``path`` names a campaign config field, else what is wrong and what is valid."""
    parts = path.split(".")
    if any(not part for part in parts):
        return f"field path {path!r} has an empty part; write it like 'policy.beta'"
    fields = CampaignConfig.model_fields
    if parts[0] not in fields:
        return (
            f"unknown field path {path!r}: {parts[0]!r} is not a campaign config field; "
            f"valid top-level fields are {', '.join(fields)}"
        )
    annotation: Any = fields[parts[0]].annotation
    for depth, part in enumerate(parts[1:], start=1):
        models = _model_classes(annotation)
        if not models:
            return ""  # a free mapping (scalarizer, options): the config validation checks it
        valid = list(dict.fromkeys(name for model in models for name in model.model_fields))
        match = [model for model in models if part in model.model_fields]
        if not match:
            prefix = ".".join(parts[:depth])
            return (
                f"unknown field path {path!r}: {prefix!r} has no field {part!r}; "
                f"valid fields of {prefix!r} are {', '.join(valid)}"
            )
        annotation = match[0].model_fields[part].annotation
    return ""


def _apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted path set (missing sections are created)."""
    merged: dict[str, Any] = json.loads(json.dumps(base, default=str))
    for path, value in overrides.items():
        parts = path.split(".")
        node = merged
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return merged


def _short_value(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("kind", "spec")
        return f"{kind}#{run_id_for(value)[:4]}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_short_value(v) for v in value) + "]"
    return str(value)


def _constant_paths(overrides: list[dict[str, Any]]) -> set[str]:
    """Paths set to the same value in every run: left out of the names (they tell nothing)."""
    if len(overrides) < 2:
        return set()
    first = overrides[0]
    return {
        path
        for path, value in first.items()
        if all(path in over and over[path] == value for over in overrides[1:])
    }


def _readable_name(overrides: dict[str, Any]) -> str:
    """``"patch_size=8 beta=0.25"``: last path part = value, in the override order."""
    labels = [path.split(".")[-1] for path in overrides]
    parts = []
    for path, label in zip(overrides, labels, strict=True):
        # keep more of the path when two overrides end in the same word (policy.xi vs x.xi)
        text = path if labels.count(label) > 1 else label
        parts.append(f"{text}={_short_value(overrides[path])}")
    return " ".join(parts)
