"""``MultiObjectiveSurrogate``: one surrogate per objective, for a vector target ``(n, k)``.

A scalarizer of kind ``multi`` gives ``k`` targets per measured pixel. This
model fits ``k`` independent surrogates of the kind a :class:`ModelSpec`
describes on the same descriptors, and returns the posterior of all of them
as ``(m, k)`` arrays: what the multi-objective acquisition functions in
:mod:`steerscope.acquisition.multi_objective` take.

Why independent models and not one shared deep-kernel feature extractor with
``k`` GP heads: independent models need no new training code (every warm-start,
cold-refit and standardisation rule of the single-objective surrogates holds
per objective), one objective's scale or noise cannot distort another's
features, and the objectives' posteriors are independent, which is exactly the
assumption of the analytic EHVI. The cost is ``k`` fits per step instead of
one. Measured (``bench/bench_multiobjective.py``, plasmonic, two objectives,
60 random training points, 1000 held-out, DKL defaults, median of 3 seeds, a
shared 2-core CPU): independent models fit in 1.0 s with held-out R^2 0.01
(tip modes, a needle-in-a-haystack target) and 0.66 (bulk plasmon); one
shared extractor with two GP heads fit in 0.8 s with R^2 -0.03 and 0.37. The
shared extractor is a little faster but gives up much of the easier
objective's accuracy, so independent models it is.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ModelError
from steerscope.models.base import Surrogate
from steerscope.models.spec import ModelSpec, make_surrogate

__all__ = ["MultiObjectiveSurrogate"]


def _objective_seed(seed: int, objective: int) -> int:
    """An independent 31-bit seed for objective ``objective`` derived from ``seed``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, objective]).generate_state(1)
    return int(state[0]) & 0x7FFF_FFFF


