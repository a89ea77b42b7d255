"""Plain NumPy (``.npy``, ``.npz``) and HDF5 (``.h5``, ``.hdf5``) spectrum images.

Documented keys (a ``.npz`` member, or an HDF5 dataset or root attribute):

=================  ==============================  ==========================================
key                shape / type                    meaning
=================  ==============================  ==========================================
``spectra``        ``(h, w, C)`` numbers           required: one spectrum per pixel
``overview``       ``(H, W)`` numbers              optional: HAADF; else the spectra's sum
``energy``         ``(C,)`` floats, uniform        channel energies, **or** the three below
``energy_offset``  float                           energy of channel 0
``energy_scale``   float                           channel width (> 0)
``energy_units``   str                             eV, keV, V, mV, Hz, kHz, s or ms; default eV
``pixel_size``     float                           size of one *overview* pixel
``pixel_units``    str                             default ``"nm"``
``signal_kind``    str                             EELS, EDX, STS or BE; else guessed from units
=================  ==============================  ==========================================

A ``.npy`` file holds a single array: a 3-D spectrum image ``(h, w, C)``; give
its calibration with the ``energy=`` option of :func:`steerscope.load`
(an :class:`~steerscope.types.EnergyAxis` or the ``(C,)`` channel energies).
Pickled objects are never loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data._raw import RawImage, RawSpectrumImage, length_to_nm, signal_kind_from_text
from steerscope.errors import DataError
from steerscope.types import EnergyAxis

__all__ = ["ARRAY_OPTIONS", "DOCUMENTED_KEYS", "read_array_file", "read_array_overview"]

DOCUMENTED_KEYS = (
    "spectra",
    "overview",
    "energy",
    "energy_offset",
    "energy_scale",
    "energy_units",
    "pixel_size",
    "pixel_units",
    "signal_kind",
)
"""Keys :func:`read_array_file` understands in ``.npz`` and HDF5 files."""

ARRAY_OPTIONS = ("energy", "pixel_size", "pixel_units", "group")
"""Reader options accepted for ``.npy``/``.npz``/HDF5 files (``group``: HDF5 only)."""


def _scalar(value: Any) -> Any:
    arr = np.asarray(value)
    if arr.ndim == 0 or arr.size == 1:
        item = arr.reshape(()).item()
        return item.decode("utf-8", "replace") if isinstance(item, bytes) else item
    return value


def _energy_from_values(values: Any, units: str, where: str) -> EnergyAxis:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size < 2:
        raise DataError(
            f"{where}: `energy` must list at least 2 channel energies to define a dispersion; "
            f"got {arr.size}. Give `energy_offset` and `energy_scale` instead."
        )
    steps = np.diff(arr)
    scale = float(np.mean(steps))
    if not np.allclose(steps, scale, rtol=1e-3, atol=1e-9 * max(1.0, abs(scale))):
        raise DataError(
            f"{where}: `energy` must be uniformly spaced (steerscope uses a uniform axis); "
            f"channel widths range {steps.min():g}–{steps.max():g}. Resample the spectra onto "
            "a uniform axis first."
        )
    return EnergyAxis(size=arr.size, offset=float(arr[0]), scale=scale, units=units)


def _energy_option(option: Any, n_channels: int, units: str, where: str) -> EnergyAxis:
    if isinstance(option, EnergyAxis):
        return option
    energy = _energy_from_values(option, units, where)
    if energy.size != n_channels:
        raise DataError(
            f"{where}: the `energy` option has {energy.size} values but the spectra have "
            f"{n_channels} channels; pass one energy per channel."
        )
    return energy


def _build(
    get: Callable[[str], Any],
    keys: list[str],
    where: str,
    options: Mapping[str, Any],
) -> RawSpectrumImage:
    if "spectra" not in keys:
        raise DataError(
            f"{where} has no `spectra` entry, so it holds no spectrum image; found keys "
            f"{sorted(keys)}. Store the spectrum image (h, w, C) under `spectra` "
            f"(documented keys: {', '.join(DOCUMENTED_KEYS)})."
        )
    spectra = np.asarray(get("spectra"))
    if spectra.ndim != 3:
        raise DataError(
            f"{where}: `spectra` must be 3-D (rows, cols, channels); got shape {spectra.shape}."
        )
    units = str(_scalar(get("energy_units"))) if "energy_units" in keys else "eV"
    notes: list[str] = []
    if "energy" in options and options["energy"] is not None:
        energy = _energy_option(options["energy"], spectra.shape[2], units, where)
        notes.append("energy axis from the `energy=` option")
    elif "energy" in keys:
        energy = _energy_from_values(get("energy"), units, where)
    elif "energy_offset" in keys and "energy_scale" in keys:
        energy = EnergyAxis(
            size=spectra.shape[2],
            offset=float(_scalar(get("energy_offset"))),
            scale=float(_scalar(get("energy_scale"))),
            units=units,
        )
    else:
        raise DataError(
            f"{where} has no energy calibration: expected `energy` (channel energies) or "
            f"`energy_offset` and `energy_scale` (plus `energy_units`); found keys "
            f"{sorted(keys)}. Add them to the file or pass `energy=` to steerscope.load."
        )
    if energy.size != spectra.shape[2]:
        raise DataError(
            f"{where}: the energy axis has {energy.size} channels but `spectra` has "
            f"{spectra.shape[2]}; the calibration does not belong to these spectra."
        )
    kind = signal_kind_from_text(get("signal_kind")) if "signal_kind" in keys else None
    overview = None
    if "overview" in keys:
        image = np.asarray(get("overview"))
        if image.ndim != 2:
            raise DataError(f"{where}: `overview` must be 2-D (H, W); got shape {image.shape}.")
        overview = RawImage(data=image, title="overview")
    pixel_size = options.get("pixel_size")
    if pixel_size is None and "pixel_size" in keys:
        pixel_size = float(_scalar(get("pixel_size")))
    pixel_units = options.get("pixel_units")
    if pixel_units is None:
        pixel_units = str(_scalar(get("pixel_units"))) if "pixel_units" in keys else "nm"
    spectra_scale = None
    if pixel_size is not None:
        per_nm = length_to_nm(pixel_units)
        if per_nm is None:
            raise DataError(
                f"{where}: unknown pixel units {pixel_units!r}; expected one of nm, µm, Å, pm, m."
            )
        size_nm = float(pixel_size) * per_nm
        if overview is not None:
            overview.scale_nm = (size_nm, size_nm)
            big_h, big_w = overview.data.shape
            h, w = spectra.shape[:2]
            spectra_scale = (size_nm * big_h / h, size_nm * big_w / w)
        else:
            spectra_scale = (size_nm, size_nm)
    return RawSpectrumImage(
        spectra=spectra,
        energy=energy,
        signal_kind=kind,
        scale_nm=spectra_scale,
        overview=overview,
        metadata={"signals_found": sorted(keys)},
        notes=notes,
    )


def _check_options(options: Mapping[str, Any], suffix: str) -> None:
    allowed = ARRAY_OPTIONS if suffix in (".h5", ".hdf5") else ARRAY_OPTIONS[:3]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DataError(
            f"unknown reader option(s) {unknown} for a {suffix} file; accepted: "
            f"{list(allowed)} (plus the keywords of steerscope.load)."
        )


def _open_npz(path: Path) -> tuple[dict[str, NDArray[Any]], list[str]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            members = {k: np.asarray(npz[k]) for k in npz.files}
    except ValueError as exc:
        raise DataError(
            f"cannot read {path}: it holds pickled objects, which steerscope never loads; "
            "save plain arrays (np.savez with arrays and strings)."
        ) from exc
    except Exception as exc:
        raise DataError(f"cannot read {path} as a NumPy .npz archive: {exc}") from exc
    return members, list(members)


def _read_h5(path: Path, group: str | None) -> tuple[dict[str, Any], list[str]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            node = f[group] if group else f
            if not isinstance(node, h5py.Group):
                raise DataError(f"{path}: `group={group!r}` is not an HDF5 group.")
            values: dict[str, Any] = {}
            for key, item in node.items():
                if isinstance(item, h5py.Dataset):
                    values[key] = item[()]
            for key, attr in node.attrs.items():
                values.setdefault(key, attr)
    except DataError:
        raise
    except KeyError as exc:
        raise DataError(f"{path} has no group {group!r}: {exc}") from exc
    except Exception as exc:
        raise DataError(f"cannot read {path} as HDF5 ({type(exc).__name__}: {exc})") from exc
    return values, list(values)


def read_array_file(path: Path, options: Mapping[str, Any]) -> RawSpectrumImage:
    """Read a ``.npy``, ``.npz`` or HDF5 spectrum image with the documented keys.

    Parameters
    ----------
    path : Path
        The file; the suffix chooses the reader.
    options : mapping
        Reader options: ``energy`` (EnergyAxis or ndarray of shape (C,)),
        ``pixel_size``, ``pixel_units``, and ``group`` (HDF5 group holding the keys).

    Returns
    -------
    RawSpectrumImage
    """
    suffix = path.suffix.lower()
    _check_options(options, suffix)
    where = f"{path.name}"
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(
                f"cannot read {path}: it holds pickled objects, which steerscope never loads."
            ) from exc
        except Exception as exc:
            raise DataError(f"cannot read {path} as a NumPy .npy file: {exc}") from exc
        if array.ndim != 3:
            raise DataError(
                f"{where} holds an array of shape {array.shape}; a .npy spectrum image must be "
                "3-D (rows, cols, channels). Use .npz or HDF5 to store an overview with it."
            )
        if options.get("energy") is None:
            raw = _build(
                {"spectra": array, "energy_offset": 0.0, "energy_scale": 1.0}.__getitem__,
                ["spectra", "energy_offset", "energy_scale"],
                where,
                options,
            )
            raw.notes.append(
                "the .npy file has no energy calibration: channel index used as energy "
                "(pass `energy=` to calibrate)"
            )
            raw.metadata["energy_calibrated"] = False
        else:
            raw = _build({"spectra": array}.__getitem__, ["spectra"], where, options)
        raw.metadata["format"] = "NumPy .npy"
        return raw
    if suffix == ".npz":
        members, keys = _open_npz(path)
        raw = _build(members.__getitem__, keys, where, options)
        raw.metadata["format"] = "NumPy .npz"
        return raw
    values, keys = _read_h5(path, options.get("group"))
    raw = _build(values.__getitem__, keys, where, options)
    raw.metadata["format"] = "HDF5 (documented keys)"
    return raw


def read_array_overview(path: Path) -> RawImage | None:
    """Read a 2-D overview image from a ``.npy``, ``.npz`` or HDF5 file.

    A ``.npy`` must hold a 2-D array; ``.npz``/HDF5 files must hold ``overview``
    (or exactly one 2-D array). ``pixel_size``/``pixel_units`` calibrate it.
    Returns ``None`` when the suffix is not one of these.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2:
            raise DataError(
                f"the overview file {path.name} holds an array of shape {array.shape}; "
                "expected a 2-D image (H, W)."
            )
        return RawImage(data=array, title=path.name)
    if suffix == ".npz":
        values: dict[str, Any] = dict(_open_npz(path)[0])
    elif suffix in (".h5", ".hdf5"):
        values = _read_h5(path, None)[0]
    else:
        return None
    if "overview" in values:
        image = np.asarray(values["overview"])
        title = "overview"
    else:
        two_d = [k for k, v in values.items() if np.asarray(v).ndim == 2]
        if len(two_d) != 1:
            raise DataError(
                f"the overview file {path.name} has no `overview` entry and {len(two_d)} 2-D "
                f"arrays ({two_d}); store the image under the key `overview`."
            )
        title = two_d[0]
        image = np.asarray(values[title])
    if image.ndim != 2:
        raise DataError(
            f"the overview in {path.name} has shape {image.shape}; expected a 2-D image (H, W)."
        )
    raw = RawImage(data=image, title=f"{path.name}:{title}")
    if "pixel_size" in values:
        units = str(_scalar(values["pixel_units"])) if "pixel_units" in values else "nm"
        per_nm = length_to_nm(units)
        if per_nm is not None:
            size = float(_scalar(values["pixel_size"])) * per_nm
            raw.scale_nm = (size, size)
    return raw
