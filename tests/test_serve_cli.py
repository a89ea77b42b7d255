"""`steerscope serve`: a real subprocess on loopback, and the refusals that come before binding."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from steerscope.cli import app
from steerscope.instruments import RemoteMicroscope

pytestmark = pytest.mark.timeout(90)

START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``process`` within ``timeout`` seconds ("" if it ended first)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline()


@pytest.mark.parametrize(
    ("driver", "dataset", "overview_shape", "n_channels", "described_as"),
    [
        ("sim", "plasmonic_nanoparticles", (128, 128), 300, "simulator"),
        ("spm-sim", "sts_dopants", (128, 128), 200, "spm-sim"),
    ],
)
def test_serve_subprocess_on_loopback_serves_a_dataset(
    driver: str,
    dataset: str,
    overview_shape: tuple[int, int],
    n_channels: int,
    described_as: str,
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "STEERSCOPE_TOKEN"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "steerscope.cli",
            "serve",
            "--driver",
            driver,
            "--dataset",
            dataset,
            "--port",
            str(port),
            "--option",
            "dwell_time_s=0.02",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = _read_line(process, START_TIMEOUT_S)
        uri = f"PYRO:steerscope.microscope@127.0.0.1:{port}"
        assert line.strip() == f"steerscope: serving {driver} microscope at {uri}", (
            line,
            process.stderr.read() if process.poll() is not None and process.stderr else "",
        )
        with RemoteMicroscope(uri, timeout_s=10, retries=0) as remote:
            overview = remote.overview()
            assert overview.image.shape == overview_shape
            measurement = remote.acquire(np.array([[10, 20], [64, 64]]))
            assert measurement.spectra.shape == (2, n_channels)
            assert measurement.dwell_time_s == 0.02  # the --option reached the driver
            np.testing.assert_array_equal(measurement.points, [[10, 20], [64, 64]])
            description = remote.describe()
            assert description["overview_shape"] == list(overview_shape)
            assert description["driver"] == described_as
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert process.returncode is not None


def _invoke(args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("STEERSCOPE_TOKEN", raising=False)
    return CliRunner().invoke(app, ["serve", *args])


def test_exposed_host_without_token_exits_2_before_building_or_binding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import steerscope.datasets
    import steerscope.instruments.server as server_module

    touched: list[str] = []
    monkeypatch.setattr(server_module, "make_driver", lambda *a, **k: touched.append("driver"))
    monkeypatch.setattr(server_module, "TokenDaemon", lambda *a, **k: touched.append("bind"))
    monkeypatch.setattr(steerscope.datasets, "get_dataset", lambda *a, **k: touched.append("data"))
    port = _free_port()
    args = ["--driver", "sim", "--dataset", "plasmonic_nanoparticles"]
    result = _invoke([*args, "--host", "0.0.0.0", "--port", str(port)], monkeypatch)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: refusing to serve the microscope on '0.0.0.0' without a token"
    )
    assert "Pass --token TOKEN" in lines[0]
    assert touched == []  # refused before loading the data, building the driver or binding
    # the port was never taken
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--driver", "sim"], "--driver sim needs a spectrum image to serve: pass --dataset NAME"),
        (["--driver", "spm-sim"], "--driver spm-sim needs a spectrum image to serve"),
        (
            ["--driver", "nion", "--dataset", "x"],
            "--dataset and --path are options of the simulators (sim, spm-sim)",
        ),
        (["--driver", "sim", "--dataset", "x", "--option", "noise"], "--option expects key=value"),
        (
            ["--driver", "sim", "--dataset", "x", "--token", "short"],
            "the token must have at least 12 characters; got 5",
        ),
    ],
)
def test_serve_option_errors_are_one_line(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _invoke(args, monkeypatch)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1  # one line of error (a --token also earns one line of warning)
    assert message in result.output


def test_serve_limits_file_is_validated_and_passed_to_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import steerscope.instruments.server as server_module
    from steerscope.instruments import SafetyLimits

    seen: dict[str, Any] = {}

    def fake_serve(driver: str, **kwargs: Any) -> None:
        seen.update(kwargs, driver=driver)

    monkeypatch.setattr(server_module, "serve_from_cli", fake_serve)
    limits = tmp_path / "limits.yaml"
    limits.write_text("max_dwell_time_s: 0.05\nmax_acquisitions: 100\n", encoding="utf-8")
    args = ["--driver", "nion", "--limits", str(limits), "--option", "exposure_ms=5"]
    result = _invoke(args, monkeypatch)
    assert result.exit_code == 0, result.output
    assert seen["limits"] == SafetyLimits(max_dwell_time_s=0.05, max_acquisitions=100)
    assert seen["driver"] == "nion" and seen["exposure_ms"] == 5
    assert seen["host"] == "127.0.0.1" and seen["token"] is None and seen["read_only"] is False

    limits.write_text("max_dwel_time_s: 0.05\n", encoding="utf-8")
    result = _invoke(args, monkeypatch)
    assert result.exit_code == 2
    assert "is not a valid set of safety limits" in result.output
    assert "max_dwel_time_s" in result.output


def test_serve_options_match_serve_from_cli() -> None:
    """Every keyword of serve_from_cli has a CLI option (driver options go through --option)."""
    import inspect

    from steerscope.instruments.server import serve_from_cli

    names = {p.name for p in inspect.signature(serve_from_cli).parameters.values()}
    assert names == {"driver", "host", "port", "token", "read_only", "limits", "driver_options"}
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    for option in (
        "--driver",
        "--host",
        "--port",
        "--token",
        "--read-only",
        "--limits",
        "--option",
    ):
        assert option in result.output
