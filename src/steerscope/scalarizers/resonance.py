"""A fitted resonance as the target: the simple harmonic oscillator of band-excitation SPM.

Band-excitation piezoresponse force microscopy (BE-PFM; Jesse et al.,
Nanotechnology 18, 435503, 2007) drives the cantilever with a band of
frequencies around its contact resonance and records the response at each; the
physics is in the resonance's parameters, read by fitting a simple harmonic
oscillator (SHO) to the response amplitude

``A(f) = A0 f0² / sqrt((f0² − f²)² + (f f0 / Q)²)``

with ``A0`` the amplitude (the response far below resonance; at ``f0`` it is
``A0·Q``), ``f0`` the resonance frequency (contact stiffness) and ``Q`` the quality
factor (damping). The fit here is vectorised over spectra: ``1 / A²`` is a
quadratic in ``f²``, solved by weighted linear least squares per spectrum (weights
``A⁶`` undo the linearisation's stretching of the noisy tails). A curve without a
usable resonance (no peak in the band, noise alone) falls back to what its highest
point says: ``f0`` there, the response there as ``A0·Q``, ``Q`` from the width of
the channels above ``1/√2`` of it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from steerscope.scalarizers.base import Window, WindowScalarizerBase
from steerscope.types import EnergyAxis

__all__ = ["SHO_PARAMETERS", "SHOFitSpec", "fit_sho", "sho_amplitude"]

SHO_PARAMETERS = ("amplitude", "resonance", "quality", "peak")
"""What :class:`SHOFitSpec` can return: ``A0``, ``f0``, ``Q``, ``A0·Q``."""


def sho_amplitude(
    frequency: NDArray[np.float64],
    amplitude: NDArray[np.float64],
    resonance: NDArray[np.float64],
    quality: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The SHO response amplitude at ``frequency`` ``(m,)`` for parameters of shape ``(...)``.

    Returns
    -------
    ndarray of shape (..., m)
    """
    f = np.asarray(frequency, dtype=np.float64)
    a0, f0, q = (np.asarray(v, np.float64)[..., None] for v in (amplitude, resonance, quality))
    return a0 * f0**2 / np.sqrt((f0**2 - f**2) ** 2 + (f * f0 / q) ** 2)


