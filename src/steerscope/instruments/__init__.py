"""Instruments: the ``Microscope`` protocol, the simulator, the network server/client, safety.

The campaign engine sees an instrument only through :class:`Microscope`. Vendor
adapters live in :mod:`steerscope.instruments.drivers` and import their SDKs lazily.
"""

from steerscope.instruments.base import Measurement, Microscope, Overview
from steerscope.instruments.client import RemoteMicroscope
from steerscope.instruments.faults import (
    FaultPlan,
    InstrumentDisconnectedError,
    InstrumentFaultError,
    InstrumentTimeoutError,
)
from steerscope.instruments.registry import (
    DriverInfo,
    driver_names,
    make_driver,
    register_driver,
)
from steerscope.instruments.safety import PixelRect, SafeMicroscope, SafetyLimits
from steerscope.instruments.server import MicroscopeServer, serve, serve_from_cli
from steerscope.instruments.simulator import SimulatedMicroscope

__all__ = [
    "DriverInfo",
    "FaultPlan",
    "InstrumentDisconnectedError",
    "InstrumentFaultError",
    "InstrumentTimeoutError",
    "Measurement",
    "Microscope",
    "MicroscopeServer",
    "Overview",
    "PixelRect",
    "RemoteMicroscope",
    "SafeMicroscope",
    "SafetyLimits",
    "SimulatedMicroscope",
    "driver_names",
    "make_driver",
    "register_driver",
    "serve",
    "serve_from_cli",
]
