"""steerscope: human-in-the-loop automated experiments for STEM-EELS/EDX."""

from steerscope.data import SpectrumImage, load
from steerscope.errors import SteerscopeError
from steerscope.types import EnergyAxis, SignalKind

__all__ = ["EnergyAxis", "SignalKind", "SpectrumImage", "SteerscopeError", "load"]
__version__ = "0.1.0"