class MultiObjectiveSurrogate:
    """Independent surrogates, one per objective, on the same descriptors.

    Parameters
    ----------
    spec : ModelSpec
        Kind and training settings, shared by every objective's model.
    n_objectives : int
        Number of objectives ``k`` (columns of the target matrix), >= 1.
    seed : int, default 0
        Seed; objective ``j``'s model gets its own seed derived from it, so the
        models' initialisations are independent but reproducible.

    Attributes
    ----------
    models_ : list of Surrogate
        The ``k`` fitted models, in objective order.
    n_features_in_ : int
        Feature count ``d`` seen at fit.
    """

    def __init__(self, spec: ModelSpec, n_objectives: int, seed: int = 0) -> None:
        self.spec = spec
        self.n_objectives = n_objectives
        self.seed = seed

    # -- public -------------------------------------------------------------------------

    @property
    def last_fit_info(self) -> dict[str, Any]:
        """Facts about the last fit (empty before the first fit).

        Keys: ``seconds`` (all models), ``n_points``, and ``objectives``: each model's
        own ``last_fit_info``.
        """
        return dict(getattr(self, "fit_info_", {}))

    def fit(self, X: ArrayLike, Y: ArrayLike, *, full: bool = False) -> Self:
        """Fit (or warm-start) every objective's model on the same features.

        Parameters
        ----------
        X : array_like of shape (n_points, n_features)
            Descriptors of the measured pixels.
        Y : array_like of shape (n_points, n_objectives)
            Measured targets, one column per objective.
        full : bool, default False
            Cold refit of every model (see the single-objective surrogates).

        Returns
        -------
        self
        """
        self._check_params()
        X_arr, Y_arr = self._check_training_data(X, Y)
        if not hasattr(self, "models_"):
            self.models_: list[Surrogate] = [
                make_surrogate(self.spec, seed=_objective_seed(self.seed, j))
                for j in range(self.n_objectives)
            ]
        infos: list[dict[str, Any]] = []
        for j, model in enumerate(self.models_):
            try:
                model.fit(X_arr, Y_arr[:, j], full=full)  # type: ignore[call-arg]
            except ModelError as error:
                raise ModelError(f"objective {j}: {error}") from error
            infos.append(dict(getattr(model, "last_fit_info", {})))
        self.n_features_in_ = X_arr.shape[1]
        self.X_train_ = X_arr
        self.Y_train_ = Y_arr
        self.fit_info_ = {
            "seconds": float(sum(info.get("seconds", 0.0) for info in infos)),
            "n_points": int(X_arr.shape[0]),
            "objectives": infos,
        }
        return self

    def refit_full(self) -> Self:
        """Cold-refit every model on the last training data."""
        if not hasattr(self, "X_train_"):
            raise ModelError(
                f"{type(self).__name__}.refit_full needs a previous fit; call fit(X, Y) first."
            )
        return self.fit(self.X_train_, self.Y_train_, full=True)

    def posterior(
        self, X: ArrayLike, *, pending: ArrayLike | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Posterior mean and variance of every objective.

        Parameters
        ----------
        X : array_like of shape (m, n_features)
            Candidate features.
        pending : array_like of shape (p, n_features), optional
            Points being measured now: every objective's model is conditioned on
            them at its predicted mean (kriging believer).

        Returns
        -------
        mean : ndarray of shape (m, n_objectives)
            In each objective's target units.
        var : ndarray of shape (m, n_objectives)
            In squared target units; objectives are independent (no covariance).
        """
        if not hasattr(self, "models_") or not hasattr(self, "fit_info_"):
            raise ModelError(
                f"{type(self).__name__}.posterior was called before fit; call fit(X, Y) with "
                "at least 2 measured points first."
            )
        X_arr = np.asarray(X, dtype=np.float64)
        believed = None if pending is None else np.asarray(pending, dtype=np.float64)
        means: list[NDArray[np.float64]] = []
        variances: list[NDArray[np.float64]] = []
        for model in self.models_:
            mean, var = model.posterior(X_arr, pending=believed)
            means.append(mean)
            variances.append(var)
        return np.stack(means, axis=1), np.stack(variances, axis=1)

    # -- internals ----------------------------------------------------------------------

    def _check_params(self) -> None:
        name = type(self).__name__
        if not isinstance(self.spec, ModelSpec):
            raise ModelError(
                f"{name} expects spec to be a ModelSpec; got {type(self.spec).__name__}. "
                "Build one with ModelSpec(kind='exact_gp') or ModelSpec.model_validate(dict)."
            )
        k = self.n_objectives
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ModelError(f"{name}: n_objectives must be an integer >= 1; got {k!r}.")

    def _check_training_data(
        self, X: ArrayLike, Y: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        name = type(self).__name__
        X_arr = np.asarray(X, dtype=np.float64)
        Y_arr = np.asarray(Y, dtype=np.float64)
        if Y_arr.ndim == 1 and self.n_objectives == 1:
            Y_arr = Y_arr[:, None]
        if Y_arr.ndim != 2 or Y_arr.shape[1] != self.n_objectives:
            raise ModelError(
                f"{name}.fit expects Y of shape (n_points, {self.n_objectives}), one column per "
                f"objective; got shape {Y_arr.shape}. Pass the multi-output scalarizer's matrix, "
                "or build the model with the scalarizer's n_outputs."
            )
        if X_arr.ndim != 2 or X_arr.shape[0] != Y_arr.shape[0]:
            raise ModelError(
                f"{name}.fit expects X of shape (n_points, n_features) with as many rows as Y "
                f"({Y_arr.shape[0]}); got X of shape {X_arr.shape}."
            )
        if not np.all(np.isfinite(Y_arr)):
            bad = np.argwhere(~np.isfinite(Y_arr))
            raise ModelError(
                f"{name}.fit expects finite targets; got {bad.shape[0]} NaN or infinite values "
                f"(first at row {int(bad[0, 0])}, objective {int(bad[0, 1])}). Check the "
                "scalarizer (e.g. a ratio with a zero denominator) or drop those points."
            )
        return X_arr, Y_arr
