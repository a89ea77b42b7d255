"""Vendor adapters that implement :class:`~steerscope.instruments.base.Microscope` server-side.

Each adapter imports its vendor SDK lazily (inside the methods that need it), so
``import steerscope`` works on a machine without any of them.
"""

from steerscope.instruments.drivers.autoscript import (
    AutoScriptMicroscope,
    autoscript_to_pixels,
    pixels_to_autoscript,
)
from steerscope.instruments.drivers.frames import (
    ScanFrame,
    fractions_to_pixels,
    pixels_to_fractions,
)
from steerscope.instruments.drivers.gatan import DigiScanCalibration, GatanMicroscope
from steerscope.instruments.drivers.nion import NionMicroscope, nion_scan_frame

__all__ = [
    "AutoScriptMicroscope",
    "DigiScanCalibration",
    "GatanMicroscope",
    "NionMicroscope",
    "ScanFrame",
    "autoscript_to_pixels",
    "fractions_to_pixels",
    "nion_scan_frame",
    "pixels_to_autoscript",
    "pixels_to_fractions",
]
