"""AutoScript adapter against a faithful fake of the SDK: x = column, EDX, blanking, rotation."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from steerscope.errors import InstrumentError
from steerscope.instruments import Microscope
from steerscope.instruments.client import RemoteMicroscope
from steerscope.instruments.drivers.autoscript import (
    AutoScriptMicroscope,
    autoscript_to_pixels,
    pixels_to_autoscript,
)
from steerscope.instruments.safety import SafeMicroscope, SafetyLimits
from steerscope.instruments.server import MicroscopeServer, make_driver
from steerscope.testing import beam_marker_sample, fake_autoscript
from steerscope.types import SignalKind

pytestmark = pytest.mark.timeout(60)

H, W, C = 4, 8, 32
# channel 0 of the sample says where the beam landed: 1000 * row + col (times 4, summed
# back over the fake's segments)


@pytest.fixture
def scope(monkeypatch: pytest.MonkeyPatch) -> AutoScriptMicroscope:
    fake_autoscript.install(monkeypatch, *beam_marker_sample(H, W, C))
    return AutoScriptMicroscope.connect(as_host="scope-pc", haadf_size=8, eds_exposure_s=0.5)


def test_pixel_to_fraction_conversion_non_square() -> None:
    xy = pixels_to_autoscript([[0, 0], [1, 3], [3, 7]], (4, 8))
    np.testing.assert_allclose(xy, [[0.5 / 8, 0.5 / 4], [3.5 / 8, 1.5 / 4], [7.5 / 8, 3.5 / 4]])
    back = autoscript_to_pixels(xy, (4, 8))
    np.testing.assert_array_equal(back, [[0, 0], [1, 3], [3, 7]])


def test_is_a_microscope_and_reads_haadf(scope: AutoScriptMicroscope) -> None:
    assert isinstance(scope, Microscope)
    client = scope.client
    assert client.connected_to == ("scope-pc", 9095)
    ov = scope.overview()
    assert ov.image.shape == (8, 8)
    assert ov.pixel_size == pytest.approx(100.0 / 8)  # 100 nm field of view, metres → nm
    assert ov.pixel_units == "nm"
    assert scope.describe()["overview_shape"] == [8, 8]


def test_x_is_the_column_regression(scope: AutoScriptMicroscope) -> None:
    """The public notebook passed a row as x; steerscope must park at [col, row]."""
    scope.overview()
    m = scope.acquire([[2, 6]])
    # (2, 6) of the 8×8 overview lies over sample cell (row 1, col 6); swapped it would be (3, 2)
    assert m.spectra[0, 0] == pytest.approx(1006.0)
    assert "park 0.8125 0.3125" in scope.client.log
    pos = scope.client.optics.paused_scan_beam_position
    assert (pos.x, pos.y) == (0.8125, 0.3125)


def test_edx_spectrum_calibration_and_super_x_sum(scope: AutoScriptMicroscope) -> None:
    scope.overview()
    m = scope.acquire([[0, 0], [7, 7]])
    assert m.signal_kind is SignalKind.EDX
    assert m.spectra.shape == (2, C)
    np.testing.assert_allclose(m.spectra[:, 1], [1.0, 1.0])  # four segments summed back
    assert m.spectra[1, 0] == pytest.approx(3007.0)
    assert m.energy.scale == 10.0 and m.energy.offset == 0.0 and m.energy.units == "eV"
    assert m.dwell_time_s == 0.5


def test_blank_unblank_around_each_batch(scope: AutoScriptMicroscope) -> None:
    scope.overview()
    scope.client.log.clear()
    scope.acquire([[0, 0], [0, 1]])
    log = [entry.split()[0] for entry in scope.client.log]
    assert log == ["unblank", "park", "eds", "park", "eds", "blank"]
    assert scope.client.optics.blanker.is_beam_blanked
    scope.close()
    scope.close()  # idempotent
    assert scope.client.connected_to is None
    with pytest.raises(InstrumentError, match="closed"):
        scope.overview()


def test_acquire_before_overview_is_refused(scope: AutoScriptMicroscope) -> None:
    with pytest.raises(InstrumentError, match="needs an overview first"):
        scope.acquire([[0, 0]])


def test_scan_rotation_changed_after_overview(scope: AutoScriptMicroscope) -> None:
    scope.overview()
    scope.client.optics.scan_rotation = np.pi / 2
    scope.acquire([[0, 7]])
    # top-right pixel of the unrotated overview is the top-left of the 90°-rotated scan
    assert "park 0.0625 0.0625" in scope.client.log


def test_served_through_safety_and_loopback(scope: AutoScriptMicroscope) -> None:
    safe = SafeMicroscope(scope, SafetyLimits(max_dwell_time_s=1.0, max_acquisitions=3))
    with MicroscopeServer(safe) as server:
        remote = RemoteMicroscope(server.uri, retries=0)
        assert remote.overview().image.shape == (8, 8)
        m = remote.acquire([[2, 6]])
        assert m.spectra[0, 0] == pytest.approx(1006.0)
        assert remote.describe()["safety"]["n_acquired"] == 1
        remote.close()


def test_make_driver_and_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_autoscript.install(monkeypatch, *beam_marker_sample(H, W, C))
    driver = make_driver("autoscript", as_host="10.0.0.2", as_port=9093, haadf_size=16)
    assert isinstance(driver, AutoScriptMicroscope)
    assert driver.client.connected_to == ("10.0.0.2", 9093)
    monkeypatch.setitem(sys.modules, "autoscript_tem_microscope_client", None)
    with pytest.raises(InstrumentError, match="not on PyPI"):
        AutoScriptMicroscope.connect()
    with pytest.raises(InstrumentError, match="unknown driver 'jeol'"):
        make_driver("jeol")
