"""Readers: files → :class:`~steerscope.data.SpectrumImage`.

:func:`load` reads microscope files through HyperSpy/RosettaSciIO (``.hspy``,
``.zspy``, ``.dm3``, ``.dm4``, Velox ``.emd``, Bruker ``.bcf``, JEOL ``.ASW``/
``.pts``) and plain NumPy/HDF5 files with documented keys (see
:mod:`steerscope.data.array_files`), then applies the same steps to all of them:

1. choose the spectrum image and the overview inside a multi-signal file
   (HAADF preferred) and record why in ``metadata["chosen"]``;
2. bin the spectrum image spatially (``downsample``) and in energy
   (``rebin_energy``) when asked (JEOL files are binned by their reader);
3. convert the energy axis to ``energy_units`` when asked;
4. fit the overview to the spectrum grid: the overview must cover the same
   field of view and be an integer multiple ``k`` of the spectrum grid. An
   overview that is coarser, or not an integer multiple, is resampled
   bilinearly to ``(k·h, k·w)`` with ``k = max(1, round(H / h))``; this keeps
   its resolution within half a spectrum pixel and gives every spectrum pixel
   the same number of overview pixels. Fields of view that differ by more than
   5 % (or, without calibration, aspect ratios that differ by more than 5 %)
   raise :class:`~steerscope.errors.DataError`.

The pixel size is reported in nm for every file whose length units are known,
else as ``1.0 px``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.data._raw import RawImage, RawSpectrumImage, signal_kind_from_text
from steerscope.data.array_files import read_array_file, read_array_overview
from steerscope.data.cache import parsed_cache_key, read_parsed, write_parsed
from steerscope.data.hyperspy_files import (
    HYPERSPY_FORMATS,
    read_hyperspy_file,
    read_hyperspy_overview,
)
from steerscope.data.spectrum_image import SpectrumImage
from steerscope.errors import DataError, DataWarning
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["ARRAY_FORMATS", "SUPPORTED_EXTENSIONS", "load"]

logger = logging.getLogger(__name__)

ARRAY_FORMATS: dict[str, str] = {
    ".npy": "NumPy .npy",
    ".npz": "NumPy .npz",
    ".h5": "HDF5",
    ".hdf5": "HDF5",
}
"""Suffixes read without HyperSpy."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(HYPERSPY_FORMATS) + tuple(ARRAY_FORMATS)
"""Every suffix :func:`load` reads (case-insensitive)."""

_JEOL = (".asw", ".pts")
_FOV_TOLERANCE = 0.05


