"""The ``Surrogate`` protocol: what the engine needs of a model."""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Surrogate"]


@runtime_checkable
class Surrogate(Protocol):
    """A probabilistic regression model from descriptors to targets.

    Acquisition only ever sees ``posterior``'s ``(mean, var)``.
    """

    def fit(self, X: NDArray[np.floating], y: NDArray[np.floating]) -> Self:
        """Fit to ``X`` of shape ``(n, d)`` and ``y`` of shape ``(n,)``; warm-start if refitted."""
        ...

    def posterior(
        self, X: NDArray[np.floating], *, pending: NDArray[np.floating] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Posterior mean and variance of the latent target at ``X`` ``(m, d)``, each ``(m,)``.

        ``pending`` ``(p, d)``: points being measured, believed at their predicted
        mean (kriging believer) so that a proposal made meanwhile moves away from them.
        """
        ...
