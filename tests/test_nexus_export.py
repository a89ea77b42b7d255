"""NeXus NXem export: valid by pynxtools' own validator, and the record read back from it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from steerscope.campaign import Campaign, SetPolicy
from steerscope.cli import app
from steerscope.errors import RecordError
from steerscope.records import CampaignRecord

CONFIG: dict[str, Any] = {
    "name": "nexus",
    "source": {"dataset": "plasmonic_nanoparticles"},
    "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 5},
    "seed_points": {"kind": "grid", "n": 4},
    "budget": {"measurements": 7},
}


@pytest.fixture(scope="module")
def record_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nexus") / "run.sqlite"
    with Campaign.create(CONFIG, path) as campaign:
        campaign.run(n_steps=5)
        campaign.apply(SetPolicy(beta=4.0))
        campaign.run()
    return path


def _valid(path: Path) -> bool:
    from pynxtools.dataconverter.validation import validate_hdf_group_against

    with h5py.File(path, "r") as h5:
        return bool(validate_hdf_group_against("NXem", h5["entry1"], str(path)))


def test_the_nxem_file_is_valid_and_holds_the_record(record_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.nxs"
    with CampaignRecord.open(record_path, read_only=True) as record:
        record.export_nxem(out, atom_types=["Au", "Ag"], preparation_date=date(2026, 11, 30))
        measured = record.measurements()
        overview = record.overview()
        interventions = record.interventions()
        n_decisions = len(record.decisions())
    assert _valid(out)
    with h5py.File(out, "r") as h5:
        entry = h5["entry1"]
        assert entry["definition"][()].decode() == "NXem"
        assert entry["sample/atom_types"][()].decode() == "Au, Ag"
        assert bool(entry["sample/is_simulation"][()]) is True  # the simulator's data
        image = entry["measurement/event1/image1/image_2d"]
        np.testing.assert_array_equal(image["real"][()], overview.image)
        assert image["axis_i"].attrs["units"] == overview.pixel_units
        assert image["axis_i"][1] == pytest.approx(overview.pixel_size)
        spectra = [
            entry[f"measurement/event{i + 2}/spectrum1/spectrum_0d/intensity"][()]
            for i in range(len(measured))
        ]
        np.testing.assert_array_equal(np.stack(spectra), measured.spectra)
        axis = entry["measurement/event2/spectrum1/spectrum_0d/axis_energy"]
        np.testing.assert_allclose(axis[()], measured.energy.values)
        assert axis.attrs["units"] == "eV"
        notes = {
            entry[f"note{i}/file_name"][()].decode(): json.loads(entry[f"note{i}/data"][()])
            for i in range(1, 6)
        }
    assert notes["steerscope_positions.json"]["points"] == measured.points.tolist()
    assert notes["steerscope_config.json"]["name"] == "nexus"
    assert len(notes["steerscope_decisions.json"]) == n_decisions
    assert [i["kind"] for i in notes["steerscope_interventions.json"]] == [
        i.kind for i in interventions
    ]


def test_the_validator_does_fail_on_a_broken_file(record_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "broken.nxs"
    with CampaignRecord.open(record_path, read_only=True) as record:
        record.export_nxem(out, atom_types=["Au"], preparation_date=date(2026, 11, 30))
    with h5py.File(out, "a") as h5:
        del h5["entry1/sample/atom_types"]
    assert not _valid(out)


def test_nxem_needs_elements_and_a_date_and_says_so(record_path: Path, tmp_path: Path) -> None:
    with (
        CampaignRecord.open(record_path, read_only=True) as record,
        pytest.raises(RecordError, match=r"of which \['Xx'\] are not elements"),
    ):
        record.export_nxem(
            tmp_path / "x.nxs", atom_types=["Au", "Xx"], preparation_date=date.today()
        )
    cli = CliRunner()
    out = tmp_path / "cli.nxs"
    result = cli.invoke(app, ["export", str(record_path), "--to", str(out)])
    assert result.exit_code == 2
    assert "--atom-types Au,Pd and --prepared 2026-11-30" in result.output
    result = cli.invoke(
        app,
        ["export", str(record_path), "--to", str(out), "--atom-types", "Au", "--prepared", "soon"],
    )
    assert result.exit_code == 2 and "is not an ISO 8601 date" in result.output
    result = cli.invoke(
        app,
        [
            "export",
            str(record_path),
            "--to",
            str(out),
            "--atom-types",
            "Au,Ag",
            "--prepared",
            "2026-11-30T14:00+01:00",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _valid(out)
    with h5py.File(out, "r") as h5:
        assert h5["entry1/sample/preparation_date"][()].decode() == "2026-11-30T14:00:00+01:00"
