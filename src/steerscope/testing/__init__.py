"""Test doubles shipped with the package, as BoTorch ships ``MockModel``.

- :func:`tiny_spectrum_image`, :func:`beam_marker_image`, :func:`beam_marker_sample`:
  small spectrum images, the second whose spectra say where the beam landed.
- :func:`fake_microscope`: a :class:`~steerscope.instruments.SimulatedMicroscope` over
  the tiny image, the fastest real ``Microscope`` there is.
- :mod:`~steerscope.testing.fake_autoscript`, :mod:`~steerscope.testing.fake_digitalmicrograph`,
  :mod:`~steerscope.testing.fake_nanonis`: faithful fakes of the vendor SDKs, put into
  ``sys.modules`` by their ``install``.
- :func:`patched_modules`: undo such an install outside pytest.

The driver conformance tests build every registered driver on these doubles
(:attr:`steerscope.instruments.registry.DriverInfo.on_test_doubles`).
"""

from __future__ import annotations

from typing import Any

from steerscope.testing import fake_autoscript, fake_digitalmicrograph, fake_nanonis
from steerscope.testing._modules import ModulePatcher, patched_modules
from steerscope.testing.samples import beam_marker_image, beam_marker_sample, tiny_spectrum_image

__all__ = [
    "ModulePatcher",
    "beam_marker_image",
    "beam_marker_sample",
    "fake_autoscript",
    "fake_digitalmicrograph",
    "fake_microscope",
    "fake_nanonis",
    "patched_modules",
    "tiny_spectrum_image",
]


def fake_microscope(**options: Any) -> Any:
    """A simulated microscope over :func:`tiny_spectrum_image` (options: the simulator's)."""
    from steerscope.instruments.registry import simulated_microscope

    return simulated_microscope(tiny_spectrum_image(), **options)
