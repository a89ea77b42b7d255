"""A tuning campaign: set the instrument, record a frame, score it, choose the next settings.

The same loop as a spectrum campaign, over a box of instrument settings instead of
pixels: the first trial is the instrument as it stands (the operator's starting
point), then a few space-filling trials, then Bayesian optimisation
(:mod:`steerscope.tuning.optimiser`). The operator may change the budget, a search
range or beta, or ask for settings to be tried, at any time
(:mod:`steerscope.tuning.interventions`); every trial and every change is committed
to the record (:class:`~steerscope.records.tuning_record.TuningRecord`) before the
next trial, and :meth:`TuningCampaign.resume` continues a killed campaign from it.
No trial, proposed or forced, leaves the settings' safe ranges.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import ConfigError, SafetyLimitError
from steerscope.instruments.base import Tunable
from steerscope.records.tuning_record import TrialRow, TuningRecord
from steerscope.tuning.config import TuningConfig, format_settings, load_tuning_config
from steerscope.tuning.interventions import (
    SetBeta,
    SetBounds,
    SetBudget,
    SetPaused,
    TrySettings,
    TuningIntervention,
    parse_intervention,
    to_dict,
)
from steerscope.tuning.merit import ronchigram_flatness
from steerscope.tuning.optimiser import propose_bo, propose_random, space_filling

__all__ = ["TuningCampaign"]


class TuningCampaign:
    """Tune ``instrument``'s settings to maximise the figure of merit of its frames.

    Build one with :meth:`create` or :meth:`resume`; then :meth:`step` or :meth:`run`.

    Attributes
    ----------
    config : TuningConfig
        As created; the interventions since live in :attr:`bounds`, :attr:`budget`,
        :attr:`beta`.
    trials : list of TrialRow
        Every trial so far, in order.
    """

    def __init__(self, config: TuningConfig, instrument: Tunable, record: TuningRecord) -> None:
        self.config, self.instrument, self.record = config, instrument, record
        self.trials: list[TrialRow] = []
        self.budget = config.budget
        self.beta = config.beta
        self.bounds = {s.name: (s.low, s.high) for s in config.settings}
        self.paused = False
        self._forced: list[dict[str, float]] = []
        self._rng = np.random.default_rng(config.seed)

    # --- building -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        config: TuningConfig | dict[str, Any] | str | Path,
        instrument: Tunable,
        path: str | Path,
    ) -> TuningCampaign:
        """A new campaign on ``instrument``, recorded at ``path`` (which must not exist).

        Raises
        ------
        ConfigError
            If the config is invalid or names a setting the instrument does not have.
        SafetyLimitError
            If the instrument stands outside a setting's safe range now.
        """
        config = load_tuning_config(config)
        current = instrument.settings()
        missing = [s.name for s in config.settings if s.name not in current]
        if missing:
            raise ConfigError(
                f"the instrument has no setting {', '.join(missing)}; it tunes {', '.join(current)}"
            )
        record = TuningRecord.create(path, config.to_dict(), instrument.describe())
        return cls(config, instrument, record)

    @classmethod
    def resume(cls, path: str | Path, instrument: Tunable) -> TuningCampaign:
        """Continue the campaign recorded at ``path``: its trials and changes are replayed."""
        record = TuningRecord.open(path)
        campaign = cls(load_tuning_config(record.config), instrument, record)
        campaign.trials = record.trials()
        consumed = sum(t.how == "forced" for t in campaign.trials)
        for _, _, change in record.interventions():
            campaign._change(parse_intervention(change))
        campaign._forced = campaign._forced[consumed:]
        campaign._rng = np.random.default_rng([campaign.config.seed, len(campaign.trials)])
        return campaign

    # --- state ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the budget is spent."""
        return len(self.trials) >= self.budget

    @property
    def best(self) -> TrialRow | None:
        """The trial of highest figure of merit so far."""
        return max(self.trials, key=lambda t: t.merit) if self.trials else None

    def _unit(self, settings: dict[str, float]) -> NDArray[np.float64]:
        """Settings (config units) as unit-cube coordinates of the safe box, shape (d,)."""
        return np.array(
            [(settings[s.name] - s.safe[0]) / (s.safe[1] - s.safe[0]) for s in self.config.settings]
        )

    def _settings(self, unit: NDArray[np.float64]) -> dict[str, float]:
        return {
            s.name: float(s.safe[0] + u * (s.safe[1] - s.safe[0]))
            for s, u in zip(self.config.settings, unit, strict=True)
        }

    def _search_box(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        low = self._unit({n: b[0] for n, b in self.bounds.items()})
        high = self._unit({n: b[1] for n, b in self.bounds.items()})
        return low, high

    def _standing(self) -> dict[str, float]:
        """Where the instrument stands now, in the config's units (to 1e-9 of a unit)."""
        si = self.instrument.settings()
        return {s.name: round(si[s.name] / s.si, 9) for s in self.config.settings}

    def _move_to(self, settings: dict[str, float]) -> None:
        """Set the instrument to ``settings`` (config units; SI at the instrument)."""
        si = {s.name: s.si for s in self.config.settings}
        self.instrument.apply({k: v * si[k] for k, v in settings.items()})

    def _check_safe(self, settings: dict[str, float]) -> None:
        for s in self.config.settings:
            low, high = s.safe
            if not low <= settings[s.name] <= high:
                raise SafetyLimitError(
                    f"{s.name} = {settings[s.name]:g} {s.unit} is outside its safe range "
                    f"[{low:g}, {high:g}] {s.unit}; move the instrument inside it first, "
                    "or widen safe_low/safe_high in the config if that range is safe"
                )

    # --- interventions --------------------------------------------------------------

    def apply(self, change: TuningIntervention | dict[str, Any]) -> None:
        """Check an intervention, record it, and let it take effect from the next trial.

        Raises
        ------
        ConfigError
            If it is invalid (the message says what is expected); nothing is recorded.
        SafetyLimitError
            If it would leave a safe range; nothing is recorded.
        """
        if isinstance(change, dict):
            change = parse_intervention(change)
        self.check(change)
        if isinstance(change, TrySettings):  # recorded whole: a replay must not re-derive it
            change = TrySettings(self._completed(change.values))
        self.record.add_intervention(to_dict(change), after=len(self.trials))
        self._change(change)

    def check(self, change: TuningIntervention) -> None:
        """Raise what :meth:`apply` would raise for ``change``; change nothing."""
        self._change(change, dry_run=True)

    def _change(self, change: TuningIntervention, *, dry_run: bool = False) -> None:
        names = {s.name: s for s in self.config.settings}
        if isinstance(change, SetBudget):
            if change.frames < 1:
                raise ConfigError(f"set_budget: frames must be at least 1; got {change.frames}")
            if not dry_run:
                self.budget = int(change.frames)
        elif isinstance(change, SetBeta):
            if not change.beta >= 0:
                raise ConfigError(f"set_beta: beta must be zero or more; got {change.beta}")
            if not dry_run:
                self.beta = float(change.beta)
        elif isinstance(change, SetPaused):
            if not dry_run:
                self.paused = bool(change.paused)
        elif isinstance(change, SetBounds):
            setting = names.get(change.name)
            if setting is None:
                raise ConfigError(
                    f"set_bounds: no setting {change.name!r}; expected one of {list(names)}"
                )
            low, high = setting.safe
            if not low <= change.low < change.high <= high:
                raise SafetyLimitError(
                    f"set_bounds: {change.name} range [{change.low:g}, {change.high:g}] "
                    f"{setting.unit} must be ordered and inside its safe range "
                    f"[{low:g}, {high:g}] {setting.unit}"
                )
            if not dry_run:
                self.bounds[change.name] = (float(change.low), float(change.high))
        elif isinstance(change, TrySettings):
            unknown = sorted(set(change.values) - set(names))
            if unknown or not change.values:
                raise ConfigError(
                    f"try_settings: give values for some of {list(names)}; got {change.values}"
                )
            settings = self._completed(change.values)
            self._check_safe(settings)
            if not dry_run:
                self._forced.append(settings)

    def describe(self, change: TuningIntervention) -> str:
        """What ``change`` does, from the current state: ``"beta 1 → 0.25"``."""
        units = {s.name: s.unit for s in self.config.settings}
        if isinstance(change, SetBudget):
            return f"budget {self.budget} → {change.frames} frames"
        if isinstance(change, SetBeta):
            return f"beta {self.beta:g} → {change.beta:g}"
        if isinstance(change, SetPaused):
            return "pause after the frame in flight" if change.paused else "go on"
        if isinstance(change, SetBounds):
            low, high = self.bounds.get(change.name, (float("nan"), float("nan")))
            unit = units.get(change.name, "")
            new = f"[{change.low:g}, {change.high:g}] {unit}"
            return f"{change.name} range [{low:g}, {high:g}] → {new}"
        where = ", ".join(f"{k} {v:g} {units.get(k, '')}" for k, v in change.values.items())
        return f"try {where}"

    def _completed(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` with every other setting at the best trial's (or the start's) value."""
        base = dict(self.best.settings) if self.best is not None else self._standing()
        return {**base, **{k: float(v) for k, v in values.items()}}

    # --- the loop -------------------------------------------------------------------

    def next_settings(self) -> tuple[dict[str, float], str]:
        """The settings of the next trial (config units) and how they were chosen."""
        n = len(self.trials)
        if self._forced:
            return self._forced[0], "forced"
        if n == 0:
            start = self._standing()
            self._check_safe(start)
            return start, "start"
        low, high = self._search_box()
        if self.config.optimiser == "random":
            return self._settings(propose_random(low, high, self._rng)), "random"
        made = sum(t.how == "space-filling" for t in self.trials)
        if made < self.config.n_initial:
            points = space_filling(self.config.n_initial, low, high, self.config.seed)
            return self._settings(points[made]), "space-filling"
        x = np.stack([self._unit(t.settings) for t in self.trials])
        y = np.array([t.merit for t in self.trials])
        unit = propose_bo(x, y, low, high, beta=self.beta, seed=self.config.seed + n)
        return self._settings(unit), "bo"

    def step(self) -> TrialRow:
        """Make one trial: set, record a frame, score, commit."""
        settings, how = self.next_settings()
        self._check_safe(settings)
        self._move_to(settings)
        started = time.time()
        frame = self.instrument.frame()
        ended = time.time()
        m = self.config.merit
        merit = ronchigram_flatness(frame, m.radius_mrad, m.smoothing_px)
        trial = TrialRow(len(self.trials), settings, merit, how, started, ended)
        self.record.add_trial(trial, frame.image, frame.pixel_mrad)
        self.trials.append(trial)
        if how == "forced":
            self._forced.pop(0)
        return trial

    def run(self, on_trial: Callable[[TrialRow], None] | None = None) -> TrialRow | None:
        """Trials until the budget is spent; the best one."""
        while not self.done:
            trial = self.step()
            if on_trial is not None:
                on_trial(trial)
        return self.best

    def finish(self, settle: bool = True) -> None:
        """Leave the instrument at the best settings found (``settle``), close the record."""
        best = self.best
        if settle and best is not None:
            self._move_to(best.settings)
        self.record.close()

    def summary(self) -> str:
        """One line: frames, best figure and its settings, wall time."""
        best = self.best
        if best is None:
            return f"{self.config.name}: no frame yet"
        where = format_settings(best.settings, {s.name: s.unit for s in self.config.settings})
        wall = self.trials[-1].ended - self.trials[0].started
        return (
            f"{self.config.name}: {len(self.trials)} frames in {wall:.0f} s; best flatness "
            f"{best.merit:.2f} (frame {best.index}) at {where}"
        )
