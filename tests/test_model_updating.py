"""The candidate posterior: rank-one updates equal the exact GP conditioned on all the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steerscope.errors import ModelError
from steerscope.models import DKLSurrogate, ExactGPSurrogate
from steerscope.models._gp import batched_posterior
from steerscope.models.updating import CandidatePosterior


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 6))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.normal(size=300)
    return X, y


def _refit_free_posterior(model, X, train, y, pending=None):
    """The posterior the fitted hyperparameters give on ``train`` (+ believed ``pending``)."""
    with torch.no_grad():
        z = model._features(torch.from_numpy(X[train]))
        ys = torch.from_numpy((y - model.y_mean_) / model.y_std_)
        cache = model.head_.condition(z, ys)
        if pending is not None:
            zp = model._features(torch.from_numpy(X[pending]))
            believed, _ = model.head_.predict(cache, zp)
            cache = model.head_.condition(torch.cat([z, zp]), torch.cat([ys, believed]))
    return batched_posterior(model._features, model.head_, cache, X, model.y_mean_, model.y_std_)


@pytest.mark.parametrize("model_class", [DKLSurrogate, ExactGPSurrogate])
def test_updates_equal_the_exact_posterior_on_all_the_data(model_class) -> None:
    X, y = _data()
    kwargs = {"cold_iterations": 60} if model_class is DKLSurrogate else {}
    model = model_class(**kwargs).fit(X[:20], y[:20])
    post = CandidatePosterior.from_fit(model, X)
    assert post is not None
    m0, v0 = post.mean_var()
    np.testing.assert_allclose(m0, model.posterior(X)[0], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(v0, model.posterior(X)[1], rtol=1e-6, atol=1e-9)
    added = [40, 41, 200, 7, 299, 120]
    for i in added:
        post.add(i, float(y[i]))
    train = list(range(20)) + added
    mean, var = post.mean_var()
    exp_mean, exp_var = _refit_free_posterior(model, X, train, y[train])
    np.testing.assert_allclose(mean, exp_mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(var, exp_var, rtol=1e-5, atol=1e-8)
    assert post.n_points == 26 and post.n_updates == 6
    # points in flight, believed at their mean: the mean stays, the variance drops there
    pending = np.array([150, 151])
    b_mean, b_var = post.mean_var(pending)
    exp_mean, exp_var = _refit_free_posterior(model, X, train, y[train], pending)
    np.testing.assert_allclose(b_mean, mean)
    np.testing.assert_allclose(b_var, exp_var, rtol=1e-5, atol=1e-8)
    assert np.all(b_var[pending] < var[pending])
    # the surrogate may be refitted meanwhile: the candidate posterior keeps its own copy
    model.fit(X[:60], y[:60])
    np.testing.assert_allclose(post.mean_var()[0], mean)


def test_a_full_posterior_asks_for_a_refit_and_bad_targets_are_refused() -> None:
    X, y = _data(1)
    model = ExactGPSurrogate().fit(X[:10], y[:10])
    post = CandidatePosterior.from_fit(model, X, room=8)
    assert post is not None and post.room == 8
    with pytest.raises(ModelError, match="finite"):
        post.add(3, float("nan"))
    for i in range(20, 28):
        post.add(i, float(y[i]))
    with pytest.raises(ModelError, match="refit"):
        post.add(30, float(y[30]))
    with pytest.raises(ModelError, match="fit first"):
        CandidatePosterior.from_fit(ExactGPSurrogate(), X)


def test_pretraining_learns_the_patches_and_cold_fits_start_from_it() -> None:
    from steerscope.models import ModelSpec, make_surrogate
    from steerscope.models.spec import check_buildable

    rng = np.random.default_rng(0)
    # patches of two kinds (bright / dark halves) with noise: a 2-D code describes them
    kinds = rng.integers(0, 2, size=400)
    X = np.where(
        kinds[:, None] == 1, np.r_[np.ones(8), np.zeros(8)], np.r_[np.zeros(8), np.ones(8)]
    )
    X = X * rng.uniform(0.5, 1.5, size=(400, 1)) + 0.05 * rng.normal(size=(400, 16))
    model = make_surrogate(ModelSpec(kind="dkl", pretrain=True, cold_iterations=1), seed=3)
    assert model.needs_pretraining
    model.pretrain(X)
    assert not model.needs_pretraining
    assert model.pretrained_["loss"] < 0.5  # scaled patches have variance 1
    # a cold fit that barely trains keeps the pre-trained encoder (not random weights)
    model.fit(X[:5], kinds[:5].astype(float))
    for name, value in model.extractor_.state_dict().items():
        np.testing.assert_allclose(
            value.numpy(), model.pretrained_["state"][name].numpy(), atol=0.05
        )
    z = model.transform(X)
    gap = np.linalg.norm(z[kinds == 1].mean(0) - z[kinds == 0].mean(0))
    assert gap > 2 * z[kinds == 1].std(0).max()  # the two kinds lie apart in latent space
    with pytest.raises(ModelError, match="MLP"):
        check_buildable(ModelSpec(kind="dkl", pretrain=True, extractor="cnn"), 16)
