"""Acquisition: score candidates from the posterior ``(mean, var)`` and choose the next pixels.

Pure numpy (BoTorch, loaded on first use, for hypervolume and EHVI); nothing here imports a
model. Multi-objective scores take ``(mean, var)`` of shape ``(m, k)``. See
``docs/architecture.md``.
"""

from steerscope.acquisition.functions import (
    ACQUISITIONS,
    acquisition_scores,
    expected_improvement,
    max_variance,
    random_scores,
    raster_scores,
    thompson,
    ucb,
)
from steerscope.acquisition.multi_objective import (
    MO_ACQUISITIONS,
    chebyshev_scores,
    default_reference_point,
    expected_hypervolume_improvement,
    hypervolume,
    multi_objective_scores,
    pareto_front,
    weighted_sum_scores,
)
from steerscope.acquisition.selection import allowed_mask, select_points

__all__ = [
    "ACQUISITIONS",
    "MO_ACQUISITIONS",
    "acquisition_scores",
    "allowed_mask",
    "chebyshev_scores",
    "default_reference_point",
    "expected_hypervolume_improvement",
    "expected_improvement",
    "hypervolume",
    "max_variance",
    "multi_objective_scores",
    "pareto_front",
    "random_scores",
    "raster_scores",
    "select_points",
    "thompson",
    "ucb",
    "weighted_sum_scores",
]