def _peak_estimate(
    f: NDArray[np.float64], response: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(A0, f0, Q)`` from each curve's highest point and the width above 1/√2 of it."""
    top = response.argmax(axis=1)
    peak = response[np.arange(len(response)), top]
    f0 = f[top]
    scale = abs(f[1] - f[0]) if f.size > 1 else 1.0
    width = np.maximum((response >= peak[:, None] / np.sqrt(2)).sum(axis=1), 1) * scale
    quality = f0 / width
    return peak / quality, f0, quality


def fit_sho(
    frequency: NDArray[np.float64], response: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Fit the SHO amplitude to each curve.

    Parameters
    ----------
    frequency : ndarray of shape (m,)
        Drive frequencies (any unit; ``f0`` comes back in it), all > 0.
    response : ndarray of shape (n, m)
        Response amplitude of each curve (its magnitude is used).

    Returns
    -------
    amplitude, resonance, quality : ndarray of shape (n,)
        ``A0``, ``f0`` and ``Q``. A fit whose resonance is unphysical or falls outside
        the band is replaced by the peak estimate (see the module docstring).
    """
    f = np.asarray(frequency, dtype=np.float64)
    magnitude = np.abs(np.asarray(response, dtype=np.float64))
    guess = _peak_estimate(f, magnitude)
    reference = float(np.mean(f))
    y = (f / reference) ** 2 - 1.0  # centred: 1, y, y² are far from collinear
    design = np.stack([np.ones_like(y), y, y**2], axis=1)  # (m, 3)
    scale = magnitude.max(axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    normed = magnitude / scale
    weight = normed**6  # (n, m)
    target = 1.0 / np.maximum(normed, 1e-6) ** 2
    normal = np.einsum("nm,mi,mj->nij", weight, design, design)
    rhs = np.einsum("nm,mi,nm->ni", weight, design, target)
    diagonal = np.sqrt(np.einsum("nii->ni", normal))  # scale to unit diagonal before judging
    scaled = normal / np.maximum(diagonal[:, :, None] * diagonal[:, None, :], 1e-300)
    usable = np.linalg.det(scaled) > 1e-10
    solution = np.zeros_like(rhs)
    if usable.any():
        solution[usable] = np.linalg.solve(normal[usable], rhs[usable][..., None])[..., 0]
    # 1/A² = a' + b' y + c' y² with y = x² − 1, back to a + b x² + c x⁴
    a = solution[:, 0] - solution[:, 1] + solution[:, 2]
    b = solution[:, 1] - 2.0 * solution[:, 2]
    c = solution[:, 2]
    with np.errstate(all="ignore"):
        x0_sq = np.sqrt(a / c)
        inv_q_sq = b * x0_sq / a + 2.0
        amplitude = scale[:, 0] / np.sqrt(a)
        resonance = np.sqrt(x0_sq) * reference
        quality = 1.0 / np.sqrt(inv_q_sq)
    valid = (
        usable
        & (a > 0)
        & (c > 0)
        & (inv_q_sq > 0)
        & (resonance >= f.min())
        & (resonance <= f.max())
    )
    start = np.stack(
        [
            np.log(np.where(valid, amplitude, guess[0]) / scale[:, 0]),
            np.where(valid, resonance, guess[1]) / reference,
            np.log(np.where(valid, quality, guess[2])),
        ],
        axis=1,
    )
    fitted = _levenberg_marquardt(f / reference, normed, start)
    inside = (fitted[:, 1] * reference >= f.min()) & (fitted[:, 1] * reference <= f.max())
    return (
        np.where(inside, np.exp(fitted[:, 0]) * scale[:, 0], guess[0]),
        np.where(inside, fitted[:, 1] * reference, guess[1]),
        np.where(inside, np.exp(fitted[:, 2]), guess[2]),
    )


def _levenberg_marquardt(
    x: NDArray[np.float64], y: NDArray[np.float64], start: NDArray[np.float64], steps: int = 30
) -> NDArray[np.float64]:
    """Least squares on the amplitude itself, from ``start`` ``(n, 3)`` = (log A0, x0, log Q).

    The linearised fit weighs the noisy tails wrongly; a few damped Gauss–Newton
    steps on ``Σ (y − A(x))²``, all curves at once, give the maximum-likelihood
    parameters under Gaussian noise. Returns ``(n, 3)``.
    """

    def model(p: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        a0, x0, q = np.exp(p[:, :1]), p[:, 1:2], np.exp(p[:, 2:])
        damping = (x * x0 / q) ** 2
        d2 = (x0**2 - x**2) ** 2 + damping
        value = a0 * x0**2 / np.sqrt(d2)
        d_x0 = value * (2.0 / x0 - (2.0 * x0 * (x0**2 - x**2) + damping / x0) / d2)
        jacobian = np.stack([value, d_x0, value * damping / d2], axis=2)  # (n, m, 3)
        return value, jacobian

    params = start.copy()
    lam = np.full(len(params), 1e-3)
    with np.errstate(all="ignore"):
        value, jacobian = model(params)
        cost = ((y - value) ** 2).sum(axis=1)
        for _ in range(steps):
            jtj = np.einsum("nmi,nmj->nij", jacobian, jacobian)
            grad = np.einsum("nmi,nm->ni", jacobian, y - value)
            damped = jtj + lam[:, None, None] * np.einsum("nii->ni", jtj)[:, :, None] * np.eye(3)
            ok = np.isfinite(damped).all(axis=(1, 2)) & (np.linalg.det(damped) != 0)
            step = np.zeros_like(params)
            if ok.any():
                step[ok] = np.linalg.solve(damped[ok], grad[ok][..., None])[..., 0]
            trial = params + step
            trial_value, trial_jacobian = model(trial)
            trial_cost = ((y - trial_value) ** 2).sum(axis=1)
            better = ok & np.isfinite(trial_cost) & (trial_cost < cost) & (trial[:, 1] > 0)
            params[better] = trial[better]
            value[better], jacobian[better], cost[better] = (
                trial_value[better],
                trial_jacobian[better],
                trial_cost[better],
            )
            lam = np.where(better, lam / 3.0, lam * 4.0)
    return params


class SHOFitSpec(WindowScalarizerBase):
    """A parameter of the simple-harmonic-oscillator fit to each response curve (BE-PFM).

    Example: ``{"kind": "sho_fit", "parameter": "amplitude", "window": [330, 370]}``
    on a response-amplitude axis in kHz. ``resonance`` is in the axis' units.
    """

    kind: Literal["sho_fit"] = "sho_fit"
    parameter: Literal["amplitude", "resonance", "quality", "peak"] = Field(
        default="amplitude",
        description="amplitude A0, resonance frequency f0 (axis units), quality factor Q, "
        "or peak response A0·Q.",
    )
    window: Window | None = Field(
        default=None,
        description="[low, high] band the fit uses, in the axis' units (None: the whole axis).",
    )

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        channels = (
            slice(None) if self.window is None else self._channels(self.window, energy, "window")
        )
        amplitude, resonance, quality = fit_sho(energy.values[channels], spectra[:, channels])
        return {
            "amplitude": amplitude,
            "resonance": resonance,
            "quality": quality,
            "peak": amplitude * quality,
        }[self.parameter]

    def _auto_label(self) -> str:
        name = {
            "amplitude": "SHO A0",
            "resonance": "SHO f0",
            "quality": "SHO Q",
            "peak": "SHO A0·Q",
        }
        band = "" if self.window is None else f" in {self._window_text(self.window)}"
        return f"{name[self.parameter]}{band}"
