"""SimulatedMicroscope: grid mapping, counting noise, seeding, FOV refusal, drift, faults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from steerscope.data import SpectrumImage
from steerscope.errors import ConfigError, InstrumentError
from steerscope.instruments import (
    FaultPlan,
    InstrumentDisconnectedError,
    InstrumentFaultError,
    InstrumentTimeoutError,
    Measurement,
    Microscope,
    Overview,
    SimulatedMicroscope,
)
from steerscope.types import EnergyAxis, SignalKind

ENERGY = EnergyAxis(size=5, offset=10.0, scale=2.0, units="eV")


def make_image() -> SpectrumImage:
    """An 8×8 overview over a 4×4 spectrum grid; spectrum (r, c) = (10r + c) * [1..5]."""
    overview = np.arange(64, dtype=np.float64).reshape(8, 8)
    base = np.arange(1, 6, dtype=np.float64)
    spectra = np.array([[(10 * r + c) * base for c in range(4)] for r in range(4)])
    return SpectrumImage(
        overview,
        spectra,
        ENERGY,
        signal_kind=SignalKind.EELS,
        pixel_size=0.5,
        pixel_units="nm",
        metadata={"source": "unit-test"},
    )


def expected_spectrum(row: int, col: int) -> np.ndarray:
    return (10 * (row // 2) + col // 2) * np.arange(1, 6, dtype=np.float64)


def test_is_a_microscope_and_serves_the_overview() -> None:
    sim = SimulatedMicroscope(make_image())
    assert isinstance(sim, Microscope)
    overview = sim.overview()
    assert isinstance(overview, Overview)
    assert overview.image.shape == (8, 8) and overview.image.dtype == np.float32
    assert overview.image[7, 7] == 63.0
    assert (overview.pixel_size, overview.pixel_units) == (0.5, "nm")
    assert overview.metadata["source"] == "unit-test"


def test_acquire_maps_overview_pixels_to_the_spectrum_grid() -> None:
    sim = SimulatedMicroscope(make_image(), dwell_time_s=0.05)
    measurement = sim.acquire([[0, 0], [3, 5], [7, 7]])
    assert isinstance(measurement, Measurement)
    np.testing.assert_array_equal(measurement.points, [[0, 0], [3, 5], [7, 7]])
    assert measurement.points.dtype == np.int64
    np.testing.assert_array_equal(
        measurement.spectra,
        [expected_spectrum(0, 0), expected_spectrum(3, 5), [33, 66, 99, 132, 165]],
    )
    assert measurement.energy == ENERGY and measurement.signal_kind is SignalKind.EELS
    assert measurement.dwell_time_s == 0.05
    assert measurement.acquired_at.shape == (3,)
    assert np.all(np.diff(measurement.acquired_at) >= 0)
    assert measurement.metadata["simulated_elapsed_s"] == pytest.approx(0.15)
    assert sim.n_acquired == 3 and sim.total_dwell_s == pytest.approx(0.15)


def test_dwell_ratio_scales_expected_counts_without_noise() -> None:
    sim = SimulatedMicroscope(make_image(), dwell_time_s=0.03, reference_dwell_s=0.01)
    np.testing.assert_allclose(sim.acquire([[2, 2]]).spectra[0], 3 * expected_spectrum(2, 2))


def test_poisson_noise_mean_matches_expected_counts_times_dwell_ratio() -> None:
    sim = SimulatedMicroscope(
        make_image(), dwell_time_s=0.02, reference_dwell_s=0.01, noise=True, seed=3
    )
    points = np.tile([[6, 6]], (4000, 1))  # spectrum (3, 3): 33 * [1..5]
    spectra = sim.acquire(points).spectra
    expected = 2 * 33 * np.arange(1, 6)
    assert np.all(spectra == np.round(spectra))  # counts are integers
    np.testing.assert_allclose(spectra.mean(axis=0), expected, rtol=0.02)
    np.testing.assert_allclose(spectra.var(axis=0), expected, rtol=0.1)  # Poisson: var = mean


def test_noise_is_reproducible_from_the_seed() -> None:
    points = [[1, 1], [5, 6]]
    a = SimulatedMicroscope(make_image(), noise=True, seed=7).acquire(points).spectra
    b = SimulatedMicroscope(make_image(), noise=True, seed=7).acquire(points).spectra
    c = SimulatedMicroscope(make_image(), noise=True, seed=8).acquire(points).spectra
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_out_of_field_of_view_refuses_whole_batch_without_side_effects() -> None:
    sim = SimulatedMicroscope(make_image(), noise=True, seed=1, drift_px_per_step=(1, 0))
    reference = SimulatedMicroscope(make_image(), noise=True, seed=1, drift_px_per_step=(1, 0))
    with pytest.raises(
        InstrumentError,
        match=r"point \(2, 8\) \(index 1 of 3\) lies outside the field of view: "
        r"rows must be in \[0, 7\] and cols in \[0, 7\]",
    ):
        sim.acquire([[0, 0], [2, 8], [-1, 0]])
    with pytest.raises(InstrumentError, match=r"point \(-1, 0\)"):
        sim.acquire([[-1, 0]])
    assert sim.n_acquired == 0 and sim.total_dwell_s == 0.0 and sim.drift_offset == (0.0, 0.0)
    # The noise stream did not move either: the next batch equals a fresh simulator's.
    np.testing.assert_array_equal(
        sim.acquire([[4, 4]]).spectra, reference.acquire([[4, 4]]).spectra
    )


def test_malformed_points_are_refused() -> None:
    sim = SimulatedMicroscope(make_image())
    with pytest.raises(InstrumentError, match=r"shape \(n, 2\)"):
        sim.acquire([[1, 2, 3]])
    with pytest.raises(InstrumentError, match=r"integer \(row, col\) pixels; got \(1.5, 2.0\)"):
        sim.acquire([[1.5, 2.0]])
    assert sim.acquire(np.zeros((0, 2))).spectra.shape == (0, 5)
    assert sim.n_acquired == 0


def test_drift_moves_where_the_beam_lands_and_is_clipped() -> None:
    sim = SimulatedMicroscope(make_image(), drift_px_per_step=(2.0, -1.5))
    first = sim.acquire([[0, 0]])
    assert first.metadata["actual_points"] == [[0, 0]]
    second = sim.acquire([[0, 4]])
    np.testing.assert_array_equal(second.points, [[0, 4]])  # what was asked
    assert second.metadata["actual_points"] == [[2, 2]]  # 0+2, round(4-1.5)=2
    np.testing.assert_array_equal(second.spectra[0], expected_spectrum(2, 2))
    third = sim.acquire([[7, 0]])
    assert third.metadata["actual_points"] == [[7, 0]]  # clipped to the field of view
    assert third.metadata["drift_offset"] == [4.0, -3.0]


def test_faults_fire_on_the_planned_acquisitions_and_clear_after_fail_times() -> None:
    plan = FaultPlan(
        timeout_on_calls={2}, disconnect_on_calls={3}, error_on_calls={4}, fail_times=2
    )
    sim = SimulatedMicroscope(make_image(), faults=plan, drift_px_per_step=(1, 0))
    sim.acquire([[0, 0]])
    for _ in range(2):
        with pytest.raises(InstrumentTimeoutError, match=r"simulated timeout.*acquisition 2"):
            sim.acquire([[0, 0]])
    assert sim.n_acquired == 1 and sim.drift_offset == (1.0, 0.0)  # no side effects
    assert sim.acquire([[0, 0]]).metadata["actual_points"] == [[1, 0]]
    with pytest.raises(InstrumentDisconnectedError, match="link to the microscope dropped"):
        sim.acquire([[0, 0]])
    with pytest.raises(ConnectionError):  # also the builtin, for generic retry code
        sim.acquire([[0, 0]])
    sim.acquire([[0, 0]])
    with pytest.raises(InstrumentFaultError, match="detector reported a failure"):
        sim.acquire([[0, 0]])
    assert sim.describe()["n_faults"] == 5
    assert sim.describe()["n_acquired"] == 3


def test_timeout_is_both_an_instrument_error_and_a_builtin_timeout() -> None:
    sim = SimulatedMicroscope(make_image(), faults=FaultPlan(timeout_on_calls={1}, fail_times=None))
    for _ in range(3):
        with pytest.raises(TimeoutError):
            sim.acquire([[0, 0]])
    with pytest.raises(InstrumentError):
        sim.acquire([[0, 0]])


def test_fault_plan_validates_its_arguments() -> None:
    with pytest.raises(ConfigError, match="counts acquisitions from 1"):
        FaultPlan(timeout_on_calls={0})
    with pytest.raises(ConfigError, match=r"acquisitions \[3\] are in both"):
        FaultPlan(timeout_on_calls={3}, disconnect_on_calls={3})
    with pytest.raises(ConfigError, match="fail_times must be an integer >= 1 or None"):
        FaultPlan(fail_times=0)


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ConfigError, match="dwell_time_s must be a positive number"):
        SimulatedMicroscope(make_image(), dwell_time_s=0)
    with pytest.raises(ConfigError, match="needs a SpectrumImage"):
        SimulatedMicroscope(np.zeros((4, 4)))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="drift_px_per_step must be two finite numbers"):
        SimulatedMicroscope(make_image(), drift_px_per_step=(1.0,))  # type: ignore[arg-type]


def test_describe_is_json_serialisable_and_complete() -> None:
    sim = SimulatedMicroscope(
        make_image(),
        dwell_time_s=0.02,
        noise=True,
        drift_px_per_step=(0.5, 0.0),
        faults=FaultPlan(timeout_on_calls={9}),
    )
    sim.acquire([[1, 1], [2, 2]])
    description = json.loads(json.dumps(sim.describe()))
    assert description["driver"] == "simulator"
    assert description["source"] == "unit-test"
    assert description["overview_shape"] == [8, 8]
    assert description["spectrum_shape"] == [4, 4]
    assert description["energy"] == {"size": 5, "offset": 10.0, "scale": 2.0, "units": "eV"}
    assert description["signal_kind"] == "EELS"
    assert description["dwell_time_s"] == 0.02 and description["noise"] is True
    assert description["drift_px_per_step"] == [0.5, 0.0]
    assert description["faults"]["timeout_on_calls"] == [9]
    assert description["n_acquired"] == 2
    assert description["total_dwell_s"] == pytest.approx(0.04)


def test_acquisition_delay_sleeps_per_point() -> None:
    sim = SimulatedMicroscope(make_image(), acquisition_delay_s=0.02)
    measurement = sim.acquire([[0, 0], [1, 1], [2, 2]])
    assert measurement.acquired_at[-1] - measurement.acquired_at[0] >= 0.035
    assert measurement.metadata["delay_s"] == pytest.approx(0.06)


def test_close_is_idempotent_and_later_calls_fail() -> None:
    sim = SimulatedMicroscope(make_image())
    sim.close()
    sim.close()
    with pytest.raises(InstrumentError, match="was closed; create a new one"):
        sim.acquire([[0, 0]])
    with pytest.raises(InstrumentError, match="was closed"):
        sim.overview()
    assert sim.describe()["closed"] is True
