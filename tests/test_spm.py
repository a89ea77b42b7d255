"""Scanning-probe data: a dI/dV grid over a bias axis runs as any spectrum image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.campaign import Campaign
from steerscope.datasets import get_dataset
from steerscope.errors import DataError, ScalarizerError
from steerscope.scalarizers import parse_scalarizer
from steerscope.types import EnergyAxis, SignalKind
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
    }
    with Campaign.create(config, tmp_path / "sts.sqlite") as campaign:
        campaign.run()
        assert campaign.n_measured == 8
    from steerscope.records import CampaignRecord

    with CampaignRecord.open(tmp_path / "sts.sqlite", read_only=True) as record:
        measured = record.measurements()
        assert measured.energy is not None and measured.energy.units == "V"
        assert measured.signal_kind is SignalKind.STS


def test_the_spectrum_view_labels_a_bias_axis_as_bias() -> None:
    figure = spectrum_figure(np.linspace(-1, 1, 5), {"dopant": np.ones(5)}, units="V")
    assert figure.layout.xaxis.title.text == "bias (V)"
