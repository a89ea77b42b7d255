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
from steerscope.instruments.safety import PixelRect, SafeMicroscope, SafetyLimits
from steerscope.instruments.server import MicroscopeServer, serve, serve_from_cli
from steerscope.instruments.simulator import SimulatedMicroscope

__all__ = [
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
    "serve",
    "serve_from_cli",
]
