"""X-ray line and EELS edge energies by element, from exspy's maintained element table.

One place reads ``exspy._misc.elements``: the EDX scalarizer takes line energies
from here, and spectrum views mark the lines or edges of the elements a user names.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from functools import cache
from typing import Any

from steerscope.errors import ScalarizerError

__all__ = ["edge_onsets_ev", "element_markers", "xray_lines_kev"]

_SYMBOL = re.compile(r"^[A-Z][a-z]?$")


@cache
def _elements() -> dict[str, dict[str, Any]]:
    """Exspy's element table as plain dicts (imported on first use: exspy loads HyperSpy)."""
    with warnings.catch_warnings():
        # HyperSpy warns about its own deprecated import paths while exspy loads.
        warnings.simplefilter("ignore")
        from exspy._misc.elements import elements_db
    return {
        element: properties.get("Atomic_properties", {})
        for element, properties in elements_db.as_dictionary().items()
        if isinstance(properties, dict)  # skips the browser's own "__doc__" entry
    }


@cache
def xray_lines_kev() -> dict[str, dict[str, float]]:
    """X-ray line energies in keV: element → line name (``"Ka"``, ``"La"``) → energy."""
    return {
        element: {
            name: float(line["energy (keV)"]) for name, line in atomic.get("Xray_lines", {}).items()
        }
        for element, atomic in _elements().items()
    }


@cache
def edge_onsets_ev() -> dict[str, dict[str, float]]:
    """EELS ionisation-edge onsets in eV: element → edge (``"K"``, ``"L3"``) → onset."""
    return {
        element: {
            name: float(edge["onset_energy (eV)"])
            for name, edge in atomic.get("Binding_energies", {}).items()
            if "onset_energy (eV)" in edge
        }
        for element, atomic in _elements().items()
    }


def element_markers(
    elements: Iterable[str], *, units: str, low: float, high: float
) -> list[tuple[float, str]]:
    """Where the named elements show on a spectrum's energy axis, to mark them.

    Parameters
    ----------
    elements : iterable of str
        Chemical symbols, e.g. ``["Fe", "O"]``.
    units : {"eV", "keV"}
        The axis' units: keV reads as EDX (X-ray lines), eV as EELS (edge onsets).
    low, high : float
        The axis' range, in ``units``; markers outside it are left out.

    Returns
    -------
    list of (energy, label)
        Sorted by energy, e.g. ``[(6.404, "Fe Kα"), …]`` or ``[(532.0, "O K"), …]``.

    Raises
    ------
    ScalarizerError
        If a symbol is not a chemical element (the message names it and how to write it).
    """
    table = _elements()
    markers: list[tuple[float, str]] = []
    for raw in elements:
        element = raw.strip()
        if not element:
            continue
        if not _SYMBOL.match(element) or element not in table:
            raise ScalarizerError(
                f"{element!r} is not a chemical element; write symbols such as 'Fe, O, Au'."
            )
        found = xray_lines_kev()[element] if units == "keV" else edge_onsets_ev()[element]
        for name, energy in found.items():
            if low <= energy <= high:
                markers.append((energy, f"{element} {_pretty(name)}"))
    return sorted(markers)


def _pretty(line: str) -> str:
    greek = {"a": "α", "b": "β", "g": "γ", "n": "η", "l": "ℓ"}
    if len(line) >= 2 and line[0] in "KLM" and line[1] in greek:
        return line[0] + greek[line[1]] + line[2:]
    return line
