"""Microscope files through HyperSpy/RosettaSciIO, and the choice of signals inside them.

A vendor file often holds several signals: Velox ``.emd`` has a HAADF image,
per-detector sum spectra and the spectrum image; a JEOL ``.ASW`` project has
an image, elemental maps and the spectrum image. The spectrum image is the
signal with two navigation dimensions and one signal dimension; the overview
is the best-scored single 2-D image (HAADF > other dark field > any image >
bright field; elemental maps such as ``"Fe K"`` are never chosen).

HyperSpy is imported inside the functions so ``import steerscope`` stays fast.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data._raw import RawImage, RawSpectrumImage, length_to_nm, signal_kind_from_text
from steerscope.errors import DataError
from steerscope.types import EnergyAxis

__all__ = ["HYPERSPY_FORMATS", "read_hyperspy_file", "read_hyperspy_overview"]

logger = logging.getLogger(__name__)

HYPERSPY_FORMATS: dict[str, str] = {
    ".hspy": "HyperSpy .hspy",
    ".zspy": "HyperSpy .zspy",
    ".dm3": "Gatan DigitalMicrograph .dm3",
    ".dm4": "Gatan DigitalMicrograph .dm4",
    ".emd": "Velox/EMD .emd",
    ".bcf": "Bruker .bcf",
    ".asw": "JEOL Analysis Station .ASW",
    ".pts": "JEOL .pts",
}
"""Suffixes read through HyperSpy, with a human-readable format name."""

_OPTIONAL_PACKAGES = ("sparse", "numba", "zarr", "h5py", "imagecodecs", "pint", "exspy")
_INSTALL_NAME = {"numcodecs": "zarr"}

# Element-line titles of elemental maps ("Fe K", "Cu_Ka", "O K", "Au La").
_ELEMENT_MAP = re.compile(r"^[A-Z][a-z]?[ _-]?(K|L|M|N)[a-z0-9]*$")


def _missing_package(exc: ImportError) -> str | None:
    name = exc.name
    if not name:
        match = re.search(r"'([A-Za-z0-9_.]+)'", str(exc))
        name = match.group(1) if match else None
    if name:
        name = name.split(".")[0]
        # Install the package that brings the missing module.
        name = _INSTALL_NAME.get(name, name)
    return name


def _hs_load(path: Path, lazy: bool, options: dict[str, Any]) -> list[Any]:
    import hyperspy.api as hs

    try:
        loaded = hs.load(str(path), lazy=lazy, **options)
    except ImportError as exc:
        package = _missing_package(exc)
        what = f"the optional package '{package}'" if package else "an optional package"
        raise DataError(
            f"reading {path.name} ({HYPERSPY_FORMATS.get(path.suffix.lower(), path.suffix)}) "
            f"needs {what}, which is not installed ({exc}). Install it: "
            f"pip install {package or ' '.join(_OPTIONAL_PACKAGES[:2])}"
        ) from exc
    except TypeError as exc:
        if "keyword argument" not in str(exc):
            raise DataError(
                f"HyperSpy could not read {path} (TypeError: {exc}). Check that the file is "
                "complete and of the format its extension says."
            ) from exc
        raise DataError(
            f"HyperSpy rejected the reader options {sorted(options)} for {path.name}: {exc}. "
            "Check the option names for this format in the RosettaSciIO documentation."
        ) from exc
    except Exception as exc:
        raise DataError(
            f"HyperSpy could not read {path} ({type(exc).__name__}: {exc}). Check that the "
            "file is complete and of the format its extension says."
        ) from exc
    return list(loaded) if isinstance(loaded, list | tuple) else [loaded]


def _describe(index: int, sig: Any) -> str:
    am = sig.axes_manager
    stype = sig.metadata.get_item("Signal.signal_type", "") or "no signal_type"
    title = sig.metadata.get_item("General.title", "")
    return (
        f"[{index}] {title!r} {type(sig).__name__} data{tuple(sig.data.shape)} "
        f"nav{tuple(am.navigation_shape)} sig{tuple(am.signal_shape)} ({stype})"
    )


def _dims(sig: Any) -> tuple[int, int]:
    am = sig.axes_manager
    return int(am.navigation_dimension), int(am.signal_dimension)


def _image_score(sig: Any) -> int:
    title = str(sig.metadata.get_item("General.title", "")).strip()
    upper = title.upper()
    if _ELEMENT_MAP.match(title):
        return -1
    if "HAADF" in upper:
        return 4
    if "ADF" in upper or re.search(r"\bDF", upper) or "DARK" in upper:
        return 3
    if "BF" in upper or "BRIGHT" in upper:
        return 1
    return 2


def _dense(data: Any) -> NDArray[Any]:
    if hasattr(data, "compute"):
        data = data.compute()
    if hasattr(data, "todense"):
        data = data.todense()
    return np.asarray(data)


def _calibration(axes: list[Any]) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Row/col scale and offset in nm from two HyperSpy axes given as (row_axis, col_axis)."""
    factors = [length_to_nm(getattr(ax, "units", None)) for ax in axes]
    if any(f is None for f in factors) or not all(getattr(ax, "is_uniform", True) for ax in axes):
        return None, None
    row, col = axes
    fr, fc = factors
    assert fr is not None and fc is not None
    return (float(row.scale) * fr, float(col.scale) * fc), (
        float(row.offset) * fr,
        float(col.offset) * fc,
    )


