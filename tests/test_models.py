"""Surrogate models: fit quality, uncertainty, warm start, determinism, protocol, errors."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from steerscope.errors import ModelError
from steerscope.models import (
    DKLSurrogate,
    ExactGPSurrogate,
    ModelSpec,
    Surrogate,
    make_surrogate,
)
from steerscope.models._gp import LengthscalePrior


def smooth(X: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * X[:, 0]) + np.cos(2.0 * X[:, 1])


@pytest.fixture(scope="module")
def smooth_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, size=(40, 2))
    X_test = rng.uniform(-0.8, 0.8, size=(300, 2))
    return X, smooth(X), X_test


FAR = np.array([[4.0, 4.0], [-4.0, 4.0], [4.0, -4.0]])


@pytest.fixture(scope="module")
def fitted_dkl(smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> DKLSurrogate:
    X, y, _ = smooth_data
    return DKLSurrogate(seed=1).fit(X, y)


# --- fit quality and uncertainty -----------------------------------------------------


def test_exact_gp_recovers_smooth_function(
    smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    X, y, X_test = smooth_data
    model = ExactGPSurrogate(seed=0).fit(X, y)
    mean, var = model.posterior(X_test)
    assert mean.dtype == np.float64 and var.dtype == np.float64
    assert mean.shape == var.shape == (300,)
    assert np.mean(np.abs(mean - smooth(X_test))) < 0.05
    assert np.max(np.abs(mean - smooth(X_test))) < 0.3
    _, var_train = model.posterior(X)
    _, var_far = model.posterior(FAR)
    assert var_train.max() < 0.01 * y.var()
    assert var_far.min() > 0.5 * y.var()
    assert np.all(var_train >= 1e-12)


def test_dkl_recovers_smooth_function(
    fitted_dkl: DKLSurrogate, smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    X, y, X_test = smooth_data
    mean, _ = fitted_dkl.posterior(X_test)
    assert np.mean(np.abs(mean - smooth(X_test))) < 0.15
    _, var_train = fitted_dkl.posterior(X)
    _, var_far = fitted_dkl.posterior(FAR)
    assert var_train.max() < 0.02 * y.var()
    assert var_far.min() > 10 * var_train.max()
    assert fitted_dkl.transform(X).shape == (40, 2)
    info = fitted_dkl.last_fit_info
    assert info["kind"] == "cold"
    assert info["iterations"] == 400
    assert info["n_points"] == 40
    assert info["loss"] < info["initial_loss"]
    assert info["seconds"] > 0


def test_posterior_in_original_units() -> None:
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(25, 3))
    y = smooth(X) + X[:, 2]
    X_query = rng.uniform(-1, 1, size=(50, 3))
    base_mean, base_var = ExactGPSurrogate().fit(X, y).posterior(X_query)
    mean, var = ExactGPSurrogate().fit(X, 1000.0 * y + 5e4).posterior(X_query)
    np.testing.assert_allclose(mean, 1000.0 * base_mean + 5e4, rtol=1e-6)
    np.testing.assert_allclose(var, 1e6 * base_var, rtol=1e-5, atol=1e-6)


def test_posterior_batches_match_single_rows() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4))
    y = X[:, 0] - X[:, 1] ** 2
    model = ExactGPSurrogate(iterations=20).fit(X, y)
    X_query = rng.normal(size=(4096 + 37, 4))
    mean, var = model.posterior(X_query)
    last_mean, last_var = model.posterior(X_query[-37:])
    np.testing.assert_allclose(mean[-37:], last_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(var[-37:], last_var, rtol=1e-9, atol=1e-12)


def test_exact_gp_own_pca() -> None:
    # Speed is measured in bench/bench_latency.py, not asserted here.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 10))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    candidates = rng.normal(size=(16_000, 10))
    reduced = ExactGPSurrogate(n_components=3).fit(X, y)
    assert reduced.input_components_.shape == (3, 10)
    mean, _ = reduced.posterior(candidates[:10])
    assert mean.shape == (10,)


def test_cnn_extractor_on_square_patches() -> None:
    rng = np.random.default_rng(6)
    patches = rng.normal(size=(20, 64))
    y = patches[:, :32].mean(axis=1)
    model = DKLSurrogate(extractor="cnn", cold_iterations=30, seed=2).fit(patches, y)
    mean, var = model.posterior(patches[:5])
    assert mean.shape == var.shape == (5,)
    assert model.extractor_.patch_shape == (8, 8)  # type: ignore[union-attr]
    with pytest.raises(ModelError, match=r"patch_shape \(4, 4\) has 16 pixels but the features"):
        DKLSurrogate(extractor="cnn", patch_shape=(4, 4)).fit(patches, y)
    with pytest.raises(ModelError, match=r"got 10 features, which is not a square patch"):
        DKLSurrogate(extractor="cnn").fit(patches[:, :10], y)


# --- warm start, refits, determinism ---------------------------------------------------


@pytest.mark.parametrize("warm_start", ["reset_gp", "continue"])
def test_warm_fit_starts_from_previous_weights(
    warm_start: str, smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    X, y, _ = smooth_data
    model = DKLSurrogate(warm_start=warm_start, cold_iterations=200, seed=0)  # type: ignore[arg-type]
    model.fit(X[:30], y[:30])
    cold = model.last_fit_info
    model.fit(X, y)
    warm = model.last_fit_info
    assert cold["kind"] == "cold" and warm["kind"] == "warm"
    assert warm["iterations"] <= 100 < cold["iterations"]
    # The trained network carries over: with the same number of steps, a fresh network
    # ends at a clearly worse marginal likelihood than the warm-started one.
    fresh = DKLSurrogate(cold_iterations=warm["iterations"], seed=0).fit(X, y).last_fit_info
    assert warm["loss"] < fresh["loss"] - 0.1


def test_cold_refit_schedule(smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    X, y, _ = smooth_data
    model = DKLSurrogate(refit_every=2, cold_iterations=5, warm_iterations=5, patience=0)
    kinds = []
    for n in (10, 12, 14, 16):
        model.fit(X[:n], y[:n])
        kinds.append(model.last_fit_info["kind"])
    assert kinds == ["cold", "warm", "cold", "warm"]
    model.fit(X, y, full=True)
    assert model.last_fit_info["kind"] == "cold"
    model.refit_full()
    assert model.last_fit_info["kind"] == "cold"
    assert model.n_cold_fits_ == 4 and model.n_fits_ == 6
    # A new feature count (e.g. a new patch size) forces a cold fit.
    model.fit(np.hstack([X, X]), y)
    assert model.last_fit_info["kind"] == "cold"
    always_cold = DKLSurrogate(warm_start="cold", cold_iterations=5)
    always_cold.fit(X[:10], y[:10]).fit(X, y)
    assert always_cold.last_fit_info["kind"] == "cold"


def test_exact_gp_warm_and_full() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 2))
    y = X[:, 0]
    model = ExactGPSurrogate(iterations=10)
    assert model.fit(X, y).last_fit_info["kind"] == "cold"
    assert model.fit(X, y).last_fit_info["kind"] == "warm"
    assert model.refit_full().last_fit_info["kind"] == "cold"


def test_dkl_is_deterministic_given_seed(
    smooth_data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    X, y, X_test = smooth_data
    torch.manual_seed(1234)
    expected_global = torch.rand(3)
    torch.manual_seed(1234)
    first = DKLSurrogate(cold_iterations=60, seed=7).fit(X, y).posterior(X_test)
    # fit must leave torch's global random stream untouched.
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected_global.numpy())
    second = DKLSurrogate(cold_iterations=60, seed=7).fit(X, y).posterior(X_test)
    other = DKLSurrogate(cold_iterations=60, seed=8).fit(X, y).posterior(X_test)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.allclose(first[0], other[0])


def test_fit_restores_torch_thread_count() -> None:
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = DKLSurrogate(cold_iterations=3, n_threads=1).fit(X, y)
        model.posterior(X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


# --- protocol and spec ------------------------------------------------------------------


def test_models_satisfy_protocol_and_spec_builds_them() -> None:
    assert isinstance(DKLSurrogate(), Surrogate)
    assert isinstance(ExactGPSurrogate(), Surrogate)
    dkl = make_surrogate(ModelSpec(), seed=3)
    assert isinstance(dkl, DKLSurrogate)
    assert (dkl.seed, dkl.kernel, dkl.learning_rate, dkl.warm_start) == (3, "rbf", 0.01, "reset_gp")
    spec = ModelSpec(kind="exact_gp", kernel="rbf", exact_iterations=7, n_components=4)
    exact = make_surrogate(spec, seed=5)
    assert isinstance(exact, ExactGPSurrogate)
    assert (exact.kernel, exact.iterations, exact.n_components, exact.learning_rate) == (
        "rbf",
        7,
        4,
        0.1,
    )
    default_exact = make_surrogate(ModelSpec(kind="exact_gp", n_threads=None), seed=0)
    assert isinstance(default_exact, ExactGPSurrogate)
    assert default_exact.kernel == "matern52"
    assert default_exact.n_threads is None


def test_model_spec_round_trips_and_rejects_unknowns() -> None:
    spec = ModelSpec(latent_dim=3, hidden=(16, 8), warm_start="continue", learning_rate=0.02)
    assert ModelSpec.model_validate(spec.model_dump()) == spec
    assert ModelSpec.model_validate_json(spec.model_dump_json()) == spec
    assert ModelSpec.model_fields["warm_start"].description
    with pytest.raises(pydantic.ValidationError, match="latent_dimension"):
        ModelSpec.model_validate({"latent_dimension": 3})
    with pytest.raises(pydantic.ValidationError, match="kind"):
        ModelSpec.model_validate({"kind": "svgp"})


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", [DKLSurrogate, ExactGPSurrogate])
def test_fit_and_posterior_errors(model_class: type) -> None:
    model = model_class()
    name = model_class.__name__
    X = np.zeros((5, 3))
    with pytest.raises(ModelError, match=rf"{name}.posterior was called before fit"):
        model.posterior(X)
    with pytest.raises(ModelError, match=r"needs at least 2 measured points; got 1"):
        model.fit(X[:1], np.zeros(1))
    with pytest.raises(ModelError, match=r"X with 5 rows and y with 4 values"):
        model.fit(X, np.zeros(4))
    with pytest.raises(ModelError, match=r"X of shape \(n_points, n_features\)"):
        model.fit(np.zeros(5), np.zeros(5))
    with pytest.raises(ModelError, match=r"y of shape \(n_points,\); got shape \(5, 2\)"):
        model.fit(X, np.zeros((5, 2)))
    with pytest.raises(ModelError, match=r"finite targets; got 1 non-finite .*row 2: nan"):
        model.fit(X, np.array([0.0, 1.0, np.nan, 2.0, 3.0]))
    with pytest.raises(ModelError, match=r"refit_full needs a previous fit"):
        model.refit_full()


def test_posterior_shape_errors_and_bad_settings() -> None:
    rng = np.random.default_rng(8)
    model = ExactGPSurrogate(iterations=5).fit(rng.normal(size=(6, 3)), rng.normal(size=6))
    with pytest.raises(ModelError, match=r"X of shape \(m, 3\) like the fitted data; got shape"):
        model.posterior(np.zeros((4, 2)))
    with pytest.raises(ModelError, match=r"non-finite entries"):
        model.posterior(np.full((1, 3), np.inf))
    with pytest.raises(ModelError, match=r"kernel must be one of rbf, matern52; got 'cosine'"):
        DKLSurrogate(kernel="cosine").fit(np.zeros((3, 2)), np.arange(3.0))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"warm_start must be one of .*; got 'sometimes'"):
        DKLSurrogate(warm_start="sometimes").fit(np.zeros((3, 2)), np.arange(3.0))  # type: ignore[arg-type]


def test_constant_targets_do_not_break_the_fit() -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(8, 2))
    mean, var = ExactGPSurrogate(iterations=10).fit(X, np.full(8, 3.5)).posterior(X)
    np.testing.assert_allclose(mean, 3.5, atol=1e-6)
    assert np.all(var >= 1e-12)


def peaked(u: np.ndarray) -> np.ndarray:
    """A smooth background with one narrow hot spot on the unit square ``u (n, 2)``."""
    hot = 4.0 * np.exp(-((u[:, 0] - 0.7) ** 2 + (u[:, 1] - 0.3) ** 2) / (2 * 0.12**2))
    return 1.0 + 0.5 * np.sin(3.0 * u[:, 0]) + hot


@pytest.mark.parametrize("seed", [2, 4])
def test_exact_gp_mean_is_informative_after_a_campaign_of_warm_fits(seed: int) -> None:
    # A campaign refits as points come in, warm, on its own 10-component PCA. Without a
    # lengthscale prior one lengthscale collapsed to ~0 (r = 0.01 and -0.01 for these
    # seeds): every point isolated, the mean flat. A 2-D peaked function, embedded in
    # 20-d features, must stay learnable.
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(430, 2))
    X = u @ rng.normal(size=(2, 20)) + 0.02 * rng.normal(size=(430, 20))
    y = peaked(u) + 0.02 * rng.normal(size=430)
    model = ExactGPSurrogate(n_components=10, seed=0)
    for n in range(5, 31, 3):
        model.fit(X[:n], y[:n])
    model.fit(X[:30], y[:30])
    mean, _ = model.posterior(X[30:])
    assert np.corrcoef(mean, peaked(u[30:]))[0, 1] > 0.5
    # Features are z-scored: pairs are ~4.5 apart, so a lengthscale under 0.3 isolates them.
    assert model.head_.lengthscale.min() > 0.3
    info = model.head_.hyperparameters()
    assert len(info["lengthscale"]) == 10 and info["noise"] >= 1e-4


def test_dim_scaled_lengthscale_prior() -> None:
    # BoTorch's LogNormal(sqrt(2) + log(d)/2, sqrt(3)) on the unit cube, moved to z-scored
    # inputs (standard deviation sqrt(12) times the cube's): mode exp(loc - 3).
    prior = LengthscalePrior.dim_scaled(4)
    assert prior.loc == pytest.approx(np.sqrt(2) + np.log(2.0) + np.log(np.sqrt(12.0)))
    assert prior.mode == pytest.approx(np.exp(np.sqrt(2) - 3.0) * 2.0 * np.sqrt(12.0))
    ls = torch.tensor([0.5, 2.0], dtype=torch.float64)
    expected = torch.distributions.LogNormal(prior.loc, prior.scale).log_prob(ls).sum()
    assert float(prior.log_prob(ls)) == pytest.approx(float(expected))


def test_exact_gp_own_pca_refits_while_the_first_points_come_in() -> None:
    # Fewer rows than n_components: the projection grows with each point, and a warm
    # refit must not reuse a kernel of the old dimension.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 20))
    y = X[:, 0] - X[:, 1]
    model = ExactGPSurrogate(n_components=10)
    for n in range(5, 13):
        model.fit(X[:n], y[:n])
        mean, var = model.posterior(X)
        assert mean.shape == var.shape == (12,)
    assert model.input_components_.shape == (10, 20)
