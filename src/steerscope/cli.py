"""The ``steerscope`` command line: headless runs, resume, export, replay, datasets, serve, UI.

Every command imports what it needs lazily, so ``steerscope --help`` and
``steerscope datasets fetch`` work even when a heavy or optional piece does
not import. A steerscope error prints one red line and exits with status 2;
it never shows a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="steerscope",
    help="Human-in-the-loop automated experiments for STEM-EELS/EDX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Built-in datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2
"""Exit status of a command stopped by a steerscope error (bad config, corrupt record, ...)."""


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(EXIT_USER_ERROR)


def _clean_errors(func: F) -> F:
    """Turn a SteerscopeError into one red line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from steerscope.errors import SteerscopeError

        try:
            return func(*args, **kwargs)
        except SteerscopeError as exc:
            text = " ".join(str(exc).split()) if "\n" not in str(exc) else str(exc)
            raise _fail(text) from None

    return wrapper  # type: ignore[return-value]


def _fmt(value: float) -> str:
    return "nan" if value != value else f"{value:.4g}"


_EVENTS_SHOWN_BY_RUN = ("model_lost", "model_skill", "model_stall", "model_error")
"""Event kinds ``steerscope run`` prints under the step that raised them."""


def _fmt_skill(skill: float) -> str:
    """The model skill for a step line: signed, two decimals; "—" before a verdict."""
    return f"{skill:+.2f}" if math.isfinite(skill) else "—"


