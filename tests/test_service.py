"""Watching and steering a running campaign from other processes (Pyro5 on loopback)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from steerscope.campaign import Campaign, CampaignRunner, SetPolicy
from steerscope.cli import app
from steerscope.errors import ConfigError, InstrumentError
from steerscope.records import CampaignRecord
from steerscope.service import SteeringClient, SteeringServer

WAIT_S = 60.0
TOKEN = "a-long-enough-token-for-tests"


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "served",
        "source": {"dataset": "plasmonic_nanoparticles"},
        "instrument": {"acquisition_delay_s": 0.1},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 5},
        "seed_points": {"kind": "grid", "n": 4},
        "policy": {"beta": 0.25},
        "budget": {"measurements": 30},
    }
    config.update(overrides)
    return config


def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_two_clients_watch_and_steer_one_campaign_whose_process_alone_writes(
    tmp_path: Path,
) -> None:
    campaign = Campaign.create(_config(), tmp_path / "s.sqlite")
    runner = CampaignRunner(campaign, save_maps=False)
    with SteeringServer(runner, token=TOKEN) as server:
        runner.start()
        try:
            notebook = SteeringClient(server.uri, token=TOKEN)
            second_tab = SteeringClient(server.uri, token=TOKEN)
            _until(lambda: notebook.status()["n_measured"] >= 5, "5 spectra")
            assert notebook.post(SetPolicy(beta=4.0)) == "beta 0.25 → 4"
            _until(lambda: second_tab.status()["policy"]["beta"] == 4.0, "the change applied")
            state = second_tab.status()
            assert any(e["kind"] == "intervention" for e in state["events"])
            with CampaignRecord.open(state["record_path"], read_only=True) as record:
                assert len(record.measurements()) >= 5  # clients read spectra from the record
        finally:
            runner.stop()
            campaign.close()
    with CampaignRecord.open(tmp_path / "s.sqlite", read_only=True) as record:
        (change,) = [i for i in record.interventions() if i.kind == "SetPolicy"]
        assert change.after["beta"] == 4.0


def test_the_channel_keeps_the_serve_rules(tmp_path: Path) -> None:
    campaign = Campaign.create(_config(), tmp_path / "r.sqlite")
    runner = CampaignRunner(campaign, save_maps=False)
    try:
        with pytest.raises(InstrumentError, match="without a token"):
            SteeringServer(runner, host="0.0.0.0")
        with SteeringServer(runner, token=TOKEN) as server:
            with pytest.raises(InstrumentError, match="refused the token"):
                SteeringClient(server.uri, token="not-the-right-token").status()
            reply = SteeringClient(server.uri, token=TOKEN)._call("post", "SetColour", {})
            assert reply["ok"] is False and "SetColour" in reply["message"]
    finally:
        runner.stop()
        campaign.close()


def test_run_serve_prints_a_uri_that_steer_uses_until_stop(tmp_path: Path) -> None:
    config_path = tmp_path / "served.yaml"
    config_path.write_text(yaml.safe_dump(_config(budget={"measurements": 200})), "utf-8")
    record = tmp_path / "served.sqlite"
    command = [sys.executable, "-m", "steerscope.cli", "run", str(config_path)]
    process = subprocess.Popen(
        [*command, "--record", str(record), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        uri = ""
        deadline = time.monotonic() + WAIT_S
        while not uri:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the run ended before serving"
            assert time.monotonic() < deadline, "no steering URI printed"
            if line.startswith("steering: "):
                uri = line.removeprefix("steering: ").strip()
        cli = CliRunner()
        result = cli.invoke(app, ["steer", uri, "--set", "beta=3"])
        assert result.exit_code == 0, result.output
        assert "queued: beta 0.25 → 3" in result.output
        result = cli.invoke(app, ["steer", uri, "--set", "colour=red"])
        assert result.exit_code != 0 and "cannot change 'colour'" in result.output
        while not line.startswith("2/"):  # an answer needs two spectra: the run prints them
            line = process.stdout.readline()
            assert line, "the run ended before measuring two spectra"
        result = cli.invoke(app, ["steer", uri, "--compare", "2>1"])
        assert "queued: spectrum #2 preferred to #1" in result.output, result.output
        result = cli.invoke(app, ["steer", uri, "--action", "stop"])
        assert result.exit_code == 0 and "queued: stop" in result.output
        out, _ = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, out
        assert "stopped:" in out and "beam idle" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()  # a failure above must not leak the pipe into later tests
    with CampaignRecord.open(record, read_only=True) as rec:
        kinds = [i.kind for i in rec.interventions()]
        assert "SetPolicy" in kinds and "Stop" in kinds
        (judged,) = [i.after for i in rec.interventions() if i.kind == "Compare"]
        assert judged == {"first": 1, "second": 0, "answer": "first", "by": "terminal"}
        assert rec.status().status == "stopped"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12>7", (11, 6, "first")), (" #3 < #1 ", (2, 0, "second")), ("4=5", (3, 4, "none"))],
)
def test_steer_reads_a_comparison_as_the_page_numbers_spectra(
    text: str, expected: tuple[int, int, str]
) -> None:
    from steerscope.cli import parse_comparison

    judged = parse_comparison(text)
    assert (judged.first, judged.second, judged.answer) == expected
    assert judged.by == "terminal"


@pytest.mark.parametrize("text", ["12>", "0>3", "3>>4", "a>b", "3>3"])
def test_a_malformed_comparison_on_the_command_line_says_how_to_write_it(text: str) -> None:
    from steerscope.cli import parse_comparison

    with pytest.raises(ConfigError, match=r"e\.g\. '12>7'|two different spectra"):
        parse_comparison(text)
