"""Shared pieces of the two surrogates: checks, the GP head, training, batched prediction.

Also the public methods both surrogates have alike (:class:`GPSurrogateBase`).

Both surrogates are an exact Gaussian process on some features ``z`` of the
inputs (the inputs themselves for :class:`~steerscope.models.ExactGPSurrogate`,
a neural network's output for :class:`~steerscope.models.DKLSurrogate`). The
covariance functions are GPyTorch kernels; the marginal likelihood and the
prediction are written out with one dense Cholesky factor in float64, which
is exact, fast at the sizes of a microscope campaign (n ≲ 1000 measured
points), and lets prediction compute only the diagonal of the predictive
covariance, batch by batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Self

import gpytorch
import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ModelError

KernelName = Literal["rbf", "matern52"]
KERNELS: tuple[str, ...] = ("rbf", "matern52")

PREDICT_BATCH = 4096
"""Rows per batch in ``posterior``: bounds memory at ``batch × n_train`` doubles."""

MIN_VARIANCE = 1e-12
"""Floor for predicted variances; round-off can make them slightly negative."""

_JITTERS = (0.0, 1e-8, 1e-6, 1e-4, 1e-2)


def check_training_data(
    X: ArrayLike, y: ArrayLike, model: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``X (n, d)`` and ``y (n,)`` as float64 or raise a helpful ModelError."""
    X_arr = np.asarray(X, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    if X_arr.ndim != 2:
        raise ModelError(
            f"{model}.fit expects X of shape (n_points, n_features); got an array of shape "
            f"{X_arr.shape}. Pass one feature row per measured pixel."
        )
    if y_arr.ndim != 1:
        raise ModelError(
            f"{model}.fit expects y of shape (n_points,); got shape {y_arr.shape}. "
            "For a multi-output scalarizer, fit one surrogate per output column."
        )
    if X_arr.shape[0] != y_arr.shape[0]:
        raise ModelError(
            f"{model}.fit expects as many targets as feature rows; got X with "
            f"{X_arr.shape[0]} rows and y with {y_arr.shape[0]} values."
        )
    if X_arr.shape[0] < 2:
        raise ModelError(
            f"{model}.fit needs at least 2 measured points; got {X_arr.shape[0]}. "
            "Measure a few seed points before fitting the surrogate."
        )
    if X_arr.shape[1] < 1:
        raise ModelError(f"{model}.fit expects at least 1 feature per point; got 0.")
    if not np.all(np.isfinite(y_arr)):
        bad = np.flatnonzero(~np.isfinite(y_arr))
        raise ModelError(
            f"{model}.fit expects finite targets; got {bad.size} non-finite values (first at "
            f"row {int(bad[0])}: {float(y_arr[bad[0]])}). Check the scalarizer (e.g. a ratio "
            "with a zero denominator) or drop those points."
        )
    if not np.all(np.isfinite(X_arr)):
        raise ModelError(
            f"{model}.fit expects finite features; got {int(np.sum(~np.isfinite(X_arr)))} "
            "non-finite entries in X. Check the descriptors."
        )
    return X_arr, y_arr


def check_query(X: ArrayLike, n_features: int, model: str) -> NDArray[np.float64]:
    """Return query features ``X (m, d)`` as float64 or raise a helpful ModelError."""
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2 or X_arr.shape[1] != n_features:
        raise ModelError(
            f"{model}.posterior expects X of shape (m, {n_features}) like the fitted data; got "
            f"shape {X_arr.shape}. Use the same descriptors as for fit, or refit."
        )
    if not np.all(np.isfinite(X_arr)):
        raise ModelError(
            f"{model}.posterior expects finite features; got "
            f"{int(np.sum(~np.isfinite(X_arr)))} non-finite entries."
        )
    return X_arr


def not_fitted(model: str) -> ModelError:
    return ModelError(
        f"{model}.posterior was called before fit; call fit(X, y) with at least 2 measured "
        "points first."
    )


def standardize_targets(y: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and scale of the *measured* targets (scale 1 when they are all equal)."""
    mean = float(y.mean())
    std = float(y.std())
    if not math.isfinite(std) or std <= 1e-12 * max(1.0, abs(mean)):
        std = 1.0
    return mean, std


def safe_cholesky(K: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of ``K``, adding the smallest diagonal jitter that works.

    Silent (no warning) because the caller's noise floor already regularises
    ``K``; jitter only rescues round-off.
    """
    eye = torch.eye(K.shape[-1], dtype=K.dtype)
    scale = float(K.detach().diagonal().mean().abs()) or 1.0
    for jitter in _JITTERS:
        L, info = torch.linalg.cholesky_ex(K + (jitter * scale) * eye)
        if int(info) == 0:
            return L
    raise ModelError(
        "the GP covariance matrix is not positive definite even with jitter; the features "
        "may contain duplicated points with very different targets. Try a larger noise "
        "floor or fewer, more distinct points."
    )


def median_distance(z: torch.Tensor) -> float:
    """Median pairwise Euclidean distance of the rows of ``z`` (1.0 if degenerate)."""
    with torch.no_grad():
        d = torch.cdist(z, z)
        upper = d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)]
        value = float(upper.median()) if upper.numel() else 1.0
    return value if math.isfinite(value) and value > 1e-6 else 1.0


