"""Scalarizers: declarative specs that turn spectra ``(n, C)`` into targets ``(n,)``.

Build one with :func:`parse_scalarizer` from a dict or YAML, apply it with
``spec.apply(spectra, energy)``, store it with :func:`scalarizer_to_yaml`.
"""

from steerscope.scalarizers.base import ScalarizerBase, Window, WindowScalarizerBase
from steerscope.scalarizers.edx import EdxLineSpec, xray_line_energy_kev, xray_line_fwhm_kev
from steerscope.scalarizers.formula import FORMULA_FUNCTIONS, FormulaSpec
from steerscope.scalarizers.maps import target_map, target_maps
from steerscope.scalarizers.preference import PreferenceSpec
from steerscope.scalarizers.resonance import SHOFitSpec, fit_sho
from steerscope.scalarizers.similarity import SimilaritySpec, reference_from_spectra
from steerscope.scalarizers.spec import (
    SCALARIZER_KINDS,
    MultiSpec,
    ScalarizerSpec,
    ScalarSpec,
    parse_scalarizer,
    scalarizer_to_yaml,
)
from steerscope.scalarizers.window import (
    BackgroundSubtractedAreaSpec,
    PeakPositionSpec,
    PeakProminenceSpec,
    WindowMaxSpec,
    WindowRatioSpec,
    WindowSumSpec,
)

__all__ = [
    "FORMULA_FUNCTIONS",
    "SCALARIZER_KINDS",
    "BackgroundSubtractedAreaSpec",
    "EdxLineSpec",
    "FormulaSpec",
    "MultiSpec",
    "PeakPositionSpec",
    "PeakProminenceSpec",
    "PreferenceSpec",
    "SHOFitSpec",
    "ScalarSpec",
    "ScalarizerBase",
    "ScalarizerSpec",
    "SimilaritySpec",
    "Window",
    "WindowMaxSpec",
    "WindowRatioSpec",
    "WindowScalarizerBase",
    "WindowSumSpec",
    "fit_sho",
    "parse_scalarizer",
    "reference_from_spectra",
    "scalarizer_to_yaml",
    "target_map",
    "target_maps",
    "xray_line_energy_kev",
    "xray_line_fwhm_kev",
]
