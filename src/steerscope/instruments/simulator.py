"""A simulated microscope that serves a pre-acquired :class:`SpectrumImage`.

It implements the :class:`~steerscope.instruments.base.Microscope` protocol, so a
campaign runs on it exactly as on a live instrument. Beyond replaying stored
spectra it can add what makes a live run hard: counting noise at a chosen
dwell time, time per point, stage drift, and injected faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.data.spectrum_image import SpectrumImage
from steerscope.errors import ConfigError, InstrumentError
from steerscope.instruments.base import checked_dwell
from steerscope.instruments.faults import FaultPlan, raise_fault
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.types import Measurement, Overview

__all__ = ["SimulatedMicroscope", "image_option"]


def _json_safe(value: Any) -> Any:
    """Metadata values made JSON-serialisable (NumPy scalars and arrays to Python)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class SimulatedMicroscope:
    """A microscope that replays a spectrum image, with optional noise, drift and faults.

    Parameters
    ----------
    image : SpectrumImage
        What the microscope "sees": its overview is the HAADF, its spectra are
        read at the spectrum-grid pixel under each requested overview pixel.
    dwell_time_s : float
        Exposure per spectrum, seconds (> 0).
    reference_dwell_s : float or None
        Dwell time the stored spectra were taken at. The stored spectrum is
        treated as the *expected* counts at ``reference_dwell_s`` and scaled
        by ``dwell_time_s / reference_dwell_s``. ``None`` means the same as
        ``dwell_time_s`` (ratio 1: expected counts equal the stored ones).
    noise : bool
        If True, draw each returned channel from a Poisson distribution around
        the expected counts (negative expected counts, e.g. from a
        background-subtracted file, are clipped to 0 first). If False, return
        the expected counts themselves.
    drift_px_per_step : tuple of (float, float)
        Stage drift in overview pixels ``(rows, cols)`` added after each
        successful ``acquire`` call: call ``k`` (0-based) lands at the
        requested pixel plus ``k * drift``, rounded and clipped to the field of
        view. The returned ``Measurement.points`` stay the *requested* points
        (a real instrument does not know its drift); where the beam actually
        landed is in ``metadata["actual_points"]``.
    faults : FaultPlan or None
        Acquisitions that fail, and how (see :class:`FaultPlan`).
    acquisition_delay_s : float
        Wall-clock time to sleep per point (>= 0), to make a simulated run feel
        like a live one. The *simulated* elapsed time, ``n * dwell_time_s``,
        is reported in ``metadata["simulated_elapsed_s"]`` whatever this is.
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the noise.

    Examples
    --------
    >>> import numpy as np
    >>> from steerscope.types import EnergyAxis
    >>> image = SpectrumImage(np.zeros((4, 4)), np.ones((2, 2, 8)), EnergyAxis(8, 0.0, 1.0))
    >>> sim = SimulatedMicroscope(image)
    >>> sim.acquire([[0, 0], [3, 3]]).spectra.shape
    (2, 8)
    """

    driver_name = "simulator"
    """What ``describe()["driver"]`` and every measurement's metadata call this instrument."""

    def __init__(
        self,
        image: SpectrumImage,
        *,
        dwell_time_s: float = 0.01,
        reference_dwell_s: float | None = None,
        noise: bool = False,
        drift_px_per_step: tuple[float, float] = (0, 0),
        faults: FaultPlan | None = None,
        acquisition_delay_s: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not isinstance(image, SpectrumImage):
            raise ConfigError(
                f"SimulatedMicroscope needs a SpectrumImage; got {type(image).__name__}. "
                "Load one with steerscope.load(path) or take a dataset's `.image`."
            )
        if not np.isfinite(dwell_time_s) or dwell_time_s <= 0:
            raise ConfigError(
                f"dwell_time_s must be a positive number of seconds; got {dwell_time_s!r}"
            )
        if reference_dwell_s is not None and (
            not np.isfinite(reference_dwell_s) or reference_dwell_s <= 0
        ):
            raise ConfigError(
                "reference_dwell_s must be a positive number of seconds, or None for the "
                f"same as dwell_time_s; got {reference_dwell_s!r}"
            )
        drift = tuple(float(d) for d in drift_px_per_step)
        if len(drift) != 2 or not all(np.isfinite(drift)):
            raise ConfigError(
                "drift_px_per_step must be two finite numbers (rows, cols) of overview pixels "
                f"per acquire call; got {drift_px_per_step!r}"
            )
        if not np.isfinite(acquisition_delay_s) or acquisition_delay_s < 0:
            raise ConfigError(
                f"acquisition_delay_s must be >= 0 seconds per point; got {acquisition_delay_s!r}"
            )
        if faults is not None and not isinstance(faults, FaultPlan):
            raise ConfigError(f"faults must be a FaultPlan or None; got {type(faults).__name__}")
        self.image = image
        self.dwell_time_s = float(dwell_time_s)
        self.reference_dwell_s = None if reference_dwell_s is None else float(reference_dwell_s)
        self.noise = bool(noise)
        self.drift_px_per_step = (drift[0], drift[1])
        self.faults = faults
        self.acquisition_delay_s = float(acquisition_delay_s)
        self.seed = int(seed)

        self._rng = np.random.default_rng(self.seed)
        self._lock = threading.Lock()
        self._closed = False
        self.n_calls = 0
        """Every ``acquire`` attempt, including refused and failed ones."""
        self.n_successful_calls = 0
        """``acquire`` calls that returned spectra."""
        self.n_acquired = 0
        """Spectra returned so far."""
        self.n_faults = 0
        """Injected faults raised so far."""
        self.total_dwell_s = 0.0
        """Total exposure of every returned spectrum, seconds (a dose proxy)."""
        self._failures_at_current = 0

    @property
    def dwell_ratio(self) -> float:
        """Factor applied to the stored spectra: ``dwell_time_s / reference_dwell_s``."""
        reference = self.dwell_time_s if self.reference_dwell_s is None else self.reference_dwell_s
        return self.dwell_time_s / reference

    def set_dwell(self, seconds: float) -> None:
        """Expose the next spectra for ``seconds`` each (counts scale with the dwell).

        The stored spectra stay the expected counts at ``reference_dwell_s``; when
        that was None (the first dwell), it becomes the dwell in force before the
        first change, so a longer dwell gives proportionally more counts.
        """
        seconds = checked_dwell(seconds)
        with self._lock:
            if self.reference_dwell_s is None:
                self.reference_dwell_s = self.dwell_time_s
            self.dwell_time_s = seconds

    @property
    def drift_offset(self) -> tuple[float, float]:
        """Current cumulative drift ``(rows, cols)`` in overview pixels."""
        k = self.n_successful_calls
        return (k * self.drift_px_per_step[0], k * self.drift_px_per_step[1])

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def overview(self) -> Overview:
        """The spectrum image's overview.

        Returns
        -------
        Overview
            ``image`` of shape ``(H, W)`` float32 (a copy), the image's pixel
            size and units, and the image's metadata plus ``"driver"``.
        """
        self._check_open("overview")
        metadata = dict(self.image.metadata)
        metadata["driver"] = self.driver_name
        return Overview(
            image=np.array(self.image.overview, dtype=np.float32, copy=True),
            pixel_size=float(self.image.pixel_size),
            pixel_units=str(self.image.pixel_units),
            metadata=metadata,
        )

    def acquire(self, points: ArrayLike) -> Measurement:
        """Park the beam at each point and read a spectrum.

        The whole batch is checked before anything happens: one point outside
        the overview, or an injected fault, refuses the batch with no side
        effects (no counter, drift or noise state moves).

        Parameters
        ----------
        points : array_like of shape (n, 2)
            Integer overview pixels ``(row, col)``.

        Returns
        -------
        Measurement
            ``points`` (the requested ones, int64 ``(n, 2)``), ``spectra``
            float64 ``(n, C)`` counts, ``acquired_at`` ``(n,)`` Unix times,
            and ``metadata`` with ``actual_points`` ``(n, 2)`` (after drift),
            ``drift_offset``, ``simulated_elapsed_s``, ``noise``, ``dwell_ratio``.

        Raises
        ------
        InstrumentError
            If the microscope is closed, a point is malformed or outside the
            overview, or an injected fault fires (then an
            :class:`InstrumentTimeoutError`, :class:`InstrumentDisconnectedError`
            or :class:`InstrumentFaultError`).
        """
        with self._lock:
            self.n_calls += 1
            self._check_open("acquire")
            requested = self._validate_points(points)
            n = requested.shape[0]
            if n == 0:
                return self._measurement(requested, requested, np.zeros((0, self.image.n_channels)))
            acquisition = self.n_successful_calls + 1
            if self.faults is not None:
                fault = self.faults.fault_for(acquisition, self._failures_at_current)
                if fault is not None:
                    self._failures_at_current += 1
                    self.n_faults += 1
                    raise_fault(fault, acquisition, self._failures_at_current)

            actual, elapsed_s = self._land(requested)
            expected = np.asarray(self.image.spectra_at(actual), dtype=np.float64)
            expected = expected * self.dwell_ratio
            if self.noise:
                spectra = self._rng.poisson(np.clip(expected, 0.0, None)).astype(np.float64)
            else:
                spectra = expected
            acquired_at = np.empty(n, dtype=np.float64)
            for i in range(n):
                if self.acquisition_delay_s > 0:
                    time.sleep(self.acquisition_delay_s)
                acquired_at[i] = time.time()
            measurement = self._measurement(requested, actual, spectra, acquired_at, elapsed_s)
            self.n_successful_calls += 1
            self._failures_at_current = 0
            self.n_acquired += n
            self.total_dwell_s += n * self.dwell_time_s
            return measurement

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description of the simulator and its counters.

        Returns
        -------
        dict
            ``driver`` ("simulator"), ``source``, ``overview_shape``,
            ``spectrum_shape``, ``overview_source`` (as ``load`` reports it:
            ``"file"``, ``"separate"``, ``"sum"``; ``"given"`` for an in-memory
            image without it), ``n_channels``, ``energy`` (size, offset, scale,
            units), ``signal_kind``, ``pixel_size``, ``pixel_units``,
            ``dwell_time_s``, ``reference_dwell_s``, ``noise``,
            ``drift_px_per_step``, ``acquisition_delay_s``, ``faults``, ``seed``,
            and the counters ``n_calls``, ``n_successful_calls``,
            ``n_acquired``, ``n_faults``, ``total_dwell_s``, ``closed``.
        """
        energy = self.image.energy
        return {
            "driver": self.driver_name,
            "source": _json_safe(self.image.metadata.get("source", "in-memory SpectrumImage")),
            "overview_shape": list(self.image.overview_shape),
            "spectrum_shape": list(self.image.spectrum_shape),
            "overview_source": _json_safe(self.image.metadata.get("overview_source", "given")),
            "n_channels": self.image.n_channels,
            "energy": {
                "size": int(energy.size),
                "offset": float(energy.offset),
                "scale": float(energy.scale),
                "units": str(energy.units),
            },
            "signal_kind": self.image.signal_kind.value,
            "pixel_size": float(self.image.pixel_size),
            "pixel_units": str(self.image.pixel_units),
            "dwell_time_s": self.dwell_time_s,
            "reference_dwell_s": self.reference_dwell_s,
            "noise": self.noise,
            "drift_px_per_step": list(self.drift_px_per_step),
            "acquisition_delay_s": self.acquisition_delay_s,
            "faults": None if self.faults is None else self.faults.to_dict(),
            "seed": self.seed,
            "n_calls": self.n_calls,
            "n_successful_calls": self.n_successful_calls,
            "n_acquired": self.n_acquired,
            "n_faults": self.n_faults,
            "total_dwell_s": self.total_dwell_s,
            "closed": self._closed,
        }

    def close(self) -> None:
        """Release the simulator. Idempotent; later ``overview``/``acquire`` calls raise."""
        self._closed = True

    def __enter__(self) -> SimulatedMicroscope:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"SimulatedMicroscope({self.image!r}, dwell_time_s={self.dwell_time_s:g}, "
            f"noise={self.noise}, drift_px_per_step={self.drift_px_per_step})"
        )

    # -- helpers ---------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise InstrumentError(
                f"cannot {what}: this SimulatedMicroscope was closed; create a new one"
            )

    def _validate_points(self, points: ArrayLike) -> NDArray[np.int64]:
        pts = np.asarray(points)
        if pts.ndim == 1 and pts.size == 2:
            pts = pts[None, :]
        if pts.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InstrumentError(
                f"acquire expects points of shape (n, 2) as (row, col) overview pixels; "
                f"got shape {pts.shape}"
            )
        if not np.issubdtype(pts.dtype, np.number) or np.issubdtype(pts.dtype, np.complexfloating):
            raise InstrumentError(
                f"acquire expects integer (row, col) pixels; got an array of dtype {pts.dtype}"
            )
        if not np.all(np.isfinite(pts)) or not np.all(pts == np.round(pts)):
            bad = pts[~(np.isfinite(pts) & (pts == np.round(pts))).all(axis=1)][0]
            raise InstrumentError(
                f"acquire expects integer (row, col) pixels; got {tuple(bad.tolist())}. "
                "Round positions to overview pixels before acquiring."
            )
        pts = pts.astype(np.int64)
        big_h, big_w = self.image.overview_shape
        outside = (pts[:, 0] < 0) | (pts[:, 0] >= big_h) | (pts[:, 1] < 0) | (pts[:, 1] >= big_w)
        if np.any(outside):
            first = int(np.argmax(outside))
            point = (int(pts[first, 0]), int(pts[first, 1]))
            raise InstrumentError(
                f"point {point} (index {first} of {len(pts)}) lies outside the field of view: "
                f"rows must be in [0, {big_h - 1}] and cols in [0, {big_w - 1}] "
                f"({int(outside.sum())} point(s) outside); nothing was acquired. "
                "Pass overview pixels (row, col) inside the overview."
            )
        return pts

    def _land(self, requested: NDArray[np.int64]) -> tuple[NDArray[np.int64], float]:
        """Where the beam lands for each requested point ``(n, 2)``, and the simulated time.

        Called once per successful acquisition, after every check: a subclass may
        advance its own state (a clock, a tip position) here.
        """
        return self._drifted(requested, self.drift_offset), requested.shape[0] * self.dwell_time_s

    def _drifted(
        self, requested: NDArray[np.int64], offset: tuple[float, float] | NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """``requested`` ``(n, 2)`` moved by ``offset`` (``(2,)`` or ``(n, 2)`` pixels), clipped."""
        big_h, big_w = self.image.overview_shape
        moved = requested + np.asarray(offset, dtype=np.float64)
        rows = np.clip(np.rint(moved[:, 0]), 0, big_h - 1)
        cols = np.clip(np.rint(moved[:, 1]), 0, big_w - 1)
        return np.stack([rows, cols], axis=1).astype(np.int64)

    def _measurement(
        self,
        requested: NDArray[np.int64],
        actual: NDArray[np.int64],
        spectra: NDArray[np.float64],
        acquired_at: NDArray[np.float64] | None = None,
        elapsed_s: float = 0.0,
    ) -> Measurement:
        n = requested.shape[0]
        metadata: dict[str, Any] = {
            "driver": self.driver_name,
            "actual_points": actual.tolist(),
            "drift_offset": list(self.drift_offset),
            "simulated_elapsed_s": elapsed_s,
            "delay_s": n * self.acquisition_delay_s,
            "noise": self.noise,
            "dwell_ratio": self.dwell_ratio,
            "acquisition": self.n_successful_calls + 1,
        }
        return Measurement(
            points=requested,
            spectra=np.asarray(spectra, dtype=np.float64),
            energy=self.image.energy,
            signal_kind=self.image.signal_kind,
            acquired_at=np.zeros(0) if acquired_at is None else acquired_at,
            dwell_time_s=self.dwell_time_s,
            metadata=metadata,
        )


def image_option(options: dict[str, Any], driver: str) -> SpectrumImage:
    """Take the spectrum image a simulating driver serves out of its ``options``.

    ``image=`` a :class:`SpectrumImage` (``steerscope serve --dataset`` passes one) or
    ``path=`` a file :func:`steerscope.load` reads; both keys are removed.

    Raises
    ------
    InstrumentError
        If neither is given.
    """
    image = options.pop("image", None)
    path = options.pop("path", None)
    if image is None and path is not None:
        from steerscope.data import load

        image = load(path)
    if image is None:
        raise InstrumentError(
            f"the {driver!r} driver needs a spectrum image: pass image=<SpectrumImage> (e.g. a "
            "built-in dataset's .image) or path=<file readable by steerscope.load>"
        )
    return image


def _sim_driver(**options: Any) -> SimulatedMicroscope:
    """``steerscope serve --driver sim``: ``image=`` a SpectrumImage or ``path=`` a file."""
    return SimulatedMicroscope(image_option(options, "sim"), **options)


@contextmanager
def _sim_on_test_doubles() -> Iterator[tuple[SimulatedMicroscope, bool]]:
    from steerscope.testing import beam_marker_image

    with closing(SimulatedMicroscope(beam_marker_image(6, 10))) as scope:
        yield scope, True


register_driver(
    DriverInfo(
        "sim",
        _sim_driver,
        "the simulator over a spectrum image (--dataset NAME or --path FILE)",
        _sim_on_test_doubles,
        serves_image=True,
    )
)
