"""The usim EELS datasets: recorded once from nionswift-usim, cached, noise added per load.

The module records at a reduced grid (8 × 8 spectra instead of 48 × 48) so that a
recording takes seconds; the loader, the cache and the noise are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steerscope.datasets import get_dataset
from steerscope.errors import DataError

pytest.importorskip("nion.usim_device")


@pytest.fixture
def small_recordings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from steerscope.datasets import usim_eels

    monkeypatch.setenv("STEERSCOPE_DATA", str(tmp_path))
    monkeypatch.setattr(usim_eels, "GRID", 8)
    return tmp_path


def test_flake_dataset_records_once_and_targets_the_nickel_edge(small_recordings: Path) -> None:
    dataset = get_dataset("usim_flake_eels")
    image = dataset.image
    assert image.spectra.shape == (8, 8, 1024)
    assert image.overview.shape == (32, 32)
    assert image.pixel_units == "nm" and image.pixel_size > 0
    assert dataset.ground_truth.shape == image.overview.shape
    cached = list((small_recordings / "usim").glob("sample0-8x4-*.npz"))
    assert len(cached) == 1
    # the Ni M2,3 window is a property of some pixels, not all: the target has contrast
    truth = dataset.ground_truth
    assert truth.max() > 1.5 * np.median(truth)
    # a second load reads the cache (same clean signal) and reseeds only the noise
    again = get_dataset("usim_flake_eels", seed=0)
    np.testing.assert_array_equal(again.image.spectra, image.spectra)
    other = get_dataset("usim_flake_eels", seed=1)
    assert not np.array_equal(other.image.spectra, image.spectra)
    np.testing.assert_allclose(other.ground_truth, truth)
    # the dose sets the counts
    dim = get_dataset("usim_flake_eels", counts_per_spectrum=1e3)
    assert dim.image.spectra.sum(axis=-1).mean() == pytest.approx(1e3, rel=0.05)


def test_a_dose_below_a_hundred_electrons_is_refused_with_the_reason(
    small_recordings: Path,
) -> None:
    with pytest.raises(DataError, match="counts_per_spectrum must be a number >= 100"):
        get_dataset("usim_gold_eels", counts_per_spectrum=5)
