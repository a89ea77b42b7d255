"""Export of a campaign record as NeXus NXem (the NOMAD / pynxtools electron-microscopy schema).

Layout written by :func:`to_nxem` (h5py; every group carries its ``NX_class``)::

    /                               NXroot; attrs default, creator, creator_version
    /entry1                         NXentry
        definition                  "NXem"
        start_time, end_time        ISO 8601 with UTC offset: first and last spectrum
        experiment_description      the campaign's name and target, in words
        /sample                     NXsample: is_simulation, preparation_date, atom_types
        /measurement                NXem_measurement
            /instrument             NXem_instrument: name, fabrication (vendor, model),
                                    ebeam_column, programID (steerscope and its version)
            /event1                 NXem_event_data: start_time, end_time of the campaign
                /image1/image_2d    NXdata: the overview, real (H, W), axis_i / axis_j in nm
            /event2 ... /event<n+1> NXem_event_data, one per measured spectrum in the order
                                    measured: start_time, end_time (the dwell)
                /spectrum1/process/input/context
                                    the beam position in words (pixel and nm)
                /spectrum1/spectrum_0d
                                    NXdata: intensity (C) counts, axis_energy (C)
        /note1 ... /note5           NXnote, type application/json: the beam positions
                                    (row, col per spectrum, overview pixels), the config,
                                    the decisions, the interventions and the event log

The HDF5 export (:mod:`steerscope.records.export`) keeps everything the record
holds in steerscope's own layout; this one puts the data where NeXus tools
(NOMAD, pynxtools, h5web) look for them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from steerscope.errors import RecordError
from steerscope.records.export import _jsonable_decision
from steerscope.records.files import written_whole
from steerscope.types import signal_axis_name

if TYPE_CHECKING:
    from steerscope.records.campaign_record import CampaignRecord

__all__ = ["to_nxem"]

_VENDORS = {
    "nion": "Nion",
    "autoscript": "Thermo Fisher Scientific",
    "gatan": "Gatan",
    "simulator": "steerscope",
}

_PERIODIC_TABLE = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm "
    "Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U "
    "Np Pu Am Cm Bk Cf Es Fm Md No Lr"
)
_ELEMENTS = frozenset(_PERIODIC_TABLE.split())


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def _group(parent: Any, name: str, nx_class: str) -> Any:
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


def _check_atoms(atom_types: Sequence[str]) -> list[str]:
    atoms = [a.strip() for a in atom_types if a.strip()]
    unknown = [a for a in atoms if a not in _ELEMENTS]
    if not atoms or unknown:
        raise RecordError(
            "NXem needs the elements in the sample as symbols of the periodic table "
            f"(e.g. ['Au', 'Pd']); got {list(atom_types)!r}"
            + (f", of which {unknown} are not elements." if unknown else ".")
        )
    return atoms


def to_nxem(
    record: CampaignRecord,
    path: Path,
    *,
    atom_types: Sequence[str],
    preparation_date: date | datetime,
    is_simulation: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``record`` as a NeXus NXem file (layout in this module's docstring).

    Parameters
    ----------
    record : CampaignRecord
        An open record with at least one measurement.
    path : Path
        Destination, ``*.nxs`` (or ``.h5``/``.hdf5``).
    atom_types : sequence of str
        The elements in the sample (``["Au", "Pd", "Cu"]``): NXem requires them and
        the record does not know them.
    preparation_date : date or datetime
        When the sample was prepared (required by NXem); a date is taken at
        midnight UTC, a naive datetime as UTC.
    is_simulation : bool, optional
        Whether the sample is virtual. Default: True when the record's instrument
        is steerscope's simulator (pre-acquired or generated data), else False.
    overwrite : bool
        Replace an existing file at ``path``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RecordError
        If the record holds no measurement, ``atom_types`` are not elements, or
        ``path`` exists (without ``overwrite``).
    """
    import h5py

    import steerscope

    atoms = _check_atoms(atom_types)
    if path.exists() and not overwrite:
        raise RecordError(f"{path} exists; pass overwrite=True (--overwrite) to replace it.")
    measured = record.measurements()
    if len(measured) == 0 or measured.energy is None:
        raise RecordError(
            f"the record {record.path} holds no measurement yet; there are no spectra to "
            "export. Run at least one step first."
        )
    if isinstance(preparation_date, datetime):
        prepared = preparation_date
        if prepared.tzinfo is None:
            prepared = prepared.replace(tzinfo=UTC)
    else:
        prepared = datetime(
            preparation_date.year, preparation_date.month, preparation_date.day, tzinfo=UTC
        )
    instrument = record.instrument()
    driver = str(instrument.get("driver", "unknown"))
    if is_simulation is None:
        is_simulation = driver == "simulator"
    overview = record.overview()
    config = record.config()
    energy = measured.energy
    with written_whole(path) as (partial,), h5py.File(partial, "w") as h5:
        h5.attrs["NX_class"] = "NXroot"
        h5.attrs["default"] = "entry1"
        h5.attrs["creator"] = "steerscope"
        h5.attrs["creator_version"] = steerscope.__version__
        entry = _group(h5, "entry1", "NXentry")
        entry.attrs["default"] = "measurement"
        entry["definition"] = "NXem"
        entry["start_time"] = _iso(float(np.min(measured.acquired_at)))
        entry["end_time"] = _iso(float(np.max(measured.acquired_at)))
        scalarizer = config.get("scalarizer") or {}
        entry["experiment_description"] = (
            f"steerscope campaign {config.get('name', '')!r}: {len(measured)} spectra at "
            f"positions chosen by Bayesian optimisation of the target {json.dumps(scalarizer)}."
        )

        sample = _group(entry, "sample", "NXsample")
        sample["is_simulation"] = bool(is_simulation)
        sample["preparation_date"] = prepared.isoformat()
        sample["atom_types"] = ", ".join(atoms)

        measurement = _group(entry, "measurement", "NXem_measurement")
        microscope = _group(measurement, "instrument", "NXem_instrument")
        microscope["name"] = str(instrument.get("instrument") or driver)
        fabrication = _group(microscope, "fabrication", "NXfabrication")
        fabrication["vendor"] = _VENDORS.get(driver, driver)
        fabrication["model"] = str(instrument.get("model") or driver)
        _group(microscope, "ebeam_column", "NXebeam_column")
        program = _group(microscope, "program1", "NXprogram")
        program["program"] = "steerscope"
        program["program"].attrs["version"] = steerscope.__version__

        event = _group(measurement, "event1", "NXem_event_data")
        event["start_time"] = entry["start_time"][()]
        event["end_time"] = entry["end_time"][()]
        image = _group(_group(event, "image1", "NXimage"), "image_2d", "NXdata")
        image.attrs["signal"] = "real"
        image.attrs["axes"] = ["axis_j", "axis_i"]
        image.attrs["axis_j_indices"] = np.uint32(0)
        image.attrs["axis_i_indices"] = np.uint32(1)
        image["title"] = "Overview (HAADF)"
        image["real"] = np.asarray(overview.image, dtype=np.float32)
        image["real"].attrs["long_name"] = "Intensity (a.u.)"
        height, width = overview.image.shape
        for name, size, long_name in (("axis_j", height, "y"), ("axis_i", width, "x")):
            image[name] = np.arange(size, dtype=np.float64) * overview.pixel_size
            image[name].attrs["units"] = overview.pixel_units
            image[name].attrs["long_name"] = f"{long_name} ({overview.pixel_units})"

        kind = signal_axis_name(measured.signal_kind, measured.energy)
        label = measured.signal_kind.value if measured.signal_kind is not None else ""
        for i in range(len(measured)):
            row, col = (int(v) for v in measured.points[i])
            event = _group(measurement, f"event{i + 2}", "NXem_event_data")
            dwell = float(measured.dwell_time_s[i])
            started = float(measured.acquired_at[i]) - (dwell if np.isfinite(dwell) else 0.0)
            event["start_time"] = _iso(started)
            event["end_time"] = _iso(float(measured.acquired_at[i]))
            spectrum_group = _group(event, "spectrum1", "NXspectrum")
            process = _group(spectrum_group, "process", "NXprocess")
            source = _group(process, "input", "NXnote")
            source["type"] = "text/plain"
            source["file_name"] = str(record.path.name)
            source["checksum"] = ""
            source["algorithm"] = ""
            source["context"] = (
                f"measurement {i} (step {int(measured.steps[i])}): beam at overview pixel "
                f"row {row}, col {col} = y {row * overview.pixel_size:g}, x "
                f"{col * overview.pixel_size:g} {overview.pixel_units}"
            )
            process["detector_identifier"] = label or "spectrometer"
            spectrum = _group(spectrum_group, "spectrum_0d", "NXdata")
            spectrum.attrs["signal"] = "intensity"
            spectrum.attrs["axes"] = ["axis_energy"]
            spectrum.attrs["axis_energy_indices"] = np.uint32(0)
            spectrum["title"] = f"{label} spectrum at row {row}, col {col}"
            spectrum["intensity"] = measured.spectra[i]
            spectrum["intensity"].attrs["long_name"] = "Counts"
            spectrum["axis_energy"] = energy.values
            spectrum["axis_energy"].attrs["units"] = energy.units
            spectrum["axis_energy"].attrs["long_name"] = f"{kind} ({energy.units})"

        positions = {
            "description": "beam position of each spectrum, overview pixels (row, col)",
            "pixel_size": overview.pixel_size,
            "pixel_units": overview.pixel_units,
            "points": measured.points.tolist(),
            "steps": measured.steps.tolist(),
            "acquired_at": measured.acquired_at.tolist(),
            "dwell_time_s": measured.dwell_time_s.tolist(),
        }
        notes = [
            ("positions", positions),
            ("config", config),
            ("decisions", [_jsonable_decision(d) for d in record.decisions()]),
            ("interventions", [asdict(i) for i in record.interventions()]),
            ("events", [asdict(e) for e in record.events()]),
        ]
        for i, (what, value) in enumerate(notes, start=1):
            note = _group(entry, f"note{i}", "NXnote")
            note["type"] = "application/json"
            note["file_name"] = f"steerscope_{what}.json"
            note["data"] = np.bytes_(json.dumps(value, default=str).encode())
            note["description"] = f"steerscope {what}"
    return path
