"""A latent utility from pairwise judgements, and the next pair worth asking about.

The operator compares two measured spectra ("which is more interesting?"); a
Gaussian-process preference model (Chu & Ghahramani 2005, BoTorch's
:class:`~botorch.models.PairwiseGP` with its Laplace approximation and
:class:`~botorch.models.PairwiseLaplaceMarginalLogLikelihood`) turns the answers
into a utility over spectrum descriptors, with an uncertainty. The next pair is the
one with the highest expected utility of the best option (EUBO, Lin et al. 2022,
BoTorch's :class:`~botorch.acquisition.preference.AnalyticExpectedUtilityOfBestOption`).

A utility must be reproducible from the record alone, so it is a function of the
comparisons and nothing else: kernel hyperparameters are fitted afresh, from the
same start, on the first ``hyperparameter_count(m)`` comparisons — a schedule that
refits at 1, 2, 3, 4, 6, 8, 12, 16, 24, … judgements, not at every one, since a fit
takes about 0.3 s and a Laplace update with fixed hyperparameters a few ms.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ModelError

__all__ = ["PreferenceModel", "hyperparameter_count"]

PAIR_POOL = 100
"""Most spectra the next pair is chosen among (those of highest mean + std utility)."""


def hyperparameter_count(m: int) -> int:
    """How many of ``m`` comparisons the kernel hyperparameters are fitted on.

    The largest of 1, 2, 3, 4, 6, 8, 12, 16, 24, … (powers of two and 1.5 times them)
    that is at most ``m``; 0 for ``m = 0``.
    """
    if m <= 0:
        return 0
    best = 1
    power = 1
    while power <= m:
        best = power
        if power + power // 2 <= m and power >= 2:
            best = power + power // 2
        power *= 2
    return best


def _as_comparisons(comparisons: ArrayLike, n: int) -> NDArray[np.int64]:
    pairs = np.asarray(comparisons, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
        raise ModelError(f"comparisons must index the {n} described spectra; got {pairs.tolist()}")
    if np.any(pairs[:, 0] == pairs[:, 1]):
        raise ModelError("a comparison needs two different spectra")
    return pairs


@contextmanager
def _seeded_laplace() -> Iterator[None]:
    """Seed numpy's global generator around BoTorch's Laplace fit, then restore it.

    BoTorch starts the search for the Laplace mode from a perturbation drawn from it;
    seeded, the same comparisons always give the same utility.
    """
    state = np.random.get_state()  # noqa: NPY002 - BoTorch draws from the global one
    np.random.seed(0)  # noqa: NPY002
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BoTorch's notes on consolidating duplicates
            yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def lapse_probit_likelihood(lapse: float) -> Any:
    """BoTorch's probit preference likelihood with a lapse rate: a wrong answer is allowed.

    ``p(a > b) = lapse + (1 - 2 lapse) Φ((f(a) - f(b)) / √2)``: an operator who
    sometimes picks the other spectrum whatever the two look like (Wichmann & Hill
    2001's lapse rate, used in psychophysics for exactly this). Probit alone makes
    one wrong answer about two very different spectra pull the utility apart; with a
    lapse, its pull is bounded. ``lapse = 0`` is BoTorch's
    :class:`~botorch.models.likelihoods.pairwise.PairwiseProbitLikelihood`. The
    Laplace approximation uses the positive part of the curvature (the likelihood is
    not log-concave once a lapse is allowed).
    """
    import math

    from botorch.models.likelihoods.pairwise import PairwiseProbitLikelihood

    if lapse == 0:
        return PairwiseProbitLikelihood()
    if not 0 < lapse < 0.5:
        raise ModelError(f"the lapse rate must lie in [0, 0.5); got {lapse}")

    class LapseProbitLikelihood(PairwiseProbitLikelihood):
        _zlim = 6  # the lapse bounds the pull of a far violated answer; no clamp needed

        def _terms(self, utility: torch.Tensor, D: torch.Tensor) -> tuple[Any, Any, Any]:
            z = self._calc_z(utility, D)
            pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
            p = lapse + (1 - 2 * lapse) * torch.special.ndtr(z)
            return z, pdf, p

        def p(self, utility: torch.Tensor, D: torch.Tensor, log: bool = False) -> torch.Tensor:
            return self._terms(utility, D)[2]

        def negative_log_gradient_sum(self, utility: torch.Tensor, D: torch.Tensor) -> Any:
            _, pdf, p = self._terms(utility, D)
            factor = (1 - 2 * lapse) * pdf / p / math.sqrt(2)
            return (factor.unsqueeze(-2) @ (-D)).squeeze(-2)

        def negative_log_hessian_sum(self, utility: torch.Tensor, D: torch.Tensor) -> Any:
            z, pdf, p = self._terms(utility, D)
            ratio = (1 - 2 * lapse) * pdf / p
            curvature = (ratio * (ratio + z) / 2).clamp(min=0.0)
            DT = D.transpose(-1, -2)
            return DT * curvature.unsqueeze(-2).expand(*DT.size()) @ D

    return LapseProbitLikelihood()


def _pairwise_gp(
    features: NDArray[np.float64], pairs: NDArray[np.int64], lapse: float = 0.0, **kwargs: Any
) -> Any:
    from botorch.models import PairwiseGP

    with _seeded_laplace():
        return PairwiseGP(
            torch.as_tensor(features),
            torch.as_tensor(pairs),
            likelihood=lapse_probit_likelihood(lapse),
            **kwargs,
        )


_KERNELS: dict[int, Any] = {}
"""BoTorch's default preference kernel for each descriptor dimension (a template)."""


def _default_kernel(features: NDArray[np.float64], pairs: NDArray[np.int64]) -> Any:
    """A fresh copy of BoTorch's default ``PairwiseGP`` kernel for these descriptors."""
    k = features.shape[1]
    if k not in _KERNELS:
        _KERNELS[k] = _pairwise_gp(features, pairs).covar_module
    return copy.deepcopy(_KERNELS[k])


def _fit_hyperparameters(
    features: NDArray[np.float64], pairs: NDArray[np.int64], lapse: float = 0.0
) -> dict[str, Any]:
    """Kernel hyperparameters by the Laplace marginal likelihood, from BoTorch's defaults."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import PairwiseLaplaceMarginalLogLikelihood

    gp = _pairwise_gp(features, pairs, lapse, covar_module=_default_kernel(features, pairs))
    mll = PairwiseLaplaceMarginalLogLikelihood(gp.likelihood, gp)
    # a fit is a function of the comparisons only; the caller's torch generator is kept
    with _seeded_laplace(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            fit_gpytorch_mll(mll)
        except Exception as exc:
            warnings.warn(f"preference hyperparameters not fitted: {exc}", stacklevel=3)
    return {k: v.detach().clone() for k, v in gp.covar_module.state_dict().items()}


class PreferenceModel:
    """The utility that a set of comparisons gives spectra described by ``features``.

    Parameters
    ----------
    features : array_like of shape (n, k)
        Descriptors of the spectra (e.g. :meth:`PreferenceSpec.features
        <steerscope.scalarizers.PreferenceSpec.features>`).
    comparisons : array_like of shape (m, 2)
        Row ``(a, b)``: spectrum ``a`` was preferred to spectrum ``b``; in the order
        they were given. May be empty (the prior: no utility yet).
    hyperparameters : dict, optional
        Kernel hyperparameters to use instead of fitting them (from
        :attr:`hyperparameters` of a model of the same feature space).
    lapse : float
        The rate at which the operator is taken to answer at random
        (:func:`lapse_probit_likelihood`); 0: BoTorch's probit.

    Attributes
    ----------
    hyperparameters : dict or None
        The kernel's state (``m > 0``), reusable while the comparisons grow.
    """

    def __init__(
        self,
        features: ArrayLike,
        comparisons: ArrayLike,
        *,
        hyperparameters: dict[str, Any] | None = None,
        lapse: float = 0.0,
    ) -> None:
        self.features = np.asarray(features, dtype=np.float64)
        self.lapse = float(lapse)
        if self.features.ndim != 2 or not np.all(np.isfinite(self.features)):
            raise ModelError(f"features must be finite (n, k); got shape {self.features.shape}")
        self.comparisons = _as_comparisons(comparisons, self.features.shape[0])
        self.hyperparameters = hyperparameters
        self._gp: Any = None
        self._own: tuple[NDArray[Any], NDArray[Any]] | None = None
        if self.comparisons.shape[0] == 0:
            return
        # the GP holds the judged spectra only; the others' utility is its prediction
        # (the same marginal: a spectrum no comparison names adds nothing to the fit)
        named, compact = np.unique(self.comparisons, return_inverse=True)
        judged, pairs = self.features[named], compact.reshape(-1, 2)
        if self.hyperparameters is None:
            self.hyperparameters = _fit_hyperparameters(judged, pairs, self.lapse)
        kernel = _default_kernel(judged, pairs)
        kernel.load_state_dict(self.hyperparameters)
        with _seeded_laplace():  # the Laplace mode under those hyperparameters
            self._gp = _pairwise_gp(judged, pairs, self.lapse, covar_module=kernel)
            self._gp.eval()

    def described(self, features: ArrayLike) -> PreferenceModel:
        """The same utility over ``features`` (n', k), n' >= n: more spectra, no refit.

        The first n rows must describe the model's own spectra as before (a
        :meth:`PreferenceSpec.features` basis fixed by the comparisons keeps them so).
        """
        extended = np.asarray(features, dtype=np.float64)
        n = self.features.shape[0]
        if extended.shape[0] < n or not np.allclose(extended[:n], self.features, atol=1e-9):
            raise ModelError("described: the model's own spectra must come first, unchanged")
        model = copy.copy(self)
        model.features, model._own = extended, None
        return model

    def utility(self, features: ArrayLike | None = None) -> tuple[NDArray[Any], NDArray[Any]]:
        """Posterior mean and variance of the utility.

        Parameters
        ----------
        features : array_like of shape (p, k), optional
            Where; default the model's own spectra.

        Returns
        -------
        mean, var : ndarray of shape (p,)
            Zero mean and unit variance before the first comparison.
        """
        if features is None and self._own is not None:
            return self._own
        x = self.features if features is None else np.asarray(features, dtype=np.float64)
        if self._gp is None:
            return np.zeros(x.shape[0]), np.ones(x.shape[0])
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # one point per batch: marginals only (a joint posterior of near-duplicate
            # spectra is singular and only its diagonal is wanted)
            post = self._gp.posterior(torch.as_tensor(x)[:, None, :])
            mean = post.mean.reshape(-1).numpy().astype(np.float64)
            var = np.clip(post.variance.reshape(-1).numpy().astype(np.float64), 0.0, None)
        if features is None:
            self._own = (mean, var)
        return mean, var

    def best_partner(self, first: int, asked: set[tuple[int, int]] | None = None) -> int | None:
        """The spectrum most worth comparing with spectrum ``first`` next (highest EUBO).

        A new spectrum is judged against the partner that makes the pair's expected
        best utility highest: one that is probably good, or one whose comparison is
        most uncertain.

        Parameters
        ----------
        first : int
            Index of the spectrum to be judged (usually the newest).
        asked : set of (int, int), optional
            Pairs already asked about (either order): not asked again.

        Returns
        -------
        int or None
            Index of the partner among the model's spectra (of the :data:`PAIR_POOL`
            with the highest mean + std utility), or None when every pair with
            ``first`` was asked. Before the first comparison, the spectrum least
            like ``first`` (under the prior every pair has the same mean, so EUBO
            prefers the least correlated).
        """
        n = self.features.shape[0]
        if not 0 <= first < n:
            raise ModelError(f"spectrum {first} is not among the {n} described")
        done = {(min(a, b), max(a, b)) for a, b in (asked or set())}
        mean, var = self.utility()
        pool = np.argsort(-(mean + np.sqrt(var)), kind="stable")[:PAIR_POOL]
        pool = np.array(
            [j for j in pool if j != first and (min(first, j), max(first, j)) not in done],
            dtype=np.int64,
        )
        if pool.size == 0:
            return None
        if self._gp is None:
            gaps = np.linalg.norm(self.features[pool] - self.features[first], axis=1)
            return int(pool[int(np.argmax(gaps))])
        from botorch.acquisition.preference import AnalyticExpectedUtilityOfBestOption

        x = np.stack(
            [np.repeat(self.features[first : first + 1], pool.size, 0), self.features[pool]], 1
        )
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eubo = AnalyticExpectedUtilityOfBestOption(pref_model=self._gp)(torch.as_tensor(x))
        return int(pool[int(torch.argmax(eubo))])
