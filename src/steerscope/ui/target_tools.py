"""Target page helpers without Streamlit: form values → scalarizer spec, spec → preview map."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.data import SpectrumImage
from steerscope.errors import ScalarizerError
from steerscope.scalarizers import target_map, target_maps

__all__ = [
    "FORM_KINDS",
    "ONE_WINDOW_KINDS",
    "ROW_KINDS",
    "build_multi_scalarizer_dict",
    "build_scalarizer_dict",
    "default_rows",
    "default_window",
    "log_counts_by_default",
    "mean_spectrum",
    "preview_target_map",
    "preview_target_maps",
    "snap_to_channels",
    "zoom_range",
]

ONE_WINDOW_KINDS = (
    "window_sum",
    "window_max",
    "background_subtracted_area",
    "peak_position",
    "peak_prominence",
)
"""Scalarizer kinds the form describes with one energy window."""

FORM_KINDS = (*ONE_WINDOW_KINDS, "window_ratio", "edx_line", "sho_fit", "yaml")
"""Kinds the Target form offers; ``"yaml"`` takes any spec (``formula``, ``multi``) as YAML."""

ROW_KINDS = (*ONE_WINDOW_KINDS, "window_ratio", "edx_line", "sho_fit")
"""Kinds one row of the several-targets form offers (a ``multi`` spec holds scalar kinds only)."""


def build_scalarizer_dict(
    kind: str,
    *,
    window: tuple[float, float] | None = None,
    second_window: tuple[float, float] | None = None,
    line: str = "",
    width: float | None = None,
    background: str = "power_law",
    parameter: str = "amplitude",
    yaml_text: str = "",
) -> dict[str, Any] | str:
    """Turn the Target form's fields into what ``parse_scalarizer`` accepts.

    Parameters
    ----------
    kind : str
        One of :data:`FORM_KINDS`.
    window : (low, high), optional
        The (first) energy window, axis units.
    second_window : (low, high), optional
        The denominator window of ``window_ratio``.
    line : str
        X-ray line of ``edx_line``, e.g. ``"Au_La"``.
    width : float or None
        Integration width of ``edx_line`` (axis units); ``None`` or 0 for the detector default.
    background : str
        Background model of ``background_subtracted_area``.
    parameter : str
        Which fitted resonance parameter ``sho_fit`` returns (amplitude, resonance, ...).
    yaml_text : str
        The spec as YAML, for ``kind="yaml"``.

    Returns
    -------
    dict or str
        A spec dict, or the YAML text unchanged.

    Raises
    ------
    ScalarizerError
        If a field the kind needs is missing.
    """
    if kind == "yaml":
        if not yaml_text.strip():
            raise ScalarizerError(
                "the YAML spec is empty; write one, e.g. "
                "'kind: formula, windows: {a: [1.0, 1.8], b: [3.5, 4.1]}, expression: a / b'."
            )
        return yaml_text
    if kind in ONE_WINDOW_KINDS:
        spec: dict[str, Any] = {"kind": kind, "window": _window(window, "window")}
        if kind == "background_subtracted_area":
            spec["background"] = background
        return spec
    if kind == "sho_fit":
        return {"kind": kind, "parameter": parameter, "window": _window(window, "fit band")}
    if kind == "window_ratio":
        return {
            "kind": kind,
            "numerator": _window(window, "numerator window"),
            "denominator": _window(second_window, "denominator window"),
        }
    if kind == "edx_line":
        if not line.strip():
            raise ScalarizerError(
                "an edx_line target needs an X-ray line as Element_Line, e.g. 'Au_La'; "
                "got an empty line. Type the line name."
            )
        return {"kind": kind, "line": line.strip(), "width": width if width else None}
    raise ScalarizerError(
        f"unknown scalarizer kind {kind!r} in the form; expected one of {', '.join(FORM_KINDS)}"
    )


def build_multi_scalarizer_dict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn the rows of the several-targets form into a ``multi`` scalarizer spec.

    Parameters
    ----------
    rows : list of dict
        One dict per target with the keyword arguments of :func:`build_scalarizer_dict`
        plus ``"kind"`` (one of :data:`ROW_KINDS`), e.g.
        ``{"kind": "window_sum", "window": (1.0, 1.8)}``.

    Returns
    -------
    dict
        ``{"kind": "multi", "targets": [spec, ...]}``, one target per row in order.

    Raises
    ------
    ScalarizerError
        If there are fewer than two rows, a row's kind is not a scalar form kind, or a
        row misses a field its kind needs (the message names the row, counted from 1).
    """
    if len(rows) < 2:
        raise ScalarizerError(
            f"a multi-objective target needs at least 2 targets; got {len(rows)}. "
            "Add a target row, or switch off 'Several targets' for a single target."
        )
    targets: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        fields = dict(row)
        kind = str(fields.pop("kind", ""))
        if kind not in ROW_KINDS:
            raise ScalarizerError(
                f"target {number} has kind {kind!r}; a row of a multi target must be one of "
                f"{', '.join(ROW_KINDS)}. Pick one of those kinds."
            )
        try:
            built = build_scalarizer_dict(kind, **fields)
        except ScalarizerError as exc:
            raise ScalarizerError(f"target {number}: {exc}") from exc
        assert isinstance(built, dict)  # only the yaml kind returns text
        targets.append(built)
    return {"kind": "multi", "targets": targets}


