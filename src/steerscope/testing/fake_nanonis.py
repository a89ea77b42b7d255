"""A faithful fake of the parts of SPECS' ``nanonis_spm`` package steerscope uses.

``nanonis_spm.Nanonis(connection)`` wraps a TCP socket to the Nanonis controller
(port 6501 by default). Every call returns ``(error text, raw response, values)``;
the error text is empty when the call succeeded. Only the calls steerscope's
adapter makes exist here, with their units and conventions (docs/spm.md):

* ``Scan_FrameGet()`` → values ``[centre X (m), centre Y (m), width (m), height (m),
  angle (deg, positive clockwise)]``; ``Y`` points *up* on the sample.
* ``Scan_BufferGet()`` → ``[n channels, channel indexes, pixels, lines]``.
* ``Scan_FrameDataGrab(channel, direction)`` → ``[name size, name, rows, cols, data,
  scan direction]`` where ``data`` is ``lines × pixels`` **as scanned**: an up-scan
  (direction 1) starts at the *bottom* of the frame, so its row 0 is the lowest line.
* ``FolMe_XYPosSet(X, Y, wait)`` moves the tip (metres); ``FolMe_XYPosGet(wait)``.
* ``BiasSpectr_Start(get_data, base_name)`` → ``[names size, n names, names, rows,
  cols, data, n params, params]``: one data *row* per channel, the swept bias first.

The sample is a ground-truth grid ``(H, W, C)`` over the frame: the curve comes from
the grid cell under the tip, found from the tip's ``X, Y`` by the fake's own
geometry, so a driver that converts pixels wrongly reads the wrong curve.

Install with :func:`install` (monkeypatches ``sys.modules``)::

    fake = install(monkeypatch, spectra, topography, angle_deg=30.0)
    client = fake.Nanonis(connection)
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from steerscope.testing._modules import ModulePatcher

__all__ = ["BIAS_CHANNEL", "SIGNAL_CHANNEL", "Nanonis", "install"]

BIAS_CHANNEL = "Bias calc (V)"
"""Name Nanonis gives the swept bias in a bias spectroscopy."""

SIGNAL_CHANNEL = "LI Demod 1 X (A)"
"""The lock-in's in-phase output: dI/dV, the usual STS signal."""

_BIAS_LOW_V, _BIAS_HIGH_V = -1.0, 1.0


@dataclass
class _Sample:
    spectra: np.ndarray  # (H, W, C)
    topography: np.ndarray  # (H, W), row 0 the top of the frame
    centre_m: tuple[float, float] = (1e-7, -2e-7)
    size_m: tuple[float, float] = (5e-8, 5e-8)  # (width, height)
    angle_deg: float = 0.0
    scan_up: bool = True
    tip_m: list[float] = field(default_factory=lambda: [1e-7, -2e-7])
    moves: list[tuple[float, float]] = field(default_factory=list)
    closed: bool = False


_STATE: dict[str, _Sample] = {}


def _ok(*values: Any) -> tuple[str, bytes, list[Any]]:
    return ("", b"", list(values))


def _failed(message: str) -> tuple[str, bytes, list[Any]]:
    return (message, b"", [])


class Nanonis:
    """The client class of ``nanonis_spm``, over the installed sample."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._sample = _STATE["sample"]

    def close(self) -> None:
        self._sample.closed = True
        if self.connection is not None:
            self.connection.close()

    def returnDebugInfo(self, displayInfo: int) -> None:
        del displayInfo

    def Scan_FrameGet(self) -> tuple[str, bytes, list[Any]]:
        s = self._sample
        return _ok(s.centre_m[0], s.centre_m[1], s.size_m[0], s.size_m[1], s.angle_deg)

    def Scan_BufferGet(self) -> tuple[str, bytes, list[Any]]:
        height, width = self._sample.topography.shape
        return _ok(2, [14, 0], width, height)

    def Scan_FrameDataGrab(self, Channel_index: int, Data_direction: int):
        s = self._sample
        if Channel_index not in (14, 0):
            return _failed(f"channel {Channel_index} is not in the scan buffer")
        data = s.topography[::-1] if s.scan_up else s.topography
        name = "Z (m)" if Channel_index == 14 else "Current (A)"
        rows, cols = data.shape
        return _ok(len(name), name, rows, cols, data.astype(np.float32), int(s.scan_up))

    def FolMe_XYPosSet(self, X_m: float, Y_m: float, Wait_end_of_move: int):
        del Wait_end_of_move
        self._sample.tip_m = [float(X_m), float(Y_m)]
        self._sample.moves.append((float(X_m), float(Y_m)))
        return _ok()

    def FolMe_XYPosGet(self, Wait_for_newest_data: int):
        del Wait_for_newest_data
        return _ok(*self._sample.tip_m)

    def BiasSpectr_Open(self) -> tuple[str, bytes, list[Any]]:
        return _ok()

    def BiasSpectr_Start(self, Get_data: int, Save_base_name: str):
        del Save_base_name
        cell = self._cell_under_tip()
        if cell is None:
            return _failed("the tip is outside the scan frame")
        curve = self._sample.spectra[cell]
        bias = np.linspace(_BIAS_LOW_V, _BIAS_HIGH_V, curve.size)
        current = np.cumsum(curve) * 1e-12
        names = [BIAS_CHANNEL, "Current (A)", SIGNAL_CHANNEL]
        data = np.vstack([bias, current, curve]).astype(np.float32)
        if not Get_data:
            return _ok(0, 0, [], 0, 0, np.zeros((0, 0)), 0, [])
        size = sum(4 + len(n) for n in names)
        return _ok(size, len(names), names, data.shape[0], data.shape[1], data, 0, [])

    def _cell_under_tip(self) -> tuple[int, int] | None:
        """The grid cell ``(row, col)`` under the tip, in the frame's own axes (Y up)."""
        s = self._sample
        dx = s.tip_m[0] - s.centre_m[0]
        dy = s.tip_m[1] - s.centre_m[1]
        alpha = np.deg2rad(s.angle_deg)  # clockwise frame rotation
        along = dx * np.cos(alpha) - dy * np.sin(alpha)  # along a scan line
        up = dx * np.sin(alpha) + dy * np.cos(alpha)  # towards the frame's top
        height, width = s.topography.shape
        col = int(np.floor((along / s.size_m[0] + 0.5) * width))
        row = int(np.floor((0.5 - up / s.size_m[1]) * height))
        if not (0 <= row < height and 0 <= col < width):
            return None
        return row, col


def install(
    monkeypatch: ModulePatcher,
    spectra: np.ndarray,
    topography: np.ndarray,
    *,
    angle_deg: float = 0.0,
    scan_up: bool = True,
) -> types.ModuleType:
    """Put the fake into ``sys.modules`` as ``nanonis_spm``; returns the module.

    Parameters
    ----------
    monkeypatch : ModulePatcher
    spectra : ndarray of shape (H, W, C)
        The curve at each cell of the frame (the dI/dV channel).
    topography : ndarray of shape (H, W)
        The frame's image, row 0 the top (largest ``Y``).
    angle_deg : float
        The scan frame's rotation, degrees, positive clockwise (Nanonis' convention).
    scan_up : bool
        Whether the last frame was scanned upwards (its data then start at the bottom).
    """
    sample = _Sample(np.asarray(spectra), np.asarray(topography), angle_deg=float(angle_deg))
    sample.scan_up = bool(scan_up)
    _STATE["sample"] = sample
    module = types.ModuleType("nanonis_spm")
    module.Nanonis = Nanonis  # type: ignore[attr-defined]
    module.sample = sample  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "nanonis_spm", module)
    return module
