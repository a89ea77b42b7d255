"""Nanonis SPM controller adapter (SPECS): topography overview, tip moves, a bias sweep per point.

**Untried on hardware.** Written from SPECS' public ``nanonis_spm`` package (PyPI,
1.0.9: its ``NanonisClass`` docstrings and its ``Example_BiasSpectroscopy``) and
tested against :mod:`steerscope.testing.fake_nanonis`, a fake of those calls. Try it
first on one known feature of a real frame (docs/spm.md says how).

Exposed with ``steerscope serve --driver nanonis --option host=... --option
port=6501``; the package is imported only when :meth:`NanonisMicroscope.connect` runs.

Calls used; every one returns ``(error text, raw response, values)``, and a
non-empty error text raises :class:`~steerscope.errors.InstrumentError`:

* frame: ``Scan.FrameGet`` → centre ``X, Y`` (m), width, height (m), angle (deg,
  positive *clockwise*); ``Y`` points up on the sample.
* overview: ``Scan.FrameDataGrab(channel, 1)`` → the last frame of a scan-buffer
  channel (the first recorded one unless told), ``lines × pixels`` as scanned. An
  up-scan begins at the bottom of the frame; its rows are flipped so that row 0 is
  the top, as every steerscope overview is.
* tip: ``FolMe.XYPosSet(X, Y, 1)`` moves the tip (metres) and waits for the end of
  the move, at the Follow Me speed set on the controller.
* curve: ``BiasSpectr.Open`` once, then ``BiasSpectr.Start(1, "")`` runs the Bias
  Spectroscopy module as configured on the controller (channels, sweep, timing) and
  returns one data row per channel. The bias axis is the row named ``Bias calc (V)``
  (or ``Bias (V)``); the curve is the row named by ``signal`` (default the lock-in's
  ``LI Demod 1 X (A)``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import InstrumentError
from steerscope.instruments.drivers._acquire import check_inside, pixel_points
from steerscope.instruments.drivers.frames import ScanFrame
from steerscope.instruments.registry import DriverInfo, register_driver
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

__all__ = ["NanonisMicroscope"]

DEFAULT_PORT = 6501
"""The Nanonis controller's first TCP programming-interface port."""

_BIAS_NAMES = ("Bias calc (V)", "Bias (V)")


def _values(result: Any, call: str) -> list[Any]:
    """The values of a ``nanonis_spm`` call's ``(error, raw, values)``, or raise its error."""
    if not isinstance(result, tuple | list) or len(result) < 3:
        raise InstrumentError(f"Nanonis {call} returned no data (is the controller reachable?)")
    error, _, values = result[0], result[1], result[2]
    if error:
        raise InstrumentError(f"Nanonis {call} failed: {str(error).strip()}")
    return list(values)


