"""Acquisition: score candidates from the posterior ``(mean, var)`` and choose the next pixels.

Pure numpy; nothing here imports a model. See ``docs/architecture.md``.
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
from steerscope.acquisition.selection import allowed_mask, select_points

__all__ = [
    "ACQUISITIONS",
    "acquisition_scores",
    "allowed_mask",
    "expected_improvement",
    "max_variance",
    "random_scores",
    "raster_scores",
    "select_points",
    "thompson",
    "ucb",
]
