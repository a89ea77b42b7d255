"""The posterior over every candidate, updated point by point without refitting.

Training a surrogate takes 0.1–1 s; a fast detector measures a spectrum in
milliseconds. Between two fits, :class:`CandidatePosterior` keeps the last fit's
network and hyperparameters fixed and conditions the exact GP on each new
measurement by a rank-one update over the ``M`` candidates: ``O(n M)`` per
point (a millisecond or two at ``n = 100``, ``M = 16k``) instead of a refit.
The result is the exact GP posterior those hyperparameters give on all the
data, so the choice made from it differs from a refit's only by what the
refit would have learnt about the features and the kernel.

With ``V = L⁻¹ K(Z, Z*)`` (``L`` the Cholesky factor of the training
covariance), adding candidate ``i`` with target ``y`` is::

    c = k(Z*, z_i) - Vᵀ V[:, i]       # posterior covariance with the new point
    s = sqrt(var_i + noise)
    V ← [V; c / s],  mean += c (y - mean_i) / s²,  var -= c² / s²
"""

from __future__ import annotations

from typing import Any

import gpytorch
import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ModelError
from steerscope.models._gp import MIN_VARIANCE, PREDICT_BATCH, torch_threads

__all__ = ["MAX_CELLS", "CandidatePosterior"]

MAX_CELLS = 20_000_000
"""Most entries of ``V`` (``(n + room) × M`` doubles, 160 MB) a candidate posterior may hold."""