class NanonisMicroscope:
    """A :class:`~steerscope.instruments.base.Microscope` over a Nanonis SPM controller.

    Parameters
    ----------
    client : nanonis_spm.Nanonis
        A client on an open connection (or :mod:`~steerscope.testing.fake_nanonis`'s).
    signal : str
        Bias-spectroscopy channel that is the curve, e.g. ``"LI Demod 1 X (A)"``
        (dI/dV from the lock-in) or ``"Current (A)"``.
    topography_channel : int or None
        Scan-buffer channel index of the overview (``Scan.BufferGet`` lists them);
        None takes the first recorded channel.
    """

    def __init__(
        self,
        client: Any,
        *,
        signal: str = "LI Demod 1 X (A)",
        topography_channel: int | None = None,
    ) -> None:
        self.client = client
        self.signal = str(signal)
        self.topography_channel = None if topography_channel is None else int(topography_channel)
        self._frame: ScanFrame | None = None
        self._bias: EnergyAxis | None = None
        self._sweep_s = float("nan")
        self._module_open = False
        self._closed = False

    @classmethod
    def connect(
        cls,
        host: str = "localhost",
        port: int = DEFAULT_PORT,
        timeout_s: float = 30.0,
        **options: Any,
    ) -> NanonisMicroscope:
        """Open a TCP connection to the controller's programming interface and wrap it."""
        try:
            import nanonis_spm
        except ImportError as exc:
            raise InstrumentError(
                "the 'nanonis' driver needs SPECS' nanonis_spm package: pip install nanonis-spm "
                "on the computer that reaches the Nanonis controller"
            ) from exc
        try:
            connection = socket.create_connection((host, int(port)), timeout=float(timeout_s))
        except OSError as exc:
            raise InstrumentError(
                f"cannot reach the Nanonis controller at {host}:{port} ({exc}); check that the "
                "TCP programming interface is enabled (Nanonis: System > Options > TCP "
                "Programming Interface) and the port"
            ) from exc
        return cls(nanonis_spm.Nanonis(connection), **options)

    def _call(self, name: str, *args: Any) -> list[Any]:
        if self._closed:
            raise InstrumentError("the Nanonis microscope is closed; create a new one")
        return _values(getattr(self.client, name.replace(".", "_"))(*args), name)

    def overview(self) -> Overview:
        """The last frame of the topography channel, row 0 the top, pixel size in nm."""
        centre_x, centre_y, width_m, height_m, angle_deg = self._call("Scan.FrameGet")[:5]
        channel = self.topography_channel
        if channel is None:
            channel = int(self._call("Scan.BufferGet")[1][0])
        grabbed = self._call("Scan.FrameDataGrab", channel, 1)
        name, data, scanned_up = grabbed[1], np.asarray(grabbed[4], np.float32), bool(grabbed[5])
        if data.ndim != 2 or min(data.shape) < 2:
            raise InstrumentError(f"Nanonis returned no frame for channel {channel} ({name})")
        if scanned_up:
            data = data[::-1]
        lines, pixels = data.shape
        pixel_w_nm, pixel_h_nm = width_m * 1e9 / pixels, height_m * 1e9 / lines
        if not np.isclose(pixel_w_nm, pixel_h_nm, rtol=0.01):
            raise InstrumentError(
                f"the scan frame's pixels are not square ({pixel_w_nm:.4g} × {pixel_h_nm:.4g} "
                "nm); set pixels and lines in the frame's aspect ratio"
            )
        # steerscope's y points down the image, Nanonis' Y up: the centre flips sign, and a
        # clockwise angle seen with Y up is ScanFrame's rotation seen with y down
        self._frame = ScanFrame(
            shape=(lines, pixels),
            pixel_size=pixel_w_nm,
            rotation_rad=float(np.deg2rad(angle_deg)),
            center=(-centre_y * 1e9, centre_x * 1e9),
        )
        image = np.ascontiguousarray(data)
        return Overview(
            image=image,
            pixel_size=pixel_w_nm,
            pixel_units="nm",
            metadata={
                "driver": "nanonis",
                "channel": str(name),
                "frame_angle_deg": float(angle_deg),
                "scanned_up": scanned_up,
            },
        )

    def tip_positions(self, points: ArrayLike) -> NDArray[np.float64]:
        """``(row, col)`` overview pixels ``(n, 2)`` → tip ``(X, Y)`` in metres ``(n, 2)``."""
        if self._frame is None:
            raise InstrumentError(
                "acquire() needs an overview first: positions are pixels of the last frame; "
                "call overview()"
            )
        pts = pixel_points(points)
        check_inside(pts, self._frame.shape)
        yx_nm = self._frame.pixels_to_sample(pts)
        return np.column_stack([yx_nm[:, 1] * 1e-9, -yx_nm[:, 0] * 1e-9])

    def _sweep(self) -> tuple[NDArray[np.float64], EnergyAxis]:
        if not self._module_open:
            self._call("BiasSpectr.Open")
            self._module_open = True
        values = self._call("BiasSpectr.Start", 1, "")
        names, data = [str(n) for n in values[2]], np.asarray(values[5], dtype=np.float64)
        if self.signal not in names:
            raise InstrumentError(
                f"the bias spectroscopy records no {self.signal!r}; it records "
                f"{', '.join(names)}. Add the channel in the Bias Spectroscopy module or "
                "pass --option signal=NAME"
            )
        bias_name = next((n for n in _BIAS_NAMES if n in names), None)
        if bias_name is None:
            raise InstrumentError(f"the bias spectroscopy returned no bias channel: {names}")
        bias = data[names.index(bias_name)]
        if bias.size < 2 or bias[-1] == bias[0]:
            raise InstrumentError("the bias sweep has fewer than 2 distinct points")
        axis = EnergyAxis(
            size=int(bias.size),
            offset=float(bias[0]),
            scale=float((bias[-1] - bias[0]) / (bias.size - 1)),
            units="V",
        )
        return data[names.index(self.signal)], axis

    def acquire(self, points: ArrayLike) -> Measurement:
        """Move the tip to each point and run one bias sweep there."""
        positions = self.tip_positions(points)
        curves: list[NDArray[np.float64]] = []
        acquired_at = np.empty(positions.shape[0], dtype=np.float64)
        axis = self._bias
        started = time.monotonic()
        for i, (x_m, y_m) in enumerate(positions):
            self._call("FolMe.XYPosSet", float(x_m), float(y_m), 1)
            curve, sweep_axis = self._sweep()
            if axis is not None and sweep_axis != axis:
                raise InstrumentError(
                    f"the bias sweep changed during the campaign ({axis} → {sweep_axis}); keep "
                    "the Bias Spectroscopy settings fixed while steerscope runs"
                )
            axis = sweep_axis
            curves.append(curve)
            acquired_at[i] = time.time()
        if positions.shape[0]:
            self._sweep_s = (time.monotonic() - started) / positions.shape[0]
        self._bias = axis
        n_channels = axis.size if axis is not None else 1
        return Measurement(
            points=pixel_points(points),
            spectra=np.vstack(curves) if curves else np.zeros((0, n_channels)),
            energy=axis if axis is not None else EnergyAxis(1, 0.0, 1.0, "V"),
            signal_kind=SignalKind.STS,
            acquired_at=acquired_at,
            dwell_time_s=self._sweep_s if np.isfinite(self._sweep_s) else 1e-3,
            metadata={"driver": "nanonis", "tip_positions_m": positions.tolist()},
        )

    def describe(self) -> dict[str, Any]:
        """Driver name, the recorded signal, the frame and the bias axis once known."""
        frame = self._frame
        return {
            "driver": "nanonis",
            "signal_kind": "STS",
            "signal": self.signal,
            "topography_channel": self.topography_channel,
            "overview_shape": None if frame is None else list(frame.shape),
            "pixel_size_nm": None if frame is None else frame.pixel_size,
            "bias": None
            if self._bias is None
            else {"size": self._bias.size, "offset": self._bias.offset, "scale": self._bias.scale},
            "untried_on_hardware": True,
        }

    def close(self) -> None:
        """Close the connection (the tip stays where it is, under feedback). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.client.close()


@contextmanager
def _on_test_doubles() -> Iterator[tuple[NanonisMicroscope, bool]]:
    from steerscope.testing import beam_marker_sample, fake_nanonis, patched_modules

    with patched_modules() as patcher:
        spectra, topography = beam_marker_sample(8, 8, 16)
        module = fake_nanonis.install(patcher, spectra, topography)
        with closing(NanonisMicroscope(module.Nanonis(None))) as scope:
            yield scope, True


register_driver(
    DriverInfo(
        "nanonis",
        NanonisMicroscope.connect,
        "SPECS Nanonis SPM controller, untried on hardware (options host, port, signal, "
        "topography_channel)",
        _on_test_doubles,
    )
)
