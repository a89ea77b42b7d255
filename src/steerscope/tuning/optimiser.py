"""Where to set the instrument next: BO over a box of settings, or uniform random.

Settings are scaled to the unit cube of their *safe* range, which never changes in a
campaign, so moving the search range (an intervention) keeps every trial's
coordinates. The model is BoTorch's :class:`~botorch.models.SingleTaskGP` (Matérn
5/2 with automatic relevance, outcomes standardised), the acquisition its
:class:`~botorch.acquisition.UpperConfidenceBound` maximised over the current
search range by :func:`~botorch.optim.optimize_acqf`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import qmc

__all__ = ["propose_bo", "propose_random", "space_filling"]


def space_filling(
    n: int, low: NDArray[np.float64], high: NDArray[np.float64], seed: int
) -> NDArray[np.float64]:
    """``n`` scrambled-Sobol points in the box ``[low, high]`` (unit-cube coordinates).

    Returns
    -------
    ndarray of shape (n, d)
    """
    if n == 0:
        return np.zeros((0, low.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Sobol's balance note for n not a power of two
        unit = qmc.Sobol(low.size, scramble=True, seed=seed).random(n)
    return low + unit * (high - low)


def propose_random(
    low: NDArray[np.float64], high: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """One uniform point of the box (unit-cube coordinates), shape (d,)."""
    return low + rng.random(low.size) * (high - low)


def propose_bo(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    *,
    beta: float,
    seed: int,
    candidates: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The point of the box ``[low, high]`` of highest UCB under a GP fitted to the trials.

    Parameters
    ----------
    x : ndarray of shape (n, d)
        Trials so far, unit-cube coordinates (n >= 1).
    y : ndarray of shape (n,)
        Their figures of merit (higher is better).
    low, high : ndarray of shape (d,)
        The current search range, unit-cube coordinates.
    beta : float
        UCB's weight on the variance: ``mean + sqrt(beta) * std``, as the spectrum
        campaigns' ``ucb``.
    seed : int
        Seeds the fit and the acquisition's restarts: the same trials give the same
        proposal.
    candidates : ndarray of shape (m, d), optional
        Score only these points (a discrete grid, or the box without vetoed settings)
        and return the best of them; None maximises over the continuous box.

    Returns
    -------
    ndarray of shape (d,)
    """
    from botorch.acquisition import UpperConfidenceBound
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch's input-scaling and fit notes
        torch.manual_seed(seed)
        train_x = torch.as_tensor(x, dtype=torch.float64)
        train_y = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
        if train_y.shape[0] > 1 and float(train_y.std()) == 0.0:
            train_y = train_y + 1e-9 * torch.arange(train_y.shape[0], dtype=torch.float64)[:, None]
        gp = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        except Exception as exc:  # keep the prior's hyperparameters: a proposal still comes
            warnings.warn(f"tuning GP not fitted: {exc}", stacklevel=2)
        acquisition = UpperConfidenceBound(gp, beta=beta)
        if candidates is not None:
            with torch.no_grad():
                points = torch.as_tensor(candidates, dtype=torch.float64)
                scores = torch.cat([acquisition(chunk[:, None, :]) for chunk in points.split(4096)])
            return np.asarray(candidates[int(torch.argmax(scores))], dtype=np.float64)
        bounds = torch.as_tensor(np.stack([low, high]), dtype=torch.float64)
        best, _ = optimize_acqf(acquisition, bounds=bounds, q=1, num_restarts=8, raw_samples=256)
    return np.clip(best.detach().numpy().reshape(-1).astype(np.float64), low, high)