class CandidatePosterior:
    """A fitted GP's posterior over all candidates, conditioned on new points by rank-one updates.

    Build one with :meth:`from_fit` right after a fit (it copies what it needs,
    so the surrogate may be refitted meanwhile); :meth:`add` a measured
    candidate; read :meth:`mean_var`, optionally with points in flight believed
    at their predicted mean (kriging believer).

    Parameters
    ----------
    kernel : {"rbf", "matern52"}
        The fitted kernel's shape.
    outputscale : float
        Its fitted output scale.
    noise : float
        The fitted noise variance, standardised units.
    z : ndarray of shape (M, k)
        The candidates' GP features under the fitted network, divided by the
        fitted lengthscales.
    V : ndarray of shape (n + room, M)
        ``L⁻¹ K(Z_train, Z*)`` in its first ``n`` rows; the rest is room for updates.
    n : int
        Rows of ``V`` in use (training points so far).
    mean, var : ndarray of shape (M,)
        Latent posterior mean and variance, standardised units.
    y_mean, y_std : float
        The fit's target standardisation.
    """

    def __init__(
        self,
        kernel: str,
        outputscale: float,
        noise: float,
        z: NDArray[np.float64],
        V: NDArray[np.float64],
        n: int,
        mean: NDArray[np.float64],
        var: NDArray[np.float64],
        y_mean: float,
        y_std: float,
    ) -> None:
        self._matern = kernel == "matern52"
        self._outputscale = float(outputscale)
        self._noise = float(noise)
        self._z = z
        self._V = V
        self._n = int(n)
        self._mean = mean
        self._var = var
        self.y_mean = float(y_mean)
        self.y_std = float(y_std)
        self.n_updates = 0

    @classmethod
    def from_fit(
        cls, surrogate: Any, X: ArrayLike, *, room: int = 256
    ) -> CandidatePosterior | None:
        """The posterior of a just-fitted GP surrogate over candidates ``X (M, d)``.

        Parameters
        ----------
        surrogate : GPSurrogateBase
            A fitted :class:`~steerscope.models.DKLSurrogate` or
            :class:`~steerscope.models.ExactGPSurrogate`.
        X : array_like of shape (M, d)
            Every candidate's descriptors.
        room : int
            Updates it can take before the next fit (fewer when memory is short).

        Returns
        -------
        CandidatePosterior or None
            None when ``V`` would not fit in :data:`MAX_CELLS` even with a little room.
        """
        if not hasattr(surrogate, "cache_"):
            raise ModelError(f"{type(surrogate).__name__} has not been fitted; call fit first.")
        X_arr = np.asarray(X, dtype=np.float64)
        m = X_arr.shape[0]
        cache = surrogate.cache_
        n = int(cache.z_train.shape[0])
        room = min(int(room), MAX_CELLS // max(m, 1) - n)
        if room < 8:
            return None
        head = surrogate.head_
        V = np.zeros((n + room, m), dtype=np.float64)
        mean = np.empty(m, dtype=np.float64)
        var = np.empty(m, dtype=np.float64)
        zs = []
        with torch.no_grad():
            for start in range(0, m, PREDICT_BATCH):
                stop = min(start + PREDICT_BATCH, m)
                z = surrogate._features(torch.from_numpy(X_arr[start:stop]))
                batch_mean, batch_var, v = head.predict_with_factor(cache, z)
                mean[start:stop] = batch_mean.numpy()
                var[start:stop] = batch_var.numpy()
                V[:n, start:stop] = v.numpy()
                zs.append(z.numpy().astype(np.float64))
        noise = float(head.likelihood.noise.detach().reshape(()))
        kernel = head.covar_module
        base = kernel.base_kernel
        lengthscale = base.lengthscale.detach().reshape(-1).numpy().astype(np.float64)
        return cls(
            "matern52" if isinstance(base, gpytorch.kernels.MaternKernel) else "rbf",
            float(kernel.outputscale.detach()),
            noise,
            np.concatenate(zs) / lengthscale,
            V,
            n,
            mean,
            var,
            surrogate.y_mean_,
            surrogate.y_std_,
        )

    @property
    def n_candidates(self) -> int:
        """``M``."""
        return int(self._mean.shape[0])

    @property
    def n_points(self) -> int:
        """Training points it is conditioned on (the fit's and the updates')."""
        return self._n

    @property
    def room(self) -> int:
        """Updates it can still take."""
        return int(self._V.shape[0]) - self._n

    def add(self, index: int, y: float) -> None:
        """Condition on candidate ``index`` measured at target ``y`` (target units).

        Raises
        ------
        ModelError
            When there is no room left (refit) or ``y`` is not finite.
        """
        if self.room <= 0:
            raise ModelError("the candidate posterior is full; refit the model")
        if not np.isfinite(y):
            raise ModelError(f"a target must be finite to condition on; got {y!r}")
        i = int(index)
        c = self._posterior_cov(np.asarray([i]))[:, 0]
        s2 = max(float(self._var[i]) + self._noise, MIN_VARIANCE)
        residual = (float(y) - self.y_mean) / self.y_std - float(self._mean[i])
        self._V[self._n] = c / np.sqrt(s2)
        self._n += 1
        self._mean += c * (residual / s2)
        self._var -= c * c / s2
        np.maximum(self._var, MIN_VARIANCE, out=self._var)
        self.n_updates += 1

    def mean_var(
        self, pending: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Posterior mean and variance ``(M,)`` each, in target units.

        Parameters
        ----------
        pending : array_like of int, shape (p,), optional
            Candidates being measured now, believed at their predicted mean: the
            mean stays, the variance around them drops.
        """
        var = self._var
        if pending is not None and np.asarray(pending).size:
            P = np.unique(np.asarray(pending, dtype=np.int64).reshape(-1))
            c = self._posterior_cov(P)  # (M, p)
            C = c[P] + self._noise * np.eye(P.shape[0])
            try:
                L = np.linalg.cholesky(C)
            except np.linalg.LinAlgError:
                L = np.linalg.cholesky(C + 1e-8 * np.eye(P.shape[0]))
            W = np.linalg.solve(L, c.T)  # (p, M)
            var = np.maximum(var - (W * W).sum(axis=0), MIN_VARIANCE)
        mean = self._mean * self.y_std + self.y_mean
        return mean, np.maximum(var * (self.y_std * self.y_std), MIN_VARIANCE)

    def _posterior_cov(self, index: NDArray[np.int64]) -> NDArray[np.float64]:
        """Posterior covariance ``(M, p)`` between every candidate and candidates ``index``.

        The fitted kernel is written out here on the scaled features: calling the
        GPyTorch kernel for one column of ``M = 16k`` took about 6 ms, several
        times the rest of an update.
        """
        diff = self._z[:, None, :] - self._z[None, index, :]  # (M, p, k)
        r2 = np.einsum("mpk,mpk->mp", diff, diff)
        if self._matern:
            r = np.sqrt(5.0 * r2)
            prior = (1.0 + r + r * r / 3.0) * np.exp(-r)
        else:
            prior = np.exp(-0.5 * r2)
        V = torch.from_numpy(self._V[: self._n])
        with torch_threads(1):  # a matrix-vector product: more threads only contend
            explained = (V.T @ V[:, torch.from_numpy(index)]).numpy()
        return np.asarray(self._outputscale * prior - explained, dtype=np.float64)
