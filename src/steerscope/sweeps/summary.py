"""The sweep summary: one row per run, written as CSV, Markdown, JSON and a discovery plot.

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so a reader — or a sweep killed while writing — never sees a
half-written summary.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steerscope.errors import ConfigError
from steerscope.records.files import written_whole

__all__ = [
    "SUMMARY_FILES",
    "load_summary",
    "markdown_table",
    "summary_columns",
    "write_atomic",
    "write_summary",
]

SUMMARY_FILES = {
    "csv": "summary.csv",
    "markdown": "summary.md",
    "json": "summary.json",
    "plot": "discovery.png",
}
"""Names of the summary files inside the sweep's ``out_dir``."""


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist.
    data : str or bytes
        Text (written as UTF-8) or bytes.

    Returns
    -------
    Path
        ``path``.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with written_whole(target) as (tmp,), tmp.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return target


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.{digits}g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def summary_columns(rows: Sequence[dict[str, Any]], checkpoints: Sequence[int]) -> list[str]:
    """Column names of the summary table.

    ``run_id, name``, one column per override path (in first-seen order), the
    status, ``discovery@k`` per checkpoint, then the timings and the best target.
    """
    paths: list[str] = []
    for row in rows:
        for key in row.get("overrides", {}):
            if key not in paths:
                paths.append(key)
    return [
        "run_id",
        "name",
        *paths,
        "status",
        "action",
        "n_measured",
        "budget",
        *(f"discovery@{k}" for k in checkpoints),
        "median_step_s",
        "best_target",
        "ground_truth",
        "error",
    ]


def _cells(row: dict[str, Any], columns: Sequence[str]) -> list[str]:
    overrides = row.get("overrides", {})
    discovery = row.get("discovery", {}) or {}
    cells = []
    for column in columns:
        if column in overrides:
            cells.append(_fmt(overrides[column]))
        elif column.startswith("discovery@"):
            cells.append(_fmt(discovery.get(column.removeprefix("discovery@"))))
        elif column in ("median_step_s",):
            cells.append(_fmt(row.get(column), 3))
        elif column == "best_target":
            cells.append(_fmt(row.get(column), 5))
        else:
            cells.append(_fmt(row.get(column)))
    return cells


def markdown_table(rows: Sequence[dict[str, Any]], checkpoints: Sequence[int]) -> str:
    """The summary rows as a GitHub-flavoured Markdown table (one line per run)."""
    columns = summary_columns(rows, checkpoints)
    lines = [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        cells = [cell.replace("|", "\\|") for cell in _cells(row, columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ground_truth_note(rows: Sequence[dict[str, Any]]) -> str:
    missing = [row for row in rows if not row.get("discovery_curve")]
    if not missing:
        return ""
    reasons = sorted(
        {str(row.get("ground_truth") or row.get("error") or "unknown") for row in missing}
    )
    return (
        f"Discovery is empty for {len(missing)} of {len(rows)} run(s): " + "; ".join(reasons) + "."
    )


def _plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_curves = sum(1 for row in rows if row.get("discovery_curve"))
    figure = Figure(figsize=(8.0, 4.5 + 0.18 * ((n_curves + 1) // 2)), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    plotted = 0
    for row in rows:
        curve = row.get("discovery_curve") or []
        if not curve:
            continue
        ks = [int(k) for k, _ in curve]
        fractions = [float(f) for _, f in curve]
        axes.step(ks, fractions, where="post", label=f"{row['run_id'][:6]} {row['name']}")
        plotted += 1
    axes.set_xlabel("measurements")
    axes.set_ylabel("fraction of top pixels found")
    top = max(
        (float(f) for row in rows for _, f in (row.get("discovery_curve") or [])), default=1.0
    )
    axes.set_ylim(-0.02 * max(top, 0.05), 1.1 * max(top, 0.05))  # zoom: small fractions show
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if plotted:
        axes.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False
        )
    else:
        axes.text(
            0.5,
            0.5,
            "no ground truth: discovery cannot be scored",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())


def write_summary(
    out_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    *,
    checkpoints: Sequence[int],
    title: str = "sweep",
) -> dict[str, Path]:
    """Write the summary table (CSV, Markdown, JSON) and the discovery plot (PNG).

    Parameters
    ----------
    out_dir : str or Path
        The sweep folder (must exist).
    rows : sequence of dict
        One row per run, as :func:`steerscope.sweeps.execute_run` returns it.
    checkpoints : sequence of int
        Measurement counts reported as ``discovery@k`` columns.
    title : str
        Title of the Markdown page and the plot.

    Returns
    -------
    dict of str to Path
        ``csv``, ``markdown``, ``json``, ``plot`` → the file written.
    """
    folder = Path(out_dir)
    columns = summary_columns(rows, checkpoints)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cells(row, columns))
    files = {key: folder / name for key, name in SUMMARY_FILES.items()}
    write_atomic(files["csv"], text.getvalue())
    note = _ground_truth_note(rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    status_line = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    markdown = [
        f"# Sweep {title}",
        "",
        f"{len(rows)} run(s): {status_line}. Discovery@k is the fraction of the top "
        "ground-truth pixels found within the first k measurements (empty: fewer than k "
        "measurements, or no ground truth).",
        "",
        markdown_table(rows, checkpoints),
        "",
    ]
    if note:
        markdown += [note, ""]
    markdown += [f"![discovery vs measurements]({SUMMARY_FILES['plot']})", ""]
    write_atomic(files["markdown"], "\n".join(markdown))
    payload = {
        "title": title,
        "checkpoints": list(checkpoints),
        "note": note,
        "runs": [_json_safe(row) for row in rows],
    }
    write_atomic(files["json"], json.dumps(payload, indent=2, sort_keys=False) + "\n")
    _plot(rows, files["plot"], title)
    return files


def load_summary(out_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's ``summary.json``.

    Raises
    ------
    ConfigError
        If the folder has no summary yet (run the sweep first).
    """
    path = Path(out_dir) / SUMMARY_FILES["json"]
    if not path.is_file():
        raise ConfigError(
            f"no sweep summary at {path}; run the sweep first (steerscope sweep SWEEP.yaml)."
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["runs"])


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
