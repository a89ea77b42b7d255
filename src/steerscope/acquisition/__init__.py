"""Acquisition: score candidates from the posterior ``(mean, var)`` and choose the next pixels.

Pure numpy (BoTorch, loaded on first use, for hypervolume and EHVI); nothing here imports a
model. Multi-objective scores take ``(mean, var)`` of shape ``(m, k)``. See
``docs/architecture.md``.
"""

from steerscope.acquisition.functions import (
    acquisition_scores,
    expected_improvement,
    max_variance,
    random_scores,
    raster_scores,
    space_filling_scores,
    thompson,
    ucb,
)
from steerscope.acquisition.multi_objective import (
    chebyshev_scores,
    default_reference_point,
    expected_hypervolume_improvement,
    hypervolume,
    multi_objective_scores,
    pareto_front,
    weighted_sum_scores,
)
from steerscope.acquisition.registry import (
    AcquisitionInfo,
    ScoringInputs,
    acquisition_info,
    acquisitions_for,
    default_acquisition,
    register_acquisition,
    score_candidates,
)
from steerscope.acquisition.selection import allowed_mask, select_points

ACQUISITIONS: tuple[str, ...] = acquisitions_for(1)
"""Every registered single-target acquisition (after the modules above registered theirs)."""

MO_ACQUISITIONS: tuple[str, ...] = acquisitions_for(2)
"""Every registered multi-objective acquisition, EHVI (the default) first."""

__all__ = [
    "ACQUISITIONS",
    "MO_ACQUISITIONS",
    "AcquisitionInfo",
    "ScoringInputs",
    "acquisition_info",
    "acquisition_scores",
    "acquisitions_for",
    "allowed_mask",
    "chebyshev_scores",
    "default_acquisition",
    "default_reference_point",
    "expected_hypervolume_improvement",
    "expected_improvement",
    "hypervolume",
    "max_variance",
    "multi_objective_scores",
    "pareto_front",
    "random_scores",
    "raster_scores",
    "register_acquisition",
    "score_candidates",
    "select_points",
    "space_filling_scores",
    "thompson",
    "ucb",
    "weighted_sum_scores",
]
