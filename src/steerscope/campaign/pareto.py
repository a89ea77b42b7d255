"""Pareto bookkeeping of a multi-objective campaign: fixed reference point, front, hypervolume.

A campaign whose scalarizer gives ``k > 1`` targets per spectrum is judged by
the hypervolume its measured points dominate. Hypervolumes only compare across
steps when the reference point stays put, so the campaign fixes one reference
point per scalarizer:

- from the ground truth when the source is a built-in dataset: the worst value
  of each objective over every spectrum of the dataset (no measured point can
  lie below it, so every measured point counts);
- otherwise from the seed measurements: their nadir minus 10 % of their range
  (:func:`~steerscope.acquisition.default_reference_point`), fixed once the
  seed points are measured. After a scalarizer change it is recomputed from the
  same first measurements under the new scalarizer.

This reference point is for *reporting* (curves, exports). The EHVI
acquisition's own reference point is ``policy.ref_point`` (None: the moving
default of the measured points), which an operator may change mid-run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from steerscope.acquisition import default_reference_point, hypervolume, pareto_front
from steerscope.campaign.history import MeasuredHistory
from steerscope.campaign.targets import Targets
from steerscope.errors import SteerscopeError
from steerscope.scalarizers import target_maps

__all__ = [
    "HypervolumeReference",
    "ParetoTracker",
    "ReferenceSource",
    "hypervolume_history",
    "pareto_mask",
]

ReferenceSource = Literal["ground_truth", "seed_measurements"]


@dataclass(frozen=True, eq=False)
class HypervolumeReference:
    """The fixed reference point of a multi-objective campaign's hypervolume.

    Parameters
    ----------
    point : ndarray of shape (k,)
        Lower corner of the hypervolume, in target units.
    source : {"ground_truth", "seed_measurements"}
        Where it comes from (see the module docstring).
    n_points : int
        Number of values it was computed from (dataset spectra or first measurements).
    scalarizer : dict
        The scalarizer spec it belongs to.
    """

    point: NDArray[np.float64]
    source: ReferenceSource
    n_points: int
    scalarizer: dict[str, Any]

    @classmethod
    def from_values(
        cls, Y: NDArray[np.float64], source: ReferenceSource, scalarizer: dict[str, Any]
    ) -> HypervolumeReference:
        """Reference of ``Y`` ``(n, k)``: its minimum for ground truth, else the default point.

        Rows with a non-finite value are ignored; ``Y`` needs one finite row.
        """
        finite = Y[np.all(np.isfinite(Y), axis=1)]
        ground_truth = source == "ground_truth"
        point = finite.min(axis=0) if ground_truth else default_reference_point(finite)
        return cls(np.asarray(point, dtype=np.float64), source, int(Y.shape[0]), scalarizer)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what the record's ``"pareto"`` summary stores)."""
        return {
            "ref_point": [float(v) for v in self.point],
            "reference_source": self.source,
            "n_reference_points": self.n_points,
            "scalarizer": self.scalarizer,
        }


