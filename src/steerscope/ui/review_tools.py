"""Review page helpers without Streamlit: find records, read their history step by step."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.records import CampaignRecord

__all__ = [
    "RECORD_SUFFIX",
    "find_records",
    "intervention_rows",
    "kaleido_available",
    "measured_until",
    "record_steps",
    "timeline_events",
]

RECORD_SUFFIX = ".sqlite"
"""Conventional file suffix of a campaign record."""


def find_records(folder: Path) -> list[Path]:
    """Campaign records in ``folder`` (not recursive), newest first.

    Parameters
    ----------
    folder : Path
        The records folder; a missing folder has no records.
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix == RECORD_SUFFIX]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def record_steps(record: CampaignRecord) -> list[int]:
    """Every step that left a trace (decision, measurement or saved maps), ascending."""
    steps = {d.step for d in record.decisions()}
    steps.update(int(s) for s in record.measurements().steps.tolist())
    steps.update(record.map_steps())
    return sorted(steps) or [0]


def measured_until(record: CampaignRecord, step: int) -> NDArray[np.int64]:
    """Pixels measured at steps ``<= step``, in acquisition order, shape ``(n, 2)``."""
    measured = record.measurements()
    keep = measured.steps <= step
    return np.asarray(measured.points[keep], dtype=np.int64).reshape(-1, 2)


def timeline_events(record: CampaignRecord) -> list[tuple[int, str, str]]:
    """Interventions and log events as ``(step, kind, text)``, in time order."""
    rows: list[tuple[float, int, str, str]] = []
    for item in record.interventions():
        rows.append((item.at, item.step, item.kind, f"{item.before} → {item.after}"))
    for event in record.events():
        rows.append((event.at, event.step, f"event: {event.kind}", event.message))
    rows.sort(key=lambda r: r[0])
    return [(step, kind, text) for _, step, kind, text in rows]


def intervention_rows(record: CampaignRecord) -> list[dict[str, Any]]:
    """One table row per intervention: step, kind, before, after (as text)."""
    return [
        {"step": i.step, "kind": i.kind, "before": str(i.before), "after": str(i.after)}
        for i in record.interventions()
    ]


def kaleido_available() -> bool:
    """Whether plotly can export static images (needs the ``kaleido`` package)."""
    return importlib.util.find_spec("kaleido") is not None
