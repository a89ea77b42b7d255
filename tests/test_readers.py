"""steerscope.load: every reader path, the signal choice, overview fitting and every error."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import steerscope
from steerscope import EnergyAxis, SignalKind
from steerscope.data.readers import SUPPORTED_EXTENSIONS, _resample_bilinear
from steerscope.errors import DataError, DataWarning


def _real(name: str) -> Path:
    from steerscope.datasets.real import real_data_path

    try:
        return real_data_path(name)
    except DataError as exc:
        pytest.skip(f"real data not fetched: {exc}")


def _spectra(h: int = 4, w: int = 6, c: int = 8) -> np.ndarray:
    return np.arange(h * w * c, dtype=np.float64).reshape(h, w, c)


def _hs_spectrum_image(
    data: np.ndarray, *, signal_type: str = "EELS", units: str = "nm", scale: float = 2.0
) -> Any:
    import hyperspy.api as hs

    s = hs.signals.Signal1D(data)
    s.set_signal_type(signal_type)
    s.metadata.General.title = "SI"
    for ax in s.axes_manager.navigation_axes:
        ax.scale, ax.units, ax.offset = scale, units, 0.0
    e = s.axes_manager.signal_axes[0]
    e.offset, e.scale, e.units = 100.0, 0.5, "eV"
    return s


def _hs_image(data: np.ndarray, *, title: str = "HAADF", units: str = "nm", scale: float = 1.0):
    import hyperspy.api as hs

    im = hs.signals.Signal2D(data)
    im.metadata.General.title = title
    for ax in im.axes_manager.signal_axes:
        ax.scale, ax.units, ax.offset = scale, units, 0.0
    return im


# --------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_velox_emd_spectrum_image_and_haadf() -> None:
    path = _real("velox_aupdcu")
    si = steerscope.load(path)
    assert si.spectra.shape == (16, 16, 4096)
    assert si.overview_shape == (16, 16)
    assert si.signal_kind is SignalKind.EDX
    assert (si.energy.offset, si.energy.scale, si.energy.units) == (-1.0, 0.005, "keV")
    assert si.pixel_units == "nm"
    assert si.pixel_size == pytest.approx(1.2340096, rel=1e-6)
    assert si.metadata["instrument"] == "Talos"
    assert si.metadata["beam_energy_kev"] == 200.0
    assert si.metadata["overview_source"] == "file"
    assert si.metadata["overview_title"] == "HAADF"
    assert len(si.metadata["signals_found"]) == 6
    assert "'HAADF' (HAADF by title)" in si.metadata["chosen"]
    assert "spectrum image = signal [5] 'EDS'" in si.metadata["chosen"]
    # Two frames summed: every count of the file is there.
    assert int(si.spectra.sum()) > 0


@pytest.mark.realdata
def test_velox_signal_choice_by_title_index_and_errors() -> None:
    path = _real("velox_aupdcu")
    by_title = steerscope.load(path, signal="eds")
    assert by_title.spectra.shape == (16, 16, 4096)
    assert steerscope.load(path, signal=5).spectra.shape == (16, 16, 4096)
    with pytest.raises(DataError, match=r"no signal titled 'ADF2'.*'HAADF'"):
        steerscope.load(path, signal="ADF2")
    with pytest.raises(DataError, match=r"\[4\] 'HAADF'.* is not a spectrum image"):
        steerscope.load(path, signal=4)
    with pytest.raises(DataError, match=r"signal=9 is out of range.*6 signal"):
        steerscope.load(path, signal=9)


@pytest.mark.realdata
def test_velox_lazy_downsample_and_ev_match_eager_block_sums() -> None:
    path = _real("velox_aupdcu")
    eager = steerscope.load(path)
    lazy = steerscope.load(path, lazy=True, downsample=2, rebin_energy=2, energy_units="eV")
    assert lazy.spectra.shape == (8, 8, 2048)
    expected = eager.spectra.astype(np.int64).reshape(8, 2, 8, 2, 2048, 2).sum(axis=(1, 3, 5))
    np.testing.assert_array_equal(lazy.spectra, expected)
    # Channel pairs (-1.000, -0.995) keV → centre -997.5 eV, width 10 eV.
    assert lazy.energy.units == "eV"
    assert lazy.energy.offset == pytest.approx(-997.5)
    assert lazy.energy.scale == pytest.approx(10.0)
    # The 16×16 HAADF is an integer multiple of the 8×8 grid: kept as is.
    np.testing.assert_array_equal(lazy.overview, eager.overview)
    assert lazy.pixel_size == pytest.approx(eager.pixel_size)


@pytest.mark.realdata
def test_velox_non_square_grid() -> None:
    si = steerscope.load(_real("velox_superx_10x50"))
    assert si.spectra.shape == (50, 10, 4096)
    assert si.overview_shape == (50, 10)


@pytest.mark.realdata
def test_bruker_bcf_units_converted_to_nm() -> None:
    si = steerscope.load(_real("bruker_tem"))
    assert si.spectra.shape == (64, 64, 2048)
    assert si.overview_shape == (64, 64)
    assert si.signal_kind is SignalKind.EDX
    assert si.energy.units == "keV"
    assert si.energy.scale == pytest.approx(0.010001)
    # The file says 0.000771 µm per pixel.
    assert si.pixel_size == pytest.approx(0.771004754, rel=1e-6)
    assert si.pixel_units == "nm"
    assert si.metadata["beam_energy_kev"] == 200.0
    assert si.metadata["overview_title"] == "HAADF"


@pytest.mark.realdata
def test_jeol_asw_downsample_rebin_picks_image_not_element_maps() -> None:
    import hyperspy.api as hs

    path = _real("jeol_fes")
    si = steerscope.load(path, downsample=8, rebin_energy=4)
    assert si.spectra.shape == (64, 64, 1024)
    assert si.overview_shape == (512, 512)
    assert si.metadata["overview_title"] == "IMG1"  # not "Fe K", "S K", ... maps
    assert si.signal_kind is SignalKind.EDX
    assert si.energy.scale == pytest.approx(0.03999464, rel=1e-6)
    assert si.pixel_size == pytest.approx(8.69140625)  # 0.00869140625 µm
    direct = hs.load(str(path), downsample=8, rebin_energy=4, SI_dtype=np.uint16)[-1]
    np.testing.assert_array_equal(si.spectra, direct.data)
    # 512 = 8 × 64: every spectrum pixel covers an 8×8 block of the image.
    np.testing.assert_array_equal(si.to_spectrum_grid([[511, 8]]), [[63, 1]])


@pytest.mark.realdata
def test_jeol_bad_downsample_is_wrapped_with_cause() -> None:
    with pytest.raises(DataError, match="HyperSpy could not read") as info:
        steerscope.load(_real("jeol_fes"), downsample=3)
    assert info.value.__cause__ is not None


# --------------------------------------------------------------------------- HyperSpy files


def test_hspy_round_trip_uses_sum_as_overview(tmp_path: Path, caplog: Any) -> None:
    data = _spectra(4, 6, 8)
    path = tmp_path / "si.hspy"
    _hs_spectrum_image(data, units="µm", scale=0.002).save(path)
    with (
        caplog.at_level(logging.INFO, logger="steerscope.data.readers"),
        pytest.warns(DataWarning, match=r"si\.hspy holds no overview.*overview='haadf\.dm4'"),
    ):
        si = steerscope.load(path)
    np.testing.assert_array_equal(si.spectra, data)
    assert si.signal_kind is SignalKind.EELS
    assert (si.energy.offset, si.energy.scale, si.energy.units) == (100.0, 0.5, "eV")
    assert si.pixel_size == pytest.approx(2.0)  # 0.002 µm
    assert si.pixel_units == "nm"
    np.testing.assert_allclose(si.overview, data.sum(axis=2))
    assert si.metadata["overview_source"] == "sum"
    assert "sum of the spectrum image" in si.metadata["chosen"]
    assert si.metadata["chosen"] in caplog.text


@pytest.mark.filterwarnings("ignore::steerscope.errors.DataWarning")  # no overview in the file
def test_hspy_without_signal_type_guesses_kind_from_units(tmp_path: Path) -> None:
    import hyperspy.api as hs

    s = hs.signals.Signal1D(_spectra(2, 2, 5))
    s.axes_manager.signal_axes[0].units = "keV"
    s.save(tmp_path / "plain.hspy")
    si = steerscope.load(tmp_path / "plain.hspy")
    assert si.signal_kind is SignalKind.EDX
    assert "guessed from keV" in si.metadata["chosen"]
    assert si.pixel_units == "px"  # uncalibrated navigation axes
    eels = steerscope.load(tmp_path / "plain.hspy", signal_kind="EELS")
    assert eels.signal_kind is SignalKind.EELS


def test_separate_overview_hspy_file_is_used(tmp_path: Path) -> None:
    _hs_spectrum_image(_spectra(4, 6, 8), scale=2.0).save(tmp_path / "si.hspy")
    haadf = np.random.default_rng(0).random((8, 12))
    _hs_image(haadf, scale=1.0).save(tmp_path / "haadf.hspy")
    si = steerscope.load(tmp_path / "si.hspy", overview=tmp_path / "haadf.hspy")
    np.testing.assert_allclose(si.overview, haadf, rtol=1e-6)
    assert si.metadata["overview_source"] == "separate"
    assert "haadf.hspy:HAADF" in si.metadata["chosen"]
    assert si.pixel_size == pytest.approx(1.0)


def test_separate_overview_with_other_field_of_view_is_refused(tmp_path: Path) -> None:
    _hs_spectrum_image(_spectra(4, 6, 8), scale=2.0).save(tmp_path / "si.hspy")
    _hs_image(np.ones((8, 12)), scale=3.0).save(tmp_path / "wide.hspy")
    with pytest.raises(DataError, match=r"field of view 24×36 nm.*8×12 nm.*same area"):
        steerscope.load(tmp_path / "si.hspy", overview=tmp_path / "wide.hspy")


def test_file_with_only_an_image_has_no_spectrum_image(tmp_path: Path) -> None:
    _hs_image(np.ones((8, 8))).save(tmp_path / "image.hspy")
    with pytest.raises(DataError, match=r"holds no spectrum image.*'HAADF' Signal2D"):
        steerscope.load(tmp_path / "image.hspy")


def test_overview_file_without_image_is_refused(tmp_path: Path) -> None:
    _hs_spectrum_image(_spectra(4, 6, 8)).save(tmp_path / "si.hspy")
    with pytest.raises(DataError, match=r"holds no usable 2-D image.*'SI'"):
        steerscope.load(tmp_path / "si.hspy", overview=tmp_path / "si.hspy")


def test_corrupt_file_is_wrapped_with_cause(tmp_path: Path) -> None:
    bad = tmp_path / "broken.bcf"
    bad.write_bytes(b"not a bruker file" * 10)
    with pytest.raises(DataError, match=r"HyperSpy could not read .*broken\.bcf") as info:
        steerscope.load(bad)
    assert info.value.__cause__ is not None


def test_missing_sparse_says_pip_install(tmp_path: Path, monkeypatch: Any) -> None:
    import hyperspy.api as hs

    def no_sparse(*args: Any, **kwargs: Any) -> Any:
        # The message RosettaSciIO raises for a Velox SI without `sparse`.
        raise ModuleNotFoundError("The 'sparse' library was not found.")

    monkeypatch.setattr(hs, "load", no_sparse)
    path = tmp_path / "x.emd"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"needs the optional package 'sparse'.*pip install sparse"):
        steerscope.load(path)


def test_missing_numba_says_pip_install(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)
    path = tmp_path / "x.pts"  # the JEOL reader asks for numba before reading a .pts
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"'numba'.*pip install numba") as info:
        steerscope.load(path)
    assert isinstance(info.value.__cause__, ImportError)


def test_zspy_without_zarr_says_pip_install(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "zarr", None)
    # an export test may have imported rsciio's Zarr reader, which then holds zarr already
    for module in ("rsciio.zspy", "rsciio.zspy._api"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    (tmp_path / "si.zspy").mkdir()
    with pytest.raises(DataError, match=r"HyperSpy \.zspy\) needs .*pip install zarr"):
        steerscope.load(tmp_path / "si.zspy")


@pytest.mark.filterwarnings("ignore::steerscope.errors.DataWarning")  # no overview in the file
def test_hspy_eds_signal_type_is_edx(tmp_path: Path) -> None:
    s = _hs_spectrum_image(_spectra(2, 3, 4), signal_type="EDS_TEM")
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    s.metadata.set_item("Acquisition_instrument.TEM.microscope", "Spectra 300")
    s.save(tmp_path / "eds.hspy")
    si = steerscope.load(tmp_path / "eds.hspy")
    assert si.signal_kind is SignalKind.EDX
    assert si.metadata["signal_type"] == "EDS_TEM"
    assert si.metadata["beam_energy_kev"] == 300.0
    assert si.metadata["instrument"] == "Spectra 300"


def test_unknown_hyperspy_option_is_reported(tmp_path: Path) -> None:
    _hs_spectrum_image(_spectra(2, 2, 4)).save(tmp_path / "si.hspy")
    with pytest.raises(DataError, match=r"rejected the reader options \['no_such_option'\]"):
        steerscope.load(tmp_path / "si.hspy", no_such_option=1)


# --------------------------------------------------------------------------- NumPy and HDF5


def test_npz_with_documented_keys(tmp_path: Path) -> None:
    spectra = _spectra(4, 6, 8)
    overview = np.arange(8 * 12, dtype=np.float64).reshape(8, 12)
    np.savez(
        tmp_path / "si.npz",
        spectra=spectra,
        overview=overview,
        energy_offset=0.2,
        energy_scale=0.01,
        energy_units="keV",
        pixel_size=0.5,
        pixel_units="nm",
        signal_kind="EDS",
    )
    si = steerscope.load(tmp_path / "si.npz")
    np.testing.assert_array_equal(si.spectra, spectra)
    np.testing.assert_array_equal(si.overview, overview)
    assert si.energy == EnergyAxis(8, 0.2, 0.01, "keV")
    assert si.signal_kind is SignalKind.EDX
    assert (si.pixel_size, si.pixel_units) == (0.5, "nm")
    assert si.metadata["format"] == "NumPy .npz"


@pytest.mark.filterwarnings("ignore::steerscope.errors.DataWarning")  # no overview in the file
def test_npz_energy_array_and_binning(tmp_path: Path) -> None:
    spectra = np.ones((4, 6, 8), dtype=np.uint8)
    np.savez(tmp_path / "si.npz", spectra=spectra, energy=np.linspace(10.0, 17.0, 8))
    si = steerscope.load(tmp_path / "si.npz", downsample=2, rebin_energy=4)
    assert si.spectra.shape == (2, 3, 2)
    # 2×2 pixels × 4 channels of one count each.
    np.testing.assert_array_equal(si.spectra, np.full((2, 3, 2), 16))
    assert si.spectra.dtype == np.uint32
    # Channels 10..13 eV → centre 11.5 eV, width 4 eV.
    assert si.energy == EnergyAxis(2, 11.5, 4.0, "eV")
    assert si.signal_kind is SignalKind.EELS
    assert si.overview_shape == (2, 3)


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "nospectra.npz", overview=np.ones((4, 4)))
    with pytest.raises(DataError, match=r"no `spectra` entry.*\['overview'\]"):
        steerscope.load(tmp_path / "nospectra.npz")
    np.savez(tmp_path / "nocal.npz", spectra=_spectra())
    with pytest.raises(DataError, match="no energy calibration"):
        steerscope.load(tmp_path / "nocal.npz")
    np.savez(tmp_path / "uneven.npz", spectra=_spectra(), energy=np.r_[0, 1, 2, 3, 5, 6, 7, 8.0])
    with pytest.raises(DataError, match="uniformly spaced"):
        steerscope.load(tmp_path / "uneven.npz")
    np.savez(tmp_path / "short.npz", spectra=_spectra(), energy=np.arange(7.0))
    with pytest.raises(DataError, match="energy axis has 7 channels but `spectra` has 8"):
        steerscope.load(tmp_path / "short.npz")
    np.savez(tmp_path / "ok.npz", spectra=_spectra(), energy=np.arange(8.0))
    with pytest.raises(DataError, match=r"`signal=` chooses among the signals"):
        steerscope.load(tmp_path / "ok.npz", signal=0)
    with pytest.raises(DataError, match=r"unknown reader option\(s\) \['sum_frames'\]"):
        steerscope.load(tmp_path / "ok.npz", sum_frames=True)
    with pytest.raises(DataError, match="downsample=3 must divide the spectrum grid 4×6"):
        steerscope.load(tmp_path / "ok.npz", downsample=3)
    with pytest.raises(DataError, match="rebin_energy=3 must divide the 8 channels"):
        steerscope.load(tmp_path / "ok.npz", rebin_energy=3)
    with pytest.raises(DataError, match="`downsample` must be a positive integer"):
        steerscope.load(tmp_path / "ok.npz", downsample=0)
    with pytest.raises(DataError, match="`energy_units` must be 'eV' or 'keV'"):
        steerscope.load(tmp_path / "ok.npz", energy_units="J")
    with pytest.raises(DataError, match="`signal_kind` must be 'EELS' or 'EDX'"):
        steerscope.load(tmp_path / "ok.npz", signal_kind="XPS")


def test_hdf5_documented_keys_as_datasets_and_attributes(tmp_path: Path) -> None:
    spectra = _spectra(4, 6, 8)
    with h5py.File(tmp_path / "si.h5", "w") as f:
        g = f.create_group("scan")
        g["spectra"] = spectra
        g["overview"] = np.ones((8, 12))
        g.attrs["energy_offset"] = 1.0
        g.attrs["energy_scale"] = 2.0
        g.attrs["energy_units"] = "eV"
        g.attrs["pixel_size"] = 3.0
        g.attrs["pixel_units"] = "Å"
        g.attrs["signal_kind"] = "EELS"
    si = steerscope.load(tmp_path / "si.h5", group="scan", energy_units="keV")
    np.testing.assert_array_equal(si.spectra, spectra)
    assert si.energy == EnergyAxis(8, 0.001, 0.002, "keV")
    assert si.pixel_size == pytest.approx(0.3)  # 3 Å
    assert si.signal_kind is SignalKind.EELS
    with pytest.raises(DataError, match="no `spectra` entry"):
        steerscope.load(tmp_path / "si.h5")  # the keys live in /scan


@pytest.mark.filterwarnings("ignore::steerscope.errors.DataWarning")  # no overview in the file
def test_npy_with_and_without_calibration(tmp_path: Path) -> None:
    np.save(tmp_path / "si.npy", _spectra(4, 6, 8))
    plain = steerscope.load(tmp_path / "si.npy")
    assert plain.energy == EnergyAxis(8, 0.0, 1.0, "eV")
    assert plain.metadata["energy_calibrated"] is False
    assert "no energy calibration" in plain.metadata["chosen"]
    axis = EnergyAxis(8, 0.5, 0.25, "keV")
    calibrated = steerscope.load(tmp_path / "si.npy", energy=axis)
    assert calibrated.energy == axis
    assert calibrated.signal_kind is SignalKind.EDX
    np.save(tmp_path / "image.npy", np.ones((4, 6)))
    with pytest.raises(DataError, match=r"shape \(4, 6\).*must be 3-D"):
        steerscope.load(tmp_path / "image.npy")


def test_separate_overview_array_coarse_and_non_integer(tmp_path: Path) -> None:
    np.savez(tmp_path / "si.npz", spectra=_spectra(4, 6, 8), energy=np.arange(8.0))
    # Coarser than the spectrum grid: upsampled to it.
    coarse = steerscope.load(tmp_path / "si.npz", overview=np.array([[0.0, 1, 2], [3, 4, 5]]))
    assert coarse.overview_shape == (4, 6)
    assert "resampled bilinearly from 2×3 to 4×6" in coarse.metadata["chosen"]
    # 13×19 over a 4×6 grid: k = round(13/4) = 3, round(19/6) = 3 → 12×18.
    ramp = np.repeat(np.arange(13.0)[:, None], 19, axis=1)
    si = steerscope.load(tmp_path / "si.npz", overview=ramp)
    assert si.overview_shape == (12, 18)
    expected_rows = np.clip((np.arange(12) + 0.5) * 13 / 12 - 0.5, 0, 12)
    np.testing.assert_allclose(si.overview[:, 0], expected_rows, rtol=1e-6)
    # An overview from a .npy file.
    np.save(tmp_path / "ov.npy", np.ones((8, 12)))
    assert steerscope.load(tmp_path / "si.npz", overview=tmp_path / "ov.npy").overview_shape == (
        8,
        12,
    )


def test_separate_overview_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "si.npz", spectra=_spectra(4, 6, 8), energy=np.arange(8.0))
    with pytest.raises(DataError, match=r"aspect ratios differ.*cannot cover the same field"):
        steerscope.load(tmp_path / "si.npz", overview=np.ones((8, 8)))
    with pytest.raises(DataError, match="no overview file at"):
        steerscope.load(tmp_path / "si.npz", overview=tmp_path / "absent.npy")
    with pytest.raises(DataError, match=r"`overview=` must be a path or a numeric 2-D array"):
        steerscope.load(tmp_path / "si.npz", overview=np.ones((2, 4, 6)))


def test_resample_bilinear_keeps_constant_and_exact_grid() -> None:
    np.testing.assert_allclose(_resample_bilinear(np.full((5, 7), 3.0), (9, 4)), 3.0)
    img = np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(_resample_bilinear(img, (3, 4)), img)


# --------------------------------------------------------------------------- general errors


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no file at .*absent\.hspy; check the path"):
        steerscope.load(tmp_path / "absent.hspy")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(DataError, match=r"unknown extension '\.txt'\. Supported: .*\.bcf.*\.npz"):
        steerscope.load(txt)
    assert {".emd", ".bcf", ".asw", ".pts", ".dm4", ".hspy", ".h5"} <= set(SUPPORTED_EXTENSIONS)


def test_import_steerscope_data_does_not_import_hyperspy() -> None:
    code = "import sys, steerscope.data; print('hyperspy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"spectra": np.ones((0, 0, 8))}, r"its spectrum image is empty \(shape \(0, 0, 8\)\)"),
        ({"energy_offset": np.nan}, r"the energy axis offset must be a finite number of eV"),
        ({"spectra": np.full((4, 4, 8), np.nan)}, r"every spectrum value is NaN or inf"),
        ({"spectra": np.ones((4, 4, 8)) * (1 + 1j)}, r"spectra must be real numbers .* complex128"),
    ],
)
def test_unusable_npz_files_are_refused_naming_the_file(
    tmp_path: Path, arrays: dict, match: str
) -> None:
    """Each once gave a traceback or was loaded as if fine (#13 items 10-12)."""
    path = tmp_path / "bad.npz"
    good = {"spectra": np.ones((4, 4, 8)), "overview": np.ones((4, 4))}
    good.update(energy_offset=0.0, energy_scale=1.0)
    np.savez(path, **{**good, **arrays})
    with pytest.raises(DataError, match=rf"cannot use {re.escape(str(path))}: .*{match}"):
        steerscope.load(path)


# --------------------------------------------------------------------------- parsed-file cache


def test_a_parsed_file_is_read_from_the_cache_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from steerscope.data import readers

    monkeypatch.setenv("STEERSCOPE_CACHE", str(tmp_path / "cache"))
    data = _spectra(4, 6, 8)
    path = tmp_path / "si.hspy"
    _hs_spectrum_image(data, scale=2.0).save(path)
    haadf = np.random.default_rng(0).random((8, 12))
    _hs_image(haadf, scale=1.0).save(tmp_path / "haadf.hspy")
    first = steerscope.load(path, overview=tmp_path / "haadf.hspy")
    assert "parsed_cache" not in first.metadata
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    reads: list[Path] = []
    real_read = readers.read_hyperspy_file
    monkeypatch.setattr(
        readers, "read_hyperspy_file", lambda f, **kw: (reads.append(f), real_read(f, **kw))[1]
    )
    again = steerscope.load(path, overview=tmp_path / "haadf.hspy")
    assert reads == []  # from the cache
    assert again.metadata["parsed_cache"].startswith(str(tmp_path / "cache"))
    np.testing.assert_array_equal(again.spectra, first.spectra)
    np.testing.assert_array_equal(again.overview, first.overview)
    assert again.energy == first.energy
    assert (again.signal_kind, again.pixel_size, again.pixel_units) == (
        first.signal_kind,
        first.pixel_size,
        first.pixel_units,
    )
    assert again.metadata["chosen"] == first.metadata["chosen"]

    # other options, no cache, or a changed file: read from the file
    steerscope.load(path, overview=tmp_path / "haadf.hspy", rebin_energy=2)
    steerscope.load(path, overview=tmp_path / "haadf.hspy", cache=False)
    assert len(reads) == 2
    _hs_spectrum_image(data + 1, scale=2.0).save(path, overwrite=True)
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    changed = steerscope.load(path, overview=tmp_path / "haadf.hspy")
    assert len(reads) == 3
    np.testing.assert_array_equal(changed.spectra, data + 1)


def test_an_unreadable_cache_entry_is_read_again_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEERSCOPE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "si.hspy"
    _hs_spectrum_image(_spectra(4, 6, 8), scale=2.0).save(path)
    with pytest.warns(DataWarning):
        steerscope.load(path)
    (entry,) = (tmp_path / "cache").glob("*.npz")
    entry.write_bytes(b"not a zip file")
    with pytest.warns(DataWarning, match="holds no overview"):  # warned on every load
        image = steerscope.load(path)
    assert "parsed_cache" not in image.metadata
    np.testing.assert_array_equal(image.spectra, _spectra(4, 6, 8))
    with pytest.warns(DataWarning):
        assert "parsed_cache" in steerscope.load(path).metadata  # rewritten


def test_the_parsed_cache_drops_the_least_recently_used_entries_to_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from steerscope.data import cache

    monkeypatch.setenv("STEERSCOPE_CACHE", str(tmp_path / "cache"))
    image = steerscope.SpectrumImage(
        overview=np.ones((10, 10)), spectra=np.ones((10, 10, 100)), energy=EnergyAxis(100, 0, 1)
    )
    entry_bytes = image.spectra.nbytes + image.overview.nbytes
    monkeypatch.setattr(cache, "MAX_CACHE_BYTES", int(2.5 * entry_bytes))
    first = cache.write_parsed("a", image)
    second = cache.write_parsed("b", image)
    assert first is not None and second is not None
    os.utime(first, ns=(1, 1))  # "a" read longest ago
    os.utime(second, ns=(2, 2))
    assert cache.read_parsed("b") is not None  # and now "b" was just used
    assert cache.write_parsed("c", image) is not None
    assert sorted(p.stem for p in (tmp_path / "cache").glob("*.npz")) == ["b", "c"]
    monkeypatch.setattr(cache, "MAX_CACHE_BYTES", entry_bytes // 2)
    assert cache.write_parsed("d", image) is None  # larger than the whole cache
    assert cache.read_parsed("d") is None


def test_a_zarr_spectrum_image_and_its_overview_are_read_and_cached_until_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEERSCOPE_CACHE", str(tmp_path / "cache"))
    data = _spectra(4, 6, 8)
    _hs_spectrum_image(data, scale=2.0).save(tmp_path / "si.zspy")
    _hs_image(np.random.default_rng(0).random((8, 12)), scale=1.0).save(tmp_path / "haadf.zspy")
    si = steerscope.load(tmp_path / "si.zspy", overview=tmp_path / "haadf.zspy")
    np.testing.assert_array_equal(si.spectra, data)
    assert si.overview_shape == (8, 12) and si.metadata["format"] == "HyperSpy .zspy"
    assert (
        "parsed_cache"
        in steerscope.load(tmp_path / "si.zspy", overview=tmp_path / "haadf.zspy").metadata
    )
    # a rewritten store (a chunk file deep inside the folder) is read again
    _hs_spectrum_image(data * 2, scale=2.0).save(tmp_path / "si.zspy", overwrite=True)
    again = steerscope.load(tmp_path / "si.zspy", overview=tmp_path / "haadf.zspy")
    np.testing.assert_array_equal(again.spectra, data * 2)
