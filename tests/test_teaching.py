"""Teaching mode's rules: limits from the environment, visitor folders, caps, clean-up."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steerscope.cli import app
from steerscope.errors import ConfigError
from steerscope.ui.state import CampaignRegistry
from steerscope.ui.teaching import (
    TEACHING_ENV,
    TeachingLimitError,
    TeachingLimits,
    check_budget,
    check_new_campaign,
    check_sweep,
    is_visitor_id,
    new_visitor_id,
    stale_visitors,
    teaching_limits,
    visitor_dir,
)


def test_teaching_mode_is_off_unless_the_environment_names_limits(monkeypatch: Any) -> None:
    monkeypatch.delenv(TEACHING_ENV, raising=False)
    assert teaching_limits() is None
    monkeypatch.setenv(TEACHING_ENV, "{}")
    assert teaching_limits() == TeachingLimits()
    monkeypatch.setenv(TEACHING_ENV, '{"max_budget": 50, "allow_files": true}')
    limits = teaching_limits()
    assert limits is not None and limits.max_budget == 50 and limits.allow_files
    assert not limits.allow_live  # live microscopes stay off unless asked for


@pytest.mark.parametrize("text", ["yes", "[1]", '{"max_budjet": 50}', '{"max_budget": 0}'])
def test_bad_teaching_limits_say_what_was_expected(monkeypatch: Any, text: str) -> None:
    monkeypatch.setenv(TEACHING_ENV, text)
    with pytest.raises(ConfigError, match=r"JSON object of teaching limits.*steerscope teach"):
        teaching_limits()


def test_visitor_ids_are_fresh_and_never_a_path(tmp_path: Path) -> None:
    first, second = new_visitor_id(), new_visitor_id()
    assert first != second and is_visitor_id(first) and is_visitor_id(second)
    assert visitor_dir(tmp_path, first) == tmp_path / "visitors" / first
    for bad in ["../../etc", "short", "a" * 65, "abc/defghijklmnopq", None, 12345678901234567]:
        assert not is_visitor_id(bad)
    with pytest.raises(TeachingLimitError, match="not a visitor id"):
        visitor_dir(tmp_path, "../../../../tmp/x-")


def test_a_new_campaign_beyond_a_limit_is_refused_with_what_to_do() -> None:
    limits = TeachingLimits(
        max_budget=100, max_running_per_visitor=1, max_running_total=2, max_campaigns_per_visitor=3
    )
    fine = {"budget": 100, "running_mine": 0, "running_all": 1, "records_mine": 2}
    check_new_campaign(limits, **fine)
    with pytest.raises(TeachingLimitError, match=r"at most 100 spectra.*smaller budget"):
        check_new_campaign(limits, **{**fine, "budget": 101})
    with pytest.raises(TeachingLimitError, match=r"1 campaign\(s\) running.*stop one"):
        check_new_campaign(limits, **{**fine, "running_mine": 1})
    with pytest.raises(TeachingLimitError, match=r"server is running 2 campaigns.*try again"):
        check_new_campaign(limits, **{**fine, "running_all": 2})
    with pytest.raises(TeachingLimitError, match=r"3 campaign records"):
        check_new_campaign(limits, **{**fine, "records_mine": 3})
    with pytest.raises(TeachingLimitError, match="at most 100 spectra"):
        check_budget(limits, 500)  # a budget raised while the campaign runs


def test_a_sweep_beyond_the_limits_is_refused() -> None:
    limits = TeachingLimits(max_sweep_runs=4, max_budget=60)
    check_sweep(limits, n_runs=4, budget=60)
    with pytest.raises(TeachingLimitError, match=r"at most 4 campaigns per sweep.*fewer"):
        check_sweep(limits, n_runs=5, budget=60)
    with pytest.raises(TeachingLimitError, match="at most 60 spectra"):
        check_sweep(limits, n_runs=2, budget=61)


def _visitor(records: Path, age_s: float, now: float) -> Path:
    folder = visitor_dir(records, new_visitor_id())
    folder.mkdir(parents=True)
    record = folder / "run.sqlite"
    record.write_bytes(b"")
    for path in (record, folder):
        os.utime(path, (now - age_s, now - age_s))
    return folder


def test_stale_visitors_are_those_away_longer_than_the_limit(tmp_path: Path) -> None:
    now = time.time()
    gone = _visitor(tmp_path, 13 * 3600, now)
    recent = _visitor(tmp_path, 3600, now)
    (tmp_path / "visitors" / "not-a-visitor").mkdir()  # never touched: not ours to judge
    assert stale_visitors(tmp_path, 12 * 3600, now=now) == [gone]
    os.utime(gone / "run.sqlite", (now, now))  # a campaign wrote to it: back
    assert stale_visitors(tmp_path, 12 * 3600, now=now) == []
    assert recent.is_dir()
    assert stale_visitors(tmp_path / "none", 1.0) == []


class _Runner:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self, timeout: float) -> bool:
        self.stopped = True
        return True


def test_the_registry_stops_the_campaigns_of_a_removed_visitor(tmp_path: Path) -> None:
    registry = CampaignRegistry()
    theirs, mine = _Runner(), _Runner()
    gone = visitor_dir(tmp_path, new_visitor_id())
    stays = visitor_dir(tmp_path, new_visitor_id())
    registry.register(gone / "a.sqlite", theirs)
    registry.register(stays / "b.sqlite", mine)
    assert registry.discard_under(gone) == 1
    assert theirs.stopped and not mine.stopped
    assert [e.record_path for e in registry.entries()] == [str(stays / "b.sqlite")]


def test_steerscope_teach_hands_the_limits_given_to_the_web_ui(monkeypatch: Any) -> None:
    import steerscope.cli as cli_module

    seen: dict[str, Any] = {}

    def fake_streamlit(port: int, address: str, records: Any, demo: bool, teaching: Any) -> None:
        seen.update(port=port, demo=demo, teaching=teaching)

    monkeypatch.setattr(cli_module, "_streamlit", fake_streamlit)
    result = CliRunner().invoke(app, ["teach", "--max-budget", "50", "--port", "8600"])
    assert result.exit_code == 0, result.output
    assert seen["port"] == 8600 and seen["demo"]
    assert TeachingLimits(**seen["teaching"]).max_budget == 50
    assert seen["teaching"] == {"max_budget": 50, "allow_files": False, "allow_live": False}
    refused = CliRunner().invoke(app, ["teach", "--max-budget", "0"])
    assert refused.exit_code == 2


def test_the_container_starts_the_teaching_server_with_options_the_cli_takes(
    monkeypatch: Any,
) -> None:
    """The Dockerfile's CMD is a ``steerscope teach`` the CLI accepts (not built here:
    the machine that runs the tests has no container runtime)."""
    import json

    import steerscope.cli as cli_module

    dockerfile = Path(__file__).resolve().parents[1] / "Dockerfile"
    (line,) = [t for t in dockerfile.read_text().splitlines() if t.startswith("CMD ")]
    command = json.loads(line.removeprefix("CMD "))
    assert command[:2] == ["steerscope", "teach"]
    seen: dict[str, Any] = {}

    def fake_streamlit(port: int, address: str, records: Any, demo: bool, teaching: Any) -> None:
        seen.update(address=address, teaching=teaching)

    monkeypatch.setattr(cli_module, "_streamlit", fake_streamlit)
    result = CliRunner().invoke(app, command[1:])
    assert result.exit_code == 0, result.output
    assert seen["address"] == "0.0.0.0" and seen["teaching"] is not None
    assert "torch==2.13.0" in dockerfile.read_text()  # pinned: never the CUDA build
