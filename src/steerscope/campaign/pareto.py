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

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from steerscope.acquisition import default_reference_point, hypervolume, pareto_front

__all__ = ["HypervolumeReference", "ReferenceSource", "hypervolume_history", "pareto_mask"]

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
