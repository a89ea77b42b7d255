"""Planning sweeps: spec expansion and errors, idempotent runs (skip/resume/redo), Dask sweeps."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

from steerscope.campaign import StepResult
from steerscope.datasets import get_dataset
from steerscope.errors import ConfigError
from steerscope.records import CampaignRecord
from steerscope.sweeps import (
    RunTask,
    SweepSpec,
    execute_run,
    load_summary,
    load_sweep,
    run_id_for,
    run_sweep,
    sweep_from_cli,
)

SMALL_DATASET = {"overview_size": 64, "spectrum_size": 32}
BUDGET = 12


def base_config(**overrides: Any) -> dict[str, Any]:
    """A cheap campaign: 64×64 overview, exact GP, 4×4 patches, 12 measurements."""
    config: dict[str, Any] = {
        "source": {"dataset": "plasmonic_nanoparticles", "options": dict(SMALL_DATASET)},
        "descriptor": {"patch_size": 4},
        "model": {"kind": "exact_gp", "exact_iterations": 10},
        "seed_points": {"kind": "random", "n": 4},
        "budget": {"measurements": BUDGET},
        "seed": 0,
    }
    config.update(overrides)
    return config


def make_task(tmp_path: Path, overrides: dict[str, Any] | None = None, **spec: Any) -> RunTask:
    sweep = SweepSpec(
        base=base_config(),
        runs=[overrides or {"seed": 0}],
        checkpoints=[4, 8, 12],
        out_dir=str(tmp_path / "sweep"),
        **spec,
    )
    (run,) = sweep.expand()
    return RunTask(
        run=run,
        out_dir=sweep.out_dir,
        checkpoints=tuple(sweep.checkpoints),
        ground_truth=sweep.ground_truth,
    )


# -- spec -------------------------------------------------------------------------------


def test_grid_expands_to_every_combination_with_stable_ids_and_names() -> None:
    spec = SweepSpec(
        base=base_config(),
        grid={"descriptor.patch_size": [4, 8], "policy.beta": [0.25, 4.0], "seed": [0, 1]},
    )
    runs = spec.expand()
    assert len(runs) == 8
    assert runs[0].name == "patch_size=4 beta=0.25 seed=0"
    assert runs[-1].name == "patch_size=8 beta=4.0 seed=1"
    assert runs[0].overrides == {"descriptor.patch_size": 4, "policy.beta": 0.25, "seed": 0}
    assert runs[0].run_id == run_id_for(runs[0].overrides)
    assert len({run.run_id for run in runs}) == 8
    assert [r.run_id for r in spec.expand()] == [r.run_id for r in runs]  # stable
    # key order does not change the id
    assert run_id_for({"a": 1, "b": 2}) == run_id_for({"b": 2, "a": 1})
    last = runs[-1].config
    assert (last.descriptor.patch_size, last.policy.beta, last.seed) == (8, 4.0, 1)
    assert last.model.kind == "exact_gp"  # untouched base fields survive
    assert last.name == f"sweep-{runs[-1].run_id}"


def test_runs_are_crossed_with_the_grid_and_accept_whole_sections() -> None:
    scalarizer = {"kind": "window_max", "window": [1.0, 1.8]}
    spec = SweepSpec(
        base=base_config(),
        runs=[{"policy.acquisition": "ei"}, {"scalarizer": scalarizer, "model.kind": "exact_gp"}],
        grid={"seed": [0, 1, 2]},
    )
    runs = spec.expand()
    assert len(runs) == 6
    assert [r.config.seed for r in runs] == [0, 1, 2, 0, 1, 2]
    assert runs[0].config.policy.acquisition == "ei"
    assert runs[3].config.scalarizer is not None
    chosen = runs[3].config.scalarizer.model_dump(mode="json")
    assert (chosen["kind"], chosen["window"]) == ("window_max", [1.0, 1.8])
    assert runs[3].name.startswith("scalarizer=window_max#")


def test_yaml_round_trip_and_base_path_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "campaign.yaml").write_text(
        "source: {dataset: plasmonic_nanoparticles}\nbudget: {measurements: 7}\n"
    )
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "name: s\nbase: campaign.yaml\ngrid:\n  policy.acquisition: [ucb, ei]\n"
        "checkpoints: [5, 2]\n"
    )
    spec = load_sweep(sweep_file)
    assert spec.checkpoints == [2, 5]  # sorted
    assert Path(str(spec.base)) == tmp_path / "campaign.yaml"
    runs = spec.expand()
    assert [r.config.policy.acquisition for r in runs] == ["ucb", "ei"]
    assert runs[0].config.budget.measurements == 7
    assert SweepSpec.from_yaml(spec.to_yaml()) == spec
    inline = SweepSpec(base=base_config(), grid={"seed": [1]})
    assert SweepSpec.from_yaml(inline.to_yaml()) == inline


def test_unknown_top_level_path_lists_the_valid_fields() -> None:
    spec = SweepSpec(base=base_config(), grid={"polcy.beta": [1.0]})
    with pytest.raises(
        ConfigError,
        match=r"'polcy' is not a campaign config field; valid top-level fields are name, source",
    ):
        spec.expand()


def test_unknown_nested_path_lists_the_section_fields() -> None:
    spec = SweepSpec(base=base_config(), grid={"policy.bta": [1.0], "descriptor.size": [3]})
    with pytest.raises(ConfigError, match="2 problems") as info:
        spec.expand()
    message = str(info.value)
    assert "'policy' has no field 'bta'; valid fields of 'policy' are acquisition, beta" in message
    assert "'descriptor' has no field 'size'" in message


def test_bad_values_duplicates_and_bad_specs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"(?s)run 1 \(beta=-1.0\).*policy.beta: Input should be greater"
    ):
        SweepSpec(base=base_config(), grid={"policy.beta": [1.0, -1.0]}).expand()
    with pytest.raises(
        ConfigError, match=r"run 1 repeats the overrides \{'seed': 1\} of an earlier run"
    ):
        SweepSpec(base=base_config(), runs=[{"seed": 1}, {"seed": 1}]).expand()
    with pytest.raises(ConfigError, match=r"grid entries \['seed'\] have no values"):
        load_sweep({"base": base_config(), "grid": {"seed": []}})
    with pytest.raises(ConfigError, match=r"checkpoints must be measurement counts >= 1"):
        load_sweep({"base": base_config(), "checkpoints": [0, 5]})
    with pytest.raises(
        ConfigError, match=r"(?s)gird: Extra inputs.*Valid sweep fields: name, base"
    ):
        load_sweep({"base": base_config(), "gird": {"seed": [1]}})
    with pytest.raises(ConfigError, match=r"base campaign file .*nowhere.yaml' does not exist"):
        SweepSpec(base=str(tmp_path / "nowhere.yaml"), grid={"seed": [0]}).expand()
    with pytest.raises(ConfigError, match=r"sweep file .* does not exist"):
        load_sweep(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"(?s)base campaign is invalid.*budget.measurements"):
        SweepSpec(base={"budget": {"measurements": 0}}, grid={"seed": [0]}).expand()


def test_remote_sources_and_bad_worker_counts_are_refused_before_a_cluster(
    tmp_path: Path,
) -> None:
    spec = SweepSpec(
        base=base_config(source={"remote": "PYRO:x@127.0.0.1:1"}),
        grid={"seed": [0]},
        out_dir=str(tmp_path),
    )
    with pytest.raises(ConfigError, match="replays pre-acquired data"):
        run_sweep(spec, echo=None)
    ok = SweepSpec(base=base_config(), grid={"seed": [0]}, out_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="workers must be an integer >= 1; got 0"):
        run_sweep(ok, workers=0, echo=None)


def test_sweep_from_cli_reports_a_bad_spec_with_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("base: {}\ngrid: {nope: [1]}\n")
    assert sweep_from_cli(str(path), None, 1, str(tmp_path / "out")) == 2
    assert "valid top-level fields" in capsys.readouterr().err


# -- one run, in this process -------------------------------------------------------------


class _Killed(BaseException):
    """Stands for a worker process dying: not an Exception, so nothing records a failure."""


class KillAtStep:
    """Step hook: die (raise, or ``os._exit`` in a worker) at ``step`` of one run, once."""

    def __init__(self, marker: Path, run_id: str | None, step: int, hard: bool = False) -> None:
        self.marker = marker
        self.run_id = run_id
        self.step = step
        self.hard = hard

    def __call__(self, run_id: str, result: StepResult) -> None:
        if self.run_id not in (None, run_id) or result.step != self.step:
            return
        try:
            with self.marker.open("x") as handle:  # only the first attempt dies
                handle.write(run_id)
        except FileExistsError:
            return
        if self.hard:
            os._exit(17)
        raise _Killed


class FailAtStep:
    """Step hook: raise an ordinary error at ``step`` (a bug or a refused setting)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, run_id: str, result: StepResult) -> None:
        if result.step == self.step:
            raise RuntimeError(f"boom at step {self.step}")


