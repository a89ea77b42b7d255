"""The ``Microscope`` protocol every instrument implements.

The values it returns, :class:`~steerscope.types.Overview` and
:class:`~steerscope.types.Measurement`, live in :mod:`steerscope.types` (the
record needs them without the instruments); they are re-exported here.

The campaign engine sees an instrument only through this protocol. Positions
are overview pixels ``(row, col)``, origin top-left; each driver converts to
its vendor frame at its own boundary.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from numpy.typing import ArrayLike

from steerscope.types import Measurement, Overview

__all__ = ["Measurement", "Microscope", "Overview"]


@runtime_checkable
class Microscope(Protocol):
    """What the campaign engine needs of an instrument, simulated or real."""

    def overview(self) -> Overview:
        """Acquire (or return) the overview image of the current field of view."""
        ...

    def acquire(self, points: ArrayLike) -> Measurement:
        """Park the beam at each ``(row, col)`` of ``points`` ``(n, 2)`` and read a spectrum.

        Raises
        ------
        InstrumentError
            If a point lies outside the field of view or the instrument fails.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description: driver, model, energy axis, limits."""
        ...

    def close(self) -> None:
        """Release the instrument (blank the beam, disconnect). Idempotent."""
        ...