def _raw_image(sig: Any) -> RawImage:
    am = sig.axes_manager
    col_axis, row_axis = am.signal_axes[0], am.signal_axes[1]
    scale, offset = _calibration([row_axis, col_axis])
    return RawImage(
        data=_dense(sig.data),
        scale_nm=scale,
        offset_nm=offset,
        title=str(sig.metadata.get_item("General.title", "")),
    )


def _pick_spectrum_image(signals: list[Any], signal: int | str | None, path: Path) -> int:
    found = "; ".join(_describe(i, s) for i, s in enumerate(signals))
    if signal is not None:
        if isinstance(signal, int):
            if not 0 <= signal < len(signals):
                raise DataError(
                    f"signal={signal} is out of range: {path.name} holds {len(signals)} "
                    f"signal(s): {found}"
                )
            index = signal
        else:
            titles = [str(s.metadata.get_item("General.title", "")) for s in signals]
            matches = [i for i, t in enumerate(titles) if t.strip().lower() == signal.lower()]
            if not matches:
                raise DataError(
                    f"no signal titled {signal!r} in {path.name}; it holds: {found}. "
                    "Pass one of those titles or an index as `signal=`."
                )
            shaped = [i for i in matches if _dims(signals[i]) == (2, 1)]
            index = shaped[-1] if shaped else matches[-1]
        if _dims(signals[index]) != (2, 1):
            raise DataError(
                f"the chosen signal {_describe(index, signals[index])} is not a spectrum image; "
                "a spectrum image has 2 navigation dimensions and 1 signal dimension."
            )
        return index
    candidates = [i for i, s in enumerate(signals) if _dims(s) == (2, 1)]
    if not candidates:
        raise DataError(
            f"{path.name} holds no spectrum image (a signal with 2 navigation dimensions and 1 "
            f"signal dimension); it holds {len(signals)} signal(s): {found}. "
            "Load a file with an EELS/EDX spectrum image, or pass a 3-D array via .npy/.npz/HDF5."
        )

    def rank(i: int) -> tuple[int, int, int]:
        known = (
            signal_kind_from_text(signals[i].metadata.get_item("Signal.signal_type")) is not None
        )
        return (int(known), int(np.prod(signals[i].data.shape)), i)

    return max(candidates, key=rank)


def _pick_overview(signals: list[Any]) -> tuple[int | None, str]:
    images = [i for i, s in enumerate(signals) if _dims(s) == (0, 2)]
    usable = [i for i in images if _image_score(signals[i]) >= 0]
    maps = [i for i in images if _image_score(signals[i]) < 0]
    if not usable:
        why = "no 2-D image in the file"
        if maps:
            titles = [str(signals[i].metadata.get_item("General.title", "")) for i in maps]
            why = f"only elemental maps in the file ({', '.join(titles)}), not used as overview"
        return None, why

    def rank(i: int) -> tuple[int, int, int]:
        return (_image_score(signals[i]), int(np.prod(signals[i].data.shape)), -i)

    best = max(usable, key=rank)
    title = signals[best].metadata.get_item("General.title", "")
    reason = "HAADF by title" if _image_score(signals[best]) == 4 else "best image by title"
    return best, f"overview = signal [{best}] {title!r} ({reason})"


