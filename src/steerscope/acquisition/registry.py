"""Every acquisition function by name, with the policy fields it reads.

Like BoTorch's acquisition input constructors, each acquisition declares what
it needs: the :class:`~steerscope.campaign.PolicyConfig` fields it reads
(``parameters``) and whether it scores one target or several. The engine
passes exactly those fields; the config, the UI's steer panel and the settings
line read the same declaration, so adding an acquisition with a parameter is
its function plus one :func:`register_acquisition` call (and the policy field,
if the parameter is new).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import AcquisitionError

__all__ = [
    "AcquisitionInfo",
    "ScoringInputs",
    "acquisition_info",
    "acquisitions_for",
    "default_acquisition",
    "register_acquisition",
    "score_candidates",
]


@dataclass(frozen=True, eq=False)
class ScoringInputs:
    """What an acquisition may use besides the posterior (the engine fills in what it has).

    Parameters
    ----------
    Y_measured : ndarray of shape (n, k)
        Finite measured targets, one column per objective (the EI incumbent, the
        Pareto front, the standardisation of the scalarisations).
    rng : numpy.random.Generator or None
        For Thompson sampling and random choice.
    pixels : ndarray of shape (m, 2) or None
        The candidates' overview pixels (raster order).
    """

    Y_measured: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 1)))
    rng: np.random.Generator | None = None
    pixels: NDArray[np.int64] | None = None


Scorer = Callable[..., NDArray[np.float64]]
"""``score(mean, var, inputs, **parameters) -> scores (m,)``, higher is better."""


@dataclass(frozen=True)
class AcquisitionInfo:
    """One acquisition function and what it reads.

    Parameters
    ----------
    name : str
        The ``policy.acquisition`` value.
    score : callable
        ``score(mean, var, inputs, **parameters)``: ``mean, var`` of shape ``(m,)``
        (one target) or ``(m, k)`` (several), ``inputs`` a :class:`ScoringInputs`.
    parameters : tuple of str
        Names of the policy fields passed to ``score`` as keywords.
    multi_objective : bool
        Scores several targets (``True``) or one.
    summary : str
        One line for the docs and the UI.
    needs_model : bool
        Whether the scores depend on the posterior. A campaign does not fit its
        model for an acquisition that does not (random, raster): it would cost
        compute between points and change nothing.
    """

    name: str
    score: Scorer
    parameters: tuple[str, ...] = ()
    multi_objective: bool = False
    summary: str = ""
    needs_model: bool = True


_REGISTRY: dict[str, AcquisitionInfo] = {}


def register_acquisition(info: AcquisitionInfo) -> AcquisitionInfo:
    """Add an acquisition (its module calls this at import); returns ``info``.

    Raises
    ------
    AcquisitionError
        If another acquisition has the same name.
    """
    existing = _REGISTRY.get(info.name)
    if existing is not None and existing.score is not info.score:
        raise AcquisitionError(f"two acquisitions are registered as {info.name!r}")
    _REGISTRY[info.name] = info
    return info


def acquisitions_for(n_objectives: int) -> tuple[str, ...]:
    """Names of the acquisitions that score ``n_objectives`` targets, default first."""
    several = n_objectives > 1
    return tuple(name for name, info in _REGISTRY.items() if info.multi_objective == several)


def default_acquisition(n_objectives: int) -> str:
    """The acquisition a campaign with ``n_objectives`` targets uses when none is named.

    UCB for one target; EHVI for several (it needs no weights and looks for the
    whole trade-off curve, which is what an operator who defined several targets
    and nothing else most likely wants).
    """
    return "ehvi" if n_objectives > 1 else "ucb"


def acquisition_info(name: str) -> AcquisitionInfo:
    """The registered acquisition ``name``.

    Raises
    ------
    AcquisitionError
        If there is none; the message lists the ones that exist.
    """
    info = _REGISTRY.get(name)
    if info is None:
        raise AcquisitionError(
            f"unknown acquisition function {name!r}; choose one of "
            f"{', '.join(acquisitions_for(1))} (one target) or "
            f"{', '.join(acquisitions_for(2))} (several targets)."
        )
    return info


def score_candidates(
    name: str,
    mean: ArrayLike,
    var: ArrayLike,
    inputs: ScoringInputs,
    parameters: dict[str, Any],
) -> NDArray[np.float64]:
    """Score every candidate with acquisition ``name``, passing only the fields it declares.

    Parameters
    ----------
    name : str
        A registered acquisition.
    mean, var : array_like of shape (m,) or (m, k)
        Posterior over the candidates.
    inputs : ScoringInputs
        Measured targets, random generator, candidate pixels.
    parameters : dict
        Policy fields (a superset is fine: only ``info.parameters`` are passed).

    Returns
    -------
    ndarray of shape (m,)
        Higher is better.
    """
    info = acquisition_info(name)
    chosen = {key: parameters.get(key) for key in info.parameters}
    return np.asarray(info.score(mean, var, inputs, **chosen), dtype=np.float64)
