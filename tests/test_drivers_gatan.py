"""Gatan adapter against a fake DigitalMicrograph: DigiScan coordinates, EELS with calibration."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from steerscope.errors import InstrumentError
from steerscope.instruments import Microscope
from steerscope.instruments.client import RemoteMicroscope
from steerscope.instruments.drivers.gatan import DigiScanCalibration, GatanMicroscope
from steerscope.instruments.server import MicroscopeServer
from steerscope.testing import beam_marker_sample
from steerscope.testing import fake_digitalmicrograph as fake_dm
from steerscope.types import EnergyAxis, SignalKind

pytestmark = pytest.mark.timeout(60)

H, W, C = 6, 10, 64  # non-square scan


@pytest.fixture
def dm(monkeypatch: pytest.MonkeyPatch):
    return fake_dm.install(monkeypatch, *beam_marker_sample(H, W, C))


def test_pixel_to_digiscan_conversion() -> None:
    cal = DigiScanCalibration(
        h_offset=100.0, h_center=5.0, h_spacing=2.0, v_offset=50.0, v_center=3.0, v_spacing=4.0
    )
    ds = cal.pixels_to_ds([[0, 0], [2, 7], [5, 9]])
    # ds_x = (100 − 5·2) + col·2 ; ds_y = (50 − 3·4) + row·4
    np.testing.assert_allclose(ds, [[90.0, 38.0], [104.0, 46.0], [108.0, 58.0]])
    np.testing.assert_array_equal(cal.ds_to_pixels(ds), [[0, 0], [2, 7], [5, 9]])


def test_overview_reads_digiscan_tags(dm) -> None:
    scope = GatanMicroscope(overview_size=(H, W), rotation_deg=12.5)
    assert isinstance(scope, Microscope)
    ov = scope.overview()
    assert ov.image.shape == (H, W)
    assert ov.pixel_size == 0.25 and ov.pixel_units == "nm"
    assert scope.calibration_ == DigiScanCalibration(100.0, 5.0, 2.0, 50.0, 3.0, 4.0)
    assert "scan rotation=12.5" in dm.state.log
    assert dm.state.params == {}  # DigiScan parameters deleted after use


def test_acquire_moves_in_digiscan_coordinates_and_returns_calibration(dm) -> None:
    scope = GatanMicroscope(overview_size=(H, W), exposure_s=0.05)
    scope.overview()
    dm.state.log.clear()
    m = scope.acquire([[2, 7], [5, 0]])
    assert dm.state.log == ["unblank", "move 104 46", "eels 2 7", "move 90 58", "eels 5 0", "blank"]
    np.testing.assert_allclose(m.spectra[:, 0], [2007.0, 5000.0])  # rows summed back
    np.testing.assert_allclose(m.spectra[:, 1], [1.0, 1.0])
    # DM calibration (origin 40 px, 0.5 eV/px) → channel 0 at −20 eV
    assert m.energy == EnergyAxis(C, -20.0, 0.5, "eV")
    assert m.signal_kind is SignalKind.EELS
    assert m.dwell_time_s == 0.05
    assert dm.state.deleted_images == 2
    assert dm.state.blanked


def test_acquire_checks(dm) -> None:
    scope = GatanMicroscope(overview_size=(H, W))
    with pytest.raises(InstrumentError, match="needs an overview first"):
        scope.acquire([[0, 0]])
    scope.overview()
    with pytest.raises(InstrumentError, match="inside the 6×10 overview"):
        scope.acquire([[6, 0]])
    scope.close()
    assert dm.state.blanked
    with pytest.raises(InstrumentError, match="closed"):
        scope.overview()


def test_missing_tags_are_reported(dm) -> None:
    scope = GatanMicroscope(overview_size=(H, W))
    original = dm.state.DS_StartAcquisition

    def no_tags(*args: object) -> None:
        original(*args)
        dm.state.images[7]._tags = fake_dm._TagGroup({})

    dm.DS_StartAcquisition = no_tags
    with pytest.raises(InstrumentError, match="no tag 'DigiScan:Horizontal DS Offset'"):
        scope.overview()


def test_outside_gms_import_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "DigitalMicrograph", None)
    with pytest.raises(InstrumentError, match="inside Gatan Microscopy Suite"):
        GatanMicroscope()


def test_served_like_any_microscope(dm) -> None:
    with MicroscopeServer(GatanMicroscope(overview_size=(H, W))) as server:
        remote = RemoteMicroscope(server.uri, retries=0)
        remote.overview()
        m = remote.acquire([[3, 3]])
        assert m.spectra[0, 0] == pytest.approx(3003.0)
        assert m.energy.offset == -20.0
        assert remote.describe()["digiscan"]["h_spacing"] == 2.0
        remote.close()
