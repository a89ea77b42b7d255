"""Scanning-probe data: a dI/dV grid over a bias axis runs as any spectrum image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.campaign import Campaign, load_config
from steerscope.data import SpectrumImage
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError, DataError, InstrumentError, ScalarizerError
from steerscope.instruments.probe_simulator import SimulatedProbeMicroscope
from steerscope.scalarizers import fit_sho, parse_scalarizer
from steerscope.scalarizers.resonance import sho_amplitude
from steerscope.types import EnergyAxis, SignalKind, signal_axis_name
from steerscope.ui.figures import spectrum_figure


def test_the_sts_grid_is_reproducible_and_its_dopants_hide_in_the_topography() -> None:
    data = get_dataset("sts_dopants", seed=3)
    again = get_dataset("sts_dopants", seed=3)
    np.testing.assert_array_equal(data.image.spectra, again.image.spectra)
    assert data.image.signal_kind is SignalKind.STS
    assert data.image.energy.units == "V" and data.image.energy.quantity == "bias"
    assert data.image.spectra.shape == (64, 64, 200)
    target = parse_scalarizer(data.default_scalarizer).apply(
        data.image.spectra.reshape(-1, 200), data.image.energy
    )
    truth = data.ground_truth[::2, ::2].reshape(-1)  # the spectrum grid under the overview
    assert np.corrcoef(target, truth)[0, 1] > 0.95  # the default target measures the truth
    topography = data.image.overview.reshape(-1)
    assert abs(np.corrcoef(topography, data.ground_truth.reshape(-1))[0, 1]) < 0.3


def test_a_window_in_electronvolts_is_refused_on_a_bias_axis() -> None:
    bias = EnergyAxis(200, -1.0, 0.01, "V")
    spec = parse_scalarizer({"kind": "window_sum", "window": [300, 400], "units": "eV"})
    with pytest.raises(ScalarizerError, match="does not fit a signal axis in V"):
        spec.apply(np.ones((2, 200)), bias)
    with pytest.raises(DataError, match="must be one of eV, keV, V, mV, Hz"):
        EnergyAxis(10, 0.0, 1.0, "furlongs")


def test_a_campaign_runs_on_the_sts_grid_and_keeps_its_bias_axis(tmp_path: Path) -> None:
    config = {
        "source": {"dataset": "sts_dopants"},
        "scalarizer": {"kind": "window_sum", "window": [0.3, 0.4]},
        "model": {"kind": "exact_gp"},
        "budget": {"measurements": 8},
        "instrument": {"dwell_time_s": 0.5, "probe": {"tip_speed_nm_s": 20, "settle_s": 0.2}},
    }
    with Campaign.create(config, tmp_path / "sts.sqlite") as campaign:
        campaign.run()
        assert campaign.n_measured == 8
        probe = campaign.instrument.describe()
        assert probe["driver"] == "spm-sim" and probe["tip_speed_nm_s"] == 20
    from steerscope.records import CampaignRecord

    with CampaignRecord.open(tmp_path / "sts.sqlite", read_only=True) as record:
        measured = record.measurements()
        assert measured.energy is not None and measured.energy.units == "V"
        assert measured.signal_kind is SignalKind.STS
    # the tip's journey is in the instrument's clock: 8 sweeps, 8 settles and the travel
    assert probe["clock_s"] == pytest.approx(8 * (0.5 + 0.2) + probe["travel_nm"] / 20)
    assert probe["travel_nm"] > 0


def _grid(height: int = 10, width: int = 10) -> SpectrumImage:
    """A 1 nm-pixel grid whose curve's first channel is ``1000 * row + col``."""
    spectra = np.ones((height, width, 4))
    spectra[:, :, 0] = 1000 * np.arange(height)[:, None] + np.arange(width)[None, :]
    return SpectrumImage(
        np.zeros((height, width)), spectra, EnergyAxis(4, -1.0, 0.5, "V"), pixel_size=1.0
    )


