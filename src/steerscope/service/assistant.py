"""A tool facade for assistants: a running campaign over the Model Context Protocol.

Instrument agents in this field now call tools over MCP (EAA at Argonne, Diamond's
smartem). :func:`build_assistant_server` gives such an assistant read-only views of a
campaign (its state, the target history, the model's maps) and one way to act:
*propose* an intervention, which waits in the operator's web UI (and in the event log)
and takes effect only when the operator approves it, the deterministic guardrail of
recent scanning-probe agents. Nothing the assistant calls can steer by itself.

It reaches the campaign through the steering channel (:class:`SteeringClient`), with
its token and loopback rules; ``steerscope assistant URI`` serves it over stdio, the
transport an MCP client starts as a subprocess, so it opens no port of its own.

Needs the ``mcp`` package (``pip install 'steerscope[assistant]'``).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol, get_args

import numpy as np

from steerscope.campaign import Intervention, intervention_from_dict
from steerscope.campaign.snapshot import CampaignSnapshot
from steerscope.errors import ConfigError, SteerscopeError

__all__ = ["PROPOSABLE", "AssistantTarget", "build_assistant_server"]

ProposableKind = Literal[
    "SetPolicy",
    "SetBudget",
    "SetScalarizer",
    "SetDescriptor",
    "AddPoints",
    "VetoPoints",
    "Pause",
    "Resume",
    "RunSteps",
    "Stop",
]
PROPOSABLE: tuple[str, ...] = get_args(ProposableKind)
"""Interventions an assistant may propose (each still needs the operator's approval)."""

INSTRUCTIONS = """\
You are connected to a running steerscope campaign: a scanning transmission electron
microscope measuring spectra where a deep-kernel Gaussian process predicts a target is
high. Read it with campaign_status, target_history and model_map. You cannot steer it:
propose_intervention puts a change in front of the human operator, who approves or
rejects it; say why in `reason`. Pixel coordinates are (row, col) of the overview."""


class AssistantTarget(Protocol):
    """What the facade needs of a campaign: a SteeringClient, CampaignProcess or runner."""

    def snapshot(self) -> CampaignSnapshot:
        """The campaign's latest snapshot."""
        ...

    def propose(self, intervention: Intervention, *, by: str, reason: str = "") -> int:
        """Hold a change for the operator; its number."""
        ...


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def campaign_status(snap: CampaignSnapshot) -> dict[str, Any]:
    """The campaign's state in plain values: what an assistant reads first."""
    skill = snap.model_skill[np.isfinite(snap.model_skill)]
    return {
        "status": snap.status,
        "reason": snap.reason,
        "measured": snap.n_measured,
        "budget": snap.budget,
        "best_target": _finite(snap.best_target),
        "target": snap.scalarizer.get("label", snap.scalarizer.get("kind", "")),
        "acquisition": snap.policy.get("acquisition"),
        "beta": snap.policy.get("beta"),
        "model_skill": _finite(float(skill[-1])) if skill.size else None,
        "beam_idle_fraction": _finite(snap.beam_idle),
        "next_points": snap.next_points.tolist(),
        "queued_changes": list(snap.queued),
        "waiting_for_operator": [
            {"id": p["id"], "change": p["text"], "by": p["by"]} for p in snap.proposals
        ],
        "recent_events": [
            {"step": e.step, "kind": e.kind, "text": e.text} for e in snap.events[-10:]
        ],
        "overview_shape": list(snap.overview.shape),
        "pixel_size": snap.pixel_size,
        "pixel_units": snap.pixel_units,
    }


def target_history(snap: CampaignSnapshot, last: int) -> dict[str, Any]:
    """The last ``last`` measurements: where, the target, and what chose each point."""
    n = snap.n_measured
    start = max(0, n - max(1, int(last)))
    phases = snap.measured_phases or ("",) * n
    return {
        "target": snap.scalarizer.get("label", ""),
        "measurements": [
            {
                "number": i + 1,
                "row": int(snap.measured_points[i, 0]),
                "col": int(snap.measured_points[i, 1]),
                "target": _finite(float(snap.targets[i])),
                "chosen_by": phases[i] if i < len(phases) else "",
            }
            for i in range(start, n)
        ],
    }


def model_map(snap: CampaignSnapshot, which: str, max_side: int) -> dict[str, Any]:
    """A model map strided to at most ``max_side`` pixels a side, and where its top lies."""
    maps = {"mean": snap.mean_map, "std": snap.std_map, "acquisition": snap.acquisition_map}
    if which not in maps:
        raise ConfigError(f"map must be one of {sorted(maps)}, got {which!r}")
    values = maps[which]
    if values is None:
        return {"map": which, "available": False, "why": "no model has been fitted yet"}
    side = max(4, min(int(max_side), 128))
    stride = max(1, math.ceil(max(values.shape) / side))
    shown = np.asarray(values, dtype=np.float64)[::stride, ::stride]
    top = np.unravel_index(int(np.nanargmax(values)), values.shape)
    return {
        "map": which,
        "available": True,
        "stride": stride,
        "rows": [[_finite(v) for v in row] for row in shown.tolist()],
        "max": _finite(float(np.nanmax(values))),
        "max_at": {"row": int(top[0]), "col": int(top[1])},
    }


def build_assistant_server(target: AssistantTarget, *, name: str = "steerscope") -> Any:
    """An MCP server (``mcp.server.mcpserver.MCPServer``) over the campaign ``target``.

    Tools: ``campaign_status``, ``target_history``, ``model_map`` (read-only) and
    ``propose_intervention`` (waits for the operator). Run it with ``.run("stdio")``.

    Raises
    ------
    ConfigError
        When the ``mcp`` package is not installed.
    """
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.types import ToolAnnotations
    except ImportError as exc:
        raise ConfigError(
            "the assistant facade needs the MCP SDK: pip install 'steerscope[assistant]'"
        ) from exc

    server = MCPServer(name, instructions=INSTRUCTIONS)
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=reading)
    def get_campaign_status() -> dict[str, Any]:
        """The campaign's status, progress, best target, settings, model skill and events."""
        return campaign_status(target.snapshot())

    @server.tool(annotations=reading)
    def get_target_history(last: int = 50) -> dict[str, Any]:
        """The last `last` measurements: position (row, col), target value, what chose it."""
        return target_history(target.snapshot(), last)

    @server.tool(annotations=reading)
    def get_model_map(
        which: Literal["mean", "std", "acquisition"] = "mean", max_side: int = 32
    ) -> dict[str, Any]:
        """The model's predicted mean, uncertainty or acquisition score per pixel, strided."""
        return model_map(target.snapshot(), which, max_side)

    @server.tool(
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    def propose_intervention(
        kind: ProposableKind,
        parameters: dict[str, Any],
        reason: str,
    ) -> dict[str, Any]:
        """Propose a change to the operator; it takes effect only if they approve it.

        kind: SetPolicy (parameters e.g. {"beta": 4}), SetBudget ({"measurements": 80}),
        AddPoints ({"points": [[row, col], ...]}), VetoPoints ({"points": [...]}),
        SetScalarizer, SetDescriptor ({"patch_size": 24}), RunSteps ({"n": 5}), Pause,
        Resume, Stop (parameters {}). reason: why, in a sentence the operator reads.
        """
        try:
            intervention = intervention_from_dict(str(kind), dict(parameters))
            number = target.propose(intervention, by="assistant", reason=str(reason))
        except (SteerscopeError, TypeError, ValueError) as exc:
            return {"proposed": False, "error": str(exc)}
        return {
            "proposed": True,
            "id": number,
            "status": "waiting for the operator's approval in the steerscope UI",
        }

    del get_campaign_status, get_target_history, get_model_map, propose_intervention
    return server
