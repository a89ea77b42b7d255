"""EDX line intensity by line name (``"Fe_Ka"``), energies from exspy's maintained table."""

from __future__ import annotations

import re
import warnings
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from steerscope.errors import ScalarizerError
from steerscope.scalarizers.base import ScalarizerBase, fit_line, window_channels
from steerscope.types import EnergyAxis

__all__ = ["EdxLineSpec", "xray_line_energy_kev", "xray_line_fwhm_kev"]

DEFAULT_WIDTH_IN_FWHM = 1.2
"""Default half-width of the integration window, in detector FWHMs at the line energy."""

_LINE_PATTERN = re.compile(r"^([A-Z][a-z]?)_([A-Za-z0-9]+)$")
_GREEK = {"a": "α", "b": "β", "g": "γ", "z": "ζ", "n": "η"}


@cache
def _exspy_tables() -> tuple[dict[str, dict[str, float]], Any]:
    """Line energies (keV) by element and line, and exspy's FWHM helper.

    Imported on first use: exspy pulls in HyperSpy (about 2 s).
    """
    from steerscope.scalarizers.elements import xray_lines_kev

    with warnings.catch_warnings():
        # HyperSpy warns about its own deprecated import paths while exspy loads.
        warnings.simplefilter("ignore")
        from exspy._misc.eds.utils import get_FWHM_at_Energy
    return xray_lines_kev(), get_FWHM_at_Energy


def xray_line_energy_kev(line: str) -> float:
    """Energy of an X-ray line such as ``"Au_La"`` in keV, from ``exspy._misc.elements``.

    Raises
    ------
    ScalarizerError
        If ``line`` is not ``Element_Line`` or the table does not know it (the
        message lists the element's lines).
    """
    match = _LINE_PATTERN.match(line)
    if match is None:
        raise ScalarizerError(
            f"an X-ray line is written Element_Line, e.g. 'Fe_Ka', 'Au_La', 'Pb_Ma'; got {line!r}."
        )
    element, family = match.groups()
    table, _ = _exspy_tables()
    if element not in table:
        raise ScalarizerError(
            f"unknown element {element!r} in X-ray line {line!r}; use a chemical symbol with "
            "its capital letter, e.g. 'Fe_Ka'."
        )
    lines = table[element]
    if family not in lines:
        known = ", ".join(f"{element}_{name}" for name in lines) or "none"
        raise ScalarizerError(
            f"exspy's table has no X-ray line {line!r}; lines of {element}: {known}."
        )
    return lines[family]


def xray_line_fwhm_kev(energy_kev: float, resolution_mn_ka_ev: float = 130.0) -> float:
    """Detector FWHM (keV) at ``energy_kev`` for a detector of given Mn Kα resolution.

    Fiori & Newbury's energy dependence, as implemented by exspy's
    ``get_FWHM_at_Energy``.
    """
    _, get_fwhm_at_energy = _exspy_tables()
    return float(get_fwhm_at_energy(resolution_mn_ka_ev, energy_kev))


class EdxLineSpec(ScalarizerBase):
    """Counts of one EDX line: the sum over ``line energy ± width``.

    The line energy comes from exspy's table; ``width`` (keV, whatever the
    axis' units) defaults to ``1.2 × FWHM`` of a detector with
    ``resolution_mn_ka_ev`` at Mn Kα, scaled to the line energy, which holds
    about 99.5 % of a Gaussian line. With ``background=True`` a straight line is
    fitted by least squares to the two side windows ``[E − 2w, E − w]`` and
    ``[E + w, E + 2w]`` and subtracted under the line window.

    Example: ``{"kind": "edx_line", "line": "Au_La", "width": null}``.
    """

    kind: Literal["edx_line"] = "edx_line"
    line: str = Field(description="X-ray line as Element_Line, e.g. 'Au_La', 'Fe_Ka', 'S_Ka'.")
    width: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Half-width of the integration window in keV (the window is line energy ± width). "
            "None: 1.2 × the detector FWHM at the line energy."
        ),
    )
    resolution_mn_ka_ev: float = Field(
        default=130.0, gt=0, description="Detector resolution (FWHM) at Mn Kα in eV."
    )
    background: bool = Field(
        default=False,
        description="Subtract a straight line fitted to the two side windows of the same width.",
    )

    @field_validator("line")
    @classmethod
    def _line_is_known(cls, value: str) -> str:
        xray_line_energy_kev(value)
        return value

    def half_width_kev(self) -> float:
        """Half-width of the integration window in keV (``width`` or the FWHM default)."""
        if self.width is not None:
            return self.width
        energy = xray_line_energy_kev(self.line)
        return DEFAULT_WIDTH_IN_FWHM * xray_line_fwhm_kev(energy, self.resolution_mn_ka_ev)

    def _compute(self, spectra: NDArray[np.float64], energy: EnergyAxis) -> NDArray[np.float64]:
        centre = xray_line_energy_kev(self.line)
        w = self.half_width_kev()
        what = f"{self.label}: {self.line} window"
        signal = window_channels((centre - w, centre + w), energy, what=what, units="keV")
        counts = spectra[:, signal]
        if not self.background:
            return counts.sum(axis=1)
        sides = [
            window_channels(
                (centre - 2 * w, centre - w), energy, what=f"{what} (left side)", units="keV"
            ),
            window_channels(
                (centre + w, centre + 2 * w), energy, what=f"{what} (right side)", units="keV"
            ),
        ]
        x = np.concatenate([energy.values[s] for s in sides])
        slope, intercept = fit_line(x, np.concatenate([spectra[:, s] for s in sides], axis=1))
        modelled = slope[:, None] * energy.values[signal][None, :] + intercept[:, None]
        return (counts - modelled).sum(axis=1)

    def _auto_label(self) -> str:
        element, family = self.line.split("_", 1)
        if re.fullmatch(r"[KLM][abgzn]\d*", family):
            family = family[0] + _GREEK[family[1]] + family[2:]
        return f"{element} {family} intensity"
