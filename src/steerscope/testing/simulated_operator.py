"""A simulated operator for tests and benchmarks: votes from a hidden target, with mistakes.

A microscopist judging spectra by eye knows, roughly, which of those in front of them
are the best and the worst; they do not know the number a formula would give, and
they sometimes get it wrong. :class:`SimulatedOperator` votes the same way: among the
spectra shown, those a hidden scalarizer ranks in the top ``share`` are "good", those
in the bottom ``share`` are "bad", the middle gets no vote, and each vote is flipped
with probability ``error_rate``. Asked which of two spectra is more interesting
(:meth:`SimulatedOperator.prefer`), it answers by the hidden target, with the same
error rate. Spectra whose hidden values differ by less than the ``indifference`` band
cannot be told apart: no vote at the boundary of the good or bad share, "no
preference" between two of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from steerscope.errors import ConfigError
from steerscope.scalarizers import ScalarizerBase, parse_scalarizer
from steerscope.types import EnergyAxis

__all__ = ["SimulatedOperator"]


class SimulatedOperator:
    """Votes good / bad on spectra as a hidden scalarizer ranks them, with an error rate.

    Parameters
    ----------
    hidden : dict or ScalarizerBase
        The target the operator has in mind but cannot write down.
    energy : EnergyAxis
        The spectra's energy axis.
    error_rate : float
        Probability that a vote is the wrong way round, in [0, 0.5].
    share : float
        Fraction of the spectra shown voted good (and as many bad), in (0, 0.5].
    indifference : float
        Smallest difference of the hidden target the operator can see, as a fraction
        of a range: of the spectra shown (:meth:`votes`), or the ``scale`` given to
        :meth:`prefer`; in [0, 1).
    seed : int
        Seed of the mistakes.
    """

    def __init__(
        self,
        hidden: dict[str, Any] | ScalarizerBase,
        energy: EnergyAxis,
        *,
        error_rate: float = 0.1,
        share: float = 0.2,
        indifference: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= error_rate <= 0.5:
            raise ConfigError(f"error_rate must lie in [0, 0.5]; got {error_rate!r}")
        if not 0.0 < share <= 0.5:
            raise ConfigError(f"share must lie in (0, 0.5]; got {share!r}")
        if not 0.0 <= indifference < 1.0:
            raise ConfigError(f"indifference must lie in [0, 1); got {indifference!r}")
        self.hidden = parse_scalarizer(hidden)
        self.energy = energy
        self.error_rate = float(error_rate)
        self.share = float(share)
        self.indifference = float(indifference)
        self._rng = np.random.default_rng(seed)

    def votes(self, spectra: ArrayLike) -> list[tuple[int, str]]:
        """The operator's votes on ``spectra`` (n, C), as ``(index, "good" | "bad")``.

        At least one spectrum is voted each way when two or more are shown; spectra the
        hidden target cannot score (NaN) get no vote.
        """
        values = np.asarray(self.hidden.apply(spectra, self.energy), dtype=np.float64)
        scored = np.flatnonzero(np.isfinite(values))
        if scored.size < 2:
            return []
        k = max(1, round(self.share * scored.size))
        order = scored[np.argsort(values[scored], kind="stable")]
        band = self.indifference * float(np.ptp(values[scored]))
        # the last voted and the first unvoted spectrum of each end must look different
        bad = [int(i) for i in order[:k] if values[i] < values[order[k]] - band]
        good = [int(i) for i in order[-k:] if values[i] > values[order[-k - 1]] + band]
        verdicts = {i: "bad" for i in bad} | {i: "good" for i in good}
        flipped = {"good": "bad", "bad": "good"}
        return [
            (i, flipped[v] if self._rng.random() < self.error_rate else v)
            for i, v in sorted(verdicts.items())
        ]

    def prefer(self, first: ArrayLike, second: ArrayLike, *, scale: float = 1.0) -> str:
        """Which of two spectra ``(C,)`` is more interesting: "first", "second" or "none".

        Parameters
        ----------
        first, second : array_like of shape (C,)
            The two spectra shown side by side.
        scale : float
            The hidden target's range over the sample (or any typical spread): two
            spectra closer than ``indifference * scale`` get "none".

        Returns
        -------
        str
            By the hidden target, the answer flipped with probability ``error_rate``;
            "none" (never flipped) within the indifference band or when the hidden
            target cannot score one of them.
        """
        a, b = np.asarray(
            self.hidden.apply(np.stack([np.asarray(first), np.asarray(second)]), self.energy),
            dtype=np.float64,
        )
        if not (np.isfinite(a) and np.isfinite(b)) or abs(a - b) <= self.indifference * scale:
            return "none"
        answer = "first" if a > b else "second"
        if self._rng.random() < self.error_rate:
            answer = "second" if answer == "first" else "first"
        return answer