def default_rows(spec: dict[str, Any] | None, low: float, high: float) -> list[dict[str, Any]]:
    """Rows to preset the several-targets form with.

    Parameters
    ----------
    spec : dict or None
        The saved (or dataset default) scalarizer spec.
    low, high : float
        The energy axis' first and last energies.

    Returns
    -------
    list of dict
        The targets of a saved ``multi`` spec; otherwise two ``window_sum`` rows, the
        spec's window (or the axis' lower third) and the axis' upper third.
    """
    if spec and spec.get("kind") == "multi" and spec.get("targets"):
        return [dict(target) for target in spec["targets"]]
    first = default_window(spec, low, high)
    third = (high - low) / 3.0
    return [
        {"kind": "window_sum", "window": [first[0], first[1]]},
        {"kind": "window_sum", "window": [high - third, high]},
    ]


def _window(window: tuple[float, float] | None, what: str) -> list[float]:
    if window is None:
        raise ScalarizerError(f"the {what} is missing; type [low, high] or box-select it.")
    return [float(window[0]), float(window[1])]


def default_window(spec: dict[str, Any] | None, low: float, high: float) -> tuple[float, float]:
    """The window to preset the form with: the spec's first window, else the axis middle third.

    A resonance fit without a band (``sho_fit``) uses the whole axis, as the spec does.

    Parameters
    ----------
    spec : dict or None
        A scalarizer spec (saved or the dataset default).
    low, high : float
        The energy axis' first and last energies.
    """
    if spec:
        for key in ("window", "numerator"):
            value = spec.get(key)
            if value is not None and len(value) == 2:
                return (float(value[0]), float(value[1]))
        windows = spec.get("windows")
        if isinstance(windows, dict) and windows:
            first = next(iter(windows.values()))
            return (float(first[0]), float(first[1]))
        if spec.get("kind") == "sho_fit":
            return (float(low), float(high))
    third = (high - low) / 3.0
    return (low + third, high - third)


def mean_spectrum(image: SpectrumImage) -> NDArray[np.float64]:
    """Mean spectrum over the whole spectrum image, shape ``(C,)``."""
    return np.asarray(image.spectra, dtype=np.float64).mean(axis=(0, 1))


def preview_target_map(image: SpectrumImage, spec: Any) -> NDArray[np.float64]:
    """Apply a scalarizer to every pre-acquired spectrum: the target map on the overview grid.

    Parameters
    ----------
    image : SpectrumImage
        Spectra of shape ``(h, w, C)``.
    spec : ScalarizerSpec
        A parsed spec; for ``multi`` the first output is shown.

    Returns
    -------
    ndarray of shape (H, W)
        Target of each overview pixel's spectrum pixel.

    Raises
    ------
    ScalarizerError
        If the spec does not fit the spectra (window off the axis, …).
    """
    return target_map(spec, image)


def preview_target_maps(image: SpectrumImage, spec: Any) -> list[tuple[str, NDArray[np.float64]]]:
    """Every target's map: one ``(label, map (H, W))`` per output of ``spec``.

    Parameters
    ----------
    image : SpectrumImage
        Spectra of shape ``(h, w, C)``.
    spec : ScalarizerSpec
        A parsed spec; a ``multi`` spec gives one map per target, any other one map.

    Raises
    ------
    ScalarizerError
        If the spec does not fit the spectra.
    """
    maps = target_maps(spec, image)
    labels = list(getattr(spec, "labels", None) or [spec.label])
    return [
        (str(labels[j]) if j < len(labels) else f"target {j + 1}", maps[j])
        for j in range(maps.shape[0])
    ]


def zoom_range(
    window: tuple[float, float],
    second: tuple[float, float] | None,
    low: float,
    high: float,
    margin: float = 0.5,
) -> tuple[float, float]:
    """The energies a spectrum view zoomed to the window(s) shows.

    Parameters
    ----------
    window, second : (low, high)
        The scalarizer's window and, for a ratio, the second one.
    low, high : float
        The energy axis' ends; the range stays inside them.
    margin : float
        Added on each side, as a fraction of the windows' span.

    Returns
    -------
    (float, float)
    """
    edges = [*window, *(second or ())]
    start, stop = min(edges), max(edges)
    pad = margin * max(stop - start, (high - low) / 1000.0)
    return max(low, start - pad), min(high, stop + pad)


def snap_to_channels(window: tuple[float, float], channels: ArrayLike) -> tuple[float, float]:
    """The window ``(low, high)`` with each edge moved to the nearest channel energy.

    Parameters
    ----------
    window : (float, float)
        Energies, e.g. from a box selection.
    channels : array_like of shape (C,)
        Channel energies, increasing.

    Returns
    -------
    (float, float)
        Channel energies, ``low < high`` (one channel apart at least, when ``C > 1``).
    """
    values = np.asarray(channels, dtype=np.float64).reshape(-1)
    lo_i = int(np.argmin(np.abs(values - min(window))))
    hi_i = int(np.argmin(np.abs(values - max(window))))
    if hi_i <= lo_i:
        hi_i = min(lo_i + 1, values.size - 1)
    return float(values[lo_i]), float(values[hi_i])


def log_counts_by_default(energy: Any) -> bool:
    """Whether a spectrum view starts on log counts: yes for a low-loss EELS axis.

    Its zero-loss peak dwarfs everything else on a linear axis; other axes start linear.

    Parameters
    ----------
    energy : EnergyAxis
    """
    return str(energy.units) == "eV" and float(energy.low) <= 1.0
