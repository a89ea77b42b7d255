"""Gatan DigitalMicrograph adapter: DigiScan overview and beam positioning, EELS from the camera.

Runs *inside* Gatan Microscopy Suite's Python (``import DigitalMicrograph as DM``),
served by :func:`steerscope.instruments.server.serve`; see
:mod:`steerscope.instruments.drivers.gatan_server_script` for the script to run
in GMS. Only the ``DM`` calls listed in ``/work/shared/VENDOR-APIS.md`` are used;
none has been tried on hardware (docs/live.md).

Fixes the three defects of the public community server: the code compiles
(spaces only), pixels are converted to **DigiScan coordinates** before
``DS_MoveBeamTo`` (``ds = (offset − center·spacing) + px·spacing`` per axis, from the
overview's image tags), and every spectrum comes back **with its calibration**
(start energy and dispersion from ``GetDimensionCalibration``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import InstrumentError
from steerscope.instruments.base import checked_dwell
from steerscope.instruments.drivers._acquire import (
    check_inside,
    check_same_energy_axis,
    pixel_points,
)
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

__all__ = ["DigiScanCalibration", "GatanMicroscope"]

TAG_PREFIX = "DigiScan:"
"""Where DigiScan writes its geometry in an acquired image's tags [inferred path]."""


@dataclass(frozen=True)
class DigiScanCalibration:
    """Pixel ↔ DigiScan coordinates of one DigiScan image, from its tags.

    ``ds_x = (h_offset − h_center·h_spacing) + col·h_spacing`` and
    ``ds_y = (v_offset − v_center·v_spacing) + row·v_spacing``.
    """

    h_offset: float
    h_center: float
    h_spacing: float
    v_offset: float
    v_center: float
    v_spacing: float

    def pixels_to_ds(self, points: ArrayLike) -> NDArray[np.float64]:
        """``(row, col)`` pixels ``(n, 2)`` → DigiScan ``(x, y)`` ``(n, 2)`` (x = column)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        ds_x = (self.h_offset - self.h_center * self.h_spacing) + pts[:, 1] * self.h_spacing
        ds_y = (self.v_offset - self.v_center * self.v_spacing) + pts[:, 0] * self.v_spacing
        return np.column_stack([ds_x, ds_y])

    def ds_to_pixels(self, ds_xy: ArrayLike) -> NDArray[np.int64]:
        """DigiScan ``(x, y)`` ``(n, 2)`` → nearest ``(row, col)`` pixels ``(n, 2)``."""
        arr = np.asarray(ds_xy, dtype=np.float64).reshape(-1, 2)
        col = (arr[:, 0] - (self.h_offset - self.h_center * self.h_spacing)) / self.h_spacing
        row = (arr[:, 1] - (self.v_offset - self.v_center * self.v_spacing)) / self.v_spacing
        return np.rint(np.column_stack([row, col])).astype(np.int64)


def _tag(tags: Any, path: str) -> float:
    """Read a float tag; DM's Python returns ``(found, value)``."""
    result = tags.GetTagAsFloat(path)
    found, value = result if isinstance(result, tuple) else (result is not None, result)
    if not found:
        raise InstrumentError(
            f"the DigiScan image has no tag {path!r}, so pixels cannot be converted to DigiScan "
            "coordinates; acquire the overview with DigiScan (not a camera) and check the tags"
        )
    return float(value)


