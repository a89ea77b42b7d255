"""A simulated scanning-probe microscope (STM/AFM) over a pre-acquired grid of curves.

A probe differs from an electron beam where a campaign feels it: the tip *travels*
to each point at a finite speed (Nanonis "Follow Me" moves at tens of nm/s), it
waits for the feedback to settle, and the per-point spectroscopy sweep takes a
fixed time; meanwhile the sample drifts with *time* (thermal drift, creep), not
with the number of calls. :class:`SimulatedProbeMicroscope` adds exactly this to
:class:`~steerscope.instruments.simulator.SimulatedMicroscope`: a simulated clock
that advances by travel + settle + sweep per point, and a drift that follows the
clock. A far jump therefore costs more time, and drifts more, than a near one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data._raw import length_to_nm
from steerscope.data.spectrum_image import SpectrumImage
from steerscope.errors import ConfigError
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.instruments.simulator import SimulatedMicroscope, image_option

__all__ = ["SimulatedProbeMicroscope"]


class SimulatedProbeMicroscope(SimulatedMicroscope):
    """A scanning-probe microscope that replays a grid of curves, with tip travel and drift.

    Parameters
    ----------
    image : SpectrumImage
        The topography (overview) and one curve per grid point (e.g. dI/dV against
        bias); its pixel units must be a length (nm, Å, µm, ...).
    tip_speed_nm_s : float
        Lateral tip speed between points, nm/s (> 0).
    settle_s : float
        Wait after each move before the sweep starts (feedback settling), s (>= 0).
    drift_nm_per_s : tuple of (float, float)
        Sample drift ``(y, x)`` in nm per second of simulated time, ``y`` down the
        image; the tip lands off the requested point by the drift accumulated since
        the overview was taken.
    **options
        ``dwell_time_s`` (the sweep time per curve), ``reference_dwell_s``, ``noise``,
        ``faults``, ``acquisition_delay_s``, ``seed``: as for
        :class:`~steerscope.instruments.simulator.SimulatedMicroscope`. Its
        per-call ``drift_px_per_step`` does not apply to a probe.

    Examples
    --------
    >>> import numpy as np
    >>> from steerscope.types import EnergyAxis
    >>> image = SpectrumImage(np.zeros((8, 8)), np.ones((8, 8, 4)), EnergyAxis(4, -1.0, 0.5, "V"))
    >>> stm = SimulatedProbeMicroscope(image, tip_speed_nm_s=2.0, settle_s=0.0, dwell_time_s=1.0)
    >>> # 4 nm from the centre (4, 4) at 2 nm/s, then a 1 s sweep
    >>> stm.acquire([[4, 0]]).metadata["simulated_elapsed_s"]
    3.0
    """

    driver_name = "spm-sim"

    def __init__(
        self,
        image: SpectrumImage,
        *,
        tip_speed_nm_s: float = 50.0,
        settle_s: float = 0.1,
        drift_nm_per_s: tuple[float, float] = (0.0, 0.0),
        **options: Any,
    ) -> None:
        if "drift_px_per_step" in options:
            raise ConfigError(
                "a probe drifts with time, not per call: give drift_nm_per_s=(y, x) instead "
                "of drift_px_per_step"
            )
        super().__init__(image, **options)
        nm_per_unit = length_to_nm(image.pixel_units)
        if nm_per_unit is None:
            raise ConfigError(
                f"a probe moves in lengths, but the image's pixel units are "
                f"{image.pixel_units!r}; calibrate the image in nm (or Å, µm)"
            )
        if not np.isfinite(tip_speed_nm_s) or tip_speed_nm_s <= 0:
            raise ConfigError(f"tip_speed_nm_s must be a positive speed; got {tip_speed_nm_s!r}")
        if not np.isfinite(settle_s) or settle_s < 0:
            raise ConfigError(f"settle_s must be >= 0 seconds; got {settle_s!r}")
        try:
            drift = tuple(float(d) for d in drift_nm_per_s)
        except (TypeError, ValueError):
            drift = ()
        if len(drift) != 2 or not all(np.isfinite(drift)):
            raise ConfigError(
                f"drift_nm_per_s must be two finite numbers (y, x) in nm/s; got {drift_nm_per_s!r}"
            )
        self.tip_speed_nm_s = float(tip_speed_nm_s)
        self.settle_s = float(settle_s)
        self.drift_nm_per_s = (drift[0], drift[1])
        self.pixel_size_nm = float(image.pixel_size) * nm_per_unit
        height, width = image.overview_shape
        self.tip_px = np.array([height / 2, width / 2], dtype=np.float64)
        """Where the tip is, overview pixels ``(row, col)`` (it starts at the centre)."""
        self.clock_s = 0.0
        """Simulated time since the overview, s: every move, settle and sweep."""
        self.travel_nm = 0.0
        """Total lateral tip travel, nm."""

    @property
    def drift_offset(self) -> tuple[float, float]:
        """Drift accumulated so far ``(rows, cols)``, overview pixels."""
        offset = self._drift_px_at(self.clock_s)
        return (float(offset[0]), float(offset[1]))

    def _drift_px_at(self, time_s: float) -> NDArray[np.float64]:
        return np.asarray(self.drift_nm_per_s) * time_s / self.pixel_size_nm

    def _land(self, requested: NDArray[np.int64]) -> tuple[NDArray[np.int64], float]:
        """Move the tip point by point; each curve is taken where the drift has put it."""
        started = self.clock_s
        offsets = np.empty((requested.shape[0], 2), dtype=np.float64)
        for i, target in enumerate(requested.astype(np.float64)):
            distance_nm = float(np.hypot(*(target - self.tip_px))) * self.pixel_size_nm
            self.travel_nm += distance_nm
            self.clock_s += distance_nm / self.tip_speed_nm_s + self.settle_s
            offsets[i] = self._drift_px_at(self.clock_s)
            self.clock_s += self.dwell_time_s
            self.tip_px = target
        return self._drifted(requested, offsets), self.clock_s - started

    def describe(self) -> dict[str, Any]:
        """The simulator's description plus the probe's motion and clock.

        Returns
        -------
        dict
            :meth:`SimulatedMicroscope.describe` with ``driver`` "spm-sim" and
            ``tip_speed_nm_s``, ``settle_s``, ``drift_nm_per_s``, ``clock_s``,
            ``travel_nm``, ``tip_px``.
        """
        description = super().describe()
        del description["drift_px_per_step"]
        description.update(
            tip_speed_nm_s=self.tip_speed_nm_s,
            settle_s=self.settle_s,
            drift_nm_per_s=list(self.drift_nm_per_s),
            clock_s=self.clock_s,
            travel_nm=self.travel_nm,
            tip_px=self.tip_px.tolist(),
        )
        return description

    def __repr__(self) -> str:
        return (
            f"SimulatedProbeMicroscope({self.image!r}, dwell_time_s={self.dwell_time_s:g}, "
            f"tip_speed_nm_s={self.tip_speed_nm_s:g}, drift_nm_per_s={self.drift_nm_per_s})"
        )


def _spm_sim_driver(**options: Any) -> SimulatedProbeMicroscope:
    """``steerscope serve --driver spm-sim``: ``image=`` a SpectrumImage or ``path=`` a file."""
    return SimulatedProbeMicroscope(image_option(options, "spm-sim"), **options)


@contextmanager
def _spm_sim_on_test_doubles() -> Iterator[tuple[SimulatedProbeMicroscope, bool]]:
    from steerscope.testing import beam_marker_image

    with closing(SimulatedProbeMicroscope(beam_marker_image(6, 10))) as scope:
        yield scope, True


register_driver(
    DriverInfo(
        "spm-sim",
        _spm_sim_driver,
        "a simulated scanning probe over a grid of curves: tip travel, settle, drift "
        "(--dataset NAME or --path FILE)",
        _spm_sim_on_test_doubles,
        serves_image=True,
    )
)
