"""Nion Swift adapter (``nionswift-instrumentation``): HAADF scan overview, parked probe, EELS.

Runs where Nion Swift's instrumentation runs (inside Swift, or headless with the
``nionswift-usim`` simulator, as the tests do) and is exposed with
``steerscope serve --driver nion``. ``nion.*`` modules are imported lazily.

* overview: ``scan.record_immediate(frame_parameters)`` with the chosen size
  ``(H, W)`` and pixel time (µs); the first channel (HAADF) is returned.
* park: ``stem.probe_position = Geometry.FloatPoint(y=..., x=...)`` — fractions
  with origin top-left, **(y, x) order**, relative to the controller's *scan
  context* (the last view scan). The scan is stopped first (the probe can be
  parked only when ``stem.probe_state == "parked"``).
* EELS: ``eels.start_playing(fp)``; per point: move the probe, discard one frame
  (``grab_next_to_start()``), then ``grab_next_to_finish()[-1]`` is the summed 1-D
  spectrum; calibration from ``dimensional_calibrations[-1]`` (offset eV, scale
  eV/channel); ``eels.stop_playing()`` after the batch.
* blank: ``stem.SetVal("C_Blank", 1.0 / 0.0)``.

The scan context need not be the overview's scan: a ``record_immediate`` does
not change it, and the operator may change rotation or field of view. Overview
pixels therefore go through sample coordinates (nm): overview pixel → nm on the
sample (overview's size, field of view, centre, rotation) → fraction of the scan
context. Nion's field of view ``fov_nm`` spans the longer side of the scan, so
pixels are square with size ``fov_nm / max(H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
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
from steerscope.instruments.drivers.frames import ScanFrame
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.types import CameraFrame, EnergyAxis, Measurement, Overview, SignalKind

__all__ = ["NionMicroscope", "nion_scan_frame"]


def nion_scan_frame(
    size: tuple[int, int], fov_nm: float, center_nm: tuple[float, float], rotation_rad: float
) -> ScanFrame:
    """The :class:`ScanFrame` of a Nion scan: ``size`` ``(H, W)``, ``fov_nm`` of the longer side.

    ``center_nm`` is ``(y, x)``. Pixel size is ``fov_nm / max(H, W)`` nm.
    """
    height, width = int(size[0]), int(size[1])
    return ScanFrame(
        shape=(height, width),
        pixel_size=float(fov_nm) / max(height, width),
        rotation_rad=float(rotation_rad),
        center=(float(center_nm[0]), float(center_nm[1])),
    )


def _registered_stem() -> Any:
    """The ``stem_controller`` Nion Swift (or nionswift-usim) registered.

    Raises
    ------
    InstrumentError
        Without nionswift-instrumentation, or when no controller is registered.
    """
    try:
        from nion.utils import Registry
    except ImportError as exc:
        raise InstrumentError(
            "the 'nion' driver needs nionswift-instrumentation: pip install "
            "'steerscope[nion]' (inside Nion Swift's Python environment)"
        ) from exc
    stem = Registry.get_component("stem_controller")
    if stem is None:
        raise InstrumentError(
            "no Nion STEM controller is registered; run inside Nion Swift with the "
            "instrument plug-in loaded (or the nionswift-usim simulator)"
        )
    return stem


class NionMicroscope:
    """A :class:`~steerscope.instruments.base.Microscope` over Nion's STEM controller.

    Parameters
    ----------
    stem : STEMController
        ``Registry.get_component("stem_controller")`` (or the usim instrument).
    scan : ScanHardwareSource, optional
        Defaults to ``stem.scan_controller``.
    eels : CameraHardwareSource, optional
        Defaults to ``stem.eels_camera``.
    overview_size : (int, int)
        ``(H, W)`` of the overview scan.
    pixel_time_us : float
        Overview dwell per pixel, microseconds.
    fov_nm : float or None
        Overview field of view (longer side), nm; ``None`` keeps the current one.
    exposure_ms : float
        EELS exposure per frame, milliseconds.
    blank_between : bool
        Blank the beam (``C_Blank``) after each batch and unblank before it.
    timeout_s : float
        Longest wait for one EELS frame.
    """

    def __init__(
        self,
        stem: Any,
        scan: Any = None,
        eels: Any = None,
        *,
        overview_size: tuple[int, int] = (256, 256),
        pixel_time_us: float = 2.0,
        fov_nm: float | None = None,
        exposure_ms: float = 10.0,
        blank_between: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.stem = stem
        self.scan = scan if scan is not None else stem.scan_controller
        self.eels = eels if eels is not None else stem.eels_camera
        if self.scan is None or self.eels is None:
            raise InstrumentError(
                "the Nion STEM controller has no "
                + ("scan controller" if self.scan is None else "EELS camera")
                + "; check that the scan and EELS camera devices are registered in Nion Swift"
            )
        self.overview_size = (int(overview_size[0]), int(overview_size[1]))
        self.pixel_time_us = float(pixel_time_us)
        self.fov_nm = None if fov_nm is None else float(fov_nm)
        self.exposure_ms = float(exposure_ms)
        self.blank_between = bool(blank_between)
        self.timeout_s = float(timeout_s)
        self.frame_: ScanFrame | None = None
        self._closed = False

    @classmethod
    def from_registry(cls, **options: Any) -> NionMicroscope:
        """Build from the components Nion Swift registered (``stem_controller``)."""
        return cls(_registered_stem(), **options)

    @property
    def dwell_time_s(self) -> float:
        """EELS exposure per spectrum, seconds."""
        return self.exposure_ms / 1000.0

    def set_dwell(self, seconds: float) -> None:
        """Take the next spectra with an EELS exposure of ``seconds`` (``policy.dwell``)."""
        self.exposure_ms = checked_dwell(seconds) * 1000.0

    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("the Nion microscope is closed; create a new one")

    def overview(self) -> Overview:
        """Record one HAADF frame of ``overview_size`` and remember its geometry."""
        self._check_open()
        from nion.utils import Geometry

        self._stop_scan()
        fp = self.scan.get_current_frame_parameters()
        fp.pixel_size = Geometry.IntSize(height=self.overview_size[0], width=self.overview_size[1])
        fp.pixel_time_us = self.pixel_time_us
        if self.fov_nm is not None:
            fp.fov_nm = self.fov_nm
        xdatas = self.scan.record_immediate(fp, sync_timeout=max(self.timeout_s, 30.0))
        xdata = next((x for x in xdatas if x is not None), None)
        if xdata is None:
            raise InstrumentError("the Nion scan returned no image; enable the HAADF channel")
        data = np.asarray(xdata.data, dtype=np.float32)
        center = Geometry.FloatPoint.make(fp.center_nm)
        self.frame_ = nion_scan_frame(
            (data.shape[0], data.shape[1]), float(fp.fov_nm), (center.y, center.x), fp.rotation_rad
        )
        calibration = xdata.dimensional_calibrations[-1]
        return Overview(
            image=data,
            pixel_size=float(calibration.scale),
            pixel_units=str(calibration.units) or "nm",
            metadata={
                "driver": "nion",
                "fov_nm": float(fp.fov_nm),
                "pixel_time_us": self.pixel_time_us,
                "rotation_rad": float(fp.rotation_rad),
                "center_nm": [center.y, center.x],
            },
        )

    def _stop_scan(self) -> None:
        if getattr(self.scan, "is_playing", False):
            self.scan.stop_playing(sync_timeout=self.timeout_s)

    def _context_frame(self) -> ScanFrame:
        """The frame ``probe_position`` refers to: the scan context, else the overview's."""
        assert self.frame_ is not None
        context = getattr(self.stem, "scan_context", None)
        size = getattr(context, "size", None)
        fov = getattr(context, "fov_nm", None)
        if context is None or not size or fov is None:
            return self.frame_
        center = context.center_nm
        return nion_scan_frame(
            (size.height, size.width),
            float(fov),
            (float(center.y), float(center.x)),
            float(context.rotation_rad or 0.0),
        )

    def probe_positions(self, points: ArrayLike) -> NDArray[np.float64]:
        """``(row, col)`` overview pixels ``(n, 2)`` → normalised probe ``(y, x)`` ``(n, 2)``."""
        if self.frame_ is None:
            raise InstrumentError(
                "acquire() needs an overview first: the probe position is converted from the "
                "overview's scan geometry; call overview()"
            )
        pts = np.asarray(points, dtype=np.int64)
        check_inside(pts, self.frame_.shape)
        return self.frame_.pixels_to_fractions_of(pts, self._context_frame())

    def acquire(self, points: ArrayLike) -> Measurement:
        """Park the probe at each point and read one EELS spectrum there."""
        self._check_open()
        from nion.utils import Geometry

        pts = pixel_points(points)
        positions = self.probe_positions(pts)
        if pts.shape[0] == 0:
            raise InstrumentError("acquire() needs at least one point")
        self._stop_scan()
        fp = self.eels.get_current_frame_parameters()
        fp.exposure_ms = self.exposure_ms
        spectra: list[NDArray[np.float64]] = []
        energy: EnergyAxis | None = None
        acquired_at = np.empty(pts.shape[0], dtype=np.float64)
        if self.blank_between:
            self.unblank()
        self.eels.start_playing(fp)
        try:
            for i, (y, x) in enumerate(positions):
                self.stem.probe_position = Geometry.FloatPoint(y=float(y), x=float(x))
                self.eels.grab_next_to_start(
                    timeout=self.timeout_s
                )  # discard: may predate the move
                xdata = self.eels.grab_next_to_finish(timeout=self.timeout_s)[-1]
                if xdata is None:
                    raise InstrumentError(
                        f"the EELS camera gave no frame within {self.timeout_s:g} s"
                    )
                spectrum = np.asarray(xdata.data, dtype=np.float64)
                if spectrum.ndim == 2:  # a full camera frame: sum the rows
                    spectrum = spectrum.sum(axis=0)
                cal = xdata.dimensional_calibrations[-1]
                units = str(cal.units) if str(cal.units) in ("eV", "keV") else "eV"
                energy_i = EnergyAxis(spectrum.size, float(cal.offset), float(cal.scale), units)
                energy = check_same_energy_axis(energy, energy_i)
                spectra.append(spectrum)
                acquired_at[i] = time.time()
        finally:
            self.eels.stop_playing(sync_timeout=self.timeout_s)
            if self.blank_between:
                self.blank()
        assert energy is not None
        return Measurement(
            points=pts,
            spectra=np.vstack(spectra),
            energy=energy,
            signal_kind=SignalKind.EELS,
            acquired_at=acquired_at,
            dwell_time_s=self.dwell_time_s,
            metadata={"driver": "nion", "probe_positions_yx": positions.tolist()},
        )

    def blank(self) -> None:
        """Blank the beam (``C_Blank`` = 1)."""
        self.stem.SetVal("C_Blank", 1.0)

    def unblank(self) -> None:
        """Unblank the beam (``C_Blank`` = 0)."""
        self.stem.SetVal("C_Blank", 0.0)

    def describe(self) -> dict[str, Any]:
        """Driver name, overview geometry, EELS settings."""
        frame = self.frame_
        return {
            "driver": "nion",
            "signal_kind": "EELS",
            "overview_shape": None if frame is None else list(frame.shape),
            "overview_pixel_size_nm": None if frame is None else frame.pixel_size,
            "pixel_time_us": self.pixel_time_us,
            "dwell_time_s": self.dwell_time_s,
            "exposure_ms": self.exposure_ms,
        }

    def close(self) -> None:
        """Stop the camera and scan, park the probe. Idempotent; the devices stay registered."""
        if self._closed:
            return
        self._closed = True
        if getattr(self.eels, "is_playing", False):
            self.eels.stop_playing(sync_timeout=self.timeout_s)
        self._stop_scan()


