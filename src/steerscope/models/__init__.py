"""Surrogate models: descriptors ``(n, d)`` → posterior mean and variance of the target.

``DKLSurrogate`` (neural feature extractor + exact GP, the default) and
``ExactGPSurrogate`` (GP on the descriptors, the fast baseline) both follow the
:class:`Surrogate` protocol; ``make_surrogate(ModelSpec(...), seed)`` builds one
from configuration.
"""

from steerscope.models.base import Surrogate
from steerscope.models.dkl import WARM_STARTS, DKLSurrogate
from steerscope.models.exact_gp import ExactGPSurrogate
from steerscope.models.spec import ModelSpec, make_surrogate

__all__ = [
    "WARM_STARTS",
    "DKLSurrogate",
    "ExactGPSurrogate",
    "ModelSpec",
    "Surrogate",
    "make_surrogate",
]
