"""Exports of a campaign record to HDF5 (h5py) and HyperSpy (``.hspy``, Zarr ``.zspy``) files.

HDF5 layout written by :func:`to_hdf5`::

    /                      attrs: application, schema_version, source_record, status,
                                  status_reason, instrument (JSON)
    /config                attrs: json (the campaign config)
    /overview/image        (H, W) float32; group attrs pixel_size, pixel_units, metadata (JSON)
    /measurements/points       (n, 2) int64, (row, col) overview pixels
    /measurements/spectra      (n, C) float64 raw counts
    /measurements/energy       (C,) float64; attrs size, offset, scale, units
    /measurements/acquired_at  (n,) float64 Unix time
    /measurements/steps        (n,) int64
    /measurements/decision_ids (n,) int64 (-1: no decision)
    /measurements/ids          (n,) int64
    /measurements/dwell_time_s (n,) float64
    /decisions, /interventions, /events   (k,) variable-length UTF-8 JSON strings, one per row
    /maps/step_<step>/<name>   (H, W) float32, every saved map
    /pareto                only for a multi-objective campaign (the record's "pareto" summary);
                           attrs ref_point (k,), reference_source, labels (JSON), scalarizer (JSON)
    /pareto/measurement_ids    (n,) int64, the measurements the rows below belong to
    /pareto/objectives         (n, k) float64, targets under the scalarizer in force (NaN: none)
    /pareto/front_mask         (n,) bool, True on the Pareto front of the measured points
    /pareto/steps              (s,) int64, steps completed
    /pareto/n_measured         (s,) int64, spectra measured after each of those steps
    /pareto/hypervolume        (s,) float64, hypervolume of the measured points after each
                               step, above the fixed ref_point
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from steerscope.errors import RecordError
from steerscope.records.files import written_whole
from steerscope.records.schema import APPLICATION_NAME, SCHEMA_VERSION, float_list
from steerscope.types import signal_axis_name

if TYPE_CHECKING:
    from steerscope.records.campaign_record import CampaignRecord

__all__ = ["HYPERSPY_EXPORTS", "to_hdf5", "to_hspy"]

HYPERSPY_EXPORTS = (".hspy", ".zspy")
"""Suffixes :func:`to_hspy` writes (HDF5 and Zarr)."""


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise RecordError(
            f"{path} already exists; replace it with overwrite=True (`--overwrite` on the "
            "command line) or choose another path"
        )
    if not path.parent.is_dir():
        raise RecordError(f"cannot export to {path}: the folder {path.parent} does not exist")


def _jsonable_decision(decision: Any) -> dict[str, Any]:
    return {
        "id": decision.id,
        "step": decision.step,
        "points": decision.points.tolist(),
        "predicted_mean": float_list(decision.predicted_mean),
        "predicted_var": float_list(decision.predicted_var),
        "acquisition_value": float_list(decision.acquisition_value),
        "model": decision.model,
        "scalarizer": decision.scalarizer,
        "policy": decision.policy,
        "timings": decision.timings,
        "created_at": decision.created_at,
    }


def to_hdf5(record: CampaignRecord, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``record`` to one HDF5 file (layout in this module's docstring).

    Parameters
    ----------
    record : CampaignRecord
        An open record.
    path : Path
        Destination ``.h5`` file.
    overwrite : bool
        Replace an existing file at ``path``.

    Returns
    -------
    Path
        ``path``.
    """
    import h5py

    _refuse_existing(path, overwrite)
    measured = record.measurements()
    overview = record.overview()
    status = record.status()
    text = h5py.string_dtype(encoding="utf-8")
    with written_whole(path) as (partial,), h5py.File(partial, "w") as h5:
        h5.attrs["application"] = APPLICATION_NAME
        h5.attrs["schema_version"] = SCHEMA_VERSION
        h5.attrs["source_record"] = str(record.path)
        h5.attrs["status"] = status.status
        h5.attrs["status_reason"] = status.reason
        h5.attrs["instrument"] = json.dumps(record.instrument())
        h5.create_group("config").attrs["json"] = json.dumps(record.config())

        group = h5.create_group("overview")
        group.create_dataset("image", data=np.asarray(overview.image, dtype=np.float32))
        group.attrs["pixel_size"] = overview.pixel_size
        group.attrs["pixel_units"] = overview.pixel_units
        group.attrs["metadata"] = json.dumps(overview.metadata, default=str)

        group = h5.create_group("measurements")
        group.create_dataset("points", data=measured.points)
        group.create_dataset("spectra", data=measured.spectra, compression="gzip")
        energy = group.create_dataset(
            "energy",
            data=np.zeros(0) if measured.energy is None else measured.energy.values,
        )
        if measured.energy is not None:
            energy.attrs["size"] = measured.energy.size
            energy.attrs["offset"] = measured.energy.offset
            energy.attrs["scale"] = measured.energy.scale
            energy.attrs["units"] = measured.energy.units
        if measured.signal_kind is not None:
            group.attrs["signal_kind"] = measured.signal_kind.value
        group.create_dataset("acquired_at", data=measured.acquired_at)
        group.create_dataset("steps", data=measured.steps)
        group.create_dataset("decision_ids", data=measured.decision_ids)
        group.create_dataset("ids", data=measured.ids)
        group.create_dataset("dwell_time_s", data=measured.dwell_time_s)

        decisions = [json.dumps(_jsonable_decision(d)) for d in record.decisions()]
        h5.create_dataset("decisions", data=np.array(decisions, dtype=object), dtype=text)
        interventions = [json.dumps(asdict(i)) for i in record.interventions()]
        h5.create_dataset("interventions", data=np.array(interventions, dtype=object), dtype=text)
        events = [json.dumps(asdict(e)) for e in record.events()]
        h5.create_dataset("events", data=np.array(events, dtype=object), dtype=text)

        maps_group = h5.create_group("maps")
        for step in record.map_steps():
            step_group = maps_group.create_group(f"step_{step:06d}")
            step_group.attrs["step"] = step
            for name, array in record.maps(step).items():
                step_group.create_dataset(name, data=array)
        pareto = record.summary("pareto")
        if pareto:
            _write_pareto(h5.create_group("pareto"), pareto)
    return path


