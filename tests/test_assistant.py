"""An assistant reads a campaign over MCP and proposes; only the operator's approval steers."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steerscope.campaign import Campaign, CampaignRunner, SetBudget, SetPolicy
from steerscope.cli import app
from steerscope.errors import ConfigError
from steerscope.records import CampaignRecord
from steerscope.service import SteeringClient, SteeringServer
from steerscope.service.assistant import PROPOSABLE, build_assistant_server

WAIT_S = 60.0
TOKEN = "a-long-enough-token-for-tests"


def _campaign(path: Path) -> Campaign:
    return Campaign.create(
        {
            "name": "assisted",
            "source": {"dataset": "plasmonic_nanoparticles"},
            "instrument": {"acquisition_delay_s": 0.05},
            "descriptor": {"patch_size": 4},
            "model": {"kind": "exact_gp", "exact_iterations": 5},
            "seed_points": {"kind": "grid", "n": 4},
            "policy": {"beta": 0.25},
            "budget": {"measurements": 400},
        },
        path,
    )


def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def _events(runner: CampaignRunner, kind: str) -> list[str]:
    return [e.text for e in runner.snapshot().events if e.kind == kind]


def test_a_proposal_waits_for_the_operator_and_is_recorded_either_way(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path / "p.sqlite")
    runner = CampaignRunner(campaign, save_maps=False).start()
    try:
        _until(lambda: runner.snapshot().n_measured >= 6, "6 spectra")
        first = runner.propose(SetPolicy(beta=4.0), by="assistant", reason="it is stuck")
        second = runner.propose(SetBudget(measurements=50), by="assistant")
        waiting = runner.snapshot().proposals
        assert [(p["id"], p["text"], p["by"]) for p in waiting] == [
            (first, "beta 0.25 → 4", "assistant"),
            (second, "budget → 50 spectra", "assistant"),
        ]
        _until(lambda: len(_events(runner, "intervention_proposed")) == 2, "both logged")
        time.sleep(0.5)
        assert runner.snapshot().policy["beta"] == 0.25  # nothing applied before approval

        assert runner.decide(first, approve=True) == "beta 0.25 → 4"
        assert runner.decide(second, approve=False) == "rejected: budget → 50 spectra"
        assert runner.snapshot().proposals == ()
        _until(lambda: runner.snapshot().policy["beta"] == 4.0, "the approved change applied")
        assert runner.snapshot().budget == 400
        with pytest.raises(ConfigError, match="no proposal #1 is waiting"):
            runner.decide(first, approve=True)
        _until(lambda: _events(runner, "proposal_rejected"), "the rejection logged")
        assert "approved by the operator" in _events(runner, "proposal_approved")[0]
    finally:
        runner.stop()
        campaign.close()
    with CampaignRecord.open(tmp_path / "p.sqlite", read_only=True) as record:
        kinds = [i.kind for i in record.interventions()]
        events = [e.kind for e in record.events()]
    assert kinds.count("SetPolicy") == 1 and "SetBudget" not in kinds
    assert {"intervention_proposed", "proposal_approved", "proposal_rejected"} <= set(events)


def _run(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end on a thread of its own.

    ``asyncio.run`` on the main thread leaves it without a current event loop, and
    nionswift-usim, which later tests start, asks for one there (``get_event_loop``).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _call(server: Any, tool: str, arguments: dict[str, Any]) -> Any:
    """One MCP tool call through an in-process client, as an assistant makes it."""
    from mcp import Client

    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)

    return _run(go())


def test_an_assistant_reads_over_mcp_and_its_proposal_waits_for_the_operator(
    tmp_path: Path,
) -> None:
    campaign = _campaign(tmp_path / "a.sqlite")
    runner = CampaignRunner(campaign, save_maps=False)
    with SteeringServer(runner, token=TOKEN) as served:
        runner.start()
        try:
            client = SteeringClient(served.uri, token=TOKEN)
            server = build_assistant_server(client)
            _until(lambda: client.snapshot().mean_map is not None, "a fitted model")

            async def tools() -> list[Any]:
                from mcp import Client

                async with Client(server) as session:
                    return list((await session.list_tools()).tools)

            listed = {t.name: t for t in _run(tools())}
            assert set(listed) == {
                "get_campaign_status",
                "get_target_history",
                "get_model_map",
                "propose_intervention",
            }
            assert listed["get_model_map"].annotations.read_only_hint
            assert not listed["propose_intervention"].annotations.read_only_hint

            status = _call(server, "get_campaign_status", {}).structured_content
            assert status["status"] == "running" and status["beta"] == 0.25
            assert status["measured"] >= 4 and status["budget"] == 400
            history = _call(server, "get_target_history", {"last": 3}).structured_content
            assert len(history["measurements"]) == 3
            assert {"row", "col", "target", "chosen_by"} <= set(history["measurements"][0])
            mean = _call(server, "get_model_map", {"which": "mean", "max_side": 16})
            shown = mean.structured_content
            assert shown["available"] and len(shown["rows"]) <= 16
            assert 0 <= shown["max_at"]["row"] < status["overview_shape"][0]

            asked = _call(
                server,
                "propose_intervention",
                {"kind": "SetPolicy", "parameters": {"beta": 3}, "reason": "explore more"},
            ).structured_content
            assert asked["proposed"] and "operator" in asked["status"]
            waiting = _call(server, "get_campaign_status", {}).structured_content
            assert waiting["waiting_for_operator"] == [
                {"id": asked["id"], "change": "beta 0.25 → 3", "by": "assistant"}
            ]
            assert client.snapshot().policy["beta"] == 0.25  # the assistant cannot steer

            bad = _call(
                server,
                "propose_intervention",
                {"kind": "SetBudget", "parameters": {"spectra": 9}, "reason": "?"},
            ).structured_content
            assert not bad["proposed"] and "cannot be rebuilt" in bad["error"]
            not_allowed = _call(
                server,
                "propose_intervention",
                {"kind": "DropRecord", "parameters": {}, "reason": "?"},
            )
            assert not_allowed.is_error  # outside the tool's schema: refused before the call

            assert client.decide(asked["id"], approve=True) == "beta 0.25 → 3"  # the operator
            _until(lambda: client.snapshot().policy["beta"] == 3.0, "the approved change")
        finally:
            runner.stop()
            campaign.close()


def test_the_proposable_kinds_are_interventions() -> None:
    from steerscope.campaign.interventions import _KINDS

    assert set(PROPOSABLE) <= set(_KINDS)


def test_steerscope_assistant_says_when_the_campaign_cannot_be_reached() -> None:
    result = CliRunner().invoke(app, ["assistant", "PYRO:steerscope.campaign@127.0.0.1:9"])
    assert result.exit_code != 0
    assert "cannot reach the campaign" in result.output
