"""Exact GP: steerscope's own fit against BoTorch's SingleTaskGP + fit_gpytorch_mll, side by side.

The architecture issue asks whether the hand-written exact GP (``models/_gp.py``: Adam on the
exact marginal likelihood with BoTorch's dimension-scaled LogNormal lengthscale prior) should
give way to BoTorch's ``SingleTaskGP`` (same prior, L-BFGS-B through ``fit_gpytorch_mll``).
Measured here on the step the engine runs: N measured patches (10 PCA components, z-scored),
fit, then the posterior variance over M candidates. Also the predictive quality on held-out
candidates (standardised RMSE and mean predictive log-likelihood), so a faster fit that
predicts worse is not taken for a win.

Run: ``.venv/bin/python bench/bench_exact_gp_botorch.py`` (writes results/exact_gp_botorch.json).
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from common import predictive_quality, save

from steerscope.datasets import get_dataset
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.models import ExactGPSurrogate, ModelSpec, make_surrogate
from steerscope.scalarizers import parse_scalarizer, target_map


def _botorch_fit_predict(
    X: np.ndarray, y: np.ndarray, Xc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    train_x = torch.as_tensor(X, dtype=torch.float64)
    train_y = torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)
    model = SingleTaskGP(
        train_x,
        train_y,
        input_transform=Normalize(d=X.shape[1]),
        outcome_transform=Standardize(m=1),
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    model.eval()
    means, variances = [], []
    with torch.no_grad():
        for chunk in torch.as_tensor(Xc, dtype=torch.float64).split(4096):
            posterior = model.posterior(chunk)
            means.append(posterior.mean.reshape(-1))
            variances.append(posterior.variance.reshape(-1))
    return torch.cat(means).numpy(), torch.cat(variances).numpy()


def main(n_train: int = 100, repeats: int = 3, seed: int = 0) -> dict[str, object]:
    torch.set_num_threads(1)
    dataset = get_dataset("plasmonic_nanoparticles")
    image = dataset.image
    descriptors = extract_descriptors(
        np.asarray(image.overview, np.float32), DescriptorSpec(patch_size=16)
    )
    spec = parse_scalarizer(dataset.default_scalarizer)
    truth_map = target_map(spec, image)
    pixels = descriptors.pixels
    truth = truth_map[pixels[:, 0], pixels[:, 1]]
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"steerscope": [], "botorch": []}
    for r in range(repeats):
        train = rng.choice(pixels.shape[0], n_train, replace=False)
        # the engine's exact GP sees its own PCA of the patches; give BoTorch the same inputs
        ours = make_surrogate(ModelSpec(kind="exact_gp"), seed=r)
        assert isinstance(ours, ExactGPSurrogate)
        t0 = time.perf_counter()
        ours.fit(descriptors.features[train], truth[train])
        mean, var = ours.posterior(descriptors.features)
        ours_s = time.perf_counter() - t0
        rows["steerscope"].append({"seconds": ours_s, **predictive_quality(mean, var, truth)})
        X = torch.as_tensor(descriptors.features, dtype=torch.float64)
        Z = ours._features(X).numpy()  # the same PCA + z-scoring the engine's GP uses
        t0 = time.perf_counter()
        mean_b, var_b = _botorch_fit_predict(Z[train], truth[train], Z)
        bo_s = time.perf_counter() - t0
        rows["botorch"].append({"seconds": bo_s, **predictive_quality(mean_b, var_b, truth)})
    summary = {
        name: {key: float(np.median([row[key] for row in values])) for key in values[0]}
        for name, values in rows.items()
    }
    summary["ratio_seconds_botorch_over_steerscope"] = (
        summary["botorch"]["seconds"] / summary["steerscope"]["seconds"]
    )
    result = {
        "n_train": n_train,
        "n_candidates": int(pixels.shape[0]),
        "repeats": repeats,
        **summary,
    }
    save("exact_gp_botorch", result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