def test_a_run_is_created_then_skipped_without_touching_its_record(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    row = execute_run(task)
    assert row["action"] == "created" and row["status"] == "finished"
    assert row["n_measured"] == BUDGET and row["budget"] == BUDGET
    assert set(row["discovery"]) == {"4", "8", "12"}
    assert [k for k, _ in row["discovery_curve"]] == list(range(1, BUDGET + 1))
    assert row["discovery"]["12"] == row["discovery_curve"][-1][1]
    assert row["ground_truth"] == "dataset ground truth"
    assert row["median_step_s"] is not None and row["median_step_s"] >= 0
    # best target = max window sum 1.0-1.8 eV over the recorded spectra
    with CampaignRecord.open(task.record_path, read_only=True) as record:
        measured = record.measurements()
    assert measured.energy is not None
    window = (measured.energy.values >= 1.0 - 1e-9) & (measured.energy.values <= 1.8 + 1e-9)
    assert row["best_target"] == pytest.approx(measured.spectra[:, window].sum(axis=1).max())
    stamps = written_state(task.record_path.parent)
    again = execute_run(task)
    assert again["action"] == "skipped"
    assert written_state(task.record_path.parent) == stamps
    assert again["discovery_curve"] == row["discovery_curve"]


def test_a_run_killed_mid_way_is_resumed_and_loses_nothing(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    with pytest.raises(_Killed):
        execute_run(task, KillAtStep(tmp_path / "killed", None, step=6))
    with CampaignRecord.open(task.record_path, read_only=True) as record:
        before = record.measurements().points.copy()
        assert record.status().status == "running"
    assert before.shape[0] == 7  # steps 0..6 were recorded before the "kill"
    row = execute_run(task, KillAtStep(tmp_path / "killed", None, step=6))
    assert row["action"] == "resumed" and row["status"] == "finished"
    with CampaignRecord.open(task.record_path, read_only=True) as record:
        after = record.measurements().points
    assert after.shape[0] == BUDGET
    np.testing.assert_array_equal(after[:7], before)
    assert len({tuple(p) for p in after.tolist()}) == BUDGET


def test_a_failed_run_is_reported_then_redone_and_the_old_record_kept(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    row = execute_run(task, FailAtStep(5))
    assert row["status"] == "failed"
    assert "RuntimeError: boom at step 5" in row["error"]
    with CampaignRecord.open(task.record_path, read_only=True) as record:
        assert record.status().status == "error"
    redone = execute_run(task)
    assert redone["action"] == "redone" and redone["status"] == "finished"
    assert (task.record_path.parent / f"{task.run.run_id}.failed-1.sqlite").is_file()


def test_a_corrupt_record_is_moved_aside_and_redone(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    task.record_path.parent.mkdir(parents=True)
    task.record_path.write_bytes(b"not a database at all")
    row = execute_run(task)
    assert row["action"] == "redone" and row["status"] == "finished"
    aside = task.record_path.parent / f"{task.run.run_id}.failed-1.sqlite"
    assert aside.read_bytes() == b"not a database at all"


def test_a_record_from_another_config_is_left_alone(tmp_path: Path) -> None:
    task = make_task(tmp_path)
    execute_run(task)
    stamp = task.record_path.stat().st_mtime_ns
    other_base = base_config(budget={"measurements": 9})
    sweep = SweepSpec(base=other_base, runs=[{"seed": 0}], out_dir=task.out_dir)
    (run,) = sweep.expand()
    assert run.run_id == task.run.run_id  # same overrides, changed base
    row = execute_run(RunTask(run=run, out_dir=task.out_dir))
    assert row["status"] == "conflict"
    assert "different campaign config" in row["error"] and "new out_dir" in row["error"]
    assert task.record_path.stat().st_mtime_ns == stamp


def test_non_default_scalarizer_is_scored_against_itself_and_none_leaves_discovery_empty(
    tmp_path: Path,
) -> None:
    spec = {"kind": "window_sum", "window": [2.0, 3.0]}
    row = execute_run(make_task(tmp_path / "a", {"scalarizer": spec}))
    assert row["ground_truth"].endswith("over every stored spectrum")
    assert row["discovery_curve"]
    row = execute_run(make_task(tmp_path / "b", ground_truth="none"))
    assert row["discovery_curve"] == [] and row["discovery"] == {"4": None, "8": None, "12": None}


def test_a_file_source_has_no_discovery_unless_asked_and_the_summary_says_so(
    tmp_path: Path,
) -> None:
    dataset = get_dataset("plasmonic_nanoparticles", **SMALL_DATASET)
    image = dataset.image
    path = tmp_path / "si.npz"
    np.savez(
        path,
        spectra=image.spectra,
        overview=image.overview,
        energy_offset=image.energy.offset,
        energy_scale=image.energy.scale,
        energy_units=image.energy.units,
    )
    base = base_config(
        source={"file": str(path)}, scalarizer={"kind": "window_sum", "window": [1.0, 1.8]}
    )
    sweep = SweepSpec(base=base, runs=[{"seed": 0}], out_dir=str(tmp_path / "s"))
    (run,) = sweep.expand()
    row = execute_run(RunTask(run=run, out_dir=sweep.out_dir, checkpoints=(4,)))
    assert row["status"] == "finished" and row["discovery_curve"] == []
    assert row["ground_truth"].startswith("none: a file source has no ground truth")
    from steerscope.sweeps import write_summary

    files = write_summary(tmp_path / "s", [row], checkpoints=[4])
    assert (
        "Discovery is empty for 1 of 1 run(s): none: a file source" in files["markdown"].read_text()
    )
    # asked for: the scalarizer over every stored spectrum, which here is the dataset's truth
    row = execute_run(RunTask(run=run, out_dir=str(tmp_path / "t"), ground_truth="scalarizer"))
    assert row["discovery_curve"]


def written_state(folder: Path) -> dict[str, Any]:
    """mtimes of records and results, and WAL sizes: a write to a record changes one of them."""
    state: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".sqlite", ".json"):
            state[path.name] = path.stat().st_mtime_ns
        elif path.name.endswith("-wal") and path.stat().st_size:  # an empty WAL holds nothing
            state[path.name] = path.stat().st_size
    return state


# -- whole sweeps on Dask ------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_on_two_workers_survives_a_killed_worker_and_reruns_no_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the hook runs on the workers
    spec = SweepSpec(
        name="t",
        base=base_config(),
        grid={"descriptor.patch_size": [4, 8], "policy.beta": [0.25, 4.0], "seed": [0, 1]},
        checkpoints=[4, 8, 12],
        out_dir=str(tmp_path / "sweep"),
    )
    runs = spec.expand()
    victim = runs[3].run_id
    hook = KillAtStep(tmp_path / "killed", victim, step=6, hard=True)
    result = run_sweep(spec, workers=2, step_hook=hook)
    assert (tmp_path / "killed").read_text() == victim  # the worker really died once
    rows = {row["run_id"]: row for row in result.rows}
    assert [row["run_id"] for row in result.rows] == [run.run_id for run in runs]
    assert all(row["status"] == "finished" for row in result.rows), result.rows
    assert rows[victim]["action"] == "resumed"
    assert {rows[r.run_id]["action"] for r in runs if r.run_id != victim} == {"created"}
    for run in runs:  # every record intact: integrity check, full budget, no point twice
        with CampaignRecord.open(tmp_path / "sweep" / "runs" / f"{run.run_id}.sqlite") as rec:
            points = rec.measurements().points
        assert points.shape[0] == BUDGET
        assert len({tuple(p) for p in points.tolist()}) == BUDGET
    # summary: CSV, Markdown, JSON, PNG
    with result.files["csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 8
    assert table[0]["descriptor.patch_size"] == "4" and table[0]["policy.beta"] == "0.25"
    assert table[0]["status"] == "finished" and table[0]["discovery@12"] != ""
    assert "| run_id | name | descriptor.patch_size |" in result.files["markdown"].read_text()
    assert [row["run_id"] for row in load_summary(tmp_path / "sweep")] == list(rows)
    assert result.files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(result.files["json"].read_text())["checkpoints"] == [4, 8, 12]
    assert "local cluster of 2 worker(s)" in capsys.readouterr().out

    stamps = written_state(tmp_path / "sweep" / "runs")
    again = run_sweep(spec, workers=2)
    assert {row["action"] for row in again.rows} == {"skipped"}
    assert again.n_workers == 0  # nothing to do: no cluster was started
    assert written_state(tmp_path / "sweep" / "runs") == stamps
    assert [row["discovery"] for row in again.rows] == [row["discovery"] for row in result.rows]
