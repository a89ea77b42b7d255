"""A faithful fake of the parts of Gatan's ``DigitalMicrograph`` Python module steerscope uses.

DigiScan takes **DigiScan coordinates**, not pixels: ``DS_MoveBeamTo(ds_x, ds_y)``; the
acquired image's tags hold ``Horizontal/Vertical DS Offset``, ``Image Center`` and
``Spacing`` so that ``ds = (offset − center·spacing) + px·spacing``. ``GetNumArray()``
returns ``(rows, cols)``; the EELS camera image is ``(rows, channels)`` and calibrated
with ``GetDimensionCalibration(0, 0) -> (origin, scale, units)`` where energy =
``(i − origin)·scale``. Tag reads return ``(found, value)``.

Install with :func:`install` (monkeypatches ``sys.modules["DigitalMicrograph"]``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np

from steerscope.testing._modules import ModulePatcher

# DigiScan geometry of the fake: non-square steps and an offset, so pixels ≠ DS coordinates
H_OFFSET, H_CENTER, H_SPACING = 100.0, 5.0, 2.0
V_OFFSET, V_CENTER, V_SPACING = 50.0, 3.0, 4.0


class _TagGroup:
    def __init__(self, tags: dict[str, float]) -> None:
        self._tags = tags

    def GetTagAsFloat(self, path: str) -> tuple[bool, float]:
        if path in self._tags:
            return True, self._tags[path]
        return False, 0.0


class Py_Image:
    def __init__(
        self, array: np.ndarray, calibration: tuple[float, float, str], tags: dict
    ) -> None:
        self._array = array
        self._calibration = calibration
        self._tags = _TagGroup(tags)
        self.deleted = False

    def GetNumArray(self) -> np.ndarray:
        return self._array

    def GetTagGroup(self) -> _TagGroup:
        return self._tags

    def GetDimensionCalibration(self, dim: int, flags: int) -> tuple[float, float, str]:
        return self._calibration


class _Camera:
    def __init__(self, dm: _FakeDM) -> None:
        self._dm = dm
        self.prepared = False

    def PrepareForAcquire(self) -> None:
        self.prepared = True

    def CreateImageForAcquire(self, bin_x: int, bin_y: int, processing: int) -> Py_Image:
        return Py_Image(np.zeros((20, self._dm.spectra.shape[2])), self._dm.eels_calibration, {})

    def AcquireInPlace(self, image: Py_Image, exposure: float, *args: Any) -> None:
        if not self.prepared:
            raise RuntimeError("PrepareForAcquire first")
        dm = self._dm
        x, y = dm.beam_ds
        col = round((x - (H_OFFSET - H_CENTER * H_SPACING)) / H_SPACING)
        row = round((y - (V_OFFSET - V_CENTER * V_SPACING)) / V_SPACING)
        h, w = dm.spectra.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            raise RuntimeError(f"beam at DS ({x}, {y}) is off the scanned area")
        spectrum = dm.spectra[row, col] * (0.0 if dm.blanked else 1.0)
        image._array = np.tile(spectrum / 20.0, (20, 1))  # 20 detector rows, DM 100×20 → (20, 100)
        dm.log.append(f"eels {row} {col}")


class _Microscope:
    def __init__(self, dm: _FakeDM) -> None:
        self._dm = dm

    def HasBeamBlanker(self) -> bool:
        return True

    def SetBeamBlanked(self, blanked: bool) -> None:
        self._dm.blanked = bool(blanked)
        self._dm.log.append("blank" if blanked else "unblank")

    def GetBeamBlanked(self) -> bool:
        return self._dm.blanked


class _FakeDM:
    def __init__(self, spectra: np.ndarray, haadf: np.ndarray) -> None:
        self.spectra = spectra
        self.haadf = haadf
        self.eels_calibration = (40.0, 0.5, "eV")  # channel 0 at −20 eV, 0.5 eV/channel
        self.beam_ds = (0.0, 0.0)
        self.blanked = True
        self.log: list[str] = []
        self.params: dict[int, tuple] = {}
        self.images: dict[int, Py_Image] = {}
        self.deleted_images = 0

    # DigiScan
    def DS_CreateParameters(self, width, height, rotation, pixel_time, line_sync) -> int:
        pid = len(self.params) + 1
        self.params[pid] = (width, height, rotation, pixel_time, line_sync)
        return pid

    def DS_SetParametersSignal(self, pid, signal, data_type, selected, image_id) -> None:
        if pid not in self.params:
            raise RuntimeError("unknown parameter set")

    def DS_StartAcquisition(self, pid, continuous, synchronous) -> None:
        width, height, rotation, _, _ = self.params[pid]
        if (height, width) != self.haadf.shape:
            raise RuntimeError(f"fake scans {self.haadf.shape} only; asked {(height, width)}")
        tags = {
            "DigiScan:Horizontal DS Offset": H_OFFSET,
            "DigiScan:Horizontal Image Center": H_CENTER,
            "DigiScan:Horizontal Spacing": H_SPACING,
            "DigiScan:Vertical DS Offset": V_OFFSET,
            "DigiScan:Vertical Image Center": V_CENTER,
            "DigiScan:Vertical Spacing": V_SPACING,
        }
        self.images[7] = Py_Image(self.haadf.astype(np.float32), (0.0, 0.25, "nm"), tags)
        self.log.append(f"scan rotation={rotation}")

    def DS_GetAcquiredImageID(self, signal) -> int:
        return 7

    def DS_DeleteParameters(self, pid) -> None:
        del self.params[pid]

    def FindImageByID(self, image_id) -> Py_Image:
        return self.images[image_id]

    def DS_MoveBeamTo(self, x: float, y: float) -> None:
        self.beam_ds = (x, y)
        self.log.append(f"move {x:g} {y:g}")

    # camera, microscope, images
    def GetActiveCamera(self) -> _Camera:
        return _Camera(self)

    def Py_Microscope(self) -> _Microscope:
        return _Microscope(self)

    def DeleteImage(self, image: Py_Image) -> None:
        image.deleted = True
        self.deleted_images += 1


def install(monkeypatch: ModulePatcher, spectra: np.ndarray, haadf: np.ndarray) -> Any:
    """Put a fake ``DigitalMicrograph`` module into ``sys.modules``; return it."""
    state = _FakeDM(np.asarray(spectra, dtype=float), np.asarray(haadf))
    module = types.ModuleType("DigitalMicrograph")
    for name in dir(state):
        if name[:1].isupper():
            setattr(module, name, getattr(state, name))
    module.state = state  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "DigitalMicrograph", module)
    return module