def _floats(values: Any, ndim: int) -> np.ndarray:
    """JSON numbers (None for NaN) as a float64 array: ``(n,)`` for ``ndim`` 1, ``(n, k)`` for 2."""
    if ndim == 1:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)


def _write_pareto(group: Any, pareto: dict[str, Any]) -> None:
    """Fill the ``/pareto`` group from the record's ``"pareto"`` summary (see module doc)."""
    objectives = pareto.get("objectives") or []
    k = len(pareto.get("ref_point") or [])
    Y = _floats(objectives, 2) if objectives else np.zeros((0, k))
    group.attrs["ref_point"] = _floats(pareto.get("ref_point") or [], 1)
    group.attrs["reference_source"] = str(pareto.get("reference_source", ""))
    group.attrs["labels"] = json.dumps(pareto.get("labels") or [])
    group.attrs["scalarizer"] = json.dumps(pareto.get("scalarizer") or {})
    group.create_dataset(
        "measurement_ids", data=np.asarray(pareto.get("measurement_ids") or [], dtype=np.int64)
    )
    group.create_dataset("objectives", data=Y)
    group.create_dataset("front_mask", data=np.asarray(pareto.get("front_mask") or [], dtype=bool))
    group.create_dataset("steps", data=np.asarray(pareto.get("steps") or [], dtype=np.int64))
    group.create_dataset(
        "n_measured", data=np.asarray(pareto.get("n_measured") or [], dtype=np.int64)
    )
    group.create_dataset("hypervolume", data=_floats(pareto.get("hypervolume") or [], 1))


