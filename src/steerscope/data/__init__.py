"""Spectrum images and the readers that load them."""

from steerscope.data.readers import load
from steerscope.data.spectrum_image import SpectrumImage

__all__ = ["SpectrumImage", "load"]
