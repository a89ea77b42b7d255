"""Real EDX datasets: fetching the HyperSpy 1.7.6 test files, the loaders, their ground truth."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import steerscope
from steerscope.datasets import real
from steerscope.datasets.real import (
    REAL_FILES,
    bruker_tem,
    data_dir,
    fetch_real_data,
    jeol_fes,
    real_data_path,
    velox_aupdcu,
)
from steerscope.errors import DataError


def _need_real_data() -> None:
    try:
        real_data_path("velox_aupdcu")
        real_data_path("jeol_fes")
        real_data_path("bruker_tem")
    except DataError as exc:
        pytest.skip(f"real data not fetched: {exc}")


def _line_map(image: steerscope.SpectrumImage, line: str) -> np.ndarray:
    from steerscope.scalarizers import parse_scalarizer

    spec = parse_scalarizer({"kind": "edx_line", "line": line, "width": None})
    h, w = image.spectrum_shape
    flat = np.asarray(image.spectra, dtype=np.float64).reshape(h * w, -1)
    return np.asarray(spec.apply(flat, image.energy)).reshape(h, w)


# --------------------------------------------------------------------------- data_dir and fetch


def test_data_dir_from_env_or_home(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("STEERSCOPE_DATA", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    monkeypatch.delenv("STEERSCOPE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".cache" / "steerscope"


def test_loaders_say_how_to_fetch_when_files_are_absent(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("STEERSCOPE_DATA", str(tmp_path))
    for loader in (jeol_fes, bruker_tem, velox_aupdcu):
        with pytest.raises(DataError, match=r"run `steerscope datasets fetch` \(or `make data`\)"):
            loader()
    with pytest.raises(DataError, match="unknown real data file 'nope'"):
        real_data_path("nope")


def _fake_wheel(path: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for member in (*real._VELOX_MEMBERS, "fei_emd_image.emd"):
            z.writestr(member, b"velox " + member.encode())
    wheel = path / "hyperspy-1.7.6-py3-none-any.whl"
    io_dir = "hyperspy/tests/io/"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(io_dir + "JEOL_files/", b"")
        z.writestr(io_dir + "JEOL_files/rawdata.ASW", b"asw")
        z.writestr(io_dir + "JEOL_files/181019-BN.ASW", b"other")
        z.writestr(io_dir + "JEOL_files/InvalidFrame/dummy2.ASW", b"invalid")
        for rel in ("View000_0000006.pts", "View000_0000000.img", "View000_0000001.map"):
            z.writestr(io_dir + "JEOL_files/Sample/00_View000/" + rel, rel.encode())
        z.writestr(io_dir + "bruker_data/test_TEM.bcf", b"bcf")
        z.writestr(io_dir + "bruker_data/test_SEM.bcf", b"not wanted")
        z.writestr(io_dir + "emd_files/fei_emd_files.zip", inner.getvalue())
    return wheel


def test_fetch_extracts_the_files_and_is_idempotent(monkeypatch: Any, tmp_path: Path) -> None:
    calls: list[Path] = []

    def fake_download(tmp: Path) -> Path:
        calls.append(tmp)
        return _fake_wheel(tmp)

    monkeypatch.setattr(real, "_download_wheel", fake_download)
    paths = fetch_real_data(tmp_path)
    root = tmp_path / "hyperspy-1.7.6"
    assert len(calls) == 1
    assert set(paths) == {root / rel for rel in REAL_FILES.values()} | {root / "LICENSE-NOTE.txt"}
    assert (root / "JEOL_files/rawdata.ASW").read_bytes() == b"asw"
    assert (root / "JEOL_files/Sample/00_View000/View000_0000001.map").is_file()
    assert (
        (root / "emd_files/fei_SI_EDS-HAADF-4detectors_2frames.emd")
        .read_bytes()
        .startswith(b"velox")
    )
    # Only what the loaders need: no other test files, no temporary folders left.
    assert not (root / "JEOL_files/InvalidFrame").exists()
    assert not (root / "JEOL_files/181019-BN.ASW").exists()
    assert not (root / "bruker_data/test_SEM.bcf").exists()
    assert not (root / "emd_files/fei_emd_image.emd").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyperspy-1.7.6"]
    note = (root / "LICENSE-NOTE.txt").read_text(encoding="utf-8")
    assert "GPL-3.0" in note and "hyperspy 1.7.6 wheel on PyPI" in note
    # Second call: everything is present, nothing is downloaded.
    assert fetch_real_data(tmp_path) == paths
    assert len(calls) == 1
    # A file gone missing: fetched again.
    (root / "bruker_data/test_TEM.bcf").unlink()
    fetch_real_data(tmp_path)
    assert len(calls) == 2 and (root / "bruker_data/test_TEM.bcf").is_file()


def test_fetch_reports_an_unreachable_registry(monkeypatch: Any, tmp_path: Path) -> None:
    def offline(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
        assert "hyperspy==1.7.6" in cmd
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: No matching distribution found for hyperspy==1.7.6 (network)"
        )

    monkeypatch.setattr(real.subprocess, "run", offline)
    with pytest.raises(
        DataError, match=r"(?s)could not download .* registry.*No matching distribution"
    ):
        fetch_real_data(tmp_path)
    assert not (tmp_path / "hyperspy-1.7.6").exists()


def test_fetch_refuses_a_wheel_without_the_files(monkeypatch: Any, tmp_path: Path) -> None:
    def empty_wheel(tmp: Path) -> Path:
        wheel = tmp / "hyperspy-1.7.6-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("hyperspy/__init__.py", b"")
        return wheel

    monkeypatch.setattr(real, "_download_wheel", empty_wheel)
    with pytest.raises(DataError, match="does not hold the expected test files"):
        fetch_real_data(tmp_path)


@pytest.mark.realdata
def test_fetch_real_data_in_the_data_dir_is_present_and_licensed() -> None:
    _need_real_data()
    paths = fetch_real_data()  # present: returns at once, no network
    assert all(p.is_file() for p in paths)
    assert "GPL-3.0" in (data_dir() / "hyperspy-1.7.6" / "LICENSE-NOTE.txt").read_text()


@pytest.mark.realdata
def test_module_runs_as_a_script() -> None:
    _need_real_data()
    out = subprocess.run(
        [sys.executable, "-m", "steerscope.datasets.real"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STEERSCOPE_DATA": str(data_dir())},
        check=True,
    )
    assert "rawdata.ASW" in out.stdout and "LICENSE-NOTE.txt" in out.stdout


# --------------------------------------------------------------------------- datasets


@pytest.mark.realdata
def test_velox_au_la_map_follows_the_haadf() -> None:
    """Required: the Au Lα intensity map correlates with the HAADF (r > 0.8)."""
    _need_real_data()
    image = steerscope.load(real_data_path("velox_aupdcu"))
    au = _line_map(image, "Au_La")
    h, w = image.spectrum_shape
    big_h, big_w = image.overview_shape
    haadf = image.overview.reshape(h, big_h // h, w, big_w // w).mean(axis=(1, 3))
    r = np.corrcoef(au.ravel(), haadf.ravel())[0, 1]
    assert r > 0.8


@pytest.mark.realdata
def test_velox_aupdcu_dataset() -> None:
    _need_real_data()
    ds = velox_aupdcu()
    assert ds.name == "velox_aupdcu"
    assert ds.default_scalarizer == {"kind": "edx_line", "line": "Au_La", "width": None}
    assert ds.image.spectra.shape == (16, 16, 4096)
    assert ds.ground_truth.shape == ds.image.overview_shape == (16, 16)
    np.testing.assert_allclose(ds.ground_truth, ds.image.overview_map(_line_map(ds.image, "Au_La")))
    assert ds.provenance["license"] == "GPL-3.0"
    assert ds.provenance["instrument"] == "Talos"
    assert ds.provenance["origin"].endswith(
        "emd_files/fei_emd_files.zip → fei_SI_EDS-HAADF-4detectors_2frames.emd"
    )
    assert ds.image.metadata["license"] == "GPL-3.0"
    assert "Au Lα" in ds.description


@pytest.mark.realdata
def test_jeol_fes_dataset_fe_and_s_maps_agree() -> None:
    _need_real_data()
    fe = jeol_fes()
    assert fe.image.spectra.shape == (64, 64, 1024)
    assert fe.ground_truth.shape == fe.image.overview_shape == (512, 512)
    assert fe.default_scalarizer["line"] == "Fe_Ka"
    assert fe.provenance["instrument"] == "JEM-2100F(UHR)"
    assert fe.provenance["origin"].endswith("hyperspy/tests/io/JEOL_files/rawdata.ASW")
    assert fe.provenance["load_options"] == {"downsample": 8, "rebin_energy": 4}
    s = jeol_fes(line="S_Ka")
    # FeS: iron and sulfur sit on the same particle; the support holds neither.
    r = np.corrcoef(fe.ground_truth[::8, ::8].ravel(), s.ground_truth[::8, ::8].ravel())[0, 1]
    assert r > 0.9
    assert np.median(fe.ground_truth) == 0.0 and fe.ground_truth.max() > 50
    coarse = jeol_fes(downsample=16)
    assert coarse.image.spectra.shape == (32, 32, 1024)


@pytest.mark.realdata
def test_bruker_tem_dataset_uses_its_strongest_line() -> None:
    _need_real_data()
    ds = bruker_tem()
    assert ds.default_scalarizer == {"kind": "edx_line", "line": "Si_Ka", "width": None}
    assert ds.ground_truth.shape == (64, 64)
    totals = {line: _line_map(ds.image, line).sum() for line in ("Si_Ka", "O_Ka", "Cu_Ka")}
    assert totals["Si_Ka"] > 2 * totals["O_Ka"] > 20 * totals["Cu_Ka"]
    assert ds.provenance["license"] == "GPL-3.0"
    assert "Bruker .bcf" in ds.provenance["instrument"]
