"""What travels between a microscope server and its client: plain, serpent-friendly values.

Pyro5's serpent serializer carries only Python literals (dicts, lists, str,
numbers, bytes). This module turns the values of the ``Microscope`` protocol
into such literals and back. Arrays travel as raw bytes plus shape and dtype
(``{"__ndarray__": 1, "data": b"...", "shape": [...], "dtype": "<f4"}``); serpent
delivers bytes to the other side as ``{"data": <base64>, "encoding": "base64"}``,
which :func:`decode_array` reads with ``serpent.tobytes``.

Units, axis order and calibration are part of the payload itself, never left to
the client: points are ``(row, col)`` overview pixels (``"points_order":
"row_col"``), the energy axis carries offset, dispersion and units, and the
overview carries its pixel size and units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import serpent
from numpy.typing import NDArray

from steerscope.errors import InstrumentError
from steerscope.types import EnergyAxis, Measurement, Overview, SignalKind

__all__ = [
    "PROTOCOL",
    "decode_array",
    "decode_energy",
    "decode_measurement",
    "decode_overview",
    "encode_array",
    "encode_energy",
    "encode_measurement",
    "encode_overview",
    "to_wire_value",
]

PROTOCOL = "steerscope-wire/1"
"""Version tag carried by every overview and measurement payload."""

_ALLOWED_KINDS = "biuf"  # bool, signed and unsigned integers, floats: never objects


def encode_array(array: NDArray[Any]) -> dict[str, Any]:
    """Encode a numeric array as bytes plus shape and dtype.

    Parameters
    ----------
    array : ndarray of any shape
        Numeric (bool, integer or float) array.

    Returns
    -------
    dict
        ``{"__ndarray__": 1, "data": bytes, "shape": list[int], "dtype": str}``;
        ``dtype`` includes the byte order (e.g. ``"<f4"``).
    """
    arr = np.ascontiguousarray(array)
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise InstrumentError(
            f"only numeric arrays can travel to or from a microscope server; got dtype "
            f"{arr.dtype}. Convert the array to a float or integer dtype first."
        )
    return {
        "__ndarray__": 1,
        "data": arr.tobytes(),
        "shape": [int(n) for n in arr.shape],
        "dtype": arr.dtype.str,
    }


def decode_array(obj: Any) -> NDArray[Any]:
    """Decode what :func:`encode_array` produced (after a trip through serpent).

    Parameters
    ----------
    obj : dict
        The encoded array; ``obj["data"]`` may be ``bytes`` or serpent's base64 dict.

    Returns
    -------
    ndarray of shape ``obj["shape"]``
        A writable copy.
    """
    if not isinstance(obj, dict) or obj.get("__ndarray__") != 1:
        raise InstrumentError(
            f"expected an encoded array (a dict with '__ndarray__', 'data', 'shape', 'dtype'); "
            f"got {type(obj).__name__}. Are client and server the same steerscope version?"
        )
    try:
        dtype = np.dtype(str(obj["dtype"]))
        shape = tuple(int(n) for n in obj["shape"])
        raw = serpent.tobytes(obj["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InstrumentError(f"malformed encoded array from the microscope server: {exc}") from exc
    if dtype.kind not in _ALLOWED_KINDS:
        raise InstrumentError(f"refusing to decode an array of non-numeric dtype {dtype}")
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InstrumentError(
            f"encoded array holds {len(raw)} bytes but shape {shape} and dtype {dtype} need "
            f"{expected}; the message was truncated or corrupted."
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def to_wire_value(value: Any) -> Any:
    """Convert metadata to serpent-friendly literals (numpy scalars → Python, arrays → lists).

    Anything that is not a literal, a container of literals, a numpy value or an
    enum becomes its ``str``, so a driver's odd metadata can never break a call.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, SignalKind):
        return str(value.value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): to_wire_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire_value(v) for v in value]
    return str(value)


def encode_energy(energy: EnergyAxis) -> dict[str, Any]:
    """Encode an energy axis: ``size``, ``offset`` and ``scale`` (dispersion) in ``units``."""
    return {
        "size": int(energy.size),
        "offset": float(energy.offset),
        "scale": float(energy.scale),
        "units": energy.units,
    }


