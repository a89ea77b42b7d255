"""Tuning campaigns: instrument settings chosen by BO from a Ronchigram figure of merit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from steerscope.errors import ConfigError, InstrumentError, RecordError, SafetyLimitError
from steerscope.records.tuning_record import TuningRecord, is_tuning_record
from steerscope.tuning import (
    SetBeta,
    SetBounds,
    SetBudget,
    SetMerit,
    TrySettings,
    TuningCampaign,
    VetoSettings,
    load_tuning_config,
    ronchigram_flatness,
)
from steerscope.types import CameraFrame

OPTIMUM = {"C10": -5e-9, "C12.a": 0.0, "C12.b": 0.0}

SETTINGS = [
    {"name": "C10", "low": -500, "high": 500},
    {"name": "C12.a", "low": -100, "high": 100},
    {"name": "C12.b", "low": -100, "high": 100},
]


class FakeRonchigram:
    """A tunable whose frame's texture grows with the distance from :data:`OPTIMUM`."""

    def __init__(self, start: Mapping[str, float] | None = None) -> None:
        self.values = {k: 0.0 for k in OPTIMUM} | dict(start or {})
        self.applied: list[dict[str, float]] = []
        texture = np.random.default_rng(0).normal(size=(64, 64))
        self.texture = ndimage.gaussian_filter(texture, 3)

    def settings(self) -> dict[str, float]:
        return dict(self.values)

    def apply(self, values: Mapping[str, float]) -> None:
        unknown = set(values) - set(self.values)
        if unknown:
            raise InstrumentError(f"no setting {unknown}")
        self.values.update(values)
        self.applied.append(dict(values))

    def frame(self) -> CameraFrame:
        d = np.array([(self.values[k] - v) * 1e9 for k, v in OPTIMUM.items()]) / [100, 30, 30]
        amplitude = 1e-3 + float(np.sum(d**2))
        image = (100.0 + amplitude * self.texture).astype(np.float32)
        return CameraFrame(image, 1.0, self.settings())

    def describe(self) -> dict[str, Any]:
        return {"driver": "fake"}

    def close(self) -> None:
        pass


def _config(**changes: Any) -> dict[str, Any]:
    return {"settings": SETTINGS, "budget": 20, "merit": {"radius_mrad": 20}, **changes}


# --- the figure of merit --------------------------------------------------------------


def test_a_flat_ronchigram_scores_higher_than_a_textured_one() -> None:
    texture = ndimage.gaussian_filter(np.random.default_rng(1).normal(size=(64, 64)), 2)
    flat = CameraFrame((100 + 0.01 * texture).astype(np.float32), 1.0)
    rough = CameraFrame((100 + 1.0 * texture).astype(np.float32), 1.0)
    assert ronchigram_flatness(flat, 20) == pytest.approx(
        ronchigram_flatness(rough, 20) + 2, abs=0.01
    )


