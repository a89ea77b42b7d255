"""Every registered driver, built on steerscope.testing's doubles, keeps the Microscope contract.

A new driver registers itself with ``on_test_doubles`` and is tested here with no
edit to this file: the protocol, a JSON description, the overview, the frame
conversion (the beam lands on the pixel asked for), the refusals and ``close``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from steerscope.errors import InstrumentError
from steerscope.instruments import Microscope
from steerscope.instruments.base import can_set_dwell
from steerscope.instruments.registry import DriverInfo, driver_info, driver_names, make_driver

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=driver_names())
def built(request: pytest.FixtureRequest) -> Iterator[tuple[DriverInfo, Microscope, bool]]:
    info = driver_info(request.param)
    if info.on_test_doubles is None:
        pytest.fail(f"driver {info.name!r} registers no on_test_doubles; conformance untested")
    try:
        context = info.on_test_doubles()
        scope, marks_pixels = context.__enter__()
    except ImportError as exc:  # the nion doubles need the optional nionswift-usim
        pytest.skip(f"{info.name}: {exc}")
    try:
        yield info, scope, marks_pixels
    finally:
        context.__exit__(None, None, None)


def test_registry_lists_every_driver_once() -> None:
    names = driver_names()
    assert names[0] == "sim"
    assert {"sim", "nion", "autoscript", "gatan"} <= set(names)
    assert len(set(names)) == len(names)
    with pytest.raises(InstrumentError, match=r"unknown driver 'jeol'; choose one of sim, "):
        make_driver("jeol")


def test_is_a_microscope_with_a_json_description(built) -> None:
    info, scope, _ = built
    assert isinstance(scope, Microscope), info.name
    json.dumps(scope.describe())


def test_overview_is_a_calibrated_image(built) -> None:
    _, scope, _ = built
    overview = scope.overview()
    image = np.asarray(overview.image)
    assert image.ndim == 2 and min(image.shape) >= 2
    assert np.isfinite(image).all()
    assert overview.pixel_size > 0 and overview.pixel_units


def test_the_beam_lands_on_the_pixel_asked_for(built) -> None:
    info, scope, marks_pixels = built
    height, width = np.asarray(scope.overview().image).shape
    points = np.array([[0, 0], [height - 1, width - 1], [height // 2, 1], [1, width - 2]])
    measurement = scope.acquire(points)
    np.testing.assert_array_equal(measurement.points, points)
    assert measurement.spectra.shape == (4, measurement.energy.size)
    assert np.asarray(measurement.acquired_at).shape == (4,)
    assert measurement.dwell_time_s > 0
    if marks_pixels:
        # channel 0 of the doubles' sample is 1000 * row + col of the cell under the beam
        expected = 1000 * points[:, 0] + points[:, 1]
        np.testing.assert_allclose(measurement.spectra[:, 0], expected, err_msg=info.name)


@pytest.mark.parametrize(
    "points", [[[-1, 0]], [[0, 10_000]], [[0, 0, 0]]], ids=["row<0", "col>W", "not (n, 2)"]
)
def test_refuses_points_outside_or_misshapen(built, points) -> None:
    _, scope, _ = built
    scope.overview()
    with pytest.raises(InstrumentError):
        scope.acquire(points)


def test_a_driver_that_can_change_its_dwell_takes_the_next_spectra_at_it(built) -> None:
    info, scope, _ = built
    if not can_set_dwell(scope):
        pytest.skip(f"{info.name} keeps its dwell (policy.dwell is refused on it)")
    scope.overview()
    before = float(scope.acquire([[0, 0]]).dwell_time_s)
    scope.set_dwell(2 * before)
    assert scope.acquire([[1, 1]]).dwell_time_s == pytest.approx(2 * before), info.name
    with pytest.raises(InstrumentError, match="positive number of seconds"):
        scope.set_dwell(0.0)


def test_close_is_idempotent(built) -> None:
    _, scope, _ = built
    scope.overview()
    scope.close()
    scope.close()


def test_a_campaign_runs_on_the_shipped_fake_microscope(tmp_path) -> None:
    from steerscope.campaign import Campaign
    from steerscope.testing import fake_microscope

    config = {
        "scalarizer": {"kind": "window_sum", "window": [18.0, 22.0]},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "descriptor": {"patch_size": 4},
        "seed_points": {"kind": "grid", "n": 4},
        "budget": {"measurements": 6},
    }
    with Campaign.create(config, tmp_path / "r.sqlite", instrument=fake_microscope()) as c:
        c.run()
        assert c.n_measured == 6 and c.done
        # the tiny image's particle carries the 20 eV peak: the window sees it
        assert c.best_target() > 5 * 10.0


def test_steerscope_drivers_lists_every_registered_driver() -> None:
    from typer.testing import CliRunner

    from steerscope.cli import app

    result = CliRunner().invoke(app, ["drivers"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert listed == list(driver_names())
