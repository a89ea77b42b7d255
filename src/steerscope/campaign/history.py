"""The measured history of a campaign: every spectrum, in acquisition order, in one structure.

One :class:`MeasuredHistory` holds what the engine learned from the instrument
(record ids, points, raw spectra, times, steps, energy axis, dose) and is
appended in one place, :meth:`MeasuredHistory.append`, whether the spectra
come from a live acquisition or from the record on resume.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import ConfigError
from steerscope.types import EnergyAxis, Measurement

__all__ = ["MeasuredHistory", "as_points", "beam_idle_fraction"]


def as_points(values: ArrayLike) -> NDArray[np.int64]:
    """Overview pixels as an ``int64`` array of shape ``(n, 2)``."""
    return np.asarray(values, dtype=np.int64).reshape(-1, 2)


class MeasuredHistory:
    """Every measured spectrum so far, in acquisition order.

    Attributes
    ----------
    ids : list of int
        Record measurement ids ``(n,)``.
    points : ndarray of shape (n, 2)
        Measured overview pixels.
    spectra : ndarray of shape (n, C) or None
        Raw spectra (None before the first).
    acquired_at : ndarray of shape (n,)
        Unix time each spectrum finished.
    steps : ndarray of shape (n,)
        Step that measured each spectrum.
    dwell_s : ndarray of shape (n,)
        Dwell (exposure) of each spectrum, seconds.
    energy : EnergyAxis or None
        Energy axis of the spectra.
    dose_s : float
        Total dwell, seconds.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.points = np.zeros((0, 2), dtype=np.int64)
        self.spectra: NDArray[np.float64] | None = None
        self.acquired_at = np.zeros(0, dtype=np.float64)
        self.acquisition_started_at = np.zeros(0, dtype=np.float64)
        self.steps = np.zeros(0, dtype=np.int64)
        self.dwell_s = np.zeros(0, dtype=np.float64)
        self.energy: EnergyAxis | None = None
        self.dose_s = 0.0
        self._known_ids: set[int] = set()
        self._measured: set[tuple[int, int]] = set()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def started_at(self) -> float | None:
        """When the first spectrum finished (None before it)."""
        return float(self.acquired_at.min()) if self.acquired_at.size else None

    def contains(self, point: tuple[int, int]) -> bool:
        """Whether the pixel ``(row, col)`` has been measured."""
        return (int(point[0]), int(point[1])) in self._measured

    def append(
        self,
        ids: list[int],
        points: ArrayLike,
        spectra: ArrayLike,
        acquired_at: ArrayLike,
        steps: ArrayLike,
        energy: EnergyAxis | None,
        dwell_time_s: ArrayLike,
        acquisition_started_at: ArrayLike | None = None,
    ) -> int:
        """Add spectra not seen before (by record id); returns how many were new.

        Parameters
        ----------
        ids : list of int
            Record ids ``(n,)``; ids already held are skipped (a re-told measurement).
        points : array_like of shape (n, 2)
        spectra : array_like of shape (n, C)
        acquired_at, steps, dwell_time_s : array_like of shape (n,) or scalars
        energy : EnergyAxis or None
        acquisition_started_at : array_like of shape (n,), optional
            When each acquisition started (NaN: not known).

        Raises
        ------
        ConfigError
            If the spectra have another number of channels than the earlier ones.
        """
        n = len(ids)
        new = [i for i, mid in enumerate(ids) if int(mid) not in self._known_ids]
        if not new:
            return 0
        values = np.asarray(spectra, dtype=np.float64).reshape(n, -1)[new]
        if self.spectra is not None and self.spectra.shape[0]:
            if self.spectra.shape[1] != values.shape[1]:
                raise ConfigError(
                    f"the instrument returned {values.shape[1]} channels but earlier "
                    f"spectra have {self.spectra.shape[1]}; one campaign needs one "
                    "energy axis. Start a new campaign for the new settings."
                )
            self.spectra = np.concatenate([self.spectra, values], axis=0)
        else:
            self.spectra = values
        pts = as_points(points)[new]
        self.points = np.concatenate([self.points, pts], axis=0)
        self.acquired_at = np.concatenate(
            [self.acquired_at, np.broadcast_to(np.asarray(acquired_at, np.float64), (n,))[new]]
        )
        started = np.nan if acquisition_started_at is None else acquisition_started_at
        self.acquisition_started_at = np.concatenate(
            [
                self.acquisition_started_at,
                np.broadcast_to(np.asarray(started, np.float64), (n,))[new],
            ]
        )
        self.steps = np.concatenate(
            [self.steps, np.broadcast_to(np.asarray(steps, np.int64), (n,))[new]]
        )
        dwell = np.broadcast_to(np.asarray(dwell_time_s, np.float64), (n,))[new]
        self.dwell_s = np.concatenate([self.dwell_s, dwell])
        self.dose_s += float(np.sum(dwell))
        for i in new:
            self.ids.append(int(ids[i]))
            self._known_ids.add(int(ids[i]))
        self._measured.update((int(r), int(c)) for r, c in pts)
        if energy is not None:
            self.energy = energy
        return len(new)

    def append_measurement(self, ids: list[int], measurement: Measurement, step: int) -> int:
        """Add what the instrument returned for one step; see :meth:`append`."""
        return self.append(
            ids,
            measurement.points,
            measurement.spectra,
            measurement.acquired_at,
            step,
            measurement.energy,
            measurement.dwell_time_s,
            measurement.started_at,
        )

    @classmethod
    def from_record(cls, measured: Any) -> MeasuredHistory:
        """The history a record holds (its ``measurements()``)."""
        history = cls()
        if len(measured):
            history.append(
                [int(i) for i in measured.ids],
                measured.points,
                measured.spectra,
                measured.acquired_at,
                np.asarray(measured.steps).reshape(-1),
                measured.energy,
                measured.dwell_time_s,
                measured.started_at,
            )
        return history


def beam_idle_fraction(started_at: ArrayLike, ended_at: ArrayLike) -> float:
    """The fraction of the time from the first start to the last end the beam was not acquiring.

    Parameters
    ----------
    started_at, ended_at : array_like of shape (n,)
        Unix times each acquisition started and ended; pairs with a NaN are skipped.

    Returns
    -------
    float
        ``1 - busy / span`` in ``[0, 1]``, where busy is the union of the
        acquisition intervals; NaN when fewer than one interval is known.
    """
    start = np.asarray(started_at, np.float64).reshape(-1)
    end = np.asarray(ended_at, np.float64).reshape(-1)
    known = np.isfinite(start) & np.isfinite(end) & (end >= start)
    if not np.any(known):
        return math.nan
    start, end = start[known], end[known]
    order = np.argsort(start)
    start, end = start[order], end[order]
    busy, reach = 0.0, -math.inf
    for a, b in zip(start.tolist(), end.tolist(), strict=True):
        a = max(a, reach)
        if b > a:
            busy += b - a
        reach = max(reach, b)
    span = float(end.max() - start.min())
    if span <= 0:
        return 0.0
    return float(min(1.0, max(0.0, 1.0 - busy / span)))