@pytest.mark.parametrize(
    ("image", "radius", "message"),
    [(np.ones((64, 64)), 40.0, "half-angle 32.0 mrad"), (np.zeros((64, 64)), 20.0, "dark")],
)
def test_the_figure_refuses_a_disc_off_the_frame_or_a_dark_frame(
    image: np.ndarray, radius: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ronchigram_flatness(CameraFrame(image.astype(np.float32), 1.0), radius)


# --- the config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"settings": [{"name": "C10", "low": 5, "high": -5}]}, "low must be below high"),
        (
            {"settings": [{"name": "C10", "low": -600, "high": 5, "safe_low": -500}]},
            "inside the safe range",
        ),
        ({"settings": [*SETTINGS, SETTINGS[0]]}, "different names"),
        ({"instrument": {"mistuning": {"C30": 1}}}, "not among the settings"),
        ({"budjet": 3}, "budjet"),
    ],
)
def test_a_bad_tuning_config_is_refused_with_the_field_and_the_fix(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_tuning_config(_config(**changes))


# --- the campaign ---------------------------------------------------------------------


def test_bo_tunes_a_mistuned_instrument_close_to_its_optimum(tmp_path: Path) -> None:
    tunable = FakeRonchigram({"C10": 300e-9, "C12.a": -60e-9, "C12.b": 50e-9})
    campaign = TuningCampaign.create(_config(budget=25), tunable, tmp_path / "t.sqlite")
    best = campaign.run()
    assert best is not None and campaign.done
    start = campaign.trials[0]
    assert start.how == "start" and start.settings == {"C10": 300.0, "C12.a": -60.0, "C12.b": 50.0}
    assert [t.how for t in campaign.trials[1:7]] == ["space-filling"] * 6
    assert {t.how for t in campaign.trials[7:]} == {"bo"}
    assert best.merit > start.merit + 1.5  # the texture's amplitude down more than 30-fold
    assert abs(best.settings["C10"] + 5) < 60 and abs(best.settings["C12.a"]) < 20
    campaign.finish()
    assert tunable.applied[-1] == {k: v * 1e-9 for k, v in best.settings.items()}  # left at best


def test_random_tuning_is_the_baseline_and_stays_in_the_box(tmp_path: Path) -> None:
    campaign = TuningCampaign.create(
        _config(optimiser="random", budget=8), FakeRonchigram(), tmp_path / "t.sqlite"
    )
    campaign.run()
    assert [t.how for t in campaign.trials] == ["start"] + ["random"] * 7
    for t in campaign.trials:
        assert -500 <= t.settings["C10"] <= 500 and -100 <= t.settings["C12.b"] <= 100


def test_an_instrument_standing_outside_the_safe_range_is_never_moved(tmp_path: Path) -> None:
    tunable = FakeRonchigram({"C10": 800e-9})
    campaign = TuningCampaign.create(_config(), tunable, tmp_path / "t.sqlite")
    with pytest.raises(
        SafetyLimitError, match=r"C10 = 800 nm is outside its safe range \[-500, 500\]"
    ):
        campaign.step()
    assert tunable.applied == [] and campaign.trials == []


def test_the_operator_forces_settings_moves_a_range_and_ends_early(tmp_path: Path) -> None:
    campaign = TuningCampaign.create(_config(initial=2), FakeRonchigram(), tmp_path / "t.sqlite")
    campaign.step()
    campaign.apply(TrySettings({"C10": -20.0}))
    forced = campaign.step()
    assert forced.how == "forced" and forced.settings == {"C10": -20.0, "C12.a": 0.0, "C12.b": 0.0}
    campaign.apply(SetBounds("C10", -50, 50))
    campaign.apply(SetBeta(0.25))
    campaign.apply(SetBudget(8))
    campaign.run()
    assert len(campaign.trials) == 8 and campaign.beta == 0.25
    assert all(-50 <= t.settings["C10"] <= 50 for t in campaign.trials[2:])
    kinds = [c["kind"] for _, _, c in campaign.record.interventions()]
    assert kinds == ["try_settings", "set_bounds", "set_beta", "set_budget"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (TrySettings({"C10": 900.0}), SafetyLimitError, "outside its safe range"),
        (SetBounds("C10", -600, 0), SafetyLimitError, "inside its safe range"),
        (SetBounds("C30", -1, 1), ConfigError, "no setting 'C30'"),
        (TrySettings({"C23": 1.0}), ConfigError, "give values for some of"),
        (SetBudget(0), ConfigError, "at least 1"),
        ({"kind": "set_speed"}, ConfigError, "unknown tuning intervention"),
    ],
)
def test_a_refused_intervention_leaves_no_trace(
    tmp_path: Path, change: Any, error: type[Exception], message: str
) -> None:
    campaign = TuningCampaign.create(_config(), FakeRonchigram(), tmp_path / "t.sqlite")
    with pytest.raises(error, match=message):
        campaign.apply(change)
    assert campaign.record.interventions() == []


def test_vetoed_settings_are_never_tried_nor_forced(tmp_path: Path) -> None:
    campaign = TuningCampaign.create(_config(initial=3), FakeRonchigram(), tmp_path / "t.sqlite")
    campaign.step()
    campaign.apply(VetoSettings({"C10": -5.0}))  # the optimum's defocus: a slab ± 50 nm
    with pytest.raises(ConfigError, match="lies within a vetoed range"):
        campaign.apply(TrySettings({"C10": 20.0}))
    campaign.run()
    assert all(abs(t.settings["C10"] + 5.0) >= 50.0 for t in campaign.trials[1:])
    assert [c["kind"] for _, _, c in campaign.record.interventions()] == ["veto_settings"]
    assert campaign.describe(VetoSettings({"C10": -5.0})) == "never try C10 -5 ± 50 nm"