@dataclass(frozen=True)
class LengthscalePrior:
    """LogNormal prior on each ARD lengthscale: ``log ℓ ~ Normal(loc, scale²)``.

    Without a prior, maximising the marginal likelihood on a few dozen
    heavy-tailed targets can drive one lengthscale to ~0: every pair of
    points is then uncorrelated, the loss sits at the white-noise value
    ``0.5 log(2πe) ≈ 1.419`` where its gradient vanishes, and the posterior
    mean is the constant mean everywhere except at the training points. The
    prior makes such a collapse cost log-probability, so the fit stays on the
    informative optimum (a MAP estimate, as BoTorch fits its GPs).
    """

    loc: float
    scale: float

    @classmethod
    def dim_scaled(cls, n_dims: int, input_std: float = 1.0) -> LengthscalePrior:
        """BoTorch's dimension-scaled prior (Hvarfner et al. 2024), for z-scored inputs.

        BoTorch (0.12+) uses ``LogNormal(√2 + ½ log d, √3)`` on inputs scaled to
        the unit cube, whose uniform spread has standard deviation ``1/√12``;
        the same prior on inputs of standard deviation ``input_std`` is shifted
        by ``log(√12 · input_std)``. Longer lengthscales in more dimensions keep
        the prior's typical function equally complex whatever ``d`` is.

        Parameters
        ----------
        n_dims : int
            Feature dimensions ``d`` the kernel sees.
        input_std : float, default 1.0
            Standard deviation of each (z-scored) feature.
        """
        loc = math.sqrt(2.0) + 0.5 * math.log(n_dims) + math.log(math.sqrt(12.0) * input_std)
        return cls(loc=loc, scale=math.sqrt(3.0))

    @property
    def mode(self) -> float:
        """Most probable lengthscale, ``exp(loc - scale²)`` (the start value of a fit)."""
        return math.exp(self.loc - self.scale**2)

    def log_prob(self, lengthscale: torch.Tensor) -> torch.Tensor:
        """Summed log density of the lengthscales (any shape)."""
        log_ls = torch.log(lengthscale)
        z = (log_ls - self.loc) / self.scale
        density = -log_ls - math.log(self.scale) - 0.5 * math.log(2 * math.pi) - 0.5 * z * z
        return density.sum()