def _run_campaign(campaign: Any, steps: int | None) -> None:
    """Run pipelined with a progress bar and one line per step, then two summary lines."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from steerscope.campaign.pipeline import run_pipelined

    console = Console(stderr=False, highlight=False)
    budget = campaign.config.budget.measurements
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("measuring", total=budget, completed=campaign.n_measured)
        events_seen = len(campaign.events)

        def show(result: Any) -> None:
            nonlocal events_seen
            pts = ";".join(f"{int(r)},{int(c)}" for r, c in result.points)
            targets = ",".join(_fmt(float(t)) for t in result.targets)
            skill = campaign.model_skill().current
            dwell = ""
            if campaign.config.policy.dwell is not None:  # the dwell each point was taken at
                last = campaign.history.dwell_s[-len(result.points) :] * 1000
                dwell = "  dwell " + ",".join(f"{t:g}" for t in last) + " ms"
            progress.console.print(
                f"step {result.step:4d}  points {pts}  target {targets}{dwell}  best "
                f"{_fmt(result.best)}  skill {_fmt_skill(skill)}  "
                f"fit {result.timings.get('fit_s', 0.0):.2f}s  [{result.source}]",
                markup=False,
                soft_wrap=True,
            )
            events = campaign.events
            for event in events[events_seen:]:
                if event.kind in _EVENTS_SHOWN_BY_RUN:
                    progress.console.print(f"  ! {event.text}", markup=False, soft_wrap=True)
            events_seen = len(events)
            progress.update(task, completed=campaign.n_measured)

        _, summary = run_pipelined(campaign, n_steps=steps, callback=show)
    state = "finished" if campaign.done else "paused"
    typer.echo(
        f"{state}: {campaign.n_measured}/{budget} spectra, best target "
        f"{_fmt(campaign.best_target())}, record {campaign.record.path}"
    )
    typer.echo(summary.line())


def _tunable(config: Any) -> Any:
    """The instrument a tuning config names, as a context manager."""
    from contextlib import closing

    instrument = config.instrument
    options = {"binning": instrument.binning, "exposure_ms": instrument.exposure_ms}
    if instrument.driver == "nion":
        from steerscope.instruments.drivers.nion import NionRonchigram

        return closing(NionRonchigram.from_registry(**options))
    try:
        from steerscope.testing.usim import usim_ronchigram
    except ImportError:  # pragma: no cover - the [nion] extra is part of make setup
        raise _fail("driver usim needs nionswift-usim: pip install 'steerscope[nion]'") from None
    si = {s.name: s.si for s in config.settings}
    mistuning = {k: v * si[k] for k, v in instrument.mistuning.items()}
    return usim_ronchigram(mistuning, **options)


def _run_tuning(
    config_path: Path | None,
    record: Path | None,
    steps: int | None,
    serve: tuple[str, int, str | None] | None = None,
) -> None:
    """Run (``config_path``) or resume (``config_path`` None, ``record``) a tuning campaign.

    With ``serve`` ``(host, port, token)``, other processes (the web UI, a notebook)
    watch it and post changes through a :class:`~steerscope.service.TuningSteeringServer`.
    """
    from steerscope.campaign.sources import fresh_record_path
    from steerscope.records.tuning_record import TuningRecord
    from steerscope.service.tuning_process import STOP_ON_STDIN_EOF_ENV
    from steerscope.tuning import (
        SetPaused,
        TuningCampaign,
        TuningRunner,
        format_settings,
        load_tuning_config,
    )

    if config_path is not None:
        config = load_tuning_config(config_path)
    else:
        assert record is not None
        with TuningRecord.open(record, read_only=True) as existing:
            config = load_tuning_config(existing.config)
    units = {s.name: s.unit for s in config.settings}

    def show(trial: Any) -> None:
        where = format_settings(trial.settings, units)
        typer.echo(f"frame {trial.index:3d}  {trial.how:13s}  {where}  flatness {trial.merit:.3f}")

    with _tunable(config) as tunable:
        if config_path is not None:
            path = record or fresh_record_path("records", config.name)
            campaign = TuningCampaign.create(config, tunable, path)
        else:
            assert record is not None
            campaign = TuningCampaign.resume(record, tunable)
            typer.echo(f"resuming {record} after frame {len(campaign.trials) - 1}")
        typer.echo(f"record: {campaign.record.path}")
        if campaign.paused:  # resumed from a pause: resuming is going on
            campaign.apply(SetPaused(False))
        runner = TuningRunner(campaign)
        try:
            if serve is None:
                state = runner.run(show, frames=steps)
            else:
                from steerscope.service import TuningSteeringServer

                with TuningSteeringServer(runner, *serve) as server:
                    typer.echo(f"steering: {server.uri}")
                    if os.environ.get(STOP_ON_STDIN_EOF_ENV) == "1":
                        _stop_when_stdin_closes(runner)
                    state = runner.run(show, frames=steps)
        finally:
            campaign.finish(settle=campaign.done)
        if state == "error":
            raise _fail(runner.status()["error"])
    typer.echo(("finished " if campaign.done else "stopped ") + campaign.summary())


def _stop_when_stdin_closes(runner: Any) -> None:
    """Stop ``runner`` after its frame in flight once standard input closes (the parent left)."""
    import threading

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.read(4096):
                pass
        runner.stop()

    threading.Thread(target=watch, daemon=True, name="stdin-watch").start()


def _warn_token_on_command_line(token: str | None) -> None:
    """A ``--token`` is visible to every local user (``ps``); say how to keep it private."""
    if token is not None:
        typer.echo(
            "warning: a --token on the command line can be read by every user of this machine "
            "(ps, /proc); set $STEERSCOPE_TOKEN instead.",
            err=True,
        )


def _run_served(campaign: Any, steps: int | None, host: str, port: int, token: str | None) -> None:
    """Run on a CampaignRunner whose state and queue other processes reach over Pyro5."""
    from steerscope.campaign import CampaignRunner, RunSteps
    from steerscope.service import SteeringServer

    runner = CampaignRunner(campaign)
    _warn_token_on_command_line(token)
    with SteeringServer(runner, host, port, token) as server:
        typer.echo(f"steering: {server.uri}")
        runner.start(paused=steps is not None)
        if steps is not None:
            runner.post(RunSteps(n=steps))
        shown = [-1]

        def changed(s: Any) -> bool:
            return bool(s.n_measured != shown[0] or s.status in ("finished", "error"))

        try:
            while True:
                try:
                    snap = runner.wait_for(changed, 1.0)
                except TimeoutError:
                    continue
                if snap.n_measured != shown[0]:
                    shown[0] = snap.n_measured
                    typer.echo(f"{snap.n_measured}/{snap.budget} spectra, {snap.status}")
                done = snap.status in ("finished", "stopped", "error")
                if done or (steps is not None and snap.reason == "ran the requested steps"):
                    break
        finally:
            runner.stop()
    snap = runner.snapshot()
    idle = "n/a" if snap.beam_idle != snap.beam_idle else f"{100 * snap.beam_idle:.1f} %"
    typer.echo(
        f"{snap.status}: {snap.n_measured}/{snap.budget} spectra, best target "
        f"{_fmt(snap.best_target)}, beam idle {idle}, record {snap.record_path}"
    )


@app.command()
@_clean_errors
def run(
    config: Annotated[Path, typer.Argument(help="Campaign config (YAML).")],
    record: Annotated[
        Path | None, typer.Option(help="New record file (default: a fresh name in records_dir).")
    ] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Run at most this many steps (default: the budget).")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Let other processes watch and steer this run (`steerscope steer URI`); "
            "prints the URI.",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="With --serve: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: port (0: any free one).")] = 0,
    token: Annotated[
        str | None,
        typer.Option(help="With --serve: token clients must present (needed off loopback)."),
    ] = None,
) -> None:
    """Run a campaign headless from a config file, writing its record.

    A config with ``kind: tuning`` runs a tuning campaign (instrument settings, not
    positions; see docs/tuning.md).
    """
    from steerscope.campaign import Campaign
    from steerscope.tuning.config import is_tuning_config

    if is_tuning_config(config):
        _warn_token_on_command_line(token)
        _run_tuning(config, record, steps, serve=(host, port, token) if serve else None)
        return
    with Campaign.create(config, record) as campaign:
        typer.echo(f"record: {campaign.record.path}")
        for event in campaign.events:
            if event.kind == "source_note":
                typer.echo(f"  ! {event.text}")
        if serve:
            _run_served(campaign, steps, host, port, token)
        else:
            _run_campaign(campaign, steps)


@app.command()
@_clean_errors
def assistant(
    uri: Annotated[str, typer.Argument(help="PYRO:steerscope.campaign@host:port")],
    token: Annotated[
        str | None,
        typer.Option(help="The campaign's steering token (default: $STEERSCOPE_TOKEN)."),
    ] = None,
) -> None:
    """Serve a running campaign to an AI assistant over MCP (stdio): it reads, and proposes.

    Read-only tools (status, target history, model maps) and one that proposes an
    intervention, which waits for the operator's approval in the web UI. An MCP client
    starts this command itself; see docs/assistant.md.
    """
    from steerscope.service import SteeringClient
    from steerscope.service.assistant import build_assistant_server

    _warn_token_on_command_line(token)
    client = SteeringClient(uri, token=token)
    client.status()  # fail here, with the channel's words, not inside the first tool call
    build_assistant_server(client).run("stdio")


@app.command()
@_clean_errors
def steer(
    uri: Annotated[str, typer.Argument(help="PYRO:steerscope.campaign@host:port")],
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Policy change key=value (beta=1, acquisition=ei, batch_size=4) or "
            "budget=N / patch_size=N. Values are YAML scalars.",
        ),
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="pause, resume or stop (after the spectrum in flight).")
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Answer which of two measured spectra is more interesting, by their numbers: "
            "'12>7' (#12 is), '12<7' (#7 is) or '12=7' (no preference).",
        ),
    ] = None,
    try_settings: Annotated[
        str | None,
        typer.Option(
            "--try",
            help="Tuning: settings to try next, e.g. 'C10=20,C12.a=5' (the config's units).",
        ),
    ] = None,
    veto: Annotated[
        str | None,
        typer.Option(help="Tuning: never try settings near these, e.g. 'C10=250'."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(help="The server's token, if it has one (default: $STEERSCOPE_TOKEN)."),
    ] = None,
) -> None:
    """Steer a campaign run with `steerscope run --serve`: post changes, print its state.

    A served tuning campaign (``PYRO:steerscope.tuning@...``) takes ``--set beta=``,
    ``budget=``, ``radius_mrad=``, ``smoothing_px=`` or ``NAME=[low, high]`` (a search
    range), ``--try``, ``--veto`` and ``--action``.
    """
    from steerscope.campaign import Pause, Resume, SetBudget, SetDescriptor, SetPolicy, Stop
    from steerscope.errors import ConfigError
    from steerscope.service import SteeringClient

    _warn_token_on_command_line(token)
    from steerscope.service.steering import TUNING_OBJECT_ID

    if uri.startswith(f"PYRO:{TUNING_OBJECT_ID}@"):
        if compare is not None:
            raise ConfigError("--compare answers a spectrum campaign; this URI is a tuning one")
        _steer_tuning(uri, settings or [], action, try_settings, veto, token)
        return
    if try_settings is not None or veto is not None:
        raise ConfigError(
            "--try and --veto steer a tuning campaign (PYRO:steerscope.tuning@...); for a "
            "spectrum campaign add points with the web UI or steerscope.campaign.AddPoints"
        )
    client = SteeringClient(uri, token=token)
    messages: list[Any] = []
    policy: dict[str, Any] = {}
    for path, value in _parse_settings(settings or []).items():
        if path == "budget.measurements":
            messages.append(SetBudget(measurements=value))
        elif path == "descriptor.patch_size":
            messages.append(SetDescriptor(patch_size=value))
        elif path.startswith("policy."):
            policy[path.removeprefix("policy.")] = value
        else:
            raise ConfigError(
                f"steer cannot change {path!r} while the campaign runs; use a policy field "
                "(beta, acquisition, xi, batch_size, min_distance, ...), budget or patch_size"
            )
    if policy:
        messages.insert(0, SetPolicy(**policy))
    controls = {"pause": Pause, "resume": Resume, "stop": Stop}
    if action is not None:
        if action not in controls:
            raise ConfigError(f"--action must be pause, resume or stop; got {action!r}")
        messages.append(controls[action]())
    if compare is not None:
        messages.append(parse_comparison(compare))
    for message in messages:
        typer.echo(f"queued: {client.post(message)}")
    state = client.status()
    typer.echo(
        f"{state['status']}: step {state['step']}, {state['n_measured']}/{state['budget']} "
        f"spectra, record {state['record_path']}"
    )
    if state.get("comparison"):
        a, b = (int(i) + 1 for i in state["comparison"])
        typer.echo(
            f"asks: which is more interesting, #{a} or #{b}? Answer with --compare "
            f"'{a}>{b}', '{a}<{b}' or '{a}={b}'."
        )


def _named_values(text: str, option: str) -> dict[str, float]:
    """``"C10=20,C12.a=5"`` as ``{"C10": 20.0, "C12.a": 5.0}``."""
    from steerscope.errors import ConfigError

    values: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(
                f"{option} expects NAME=number pairs separated by commas, e.g. 'C10=20,"
                f"C12.a=5'; got {text!r}"
            )
    return values


def _steer_tuning(
    uri: str,
    settings: list[str],
    action: str | None,
    try_settings: str | None,
    veto: str | None,
    token: str | None,
) -> None:
    """``steerscope steer`` on a served tuning campaign."""
    import yaml

    from steerscope.errors import ConfigError
    from steerscope.service import TuningClient
    from steerscope.tuning import (
        SetBeta,
        SetBounds,
        SetBudget,
        SetMerit,
        SetPaused,
        TrySettings,
        VetoSettings,
        format_settings,
    )

    client = TuningClient(uri, token=token)
    changes: list[Any] = []
    merit: dict[str, float] = {}
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip()
        value = yaml.safe_load(text) if sep else None
        if key == "beta" and isinstance(value, int | float):
            changes.append(SetBeta(float(value)))
        elif key == "budget" and isinstance(value, int):
            changes.append(SetBudget(value))
        elif key in ("radius_mrad", "smoothing_px") and isinstance(value, int | float):
            merit[key] = float(value)
        elif isinstance(value, list) and len(value) == 2:
            changes.append(SetBounds(key, float(value[0]), float(value[1])))
        else:
            raise ConfigError(
                f"--set {item!r}: a tuning campaign takes beta=NUMBER, budget=FRAMES, "
                "radius_mrad=NUMBER, smoothing_px=NUMBER or SETTING=[low, high]"
            )
    if merit:
        changes.append(SetMerit(**merit))
    if veto is not None:  # before a try, which a veto may refuse
        changes.append(VetoSettings(_named_values(veto, "--veto")))
    if try_settings is not None:
        changes.append(TrySettings(_named_values(try_settings, "--try")))
    if action not in (None, "pause", "resume", "stop"):
        raise ConfigError(f"--action must be pause, resume or stop; got {action!r}")
    if action in ("pause", "resume"):
        changes.append(SetPaused(action == "pause"))
    for change in changes:
        typer.echo(client.post(change))
    if action == "stop":
        typer.echo(client.stop())
    state = client.status()
    trials = state.get("trials", [])
    line = f"{state['state']}: {len(trials)}/{state['budget']} frames, beta {state['beta']:g}"
    best = max(trials, key=lambda t: t["merit"]) if trials else None
    if best is not None:
        where = format_settings(best["settings"], state.get("units", {}))
        line += f"; best flatness {best['merit']:.2f} (frame {best['index']}) at {where}"
    typer.echo(line)


def parse_comparison(text: str) -> Any:
    """``"12>7"`` as ``Compare(11, 6, "first")``: spectrum numbers as shown (from 1).

    ``>``: the first is more interesting; ``<``: the second; ``=``: no preference.
    """
    from steerscope.campaign import Compare
    from steerscope.errors import ConfigError

    found = re.fullmatch(r"\s*#?(\d+)\s*([<>=])\s*#?(\d+)\s*", text)
    if found is None or min(int(found.group(1)), int(found.group(3))) < 1:
        raise ConfigError(
            f"--compare takes two spectrum numbers (from 1) and >, < or =, e.g. '12>7' "
            f"(#12 is more interesting); got {text!r}"
        )
    answer = {">": "first", "<": "second", "=": "none"}[found.group(2)]
    first, second = int(found.group(1)) - 1, int(found.group(3)) - 1
    return Compare(first, second, answer, by="terminal")


@app.command()
@_clean_errors
def resume(
    record: Annotated[Path, typer.Argument(help="Campaign record to continue.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Run at most this many steps.")] = None,
) -> None:
    """Resume a stopped or killed campaign from its record and run it to its budget."""
    from steerscope.campaign import Campaign
    from steerscope.records.tuning_record import is_tuning_record

    if is_tuning_record(record):
        _run_tuning(None, record, steps)
        return

    with Campaign.resume(record) as campaign:
        typer.echo(
            f"resuming {campaign.record.path} at step {campaign.step_index} "
            f"({campaign.n_measured} spectra measured)"
        )
        _run_campaign(campaign, steps)


@app.command()
@_clean_errors
def export(
    record: Annotated[Path, typer.Argument(help="Campaign record.")],
    to: Annotated[
        Path,
        typer.Option(
            "--to", help="Output file: *.h5/*.hdf5, *.hspy, *.zspy (Zarr) or *.nxs (NeXus NXem)."
        ),
    ],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    atom_types: Annotated[
        str | None,
        typer.Option(help="NeXus: the elements in the sample, comma-separated (Au,Pd,Cu)."),
    ] = None,
    prepared: Annotated[
        str | None,
        typer.Option(help="NeXus: when the sample was prepared, ISO 8601 (2026-11-30)."),
    ] = None,
) -> None:
    """Export a record: HDF5 (everything), HyperSpy .hspy/.zspy, or NeXus NXem (.nxs)."""
    from datetime import date, datetime

    from steerscope.errors import ConfigError
    from steerscope.records import CampaignRecord
    from steerscope.records.export import HYPERSPY_EXPORTS

    suffix = to.suffix.lower()
    if suffix not in (*HYPERSPY_EXPORTS, ".h5", ".hdf5", ".nxs"):
        raise ConfigError(
            f"cannot export to {str(to)!r}: expected a file name ending in .h5, .hdf5, .hspy, "
            ".zspy or .nxs"
        )
    when: date | datetime | None = None
    if suffix == ".nxs":
        if not atom_types or not prepared:
            raise ConfigError(
                "a NeXus NXem file must say which elements the sample holds and when it was "
                "prepared, which the record does not know: add --atom-types Au,Pd and "
                "--prepared 2026-11-30"
            )
        try:
            when = datetime.fromisoformat(prepared)
        except ValueError:
            raise ConfigError(
                f"--prepared {prepared!r} is not an ISO 8601 date; write it as 2026-11-30 or "
                "2026-11-30T14:00+01:00"
            ) from None
    with CampaignRecord.open(record, read_only=True) as rec:
        if suffix == ".nxs":
            assert atom_types is not None and when is not None
            written = [
                rec.export_nxem(
                    to,
                    atom_types=atom_types.split(","),
                    preparation_date=when,
                    overwrite=overwrite,
                )
            ]
        elif suffix in HYPERSPY_EXPORTS:
            written = rec.export_hspy(to, overwrite=overwrite)
        else:
            written = [rec.export_hdf5(to, overwrite=overwrite)]
    for path in written:
        typer.echo(f"exported {record} to {path}")


_SHORT_KEYS = {
    "acquisition": "policy.acquisition",
    "beta": "policy.beta",
    "xi": "policy.xi",
    "batch_size": "policy.batch_size",
    "min_distance": "policy.min_distance",
    "measurements": "budget.measurements",
    "budget": "budget.measurements",
    "patch_size": "descriptor.patch_size",
}
"""Short ``--set`` names accepted for the common settings, and the config path each stands for."""


def _parse_settings(settings: list[str]) -> dict[str, Any]:
    """``key=value`` pairs → dotted config path → value (YAML scalars, never evaluated).

    A key is a dotted config path (``policy.beta``, ``model.kind``) or one of the
    short names of :data:`_SHORT_KEYS` (``beta``, ``acquisition``, ``patch_size``, ...).
    Whether the path and value fit the config is checked by
    :func:`steerscope.campaign.fork_record`.
    """
    import yaml

    from steerscope.errors import ConfigError

    changes: dict[str, Any] = {}
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set expects key=value (e.g. beta=1.0 or policy.acquisition=ei); got {item!r}"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        changes[_SHORT_KEYS.get(key, key)] = value
    return changes


@app.command()
@_clean_errors
def replay(
    record: Annotated[Path, typer.Argument(help="Record to replay (pre-acquired data).")],
    from_step: Annotated[int, typer.Option("--from-step", help="Fork before this step.")],
    out: Annotated[Path, typer.Option("--out", help="New record for the what-if run.")],
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Config change key=value: a dotted path (policy.beta=1.0, model.kind=exact_gp) "
            "or a short name (beta, acquisition, xi, batch_size, min_distance, measurements, "
            "patch_size). Values are YAML scalars.",
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Run at most this many steps.")] = None,
) -> None:
    """What-if: fork a record at a step, change settings, and run the fork to its budget."""
    from steerscope.campaign import Campaign, fork_record

    fork_record(record, from_step, _parse_settings(settings or []), out)
    with Campaign.resume(out) as campaign:
        typer.echo(f"replaying {record} from step {from_step} into {out}")
        _run_campaign(campaign, steps)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep YAML: a base campaign and a grid or list.")],
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of an existing Dask scheduler (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers of the local cluster (default: all cores).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: the sweep's out_dir).")
    ] = None,
) -> None:
    """Planning sweep: run many simulated campaigns on Dask and summarise their discovery."""
    from steerscope.sweeps import sweep_from_cli

    code = sweep_from_cli(str(spec), scheduler, workers, str(out) if out else None)
    if code:
        raise typer.Exit(code)


@datasets_app.command("list")
@_clean_errors
def datasets_list() -> None:
    """List the built-in datasets with a one-paragraph description each."""
    from steerscope.datasets import dataset_info, list_datasets

    for name in list_datasets():
        typer.echo(dataset_info(name))
        typer.echo("")


@datasets_app.command("fetch")
@_clean_errors
def datasets_fetch(
    dest: Annotated[
        Path | None, typer.Option(help="Folder (default: $STEERSCOPE_DATA or ~/.cache/steerscope).")
    ] = None,
) -> None:
    """Fetch the real EDX test files (HyperSpy 1.7.6 wheel, GPL-3.0) for the real datasets."""
    from steerscope.datasets import fetch_real_data

    paths = fetch_real_data(dest)
    for path in paths:
        typer.echo(str(path))
    typer.echo(f"{len(paths)} file(s) ready")


@app.command()
@_clean_errors
def drivers() -> None:
    """List the microscope drivers `steerscope serve --driver NAME` can build."""
    from steerscope.instruments.registry import iter_drivers

    for info in iter_drivers():
        typer.echo(f"{info.name:<12} {info.summary}")


@app.command()
@_clean_errors
def serve(
    driver: Annotated[
        str, typer.Option(help="A registered driver: `steerscope drivers` lists them.")
    ] = "sim",
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback unless told).")
    ] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="TCP port (default: the server's).")] = None,
    token: Annotated[
        str | None, typer.Option(help="Shared secret (default: $STEERSCOPE_TOKEN).")
    ] = None,
    read_only: Annotated[bool, typer.Option(help="Refuse acquisitions (overview only).")] = False,
    dataset: Annotated[
        str | None, typer.Option(help="sim / spm-sim drivers: built-in dataset to serve.")
    ] = None,
    path: Annotated[
        Path | None, typer.Option(help="sim / spm-sim drivers: spectrum-image file.")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Driver option key=value (repeatable).")
    ] = None,
    limits: Annotated[
        Path | None,
        typer.Option(help="YAML file of safety limits (SafetyLimits fields) enforced here."),
    ] = None,
) -> None:
    """Serve a microscope on the network for a campaign running elsewhere.

    Refuses a non-loopback --host without a token before building the driver or
    opening a socket. The simulators (``--driver sim``, ``--driver spm-sim``) serve
    --dataset NAME or --path FILE.
    """
    import yaml
    from pydantic import ValidationError

    from steerscope.errors import ConfigError
    from steerscope.instruments.safety import SafetyLimits
    from steerscope.instruments.server import check_exposure, serve_from_cli

    _warn_token_on_command_line(token)
    token = check_exposure(host, token)
    options: dict[str, Any] = {}
    for item in option or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option expects key=value; got {item!r}")
        options[key.strip()] = yaml.safe_load(text)
    from steerscope.instruments.registry import driver_info, iter_drivers

    if driver_info(driver).serves_image:
        if dataset is None and path is None and not {"image", "path"} & set(options):
            raise ConfigError(
                f"--driver {driver} needs a spectrum image to serve: pass --dataset NAME (see "
                "`steerscope datasets list`) or --path FILE"
            )
    elif dataset is not None or path is not None:
        simulators = ", ".join(info.name for info in iter_drivers() if info.serves_image)
        raise ConfigError(
            f"--dataset and --path are options of the simulators ({simulators}); got --driver "
            f"{driver}. Pass the driver's own settings with --option key=value"
        )
    safety = None
    if limits is not None:
        if not limits.is_file():
            raise ConfigError(f"--limits file {str(limits)!r} does not exist")
        try:
            safety = SafetyLimits.model_validate(
                yaml.safe_load(limits.read_text(encoding="utf-8")) or {}
            )
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(
                f"--limits file {str(limits)!r} is not a valid set of safety limits "
                f"(max_dwell_time_s, no_go_rects, ...): {exc}"
            ) from None
    if dataset is not None:
        from steerscope.datasets import get_dataset

        options["image"] = get_dataset(dataset).image
    if path is not None:
        options["path"] = str(path)
    kwargs: dict[str, Any] = {"host": host, "token": token, "read_only": read_only}
    if port is not None:
        kwargs["port"] = port
    serve_from_cli(driver, **kwargs, limits=safety, **options)


def _streamlit(
    port: int,
    address: str,
    records_dir: Path | None,
    demo: bool,
    teaching: dict[str, Any] | None = None,
) -> None:
    import steerscope

    app_path = Path(steerscope.__file__).parent / "ui" / "app.py"
    if not app_path.is_file():
        raise _fail(f"the web UI is not installed ({app_path} is missing); reinstall steerscope")
    env = dict(os.environ)
    if teaching is not None:
        env["STEERSCOPE_TEACHING"] = json.dumps(teaching)
    if demo:
        env["STEERSCOPE_DEMO_DATASET"] = "plasmonic_nanoparticles"
    if records_dir is not None:
        env["STEERSCOPE_RECORDS"] = str(records_dir)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        # the installed package never changes under a running UI; watching it costs CPU
        "--server.fileWatcherType",
        "none",
    ]
    typer.echo(f"steerscope UI at http://{address}:{port}  (Ctrl-C to stop)")
    process = subprocess.Popen(command, env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    if code not in (0, -15):
        raise typer.Exit(code)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the web UI.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    records_dir: Annotated[Path | None, typer.Option(help="Folder of campaign records.")] = None,
) -> None:
    """Start the web UI (Streamlit)."""
    _streamlit(port, address, records_dir, demo=False)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port of the web UI.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    records_dir: Annotated[Path | None, typer.Option(help="Folder of campaign records.")] = None,
) -> None:
    """Start the web UI on the built-in plasmonic dataset."""
    _streamlit(port, address, records_dir, demo=True)


@app.command()
def teach(
    port: Annotated[int, typer.Option(help="Port of the web UI.")] = 8501,
    address: Annotated[
        str, typer.Option(help="Address to bind (0.0.0.0 in a container, behind a proxy).")
    ] = "127.0.0.1",
    records_dir: Annotated[Path | None, typer.Option(help="Folder of campaign records.")] = None,
    max_budget: Annotated[
        int | None, typer.Option(min=1, help="Most spectra in one campaign [200].")
    ] = None,
    max_campaigns: Annotated[
        int | None, typer.Option(min=1, help="Records one visitor may keep [20].")
    ] = None,
    max_running: Annotated[
        int | None, typer.Option(min=1, help="Campaigns one visitor may run at once [1].")
    ] = None,
    max_running_total: Annotated[
        int | None, typer.Option(min=1, help="Campaigns the server runs at once [CPU count].")
    ] = None,
    max_sweep_runs: Annotated[
        int | None, typer.Option(min=1, help="Most runs in one sweep [8].")
    ] = None,
    max_age_hours: Annotated[
        float | None,
        typer.Option(min=0.01, help="Remove a visitor's campaigns after this long away [12]."),
    ] = None,
    allow_files: Annotated[
        bool, typer.Option(help="Let visitors open files on the server.")
    ] = False,
    allow_live: Annotated[
        bool, typer.Option(help="Let visitors connect to a live microscope.")
    ] = False,
) -> None:
    """Serve the web UI to a class: each visitor has private campaigns, within limits.

    Every visitor gets their own records (named by an id in the page's address),
    at most --max-running campaigns at once of at most --max-budget spectra, running
    at low CPU priority; only built-in datasets unless --allow-files / --allow-live.
    See docs/teaching.md.
    """
    given = {
        "max_budget": max_budget,
        "max_campaigns_per_visitor": max_campaigns,
        "max_running_per_visitor": max_running,
        "max_running_total": max_running_total,
        "max_sweep_runs": max_sweep_runs,
        "max_age_hours": max_age_hours,
        "allow_files": allow_files,
        "allow_live": allow_live,
    }
    limits = {name: value for name, value in given.items() if value is not None}
    _streamlit(port, address, records_dir, demo=True, teaching=limits)


def main() -> None:
    """Console entry point (``python -m steerscope.cli``)."""
    app()


if __name__ == "__main__":
    main()