def decode_energy(obj: dict[str, Any]) -> EnergyAxis:
    """Decode what :func:`encode_energy` produced."""
    try:
        return EnergyAxis(
            size=int(obj["size"]),
            offset=float(obj["offset"]),
            scale=float(obj["scale"]),
            units=str(obj["units"]),
        )
    except (KeyError, TypeError) as exc:
        raise InstrumentError(
            f"malformed energy axis from the microscope server: {exc}; expected size, offset, "
            "scale and units"
        ) from exc


def _check_protocol(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("protocol") != PROTOCOL:
        got = obj.get("protocol") if isinstance(obj, dict) else type(obj).__name__
        raise InstrumentError(
            f"expected a {what} in protocol {PROTOCOL!r}; got {got!r}. Install the same "
            "steerscope version on the microscope PC and the workstation."
        )
    return obj


def encode_overview(overview: Overview) -> dict[str, Any]:
    """Encode an :class:`Overview` (image ``(H, W)`` float32, pixel size and units, metadata)."""
    return {
        "protocol": PROTOCOL,
        "image": encode_array(np.asarray(overview.image, dtype=np.float32)),
        "pixel_size": float(overview.pixel_size),
        "pixel_units": str(overview.pixel_units),
        "metadata": to_wire_value(dict(overview.metadata)),
    }


def decode_overview(obj: Any) -> Overview:
    """Decode what :func:`encode_overview` produced."""
    payload = _check_protocol(obj, "overview")
    image = decode_array(payload["image"])
    if image.ndim != 2:
        raise InstrumentError(
            f"the server sent an overview of shape {image.shape}; expected (H, W)"
        )
    return Overview(
        image=image.astype(np.float32, copy=False),
        pixel_size=float(payload["pixel_size"]),
        pixel_units=str(payload["pixel_units"]),
        metadata=dict(payload.get("metadata") or {}),
    )


def encode_measurement(measurement: Measurement) -> dict[str, Any]:
    """Encode a :class:`Measurement`: points ``(n, 2)`` as ``(row, col)``, spectra ``(n, C)``."""
    return {
        "protocol": PROTOCOL,
        "points_order": "row_col",
        "points": encode_array(np.asarray(measurement.points, dtype=np.int64)),
        "spectra": encode_array(np.asarray(measurement.spectra)),
        "energy": encode_energy(measurement.energy),
        "signal_kind": str(SignalKind(measurement.signal_kind).value),
        "acquired_at": encode_array(np.asarray(measurement.acquired_at, dtype=np.float64)),
        "dwell_time_s": float(measurement.dwell_time_s),
        "metadata": to_wire_value(dict(measurement.metadata)),
    }


def decode_measurement(obj: Any) -> Measurement:
    """Decode what :func:`encode_measurement` produced, checking shapes agree."""
    payload = _check_protocol(obj, "measurement")
    if payload.get("points_order") != "row_col":
        raise InstrumentError(
            f"the server sent points in order {payload.get('points_order')!r}; steerscope "
            "expects 'row_col'"
        )
    points = decode_array(payload["points"]).astype(np.int64, copy=False)
    spectra = decode_array(payload["spectra"])
    energy = decode_energy(payload["energy"])
    acquired_at = decode_array(payload["acquired_at"]).astype(np.float64, copy=False)
    n = points.shape[0] if points.ndim == 2 else -1
    if points.ndim != 2 or points.shape[1] != 2 or spectra.shape != (n, energy.size):
        raise InstrumentError(
            f"inconsistent measurement from the server: points {points.shape}, spectra "
            f"{spectra.shape}, energy axis of {energy.size} channels; expected (n, 2) and (n, C)"
        )
    if acquired_at.shape != (n,):
        raise InstrumentError(
            f"inconsistent measurement from the server: acquired_at {acquired_at.shape}, "
            f"expected ({n},)"
        )
    return Measurement(
        points=points,
        spectra=spectra,
        energy=energy,
        signal_kind=SignalKind(payload["signal_kind"]),
        acquired_at=acquired_at,
        dwell_time_s=float(payload["dwell_time_s"]),
        metadata=dict(payload.get("metadata") or {}),
    )
