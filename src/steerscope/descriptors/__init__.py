"""Descriptors: one feature vector per candidate pixel, cut from overview patches.

``extract_descriptors(overview, DescriptorSpec(patch_size=16))`` gives
:class:`Descriptors` with ``features (M, d)`` and ``pixels (M, 2)``.
"""

from steerscope.descriptors.patches import Descriptors, extract_descriptors
from steerscope.descriptors.spec import MAX_PATCH_SIZE, MIN_PATCH_SIZE, DescriptorSpec

__all__ = [
    "MAX_PATCH_SIZE",
    "MIN_PATCH_SIZE",
    "DescriptorSpec",
    "Descriptors",
    "extract_descriptors",
]