USIM_ABERRATIONS = {"C10": "C10Control", "C12.a": "C12Control.x", "C12.b": "C12Control.y"}
"""Tunable settings (Krivanek notation) and the nionswift-usim controls that hold them."""


class NionRonchigram:
    """A :class:`~steerscope.instruments.base.Tunable` over Nion's aberration controls.

    Sets probe aberration coefficients through the STEM controller
    (``SetValAndConfirm``) and records Ronchigrams with its Ronchigram camera. Tried
    on nionswift-usim only; on an instrument, ``controls`` names its controls.

    Parameters
    ----------
    stem : STEMController
        ``Registry.get_component("stem_controller")`` (or the usim instrument).
    controls : mapping of str to str
        Setting name → the controller's control (``"name.x"`` for one axis of a
        2-D control). Default: defocus and two-fold astigmatism on usim.
    binning : int
        Camera binning (usim's 2048² sensor binned by 8 gives 256² frames).
    exposure_ms : float
        Exposure per Ronchigram.
    timeout_s : float
        Longest wait for a control to settle or a frame to come.
    """

    def __init__(
        self,
        stem: Any,
        *,
        controls: Mapping[str, str] = USIM_ABERRATIONS,
        binning: int = 8,
        exposure_ms: float = 100.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.stem = stem
        camera = getattr(stem, "ronchigram_camera", None)
        if camera is None:
            raise InstrumentError(
                "the Nion STEM controller has no Ronchigram camera; check that it is "
                "registered in Nion Swift"
            )
        self.camera: Any = camera
        self.controls = dict(controls)
        self.timeout_s = float(timeout_s)
        self._closed = False
        parameters = self.camera.get_current_frame_parameters()
        parameters.binning = int(binning)
        parameters.exposure_ms = float(exposure_ms)
        self.camera.set_current_frame_parameters(parameters)
        self.binning, self.exposure_ms = int(binning), float(exposure_ms)

    @classmethod
    def from_registry(cls, **options: Any) -> NionRonchigram:
        """Build from the ``stem_controller`` Nion Swift registered."""
        return cls(_registered_stem(), **options)

    def _check(self, names: Any) -> None:
        if self._closed:
            raise InstrumentError("the Nion Ronchigram is closed; create a new one")
        unknown = sorted(set(names) - set(self.controls))
        if unknown:
            raise InstrumentError(
                f"no tunable setting {', '.join(unknown)}; this instrument tunes "
                f"{', '.join(self.controls)}"
            )

    def settings(self) -> dict[str, float]:
        """The current value of every tunable control, SI units."""
        self._check(())
        return {name: float(self.stem.GetVal(c)) for name, c in self.controls.items()}

    def apply(self, values: Mapping[str, float]) -> None:
        """Set the named controls (SI units) and wait until they are confirmed."""
        self._check(values)
        for name, value in values.items():
            if not self.stem.SetValAndConfirm(
                self.controls[name], float(value), 1.0, int(self.timeout_s * 1000)
            ):
                raise InstrumentError(f"the instrument did not confirm {name} = {value:g}")

    def frame(self) -> CameraFrame:
        """Record one Ronchigram begun after the last :meth:`apply`."""
        self._check(())
        if not self.camera.is_playing:
            self.camera.start_playing()
        xdata = self.camera.grab_next_to_start(timeout=self.timeout_s)[0]
        calibration = xdata.dimensional_calibrations[0]
        scale = {"rad": 1e3, "mrad": 1.0}.get(str(calibration.units))
        if scale is None:
            raise InstrumentError(
                f"the Ronchigram camera is calibrated in {calibration.units!r}, not in an angle"
            )
        return CameraFrame(
            np.asarray(xdata.data, dtype=np.float32),
            float(calibration.scale) * scale,
            self.settings(),
        )

    def describe(self) -> dict[str, Any]:
        """Driver, camera binning and exposure, and the controls tuned."""
        return {
            "driver": "nion-ronchigram",
            "controls": dict(self.controls),
            "binning": self.binning,
            "exposure_ms": self.exposure_ms,
        }

    def close(self) -> None:
        """Stop the Ronchigram camera. Idempotent; the settings stay where they are."""
        if self._closed:
            return
        self._closed = True
        if getattr(self.camera, "is_playing", False):
            self.camera.stop_playing(sync_timeout=self.timeout_s)


@contextmanager
def _on_test_doubles() -> Iterator[tuple[NionMicroscope, bool]]:
    from steerscope.testing.usim import usim_session  # ImportError without nionswift-usim

    with (
        usim_session(sample_index=0),
        closing(
            NionMicroscope.from_registry(overview_size=(24, 32), pixel_time_us=1.0, exposure_ms=2)
        ) as scope,
    ):
        yield scope, False


register_driver(
    DriverInfo(
        "nion",
        NionMicroscope.from_registry,
        "Nion Swift's STEM controller (inside Nion Swift, or beside nionswift-usim)",
        _on_test_doubles,
    )
)
