"""Scalarizer kinds built from energy windows: sums, maxima, areas, centroids, ratios, peaks."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import Window, WindowScalarizerBase, fit_line, fit_power_law
from steerscope.types import EnergyAxis

__all__ = [
    "BackgroundSubtractedAreaSpec",
    "PeakPositionSpec",
    "PeakProminenceSpec",
    "WindowMaxSpec",
    "WindowRatioSpec",
    "WindowSumSpec",
]


class WindowSumSpec(WindowScalarizerBase):
    """Sum of the counts in the channels inside ``window``.

    Example: ``{"kind": "window_sum", "window": [1.0, 1.6]}``.
    """

    kind: Literal["window_sum"] = "window_sum"
    window: Window = Field(description="[low, high] energy window whose counts are summed.")

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        return spectra[:, self._channels(self.window, energy, "window")].sum(axis=1)

    def _auto_label(self) -> str:
        return f"Σ {self._window_text(self.window)}"


class WindowMaxSpec(WindowScalarizerBase):
    """Largest count among the channels inside ``window``."""

    kind: Literal["window_max"] = "window_max"
    window: Window = Field(description="[low, high] energy window searched for its maximum.")

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        return spectra[:, self._channels(self.window, energy, "window")].max(axis=1)

    def _auto_label(self) -> str:
        return f"max {self._window_text(self.window)}"


class BackgroundSubtractedAreaSpec(WindowScalarizerBase):
    """Counts in ``window`` above a fitted background, summed over the window's channels.

    ``background="power_law"`` (EELS core-loss edges): ``A * E**(-r)`` is fitted
    to every spectrum in ``background_window`` (required, usually the pre-edge
    region) by least squares on log counts vs log energy, then extrapolated
    under ``window`` and subtracted. Energies must be > 0.

    ``background="linear"`` (peaks): with ``background_window`` a straight line
    is fitted there by least squares; without it the line runs through the
    counts of the window's first and last channels.

    The result can be negative where the signal is below the background.
    """

    kind: Literal["background_subtracted_area"] = "background_subtracted_area"
    window: Window = Field(description="[low, high] signal window whose net counts are summed.")
    background: Literal["power_law", "linear"] = Field(
        default="power_law",
        description="Background model: 'power_law' (A·E^-r, edges) or 'linear' (peaks).",
    )
    background_window: Window | None = Field(
        default=None,
        description=(
            "[low, high] window the background is fitted in. Required for 'power_law' "
            "(the pre-edge region); for 'linear', None draws the line through the signal "
            "window's end channels."
        ),
    )

    @model_validator(mode="after")
    def _power_law_needs_window(self) -> BackgroundSubtractedAreaSpec:
        if self.background == "power_law" and self.background_window is None:
            low, high = self.window
            width = high - low
            raise ScalarizerError(
                "a power_law background needs `background_window`, the pre-edge region it "
                f"is fitted in; got none for window [{low:g}, {high:g}]. Add e.g. "
                f"background_window: [{low - width:g}, {low:g}], or use background: linear."
            )
        return self

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        signal = self._channels(self.window, energy, "window")
        signal_energy = energy.values[signal]
        counts = spectra[:, signal]
        if self.background_window is None:
            # Line through the window's end channels (linear only; see the validator).
            x = signal_energy[[0, -1]]
            slope, intercept = fit_line(x, counts[:, [0, -1]])
        else:
            fit = self._channels(self.background_window, energy, "background_window")
            x = energy.values[fit]
            if self.background == "linear":
                slope, intercept = fit_line(x, spectra[:, fit])
            else:
                if x[0] <= 0 or signal_energy[0] <= 0:
                    raise ScalarizerError(
                        f"{self.label}: a power-law background needs energies > 0, but the "
                        f"windows reach {min(x[0], signal_energy[0]):g} {energy.units}; move "
                        "background_window and window above 0 or use background: linear."
                    )
                amplitude, exponent = fit_power_law(x, spectra[:, fit])
                modelled = amplitude[:, None] * signal_energy[None, :] ** (-exponent[:, None])
                return (counts - modelled).sum(axis=1)
        modelled = slope[:, None] * signal_energy[None, :] + intercept[:, None]
        return (counts - modelled).sum(axis=1)

    def _auto_label(self) -> str:
        return f"Σ {self._window_text(self.window)} − {self.background.replace('_', '-')} bkg"


class PeakPositionSpec(WindowScalarizerBase):
    """Intensity-weighted centroid of ``window``, in the axis' units.

    Negative counts (e.g. after a dark-reference subtraction) get zero weight,
    so the centroid always lies inside the window. A spectrum with no positive
    count in the window has no centroid: its target is NaN.
    """

    kind: Literal["peak_position"] = "peak_position"
    window: Window = Field(description="[low, high] window the centroid is computed in.")

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        channels = self._channels(self.window, energy, "window")
        weights = np.clip(spectra[:, channels], 0.0, None)
        total = weights.sum(axis=1)
        return np.where(total > 0, weights @ energy.values[channels] / total, np.nan)

    def _auto_label(self) -> str:
        return f"centroid {self._window_text(self.window)}"

    def _undefined_reason(self) -> str:
        return "no spectrum has a positive count in the window"


class WindowRatioSpec(WindowScalarizerBase):
    """Sum over ``numerator`` divided by the sum over ``denominator``.

    A spectrum whose denominator sums to zero has no ratio: its target is NaN
    (the model then ignores it or the campaign reports it). If the denominator
    is zero in every spectrum, ``apply`` raises :class:`ScalarizerError`.
    """

    kind: Literal["window_ratio"] = "window_ratio"
    numerator: Window = Field(description="[low, high] window summed for the numerator.")
    denominator: Window = Field(description="[low, high] window summed for the denominator.")

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        top = spectra[:, self._channels(self.numerator, energy, "numerator")].sum(axis=1)
        bottom = spectra[:, self._channels(self.denominator, energy, "denominator")].sum(axis=1)
        return np.where(bottom != 0, top / np.where(bottom != 0, bottom, 1.0), np.nan)

    def _auto_label(self) -> str:
        return f"Σ {self._window_text(self.numerator)} / Σ {self._window_text(self.denominator)}"

    def _undefined_reason(self) -> str:
        return "the denominator window sums to zero in every spectrum"


class PeakProminenceSpec(WindowScalarizerBase):
    """Prominence of the highest channel in ``window``, as ``scipy.signal.peak_prominences``.

    Computed on the window alone: the highest channel's prominence is its
    height above the higher of the two minima to its left and right inside the
    window (equal to ``peak_prominences(x[window], [argmax])``). A maximum on a
    window edge has prominence 0.
    """

    kind: Literal["peak_prominence"] = "peak_prominence"
    window: Window = Field(description="[low, high] window searched for its highest peak.")

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        counts = spectra[:, self._channels(self.window, energy, "window")]
        peak = counts.argmax(axis=1)[:, None]
        left_min = np.minimum.accumulate(counts, axis=1)
        right_min = np.minimum.accumulate(counts[:, ::-1], axis=1)[:, ::-1]
        base = np.maximum(
            np.take_along_axis(left_min, peak, axis=1), np.take_along_axis(right_min, peak, axis=1)
        )
        return (np.take_along_axis(counts, peak, axis=1) - base)[:, 0]

    def _auto_label(self) -> str:
        return f"prominence {self._window_text(self.window)}"
