"""What every scalarizer kind shares: the base model, energy windows, input checks, fits.

A scalarizer turns measured spectra ``(n, C)`` into one target per spectrum
``(n,)``. Each kind is a small frozen pydantic model (its *spec*), so a spec is
data: it is written to the campaign record, shown in the UI, edited by the
operator and reloaded from YAML. The arithmetic is vectorised over spectra.

Windows are ``[low, high]`` in the energy axis' units unless a spec sets
``units`` (then they are converted to the axis' units when applied). A window
edge may lie up to half a channel beyond the first or last channel centre; a
window further off the axis is refused rather than clipped, so a target never
silently measures less than the operator asked for.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from steerscope.errors import ScalarizerError
from steerscope.types import EnergyAxis

__all__ = ["EnergyUnits", "ScalarizerBase", "Window", "WindowScalarizerBase"]

EnergyUnits = Literal["eV", "keV"]


def _check_window(value: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
    """Refuse a window whose edges are not finite or not in increasing order."""
    low, high = float(value[0]), float(value[1])
    field = info.field_name or "window"
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ScalarizerError(
            f"the energy window `{field}` must have finite edges; got [{low}, {high}]. "
            "Write it as [low, high] in the energy axis' units."
        )
    if high <= low:
        raise ScalarizerError(
            f"the energy window `{field}` = [{low:g}, {high:g}] has high <= low; "
            f"write it as [low, high] with low < high, e.g. [{min(low, high):g}, "
            f"{max(low, high) if high != low else low + 1:g}]."
        )
    return (low, high)


Window = Annotated[tuple[float, float], AfterValidator(_check_window)]
"""An energy window ``[low, high]`` with finite edges and ``low < high``."""


def format_energy(value: float) -> str:
    """Short text for an energy in labels: two decimals below 100, else as few digits as needed."""
    return f"{value:.2f}" if abs(value) < 100 else f"{value:g}"


def check_spectra(spectra: ArrayLike, energy: EnergyAxis, label: str) -> NDArray[np.float64]:
    """Validate spectra against the axis and return them as float64 ``(n, C)``.

    Parameters
    ----------
    spectra : array_like of shape (n_spectra, n_channels)
        Measured spectra, one per row.
    energy : EnergyAxis
        Their energy axis; ``energy.size`` must equal ``n_channels``.
    label : str
        The scalarizer's label, for error messages.

    Returns
    -------
    ndarray of shape (n_spectra, n_channels), float64

    Raises
    ------
    ScalarizerError
        If the array is not 2-D, its channel count differs from the axis, or it
        holds NaN or infinite values (the message says how many spectra and the
        first index).
    """
    if not isinstance(energy, EnergyAxis):
        raise ScalarizerError(
            f"{label}: expected a steerscope.types.EnergyAxis as `energy`; got "
            f"{type(energy).__name__}. Build one with EnergyAxis(size, offset, scale, units)."
        )
    array = np.asarray(spectra)
    if array.ndim != 2:
        raise ScalarizerError(
            f"{label}: expected spectra of shape (n_spectra, n_channels); got shape "
            f"{array.shape}. For a single spectrum pass spectrum[None, :]."
        )
    if not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
        raise ScalarizerError(
            f"{label}: expected real numeric spectra; got dtype {array.dtype}. "
            "Convert the counts to float first."
        )
    if array.shape[1] != energy.size:
        raise ScalarizerError(
            f"{label}: the spectra have {array.shape[1]} channels but the energy axis has "
            f"{energy.size}; pass the energy axis that belongs to these spectra."
        )
    values = array.astype(np.float64, copy=False)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ScalarizerError(
            f"{label}: {int(bad.sum())} of {values.shape[0]} spectra contain NaN or infinite "
            f"values (first at index {first}); remove or repair those spectra (e.g. a failed "
            "read-out) before computing targets."
        )
    return values


def convert_energy(value: float, from_units: EnergyUnits | None, to_units: str) -> float:
    """Convert ``value`` from ``from_units`` (None: already in ``to_units``) to ``to_units``."""
    if from_units is None or from_units == to_units:
        return value
    if to_units not in ("eV", "keV"):
        raise ScalarizerError(
            f"a window in {from_units} does not fit a signal axis in {to_units}; give the "
            "window in the axis' own units (leave `units` out)"
        )
    return value * 1000.0 if from_units == "keV" else value / 1000.0


def window_channels(
    window: tuple[float, float],
    energy: EnergyAxis,
    *,
    what: str,
    units: EnergyUnits | None = None,
) -> slice:
    """Channels of ``energy`` whose centres lie inside ``window``.

    Parameters
    ----------
    window : tuple of float (low, high)
        The window, in ``units`` (None: the axis' units).
    energy : EnergyAxis
        The axis the window is applied to.
    what : str
        How to name the window in error messages (e.g. ``"window_sum window"``).
    units : {"eV", "keV"} or None
        Units of ``window``.

    Returns
    -------
    slice
        A contiguous, non-empty slice of channel indices.

    Raises
    ------
    ScalarizerError
        If high <= low, the window lies (partly) off the axis by more than half a
        channel, or it contains no channel centre.
    """
    low = convert_energy(float(window[0]), units, energy.units)
    high = convert_energy(float(window[1]), units, energy.units)
    u = energy.units
    axis_text = f"{format_energy(energy.low)}–{format_energy(energy.high)} {u}"
    shown = f"[{low:g}, {high:g}] {u}"
    if not high > low:
        raise ScalarizerError(
            f"{what} {shown} has high <= low; write it as [low, high] with low < high."
        )
    tolerance = 0.5 * energy.scale
    if high < energy.low - tolerance or low > energy.high + tolerance:
        raise ScalarizerError(
            f"{what} {shown} lies outside the energy axis {axis_text}; "
            "choose a window inside the axis (check the units: eV vs keV)."
        )
    if low < energy.low - tolerance or high > energy.high + tolerance:
        raise ScalarizerError(
            f"{what} {shown} extends beyond the energy axis {axis_text}; "
            "it is refused rather than clipped: choose a window inside the axis."
        )
    eps = 1e-9
    first = max(int(np.ceil((low - energy.offset) / energy.scale - eps)), 0)
    last = min(int(np.floor((high - energy.offset) / energy.scale + eps)), energy.size - 1)
    if last < first:
        raise ScalarizerError(
            f"{what} {shown} contains no channel (the axis has one channel every "
            f"{energy.scale:g} {u}); widen it to at least one channel."
        )
    return slice(first, last + 1)


def fit_line(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Least-squares line ``y = slope * x + intercept``, one per row of ``y``.

    Parameters
    ----------
    x : ndarray of shape (m,)
        Channel energies shared by every row.
    y : ndarray of shape (n, m)
        Counts, one row per spectrum.

    Returns
    -------
    slope, intercept : ndarray of shape (n,)
        With a single channel (``m == 1``) the line is flat through it.
    """
    x_mean = x.mean()
    y_mean = y.mean(axis=1)
    dx = x - x_mean
    denominator = float(dx @ dx)
    # One channel (m == 1): no slope to fit, the line is flat through it.
    slope = (y - y_mean[:, None]) @ dx / denominator if denominator > 0 else np.zeros(len(y))
    return slope, y_mean - slope * x_mean


def fit_power_law(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Power law ``y = A * x**(-r)`` per row, by least squares in log-log space.

    Channels with non-positive counts have no logarithm and are left out of
    that row's fit. A row with fewer than two positive channels gets a flat
    background at its mean count (``r = 0``, ``A = max(mean, 0)``): with no
    usable pre-edge signal there is nothing to extrapolate.

    Parameters
    ----------
    x : ndarray of shape (m,)
        Channel energies, all > 0.
    y : ndarray of shape (n, m)
        Counts, one row per spectrum.

    Returns
    -------
    amplitude, exponent : ndarray of shape (n,)
        ``A`` and ``r``.
    """
    positive = y > 0
    weight = positive.astype(np.float64)
    log_x = np.log(x)
    log_y = np.log(np.where(positive, y, 1.0))
    sw = weight.sum(axis=1)
    sx = weight @ log_x
    sxx = weight @ (log_x * log_x)
    sy = (weight * log_y).sum(axis=1)
    sxy = (weight * log_y) @ log_x
    determinant = sw * sxx - sx * sx
    usable = (sw >= 2) & (determinant > 1e-12 * np.maximum(sw * sxx, 1e-300))
    safe_det = np.where(usable, determinant, 1.0)
    safe_sw = np.where(usable, sw, 1.0)
    slope = np.where(usable, (sw * sxy - sx * sy) / safe_det, 0.0)
    intercept = (sy - slope * sx) / safe_sw
    amplitude = np.where(usable, np.exp(intercept), np.maximum(y.mean(axis=1), 0.0))
    return amplitude, -slope


class ScalarizerBase(BaseModel):
    """Base of every scalarizer spec: ``apply``, ``label``, ``n_outputs``.

    Subclasses set ``kind`` (a ``Literal``), their fields, ``_compute`` and
    ``_auto_label``. The base validates the spectra, silences floating-point
    warnings inside the vectorised arithmetic, turns infinities into NaN and
    refuses a result that is undefined for every spectrum.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None,
        max_length=80,
        description="Short label shown instead of the automatic one (plots, logs).",
    )

    @property
    def n_outputs(self) -> int:
        """Number of targets per spectrum (1 for every kind except ``multi``)."""
        return 1

    @property
    def label(self) -> str:
        """Short human label, e.g. ``"Σ 1.00–1.60 eV"`` or ``"Au Lα intensity"``."""
        return self.name if self.name else self._auto_label()

    def apply(self, spectra: ArrayLike, energy: EnergyAxis) -> NDArray[np.float64]:
        """Compute one target per spectrum.

        Parameters
        ----------
        spectra : array_like of shape (n_spectra, n_channels)
            Raw spectra (counts), one per row.
        energy : EnergyAxis
            Their energy axis.

        Returns
        -------
        ndarray of shape (n_spectra,), float64
            The targets. Entries that are undefined for a spectrum (for
            example a ratio over a zero denominator) are NaN; see each kind.

        Raises
        ------
        ScalarizerError
            If the spectra do not fit the axis, hold NaN/inf, a window does
            not fit the axis, or the target is undefined for every spectrum.
        """
        values = check_spectra(spectra, energy, self.label)
        with np.errstate(all="ignore"):
            if values.shape[0] == 0:
                # Run on one blank spectrum so window errors surface even for no input.
                self._compute(np.zeros((1, energy.size)), energy)
                return np.empty((0,), dtype=np.float64)
            result = np.asarray(self._compute(values, energy), dtype=np.float64)
        result = np.where(np.isfinite(result), result, np.nan)
        if np.isnan(result).all():
            raise ScalarizerError(
                f"{self.label}: the target is undefined for all {values.shape[0]} spectra "
                f"({self._undefined_reason()}); check the windows against a typical spectrum."
            )
        return result

    def check_fits(self, spectra: ArrayLike, energy: EnergyAxis) -> None:
        """Raise :class:`ScalarizerError` if the spec cannot be used on spectra like these.

        E.g. a window off the axis, or a reference of another length: checked before a
        new spec replaces the target in force.
        """
        self.apply(spectra, energy)

    @abstractmethod
    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[Any]:
        """Targets ``(n,)`` of finite float64 spectra ``(n, C)``; NaN/inf where undefined."""

    @abstractmethod
    def _auto_label(self) -> str:
        """Label built from the spec's fields."""

    def _undefined_reason(self) -> str:
        """Why a target can be undefined, for the all-undefined error."""
        return "NaN or infinite for every spectrum"


class WindowScalarizerBase(ScalarizerBase):
    """Base of the kinds whose windows are energies: adds the optional ``units`` field."""

    units: EnergyUnits | None = Field(
        default=None,
        description=(
            "Units of this spec's windows. None: the energy axis' own units. When set and "
            "different from the axis' units, the windows are converted (eV <-> keV)."
        ),
    )

    def _channels(self, window: tuple[float, float], energy: EnergyAxis, what: str) -> slice:
        return window_channels(window, energy, what=f"{self.label}: {what}", units=self.units)

    def _window_text(self, window: tuple[float, float]) -> str:
        """``"1.00–1.60 eV"`` (units omitted when the spec does not set them)."""
        text = f"{format_energy(window[0])}–{format_energy(window[1])}"
        return f"{text} {self.units}" if self.units else text
