"""``ModelSpec``: the surrogate's settings as data (round-trips through YAML with the config)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from steerscope.errors import ModelError
from steerscope.models.base import Surrogate
from steerscope.models.dkl import DKLSurrogate
from steerscope.models.exact_gp import ExactGPSurrogate

__all__ = ["ModelSpec", "make_surrogate"]


class ModelSpec(BaseModel):
    """Which surrogate to use and how to train it.

    Fields that only one kind uses are ignored by the other (each field's
    description says which kind reads it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: Literal["dkl", "exact_gp"] = Field(
        "dkl",
        description="'dkl': neural feature extractor + GP (default); 'exact_gp': GP directly on "
        "the descriptor features (fast baseline).",
    )
    kernel: Literal["rbf", "matern52"] | None = Field(
        None,
        description="GP base kernel (ARD, scaled): 'rbf' or 'matern52' (Matérn-5/2); None uses "
        "the kind's default (dkl 'rbf', exact_gp 'matern52').",
    )
    latent_dim: int = Field(2, ge=1, le=64, description="dkl: latent dimensions the GP sees.")
    hidden: tuple[Annotated[int, Field(ge=1, le=4096)], ...] = Field(
        (64, 32),
        min_length=1,
        description="dkl: hidden layer widths of the MLP (the CNN uses the last one); each 1-4096.",
    )
    extractor: Literal["mlp", "cnn"] = Field(
        "mlp",
        description="dkl: 'mlp' on flattened patches, or 'cnn' on raw square patches (no PCA).",
    )
    patch_shape: tuple[int, int] | None = Field(
        None, description="dkl with cnn: (h, w) of the patches; inferred when square."
    )
    warm_start: Literal["reset_gp", "continue", "cold"] = Field(
        "reset_gp",
        description="dkl: what a warm fit keeps. 'reset_gp' keeps the network and re-initialises "
        "the GP hyperparameters; 'continue' keeps everything; 'cold' refits from scratch "
        "every time.",
    )
    warm_iterations: int = Field(
        100, ge=1, description="dkl: maximum Adam steps of a warm fit (stops early on a plateau)."
    )
    cold_iterations: int = Field(400, ge=1, description="dkl: Adam steps of a cold fit.")
    refit_every: int = Field(
        10, ge=0, description="dkl: every n-th fit after a cold one is cold again (0: never)."
    )
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=10.0,
        description="Adam step size; None uses the kind's default (dkl 0.01, exact_gp 0.1).",
    )
    patience: int = Field(
        20, ge=0, description="Warm fits stop after this many steps without improvement."
    )
    exact_iterations: int = Field(50, ge=1, description="exact_gp: Adam steps per fit.")
    n_components: int | None = Field(
        10,
        ge=1,
        description="exact_gp: PCA of the training features to this many components before "
        "the GP (an exact GP on raw 256-d patches fits a flat mean); None keeps all features.",
    )
    pretrain: bool = Field(
        False,
        description="dkl with the mlp extractor: pre-train the network without labels as an "
        "autoencoder of every candidate's patch (about a second, once per campaign and "
        "descriptor) and start each cold fit from it instead of random weights.",
    )
    n_threads: int | None = Field(
        1,
        ge=1,
        description="Torch threads while fitting/predicting (restored after); None leaves "
        "torch's setting alone. One is fastest at these sizes and on a busy CPU.",
    )


def make_surrogate(spec: ModelSpec, seed: int) -> Surrogate:
    """Build the surrogate ``spec`` describes.

    Parameters
    ----------
    spec : ModelSpec
        Kind and training settings.
    seed : int
        Seed for weight initialisation and training randomness.

    Returns
    -------
    Surrogate
        A :class:`DKLSurrogate` or an :class:`ExactGPSurrogate`, not yet fitted.
    """
    if spec.kind == "exact_gp":
        return ExactGPSurrogate(
            kernel=spec.kernel or "matern52",
            iterations=spec.exact_iterations,
            learning_rate=spec.learning_rate if spec.learning_rate is not None else 0.1,
            n_components=spec.n_components,
            patience=spec.patience,
            n_threads=spec.n_threads,
            seed=seed,
        )
    return DKLSurrogate(
        latent_dim=spec.latent_dim,
        hidden=spec.hidden,
        kernel=spec.kernel or "rbf",
        extractor=spec.extractor,
        patch_shape=spec.patch_shape,
        warm_iterations=spec.warm_iterations,
        cold_iterations=spec.cold_iterations,
        refit_every=spec.refit_every,
        warm_start=spec.warm_start,
        learning_rate=spec.learning_rate if spec.learning_rate is not None else 0.01,
        patience=spec.patience,
        n_threads=spec.n_threads,
        seed=seed,
        pretrain=spec.pretrain,
    )


def check_buildable(spec: ModelSpec, n_features: int) -> None:
    """Build once what in ``spec`` depends on the feature size, before a campaign starts.

    A model that cannot work with the descriptors is refused then, instead of every
    step falling back to a random choice.

    Parameters
    ----------
    spec : ModelSpec
    n_features : int
        Length ``d`` of each descriptor vector.

    Raises
    ------
    ModelError
        If the feature extractor cannot take ``d`` features (a CNN on a non-square patch,
        a ``patch_shape`` that does not hold ``d`` pixels).
    """
    if spec.kind == "dkl" and spec.pretrain and spec.extractor != "mlp":
        raise ModelError(
            "model.pretrain is for the MLP extractor; set extractor: mlp or pretrain: false."
        )
    if spec.kind != "dkl" or spec.extractor != "cnn":
        return
    from steerscope.models.dkl import make_extractor

    make_extractor(
        "cnn",
        int(n_features),
        tuple(spec.hidden),
        int(spec.latent_dim),
        None if spec.patch_shape is None else (int(spec.patch_shape[0]), int(spec.patch_shape[1])),
    )
