"""ThermoFisher AutoScript TEM adapter: HAADF overview, paused beam, EDX spectrum per point.

Runs on the microscope PC (or next to the AutoScript server) and is exposed with
``steerscope serve --driver autoscript``. The SDK (``autoscript_tem_microscope_client``,
not on PyPI) is imported only when :meth:`AutoScriptMicroscope.connect` runs.

Calls used (from public code, not tried on hardware; see docs/live.md):

* overview: ``acquisition.acquire_stem_image(scanning_detector=DetectorType.HAADF,
  size=..., dwell_time=...)`` → ``AdornedImage`` whose ``.data`` rows are ``y``; pixel
  size from ``.metadata.binary_result.pixel_size.x`` in metres.
* park: ``optics.paused_scan_beam_position = [x, y]``, fractions of the last scan,
  origin top-left, **x = column**. (Passing a row as ``x`` is a known bug of public
  notebooks; the conversion here is tested against it.)
* EDX: ``EdsAcquisitionSettings`` with the detector's last dispersion (eV/channel)
  and shaping time, then ``analysis.eds.acquire_spectrum(settings)``. Super-X data
  with several detector segments, shape ``(segments, C)``, are summed.
* blank: ``optics.blanker.blank()`` / ``.unblank()``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import InstrumentError
from steerscope.instruments.base import checked_dwell
from steerscope.instruments.drivers._acquire import check_inside, pixel_points
from steerscope.instruments.drivers.frames import ScanFrame, pixels_to_fractions
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

__all__ = ["AutoScriptMicroscope", "autoscript_to_pixels", "pixels_to_autoscript"]


def pixels_to_autoscript(points: ArrayLike, shape: tuple[int, int]) -> NDArray[np.float64]:
    """``(row, col)`` overview pixels ``(n, 2)`` → AutoScript ``[x, y]`` fractions ``(n, 2)``.

    ``x = (col + 0.5) / W`` and ``y = (row + 0.5) / H`` for an ``H × W`` scan.
    """
    frac_yx = pixels_to_fractions(points, shape)
    return frac_yx[:, ::-1].copy()


def autoscript_to_pixels(xy: ArrayLike, shape: tuple[int, int]) -> NDArray[np.int64]:
    """AutoScript ``[x, y]`` fractions ``(n, 2)`` → ``(row, col)`` pixels ``(n, 2)``."""
    arr = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    height, width = shape
    rows = np.clip(np.floor(arr[:, 1] * height), 0, height - 1)
    cols = np.clip(np.floor(arr[:, 0] * width), 0, width - 1)
    return np.column_stack([rows, cols]).astype(np.int64)


class AutoScriptMicroscope:
    """A :class:`~steerscope.instruments.base.Microscope` over an AutoScript TEM client.

    Parameters
    ----------
    client : TemMicroscopeClient
        A connected client (or a faithful fake of one, in tests).
    haadf_size : int
        Overview size in pixels (AutoScript scans are square presets: 256, 512, ...).
    haadf_dwell_s : float
        Overview dwell per pixel, seconds.
    eds_exposure_s : float
        EDX live time per spectrum, seconds.
    eds_detector_index : int
        Which of ``detectors.eds_detectors`` to use.
    energy_offset_ev : float
        Energy of channel 0; AutoScript's public code shows no offset, so it is set here.
    blank_between : bool
        Unblank just before each batch and blank right after it (also on failure).
    """

    def __init__(
        self,
        client: Any,
        *,
        haadf_size: int = 256,
        haadf_dwell_s: float = 1e-6,
        eds_exposure_s: float = 2.0,
        eds_detector_index: int = 0,
        energy_offset_ev: float = 0.0,
        blank_between: bool = True,
    ) -> None:
        self.client = client
        self.haadf_size = int(haadf_size)
        self.haadf_dwell_s = float(haadf_dwell_s)
        self.eds_exposure_s = float(eds_exposure_s)
        self.eds_detector_index = int(eds_detector_index)
        self.energy_offset_ev = float(energy_offset_ev)
        self.blank_between = bool(blank_between)
        self._frame: ScanFrame | None = None
        self._closed = False

    @classmethod
    def connect(
        cls, as_host: str = "localhost", as_port: int = 9095, **options: Any
    ) -> AutoScriptMicroscope:
        """Connect to the AutoScript server at ``as_host:as_port`` and wrap the client."""
        try:
            from autoscript_tem_microscope_client import TemMicroscopeClient
        except ImportError as exc:
            raise InstrumentError(
                "the 'autoscript' driver needs ThermoFisher's autoscript_tem_microscope_client "
                "package (installed with AutoScript on the microscope PC; it is not on PyPI)"
            ) from exc
        client = TemMicroscopeClient()
        client.connect(host=as_host, port=int(as_port))
        return cls(client, **options)

    @property
    def dwell_time_s(self) -> float:
        """Exposure (live time) per spectrum, seconds."""
        return self.eds_exposure_s

    def set_dwell(self, seconds: float) -> None:
        """Take the next spectra with an EDX live time of ``seconds`` (``policy.dwell``)."""
        self.eds_exposure_s = checked_dwell(seconds)

    def _sdk(self) -> tuple[Any, Any]:
        from autoscript_tem_microscope_client.enumerations import DetectorType, ExposureTimeType

        return DetectorType, ExposureTimeType

    def _scan_rotation(self) -> float:
        return float(getattr(self.client.optics, "scan_rotation", 0.0) or 0.0)

    def _check_open(self) -> None:
        if self._closed:
            raise InstrumentError("the AutoScript microscope is closed; create a new one")

    def overview(self) -> Overview:
        """Acquire a HAADF image; rows are ``y``, pixel size converted to nm."""
        self._check_open()
        detector_type, _ = self._sdk()
        image = self.client.acquisition.acquire_stem_image(
            scanning_detector=detector_type.HAADF,
            size=self.haadf_size,
            dwell_time=self.haadf_dwell_s,
        )
        data = np.asarray(image.data, dtype=np.float32)
        pixel_size_nm = float(image.metadata.binary_result.pixel_size.x) * 1e9
        self._frame = ScanFrame(
            shape=(int(data.shape[0]), int(data.shape[1])),
            pixel_size=pixel_size_nm,
            rotation_rad=self._scan_rotation(),
        )
        return Overview(
            image=data,
            pixel_size=pixel_size_nm,
            pixel_units="nm",
            metadata={
                "driver": "autoscript",
                "detector": "HAADF",
                "dwell_time_s": self.haadf_dwell_s,
                "scan_rotation_rad": self._frame.rotation_rad,
            },
        )

    def _beam_positions(self, points: NDArray[np.int64]) -> NDArray[np.float64]:
        """``(row, col)`` → ``[x, y]`` fractions of the current scan, ``(n, 2)``."""
        frame = self._frame
        if frame is None:
            raise InstrumentError(
                "acquire() needs an overview first: the beam position is a fraction of the "
                "last scan; call overview()"
            )
        check_inside(points, frame.shape)  # a fraction outside 0..1 would leave the scan
        rotation = self._scan_rotation()
        if abs(rotation - frame.rotation_rad) < 1e-9:
            return pixels_to_autoscript(points, frame.shape)
        current = ScanFrame(frame.shape, frame.pixel_size, rotation, frame.center)
        frac_yx = frame.pixels_to_fractions_of(points, current)
        return frac_yx[:, ::-1].copy()

    def _eds_settings(self) -> tuple[Any, float]:
        from autoscript_tem_microscope_client.structures import EdsAcquisitionSettings

        _, exposure_time_type = self._sdk()
        detectors = self.client.detectors
        name = detectors.eds_detectors[self.eds_detector_index]
        detector = detectors.get_eds_detector(name)
        settings = EdsAcquisitionSettings()
        settings.eds_detector = name
        settings.dispersion = detector.dispersions[-1]
        settings.shaping_time = detector.shaping_times[-1]
        settings.exposure_time = self.eds_exposure_s
        settings.exposure_time_type = exposure_time_type.LIVE_TIME
        return settings, float(settings.dispersion)

    def acquire(self, points: ArrayLike) -> Measurement:
        """Park the beam at each point (paused scan) and acquire an EDX spectrum there."""
        self._check_open()
        pts = pixel_points(points)
        positions = self._beam_positions(pts)
        settings, dispersion = self._eds_settings()
        spectra: list[NDArray[np.float64]] = []
        acquired_at = np.empty(pts.shape[0], dtype=np.float64)
        if self.blank_between and pts.shape[0]:
            self.unblank()
        try:
            for i, (x, y) in enumerate(positions):
                self.client.optics.paused_scan_beam_position = [float(x), float(y)]
                spectrum = self.client.analysis.eds.acquire_spectrum(settings)
                data = np.asarray(spectrum.data, dtype=np.float64)
                if data.ndim == 2:  # Super-X: one row per detector segment
                    data = data.sum(axis=0)
                spectra.append(data.ravel())
                acquired_at[i] = time.time()
        finally:
            if self.blank_between and pts.shape[0]:
                self.blank()
        sizes = {s.size for s in spectra}
        if len(sizes) > 1:
            raise InstrumentError(f"EDX spectra of different lengths came back: {sorted(sizes)}")
        n_channels = sizes.pop() if sizes else 0
        energy = EnergyAxis(
            size=max(n_channels, 1), offset=self.energy_offset_ev, scale=dispersion, units="eV"
        )
        stacked = np.vstack(spectra) if spectra else np.zeros((0, energy.size))
        return Measurement(
            points=pts,
            spectra=stacked,
            energy=energy,
            signal_kind=SignalKind.EDX,
            acquired_at=acquired_at,
            dwell_time_s=self.eds_exposure_s,
            metadata={"driver": "autoscript", "beam_positions_xy": positions.tolist()},
        )

    def blank(self) -> None:
        """Blank the beam (``optics.blanker.blank()``)."""
        self.client.optics.blanker.blank()

    def unblank(self) -> None:
        """Unblank the beam (``optics.blanker.unblank()``)."""
        self.client.optics.blanker.unblank()

    def describe(self) -> dict[str, Any]:
        """Driver name, overview settings and grid, EDX settings."""
        return {
            "driver": "autoscript",
            "signal_kind": "EDX",
            "haadf_size": self.haadf_size,
            "haadf_dwell_s": self.haadf_dwell_s,
            "dwell_time_s": self.eds_exposure_s,
            "eds_detector_index": self.eds_detector_index,
            "overview_shape": None if self._frame is None else list(self._frame.shape),
        }

    def close(self) -> None:
        """Blank the beam and disconnect. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.optics.blanker.blank()
        finally:
            self.client.disconnect()


@contextmanager
def _on_test_doubles() -> Iterator[tuple[AutoScriptMicroscope, bool]]:
    from steerscope.testing import beam_marker_sample, fake_autoscript, patched_modules

    with patched_modules() as patcher:
        fake_autoscript.install(patcher, *beam_marker_sample(8, 8, 16))
        with closing(AutoScriptMicroscope.connect(haadf_size=8, eds_exposure_s=0.1)) as scope:
            yield scope, True


register_driver(
    DriverInfo(
        "autoscript",
        AutoScriptMicroscope.connect,
        "ThermoFisher AutoScript TEM (options as_host, as_port, haadf_size, eds_exposure_s)",
        _on_test_doubles,
    )
)
