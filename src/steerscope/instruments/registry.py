"""Which microscopes can be built by name, and the builders the campaign uses.

A driver declares itself: its module (in :mod:`steerscope.instruments.drivers`,
or any installed package through the ``steerscope.drivers`` entry-point group)
calls :func:`register_driver` at import with a factory, a one-line summary and,
optionally, a factory of the same driver over the test doubles of
:mod:`steerscope.testing` (which the driver conformance tests run on). Nothing
else lists driver names: ``steerscope serve --driver``, its help text and the
conformance tests read :func:`driver_names`.

The campaign builds its instrument with :func:`simulated_microscope`,
:func:`simulated_probe_microscope` or :func:`remote_microscope` and otherwise sees only the
:class:`~steerscope.instruments.base.Microscope` protocol.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from steerscope.errors import InstrumentError
from steerscope.instruments.base import Microscope

__all__ = [
    "DriverInfo",
    "driver_info",
    "driver_names",
    "iter_drivers",
    "make_driver",
    "register_driver",
    "remote_microscope",
    "simulated_microscope",
    "simulated_probe_microscope",
]

ENTRY_POINT_GROUP = "steerscope.drivers"
"""Entry-point group through which an installed package adds a driver module."""


@dataclass(frozen=True)
class DriverInfo:
    """One driver that ``steerscope serve --driver NAME`` can build.

    Parameters
    ----------
    name : str
        The ``--driver`` name, lower case.
    factory : callable
        ``factory(**options) -> Microscope``; options come from ``--option key=value``.
    summary : str
        One line for the CLI help and the docs.
    on_test_doubles : callable or None
        ``on_test_doubles() -> context manager yielding (Microscope, marks_pixels)`` that
        builds this driver over :mod:`steerscope.testing`'s fake SDK. ``marks_pixels``
        says whether channel 0 of every spectrum is ``1000 * row + col`` of the pixel
        the beam was on (:func:`steerscope.testing.beam_marker_sample`), so the
        conformance tests can check the frame conversion. None: no fake exists.
    serves_image : bool
        The driver simulates an instrument over a stored spectrum image, which
        ``steerscope serve --dataset NAME`` / ``--path FILE`` hands it as ``image=`` /
        ``path=``.
    """

    name: str
    factory: Callable[..., Microscope]
    summary: str
    on_test_doubles: Callable[[], AbstractContextManager[tuple[Microscope, bool]]] | None = None
    serves_image: bool = False


_DRIVERS: dict[str, DriverInfo] = {}
_discovered = False
_lock = threading.Lock()


def register_driver(info: DriverInfo) -> DriverInfo:
    """Add a driver to the registry (a driver module calls this at import).

    Raises
    ------
    InstrumentError
        If another factory is already registered under the same name.
    """
    name = info.name.lower()
    existing = _DRIVERS.get(name)
    if existing is not None and existing.factory is not info.factory:
        raise InstrumentError(
            f"two drivers are registered as {name!r} ({existing.factory!r} and "
            f"{info.factory!r}); give the new one another name."
        )
    _DRIVERS[name] = info
    return info


def _discover() -> None:
    """Import every module of the drivers folder and every ``steerscope.drivers`` entry point."""
    global _discovered
    with _lock:
        if _discovered:
            return
        from steerscope.instruments import (  # noqa: F401  (they register "sim" and "spm-sim")
            drivers,
            probe_simulator,
            simulator,
        )

        for module in pkgutil.iter_modules(drivers.__path__):
            if not module.name.startswith("_") and not module.name.endswith("_script"):
                importlib.import_module(f"{drivers.__name__}.{module.name}")
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            entry.load()
        _discovered = True


def driver_names() -> tuple[str, ...]:
    """Names of every registered driver, ``sim`` first, then alphabetical."""
    _discover()
    return tuple(sorted(_DRIVERS, key=lambda name: (name != "sim", name)))


def driver_info(name: str) -> DriverInfo:
    """The registered driver called ``name`` (case-insensitive).

    Raises
    ------
    InstrumentError
        If no driver has that name; the message lists the ones that exist.
    """
    _discover()
    info = _DRIVERS.get(name.lower())
    if info is None:
        raise InstrumentError(f"unknown driver {name!r}; choose one of {', '.join(driver_names())}")
    return info


def make_driver(name: str, **options: Any) -> Microscope:
    """Build the driver called ``name`` with its options (vendor SDKs load only here).

    Parameters
    ----------
    name : str
        One of :func:`driver_names`.
    **options
        The driver's own settings.

    Returns
    -------
    Microscope
    """
    return driver_info(name).factory(**options)


def simulated_microscope(image: Any, **options: Any) -> Microscope:
    """A :class:`~steerscope.instruments.simulator.SimulatedMicroscope` over a spectrum image."""
    from steerscope.instruments.simulator import SimulatedMicroscope

    return SimulatedMicroscope(image, **options)


def simulated_probe_microscope(image: Any, **options: Any) -> Microscope:
    """A :class:`~steerscope.instruments.probe_simulator.SimulatedProbeMicroscope` over a grid."""
    from steerscope.instruments.probe_simulator import SimulatedProbeMicroscope

    return SimulatedProbeMicroscope(image, **options)


def remote_microscope(uri: str, **options: Any) -> Microscope:
    """A :class:`~steerscope.instruments.client.RemoteMicroscope` for ``steerscope serve``'s URI."""
    from steerscope.instruments.client import RemoteMicroscope

    return RemoteMicroscope(uri, **options)


def iter_drivers() -> Iterator[DriverInfo]:
    """Every registered driver, in :func:`driver_names` order."""
    for name in driver_names():
        yield _DRIVERS[name]