def test_the_probe_pays_for_travel_and_drifts_with_time() -> None:
    stm = SimulatedProbeMicroscope(
        _grid(), tip_speed_nm_s=2.0, settle_s=0.5, dwell_time_s=1.0, drift_nm_per_s=(0.0, 0.25)
    )
    near = stm.acquire([[5, 6]])  # 1 nm from the centre (5, 5): 0.5 s + 0.5 s + 1 s
    assert near.metadata["simulated_elapsed_s"] == pytest.approx(2.0)
    far = stm.acquire([[5, 0]])  # 6 nm back: 3 s + 0.5 s + 1 s
    assert far.metadata["simulated_elapsed_s"] == pytest.approx(4.5)
    # 1 s into the run the drift was 0.25 nm (rounds to the same pixel); 5.5 s in it is
    # 1.375 nm to the right, so the curve comes from one pixel further along the row
    assert near.spectra[0, 0] == 5006 and far.spectra[0, 0] == 5001
    np.testing.assert_array_equal(far.points, [[5, 0]])  # the request, as a real tip reports
    assert far.metadata["actual_points"] == [[5, 1]]
    assert stm.clock_s == pytest.approx(6.5) and stm.travel_nm == pytest.approx(7.0)


def test_a_refused_probe_request_moves_nothing() -> None:
    stm = SimulatedProbeMicroscope(_grid(), tip_speed_nm_s=2.0)
    with pytest.raises(InstrumentError, match="outside the field of view"):
        stm.acquire([[1, 1], [10, 0]])
    assert stm.clock_s == 0 and stm.travel_nm == 0 and stm.tip_px.tolist() == [5, 5]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tip_speed_nm_s": 0}, "tip_speed_nm_s must be a positive speed"),
        ({"drift_nm_per_s": "fast"}, "drift_nm_per_s must be two finite numbers"),
        ({"drift_px_per_step": (1, 0)}, "a probe drifts with time"),
    ],
)
def test_the_probe_refuses_nonsense_settings(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SimulatedProbeMicroscope(_grid(), **options)


def test_a_config_refuses_a_probe_with_a_per_call_drift() -> None:
    with pytest.raises(ConfigError, match=r"set probe\.drift_nm_per_s, not drift_px_per_step"):
        load_config(
            {
                "source": {"dataset": "sts_dopants"},
                "scalarizer": {"kind": "window_sum", "window": [0.3, 0.4]},
                "instrument": {"probe": {}, "drift_px_per_step": [1, 0]},
            }
        )


def test_the_spectrum_view_labels_a_bias_axis_as_bias() -> None:
    figure = spectrum_figure(np.linspace(-1, 1, 5), {"dopant": np.ones(5)}, units="V")
    assert figure.layout.xaxis.title.text == "bias (V)"


FREQUENCY = np.linspace(300.0, 400.0, 80)


def test_the_sho_fit_recovers_the_resonance_exactly_and_within_noise() -> None:
    rng = np.random.default_rng(1)
    a0, f0, q = rng.uniform(0.5, 2, 500), rng.uniform(320, 380, 500), rng.uniform(40, 120, 500)
    clean = sho_amplitude(FREQUENCY, a0, f0, q)
    fitted = fit_sho(FREQUENCY, clean)
    for got, true in zip(fitted, (a0, f0, q), strict=True):
        np.testing.assert_allclose(got, true, rtol=1e-6)
    noisy = np.hypot(clean + rng.normal(0, 2.0, clean.shape), rng.normal(0, 2.0, clean.shape))
    amplitude, resonance, quality = fit_sho(FREQUENCY, noisy)
    assert np.median(np.abs(amplitude / a0 - 1)) < 0.05
    assert np.median(np.abs(resonance / f0 - 1)) < 0.002
    assert np.median(np.abs(quality / q - 1)) < 0.05


def test_a_curve_without_a_resonance_gets_its_peak_estimate_not_nonsense() -> None:
    flat = np.random.default_rng(2).normal(5.0, 0.2, (3, FREQUENCY.size))
    amplitude, resonance, quality = fit_sho(FREQUENCY, flat)
    assert np.isfinite(amplitude).all() and np.isfinite(quality).all()
    assert ((resonance >= 300) & (resonance <= 400)).all()


def test_the_sho_target_is_a_scalarizer_with_a_band_in_the_axis_units() -> None:
    axis = EnergyAxis(80, 300.0, 1.25, "kHz")
    curves = sho_amplitude(axis.values, np.array([1.0, 2.0]), np.array([350.0, 340.0]), 60.0)
    spec = parse_scalarizer({"kind": "sho_fit", "parameter": "resonance", "window": [320, 380]})
    assert spec.label == "SHO f0 in 320–380"
    np.testing.assert_allclose(spec.apply(curves, axis), [350.0, 340.0], rtol=1e-6)
    peak = parse_scalarizer({"kind": "sho_fit", "parameter": "peak"})
    np.testing.assert_allclose(peak.apply(curves, axis), [60.0, 120.0], rtol=1e-6)
    with pytest.raises(ScalarizerError, match="outside the energy axis"):
        parse_scalarizer({"kind": "sho_fit", "window": [500, 600]}).apply(curves, axis)


def test_the_band_excitation_grid_hides_its_minority_grains_in_the_topography() -> None:
    data = get_dataset("be_pfm_grains", seed=2)
    again = get_dataset("be_pfm_grains", seed=2)
    np.testing.assert_array_equal(data.image.spectra, again.image.spectra)
    assert data.image.signal_kind is SignalKind.BE
    assert data.image.energy.units == "kHz" and data.image.energy.quantity == "frequency"
    spectra = data.image.spectra.reshape(-1, data.image.n_channels)
    target = parse_scalarizer(data.default_scalarizer).apply(spectra, data.image.energy)
    truth = data.ground_truth[::2, ::2].reshape(-1)
    assert np.corrcoef(target, truth)[0, 1] > 0.95  # the fitted A0 measures the true one
    # the topography tells the minority grains only in part (a height, among others)
    topography = data.image.overview.reshape(-1)
    assert abs(np.corrcoef(topography, data.ground_truth.reshape(-1))[0, 1]) < 0.6
    assert 0.02 < np.mean(data.ground_truth > 1.5) < 0.3  # the strong minority phase is rare


def test_a_probe_campaign_runs_on_band_excitation_with_the_sho_target(tmp_path: Path) -> None:
    config = {
        "source": {"dataset": "be_pfm_grains"},
        "scalarizer": {"kind": "sho_fit", "parameter": "amplitude"},
        "model": {"kind": "exact_gp"},
        "budget": {"measurements": 8},
        "instrument": {"dwell_time_s": 0.2, "probe": {"tip_speed_nm_s": 500}},
    }
    with Campaign.create(config, tmp_path / "be.sqlite") as campaign:
        campaign.run()
        assert campaign.n_measured == 8
        assert 0.3 < campaign.best_target() < 3.0  # an A0 in pm, not a raw curve sum
    assert signal_axis_name(SignalKind.BE, EnergyAxis(80, 300.0, 1.25, "kHz")) == "Frequency"
    assert signal_axis_name(SignalKind.EELS, EnergyAxis(8, 0.0, 1.0, "eV")) == "Energy loss"


def test_the_target_form_builds_a_resonance_target() -> None:
    from steerscope.ui import target_tools

    assert target_tools.build_scalarizer_dict(
        "sho_fit", window=(320.0, 380.0), parameter="quality"
    ) == {"kind": "sho_fit", "parameter": "quality", "window": [320.0, 380.0]}
    both = target_tools.build_multi_scalarizer_dict(
        [
            {"kind": "sho_fit", "window": (300.0, 400.0), "parameter": "amplitude"},
            {"kind": "sho_fit", "window": (300.0, 400.0), "parameter": "resonance"},
        ]
    )
    assert parse_scalarizer(both).labels == ["SHO A0 in 300–400", "SHO f0 in 300–400"]
    # a fit without a band is preset with the whole axis, as the spec fits it
    whole = target_tools.default_window({"kind": "sho_fit"}, 300.0, 398.75)
    assert whole == (300.0, 398.75)


@pytest.mark.parametrize("name", ["sts_dopants", "be_pfm_grains"])
def test_the_scanning_probe_examples_replay_their_grid_as_a_probe(
    name: str, tmp_path: Path
) -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "examples" / f"{name}.yaml")
    assert config.instrument.probe is not None
    assert config.model_dump()["source"]["dataset"] == name


def test_a_band_excitation_grid_saved_as_arrays_loads_with_its_axis_and_kind(
    tmp_path: Path,
) -> None:
    from steerscope.data import load

    path = tmp_path / "be.npz"
    np.savez(
        path,
        overview=np.zeros((8, 8)),
        spectra=np.ones((8, 8, 16)),
        energy_offset=300.0,
        energy_scale=6.25,
        energy_units="kHz",
        signal_kind="BE",
    )
    image = load(path)
    assert image.signal_kind is SignalKind.BE
    assert image.energy.units == "kHz" and image.energy.quantity == "frequency"
