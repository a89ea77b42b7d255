"""Similarity to a reference spectrum: a target for "more spectra like these".

When a microscopist cannot write the formula but knows a good spectrum when they see
one (BOARS, Biswas et al., npj Comput. Mater. 2024), the spectra they mark good become
a reference, and the target is how much each spectrum looks like it — and, when they
also marked bad ones, how much more it looks like the good than the bad. Shapes are
compared, not intensities: each spectrum is centred (``correlation``) or not
(``cosine``) and scaled to unit length before the dot product, so thickness and dwell
do not count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, field_validator

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import Window, WindowScalarizerBase
from steerscope.types import EnergyAxis

__all__ = ["SimilaritySpec", "reference_from_spectra"]

SIGNIFICANT_DIGITS = 6
"""Digits a reference keeps in the spec (and so in the record and its YAML)."""


def _unit_rows(values: NDArray[np.float64], centred: bool) -> NDArray[np.float64]:
    """Each row centred (if asked) and scaled to unit length; a flat row becomes NaN."""
    if centred:
        values = values - values.mean(axis=-1, keepdims=True)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    return np.where(norms > 0, values / np.where(norms > 0, norms, 1.0), np.nan)


def reference_from_spectra(spectra: ArrayLike) -> list[float]:
    """The reference of a set of spectra: their mean shape, each scaled to unit length first.

    Parameters
    ----------
    spectra : array_like of shape (n, C)
        The spectra marked good (or bad), raw counts.

    Returns
    -------
    list of float, length C
        Rounded to :data:`SIGNIFICANT_DIGITS` digits, as the spec stores it.

    Raises
    ------
    ScalarizerError
        For no spectra, or spectra that are all flat.
    """
    values = np.asarray(spectra, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ScalarizerError(
            f"a reference needs at least one spectrum (n, channels); got shape {values.shape}"
        )
    unit = _unit_rows(values, centred=False)
    usable = unit[np.isfinite(unit).all(axis=1)]
    if usable.shape[0] == 0:
        raise ScalarizerError("every spectrum given for the reference is flat (all zero)")
    mean = usable.mean(axis=0)
    return [float(f"{v:.{SIGNIFICANT_DIGITS}g}") for v in mean]


class SimilaritySpec(WindowScalarizerBase):
    """How much each spectrum's shape looks like ``reference`` (minus ``unlike``, if given).

    Example: ``{"kind": "similarity", "reference": [...], "window": [1.0, 3.0]}``, the
    reference having one value per channel of the spectra (e.g. from
    :func:`reference_from_spectra`). The target lies in [-1, 1] (in [-2, 2] with
    ``unlike``); 1 is the reference's shape exactly.
    """

    kind: Literal["similarity"] = "similarity"
    reference: list[float] = Field(
        min_length=2, description="The reference spectrum, one value per channel."
    )
    unlike: list[float] | None = Field(
        default=None,
        description="A spectrum to be unlike (e.g. the mean of those marked bad): the "
        "target is the similarity to `reference` minus the similarity to this one.",
    )
    metric: Literal["correlation", "cosine"] = Field(
        default="correlation",
        description="correlation: shapes compared about their means (a flat offset does "
        "not count); cosine: as they are.",
    )
    window: Window | None = Field(
        default=None, description="Compare only the channels in this [low, high] window."
    )
    n_votes: int | None = Field(
        default=None, ge=0, description="How many marked spectra made the references (a label)."
    )

    @field_validator("reference", "unlike")
    @classmethod
    def _finite(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not np.all(np.isfinite(value)):
            raise ValueError("a reference spectrum must hold finite numbers only")
        return value

    def _references(self, energy: EnergyAxis) -> list[NDArray[np.float64]]:
        refs = [np.asarray(self.reference, dtype=np.float64)]
        if self.unlike is not None:
            refs.append(np.asarray(self.unlike, dtype=np.float64))
        for ref in refs:
            if ref.shape[0] != energy.size:
                raise ScalarizerError(
                    f"{self.label}: the reference has {ref.shape[0]} channels, the spectra "
                    f"{energy.size}; make the reference from spectra of this source"
                )
        return refs

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        refs = self._references(energy)
        channels = self._channels(self.window, energy, "window") if self.window else slice(None)
        centred = self.metric == "correlation"
        shapes = _unit_rows(spectra[:, channels], centred)
        scores = [shapes @ _unit_rows(ref[channels], centred) for ref in refs]
        return scores[0] - scores[1] if len(scores) == 2 else scores[0]

    def _auto_label(self) -> str:
        what = "likeness to the good spectra"
        if self.unlike is not None:
            what += " (vs the bad)"
        if self.n_votes:
            what += f", {self.n_votes} vote" + ("s" if self.n_votes != 1 else "")
        return what

    def _undefined_reason(self) -> str:
        return "every spectrum or the reference is flat in the compared channels"
