"""The steerscope CLI: run, resume, export, replay, datasets list, clean errors (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from steerscope.cli import _parse_settings, app
from steerscope.errors import ConfigError
from steerscope.records import CampaignRecord

CONFIG = {
    "name": "cli",
    "source": {"dataset": "plasmonic_nanoparticles"},
    "descriptor": {"patch_size": 4},
    "model": {"kind": "exact_gp", "exact_iterations": 5},
    "seed_points": {"kind": "grid", "n": 4},
    "budget": {"measurements": 6},
}


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return path


def test_run_resume_export_and_replay(cli: CliRunner, config_file: Path, tmp_path: Path) -> None:
    record = tmp_path / "r.sqlite"
    result = cli.invoke(app, ["run", str(config_file), "--record", str(record), "--steps", "5"])
    assert result.exit_code == 0, result.output
    assert "step    0  points 32,32" in result.output
    assert "[seed]" in result.output
    assert "paused: 5/6 spectra" in result.output

    result = cli.invoke(app, ["resume", str(record)])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "at step 5" in result.output
    assert "finished: 6/6 spectra" in result.output

    out = tmp_path / "r.h5"
    result = cli.invoke(app, ["export", str(record), "--to", str(out)])
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as handle:
        assert len(handle.keys()) > 0
    result = cli.invoke(app, ["export", str(record), "--to", str(tmp_path / "r.zspy")])
    assert result.exit_code == 0, result.output
    assert f"to {tmp_path / 'r_overview.zspy'}" in result.output
    assert (tmp_path / "r.zspy").is_dir()

    fork = tmp_path / "fork.sqlite"
    result = cli.invoke(
        app,
        [
            "replay",
            str(record),
            "--from-step",
            "4",
            "--set",
            "beta=4.0",
            "--set",
            "acquisition=max_variance",
            "--out",
            str(fork),
        ],
    )
    assert result.exit_code == 0, result.output
    with CampaignRecord.open(record, read_only=True) as old, CampaignRecord.open(fork) as new:
        old_points = old.measurements().points.tolist()
        new_measured = new.measurements()
        assert new_measured.points.tolist()[:4] == old_points[:4]  # the first 4 steps copied
        assert len(new_measured) == 6
        last = new.interventions()[-1]
        assert last.kind == "SetPolicy" and last.step == 4
        assert last.after["beta"] == 4.0 and last.after["acquisition"] == "max_variance"
        assert new.decisions()[-1].policy["acquisition"] == "max_variance"


def test_corrupt_record_exits_2_with_one_clean_line(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a campaign record" * 100)
    result = cli.invoke(app, ["resume", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_config_exits_2_listing_the_problems(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"policy": {"beta": -1}, "budget": {"measurements": 0}}))
    result = cli.invoke(app, ["run", str(path), "--record", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2
    assert "has 2 problems" in result.output
    assert "policy.beta" in result.output and "budget.measurements" in result.output
    assert not (tmp_path / "x.sqlite").exists()


def test_existing_record_is_never_overwritten(
    cli: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    record = tmp_path / "r.sqlite"
    record.write_bytes(b"keep me")
    result = cli.invoke(app, ["run", str(config_file), "--record", str(record)])
    assert result.exit_code == 2
    assert "never overwritten" in result.output
    assert record.read_bytes() == b"keep me"


def test_datasets_list(cli: CliRunner) -> None:
    result = cli.invoke(app, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    assert "plasmonic_nanoparticles (synthetic)" in result.output
    assert "core_loss_two_phase (synthetic)" in result.output


def test_replay_settings_are_parsed_as_data_never_evaluated() -> None:
    changes = _parse_settings(
        ["beta=1.5", "acquisition=ei", "measurements=20", "patch_size=8", "model.kind=exact_gp"]
    )
    assert changes == {
        "policy.beta": 1.5,
        "policy.acquisition": "ei",
        "budget.measurements": 20,
        "descriptor.patch_size": 8,
        "model.kind": "exact_gp",
    }
    assert _parse_settings(["acquisition=__import__('os')"]) == {
        "policy.acquisition": "__import__('os')"
    }
    with pytest.raises(ConfigError, match="key=value"):
        _parse_settings(["beta"])


def test_replay_with_an_unknown_setting_exits_2_naming_it(
    cli: CliRunner, config_file: Path, tmp_path: Path
) -> None:
    record = tmp_path / "r.sqlite"
    assert cli.invoke(app, ["run", str(config_file), "--record", str(record)]).exit_code == 0
    fork = tmp_path / "fork.sqlite"
    result = cli.invoke(
        app, ["replay", str(record), "--from-step", "2", "--set", "colour=red", "--out", str(fork)]
    )
    assert result.exit_code == 2
    assert "colour" in result.output and "Traceback" not in result.output
    assert not fork.exists()


def test_export_refuses_an_unknown_format(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["export", str(tmp_path / "r.sqlite"), "--to", "out.csv"])
    assert result.exit_code == 2
    assert "ending in .h5, .hdf5, .hspy, .zspy or .nxs" in result.output


def test_sweep_command_runs_a_tiny_sweep_and_refuses_a_bad_spec(tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "name: tiny\n"
        "base:\n"
        "  source: {dataset: plasmonic_nanoparticles,"
        " options: {overview_size: 64, spectrum_size: 32}}\n"
        "  descriptor: {patch_size: 8, pca_components: 4}\n"
        "  model: {kind: exact_gp}\n"
        "  budget: {measurements: 7}\n"
        "grid:\n"
        "  policy.beta: [0.25, 4.0]\n"
        "checkpoints: [5]\n"
        f"out_dir: {tmp_path / 'out'}\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(spec), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "summary.csv").exists()
    assert len(list((tmp_path / "out" / "runs").glob("*.sqlite"))) == 2

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: {source: {dataset: plasmonic_nanoparticles}}\ngrid: {nope.beta: [1]}\n")
    result = CliRunner().invoke(app, ["sweep", str(bad)])
    assert result.exit_code == 2


def test_a_token_on_the_command_line_is_warned_about(cli: CliRunner) -> None:
    """Every local user can read a --token through ps; the CLI says to use the variable."""
    result = cli.invoke(app, ["serve", "--driver", "sim", "--dataset", "x", "--token", "short"])
    assert result.exit_code == 2  # and a short token is refused
    assert "warning: a --token on the command line can be read by every user" in result.output
    assert "$STEERSCOPE_TOKEN" in result.output


def test_run_prints_the_model_skill_and_says_when_the_model_is_lost(
    cli: CliRunner, tmp_path: Path
) -> None:
    # a smooth overview and a target of pure Poisson noise: no patch predicts it
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:32, 0:32]
    data = tmp_path / "noise.npz"
    np.savez(
        data,
        overview=(np.sin(yy / 4.0) * np.cos(xx / 5.0)).astype(np.float32),
        spectra=rng.poisson(50.0, size=(32, 32, 8)).astype(np.float32),
        energy_offset=0.0,
        energy_scale=1.0,
        signal_kind="EELS",
    )
    config = {
        "name": "noise",
        "source": {"file": str(data)},
        "scalarizer": {"kind": "window_sum", "window": [0.0, 7.0]},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "random", "n": 4},
        "budget": {"measurements": 26},
        "policy": {"beta": 0.0},
        "seed": 0,
    }
    path = tmp_path / "noise.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = cli.invoke(app, ["run", str(path), "--record", str(tmp_path / "n.sqlite")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "skill —" in lines[1]  # no verdict on the first steps
    assert any(re.search(r"skill [+-]\d\.\d\d", line) for line in lines)
    warnings = [line for line in lines if line.lstrip().startswith("! ")]
    assert any("the patches do not predict this target" in line for line in warnings), result.output
    assert any("[explore]" in line for line in lines)


def test_run_says_before_the_first_step_that_the_overview_is_the_sum(
    cli: CliRunner, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "si.npz"
    np.savez(
        data,
        spectra=rng.poisson(20.0, size=(12, 12, 8)).astype(np.float32),
        energy_offset=0.0,
        energy_scale=1.0,
        signal_kind="EELS",
    )
    config = {
        "name": "no-haadf",
        "source": {"file": str(data)},
        "scalarizer": {"kind": "window_sum", "window": [0.0, 7.0]},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "random", "n": 3},
        "budget": {"measurements": 4},
        "seed": 0,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = cli.invoke(app, ["run", str(path), "--record", str(tmp_path / "r.sqlite")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("record: ")
    assert lines[1].startswith("  ! the overview is the sum of the spectra")
    assert lines[2].startswith("step ")
    assert "DataWarning" not in result.output  # said once, in words