class GPHead(torch.nn.Module):
    """Constant mean + scaled RBF/Matérn-5/2 ARD kernel + Gaussian noise, on features ``z``.

    Parameters
    ----------
    n_dims : int
        Number of feature dimensions ``k`` the kernel sees.
    kernel : {"rbf", "matern52"}
        Base kernel.
    noise_floor : float
        Lower bound on the noise variance, in standardised target units.
    lengthscale_prior : LengthscalePrior, optional
        Prior on each lengthscale, added to the training loss (MAP). None: plain
        maximum likelihood (the DKL surrogate, whose network sets the latent scale).
    lengthscale_floor : float, default 0.0
        Lower bound on each lengthscale, in feature units (0: only positive).
    """

    def __init__(
        self,
        n_dims: int,
        kernel: KernelName,
        noise_floor: float,
        *,
        lengthscale_prior: LengthscalePrior | None = None,
        lengthscale_floor: float = 0.0,
    ) -> None:
        super().__init__()
        constraint = (
            gpytorch.constraints.GreaterThan(lengthscale_floor)
            if lengthscale_floor > 0
            else gpytorch.constraints.Positive()
        )
        base: gpytorch.kernels.Kernel
        if kernel == "rbf":
            base = gpytorch.kernels.RBFKernel(
                ard_num_dims=n_dims, lengthscale_constraint=constraint
            )
        else:
            base = gpytorch.kernels.MaternKernel(
                nu=2.5, ard_num_dims=n_dims, lengthscale_constraint=constraint
            )
        self.mean_constant = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.covar_module = gpytorch.kernels.ScaleKernel(base)
        self.likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(noise_floor)
        )
        self.noise_floor = noise_floor
        self.lengthscale_prior = lengthscale_prior
        self.double()

    def reset(self, lengthscale: float, noise: float = 0.05) -> None:
        """Put the hyperparameters back at their start values (outputscale 1, mean 0)."""
        with torch.no_grad():
            self.mean_constant.zero_()
            self.covar_module.outputscale = torch.tensor(1.0, dtype=torch.float64)
            base = self.covar_module.base_kernel
            base.lengthscale = torch.full_like(base.lengthscale, lengthscale)
            self.likelihood.noise = torch.tensor(
                [max(noise, 2 * self.noise_floor)], dtype=torch.float64
            )

    def _train_covariance(self, z: torch.Tensor) -> torch.Tensor:
        K = self.covar_module(z, z).to_dense()
        noise = self.likelihood.noise.reshape(())
        return K + noise * torch.eye(z.shape[0], dtype=z.dtype)

    @property
    def lengthscale(self) -> NDArray[np.float64]:
        """The fitted ARD lengthscales, shape ``(k,)``, in feature units."""
        ls = self.covar_module.base_kernel.lengthscale.detach().reshape(-1)
        return ls.numpy().astype(np.float64)

    def hyperparameters(self) -> dict[str, Any]:
        """Lengthscales (list), outputscale, noise and constant mean, as plain numbers."""
        return {
            "lengthscale": [float(v) for v in self.lengthscale],
            "outputscale": float(self.covar_module.outputscale.detach()),
            "noise": float(self.likelihood.noise.detach().reshape(())),
            "mean_constant": float(self.mean_constant.detach()),
        }

    def negative_mll(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact negative log marginal likelihood of ``y (n,)`` at ``z (n, k)``, per point.

        With a lengthscale prior, minus its log density is added (a MAP loss).
        """
        L = safe_cholesky(self._train_covariance(z))
        residual = (y - self.mean_constant).unsqueeze(-1)
        alpha = torch.cholesky_solve(residual, L)
        n = y.shape[0]
        nll = (
            0.5 * (residual * alpha).sum()
            + torch.log(L.diagonal()).sum()
            + 0.5 * n * math.log(2 * math.pi)
        )
        if self.lengthscale_prior is not None:
            nll = nll - self.lengthscale_prior.log_prob(self.covar_module.base_kernel.lengthscale)
        return nll / n

    def condition(self, z: torch.Tensor, y: torch.Tensor) -> PosteriorCache:
        """Factorise the training covariance once for repeated prediction."""
        with torch.no_grad():
            L = safe_cholesky(self._train_covariance(z))
            alpha = torch.cholesky_solve((y - self.mean_constant).unsqueeze(-1), L)
        return PosteriorCache(z_train=z.detach(), cholesky=L, alpha=alpha)

    def predict(self, cache: PosteriorCache, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and variance (diagonal only) at ``z (b, k)``, standardised units."""
        mean, var, _ = self.predict_with_factor(cache, z)
        return mean, var

    def predict_with_factor(
        self, cache: PosteriorCache, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`predict`, and ``V = L⁻¹ K(Z_train, z)`` ``(n, b)`` that it computes on the way.

        ``V`` is what conditioning on more points later needs
        (:class:`~steerscope.models.updating.CandidatePosterior`).
        """
        with torch.no_grad():
            cross = self.covar_module(z, cache.z_train).to_dense()  # (b, n)
            mean = self.mean_constant + (cross @ cache.alpha).squeeze(-1)
            v = torch.linalg.solve_triangular(cache.cholesky, cross.T, upper=False)  # (n, b)
            prior = self.covar_module(z, z, diag=True)
            var = prior - (v * v).sum(dim=0)
        return mean, var, v


@dataclass(frozen=True)
class PosteriorCache:
    """What prediction needs from the training data: features, Cholesky factor, weights."""

    z_train: torch.Tensor
    cholesky: torch.Tensor
    alpha: torch.Tensor


@dataclass
class TrainResult:
    iterations: int
    loss: float
    initial_loss: float


def train(
    loss_fn: Callable[[], torch.Tensor],
    parameters: Iterable[torch.nn.Parameter],
    *,
    iterations: int,
    learning_rate: float,
    patience: int,
    tolerance: float = 1e-4,
) -> TrainResult:
    """Minimise ``loss_fn`` with Adam; stop early when it plateaus.

    The loss is on the per-point scale, so ``tolerance`` is an absolute change
    of the mean negative log likelihood. ``patience = 0`` runs every iteration.
    """
    params = [p for p in parameters if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    best = math.inf
    since_best = 0
    initial = math.nan
    loss_value = math.nan
    done = 0
    for done in range(1, iterations + 1):
        optimizer.zero_grad()
        loss = loss_fn()
        loss_value = float(loss.detach())
        if done == 1:
            initial = loss_value
        if not math.isfinite(loss_value):
            raise ModelError(
                f"the surrogate's training loss became {loss_value} at iteration {done}; "
                "lower the learning rate or check the features for extreme values."
            )
        loss.backward()
        optimizer.step()
        if loss_value < best - tolerance:
            best = loss_value
            since_best = 0
        else:
            since_best += 1
            if patience and since_best >= patience:
                break
    return TrainResult(iterations=done, loss=loss_value, initial_loss=initial)


def batched_posterior(
    features: Callable[[torch.Tensor], torch.Tensor],
    head: GPHead,
    cache: PosteriorCache,
    X: NDArray[np.float64],
    y_mean: float,
    y_std: float,
    batch_size: int = PREDICT_BATCH,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Posterior mean and variance over ``X (m, d)`` in batches, in original target units."""
    m = X.shape[0]
    mean = np.empty(m, dtype=np.float64)
    var = np.empty(m, dtype=np.float64)
    with torch.no_grad():
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)
            z = features(torch.from_numpy(X[start:stop]))
            batch_mean, batch_var = head.predict(cache, z)
            mean[start:stop] = batch_mean.numpy()
            var[start:stop] = batch_var.numpy()
    mean = mean * y_std + y_mean
    var = np.maximum(var * (y_std * y_std), MIN_VARIANCE)
    return mean, var


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` torch intra-op threads, then restore the old value.

    The surrogates' matrices are small (n ≲ 1000 training points), where extra
    threads buy little and, on a loaded machine, OpenMP spin-waiting made a fit
    30× slower (measured: 0.4 s on 1 thread vs 15–18 s on 2 busy cores). The
    setting is process-wide while the block runs, and put back afterwards.
    ``None`` leaves torch's setting alone.
    """
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    if previous == n_threads:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def derived_seed(seed: int, *counters: int) -> int:
    """A 63-bit torch seed from ``seed`` and counters, independent across counters."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *counters]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF


class GPSurrogateBase:
    """What an exact GP on features ``z = features(X)`` does the same in both surrogates.

    A subclass defines ``fit`` (run its ``_fit`` under :func:`torch_threads`)
    and ``_features``, the map from inputs ``(b, d)`` to GP features ``(b, k)``;
    its ``_fit`` sets the fitted attributes below and ends with :meth:`_record_fit`.
    """

    n_threads: int | None
    n_features_in_: int
    head_: GPHead
    cache_: PosteriorCache
    y_mean_: float
    y_std_: float
    X_train_: NDArray[np.float64]
    y_train_: NDArray[np.float64]
    fit_info_: dict[str, Any]

    def fit(self, X: ArrayLike, y: ArrayLike, *, full: bool = False) -> Self:
        """Fit to ``X (n, d)`` and ``y (n,)``; ``full`` forces a cold fit (subclass)."""
        raise NotImplementedError

    def _features(self, X: torch.Tensor) -> torch.Tensor:
        """GP features ``(b, k)`` of inputs ``X (b, d)`` (subclass)."""
        raise NotImplementedError

    @property
    def last_fit_info(self) -> dict[str, Any]:
        """Facts about the last fit (empty before the first fit).

        Keys: ``kind`` ("cold"/"warm"), ``iterations``, ``loss``, ``initial_loss``,
        ``seconds``, ``n_points``.
        """
        return dict(getattr(self, "fit_info_", {}))

    def refit_full(self) -> Self:
        """Refit the last training data cold, as ``fit(X_train_, y_train_, full=True)``."""
        if not hasattr(self, "X_train_"):
            raise ModelError(
                f"{type(self).__name__}.refit_full needs a previous fit; call fit(X, y) first."
            )
        return self.fit(self.X_train_, self.y_train_, full=True)

    def posterior(
        self, X: ArrayLike, *, pending: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Posterior mean and variance of the latent target, in batches of 4096 rows.

        Parameters
        ----------
        X : array_like of shape (m, n_features)
            Candidate features (patches, or other descriptors, as at fit).
        pending : array_like of shape (p, n_features), optional
            Features of points being measured now. The posterior is conditioned
            on them at their predicted mean (the *kriging believer*), with the
            fitted hyperparameters: the mean does not move, the variance near
            them drops, so the next proposal does not repeat what is in flight.

        Returns
        -------
        mean : ndarray of shape (m,)
            In target units.
        var : ndarray of shape (m,)
            In squared target units, >= 1e-12 (noise-free latent variance).
        """
        if not hasattr(self, "cache_"):
            raise not_fitted(type(self).__name__)
        X_arr = check_query(X, self.n_features_in_, type(self).__name__)
        with torch_threads(self.n_threads):
            cache = self.cache_
            if pending is not None:
                cache = self._believer_cache(
                    check_query(pending, self.n_features_in_, type(self).__name__)
                )
            return batched_posterior(
                self._features, self.head_, cache, X_arr, self.y_mean_, self.y_std_
            )

    def _believer_cache(self, pending: NDArray[np.float64]) -> PosteriorCache:
        """The posterior cache with ``pending (p, d)`` added at their predicted mean."""
        if pending.shape[0] == 0:
            return self.cache_
        with torch.no_grad():
            z_pending = self._features(torch.from_numpy(pending))
            believed, _ = self.head_.predict(self.cache_, z_pending)
            y_train = torch.from_numpy((self.y_train_ - self.y_mean_) / self.y_std_)
            z = torch.cat([self.cache_.z_train, z_pending])
            return self.head_.condition(z, torch.cat([y_train, believed]))

    def _record_fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[np.float64],
        *,
        kind: Literal["cold", "warm"],
        result: TrainResult,
        timer: Timer,
    ) -> None:
        """Keep the training data (for ``refit_full``) and the facts of this fit."""
        self.X_train_ = X
        self.y_train_ = y
        self.fit_info_ = {
            "kind": kind,
            "iterations": result.iterations,
            "loss": result.loss,
            "initial_loss": result.initial_loss,
            "seconds": timer.seconds,
            "n_points": int(X.shape[0]),
        }
