"""Safety limits, enforced in one place for every driver.

:class:`SafeMicroscope` wraps any :class:`~steerscope.instruments.base.Microscope`
and refuses, *before the beam moves*, every request that would break a
:class:`SafetyLimits`: a point outside the field of view or the allowed region,
inside an operator no-go region, a dwell time above the maximum, more spectra
than the campaign may take, or more dose than the campaign may give.

Dose is counted as **total dwell seconds** (the number of spectra times the
dwell time per spectrum). When the beam current is known (``beam_current_a``),
the charge ``total dwell × beam current`` (coulombs) can be limited as well.
The overview scan is not counted: its dose is set by the operator who sets up
the overview, not by the agent.

A refused request raises :class:`~steerscope.errors.SafetyLimitError` naming
the limit and the values, and nothing is acquired from that batch. Drivers that
can blank the beam (optional ``blank()`` / ``unblank()`` methods) are unblanked
just before an acquisition and blanked again right after it, also when it fails.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from steerscope.errors import InstrumentError, SafetyLimitError
from steerscope.instruments.base import (
    Measurement,
    Microscope,
    Overview,
    apply_dwell,
    can_set_dwell,
)

__all__ = ["PixelRect", "SafeMicroscope", "SafetyLimits"]

log = logging.getLogger(__name__)


class PixelRect(BaseModel):
    """A rectangle of overview pixels, half-open.

    Rows ``[row_min, row_max)`` and columns ``[col_min, col_max)``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_min: int = Field(ge=0, description="First row inside the rectangle.")
    row_max: int = Field(ge=1, description="First row after the rectangle.")
    col_min: int = Field(ge=0, description="First column inside the rectangle.")
    col_max: int = Field(ge=1, description="First column after the rectangle.")

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.row_max <= self.row_min or self.col_max <= self.col_min:
            raise ValueError(
                f"a rectangle needs row_min < row_max and col_min < col_max; got rows "
                f"[{self.row_min}, {self.row_max}), cols [{self.col_min}, {self.col_max})"
            )
        return self

    def contains(self, points: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of ``points`` (shape ``(n, 2)``, ``(row, col)``) lie inside, shape ``(n,)``."""
        rows, cols = points[:, 0], points[:, 1]
        return (
            (rows >= self.row_min)
            & (rows < self.row_max)
            & (cols >= self.col_min)
            & (cols < self.col_max)
        )


class SafetyLimits(BaseModel):
    """What a campaign may do with the beam. ``None`` means "no limit" for that item.

    Parameters
    ----------
    max_dwell_time_s : float or None
        Longest exposure per spectrum, seconds.
    max_acquisitions : int or None
        Most spectra the wrapped instrument may acquire (one campaign = one wrapper).
    max_points_per_call : int or None
        Most points in one ``acquire`` call.
    max_total_dwell_s : float or None
        Dose budget as total dwell seconds over all spectra.
    beam_current_a : float or None
        Probe current in amperes; needed for ``max_total_charge_c``.
    max_total_charge_c : float or None
        Dose budget as charge, ``total dwell × beam_current_a``, coulombs.
    field_of_view_shape : (int, int) or None
        ``(H, W)`` of the overview grid. Points must lie inside it. When ``None``
        the shape of the last overview (or the driver's ``describe()["overview_shape"]``)
        is used.
    allowed_region : PixelRect or None
        If set, points must also lie inside this rectangle.
    no_go_rects : list of PixelRect
        Operator no-go regions; a no-go mask can be added to :class:`SafeMicroscope` too.
    blank_between_acquisitions : bool
        Blank the beam after each ``acquire`` on drivers that can.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_dwell_time_s: float | None = Field(default=None, gt=0)
    max_acquisitions: int | None = Field(default=None, ge=0)
    max_points_per_call: int | None = Field(default=None, ge=1)
    max_total_dwell_s: float | None = Field(default=None, gt=0)
    beam_current_a: float | None = Field(default=None, gt=0)
    max_total_charge_c: float | None = Field(default=None, gt=0)
    field_of_view_shape: tuple[int, int] | None = None
    allowed_region: PixelRect | None = None
    no_go_rects: list[PixelRect] = Field(default_factory=list)
    blank_between_acquisitions: bool = True

    @model_validator(mode="after")
    def _check_charge(self) -> Self:
        if self.max_total_charge_c is not None and self.beam_current_a is None:
            raise ValueError(
                "max_total_charge_c needs the beam current: set beam_current_a (amperes), or "
                "limit the dose with max_total_dwell_s instead"
            )
        return self


class SafeMicroscope:
    """A :class:`Microscope` that enforces :class:`SafetyLimits` on an inner one.

    Parameters
    ----------
    inner : Microscope
        The driver (simulator, vendor adapter, remote client).
    limits : SafetyLimits
        The limits to enforce.
    no_go_mask : ndarray of shape (H, W) bool, optional
        Operator no-go pixels (``True`` = never put the beam here).

    Attributes
    ----------
    n_acquired_ : int
        Spectra acquired so far through this wrapper.
    total_dwell_s_ : float
        Total dwell seconds given so far.
    """

    def __init__(
        self,
        inner: Microscope,
        limits: SafetyLimits,
        *,
        no_go_mask: ArrayLike | None = None,
    ) -> None:
        self.inner = inner
        self.limits = limits
        self.no_go_mask = None if no_go_mask is None else self._as_mask(no_go_mask)
        self.n_acquired_ = 0
        self.total_dwell_s_ = 0.0
        self._overview_shape: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _as_mask(mask: ArrayLike) -> NDArray[np.bool_]:
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise SafetyLimitError(
                f"a no-go mask must be a 2-D boolean array (H, W); got shape {arr.shape}"
            )
        return arr.astype(bool)

    def add_no_go_mask(self, mask: ArrayLike) -> None:
        """Add operator no-go pixels, shape ``(H, W)`` bool, to those already forbidden."""
        new = self._as_mask(mask)
        with self._lock:
            if self.no_go_mask is None:
                self.no_go_mask = new
            elif self.no_go_mask.shape != new.shape:
                raise SafetyLimitError(
                    f"the new no-go mask has shape {new.shape} but the current one has "
                    f"{self.no_go_mask.shape}; pass a mask over the same overview grid"
                )
            else:
                self.no_go_mask = self.no_go_mask | new

    # -- Microscope protocol -------------------------------------------------------------

    def overview(self) -> Overview:
        """Acquire the overview through the inner driver and remember its shape ``(H, W)``."""
        ov = self.inner.overview()
        self._overview_shape = (int(ov.image.shape[0]), int(ov.image.shape[1]))
        return ov

    def acquire(self, points: ArrayLike) -> Measurement:
        """Check every limit for the whole batch, then acquire through the inner driver.

        Raises
        ------
        SafetyLimitError
            If any point or the batch as a whole would break a limit; nothing is acquired.
        """
        with self._lock:
            pts = self._as_points(points)
            dwell = self._check(pts)
            blanker = self.limits.blank_between_acquisitions
            if blanker and hasattr(self.inner, "unblank"):
                self.inner.unblank()
            try:
                measurement = self.inner.acquire(pts)
            finally:
                if blanker and hasattr(self.inner, "blank"):
                    try:
                        self.inner.blank()
                    except Exception:  # the acquisition's own error matters more
                        log.exception("could not blank the beam after an acquisition")
            n = int(np.asarray(measurement.points).shape[0])
            # count the larger of the announced and the reported dwell: dose is never undercounted
            per_spectrum = max(dwell or 0.0, float(measurement.dwell_time_s))
            self.n_acquired_ += n
            self.total_dwell_s_ += n * per_spectrum
            return measurement

    @property
    def dwell_time_s(self) -> float | None:
        """The inner instrument's dwell, seconds (None when it does not say)."""
        return self._dwell_time_s()

    @property
    def can_set_dwell(self) -> bool:
        """Whether the inner instrument can change its dwell."""
        return can_set_dwell(self.inner)

    def set_dwell(self, seconds: float) -> None:
        """Change the inner instrument's dwell, within ``max_dwell_time_s``.

        Raises
        ------
        SafetyLimitError
            If ``seconds`` exceeds the limit (nothing is changed).
        InstrumentError
            If the inner instrument cannot change its dwell.
        """
        limit = self.limits.max_dwell_time_s
        if limit is not None and seconds > limit:
            raise SafetyLimitError(
                f"max_dwell_time_s: a dwell of {seconds:g} s exceeds the limit of {limit:g} s; "
                "choose dwells within it"
            )
        apply_dwell(self.inner, seconds)

    def describe(self) -> dict[str, Any]:
        """The inner description plus ``"safety"``: the limits and what has been used."""
        desc = dict(self.inner.describe())
        desc["safety"] = {
            "limits": self.limits.model_dump(mode="json"),
            "n_acquired": self.n_acquired_,
            "total_dwell_s": self.total_dwell_s_,
            "no_go_pixels": 0 if self.no_go_mask is None else int(self.no_go_mask.sum()),
        }
        return desc

    def close(self) -> None:
        """Blank the beam where possible, then close the inner driver."""
        if hasattr(self.inner, "blank"):
            try:
                self.inner.blank()
            except Exception:
                log.exception("could not blank the beam while closing")
        self.inner.close()

    def blank(self) -> None:
        """Blank the beam if the inner driver can; otherwise do nothing."""
        if hasattr(self.inner, "blank"):
            self.inner.blank()

    # -- checks ----------------------------------------------------------------------------

    @staticmethod
    def _as_points(points: ArrayLike) -> NDArray[np.int64]:
        arr = np.asarray(points)
        if arr.ndim == 1 and arr.shape[0] == 2:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise InstrumentError(
                f"points must be an array of shape (n, 2) holding (row, col); got shape {arr.shape}"
            )
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise SafetyLimitError("points contain NaN or inf; pass integer (row, col) pixels")
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            raise InstrumentError(
                "points must be whole (row, col) pixels; got fractional values. Round them first."
            )
        return arr.astype(np.int64)

    def _fov_shape(self) -> tuple[int, int]:
        if self.limits.field_of_view_shape is not None:
            return self.limits.field_of_view_shape
        if self._overview_shape is not None:
            return self._overview_shape
        shape = self.inner.describe().get("overview_shape")
        if shape is not None and len(shape) == 2:
            return int(shape[0]), int(shape[1])
        raise SafetyLimitError(
            "field-of-view limit: the overview grid is unknown, so points cannot be checked; "
            "call overview() before acquire(), or set SafetyLimits.field_of_view_shape=(H, W)"
        )

    def _dwell_time_s(self) -> float | None:
        value = getattr(self.inner, "dwell_time_s", None)
        if value is None:
            value = self.inner.describe().get("dwell_time_s")
        return None if value is None else float(value)

    def _check(self, pts: NDArray[np.int64]) -> float | None:
        """Raise SafetyLimitError for the first broken limit; return the dwell time (or None)."""
        lim = self.limits
        n = pts.shape[0]
        if lim.max_points_per_call is not None and n > lim.max_points_per_call:
            raise SafetyLimitError(
                f"max_points_per_call: {n} points in one call exceed the limit of "
                f"{lim.max_points_per_call}; acquire fewer points per step"
            )
        height, width = self._fov_shape()
        outside = (pts[:, 0] < 0) | (pts[:, 0] >= height) | (pts[:, 1] < 0) | (pts[:, 1] >= width)
        if outside.any():
            bad = pts[outside][0]
            raise SafetyLimitError(
                f"field of view: point (row={bad[0]}, col={bad[1]}) lies outside the "
                f"{height}×{width} overview; points must satisfy 0 <= row < {height} and "
                f"0 <= col < {width}"
            )
        if lim.allowed_region is not None:
            inside = lim.allowed_region.contains(pts)
            if not inside.all():
                bad = pts[~inside][0]
                r = lim.allowed_region
                raise SafetyLimitError(
                    f"allowed_region: point (row={bad[0]}, col={bad[1]}) lies outside the "
                    f"allowed region rows [{r.row_min}, {r.row_max}), cols "
                    f"[{r.col_min}, {r.col_max}); choose points inside it or widen the region"
                )
        for rect in lim.no_go_rects:
            hit = rect.contains(pts)
            if hit.any():
                bad = pts[hit][0]
                raise SafetyLimitError(
                    f"no-go region: point (row={bad[0]}, col={bad[1]}) lies in the no-go "
                    f"rectangle rows [{rect.row_min}, {rect.row_max}), cols "
                    f"[{rect.col_min}, {rect.col_max}) set by the operator"
                )
        if self.no_go_mask is not None:
            mask = self.no_go_mask
            if mask.shape != (height, width):
                raise SafetyLimitError(
                    f"no-go mask: the mask has shape {mask.shape} but the overview is "
                    f"{height}×{width}; redraw the no-go mask on the current overview"
                )
            hit = mask[pts[:, 0], pts[:, 1]]
            if hit.any():
                bad = pts[hit][0]
                raise SafetyLimitError(
                    f"no-go region: point (row={bad[0]}, col={bad[1]}) lies in the operator's "
                    "no-go mask"
                )
        if lim.max_acquisitions is not None and self.n_acquired_ + n > lim.max_acquisitions:
            raise SafetyLimitError(
                f"max_acquisitions: {self.n_acquired_} spectra acquired + {n} requested = "
                f"{self.n_acquired_ + n} exceeds the limit of {lim.max_acquisitions}"
            )
        needs_dwell = (
            lim.max_dwell_time_s is not None
            or lim.max_total_dwell_s is not None
            or lim.max_total_charge_c is not None
        )
        dwell = self._dwell_time_s()
        if dwell is None:
            if needs_dwell:
                raise SafetyLimitError(
                    "dwell/dose limits are set but the driver reports no dwell time (no "
                    "`dwell_time_s` attribute or describe() entry), so they cannot be enforced; "
                    "use a driver that reports it or remove the dwell and dose limits"
                )
            return None
        if lim.max_dwell_time_s is not None and dwell > lim.max_dwell_time_s:
            raise SafetyLimitError(
                f"max_dwell_time_s: the dwell time of {dwell:g} s exceeds the limit of "
                f"{lim.max_dwell_time_s:g} s; lower the driver's dwell time"
            )
        planned = self.total_dwell_s_ + n * dwell
        if lim.max_total_dwell_s is not None and planned > lim.max_total_dwell_s + 1e-12:
            raise SafetyLimitError(
                f"max_total_dwell_s: {self.total_dwell_s_:g} s given + {n} × {dwell:g} s "
                f"requested = {planned:g} s exceeds the dose budget of "
                f"{lim.max_total_dwell_s:g} s"
            )
        if lim.max_total_charge_c is not None and lim.beam_current_a is not None:
            charge = planned * lim.beam_current_a
            if charge > lim.max_total_charge_c * (1 + 1e-12):
                raise SafetyLimitError(
                    f"max_total_charge_c: {planned:g} s × {lim.beam_current_a:g} A = "
                    f"{charge:g} C exceeds the dose budget of {lim.max_total_charge_c:g} C"
                )
        return dwell