def pareto_mask(Y: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Pareto-optimal rows of measured objectives, ignoring rows with a non-finite value.

    Parameters
    ----------
    Y : ndarray of shape (n, k)
        Objectives of the measured points (maximised), NaN where unknown.

    Returns
    -------
    ndarray of shape (n,), bool
        True on the front; False for rows with a NaN.
    """
    mask = np.zeros(Y.shape[0], dtype=bool)
    finite = np.all(np.isfinite(Y), axis=1)
    if finite.any():
        mask[finite] = pareto_front(Y[finite])
    return mask


def hypervolume_history(
    Y: NDArray[np.float64],
    steps: NDArray[np.int64],
    reference: NDArray[np.float64],
    *,
    start: int = 0,
) -> list[tuple[int, int, float]]:
    """Hypervolume of the measured points after each step, above a fixed reference.

    Parameters
    ----------
    Y : ndarray of shape (n, k)
        Objectives in acquisition order (rows with a NaN add nothing).
    steps : ndarray of shape (n,)
        Step of each measurement, non-decreasing.
    reference : ndarray of shape (k,)
        The fixed reference point.
    start : int, default 0
        Only the steps of measurements ``start:`` (the earlier ones are known).

    Returns
    -------
    list of (int, int, float)
        ``(step, n_measured after it, hypervolume)`` for every step with a measurement.
    """
    history: list[tuple[int, int, float]] = []
    finite = np.all(np.isfinite(Y), axis=1)
    for step in np.unique(steps[start:]):
        n = int(np.searchsorted(steps, step, side="right"))
        rows = Y[:n][finite[:n]]
        volume = hypervolume(rows, reference) if rows.shape[0] else 0.0
        history.append((int(step), n, float(volume)))
    return history


class ParetoTracker:
    """The fixed reference, the hypervolume per step and the record's summary of one campaign.

    Parameters
    ----------
    record : CampaignRecord
        Where the ``"pareto"`` summary is saved (and a fixed reference is read back).
    truth_image : SpectrumImage or None
        The built-in dataset's spectra, whose objectives fix a ground-truth reference.
    log : callable
        ``log(kind, text)`` for the ``reference_point`` event.
    """

    def __init__(self, record: Any, truth_image: Any, log: Callable[[str, str], None]) -> None:
        self._record = record
        self._truth_image = truth_image
        self._log = log
        self._reference: HypervolumeReference | None = None
        self._hv_cache: tuple[tuple[Any, ...], list[tuple[int, int, float]]] = ((), [])
        self._truth: tuple[int, NDArray[np.float64] | None, float] | None = None

    def truth_objectives(self, targets: Targets) -> NDArray[np.float64] | None:
        """Objectives ``(h*w, k)`` of every spectrum of the built-in dataset (None: unknown)."""
        if self._truth is not None and self._truth[0] == targets.version:
            return self._truth[1]
        values: NDArray[np.float64] | None = None
        if self._truth_image is not None:
            with contextlib.suppress(SteerscopeError):
                maps = target_maps(targets.spec, self._truth_image, grid="spectra")
                values = maps.reshape(maps.shape[0], -1).T
        self._truth = (targets.version, values, math.nan)
        return values

    def reference(
        self, targets: Targets, history: MeasuredHistory, seeds_measured: bool
    ) -> HypervolumeReference | None:
        """The fixed reference point (None until it can be fixed); see the module docstring."""
        spec = targets.spec.model_dump(mode="json")
        if self._reference is not None and self._reference.scalarizer == spec:
            return self._reference
        reference: HypervolumeReference | None = None
        truth = self.truth_objectives(targets)
        saved = self._record.summary("pareto")
        if truth is not None and np.all(np.isfinite(truth), axis=1).any():
            reference = HypervolumeReference.from_values(truth, "ground_truth", spec)
        elif saved.get("scalarizer") == spec and saved.get("ref_point"):
            reference = HypervolumeReference(
                np.asarray(saved["ref_point"], dtype=np.float64),
                "seed_measurements",
                int(saved.get("n_reference_points", 0)),
                spec,
            )
        else:
            n_ref = int(saved.get("n_reference_points", 0)) or (
                len(history) if seeds_measured else 0
            )
            Y = targets.objectives(history)[:n_ref]
            if n_ref and np.all(np.isfinite(Y), axis=1).any():
                reference = HypervolumeReference.from_values(Y, "seed_measurements", spec)
        if reference is not None:
            self._reference = reference
            where = (
                "the ground truth (worst value of each objective over the dataset)"
                if reference.source == "ground_truth"
                else f"the first {reference.n_points} measurements (nadir minus 10 % of range)"
            )
            point = [float(f"{v:.4g}") for v in reference.point]
            self._log(
                "reference_point", f"hypervolume reference point fixed at {point} from {where}"
            )
        return reference

    def hypervolumes(
        self, reference: HypervolumeReference, targets: Targets, history: MeasuredHistory
    ) -> list[tuple[int, int, float]]:
        """``(step, n_measured, hypervolume)`` after every step, above ``reference``."""
        key = (targets.version, tuple(reference.point.tolist()))
        cached_key, cached = self._hv_cache
        n = len(history)
        if cached_key == key and cached and cached[-1][1] == n:
            return list(cached)
        # Earlier steps' volumes are final (history only grows); the last step may gain
        # points (a pending decision measured after a resume), so it is recomputed.
        done = cached[:-1] if cached_key == key else []
        start = done[-1][1] if done else 0
        result = done + hypervolume_history(
            targets.objectives(history), history.steps[:n], reference.point, start=start
        )
        self._hv_cache = (key, result)
        return list(result)

    def truth_hypervolume(self, reference: HypervolumeReference | None, targets: Targets) -> float:
        """Hypervolume of every dataset spectrum above a ground-truth reference (NaN: none)."""
        truth = self.truth_objectives(targets)
        if reference is None or truth is None or reference.source != "ground_truth":
            return math.nan
        assert self._truth is not None
        version, values, volume = self._truth
        if math.isnan(volume):
            finite = truth[np.all(np.isfinite(truth), axis=1)]
            volume = hypervolume(finite, reference.point)
            self._truth = (version, values, volume)
        return volume

    def save_summary(
        self, reference: HypervolumeReference | None, targets: Targets, history: MeasuredHistory
    ) -> None:
        """Write objectives, front, hypervolume per step and the reference to the record."""
        if reference is None:
            return
        volumes = self.hypervolumes(reference, targets, history)
        Y = targets.objectives(history)
        summary = {
            **reference.to_dict(),
            "labels": targets.labels,
            "measurement_ids": list(history.ids),
            "objectives": Y,
            "front_mask": [bool(v) for v in pareto_mask(Y)],
            "steps": [h[0] for h in volumes],
            "n_measured": [h[1] for h in volumes],
            "hypervolume": [h[2] for h in volumes],
        }
        with contextlib.suppress(SteerscopeError):  # a summary must never stop a campaign
            self._record.save_summary("pareto", summary)
