"""The target in force: a scalarizer and the targets of the measured history under it.

Raw spectra are the source of truth: :meth:`Targets.objectives` recomputes the
targets of every stored spectrum with the scalarizer in force (cached per
scalarizer version and history length), so a new scalarizer relabels the
whole history instead of mixing two scales.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from steerscope.campaign.history import MeasuredHistory
from steerscope.scalarizers import ScalarizerBase

__all__ = ["Targets"]


class Targets:
    """The scalarizer in force, its version, and the targets it gives the history.

    Parameters
    ----------
    spec : ScalarizerSpec
        The scalarizer.
    log : callable
        ``log(kind, text)``: where a spectrum that gives no finite target is reported
        (once per scalarizer version).
    """

    def __init__(self, spec: ScalarizerBase, log: Callable[[str, str], None]) -> None:
        self.spec = spec
        self.version = 0
        self._log = log
        self._cache: tuple[tuple[int, int], NDArray[np.float64]] | None = None
        self._reported: set[tuple[int, int]] = set()

    def set(self, spec: ScalarizerBase) -> None:
        """Use ``spec`` from now on (bumps the version; the history is relabelled)."""
        self.spec = spec
        self.version += 1

    @property
    def n_outputs(self) -> int:
        """Targets per spectrum ``k``."""
        return int(self.spec.n_outputs)

    @property
    def label(self) -> str:
        """Human label of the scalarizer."""
        return str(self.spec.label)

    @property
    def labels(self) -> list[str]:
        """Human label of each objective (``k`` of them)."""
        labels = getattr(self.spec, "labels", None)  # a multi spec's, one per target
        return [str(label) for label in labels] if labels else [self.label]

    def objectives(self, history: MeasuredHistory) -> NDArray[np.float64]:
        """Targets ``(n, k)`` of every measured spectrum; rows with any non-finite value are NaN.

        Spectra with non-finite counts, or that give a non-finite target, are
        left out of the model and logged once as ``skipped_target``.
        """
        n = len(history)
        key = (self.version, n)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        Y = np.full((n, self.n_outputs), np.nan, dtype=np.float64)
        if n and history.spectra is not None and history.energy is not None:
            ok = np.all(np.isfinite(history.spectra), axis=1)
            if ok.any():
                values = np.asarray(
                    self.spec.apply(history.spectra[ok], history.energy), dtype=np.float64
                )
                Y[ok] = values.reshape(int(ok.sum()), -1)
            Y[~np.all(np.isfinite(Y), axis=1)] = np.nan
            for i in np.flatnonzero(~np.isfinite(Y[:, 0])):
                tag = (self.version, history.ids[i])
                if tag not in self._reported:
                    self._reported.add(tag)
                    p = tuple(int(v) for v in history.points[i])
                    self._log(
                        "skipped_target",
                        f"the spectrum at {p} gives no finite target under "
                        f"{self.label}; it is left out of the model",
                    )
        self._cache = (key, Y)
        return Y
