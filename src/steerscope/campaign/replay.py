"""What-if runs: fork a campaign record at a step, change settings, and run the fork.

A fork is a new record holding the source's config, overview and everything
that happened *before* step ``K`` (interventions, decisions, their measured
spectra and the saved maps). The changes are given as dotted config paths
(``{"policy.beta": 1.0, "policy.acquisition": "ei"}``), validated against
:class:`~steerscope.campaign.CampaignConfig`, and recorded in the fork:

- a change an operator could also make with an intervention (``policy.*``,
  ``scalarizer``, ``descriptor.patch_size``, ``budget.measurements``) is
  recorded as that intervention at step ``K``, so it is in force from ``K`` on
  even when an earlier intervention set the same field;
- any other change (``model.*``, ``descriptor.stride``, ``seed``, ...) is
  written into the fork's config;
- an event of kind ``"replay"`` names the source, the step and every change.

Values are data: nothing is ever evaluated. On pre-acquired data (a built-in
dataset or a file) the fork re-measures exactly what the source measured
before ``K``; from ``K`` on the changed policy decides.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from steerscope.campaign.config import load_config
from steerscope.campaign.engine import Campaign, StepResult
from steerscope.errors import ConfigError, RecordError
from steerscope.records import CampaignRecord
from steerscope.records.files import SQLITE_SIDECARS, written_whole
from steerscope.types import Measurement, SignalKind

__all__ = ["apply_config_changes", "fork_record", "replay"]

_MISSING = object()


def _set_dotted(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path = "a.b.c"``, creating no intermediate level.

    Only the last level may be new (pydantic then refuses an unknown field); a
    middle level that is missing or not a mapping is an error here, with the path.
    """
    parts = path.split(".")
    if not path or any(not part.strip() for part in parts):
        raise ConfigError(
            f"config change {path!r} is not a dotted field path; expected e.g. 'policy.beta' "
            "or 'descriptor.patch_size'."
        )
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if child is _MISSING or child is None:
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"config change {path!r}: there is no section {where!r} in the campaign config; "
                "use a field path such as 'policy.beta', 'model.kind' or 'budget.measurements'."
            )
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"config change {path!r}: {where!r} is a value ({child!r}), not a section; "
                f"set {where!r} itself instead."
            )
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def apply_config_changes(config: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with dotted-path changes applied, validated as a campaign config.

    Parameters
    ----------
    config : mapping
        A campaign config as plain data (``CampaignConfig.to_dict()``).
    changes : mapping of str to object
        Dotted field path → new value, e.g. ``{"policy.beta": 1.0}``. A value
        replaces the field whole (``{"scalarizer": {...}}`` replaces the spec).

    Returns
    -------
    dict
        The changed config as plain data (normalised by the config model).

    Raises
    ------
    ConfigError
        If a path names no field or a value is not acceptable; the message
        gives the field path, the value received and what is expected.
    """
    data = copy.deepcopy(dict(config))
    for path, value in changes.items():
        if not isinstance(path, str):
            raise ConfigError(
                f"config change keys must be dotted field paths (str); got {path!r} "
                f"({type(path).__name__})."
            )
        _set_dotted(data, path, value)
    return load_config(data).to_dict()


def _effective_settings(config: Mapping[str, Any], interventions: list[Any]) -> dict[str, Any]:
    """Policy, scalarizer, patch size and budget in force after ``interventions``.

    Mirrors how :meth:`Campaign.resume` re-applies recorded interventions on
    the recorded config, without building an instrument.
    """
    policy = dict(config.get("policy") or {})
    scalarizer = copy.deepcopy(config.get("scalarizer"))
    patch_size = (config.get("descriptor") or {}).get("patch_size")
    measurements = (config.get("budget") or {}).get("measurements")
    for item in interventions:
        if item.kind == "SetPolicy":
            policy.update({k: v for k, v in item.after.items() if v is not None})
        elif item.kind == "SetScalarizer" and "spec" in item.after:
            scalarizer = copy.deepcopy(item.after["spec"])
        elif item.kind == "SetDescriptor" and "patch_size" in item.after:
            patch_size = item.after["patch_size"]
        elif item.kind == "SetBudget" and "measurements" in item.after:
            measurements = item.after["measurements"]
    return {
        "policy": policy,
        "scalarizer": scalarizer,
        "patch_size": patch_size,
        "measurements": measurements,
    }


def _intervention_section(path: str) -> str | None:
    """Which intervention kind a dotted path belongs to (None: a config-only field)."""
    if path == "policy" or path.startswith("policy."):
        return "SetPolicy"
    if path == "scalarizer" or path.startswith("scalarizer."):
        return "SetScalarizer"
    if path == "descriptor.patch_size":
        return "SetDescriptor"
    if path == "budget.measurements":
        return "SetBudget"
    return None


def _n_steps(record: CampaignRecord) -> int:
    """Number of steps the record holds (decided or measured)."""
    steps = [d.step for d in record.decisions()]
    measured = record.measurements()
    if len(measured):
        steps.append(int(np.max(measured.steps)))
    return max(steps) + 1 if steps else 0


def _describe_changes(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{path}={value!r}" for path, value in changes.items()) or "no changes"


def fork_record(
    record_path: str | Path,
    from_step: int,
    changes: Mapping[str, Any] | None,
    out_path: str | Path,
) -> Path:
    """Copy a record's first ``from_step`` steps into a new record and apply config changes.

    Parameters
    ----------
    record_path : str or Path
        The campaign record to fork (opened read-only; never changed).
    from_step : int
        ``K``: steps ``0 .. K-1`` are copied (their decisions, measured spectra and
        saved maps, and the interventions made before ``K``); step ``K`` is the
        first one the fork decides itself. ``0 <= K <=`` the source's step count.
    changes : mapping of str to object or None
        Dotted config path → value, e.g. ``{"policy.beta": 1.0,
        "policy.acquisition": "ei"}`` (see the module docstring for how each is
        recorded). Values are data, never evaluated.
    out_path : str or Path
        The new record (must not exist).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    ConfigError
        If ``from_step`` is out of range, ``out_path`` is the source, or a change
        names no config field or has an unacceptable value. Nothing is written then.
    RecordError
        If the source is not a readable record or ``out_path`` exists.
    """
    source, out = Path(record_path), Path(out_path)
    changes = dict(changes or {})
    if isinstance(from_step, bool) or not isinstance(from_step, int | np.integer):
        raise ConfigError(f"from_step must be an integer step index >= 0; got {from_step!r}.")
    from_step = int(from_step)
    if from_step < 0:
        raise ConfigError(f"from_step must be >= 0 (the first step is 0); got {from_step}.")
    if out.resolve() == source.resolve():
        raise ConfigError(
            f"the fork must go to a new record, not onto its source {str(source)!r}; "
            "choose another out_path."
        )
    with CampaignRecord.open(source, read_only=True) as old:
        n_steps = _n_steps(old)
        if from_step > n_steps:
            raise ConfigError(
                f"cannot fork {str(source)!r} at step {from_step}: the record holds {n_steps} "
                f"step(s) (0..{n_steps - 1}); choose a from_step between 0 and {n_steps}."
            )
        base = old.config()
        kept = [item for item in old.interventions() if item.step < from_step]
        before = _effective_settings(base, kept)
        # validate every change against the config in force at K, so a bad path or value
        # fails before anything is written
        in_force = copy.deepcopy(base)
        in_force["policy"] = before["policy"]
        in_force["scalarizer"] = before["scalarizer"]
        in_force.setdefault("descriptor", {})["patch_size"] = before["patch_size"]
        in_force.setdefault("budget", {})["measurements"] = before["measurements"]
        after = apply_config_changes(in_force, changes)
        if after.get("scalarizer") is None:
            raise ConfigError(
                "the fork needs a scalarizer; got scalarizer=None. Give a spec, e.g. "
                "{'scalarizer': {'kind': 'window_sum', 'window': [1.0, 1.6]}}."
            )
        measured = old.measurements()
        n_kept = int(np.sum(measured.steps < from_step)) if len(measured) else 0
        if after["budget"]["measurements"] < max(1, n_kept):
            raise ConfigError(
                f"budget.measurements must be >= {max(1, n_kept)} (spectra kept before step "
                f"{from_step}); got {after['budget']['measurements']}."
            )
        sections = {_intervention_section(path) for path in changes}
        config_only = {p: v for p, v in changes.items() if _intervention_section(p) is None}
        fork_config = apply_config_changes(base, config_only)

        if out.exists():
            raise RecordError(
                f"a file already exists at {out}; a campaign record is never overwritten. "
                "Choose a new out_path."
            )
        # Built under a temporary name and renamed when whole: a fork killed while it is
        # copied leaves no record that a resume would take for a complete one.
        building = written_whole(out, overwrite=False, sidecars=(*SQLITE_SIDECARS, ".lock"))
        with building as (partial,):
            new = CampaignRecord.create(
                partial, config=fork_config, overview=old.overview(), instrument=old.instrument()
            )
            with new:
                for item in kept:
                    new.add_intervention(item.step, item.kind, item.before, item.after)
                id_map: dict[int, int] = {}
                for decision in old.decisions():
                    if decision.step < from_step:
                        id_map[decision.id] = new.add_decision(
                            decision.step,
                            decision.points,
                            predicted_mean=decision.predicted_mean,
                            predicted_var=decision.predicted_var,
                            acquisition_value=decision.acquisition_value,
                            model=decision.model,
                            scalarizer=decision.scalarizer,
                            policy=decision.policy,
                            timings=decision.timings,
                        )
                if n_kept and measured.energy is not None:
                    kind = measured.signal_kind or SignalKind.EELS
                    for i in np.flatnonzero(measured.steps < from_step):
                        new.add_measurement(
                            Measurement(
                                points=measured.points[i : i + 1],
                                spectra=measured.spectra[i : i + 1],
                                energy=measured.energy,
                                signal_kind=kind,
                                acquired_at=measured.acquired_at[i : i + 1],
                                dwell_time_s=float(measured.dwell_time_s[i]),
                            ),
                            step=int(measured.steps[i]),
                            decision_id=id_map.get(int(measured.decision_ids[i])),
                        )
                for step in old.map_steps():
                    if step < from_step:
                        new.save_maps(step, old.maps(step))
                # interventions at K: in force from K on, even over an earlier one of the same kind
                if "SetPolicy" in sections and after["policy"] != before["policy"]:
                    # None means "leave as is" to SetPolicy, so only set fields are recorded
                    new.add_intervention(
                        from_step,
                        "SetPolicy",
                        {k: v for k, v in before["policy"].items() if v is not None},
                        {k: v for k, v in after["policy"].items() if v is not None},
                    )
                if "SetScalarizer" in sections and after["scalarizer"] != before["scalarizer"]:
                    new.add_intervention(
                        from_step,
                        "SetScalarizer",
                        {"spec": before["scalarizer"] or {}},
                        {"spec": after["scalarizer"]},
                    )
                new_patch = after["descriptor"]["patch_size"]
                if "SetDescriptor" in sections and new_patch != before["patch_size"]:
                    new.add_intervention(
                        from_step,
                        "SetDescriptor",
                        {"patch_size": before["patch_size"]},
                        {"patch_size": new_patch},
                    )
                new_budget = after["budget"]["measurements"]
                if "SetBudget" in sections and new_budget != before["measurements"]:
                    new.add_intervention(
                        from_step,
                        "SetBudget",
                        {"measurements": before["measurements"]},
                        {"measurements": new_budget},
                    )
                new.add_event(
                    from_step,
                    "replay",
                    f"forked from {source} at step {from_step} with {_describe_changes(changes)}",
                )
                new.set_status("paused", f"forked from {source.name} at step {from_step}")

    return out


def replay(
    record_path: str | Path,
    from_step: int,
    changes: Mapping[str, Any] | None,
    out_path: str | Path,
    *,
    n_steps: int | None = None,
    callback: Callable[[StepResult], None] | None = None,
) -> Path:
    """What-if: fork a record at a step with changed settings, then run the fork.

    Parameters
    ----------
    record_path : str or Path
        The campaign record to replay (best on pre-acquired data: a built-in
        dataset or a file; a remote source would drive the microscope).
    from_step : int
        Fork before this step (see :func:`fork_record`).
    changes : mapping of str to object or None
        Dotted config path → value, e.g. ``{"policy.beta": 4.0}``.
    out_path : str or Path
        The new record (must not exist).
    n_steps : int or None
        Run at most this many steps; None: to the budget.
    callback : callable, optional
        Called with each :class:`~steerscope.campaign.StepResult` (progress display).

    Returns
    -------
    Path
        ``out_path``, the finished (or paused after ``n_steps``) fork.

    Raises
    ------
    ConfigError, RecordError, InstrumentError
        As :func:`fork_record` and :meth:`Campaign.resume`; an error while
        running leaves the fork resumable with ``steerscope resume``.
    """
    out = fork_record(record_path, from_step, changes, out_path)
    with Campaign.resume(out) as campaign:
        campaign.run(n_steps=n_steps, callback=callback)
    return out