def test_a_new_figure_of_merit_rescores_every_recorded_frame(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    campaign = TuningCampaign.create(_config(initial=2, budget=6), FakeRonchigram(), path)
    for _ in range(4):
        campaign.step()
    before = [t.merit for t in campaign.trials]
    campaign.apply(SetMerit(radius_mrad=10.0))
    after = [t.merit for t in campaign.trials]
    for i, trial in enumerate(campaign.trials):
        image, pixel_mrad = campaign.record.frame(i)
        expected = ronchigram_flatness(CameraFrame(image, pixel_mrad), 10.0, 2.0)
        assert trial.merit == pytest.approx(expected)
    assert after != before
    campaign.record.close()
    resumed = TuningCampaign.resume(path, FakeRonchigram())
    assert [t.merit for t in resumed.trials] == pytest.approx(after)  # the replay re-scores
    assert resumed.merit.radius_mrad == 10.0
    with pytest.raises(ConfigError, match="give radius_mrad or smoothing_px"):
        resumed.apply(SetMerit())
    with pytest.raises(ConfigError, match="set_merit: "):  # a disc larger than the frames
        resumed.apply(SetMerit(radius_mrad=500.0))
    with pytest.raises(ConfigError, match="give finite values"):
        resumed.apply(VetoSettings({"C10": "far"}))  # type: ignore[dict-item]
    assert len(resumed.record.interventions()) == 1  # the refused ones left no trace


def test_a_discrete_grid_puts_every_trial_on_it(tmp_path: Path) -> None:
    campaign = TuningCampaign.create(
        _config(grid_points=11, budget=10, initial=3), FakeRonchigram(), tmp_path / "t.sqlite"
    )
    campaign.run()
    for trial in campaign.trials[1:]:
        for s, value in zip(SETTINGS, trial.settings.values(), strict=True):
            step = (s["high"] - s["low"]) / 10  # safe range = search range here
            assert (value - s["low"]) / step == pytest.approx(round((value - s["low"]) / step))
    with pytest.raises(ConfigError, match="makes 1030301 grid points"):
        load_tuning_config(_config(grid_points=101))


def test_a_resumed_campaign_keeps_every_frame_and_change_and_measures_no_forced_point_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.sqlite"
    campaign = TuningCampaign.create(_config(initial=2, budget=10), FakeRonchigram(), path)
    campaign.step()
    campaign.apply(TrySettings({"C10": 10.0}))
    campaign.apply(TrySettings({"C10": 20.0}))
    campaign.apply(SetBounds("C12.a", -10, 10))
    campaign.step()  # the first forced one; the second is still queued
    frame = campaign.record.frame(1)
    campaign.record.close()  # as a kill would leave it: no finish
    assert is_tuning_record(path)
    resumed = TuningCampaign.resume(path, FakeRonchigram())
    assert [t.settings for t in resumed.trials] == [t.settings for t in campaign.trials]
    np.testing.assert_array_equal(resumed.record.frame(1)[0], frame[0])
    assert resumed.bounds["C12.a"] == (-10, 10)
    nxt = resumed.step()
    assert nxt.how == "forced" and nxt.settings["C10"] == 20.0
    resumed.run()
    assert sum(t.how == "forced" for t in resumed.trials) == 2 and len(resumed.trials) == 10
    resumed.finish()


def test_a_record_is_never_overwritten_nor_written_twice(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    campaign = TuningCampaign.create(_config(), FakeRonchigram(), path)
    with pytest.raises(RecordError, match="never overwritten"):
        TuningCampaign.create(_config(), FakeRonchigram(), path)
    with pytest.raises(RecordError, match="being written by another process"):
        TuningRecord.open(path)
    campaign.finish()
    assert not is_tuning_record(tmp_path / "missing.sqlite")


# --- on nionswift-usim, through the Nion driver and the command line -------------------


def test_usim_ronchigram_is_flattest_at_focus_without_astigmatism() -> None:
    pytest.importorskip("nion.usim_device")
    from steerscope.testing.usim import usim_ronchigram

    with usim_ronchigram({"C10": 200e-9, "C12.a": 40e-9}) as tunable:
        assert tunable.settings() == pytest.approx({"C10": 200e-9, "C12.a": 40e-9, "C12.b": 0.0})
        mistuned = tunable.frame()
        assert mistuned.image.shape == (256, 256) and 0.5 < mistuned.pixel_mrad < 1.0
        tunable.apply({"C10": -5e-9, "C12.a": 0.0})
        tuned = tunable.frame()
        assert tuned.settings["C10"] == pytest.approx(-5e-9)
        assert ronchigram_flatness(tuned) > ronchigram_flatness(mistuned) + 1
        with pytest.raises(InstrumentError, match="no tunable setting C30; this instrument tunes"):
            tunable.apply({"C30": 0.0})
        from steerscope.instruments.drivers.nion import NionRonchigram

        registered = NionRonchigram.from_registry()  # the driver: nion path, on usim's controller
        try:
            assert registered.settings() == pytest.approx(tunable.settings())
        finally:
            registered.close()


def test_steerscope_run_and_resume_tune_usim_from_the_example(tmp_path: Path) -> None:
    pytest.importorskip("nion.usim_device")
    from typer.testing import CliRunner

    from steerscope.cli import app

    example = Path(__file__).parents[1] / "examples" / "tuning_usim.yaml"
    record = tmp_path / "tune.sqlite"
    cli = CliRunner()
    first = cli.invoke(app, ["run", str(example), "--record", str(record), "--steps", "3"])
    assert first.exit_code == 0, first.output
    assert "frame   0  start          C10 250.0 nm, C12.a -40.0 nm, C12.b 30.0 nm" in first.output
    assert "stopped usim-ronchigram: 3 frames" in first.output
    again = cli.invoke(app, ["resume", str(record), "--steps", "2"])
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output and "frame   4  space-filling" in again.output
    with TuningRecord.open(record, read_only=True) as written:
        assert len(written.trials()) == 5


def test_a_served_tuning_campaign_acknowledges_changes_at_once_and_applies_them_next(
    tmp_path: Path,
) -> None:
    import threading

    from steerscope.service import TuningClient, TuningSteeringServer
    from steerscope.tuning import SetPaused, TuningRunner

    campaign = TuningCampaign.create(_config(budget=200), FakeRonchigram(), tmp_path / "t.sqlite")
    runner = TuningRunner(campaign)
    with TuningSteeringServer(runner) as server:
        client = TuningClient(server.uri)
        assert client.post(SetPaused(True)) == (
            "queued: pause after the frame in flight, applies to the next frame"
        )
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        for _ in range(200):  # paused before its first frame, it waits
            if client.status()["state"] == "paused":
                break
            threading.Event().wait(0.05)
        status = client.status()
        assert status["state"] == "paused" and status["trials"] == [] and status["queued"] == []
        assert client.post(SetBeta(0.25)) == "queued: beta 1 → 0.25, applies to the next frame"
        with pytest.raises(SafetyLimitError, match="inside its safe range"):
            client.post(SetBounds("C10", -900, 0))
        client.post(SetPaused(False))
        for _ in range(400):
            if len(client.status()["trials"]) >= 3:
                break
            threading.Event().wait(0.05)
        assert client.stop() == "stop after the frame in flight"
        thread.join(30)
        status = client.status()
    assert status["state"] == "stopped" and status["beta"] == 0.25
    assert status["merit"]["radius_mrad"] == 20  # the page draws the campaign's own disc
    assert [e["text"] for e in status["events"]] == [
        "pause after the frame in flight",
        "beta 1 → 0.25",
        "go on",
    ]
    kinds = [c["kind"] for _, _, c in campaign.record.interventions()]
    assert kinds == ["set_paused", "set_beta", "set_paused"]
    campaign.finish()


def test_steerscope_steer_changes_a_served_tuning_campaign(tmp_path: Path) -> None:
    import threading

    from typer.testing import CliRunner

    from steerscope.cli import app
    from steerscope.service import TuningClient, TuningSteeringServer
    from steerscope.tuning import SetPaused, TuningRunner

    campaign = TuningCampaign.create(_config(budget=200), FakeRonchigram(), tmp_path / "t.sqlite")
    runner = TuningRunner(campaign)
    with TuningSteeringServer(runner) as server:
        TuningClient(server.uri).post(SetPaused(True))
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        steer = [
            "steer",
            server.uri,
            "--set",
            "beta=0.5",
            "--set",
            "C10=[-100, 100]",
            "--set",
            "radius_mrad=15",
            "--veto",
            "C10=250",
            "--try",
            "C10=20,C12.a=5",
            "--action",
            "resume",
        ]
        result = CliRunner().invoke(app, steer)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "queued: beta 1 → 0.5, applies to the next frame"
        assert lines[3] == "queued: never try C10 250 ± 50 nm, applies to the next frame"
        assert "frames, beta" in lines[-1]
        refused = CliRunner().invoke(app, ["steer", server.uri, "--set", "speed=3"])
        assert refused.exit_code == 2
        assert "a tuning campaign takes beta=NUMBER" in refused.output
        for _ in range(400):
            if len(campaign.trials) >= 2:
                break
            threading.Event().wait(0.05)
        stopped = CliRunner().invoke(app, ["steer", server.uri, "--action", "stop"])
        assert "stop after the frame in flight" in stopped.output
        thread.join(30)
    kinds = [c["kind"] for _, _, c in campaign.record.interventions()]
    assert kinds == [
        "set_paused",
        "set_beta",
        "set_bounds",
        "set_merit",
        "veto_settings",
        "try_settings",
        "set_paused",
    ]
    forced = next(t for t in campaign.trials if t.how == "forced")
    assert forced.settings["C10"] == 20.0 and forced.settings["C12.a"] == 5.0
    assert runner.status()["merit"]["radius_mrad"] == 15  # the merit in force, not the config's
    campaign.finish()


def test_a_tuning_run_killed_hard_resumes_with_every_frame_it_made(tmp_path: Path) -> None:
    pytest.importorskip("nion.usim_device")
    import signal
    import subprocess
    import sys
    import time

    import yaml

    example = Path(__file__).parents[1] / "examples" / "tuning_usim.yaml"
    config = yaml.safe_load(example.read_text()) | {"budget": 200}
    config_path = tmp_path / "tune.yaml"
    config_path.write_text(yaml.safe_dump(config))
    record = tmp_path / "tune.sqlite"
    command = [sys.executable, "-m", "steerscope.cli", "run", str(config_path)]
    child = subprocess.Popen(
        [*command, "--record", str(record)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        made: list[Any] = []
        while len(made) < 4:
            assert time.monotonic() < deadline, "the tuning run made no 4 frames in 120 s"
            time.sleep(0.3)
            if record.exists():
                with TuningRecord.open(record, read_only=True) as written:
                    made = written.trials()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    with TuningRecord.open(record, read_only=True) as written:
        before = written.trials()
        first_frame = written.frame(0)[0]
    assert len(before) >= 4
    from typer.testing import CliRunner

    from steerscope.cli import app

    again = CliRunner().invoke(app, ["resume", str(record), "--steps", "2"])
    assert again.exit_code == 0, again.output  # the killed writer's lock is gone with it
    with TuningRecord.open(record, read_only=True) as written:
        after = written.trials()
        np.testing.assert_array_equal(written.frame(0)[0], first_frame)
    assert after[: len(before)] == before and len(after) == len(before) + 2


def test_a_bad_tuning_config_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from steerscope.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: tuning\nsettings:\n  - {name: C10, low: 5, high: -5}\n")
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "settings.0: C10: low must be below high" in result.output
    assert "Traceback" not in result.output


def test_a_tuning_process_that_cannot_start_says_why(tmp_path: Path) -> None:
    from steerscope.service import TuningProcess

    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: tuning\nsettings:\n  - {name: C10, low: 5, high: -5}\n")
    with pytest.raises(InstrumentError, match=r"ended before serving \(exit code 2\): .*C10: low"):
        TuningProcess(bad, tmp_path / "t.sqlite", startup_timeout_s=60)
    assert not (tmp_path / "t.sqlite").exists()
