"""Nion adapter against a real headless nionswift-usim session (HAADF scan, parked probe, EELS)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from steerscope.errors import InstrumentError
from steerscope.instruments import Microscope
from steerscope.instruments.drivers.nion import NionMicroscope, nion_scan_frame

pytestmark = pytest.mark.timeout(120)


def test_probe_position_conversion_non_square_and_rotated() -> None:
    overview = nion_scan_frame((48, 64), 100.0, (0.0, 0.0), 0.0)
    assert overview.pixel_size == pytest.approx(100.0 / 64)
    # same scan: pixel centres as (y, x) fractions
    same = overview.pixels_to_fractions_of([[0, 0], [47, 63]], overview)
    np.testing.assert_allclose(same, [[0.5 / 48, 0.5 / 64], [47.5 / 48, 63.5 / 64]])
    # a square 256×256 context of the same 100 nm: the 48-row overview covers only 75 nm of it
    context = nion_scan_frame((256, 256), 100.0, (0.0, 0.0), 0.0)
    frac = overview.pixels_to_fractions_of([[0, 0]], context)
    np.testing.assert_allclose(frac, [[(0.5 - 24) * 1.5625 / 100 + 0.5, 0.0078125]])
    # a context rotated by 90°: the overview's top-right corner is the context's top-left
    square = nion_scan_frame((8, 8), 8.0, (0.0, 0.0), 0.0)
    rotated = nion_scan_frame((8, 8), 8.0, (0.0, 0.0), np.pi / 2)
    np.testing.assert_allclose(square.pixels_to_fractions_of([[0, 7]], rotated), [[1 / 16, 1 / 16]])
    # a context shifted by 4 nm in x sees the overview's column 0 left of its edge
    shifted = nion_scan_frame((8, 8), 8.0, (0.0, 4.0), 0.0)
    with pytest.raises(InstrumentError, match="outside the current scan field of view"):
        square.pixels_to_fractions_of([[0, 0]], shifted)


def test_usim_overview_and_eels_at_points(usim: Any) -> None:
    scope = NionMicroscope.from_registry(overview_size=(48, 64), pixel_time_us=1.0, exposure_ms=5)
    assert isinstance(scope, Microscope)
    ov = scope.overview()
    assert ov.image.shape == (48, 64)
    assert ov.pixel_units == "nm"
    assert ov.pixel_size == pytest.approx(ov.metadata["fov_nm"] / 64)
    assert np.isfinite(ov.image).all() and ov.image.std() > 0

    points = np.array([[10, 20], [40, 5]])
    m = scope.acquire(points)
    assert m.spectra.shape == (2, 512)
    assert np.all(m.spectra.sum(axis=1) > 0)
    assert m.energy.offset == pytest.approx(-20.0) and m.energy.scale == pytest.approx(1.0)
    assert m.energy.units == "eV"
    expected = scope.probe_positions(points)
    probe = usim.probe_position
    assert (probe.y, probe.x) == pytest.approx(tuple(expected[-1]))
    assert usim.probe_state == "parked"
    assert scope.describe()["overview_shape"] == [48, 64]
    scope.close()


def test_usim_ten_steps_choose_next_by_score(usim: Any) -> None:
    """A minimal closed loop: score = HAADF brightness, never revisit, 10 acquisitions."""
    scope = NionMicroscope(usim, overview_size=(16, 16), pixel_time_us=1.0, exposure_ms=2)
    image = scope.overview().image
    score = image.astype(np.float64).copy()
    visited: list[tuple[int, int]] = []
    totals = []
    for _ in range(10):
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        m = scope.acquire([[row, col]])
        totals.append(float(m.spectra.sum()))
        visited.append((int(row), int(col)))
        score[row, col] = -np.inf
    assert len(set(visited)) == 10
    assert visited[0] == np.unravel_index(int(np.argmax(image)), image.shape)
    assert all(np.isfinite(totals)) and min(totals) > 0
    scope.close()
