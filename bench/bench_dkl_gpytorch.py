"""DKL: steerscope's own GP head against GPyTorch's ``ExactGP`` + ``ExactMarginalLogLikelihood``.

The architecture issue asks for DKL on GPyTorch's exact GP and marginal likelihood with the
project's own training loop. Both variants here share everything else: the same network
(``make_extractor``, same seed, so the same initial weights), the same input scaling, kernel,
noise floor, start values and Adam loop (``steerscope.models._gp.train``), float64, one
thread. Measured on the engine's step: N measured 16×16 patches of the plasmonic dataset,
a cold fit (400 Adam steps), the posterior over every candidate, then a warm fit (100 steps
on one more point) and the posterior again; and the predictive quality on every candidate
(standardised RMSE, mean predictive log-likelihood), so a faster variant that predicts worse
is not taken for a win.

Run: ``.venv/bin/python bench/bench_dkl_gpytorch.py`` (writes results/dkl_gpytorch.json).
"""

from __future__ import annotations

import json
import time
from typing import Any

import gpytorch
import numpy as np
import torch
from common import predictive_quality, save

from steerscope.datasets import get_dataset
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.models import DKLSurrogate
from steerscope.models._gp import derived_seed, median_distance, standardize_targets, train
from steerscope.models.dkl import make_extractor
from steerscope.scalarizers import parse_scalarizer, target_map

COLD_STEPS = 400
WARM_STEPS = 100


class _LatentGP(gpytorch.models.ExactGP):  # type: ignore[misc]
    """The GPyTorch DKL recipe: the network inside ``forward``, an exact GP on its output."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, extractor: torch.nn.Module) -> None:
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-4)
        )
        super().__init__(X, y, likelihood)
        self.extractor = extractor
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=2))
        self.double()

    def forward(self, X: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        z = self.extractor(X)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))


class _GPyTorchDKL:
    """Fit and predict like :class:`DKLSurrogate` (cold, then warm with ``reset_gp``)."""

    def __init__(self, seed: int, *, fast_pred_var: bool) -> None:
        self.seed = seed
        self.fast_pred_var = fast_pred_var

    def _reset(self, model: _LatentGP, X: torch.Tensor) -> None:
        with torch.no_grad():
            model.mean_module.constant.zero_()
            model.covar_module.outputscale = torch.tensor(1.0, dtype=torch.float64)
            base = model.covar_module.base_kernel
            base.lengthscale = torch.full_like(
                base.lengthscale, median_distance(model.extractor(X))
            )
            model.likelihood.noise = torch.tensor([0.05], dtype=torch.float64)

    def fit(self, X: np.ndarray, y: np.ndarray, *, steps: int) -> None:
        if not hasattr(self, "model"):
            self.center, scale = float(X.mean()), float(X.std()) or 1.0
            self.scale = scale
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(derived_seed(self.seed, 0))  # as DKLSurrogate's first fit
                extractor = make_extractor("mlp", X.shape[1], [64, 32], 2, None).double()
            X_t = torch.from_numpy((X - self.center) / self.scale)
            self.model = _LatentGP(X_t, torch.zeros(len(y), dtype=torch.float64), extractor)
        X_t = torch.from_numpy((X - self.center) / self.scale)
        self.y_mean, self.y_std = standardize_targets(y)
        y_t = torch.from_numpy((y - self.y_mean) / self.y_std)
        model = self.model
        model.set_train_data(X_t, y_t, strict=False)
        model.train()
        self._reset(model, X_t)
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
        train(
            lambda: -mll(model(X_t), y_t),
            model.parameters(),
            iterations=steps,
            learning_rate=0.01,
            patience=0,
        )
        model.eval()

    def posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        means, variances = [], []
        with torch.no_grad(), gpytorch.settings.fast_pred_var(self.fast_pred_var):
            for chunk in torch.from_numpy((X - self.center) / self.scale).split(4096):
                latent = self.model(chunk)
                means.append(latent.mean)
                variances.append(latent.variance)
        mean = torch.cat(means).numpy() * self.y_std + self.y_mean
        return mean, torch.cat(variances).numpy() * self.y_std**2


class _Ours:
    """:class:`DKLSurrogate` behind the same two calls (its first fit is cold, then warm)."""

    def __init__(self, seed: int) -> None:
        self.model = DKLSurrogate(
            seed=seed, cold_iterations=COLD_STEPS, warm_iterations=WARM_STEPS, patience=0
        )

    def fit(self, X: np.ndarray, y: np.ndarray, *, steps: int) -> None:
        self.model.fit(X, y)

    def posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.posterior(X)


def _timed(run: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = run(*args, **kwargs)
    return time.perf_counter() - t0, out


def main(n_train: int = 100, repeats: int = 3, seed: int = 0) -> dict[str, object]:
    torch.set_num_threads(1)
    dataset = get_dataset("plasmonic_nanoparticles")
    image = dataset.image
    descriptors = extract_descriptors(
        np.asarray(image.overview, np.float32), DescriptorSpec(patch_size=16)
    )
    truth_map = target_map(parse_scalarizer(dataset.default_scalarizer), image)
    pixels = descriptors.pixels
    truth = truth_map[pixels[:, 0], pixels[:, 1]]
    features = descriptors.features.astype(np.float64)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {
        "steerscope": [],
        "gpytorch_exactgp": [],
        "gpytorch_exactgp_love": [],
    }
    for r in range(repeats):
        chosen = rng.choice(pixels.shape[0], n_train + 1, replace=False)
        first, second = chosen[:-1], chosen
        variants: dict[str, Any] = {
            "steerscope": _Ours(seed=r),
            "gpytorch_exactgp": _GPyTorchDKL(seed=r, fast_pred_var=False),
            # LOVE (fast_pred_var): GPyTorch's fast approximate predictive variance
            "gpytorch_exactgp_love": _GPyTorchDKL(seed=r, fast_pred_var=True),
        }
        for name, model in variants.items():
            cold_s, _ = _timed(model.fit, features[first], truth[first], steps=COLD_STEPS)
            predict_s, _ = _timed(model.posterior, features)
            warm_s, _ = _timed(model.fit, features[second], truth[second], steps=WARM_STEPS)
            predict_warm_s, (mean, var) = _timed(model.posterior, features)
            rows[name].append(
                {
                    "cold_fit_s": cold_s,
                    "posterior_s": predict_s,
                    "warm_fit_s": warm_s,
                    "warm_posterior_s": predict_warm_s,
                    **predictive_quality(mean, var, truth),
                }
            )
    summary: dict[str, Any] = {
        name: {key: float(np.median([row[key] for row in values])) for key in values[0]}
        for name, values in rows.items()
    }
    for variant in ("gpytorch_exactgp", "gpytorch_exactgp_love"):
        for key in ("cold_fit_s", "posterior_s", "warm_fit_s", "warm_posterior_s"):
            summary[f"ratio_{key}_{variant}_over_steerscope"] = (
                summary[variant][key] / summary["steerscope"][key]
            )
    result = {"n_train": n_train, "n_candidates": int(pixels.shape[0]), "repeats": repeats}
    result.update(summary)
    save("dkl_gpytorch", result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
