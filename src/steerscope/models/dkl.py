"""Deep kernel learning: a small neural network maps patches to a latent space, a GP works there."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Self

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ModelError
from steerscope.models._gp import (
    KERNELS,
    GPHead,
    GPSurrogateBase,
    KernelName,
    PosteriorCache,
    Timer,
    check_query,
    check_training_data,
    derived_seed,
    median_distance,
    not_fitted,
    standardize_targets,
    torch_threads,
    train,
)
from steerscope.models.pretrain import pretrain_encoder

__all__ = ["WARM_STARTS", "DKLSurrogate", "WarmStart", "make_extractor"]

WarmStart = Literal["reset_gp", "continue", "cold"]
WARM_STARTS: tuple[str, ...] = ("reset_gp", "continue", "cold")


def _mlp(n_features: int, hidden: Sequence[int], latent_dim: int) -> torch.nn.Sequential:
    # SiLU, not tanh: a saturating activation maps inputs far from the data onto the
    # training cloud in latent space, so the GP reports small variance there (a known
    # DKL failure); SiLU is smooth and unbounded, so far inputs stay far.
    layers: list[torch.nn.Module] = []
    width = n_features
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.SiLU()]
        width = size
    layers.append(torch.nn.Linear(width, latent_dim))
    return torch.nn.Sequential(*layers)


class _PatchCNN(torch.nn.Module):
    """Two conv blocks, global pooling to 2×2, then an MLP head to the latent space."""

    def __init__(self, patch_shape: tuple[int, int], hidden: Sequence[int], latent_dim: int):
        super().__init__()
        self.patch_shape = patch_shape
        self.conv = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, kernel_size=3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, kernel_size=3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(2),
            torch.nn.Flatten(),
        )
        self.head = _mlp(16 * 4, list(hidden)[-1:], latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.reshape(-1, 1, *self.patch_shape)))


def make_extractor(
    kind: Literal["mlp", "cnn"],
    n_features: int,
    hidden: Sequence[int],
    latent_dim: int,
    patch_shape: tuple[int, int] | None = None,
) -> torch.nn.Module:
    """Build the feature extractor (float64, weights from torch's current random state).

    Parameters
    ----------
    kind : {"mlp", "cnn"}
        Fully connected network on the flattened patch, or a small CNN on the
        patch reshaped to ``patch_shape``.
    n_features : int
        Input size ``d`` (``h * w`` for a flattened ``(h, w)`` patch).
    hidden : sequence of int
        Hidden layer widths (the CNN uses only the last one).
    latent_dim : int
        Output size: the dimension the GP kernel sees.
    patch_shape : tuple of int, optional
        ``(h, w)`` for the CNN; inferred as a square when ``d`` is a square number.
    """
    if kind == "mlp":
        return _mlp(n_features, hidden, latent_dim).double()
    if patch_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ModelError(
                f"the CNN extractor needs the patch shape; got {n_features} features, which is "
                "not a square patch. Pass patch_shape=(h, w) or use extractor='mlp'."
            )
        patch_shape = (side, side)
    if patch_shape[0] * patch_shape[1] != n_features:
        raise ModelError(
            f"patch_shape {tuple(patch_shape)} has {patch_shape[0] * patch_shape[1]} pixels but "
            f"the features have {n_features} columns; the CNN needs raw flattened patches "
            "(no PCA). Use extractor='mlp' for reduced descriptors."
        )
    return _PatchCNN((int(patch_shape[0]), int(patch_shape[1])), hidden, latent_dim).double()


class DKLSurrogate(GPSurrogateBase):
    """Deep-kernel-learning surrogate: neural feature extractor + exact GP, trained jointly.

    Patches (flattened, ``(n, d)``) go through an MLP (or a small CNN) to a
    ``latent_dim``-dimensional space, where an exact GP with a scaled RBF or
    Matérn-5/2 ARD kernel and Gaussian noise models the target. Network
    weights and GP hyperparameters are trained together on the exact marginal
    likelihood with Adam, in float64. Targets are standardised with the
    measured values only; the posterior is returned in target units.

    Warm start. The first fit, every ``refit_every``-th fit after a cold one,
    a fit with ``full=True`` and a fit whose feature count changed are *cold*:
    fresh weights, ``cold_iterations`` steps. Other fits are *warm*: they keep
    the network's weights and run at most ``warm_iterations`` steps, stopping
    when the loss plateaus. ``warm_start`` says what a warm fit keeps:

    - ``"reset_gp"`` (default): keep the network, re-initialise the GP
      hyperparameters (lengthscale from the latent points' median distance).
      Cheaper than cold, less prone than ``"continue"`` to stay in the first
      fit's basin (a prototype that simply continued halved discovery).
    - ``"continue"``: keep everything; the cheapest.
    - ``"cold"``: every fit is cold (slowest, no memory).

    Why not GPyTorch's ``ExactGP`` + ``ExactMarginalLogLikelihood`` for the GP part
    (the library's DKL recipe, the network inside ``forward``)? Measured side by side
    with the same network, start values and Adam loop (N=100 patches, 16,384
    candidates; ``bench/bench_dkl_gpytorch.py``): the fits took
    1.2× (cold) and 1.1× (warm) as long, and the posterior over the candidates
    11–21×, because ``ExactGP`` evaluates the dense test-by-test prior
    covariance of each batch to take its diagonal (LOVE, ``fast_pred_var``, did not
    help); the engine runs that posterior every step, so the head keeps its own
    Cholesky-cached prediction (GPyTorch's kernels and likelihood, its own MLL).

    Parameters
    ----------
    latent_dim : int, default 2
        Dimension of the latent space the GP sees.
    hidden : sequence of int, default (64, 32)
        Hidden layer widths of the MLP (the CNN uses the last one).
    kernel : {"rbf", "matern52"}, default "rbf"
        GP base kernel.
    extractor : {"mlp", "cnn"}, default "mlp"
        Feature extractor; "cnn" needs raw square patches or ``patch_shape``.
    patch_shape : tuple of int, optional
        ``(h, w)`` of the flattened patches for the CNN.
    warm_iterations : int, default 100
        Maximum Adam steps of a warm fit.
    cold_iterations : int, default 400
        Adam steps of a cold fit.
    refit_every : int, default 10
        Make every ``refit_every``-th fit after a cold one cold again (0: never).
    warm_start : {"reset_gp", "continue", "cold"}, default "reset_gp"
        What a warm fit keeps (see above).
    learning_rate : float, default 0.01
        Adam step size.
    patience : int, default 20
        A warm fit stops after this many steps without improvement (0: never).
    noise_floor : float, default 1e-4
        Lowest noise variance, as a fraction of the target variance.
    n_threads : int or None, default 1
        Torch intra-op threads while fitting and predicting (restored after);
        one is fastest at these sizes and immune to a busy CPU. None: leave
        torch's setting alone.
    seed : int, default 0
        Seed of the weight initialisation (each cold fit gets its own stream
        derived from it); torch's global random state is restored after fit.
    pretrain : bool, default False
        Start every cold fit from an encoder pre-trained without labels on all
        candidates (:meth:`pretrain`, :mod:`steerscope.models.pretrain`)
        instead of random weights. :attr:`needs_pretraining` says whether
        :meth:`pretrain` is still to be called.

    Attributes
    ----------
    extractor_ : torch.nn.Module
        The trained network.
    n_features_in_ : int
        Feature count ``d`` seen at fit.
    n_fits_, n_cold_fits_ : int
        Fits so far, and how many of them were cold.
    y_mean_, y_std_ : float
        Standardisation of the measured targets.
    """

    def __init__(
        self,
        *,
        latent_dim: int = 2,
        hidden: Sequence[int] = (64, 32),
        kernel: KernelName = "rbf",
        extractor: Literal["mlp", "cnn"] = "mlp",
        patch_shape: tuple[int, int] | None = None,
        warm_iterations: int = 100,
        cold_iterations: int = 400,
        refit_every: int = 10,
        warm_start: WarmStart = "reset_gp",
        learning_rate: float = 0.01,
        patience: int = 20,
        noise_floor: float = 1e-4,
        n_threads: int | None = 1,
        seed: int = 0,
        pretrain: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.kernel = kernel
        self.extractor = extractor
        self.patch_shape = patch_shape
        self.warm_iterations = warm_iterations
        self.cold_iterations = cold_iterations
        self.refit_every = refit_every
        self.warm_start = warm_start
        self.learning_rate = learning_rate
        self.patience = patience
        self.noise_floor = noise_floor
        self.n_threads = n_threads
        self.seed = seed
        self.pretrained_start = pretrain

    # -- public -------------------------------------------------------------------------

    def fit(self, X: ArrayLike, y: ArrayLike, *, full: bool = False) -> Self:
        """Fit (or warm-start) the network and GP on ``X (n, d)`` and ``y (n,)``.

        Parameters
        ----------
        X : array_like of shape (n_points, n_features)
            Flattened patches (or other descriptors) of the measured pixels.
        y : array_like of shape (n_points,)
            Measured targets.
        full : bool, default False
            Force a cold fit from fresh weights.

        Returns
        -------
        self
        """
        with torch_threads(self.n_threads):
            return self._fit(X, y, full=full)

    def _fit(self, X: ArrayLike, y: ArrayLike, *, full: bool) -> Self:
        """The fit proper, run with the chosen thread count."""
        self._check_params()
        timer = Timer()
        X_arr, y_arr = check_training_data(X, y, type(self).__name__)
        n_fits: int = getattr(self, "n_fits_", 0)
        fits_since_cold: int = getattr(self, "fits_since_cold_", 0)
        cold = (
            full
            or self.warm_start == "cold"
            or not hasattr(self, "extractor_")
            or self.n_features_in_ != X_arr.shape[1]
            or (self.refit_every > 0 and fits_since_cold >= self.refit_every)
        )
        n_cold = getattr(self, "n_cold_fits_", 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(self.seed, n_cold if cold else n_fits))
            if cold:
                self._build(X_arr)
            X_t = torch.from_numpy(X_arr)
            self.y_mean_, self.y_std_ = standardize_targets(y_arr)
            y_t = torch.from_numpy((y_arr - self.y_mean_) / self.y_std_)
            extractor, head = self.extractor_, self.head_
            if cold or self.warm_start == "reset_gp":
                with torch.no_grad():
                    head.reset(lengthscale=median_distance(self._features(X_t)))
            extractor.train()
            result = train(
                lambda: head.negative_mll(self._features(X_t), y_t),
                [*extractor.parameters(), *head.parameters()],
                iterations=self.cold_iterations if cold else self.warm_iterations,
                learning_rate=self.learning_rate,
                patience=0 if cold else self.patience,
            )
            extractor.eval()
            with torch.no_grad():
                self.cache_: PosteriorCache = head.condition(self._features(X_t), y_t)
        self.n_fits_ = n_fits + 1
        self.n_cold_fits_ = n_cold + 1 if cold else n_cold
        self.fits_since_cold_ = 1 if cold else fits_since_cold + 1
        self._record_fit(X_arr, y_arr, kind="cold" if cold else "warm", result=result, timer=timer)
        return self

    @property
    def needs_pretraining(self) -> bool:
        """Whether it was asked to pre-train and :meth:`pretrain` has not run yet."""
        return bool(self.pretrained_start) and not hasattr(self, "pretrained_")

    def pretrain(self, X: ArrayLike) -> Self:
        """Pre-train the MLP extractor as an autoencoder of every candidate ``X (M, d)``.

        The encoder's weights and the input scaling learnt here are where every
        later cold fit starts (on the same number of features). Costs about a
        second at 16k candidates, once per campaign and descriptor.

        Raises
        ------
        ModelError
            With the CNN extractor, or when ``X`` is not a finite ``(M, d)`` array.
        """
        if self.extractor != "mlp":
            raise ModelError(
                "pre-training is for the MLP extractor; use extractor='mlp' or pretrain=False."
            )
        X_arr = np.asarray(X, dtype=np.float64)
        if X_arr.ndim != 2:
            raise ModelError(f"pretrain needs an (M, d) array of descriptors; got {X_arr.shape}")
        center = float(X_arr.mean())
        scale = float(X_arr.std()) or 1.0
        with torch_threads(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(self.seed, 7919))
            hidden = [int(h) for h in self.hidden]
            encoder = make_extractor("mlp", X_arr.shape[1], hidden, self.latent_dim)
            decoder = _mlp(self.latent_dim, hidden[::-1], X_arr.shape[1]).double()
            loss = pretrain_encoder(encoder, decoder, (X_arr - center) / scale, seed=self.seed)
        self.pretrained_ = {
            "n_features": X_arr.shape[1],
            "center": center,
            "scale": scale,
            "state": {k: v.detach().clone() for k, v in encoder.state_dict().items()},
            "loss": loss,
        }
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Latent features of ``X (m, d)``: ``(m, latent_dim)``, e.g. to plot the embedding."""
        if not hasattr(self, "cache_"):
            raise not_fitted(type(self).__name__)
        X_arr = check_query(X, self.n_features_in_, type(self).__name__)
        with torch.no_grad():
            return self._features(torch.from_numpy(X_arr)).numpy().copy()

    # -- internals ----------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        problems = []
        if self.kernel not in KERNELS:
            problems.append(f"kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}")
        if self.extractor not in ("mlp", "cnn"):
            problems.append(f"extractor must be 'mlp' or 'cnn'; got {self.extractor!r}")
        if self.warm_start not in WARM_STARTS:
            problems.append(
                f"warm_start must be one of {', '.join(WARM_STARTS)}; got {self.warm_start!r}"
            )
        for field in ("latent_dim", "warm_iterations", "cold_iterations"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{field} must be an integer >= 1; got {value!r}")
        for field in ("refit_every", "patience"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{field} must be an integer >= 0; got {value!r}")
        if any(int(h) < 1 for h in self.hidden):
            problems.append(f"hidden layer widths must be >= 1; got {tuple(self.hidden)!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append(f"learning_rate must be a positive float; got {self.learning_rate!r}")
        if problems:
            raise ModelError(f"{name} has invalid settings: " + "; ".join(problems) + ".")

    def _build(self, X: NDArray[np.float64]) -> None:
        """Fresh network and GP head; input scaling frozen until the next cold fit."""
        self.n_features_in_ = X.shape[1]
        # One centre and one scale for all columns keeps the patch geometry (and the
        # CNN's view of the patch) intact, unlike a per-column z-score.
        self.input_center_ = float(X.mean())
        scale = float(X.std())
        self.input_scale_ = scale if scale > 1e-12 else 1.0
        self.extractor_ = make_extractor(
            self.extractor,
            X.shape[1],
            [int(h) for h in self.hidden],
            self.latent_dim,
            self.patch_shape,
        )
        pretrained = getattr(self, "pretrained_", None)
        if pretrained is not None and pretrained["n_features"] == X.shape[1]:
            # the scaling the encoder learnt on every candidate, and its weights
            self.input_center_ = pretrained["center"]
            self.input_scale_ = pretrained["scale"]
            self.extractor_.load_state_dict(pretrained["state"])
        self.head_ = GPHead(self.latent_dim, self.kernel, self.noise_floor)

    def _features(self, X: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.extractor_((X - self.input_center_) / self.input_scale_)
        return result