class GatanMicroscope:
    """A :class:`~steerscope.instruments.base.Microscope` inside Gatan Microscopy Suite.

    Parameters
    ----------
    dm : module, optional
        The ``DigitalMicrograph`` module; imported when omitted (only inside GMS).
    overview_size : (int, int)
        ``(H, W)`` of the DigiScan overview.
    pixel_time_us : float
        Overview dwell per pixel, microseconds (DigiScan's unit).
    rotation_deg : float
        DigiScan scan rotation, degrees; the DigiScan tags of the overview then hold
        the rotated frame [not tried on hardware].
    signal_index : int
        DigiScan signal (detector) of the HAADF.
    exposure_s : float
        EELS camera exposure per spectrum, seconds.
    binning : int
        Camera binning (both axes).
    processing : int
        Camera processing code passed to ``CreateImageForAcquire``/``AcquireInPlace``.
    blank_between : bool
        Unblank before each batch and blank after it, if the microscope has a blanker.
    """

    def __init__(
        self,
        dm: Any = None,
        *,
        overview_size: tuple[int, int] = (512, 512),
        pixel_time_us: float = 4.0,
        rotation_deg: float = 0.0,
        signal_index: int = 0,
        exposure_s: float = 0.1,
        binning: int = 1,
        processing: int = 3,
        blank_between: bool = True,
    ) -> None:
        if dm is None:
            try:
                import DigitalMicrograph  # only exists inside GMS
            except ImportError as exc:
                raise InstrumentError(
                    "the 'gatan' driver runs inside Gatan Microscopy Suite's Python, where "
                    "`import DigitalMicrograph` works; run gatan_server_script.py there "
                    "(see docs/live.md)"
                ) from exc
            dm = DigitalMicrograph
        self.dm = dm
        self.overview_size = (int(overview_size[0]), int(overview_size[1]))
        self.pixel_time_us = float(pixel_time_us)
        self.rotation_deg = float(rotation_deg)
        self.signal_index = int(signal_index)
        self.exposure_s = float(exposure_s)
        self.binning = int(binning)
        self.processing = int(processing)
        self.blank_between = bool(blank_between)
        self.calibration_: DigiScanCalibration | None = None
        self._overview_shape: tuple[int, int] | None = None
        self._closed = False

    @property
    def dwell_time_s(self) -> float:
        """EELS exposure per spectrum, seconds."""
        return self.exposure_s

    def set_dwell(self, seconds: float) -> None:
        """Take the next spectra with an EELS exposure of ``seconds`` (``policy.dwell``)."""
        self.exposure_s = checked_dwell(seconds)

    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("the Gatan microscope is closed; create a new one")

    def overview(self) -> Overview:
        """Acquire a DigiScan HAADF frame and read its DigiScan geometry from the tags."""
        self._check_open()
        dm = self.dm
        height, width = self.overview_size
        params = dm.DS_CreateParameters(width, height, self.rotation_deg, self.pixel_time_us, False)
        try:
            dm.DS_SetParametersSignal(params, self.signal_index, 4, True, 0)
            dm.DS_StartAcquisition(params, False, True)  # one frame, synchronous
            image = dm.FindImageByID(dm.DS_GetAcquiredImageID(self.signal_index))
        finally:
            dm.DS_DeleteParameters(params)
        data = np.asarray(image.GetNumArray(), dtype=np.float32)
        tags = image.GetTagGroup()
        self.calibration_ = DigiScanCalibration(
            h_offset=_tag(tags, TAG_PREFIX + "Horizontal DS Offset"),
            h_center=_tag(tags, TAG_PREFIX + "Horizontal Image Center"),
            h_spacing=_tag(tags, TAG_PREFIX + "Horizontal Spacing"),
            v_offset=_tag(tags, TAG_PREFIX + "Vertical DS Offset"),
            v_center=_tag(tags, TAG_PREFIX + "Vertical Image Center"),
            v_spacing=_tag(tags, TAG_PREFIX + "Vertical Spacing"),
        )
        _origin, scale, units = image.GetDimensionCalibration(0, 0)
        self._overview_shape = (int(data.shape[0]), int(data.shape[1]))
        return Overview(
            image=data,
            pixel_size=float(scale),
            pixel_units=str(units) or "nm",
            metadata={
                "driver": "gatan",
                "detector_signal": self.signal_index,
                "pixel_time_us": self.pixel_time_us,
                "rotation_deg": self.rotation_deg,
            },
        )

    def _blanker(self) -> Any | None:
        scope = self.dm.Py_Microscope()
        return scope if scope.HasBeamBlanker() else None

    def blank(self) -> None:
        """Blank the beam if the microscope has a blanker."""
        scope = self._blanker()
        if scope is not None:
            scope.SetBeamBlanked(True)

    def unblank(self) -> None:
        """Unblank the beam if the microscope has a blanker."""
        scope = self._blanker()
        if scope is not None:
            scope.SetBeamBlanked(False)

    def _read_spectrum(self, camera: Any) -> tuple[NDArray[np.float64], EnergyAxis]:
        """One EELS exposure, summed over rows, with its energy calibration."""
        image = camera.CreateImageForAcquire(self.binning, self.binning, self.processing)
        try:
            camera.AcquireInPlace(
                image, self.exposure_s, self.binning, self.binning, self.processing
            )
            frame = np.asarray(image.GetNumArray(), dtype=np.float64)  # (rows, channels)
            spectrum = frame.sum(axis=0) if frame.ndim == 2 else frame.ravel()
            origin, scale, units = image.GetDimensionCalibration(0, 0)
        finally:
            delete = getattr(self.dm, "DeleteImage", None)
            if delete is not None:
                delete(image)
        # DM calibrates channel i as (i − origin) · scale
        energy = EnergyAxis(
            size=int(spectrum.size),
            offset=-float(origin) * float(scale),
            scale=float(scale),
            units=str(units) if str(units) in ("eV", "keV") else "eV",
        )
        return spectrum, energy

    def acquire(self, points: ArrayLike) -> Measurement:
        """Move the beam (DigiScan coordinates) to each point and read an EELS spectrum."""
        self._check_open()
        pts = pixel_points(points)
        if self.calibration_ is None or self._overview_shape is None:
            raise InstrumentError(
                "acquire() needs an overview first: DigiScan coordinates come from the overview's "
                "tags; call overview()"
            )
        check_inside(pts, self._overview_shape)
        ds_xy = self.calibration_.pixels_to_ds(pts)
        camera = self.dm.GetActiveCamera()
        camera.PrepareForAcquire()
        spectra: list[NDArray[np.float64]] = []
        energy: EnergyAxis | None = None
        acquired_at = np.empty(pts.shape[0], dtype=np.float64)
        if self.blank_between and pts.shape[0]:
            self.unblank()
        try:
            for i, (x, y) in enumerate(ds_xy):
                self.dm.DS_MoveBeamTo(float(x), float(y))
                spectrum, energy_i = self._read_spectrum(camera)
                energy = check_same_energy_axis(energy, energy_i)
                spectra.append(spectrum)
                acquired_at[i] = time.time()
        finally:
            if self.blank_between and pts.shape[0]:
                self.blank()
        if energy is None:
            raise InstrumentError("acquire() needs at least one point")
        return Measurement(
            points=pts,
            spectra=np.vstack(spectra),
            energy=energy,
            signal_kind=SignalKind.EELS,
            acquired_at=acquired_at,
            dwell_time_s=self.exposure_s,
            metadata={"driver": "gatan", "ds_positions_xy": ds_xy.tolist()},
        )

    def describe(self) -> dict[str, Any]:
        """Driver name, overview settings and grid, EELS settings, DigiScan calibration."""
        return {
            "driver": "gatan",
            "signal_kind": "EELS",
            "overview_shape": None if self._overview_shape is None else list(self._overview_shape),
            "pixel_time_us": self.pixel_time_us,
            "rotation_deg": self.rotation_deg,
            "dwell_time_s": self.exposure_s,
            "binning": self.binning,
            "digiscan": None if self.calibration_ is None else vars(self.calibration_).copy(),
        }

    def close(self) -> None:
        """Blank the beam. Idempotent (GMS itself stays as it is)."""
        if not self._closed:
            self._closed = True
            self.blank()


@contextmanager
def _on_test_doubles() -> Iterator[tuple[GatanMicroscope, bool]]:
    from steerscope.testing import beam_marker_sample, fake_digitalmicrograph, patched_modules

    with patched_modules() as patcher:
        fake_digitalmicrograph.install(patcher, *beam_marker_sample(6, 10, 16))
        with closing(GatanMicroscope(overview_size=(6, 10), exposure_s=0.01)) as scope:
            yield scope, True


register_driver(
    DriverInfo(
        "gatan",
        GatanMicroscope,
        "Gatan DigitalMicrograph / DigiScan, inside GMS (see gatan_server_script.py)",
        _on_test_doubles,
    )
)
