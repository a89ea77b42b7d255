"""Instruments: the ``Microscope`` protocol, the simulator, and (elsewhere) live drivers.

The campaign engine sees an instrument only through :class:`Microscope`.
"""

from steerscope.instruments.base import Measurement, Microscope, Overview
from steerscope.instruments.faults import (
    FaultPlan,
    InstrumentDisconnectedError,
    InstrumentFaultError,
    InstrumentTimeoutError,
)
from steerscope.instruments.simulator import SimulatedMicroscope

__all__ = [
    "FaultPlan",
    "InstrumentDisconnectedError",
    "InstrumentFaultError",
    "InstrumentTimeoutError",
    "Measurement",
    "Microscope",
    "Overview",
    "SimulatedMicroscope",
]