def to_hspy(record: CampaignRecord, path: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the measured spectra and the overview as two HyperSpy files.

    The format follows the suffix: ``.hspy`` (HDF5) or ``.zspy`` (HyperSpy's
    Zarr store, a folder; chunked, for data read piecewise or from object
    storage); any other suffix gets ``.hspy`` added. A HyperSpy file holds one
    signal, so two are written:

    - ``path``: the spectra as a 1-D signal stack, navigation axis
      ``measurement`` (length ``n``), signal axis the energy axis. It is an
      ``EELSSpectrum`` or ``EDSTEMSpectrum`` (exspy) when the record says EELS
      or EDX. ``metadata.Steerscope`` holds ``points`` ``(n, 2)``,
      ``acquired_at``, ``steps``, ``decision_ids``, ``ids``, ``dwell_time_s``
      and the source record path.
    - ``<stem>_overview.hspy`` (or ``.zspy``) next to it: the overview as a 2-D
      signal with the pixel size on both axes.

    Parameters
    ----------
    record : CampaignRecord
        An open record with at least one measurement.
    path : Path
        Destination of the spectra, ``*.hspy`` or ``*.zspy``.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        ``[spectra_path, overview_path]``.

    Raises
    ------
    RecordError
        If the record has no measurement yet, or a destination exists.
    """
    import hyperspy.api as hs

    suffix = path.suffix.lower()
    spectra_path = path if suffix in HYPERSPY_EXPORTS else path.with_name(path.name + ".hspy")
    overview_path = spectra_path.with_name(f"{spectra_path.stem}_overview{spectra_path.suffix}")
    for target in (spectra_path, overview_path):
        _refuse_existing(target, overwrite)
    measured = record.measurements()
    if len(measured) == 0 or measured.energy is None:
        raise RecordError(
            f"the record {record.path} holds no measurement yet; there are no spectra to "
            "export. Run at least one step first."
        )
    energy = measured.energy
    spectra = hs.signals.Signal1D(measured.spectra)
    navigation = spectra.axes_manager.navigation_axes[0]
    navigation.name = "measurement"
    signal_axis = spectra.axes_manager.signal_axes[0]
    signal_axis.offset = energy.offset
    signal_axis.scale = energy.scale
    signal_axis.units = energy.units
    if measured.signal_kind is not None:
        try:
            spectra.set_signal_type(measured.signal_kind.value)
        except Exception:  # exspy missing or not registered: keep a plain Signal1D
            spectra.set_signal_type("")
    signal_axis.name = signal_axis_name(measured.signal_kind, energy)
    spectra.metadata.General.title = f"steerscope measurements from {record.path.name}"
    spectra.metadata.set_item("Steerscope.source_record", str(record.path))
    spectra.metadata.set_item("Steerscope.points", measured.points)
    spectra.metadata.set_item("Steerscope.acquired_at", measured.acquired_at)
    spectra.metadata.set_item("Steerscope.steps", measured.steps)
    spectra.metadata.set_item("Steerscope.decision_ids", measured.decision_ids)
    spectra.metadata.set_item("Steerscope.ids", measured.ids)
    spectra.metadata.set_item("Steerscope.dwell_time_s", measured.dwell_time_s)

    overview = record.overview()
    image = hs.signals.Signal2D(np.asarray(overview.image, dtype=np.float32))
    for axis, name in zip(image.axes_manager.signal_axes, ("x", "y"), strict=True):
        axis.name = name
        axis.scale = overview.pixel_size
        axis.units = overview.pixel_units
    image.metadata.General.title = f"steerscope overview from {record.path.name}"
    image.metadata.set_item("Steerscope.source_record", str(record.path))
    with (
        written_whole(spectra_path, overview_path) as (spectra_partial, overview_partial),
        warnings.catch_warnings(),
    ):
        # RosettaSciIO writes .zspy through zarr 2's NestedDirectoryStore; nothing to act on
        warnings.filterwarnings(
            "ignore", "The NestedDirectoryStore is deprecated", FutureWarning, "rsciio"
        )
        spectra.save(spectra_partial, overwrite=True)
        image.save(overview_partial, overwrite=True)
    return [spectra_path, overview_path]
