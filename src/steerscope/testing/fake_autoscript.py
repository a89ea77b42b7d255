"""A faithful fake of the parts of ``autoscript_tem_microscope_client`` steerscope uses.

Only the calls steerscope's adapter makes exist (docs/live.md), with their units and
axis order: ``paused_scan_beam_position = [x, y]`` fractions with **x = column**;
``acquire_stem_image(...).data`` rows are ``y``; pixel size in metres; dispersion in
eV/channel. The sample is a ground-truth grid ``(H, W, C)``; the spectrum comes from
the grid cell under the beam, and a blanked beam gives zero counts.

Install with :func:`install` (monkeypatches ``sys.modules``)::

    fake = install(monkeypatch, spectra, haadf)
    client = fake.TemMicroscopeClient()
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from steerscope.testing._modules import ModulePatcher


class DetectorType(Enum):
    HAADF = "HAADF"
    BF = "BF"


class EdsDetectorType(Enum):
    SUPER_X = "SuperX"


class ExposureTimeType(Enum):
    LIVE_TIME = "LiveTime"
    REAL_TIME = "RealTime"


@dataclass
class Point:
    x: float
    y: float


class EdsAcquisitionSettings:
    def __init__(self) -> None:
        self.eds_detector: str | None = None
        self.dispersion: float | None = None
        self.shaping_time: float | None = None
        self.exposure_time: float | None = None
        self.exposure_time_type: ExposureTimeType | None = None


class StemAcquisitionSettings:  # imported by public code; unused here
    pass


@dataclass
class _Size:
    x: float
    y: float


@dataclass
class _BinaryResult:
    pixel_size: _Size


@dataclass
class _Metadata:
    binary_result: _BinaryResult


@dataclass
class AdornedImage:
    data: np.ndarray
    metadata: _Metadata


@dataclass
class _EdsSpectrum:
    data: np.ndarray


class _Blanker:
    def __init__(self, log: list[str]) -> None:
        self.is_beam_blanked = True
        self._log = log

    def blank(self) -> None:
        self.is_beam_blanked = True
        self._log.append("blank")

    def unblank(self) -> None:
        self.is_beam_blanked = False
        self._log.append("unblank")


class _Optics:
    def __init__(self, log: list[str]) -> None:
        self.blanker = _Blanker(log)
        self.scan_field_of_view = 100e-9
        self.scan_rotation = 0.0
        self._position = Point(0.5, 0.5)
        self._log = log

    @property
    def paused_scan_beam_position(self) -> Point:
        return self._position

    @paused_scan_beam_position.setter
    def paused_scan_beam_position(self, value: Any) -> None:
        if isinstance(value, Point):
            x, y = value.x, value.y
        else:
            x, y = value  # [x, y]; a tuple or list of two numbers
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"paused scan beam position must be fractional 0..1; got {value}")
        self._position = Point(float(x), float(y))
        self._log.append(f"park {x:.4f} {y:.4f}")


class _EdsDetector:
    dispersions = (2.5, 5.0, 10.0)  # eV/channel; the adapter picks the last
    shaping_times = (1e-6, 2e-6)


class _Detectors:
    eds_detectors = ("SuperX",)

    def get_eds_detector(self, name: str) -> _EdsDetector:
        if name not in self.eds_detectors:
            raise KeyError(name)
        return _EdsDetector()


class _Acquisition:
    def __init__(self, scope: TemMicroscopeClient) -> None:
        self._scope = scope

    def acquire_stem_image(
        self, scanning_detector: DetectorType, size: int, dwell_time: float
    ) -> AdornedImage:
        if scanning_detector is not DetectorType.HAADF:
            raise ValueError("only HAADF in this fake")
        sample = self._scope._sample
        h, w = sample.haadf.shape
        rows = (np.arange(size) * h // size).astype(int)
        cols = (np.arange(size) * w // size).astype(int)
        data = sample.haadf[np.ix_(rows, cols)].astype(np.float32)
        pixel_m = self._scope.optics.scan_field_of_view / size
        self._scope.log.append(f"stem image {size} {dwell_time}")
        return AdornedImage(data, _Metadata(_BinaryResult(_Size(pixel_m, pixel_m))))


class _Eds:
    def __init__(self, scope: TemMicroscopeClient) -> None:
        self._scope = scope

    def acquire_spectrum(self, settings: EdsAcquisitionSettings) -> _EdsSpectrum:
        if settings.eds_detector is None or settings.dispersion is None:
            raise ValueError("EdsAcquisitionSettings need eds_detector and dispersion")
        sample = self._scope._sample
        h, w = sample.haadf.shape
        pos = self._scope.optics.paused_scan_beam_position
        row = min(int(pos.y * h), h - 1)  # y is the row: the beam lands where [x, y] says
        col = min(int(pos.x * w), w - 1)
        spectrum = sample.spectra[row, col].astype(np.float64)
        if self._scope.optics.blanker.is_beam_blanked:
            spectrum = np.zeros_like(spectrum)
        self._scope.log.append(f"eds {row} {col}")
        # Super-X: four detector segments of a quarter of the counts each
        return _EdsSpectrum(np.tile(spectrum / 4.0, (4, 1)))


class _Analysis:
    def __init__(self, scope: TemMicroscopeClient) -> None:
        self.eds = _Eds(scope)


@dataclass
class _Sample:
    spectra: np.ndarray  # (H, W, C)
    haadf: np.ndarray  # (H, W)


@dataclass
class _State:
    sample: _Sample | None = None
    clients: list[TemMicroscopeClient] = field(default_factory=list)


_STATE = _State()


class TemMicroscopeClient:
    def __init__(self) -> None:
        if _STATE.sample is None:
            raise RuntimeError("install() the fake with a sample first")
        self._sample = _STATE.sample
        self.log: list[str] = []
        self.optics = _Optics(self.log)
        self.detectors = _Detectors()
        self.acquisition = _Acquisition(self)
        self.analysis = _Analysis(self)
        self.connected_to: tuple[str, int] | None = None
        _STATE.clients.append(self)

    def connect(self, host: str = "localhost", port: int = 9095) -> None:
        self.connected_to = (host, port)

    def disconnect(self) -> None:
        self.connected_to = None


def install(monkeypatch: ModulePatcher, spectra: np.ndarray, haadf: np.ndarray) -> types.ModuleType:
    """Put the fake into ``sys.modules`` as ``autoscript_tem_microscope_client`` (+ submodules)."""
    _STATE.sample = _Sample(np.asarray(spectra), np.asarray(haadf))
    _STATE.clients.clear()
    root = types.ModuleType("autoscript_tem_microscope_client")
    enumerations = types.ModuleType("autoscript_tem_microscope_client.enumerations")
    structures = types.ModuleType("autoscript_tem_microscope_client.structures")
    root.TemMicroscopeClient = TemMicroscopeClient  # type: ignore[attr-defined]
    root.enumerations = enumerations  # type: ignore[attr-defined]
    root.structures = structures  # type: ignore[attr-defined]
    root.clients = _STATE.clients  # type: ignore[attr-defined]
    for name, obj in {
        "DetectorType": DetectorType,
        "EdsDetectorType": EdsDetectorType,
        "ExposureTimeType": ExposureTimeType,
    }.items():
        setattr(enumerations, name, obj)
    for name, kind in {
        "EdsAcquisitionSettings": EdsAcquisitionSettings,
        "StemAcquisitionSettings": StemAcquisitionSettings,
        "Point": Point,
        "AdornedImage": AdornedImage,
    }.items():
        setattr(structures, name, kind)
    monkeypatch.setitem(sys.modules, "autoscript_tem_microscope_client", root)
    monkeypatch.setitem(sys.modules, "autoscript_tem_microscope_client.enumerations", enumerations)
    monkeypatch.setitem(sys.modules, "autoscript_tem_microscope_client.structures", structures)
    return root