def _positive_int(value: int | None, name: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DataError(f"`{name}` must be a positive integer (1 = no binning); got {value!r}.")
    return int(value)


def _divisors(n: int) -> list[int]:
    return [d for d in range(2, n + 1) if n % d == 0][:6]


def _bin_spectra(spectra: NDArray[Any], downsample: int, rebin_energy: int) -> NDArray[Any]:
    """Sum ``downsample``² pixel blocks and ``rebin_energy`` adjacent channels."""
    h, w, c = spectra.shape
    if downsample > 1 and (h % downsample or w % downsample):
        raise DataError(
            f"downsample={downsample} must divide the spectrum grid {h}×{w}; "
            f"divisors of {h}: {_divisors(h)}, of {w}: {_divisors(w)}."
        )
    if rebin_energy > 1 and c % rebin_energy:
        raise DataError(
            f"rebin_energy={rebin_energy} must divide the {c} channels; "
            f"divisors of {c}: {_divisors(c)}."
        )
    if downsample == 1 and rebin_energy == 1:
        return spectra
    integer = np.issubdtype(spectra.dtype, np.integer)
    acc = np.int64 if integer else np.float64
    out = spectra
    if downsample > 1:
        d = downsample
        out = out.reshape(h // d, d, w // d, d, c).sum(axis=(1, 3), dtype=acc)
    if rebin_energy > 1:
        r = rebin_energy
        out = out.reshape(out.shape[0], out.shape[1], c // r, r).sum(axis=3, dtype=acc)
    if integer and out.size and out.min() >= 0 and out.max() <= np.iinfo(np.uint32).max:
        out = out.astype(np.uint32)
    return out


def _rebinned_axis(energy: EnergyAxis, factor: int) -> EnergyAxis:
    # The new channel sits at the centre of the channels it sums.
    return EnergyAxis(
        size=energy.size // factor,
        offset=energy.offset + (factor - 1) * energy.scale / 2,
        scale=energy.scale * factor,
        units=energy.units,
    )


def _convert_units(energy: EnergyAxis, units: str) -> EnergyAxis:
    if energy.units == units:
        return energy
    factor = 1000.0 if (energy.units, units) == ("keV", "eV") else 1e-3
    return EnergyAxis(
        size=energy.size, offset=energy.offset * factor, scale=energy.scale * factor, units=units
    )


def _resample_bilinear(image: NDArray[Any], shape: tuple[int, int]) -> NDArray[np.float64]:
    """Resample ``image`` (H, W) to ``shape`` by bilinear interpolation on pixel centres."""

    def coords(n_src: int, n_dst: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        x = (np.arange(n_dst) + 0.5) * n_src / n_dst - 0.5
        x = np.clip(x, 0, n_src - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_src - 1)
        return i0, i1, x - i0

    img = np.asarray(image, dtype=np.float64)
    r0, r1, tr = coords(img.shape[0], shape[0])
    c0, c1, tc = coords(img.shape[1], shape[1])
    rows = img[r0] * (1 - tr)[:, None] + img[r1] * tr[:, None]
    return np.asarray(rows[:, c0] * (1 - tc) + rows[:, c1] * tc)


def _fit_overview(
    image: RawImage,
    spectrum_shape: tuple[int, int],
    spectrum_scale: tuple[float, float] | None,
    spectrum_offset: tuple[float, float] | None,
) -> tuple[NDArray[Any], tuple[float, float] | None, list[str]]:
    """Check the overview covers the spectrum image's field of view; resample it if needed.

    Returns the overview ``(H', W')``, its pixel size ``(row, col)`` in nm (or
    ``None``) and notes on what was done.
    """
    data = np.asarray(image.data)
    big_h, big_w = data.shape
    h, w = spectrum_shape
    notes: list[str] = []
    if image.scale_nm is not None and spectrum_scale is not None:
        fov_o = (big_h * image.scale_nm[0], big_w * image.scale_nm[1])
        fov_s = (h * spectrum_scale[0], w * spectrum_scale[1])
        for name, a, b in zip(("height", "width"), fov_o, fov_s, strict=True):
            if abs(a - b) > _FOV_TOLERANCE * max(a, b):
                raise DataError(
                    f"the overview {image.title!r} ({big_h}×{big_w} px, field of view "
                    f"{fov_o[0]:.4g}×{fov_o[1]:.4g} nm) and the spectrum image ({h}×{w} px, "
                    f"{fov_s[0]:.4g}×{fov_s[1]:.4g} nm) differ in {name} by more than "
                    f"{_FOV_TOLERANCE:.0%}: they do not cover the same area. Pass the overview "
                    "acquired with this spectrum image (`overview=`)."
                )
        if image.offset_nm is not None and spectrum_offset is not None:
            for name, a, b, fov, px in zip(
                ("vertical", "horizontal"),
                image.offset_nm,
                spectrum_offset,
                fov_s,
                spectrum_scale,
                strict=True,
            ):
                if abs(a - b) > max(_FOV_TOLERANCE * fov, px):
                    raise DataError(
                        f"the overview {image.title!r} starts at {a:.4g} nm and the spectrum "
                        f"image at {b:.4g} nm ({name}): the fields of view are shifted by more "
                        "than one spectrum pixel. Pass the overview acquired with this "
                        "spectrum image (`overview=`)."
                    )
    else:
        ratio = (big_h / big_w) / (h / w)
        if abs(ratio - 1) > _FOV_TOLERANCE:
            raise DataError(
                f"the overview {image.title!r} is {big_h}×{big_w} px and the spectrum image "
                f"{h}×{w} px: their aspect ratios differ by {abs(ratio - 1):.0%}, so they "
                "cannot cover the same field of view. Crop or pass the matching overview."
            )
    scale = image.scale_nm
    if scale is None and spectrum_scale is not None:
        scale = (spectrum_scale[0] * h / big_h, spectrum_scale[1] * w / big_w)
    if big_h >= h and big_w >= w and big_h % h == 0 and big_w % w == 0:
        return data, scale, notes
    k_r, k_c = max(1, round(big_h / h)), max(1, round(big_w / w))
    target = (k_r * h, k_c * w)
    resampled = _resample_bilinear(data, target)
    if scale is not None:
        scale = (scale[0] * big_h / target[0], scale[1] * big_w / target[1])
    notes.append(
        f"overview resampled bilinearly from {big_h}×{big_w} to {target[0]}×{target[1]} "
        f"(an integer multiple {k_r}×{k_c} of the {h}×{w} spectrum grid)"
    )
    return resampled, scale, notes


def _read_overview_option(overview: Any) -> RawImage:
    if isinstance(overview, str | Path):
        path = Path(overview).expanduser()
        if not path.exists():
            raise DataError(f"no overview file at {path}; check the path given as `overview=`.")
        suffix = path.suffix.lower()
        if suffix in ARRAY_FORMATS:
            image = read_array_overview(path)
            assert image is not None
            return image
        if suffix in HYPERSPY_FORMATS:
            return read_hyperspy_overview(path)
        raise DataError(
            f"cannot read the overview file {path.name}: unknown extension {path.suffix!r}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    data = np.asarray(overview)
    if data.ndim != 2 or not np.issubdtype(data.dtype, np.number):
        raise DataError(
            f"`overview=` must be a path or a numeric 2-D array (H, W); got "
            f"{type(overview).__name__} of shape {data.shape}."
        )
    return RawImage(data=data, title="overview array")


def load(
    path: str | Path,
    *,
    overview: str | Path | ArrayLike | None = None,
    signal: int | str | None = None,
    downsample: int | None = None,
    rebin_energy: int | None = None,
    energy_units: str | None = None,
    lazy: bool = False,
    cache: bool = True,
    **reader_options: Any,
) -> SpectrumImage:
    """Load a spectrum image (and its overview) from a file.

    Parameters
    ----------
    path : str or Path
        The file. Supported suffixes: ``.hspy``, ``.zspy``, ``.dm3``, ``.dm4``,
        ``.emd`` (Velox; EDS spectrum images need ``sparse``), ``.bcf``,
        ``.ASW``/``.pts`` (JEOL; need ``numba``), ``.npy``, ``.npz``, ``.h5``/``.hdf5``.
    overview : str, Path or ndarray of shape (H, W), optional
        A separate overview: an image file (HAADF chosen as inside a
        multi-signal file) or an array, when the HAADF was saved apart from the
        spectrum image (e.g. ``load("eels.dm4", overview="haadf.dm4")``).
        Default: the HAADF (or best image) in the file, else the sum of the
        spectrum image over energy, with a :class:`~steerscope.errors.DataWarning`
        (the sum is no finer than the spectrum grid).
    signal : int or str, optional
        Which signal of a multi-signal file is the spectrum image (index or
        title). Default: the largest 3-D signal with 2 navigation dimensions.
    downsample : int, optional
        Sum ``downsample × downsample`` pixel blocks of the spectrum image
        (JEOL: done by the reader while decoding). Must divide the grid.
    rebin_energy : int, optional
        Sum groups of ``rebin_energy`` adjacent channels. Must divide ``C``.
    energy_units : {"eV", "keV"}, optional
        Convert the energy axis to these units. Default: as in the file.
    lazy : bool, default False
        Read HyperSpy files lazily so only the chosen signals are loaded
        into memory (the returned spectra are always in memory).
    cache : bool, default True
        Keep what was parsed from a HyperSpy-format file (``.emd``, ``.bcf``,
        ``.dm4``, ...) in the parsed-file cache and read it from there next time,
        as long as the file, its overview file and the options are unchanged
        (:mod:`steerscope.data.cache`; ``$STEERSCOPE_CACHE``). ``False`` always
        reads the file. ``metadata["parsed_cache"]`` names the entry on a hit.
    **reader_options
        ``signal_kind`` (``"EELS"``/``"EDX"``; overrides the file) for every
        format; for ``.npy``/``.npz``/HDF5: ``energy`` (EnergyAxis or ndarray of
        shape (C,)), ``pixel_size``, ``pixel_units``, ``group`` (HDF5); for
        HyperSpy formats: passed to ``hyperspy.api.load`` (e.g. ``sum_frames``,
        ``SI_dtype``, ``cutoff_at_kV``).

    Returns
    -------
    SpectrumImage
        Overview ``(H, W)``, spectra ``(h, w, C)``; ``metadata`` holds
        ``source``, ``format``, ``signals_found``, ``chosen`` (one line on which
        signals were used and why), ``overview_source`` (``"file"``,
        ``"separate"`` or ``"sum"``), and ``instrument``/``beam_energy_kev``
        when the file has them.

    Warns
    -----
    DataWarning
        The file holds no overview image and none was passed: the sum of the
        spectra stands in for it.

    Raises
    ------
    DataError
        Missing file, unknown extension, no spectrum image in the file,
        mismatched shapes or fields of view, a missing optional reader
        package, or a read failure (the original error is the ``__cause__``).
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"no file at {file}; check the path (it is read relative to {Path.cwd()}).")
    suffix = file.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise DataError(
            f"cannot read {file.name}: unknown extension {file.suffix!r}. Supported: "
            f"{', '.join(SUPPORTED_EXTENSIONS)}. Convert the file with HyperSpy "
            "(`s.save('x.hspy')`) or save arrays with np.savez."
        )
    spatial = _positive_int(downsample, "downsample")
    spectral = _positive_int(rebin_energy, "rebin_energy")
    if energy_units not in (None, "eV", "keV"):
        raise DataError(f"`energy_units` must be 'eV' or 'keV' (or None); got {energy_units!r}.")
    options = dict(reader_options)
    kind_option = options.pop("signal_kind", None)
    kind_override = None
    if kind_option is not None:
        kind_override = signal_kind_from_text(str(kind_option))
        if kind_override is None:
            raise DataError(f"`signal_kind` must be 'EELS' or 'EDX'; got {kind_option!r}.")

    key = None
    if cache and suffix in HYPERSPY_FORMATS:
        settings = {
            "signal": signal,
            "downsample": spatial,
            "rebin_energy": spectral,
            "energy_units": energy_units,
            "lazy": lazy,
            **reader_options,
        }
        key = parsed_cache_key(file, settings, overview)
    image = read_parsed(key) if key is not None else None
    if image is None:
        image = _read(
            file,
            suffix,
            overview,
            signal,
            spatial,
            spectral,
            energy_units,
            lazy,
            options,
            kind_override,
        )
        if key is not None:
            write_parsed(key, image)
    if image.metadata.get("overview_source") == "sum":
        h, w = image.spectrum_shape
        warnings.warn(
            f"{file.name} holds no overview image: the sum of its {h}×{w} spectra over energy "
            "stands in for the HAADF, at the spectrum grid's resolution. If a HAADF (or "
            "other overview) was acquired with this spectrum image, pass it: "
            "`steerscope.load(path, overview='haadf.dm4')`, or in a campaign config "
            "`source: {file: ..., options: {overview: haadf.dm4}}`.",
            DataWarning,
            stacklevel=2,
        )
    return image


def _read(
    file: Path,
    suffix: str,
    overview: str | Path | ArrayLike | None,
    signal: int | str | None,
    spatial: int,
    spectral: int,
    energy_units: str | None,
    lazy: bool,
    options: dict[str, Any],
    kind_override: SignalKind | None,
) -> SpectrumImage:
    """Read and fit one file (every step of :func:`load` but the cache)."""
    binned_by_reader = False
    if suffix in HYPERSPY_FORMATS:
        if suffix in _JEOL:
            options.setdefault("downsample", spatial)
            options.setdefault("rebin_energy", spectral)
            # uint8 counts would wrap around when the reader sums pixel blocks.
            options.setdefault("SI_dtype", np.uint16)
            binned_by_reader = True
        elif suffix == ".emd":
            options.setdefault("sum_frames", True)
        raw: RawSpectrumImage = read_hyperspy_file(file, signal=signal, lazy=lazy, options=options)
    else:
        if signal is not None:
            raise DataError(
                f"`signal=` chooses among the signals of a multi-signal file; a {suffix} file "
                "holds one spectrum image. Remove `signal=`."
            )
        try:
            raw = read_array_file(file, options)
        except DataError as exc:
            if file.name in str(exc):
                raise
            raise DataError(f"cannot use {file}: {exc}") from exc

    spectra = raw.spectra
    energy = raw.energy
    if np.asarray(spectra).size == 0:
        raise DataError(
            f"cannot use {file}: its spectrum image is empty (shape {np.shape(spectra)}); "
            "a spectrum image needs at least one pixel and one channel."
        )
    notes = list(raw.notes)
    scale, offset = raw.scale_nm, raw.offset_nm
    if not binned_by_reader and (spatial > 1 or spectral > 1):
        spectra = _bin_spectra(spectra, spatial, spectral)
        if spectral > 1:
            energy = _rebinned_axis(energy, spectral)
        if spatial > 1 and scale is not None:
            scale = (scale[0] * spatial, scale[1] * spatial)
        notes.append(f"spectra binned ×{spatial} in space and ×{spectral} in energy")
    if energy_units is not None and energy_units != energy.units:
        notes.append(f"energy axis converted from {energy.units} to {energy_units}")
        energy = _convert_units(energy, energy_units)

    if kind_override is not None:
        kind = kind_override
    elif raw.signal_kind is not None:
        kind = raw.signal_kind
    else:
        kind = SignalKind.EDX if energy.units == "keV" else SignalKind.EELS
        notes.append(f"signal kind not in the file: {kind.value} guessed from {energy.units} units")

    h, w = int(spectra.shape[0]), int(spectra.shape[1])
    if overview is not None:
        image = _read_overview_option(overview)
        overview_source = "separate"
        notes = [n for n in notes if not n.startswith("overview =")]
        notes.append(f"overview = separate {image.title!r}")
    elif raw.overview is not None:
        image = raw.overview
        overview_source = "file"
    else:
        image = RawImage(
            data=np.asarray(spectra, dtype=np.float64).sum(axis=2),
            scale_nm=scale,
            offset_nm=offset,
            title="sum of the spectrum image",
        )
        overview_source = "sum"
        notes.append("no overview image: the sum of the spectrum image over energy is used")
    overview_data, overview_scale, fit_notes = _fit_overview(image, (h, w), scale, offset)
    notes.extend(fit_notes)

    if overview_scale is not None:
        pixel_size, pixel_units = float(overview_scale[0]), "nm"
        if abs(overview_scale[0] - overview_scale[1]) > 0.01 * overview_scale[0]:
            notes.append(
                f"non-square pixels {overview_scale[0]:.4g}×{overview_scale[1]:.4g} nm: "
                "pixel_size is the row size"
            )
    else:
        pixel_size, pixel_units = 1.0, "px"

    chosen = f"{file.name}: " + "; ".join(notes)
    logger.info("%s", chosen)
    metadata: dict[str, Any] = {
        "source": str(file),
        "format": raw.metadata.get("format", suffix),
        "chosen": chosen,
        "notes": notes,
        "overview_source": overview_source,
        "overview_title": image.title,
        "instrument": raw.metadata.get("instrument"),
        "beam_energy_kev": raw.metadata.get("beam_energy_kev"),
    }
    for key, value in raw.metadata.items():
        metadata.setdefault(key, value)
    if spatial > 1 or spectral > 1:
        metadata["downsample"] = spatial
        metadata["rebin_energy"] = spectral
    try:
        return SpectrumImage(
            overview=overview_data,
            spectra=spectra,
            energy=energy,
            signal_kind=kind,
            pixel_size=pixel_size,
            pixel_units=pixel_units,
            metadata=metadata,
        )
    except DataError as exc:
        raise DataError(f"cannot use {file}: {exc}") from exc
