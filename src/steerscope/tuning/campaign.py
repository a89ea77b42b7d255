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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.errors import ConfigError, SafetyLimitError, SteerscopeError
from steerscope.instruments.base import Tunable
from steerscope.records.tuning_record import TrialRow, TuningRecord
from steerscope.tuning.config import (
    FlatnessMerit,
    TuningConfig,
    format_settings,
    load_tuning_config,
)
from steerscope.tuning.interventions import (
    VETO_WIDTH,
    SetBeta,
    SetBounds,
    SetBudget,
    SetMerit,
    SetPaused,
    TrySettings,
    TuningIntervention,
    VetoSettings,
    parse_intervention,
    to_dict,
)
from steerscope.tuning.merit import ronchigram_flatness
from steerscope.tuning.optimiser import propose_bo, propose_random, space_filling
from steerscope.types import CameraFrame

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
        self.merit: FlatnessMerit = config.merit
        self.vetoes: list[dict[str, float]] = []
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

    def _vetoed(self, unit: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Which unit-cube points ``(m, d)`` lie within a veto."""
        points = np.atleast_2d(unit)
        hit = np.zeros(points.shape[0], dtype=bool)
        index = {s.name: j for j, s in enumerate(self.config.settings)}
        for veto in self.vetoes:
            near = np.ones(points.shape[0], dtype=bool)
            for name, value in veto.items():
                s = self.config.settings[index[name]]
                centre = (value - s.safe[0]) / (s.safe[1] - s.safe[0])
                near &= np.abs(points[:, index[name]] - centre) < VETO_WIDTH
            hit |= near
        return hit

    def _grid_values(self, low: float, high: float) -> NDArray[np.float64]:
        """The grid's unit-cube values inside ``[low, high]`` (the nearest one if none is)."""
        assert self.config.grid_points is not None
        axis = np.linspace(0.0, 1.0, self.config.grid_points)
        inside = axis[(axis >= low - 1e-12) & (axis <= high + 1e-12)]
        return inside if inside.size else axis[[int(np.argmin(np.abs(axis - (low + high) / 2)))]]

    def _snap(self, unit: NDArray[np.float64]) -> NDArray[np.float64]:
        """``unit`` (d,) moved to the nearest grid point (unchanged without a grid)."""
        if self.config.grid_points is None:
            return unit
        steps = self.config.grid_points - 1
        return np.round(np.clip(unit, 0.0, 1.0) * steps) / steps

    def _candidates(self) -> NDArray[np.float64] | None:
        """Settings the optimiser may pick, unit cube ``(m, d)``; None: the whole box.

        The grid inside the search range, or (with vetoes) 4096 Sobol points of it,
        less every vetoed point.

        Raises
        ------
        ConfigError
            If every candidate is vetoed.
        """
        low, high = self._search_box()
        if self.config.grid_points is not None:
            axes = [self._grid_values(lo, hi) for lo, hi in zip(low, high, strict=True)]
            points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, low.size)
        elif self.vetoes:
            points = space_filling(4096, low, high, self.config.seed)
        else:
            return None
        points = points[~self._vetoed(points)]
        if points.shape[0] == 0:
            raise ConfigError(
                "every setting left in the search range is vetoed; widen the range "
                "(set_bounds) or start a campaign without those vetoes"
            )
        return points

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
            if self._vetoed(self._unit(settings)).any():
                raise ConfigError(
                    f"try_settings: {format_settings(settings, self._units())} lies within a "
                    "vetoed range; try other settings"
                )
            if not dry_run:
                self._forced.append(settings)
        elif isinstance(change, VetoSettings):
            unknown = sorted(set(change.values) - set(names))
            try:
                finite = all(np.isfinite(float(v)) for v in change.values.values())
            except (TypeError, ValueError):
                finite = False
            if unknown or not change.values or not finite:
                raise ConfigError(
                    f"veto_settings: give finite values for some of {list(names)}; got "
                    f"{change.values}"
                )
            if not dry_run:
                self.vetoes.append({k: float(v) for k, v in change.values.items()})
        elif isinstance(change, SetMerit):
            merit = self.merit.model_dump()
            merit.update({k: v for k, v in vars(change).items() if v is not None})
            if change.radius_mrad is None and change.smoothing_px is None:
                raise ConfigError("set_merit: give radius_mrad or smoothing_px (or both)")
            try:
                new = FlatnessMerit.model_validate(merit)
                if self.trials:  # a disc the frames cannot hold is refused before it is kept
                    image, pixel_mrad = self.record.frame(self.trials[-1].index)
                    ronchigram_flatness(
                        CameraFrame(image, pixel_mrad), new.radius_mrad, new.smoothing_px
                    )
            except (ValueError, SteerscopeError) as exc:
                raise ConfigError(f"set_merit: {exc}") from None
            if not dry_run:
                self._rescore(new)

    def _rescore(self, merit: FlatnessMerit) -> None:
        """Judge every trial's recorded frame by ``merit`` from now on."""
        for i, trial in enumerate(self.trials):
            image, pixel_mrad = self.record.frame(trial.index)
            frame = CameraFrame(image, pixel_mrad, trial.settings)
            score = ronchigram_flatness(frame, merit.radius_mrad, merit.smoothing_px)
            self.trials[i] = replace(trial, merit=score)
        self.merit = merit

    def _units(self) -> dict[str, str]:
        return {s.name: s.unit for s in self.config.settings}

    def describe(self, change: TuningIntervention) -> str:
        """What ``change`` does, from the current state: ``"beta 1 → 0.25"``."""
        units = self._units()
        if isinstance(change, VetoSettings):
            safe = {s.name: s.safe for s in self.config.settings}
            where = ", ".join(
                f"{k} {v:g} ± {VETO_WIDTH * (safe[k][1] - safe[k][0]):g} {units.get(k, '')}"
                for k, v in change.values.items()
                if k in safe
            )
            return f"never try {where}"
        if isinstance(change, SetMerit):
            radius = change.radius_mrad or self.merit.radius_mrad
            smoothing = (
                change.smoothing_px
                if change.smoothing_px is not None
                else (self.merit.smoothing_px)
            )
            return (
                f"flatness in {self.merit.radius_mrad:g} → {radius:g} mrad, smoothing "
                f"{self.merit.smoothing_px:g} → {smoothing:g} px (every frame re-scored)"
            )
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
        candidates = self._candidates()
        if self.config.optimiser == "random":
            if candidates is not None:
                return self._settings(candidates[self._rng.integers(len(candidates))]), "random"
            return self._settings(propose_random(low, high, self._rng)), "random"
        made = sum(t.how == "space-filling" for t in self.trials)
        if made < self.config.n_initial:
            points = space_filling(self.config.n_initial, low, high, self.config.seed)
            point = self._snap(points[made])
            if candidates is not None and self._vetoed(point).any():  # the nearest allowed one
                point = candidates[np.argmin(np.abs(candidates - point).sum(axis=1))]
            return self._settings(point), "space-filling"
        x = np.stack([self._unit(t.settings) for t in self.trials])
        y = np.array([t.merit for t in self.trials])
        unit = propose_bo(
            x, y, low, high, beta=self.beta, seed=self.config.seed + n, candidates=candidates
        )
        return self._settings(unit), "bo"

    def step(self) -> TrialRow:
        """Make one trial: set, record a frame, score, commit."""
        settings, how = self.next_settings()
        self._check_safe(settings)
        self._move_to(settings)
        started = time.time()
        frame = self.instrument.frame()
        ended = time.time()
        merit = ronchigram_flatness(frame, self.merit.radius_mrad, self.merit.smoothing_px)
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
