"""The union of all scalarizer kinds, ``multi``, and parsing from / writing to YAML.

This is the one place that lists the kinds. A new kind is one new module
(a :class:`~steerscope.scalarizers.base.ScalarizerBase` subclass with a
``kind`` literal) plus one line in :data:`ScalarSpec` and in :data:`ScalarizerSpec`
below (the second adds ``multi``), plus its tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast, get_args

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, TypeAdapter, ValidationError, field_validator

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import ScalarizerBase, check_spectra
from steerscope.scalarizers.edx import EdxLineSpec
from steerscope.scalarizers.formula import FormulaSpec
from steerscope.scalarizers.preference import PreferenceSpec
from steerscope.scalarizers.resonance import SHOFitSpec
from steerscope.scalarizers.similarity import SimilaritySpec
from steerscope.scalarizers.window import (
    BackgroundSubtractedAreaSpec,
    PeakPositionSpec,
    PeakProminenceSpec,
    WindowMaxSpec,
    WindowRatioSpec,
    WindowSumSpec,
)
from steerscope.types import EnergyAxis

__all__ = [
    "SCALARIZER_KINDS",
    "MultiSpec",
    "ScalarSpec",
    "ScalarizerSpec",
    "parse_scalarizer",
    "scalarizer_to_yaml",
]

ScalarSpec = Annotated[
    WindowSumSpec
    | WindowMaxSpec
    | BackgroundSubtractedAreaSpec
    | PeakPositionSpec
    | WindowRatioSpec
    | PeakProminenceSpec
    | EdxLineSpec
    | FormulaSpec
    | SimilaritySpec
    | SHOFitSpec,
    Field(discriminator="kind"),
]
"""Every kind that gives one target per spectrum."""

_SCALAR_CLASSES: tuple[type[ScalarizerBase], ...] = tuple(get_args(get_args(ScalarSpec)[0]))


class MultiSpec(ScalarizerBase):
    """Several scalar targets at once: ``apply`` returns ``(n, k)``, one column per target.

    Example: ``{"kind": "multi", "targets": [{"kind": "window_sum", "window": [1, 2]},
    {"kind": "edx_line", "line": "Fe_Ka"}]}``. Targets are scalar kinds (no
    nested ``multi``).
    """

    kind: Literal["multi"] = "multi"
    targets: list[ScalarSpec] = Field(
        min_length=1, description="The scalar specs, one output column each, in order."
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _no_nesting(cls, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                kind = item.get("kind") if isinstance(item, dict) else getattr(item, "kind", None)
                if kind == "multi":
                    raise ScalarizerError(
                        "a multi spec's targets must be scalar kinds; got a nested multi. "
                        "Flatten it: list all targets in one multi."
                    )
        return value

    @property
    def n_outputs(self) -> int:
        """Number of targets (columns of ``apply``'s result)."""
        return len(self.targets)

    @property
    def labels(self) -> list[str]:
        """The label of each target, in column order."""
        return [target.label for target in self.targets]

    def apply(self, spectra: ArrayLike, energy: EnergyAxis) -> NDArray[np.float64]:
        """Compute every target.

        Parameters
        ----------
        spectra : array_like of shape (n_spectra, n_channels)
            Raw spectra, one per row.
        energy : EnergyAxis
            Their energy axis.

        Returns
        -------
        ndarray of shape (n_spectra, n_targets), float64
            Column ``j`` is ``targets[j].apply(spectra, energy)``.
        """
        values = check_spectra(spectra, energy, self.label)
        columns = [target.apply(values, energy) for target in self.targets]
        return np.stack(columns, axis=1)

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        return self.apply(spectra, energy)

    def _auto_label(self) -> str:
        return " | ".join(self.labels)


ScalarizerSpec = Annotated[
    WindowSumSpec
    | WindowMaxSpec
    | BackgroundSubtractedAreaSpec
    | PeakPositionSpec
    | WindowRatioSpec
    | PeakProminenceSpec
    | EdxLineSpec
    | FormulaSpec
    | SimilaritySpec
    | SHOFitSpec
    | PreferenceSpec
    | MultiSpec,
    Field(discriminator="kind"),
]
"""Any scalarizer spec: a pydantic discriminated union on ``kind``."""

_CLASSES: dict[str, type[ScalarizerBase]] = {
    str(cls.model_fields["kind"].default): cls
    for cls in cast(tuple[type[ScalarizerBase], ...], (*_SCALAR_CLASSES, PreferenceSpec, MultiSpec))
}
SCALARIZER_KINDS: tuple[str, ...] = tuple(_CLASSES)
"""The names of every kind, in documentation order."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(ScalarizerSpec)


def _describe_validation_error(error: ValidationError, kind: str) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"][1:]) or "spec"
        text = f"{location}: {item['msg']}"
        if item["type"] != "missing":
            text += f" (got {item['input']!r})"
        problems.append(text)
    fields = ", ".join(name for name in _CLASSES[kind].model_fields if name != "kind")
    return (
        f"invalid {kind!r} scalarizer spec: " + "; ".join(problems) + f". Fields of {kind!r}: "
        f"{fields}."
    )


def parse_scalarizer(obj: dict[str, Any] | str | ScalarizerBase) -> ScalarizerBase:
    """Build a scalarizer spec from a dict, a YAML string, or return a spec unchanged.

    Parameters
    ----------
    obj : dict or str or ScalarizerBase
        E.g. ``{"kind": "window_sum", "window": [1.0, 1.6]}`` or the same in YAML.

    Returns
    -------
    ScalarizerSpec
        The spec (an instance of one of the kind classes).

    Raises
    ------
    ScalarizerError
        For invalid YAML, a missing or unknown ``kind``, missing or extra fields,
        wrong types, or bad windows; the message names the field and the fix.
    """
    if isinstance(obj, ScalarizerBase):
        return obj
    if isinstance(obj, str):
        try:
            loaded = yaml.safe_load(obj)
        except yaml.YAMLError as error:
            raise ScalarizerError(
                f"the scalarizer spec is not valid YAML ({error}); write e.g. "
                "'kind: window_sum\\nwindow: [1.0, 1.6]'."
            ) from None
        obj = loaded
    if not isinstance(obj, dict):
        raise ScalarizerError(
            f"a scalarizer spec is a mapping with a 'kind' key; got {type(obj).__name__} "
            f"{obj!r}. Write e.g. {{'kind': 'window_sum', 'window': [1.0, 1.6]}}."
        )
    kind = obj.get("kind")
    if kind not in _CLASSES:
        what = "has no 'kind'" if kind is None else f"has unknown kind {kind!r}"
        raise ScalarizerError(
            f"the scalarizer spec {what}; choose one of: {', '.join(SCALARIZER_KINDS)}."
        )
    try:
        spec: ScalarizerBase = _ADAPTER.validate_python(obj)
    except ValidationError as error:
        raise ScalarizerError(_describe_validation_error(error, str(kind))) from None
    return spec


def scalarizer_to_yaml(spec: ScalarizerBase) -> str:
    """Write a spec as YAML that :func:`parse_scalarizer` reads back to an equal spec.

    Fields left at ``None`` are omitted (they are the defaults).
    """
    if not isinstance(spec, ScalarizerBase):
        raise ScalarizerError(
            f"scalarizer_to_yaml expects a scalarizer spec; got {type(spec).__name__}. "
            "Build one with parse_scalarizer(...)."
        )
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
