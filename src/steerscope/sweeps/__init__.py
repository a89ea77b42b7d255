"""Planning sweeps: many simulated campaigns over pre-acquired data, on Dask.

Before a live session, try descriptor sizes, scalarizers and policies on a
spectrum image already acquired, and see which finds the interesting regions
fastest. A :class:`SweepSpec` (YAML) names a base campaign and the settings to
vary; :func:`run_sweep` runs every combination as a full campaign with its own
record (``out_dir/runs/<run_id>.sqlite``), skips finished runs, resumes
interrupted ones, and writes a summary table (CSV, Markdown, JSON) and a
discovery plot.
"""

from steerscope.sweeps.runner import (
    RunTask,
    StepHook,
    SweepResult,
    execute_run,
    run_sweep,
    sweep_from_cli,
)
from steerscope.sweeps.spec import SweepRun, SweepSpec, load_sweep, run_id_for
from steerscope.sweeps.summary import load_summary, markdown_table, write_summary

__all__ = [
    "RunTask",
    "StepHook",
    "SweepResult",
    "SweepRun",
    "SweepSpec",
    "execute_run",
    "load_summary",
    "load_sweep",
    "markdown_table",
    "run_id_for",
    "run_sweep",
    "sweep_from_cli",
    "write_summary",
]
