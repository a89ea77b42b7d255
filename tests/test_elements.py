"""X-ray lines and EELS edges by element, for the spectrum views' markers."""

from __future__ import annotations

import pytest

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.elements import element_markers


def test_a_kev_axis_gets_xray_lines_and_an_ev_axis_gets_edges() -> None:
    edx = dict(
        (label, energy) for energy, label in element_markers(["Fe"], units="keV", low=0, high=10)
    )
    assert edx["Fe Kα"] == pytest.approx(6.404, abs=1e-3)
    eels = element_markers([" O ", "Fe", ""], units="eV", low=400, high=800)
    assert [label for _, label in eels] == ["O K", "Fe L3", "Fe L2"]
    assert [energy for energy, _ in eels] == sorted(energy for energy, _ in eels)


def test_a_word_that_is_not_an_element_says_how_to_write_one() -> None:
    with pytest.raises(ScalarizerError, match="'iron' is not a chemical element; write symbols"):
        element_markers(["iron"], units="keV", low=0, high=10)
    with pytest.raises(ScalarizerError, match="'FE'"):
        element_markers(["FE"], units="keV", low=0, high=10)


def test_a_spectrum_view_marks_the_lines() -> None:
    import numpy as np

    from steerscope.ui import figures

    markers = element_markers(["Fe"], units="keV", low=0.0, high=10.0)
    fig = figures.spectrum_figure(np.linspace(0, 10, 11), {"a": np.ones(11)}, markers=markers)
    lines = [s.x0 for s in fig.layout.shapes if s.type == "line"]
    assert 6.4039 in lines and "Fe Kα" in [a.text for a in fig.layout.annotations]
