"""The Nanonis SPM adapter on the fake ``nanonis_spm``: frames, tip positions, sweeps, errors."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from steerscope.campaign import Campaign
from steerscope.errors import InstrumentError
from steerscope.instruments.drivers.nanonis import NanonisMicroscope
from steerscope.testing import beam_marker_sample, fake_nanonis
from steerscope.types import SignalKind


def _scope(monkeypatch: pytest.MonkeyPatch, **fake_options) -> NanonisMicroscope:
    spectra, topography = beam_marker_sample(12, 12, 16)
    module = fake_nanonis.install(monkeypatch, spectra, topography, **fake_options)
    return NanonisMicroscope(module.Nanonis(None))


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, -110.0])
@pytest.mark.parametrize("scan_up", [True, False])
def test_the_tip_lands_on_the_pixel_asked_for_in_a_rotated_frame(
    angle_deg: float, scan_up: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = _scope(monkeypatch, angle_deg=angle_deg, scan_up=scan_up)
    overview = scope.overview()
    _, topography = beam_marker_sample(12, 12, 16)
    np.testing.assert_array_equal(overview.image, topography)  # row 0 the top, either way
    assert overview.pixel_size == pytest.approx(50 / 12) and overview.pixel_units == "nm"
    points = np.array([[0, 0], [11, 11], [3, 9], [10, 2]])
    measurement = scope.acquire(points)
    np.testing.assert_allclose(measurement.spectra[:, 0], 1000 * points[:, 0] + points[:, 1])
    assert measurement.signal_kind is SignalKind.STS
    assert measurement.energy.units == "V" and measurement.energy.offset == pytest.approx(-1.0)


def test_a_campaign_runs_on_the_nanonis_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "scalarizer": {"kind": "window_sum", "window": [-1.0, -0.8]},  # channel 0: the marker
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "descriptor": {"patch_size": 4},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 6},
    }
    scope = _scope(monkeypatch, angle_deg=15.0)
    with Campaign.create(config, tmp_path / "stm.sqlite", instrument=scope) as campaign:
        campaign.run()
        assert campaign.n_measured == 6
    # one tip move per curve, nothing measured twice
    assert len(sys.modules["nanonis_spm"].sample.moves) == 6


def test_errors_name_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    scope = _scope(monkeypatch)
    with pytest.raises(InstrumentError, match=r"needs an overview first"):
        scope.acquire([[0, 0]])
    scope.overview()
    with pytest.raises(InstrumentError, match=r"inside the 12×12 overview"):
        scope.acquire([[12, 0]])
    scope.signal = "OC M1 Freq. Shift (Hz)"
    with pytest.raises(InstrumentError, match=r"records no 'OC M1 Freq\. Shift \(Hz\)'.*Current"):
        scope.acquire([[1, 1]])
    scope.topography_channel = 5
    with pytest.raises(
        InstrumentError, match=r"Nanonis Scan\.FrameDataGrab failed: channel 5 is not in the"
    ):
        scope.overview()
    scope.close()
    scope.close()
    with pytest.raises(InstrumentError, match="closed"):
        scope.overview()


def test_connect_opens_a_tcp_connection_and_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        monkeypatch.setitem(sys.modules, "nanonis_spm", None)  # as if not installed
        with pytest.raises(InstrumentError, match="pip install nanonis-spm"):
            NanonisMicroscope.connect(port=port)
        monkeypatch.undo()
        spectra, topography = beam_marker_sample(4, 4, 8)
        fake_nanonis.install(monkeypatch, spectra, topography)
        scope = NanonisMicroscope.connect(host="127.0.0.1", port=port, signal="Current (A)")
        assert isinstance(scope.client.connection, socket.socket)
        assert scope.signal == "Current (A)"
        scope.close()
        assert scope.client.connection.fileno() == -1  # the socket was closed
    with pytest.raises(InstrumentError, match=r"cannot reach the Nanonis controller"):
        NanonisMicroscope.connect(host="127.0.0.1", port=port, timeout_s=2)
