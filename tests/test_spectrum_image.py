"""SpectrumImage, EnergyAxis and the grid mapping between overview and spectra."""

import numpy as np
import pytest

from steerscope import EnergyAxis, SignalKind, SpectrumImage
from steerscope.errors import DataError


def make_image(big=(8, 12), small=(4, 6), channels=5):
    overview = np.arange(big[0] * big[1], dtype=float).reshape(big)
    spectra = np.arange(small[0] * small[1] * channels, dtype=float).reshape(*small, channels)
    return SpectrumImage(overview, spectra, EnergyAxis(channels, 10.0, 0.5))


def test_energy_axis_values_and_index():
    axis = EnergyAxis(5, offset=1.0, scale=0.25, units="keV")
    np.testing.assert_allclose(axis.values, [1.0, 1.25, 1.5, 1.75, 2.0])
    assert (axis.low, axis.high) == (1.0, 2.0)
    assert axis.index(1.3) == 1
    assert axis.index(99.0) == 4
    assert axis.to_ev(1.5) == 1500.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0, "offset": 0, "scale": 1}, "at least 1 channel"),
        ({"size": 3, "offset": 0, "scale": 0}, "positive number"),
        ({"size": 3, "offset": 0, "scale": 1, "units": "J"}, "must be one of eV, keV, V"),
    ],
)
def test_energy_axis_rejects_bad_calibration(kwargs, match):
    with pytest.raises(DataError, match=match):
        EnergyAxis(**kwargs)


def test_overview_pixels_map_to_the_spectrum_grid():
    image = make_image()
    grid = image.to_spectrum_grid([[0, 0], [1, 1], [7, 11], [4, 6]])
    np.testing.assert_array_equal(grid, [[0, 0], [0, 0], [3, 5], [2, 3]])
    np.testing.assert_array_equal(image.spectra_at([[7, 11]])[0], image.spectra[3, 5])


def test_overview_map_upsamples_by_the_same_mapping():
    image = make_image()
    small = np.arange(24.0).reshape(4, 6)
    big = image.overview_map(small)
    assert big.shape == (8, 12)
    rc = image.to_spectrum_grid([[5, 9]])[0]
    assert big[5, 9] == small[rc[0], rc[1]]


def test_points_outside_the_overview_are_refused():
    with pytest.raises(DataError, match=r"pixel \(8, 0\) lies outside the 8×12 overview"):
        make_image().spectra_at([[1, 1], [8, 0]])


@pytest.mark.parametrize(
    ("overview", "spectra", "match"),
    [
        (np.zeros((2, 4, 4)), np.zeros((4, 4, 3)), "must be 2-D"),
        (np.zeros((4, 4)), np.zeros((4, 3)), "3-D array"),
        (np.zeros((4, 4)), np.zeros((4, 4, 2)), "2 channels but the energy axis has 3"),
        (np.zeros((2, 2)), np.zeros((4, 4, 3)), "smaller than the spectrum grid"),
        (np.full((4, 4), np.nan), np.zeros((4, 4, 3)), "NaN or inf"),
    ],
)
def test_inconsistent_arrays_are_refused(overview, spectra, match):
    with pytest.raises(DataError, match=match):
        SpectrumImage(overview, spectra, EnergyAxis(3, 0.0, 1.0))


def test_repr_and_kind():
    image = make_image()
    assert image.signal_kind is SignalKind.EELS
    assert "overview=(8, 12)" in repr(image)
    assert image.n_channels == 5
