"""Surrogate models: descriptors ``(n, d)`` → posterior mean and variance of the target.

``DKLSurrogate`` (neural feature extractor + exact GP, the default) and
``ExactGPSurrogate`` (GP on the descriptors, the fast baseline) both follow the
:class:`Surrogate` protocol; ``make_surrogate(ModelSpec(...), seed)`` builds one
from configuration. ``MultiObjectiveSurrogate`` fits one of them per objective of a
vector target ``(n, k)``.
"""

from steerscope.models.base import Surrogate
from steerscope.models.dkl import WARM_STARTS, DKLSurrogate
from steerscope.models.exact_gp import ExactGPSurrogate
from steerscope.models.multi_objective import MultiObjectiveSurrogate
from steerscope.models.spec import ModelSpec, make_surrogate

__all__ = [
    "WARM_STARTS",
    "DKLSurrogate",
    "ExactGPSurrogate",
    "ModelSpec",
    "MultiObjectiveSurrogate",
    "Surrogate",
    "make_surrogate",
]