def _metadata_of(sig: Any) -> dict[str, Any]:
    md = sig.metadata
    out: dict[str, Any] = {}
    for mode in ("TEM", "SEM"):
        beam = md.get_item(f"Acquisition_instrument.{mode}.beam_energy")
        if beam is not None and "beam_energy_kev" not in out:
            out["beam_energy_kev"] = float(beam)
        scope = md.get_item(f"Acquisition_instrument.{mode}.microscope")
        if scope is not None and "instrument" not in out:
            out["instrument"] = str(scope)
        detector = md.get_item(f"Acquisition_instrument.{mode}.Detector.EDS.detector_type")
        if detector is not None:
            out["detector"] = str(detector)
    if "instrument" not in out:
        # JEOL keeps the microscope's name only in the original metadata.
        for key in ("Instrument.Name", "PTTD Param.Params.PARAMPAGE0_SEM.SEM"):
            name = sig.original_metadata.get_item(key)
            if isinstance(name, str) and name.strip():
                out["instrument"] = name.strip()
                break
    return out


def read_hyperspy_file(
    path: Path,
    *,
    signal: int | str | None,
    lazy: bool,
    options: dict[str, Any],
) -> RawSpectrumImage:
    """Read a file through HyperSpy and choose its spectrum image and overview.

    Parameters
    ----------
    path : Path
        A file whose suffix is in :data:`HYPERSPY_FORMATS`.
    signal : int or str, optional
        Which signal is the spectrum image (index in the file or its title);
        default: the largest signal with 2 navigation and 1 signal dimensions,
        preferring ones with an EELS/EDS signal type.
    lazy : bool
        Read lazily; only the chosen signals are then loaded into memory.
    options : dict
        Passed to ``hyperspy.api.load`` (e.g. ``sum_frames``, ``SI_dtype``).

    Returns
    -------
    RawSpectrumImage
    """
    signals = _hs_load(path, lazy, options)
    found = [_describe(i, s) for i, s in enumerate(signals)]
    index = _pick_spectrum_image(signals, signal, path)
    si = signals[index]
    am = si.axes_manager
    energy_axis = am.signal_axes[0]
    if not getattr(energy_axis, "is_uniform", True):
        raise DataError(
            f"the spectrum image in {path.name} has a non-uniform energy axis; steerscope "
            "needs a uniform one. Convert it with HyperSpy "
            "(`s.axes_manager[-1].convert_to_uniform_axis()`)."
        )
    units = str(energy_axis.units)
    notes = [f"spectrum image = signal [{index}] {si.metadata.get_item('General.title', '')!r}"]
    if units not in ("eV", "keV"):
        stype = str(si.metadata.get_item("Signal.signal_type", ""))
        assumed = "keV" if stype.upper().startswith("EDS") else "eV"
        notes.append(f"energy axis units {units!r} not eV/keV: assumed {assumed}")
        units = assumed
    energy = EnergyAxis(
        size=int(energy_axis.size),
        offset=float(energy_axis.offset),
        scale=float(energy_axis.scale),
        units=units,
    )
    col_axis, row_axis = am.navigation_axes[0], am.navigation_axes[1]
    scale, offset = _calibration([row_axis, col_axis])
    overview_index, overview_note = _pick_overview(signals)
    overview = _raw_image(signals[overview_index]) if overview_index is not None else None
    notes.append(overview_note)
    metadata: dict[str, Any] = {
        "format": HYPERSPY_FORMATS.get(path.suffix.lower(), path.suffix),
        "signals_found": found,
        "signal_type": si.metadata.get_item("Signal.signal_type", ""),
        "spectrum_image_title": str(si.metadata.get_item("General.title", "")),
    }
    metadata.update(_metadata_of(si))
    return RawSpectrumImage(
        spectra=_dense(si.data),
        energy=energy,
        signal_kind=signal_kind_from_text(si.metadata.get_item("Signal.signal_type")),
        scale_nm=scale,
        offset_nm=offset,
        overview=overview,
        metadata=metadata,
        notes=notes,
    )


def read_hyperspy_overview(path: Path) -> RawImage:
    """Read the best 2-D image (HAADF preferred) from a HyperSpy-readable file.

    Raises
    ------
    DataError
        If the file holds no single 2-D image.
    """
    signals = _hs_load(path, False, {})
    index, why = _pick_overview(signals)
    if index is None:
        found = "; ".join(_describe(i, s) for i, s in enumerate(signals))
        raise DataError(
            f"the overview file {path.name} holds no usable 2-D image ({why}); it holds: {found}"
        )
    image = _raw_image(signals[index])
    image.title = f"{path.name}:{image.title}"
    return image
