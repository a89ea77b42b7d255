"""Where a campaign's spectra come from and where its record goes.

:func:`build_instrument` turns a config's ``source`` into a
:class:`~steerscope.instruments.base.Microscope` through the builders of
:mod:`steerscope.instruments.registry` (the engine never imports a driver,
the simulator or the network client itself) and wraps it in the safety layer;
:func:`default_record_path` names a new record.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from steerscope.campaign.config import (
    CampaignConfig,
    DatasetSource,
    FileSource,
    InstanceSource,
    RemoteSource,
)
from steerscope.errors import ConfigError, DataWarning
from steerscope.instruments.base import Microscope, apply_dwell
from steerscope.instruments.registry import (
    remote_microscope,
    simulated_microscope,
    simulated_probe_microscope,
)
from steerscope.instruments.safety import SafeMicroscope
from steerscope.types import Measurement

__all__ = [
    "acquire_at_dwell",
    "acquire_timed",
    "build_instrument",
    "default_record_path",
    "fresh_record_path",
]


def default_record_path(config: CampaignConfig) -> Path:
    """A new record path ``<records_dir>/<name>-<YYYYmmdd-HHMMSS>.sqlite`` that does not exist."""
    return fresh_record_path(config.records_dir, config.name, what="records_dir")


def fresh_record_path(folder: str | Path, name: str, *, what: str = "the records folder") -> Path:
    """A record path ``<folder>/<name>-<YYYYmmdd-HHMMSS>[-k].sqlite`` that does not exist yet.

    The folder is created if needed.

    Raises
    ------
    ConfigError
        If ``folder`` is a file, lies under one, or cannot be created (``what`` names
        the setting in the message).
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = "is a file, not a folder" if folder.is_file() else f"cannot be created ({exc})"
        raise ConfigError(
            f"{what} {str(folder)!r} {problem}; point it at a folder you can write to."
        ) from exc
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name).strip("_")
    path = folder / f"{safe or 'campaign'}-{stamp}.sqlite"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{safe or 'campaign'}-{stamp}-{n}.sqlite"
    return path


def build_instrument(
    config: CampaignConfig, instrument: Microscope | None = None
) -> tuple[Microscope, Any]:
    """The microscope a config asks for, and the built-in dataset behind it (or None).

    Whatever the source, when ``config.safety`` is set the microscope is wrapped
    in a :class:`~steerscope.instruments.safety.SafeMicroscope`, so the same
    limits are enforced in one place for the simulator, a file, a remote server
    and an instrument passed in by the caller.

    Parameters
    ----------
    config : CampaignConfig
    instrument : Microscope, optional
        Use this microscope instead of building one from ``config.source``
        (required for an ``{instance: ...}`` source).

    Returns
    -------
    (Microscope, Dataset or None)
        A :class:`~steerscope.instruments.SimulatedMicroscope` over a dataset or
        a file, a :class:`~steerscope.instruments.client.RemoteMicroscope`, or
        ``instrument``; inside a ``SafeMicroscope`` when ``config.safety`` is set.

    Raises
    ------
    ConfigError
        For an ``{instance: ...}`` source without ``instrument``.
    """
    microscope, dataset = _build_raw_instrument(config, instrument)
    if config.safety is not None:
        microscope = SafeMicroscope(microscope, config.safety)
    return microscope, dataset


def _build_raw_instrument(
    config: CampaignConfig, instrument: Microscope | None
) -> tuple[Microscope, Any]:
    source = config.source
    if instrument is not None:
        return instrument, None
    if isinstance(source, InstanceSource):
        raise ConfigError(
            f"the config's source is {{instance: {source.instance}}}: a microscope object the "
            "caller passes in, which cannot be rebuilt from the config; call "
            "Campaign.create(config, path, instrument=scope) or Campaign.resume(path, "
            "instrument=scope), or set `source:` to {dataset: ...}, {file: ...} or {remote: ...}."
        )
    if isinstance(source, RemoteSource):
        token = os.environ.get(source.token_env) or None
        return (
            remote_microscope(
                source.remote, token=token, timeout_s=source.timeout_s, retries=source.retries
            ),
            None,
        )
    dataset = None
    if isinstance(source, DatasetSource):
        from steerscope.datasets import get_dataset

        dataset = get_dataset(source.dataset, **source.options)
        image = dataset.image
    else:
        assert isinstance(source, FileSource)
        from steerscope.data import load

        with warnings.catch_warnings():
            # the campaign says it once, as a source note in its log (Campaign.create)
            warnings.simplefilter("ignore", DataWarning)
            image = load(source.file, **source.options)
    opts = config.instrument
    common = {
        "dwell_time_s": opts.dwell_time_s,
        "reference_dwell_s": opts.reference_dwell_s,
        "noise": opts.noise,
        "acquisition_delay_s": opts.acquisition_delay_s,
        "seed": config.seed,
    }
    if opts.probe is not None:
        return simulated_probe_microscope(image, **common, **opts.probe.model_dump()), dataset
    return simulated_microscope(image, **common, drift_px_per_step=opts.drift_px_per_step), dataset


_CLOCK_SLACK_S = 0.5
"""How far an instrument's end times may lie outside this computer's call window."""


def acquire_at_dwell(
    instrument: Microscope, points: ArrayLike, dwell_s: float | None
) -> Measurement:
    """Set the instrument's dwell to ``dwell_s`` (if it differs), then :func:`acquire_timed`.

    ``dwell_s`` None keeps the instrument's dwell.

    Raises
    ------
    InstrumentError
        If the instrument cannot change its dwell.
    """
    if dwell_s is not None and getattr(instrument, "dwell_time_s", None) != dwell_s:
        apply_dwell(instrument, dwell_s)
    return acquire_timed(instrument, points)


def acquire_timed(instrument: Microscope, points: ArrayLike) -> Measurement:
    """``instrument.acquire(points)`` with each spectrum's start time stamped.

    The first spectrum starts when the call starts; each next one when the one
    before it ended, if the instrument's end times fall inside the call (the
    same clock); otherwise (a remote clock) the call's duration is split
    evenly over the points.

    Parameters
    ----------
    instrument : Microscope
    points : array_like of shape (n, 2)

    Returns
    -------
    Measurement
        With ``started_at`` ``(n,)``.
    """
    begun = time.time()
    measurement = instrument.acquire(points)
    ended = time.time()
    if not isinstance(measurement, Measurement):
        return measurement  # the record refuses it with a clear message
    n = np.asarray(measurement.points).reshape(-1, 2).shape[0]
    done = np.asarray(measurement.acquired_at, np.float64).reshape(-1)
    same_clock = (
        done.shape == (n,)
        and bool(np.all(np.isfinite(done)))
        and done.min(initial=begun) >= begun - _CLOCK_SLACK_S
        and done.max(initial=ended) <= ended + _CLOCK_SLACK_S
    )
    if same_clock and n:
        started = np.concatenate([[begun], np.maximum(done[:-1], begun)])
    else:
        started = begun + (ended - begun) * np.arange(n) / max(n, 1)
    return dataclasses.replace(measurement, started_at=started)
