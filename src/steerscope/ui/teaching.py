"""Teaching mode: the web UI served to a class, each visitor in a sandbox of their own.

The seed paper served its simulator publicly "as an educational interface for
experimentalists new to automated experiments". With ``steerscope teach`` every
visitor gets a private folder of records (named by an unguessable visitor id kept in
the page's address, so a reload finds the same campaigns and another browser never
does), caps on what one visitor may start (campaigns at once and in all, spectra per
campaign, runs per sweep), campaigns that run at low CPU priority on one thread, only
built-in datasets unless files or live microscopes are allowed, and folders of
visitors gone for longer than ``max_age_hours`` removed.

This module holds the rules without Streamlit (``state.py`` and the pages apply them),
so they are tested as plain functions.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from functools import cache
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from steerscope.errors import ConfigError, SteerscopeError

__all__ = [
    "TEACHING_ENV",
    "TeachingLimitError",
    "TeachingLimits",
    "check_budget",
    "check_new_campaign",
    "check_sweep",
    "is_visitor_id",
    "new_visitor_id",
    "stale_visitors",
    "teaching_limits",
    "visitor_dir",
]

TEACHING_ENV = "STEERSCOPE_TEACHING"
"""Environment variable that turns teaching mode on: the limits as JSON (``{}``: defaults)."""

VISITORS = "visitors"
"""Folder, under the records folder, that holds one folder per visitor."""

_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class TeachingLimitError(SteerscopeError):
    """Something a visitor asked for is beyond the limits of this teaching server."""


class TeachingLimits(BaseModel):
    """What one visitor of a teaching server may do, and how old sessions are cleaned up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_running_per_visitor: int = Field(1, ge=1, le=16, description="Campaigns at once.")
    max_running_total: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1),
        ge=1,
        description="Campaigns at once on the whole server (default: its CPU count).",
    )
    max_campaigns_per_visitor: int = Field(20, ge=1, description="Records a visitor may keep.")
    max_budget: int = Field(200, ge=1, description="Most spectra in one campaign.")
    max_sweep_runs: int = Field(8, ge=1, description="Most runs in one sweep.")
    max_age_hours: float = Field(
        12.0, gt=0, description="A visitor's folder untouched this long is removed."
    )
    campaign_nice: int = Field(
        10, ge=0, le=19, description="CPU niceness of the visitors' campaign processes."
    )
    allow_files: bool = Field(False, description="Let visitors open files on the server.")
    allow_live: bool = Field(False, description="Let visitors connect to a live microscope.")

    def to_env(self) -> str:
        """The value of ``$STEERSCOPE_TEACHING`` that :func:`teaching_limits` reads back."""
        return self.model_dump_json()


def teaching_limits() -> TeachingLimits | None:
    """The teaching limits of this server, or ``None`` outside teaching mode.

    Raises
    ------
    ConfigError
        When ``$STEERSCOPE_TEACHING`` is set but is not a JSON object of known limits.
    """
    return _parse_limits(os.environ.get(TEACHING_ENV, ""))


@cache
def _parse_limits(text: str) -> TeachingLimits | None:
    if not text.strip():
        return None
    try:
        values: Any = json.loads(text)
        if not isinstance(values, dict):
            raise TypeError("not a JSON object")
        return TeachingLimits(**values)
    except (ValueError, TypeError, pydantic.ValidationError) as exc:
        why = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, pydantic.ValidationError)
            else str(exc)
        )
        raise ConfigError(
            f"${TEACHING_ENV} must be a JSON object of teaching limits such as "
            f'{{"max_budget": 100}} ({{}} for the defaults); got {text!r} ({why}). '
            "Start the server with `steerscope teach` to have it set for you."
        ) from exc


def new_visitor_id() -> str:
    """A fresh, unguessable visitor id (URL-safe; 16 characters)."""
    return secrets.token_urlsafe(12)


def is_visitor_id(text: object) -> bool:
    """Whether ``text`` has the shape of a visitor id (and so is safe as a folder name)."""
    return isinstance(text, str) and _VISITOR_ID.fullmatch(text) is not None


def visitor_dir(records: Path, visitor: str) -> Path:
    """The private records folder of ``visitor`` under the server's records folder.

    Raises
    ------
    TeachingLimitError
        When ``visitor`` is not a visitor id (a path in disguise, say).
    """
    if not is_visitor_id(visitor):
        raise TeachingLimitError(f"{visitor!r} is not a visitor id")
    return records / VISITORS / visitor


def check_budget(limits: TeachingLimits, measurements: int) -> None:
    """Refuse a campaign budget (new, or raised while it runs) above ``max_budget``."""
    if measurements > limits.max_budget:
        raise TeachingLimitError(
            f"this teaching server allows at most {limits.max_budget} spectra per campaign "
            f"(asked for {measurements}); choose a smaller budget"
        )


def check_new_campaign(
    limits: TeachingLimits,
    *,
    budget: int,
    running_mine: int,
    running_all: int,
    records_mine: int,
) -> None:
    """Refuse a new campaign that would go beyond the limits, saying which and what to do.

    Parameters
    ----------
    limits : TeachingLimits
        The server's limits.
    budget : int
        Spectra the new campaign would measure.
    running_mine, running_all : int
        Campaigns running now for this visitor, and on the whole server.
    records_mine : int
        Records this visitor has already.

    Raises
    ------
    TeachingLimitError
    """
    check_budget(limits, budget)
    if running_mine >= limits.max_running_per_visitor:
        raise TeachingLimitError(
            f"you have {running_mine} campaign(s) running, the most this teaching server "
            "allows at once; stop one (Stop, on the Campaign page) or let it finish first"
        )
    if running_all >= limits.max_running_total:
        raise TeachingLimitError(
            f"the server is running {running_all} campaigns, as many as it has room for; "
            "try again in a minute"
        )
    if records_mine >= limits.max_campaigns_per_visitor:
        raise TeachingLimitError(
            f"you have {records_mine} campaign records, the most this teaching server keeps "
            "per visitor; fork or review the ones you have"
        )


def check_sweep(limits: TeachingLimits, *, n_runs: int, budget: int) -> None:
    """Refuse a sweep with more runs than ``max_sweep_runs`` or runs above ``max_budget``."""
    check_budget(limits, budget)
    if n_runs > limits.max_sweep_runs:
        raise TeachingLimitError(
            f"this teaching server runs at most {limits.max_sweep_runs} campaigns per sweep "
            f"(this one has {n_runs}); take fewer values on an axis or fewer seeds"
        )


def _last_touched(folder: Path) -> float:
    """The newest modification time of ``folder`` or anything in it."""
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:  # removed meanwhile
            continue
    return newest


def stale_visitors(records: Path, max_age_s: float, *, now: float | None = None) -> list[Path]:
    """The folders of visitors gone for longer than ``max_age_s``.

    A running campaign writes its record at every spectrum, so its visitor's folder is
    never stale; one that finished or waits paused stops touching it, and after
    ``max_age_s`` its visitor counts as gone.

    Parameters
    ----------
    records : Path
        The server's records folder (visitors live in ``records/visitors/<id>``).
    max_age_s : float
        A folder with nothing modified for this long is stale.
    now : float, optional
        Unix time to compare with (the current time by default).

    Returns
    -------
    list of Path
        The stale visitors' folders, sorted.
    """
    root = records / VISITORS
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    return [
        folder
        for folder in sorted(root.iterdir())
        if folder.is_dir()
        and is_visitor_id(folder.name)
        and now - _last_touched(folder) > max_age_s
    ]
