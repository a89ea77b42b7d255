"""The target in force: a scalarizer and the targets of the measured history under it.

Raw spectra are the source of truth: :meth:`Targets.objectives` recomputes the
targets of every stored spectrum with the scalarizer in force (cached per
scalarizer version and history length), so a new scalarizer relabels the
whole history instead of mixing two scales.

A ``preference`` target has no formula: each spectrum's target is the utility that
the operator's comparisons so far give it (:class:`~steerscope.models.preference.
PreferenceModel`), so every judgement relabels the history too. The comparisons are
kept here, whatever the target in force, so a campaign can switch to its operator's
judgement mid-run (mixed mode) with all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.campaign.history import MeasuredHistory
from steerscope.models.preference import PreferenceModel, hyperparameter_count
from steerscope.scalarizers import PreferenceSpec, ScalarizerBase

__all__ = ["MAX_VOTE_PAIRS", "VOTE_LEVELS", "Targets"]

VOTE_LEVELS = {"bad": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "good": 6}
"""How votes rank spectra for a learned target: a score 1–5 between bad and good."""

MAX_VOTE_PAIRS = 2000
"""Most comparisons the votes imply (every pair of different levels, thinned evenly)."""


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
        self._cache: tuple[tuple[int, ...], NDArray[np.float64]] | None = None
        self._reported: set[tuple[int, int]] = set()
        self.comparisons: list[tuple[int, int, str]] = []  # (first, second, answer)
        self.votes: dict[int, str] = {}  # verdict by measurement index
        self.per_second = False
        """Targets of spectra divided by their dwell (counts per second): set when the
        campaign chooses the dwell, so points measured at different dwells compare."""
        self._vote_changes = 0
        # (spec and judgements, spectra described, the model they give)
        self._preference: tuple[tuple[Any, ...], int, PreferenceModel] | None = None
        self._hyperparameters: dict[tuple[Any, ...], dict[str, Any]] = {}

    def set(self, spec: ScalarizerBase) -> None:
        """Use ``spec`` from now on (bumps the version; the history is relabelled)."""
        self.spec = spec
        self.version += 1

    @property
    def learned(self) -> bool:
        """Whether the target is learned from the operator's comparisons (no formula)."""
        return isinstance(self.spec, PreferenceSpec)

    @property
    def key(self) -> tuple[int, int, int]:
        """Changes whenever the measured spectra's targets may: new scalarizer or judgement."""
        if not self.learned:
            return (self.version, int(self.per_second), 0)
        return (self.version, len(self.comparisons), self._vote_changes)

    def add_comparison(self, first: int, second: int, answer: str) -> None:
        """Keep one judgement: ``answer`` says which of spectra ``first``, ``second`` won."""
        self.comparisons.append((int(first), int(second), answer))

    def set_vote(self, measurement: int, verdict: str) -> None:
        """Keep (or, with ``"none"``, withdraw) the verdict on one measured spectrum."""
        if verdict == "none":
            self.votes.pop(int(measurement), None)
        else:
            self.votes[int(measurement)] = verdict
        self._vote_changes += 1

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
        key = (*self.key, n)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        Y = np.full((n, self.n_outputs), np.nan, dtype=np.float64)
        if n and history.spectra is not None and history.energy is not None:
            ok = np.all(np.isfinite(history.spectra), axis=1)
            if ok.any() and self.learned:
                mean, _ = self.preference_model(history).utility()
                Y[ok, 0] = mean[ok]
            elif ok.any():
                spectra = history.spectra[ok]
                if self.per_second:
                    spectra = spectra / history.dwell_s[ok, None]
                values = np.asarray(self.spec.apply(spectra, history.energy), dtype=np.float64)
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

    def decisive(self, n: int) -> list[tuple[int, int]]:
        """What the judgements on the first ``n`` spectra say, as (winner, loser) pairs.

        The comparisons with a winner, in order, then those the votes imply: every
        voted spectrum is preferred to each voted lower (bad < 1 < 2 < … < 5 < good;
        ordinal ratings as comparisons), at most :data:`MAX_VOTE_PAIRS` of them.
        """
        pairs = [
            (a, b) if answer == "first" else (b, a)
            for a, b, answer in self.comparisons
            if answer != "none" and max(a, b) < n
        ]
        levels = sorted((VOTE_LEVELS[v], i) for i, v in self.votes.items() if i < n)
        implied = [
            (hi, lo)
            for j, (level_hi, hi) in enumerate(levels)
            for level_lo, lo in levels[:j]
            if level_lo < level_hi
        ]
        stride = -(-len(implied) // MAX_VOTE_PAIRS)  # ceil: an even thinning when too many
        return pairs + implied[::stride] if implied else pairs

    def preference_model(self, history: MeasuredHistory) -> PreferenceModel:
        """The utility model the comparisons give the measured spectra.

        A function of the comparisons and the spectra they name only, so a replay of
        the record gives the same utility: the descriptors' basis is the spectra up
        to the last one named by the comparisons the hyperparameters are fitted on
        (all spectra before the first judgement), and those hyperparameters are
        fitted afresh on that schedule's comparisons
        (:func:`~steerscope.models.preference.hyperparameter_count`), then kept.

        Parameters
        ----------
        history : MeasuredHistory
            The measured spectra (non-finite ones are described as zero counts).

        Returns
        -------
        PreferenceModel
            Over every measured spectrum, in measurement order.
        """
        assert history.spectra is not None and history.energy is not None
        spec = self.spec if isinstance(self.spec, PreferenceSpec) else PreferenceSpec()
        n = len(history)
        pairs = self.decisive(n)
        key = (spec, tuple(pairs))
        if self._preference is not None and self._preference[:2] == (key, n):
            return self._preference[2]
        h = hyperparameter_count(len(pairs))
        basis = 1 + max(max(pair) for pair in pairs[:h]) if h else n
        spectra = np.where(np.isfinite(history.spectra), history.spectra, 0.0)
        features = spec.features(spectra, history.energy, basis)
        if self._preference is not None and self._preference[0] == key and h:
            model = self._preference[2].described(features)  # new spectra, no new judgement
        else:
            hyper_key = (spec, tuple(pairs[:h]))
            if hyper_key not in self._hyperparameters and h:
                fitted = PreferenceModel(features[:basis], pairs[:h], lapse=spec.lapse)
                assert fitted.hyperparameters is not None
                self._hyperparameters[hyper_key] = fitted.hyperparameters
            hyperparameters = self._hyperparameters.get(hyper_key)
            model = PreferenceModel(
                features, pairs, hyperparameters=hyperparameters, lapse=spec.lapse
            )
        self._preference = (key, n, model)
        return model
