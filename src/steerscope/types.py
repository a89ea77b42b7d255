"""Small value types shared by every layer.

Positions inside steerscope are always ``(row, col)`` in overview pixels, origin
top-left; drivers convert to their vendor frame at their own boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["EnergyAxis", "Pixel", "Points", "SignalKind"]

Pixel = tuple[int, int]
"""One overview pixel as ``(row, col)``."""

Points = NDArray[np.int64]
"""Overview pixels as an integer array of shape ``(n, 2)``, columns ``(row, col)``."""


class SignalKind(StrEnum):
    """What kind of spectrum a spectrum image holds."""

    EELS = "EELS"
    EDX = "EDX"


@dataclass(frozen=True)
class EnergyAxis:
    """A uniform energy axis: ``energy[i] = offset + i * scale``.

    Parameters
    ----------
    size : int
        Number of channels ``C``.
    offset : float
        Energy of channel 0, in ``units``.
    scale : float
        Channel width (dispersion), in ``units`` per channel; must be > 0.
    units : str
        ``"eV"`` or ``"keV"``.
    """

    size: int
    offset: float
    scale: float
    units: str = "eV"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        from steerscope.errors import DataError

        if self.size < 1:
            raise DataError(f"an energy axis needs at least 1 channel; got size={self.size}")
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise DataError(
                f"the energy axis dispersion must be a positive number of {self.units}/channel; "
                f"got {self.scale!r}. Check the file's calibration or pass `energy_scale=`."
            )
        if self.units not in ("eV", "keV"):
            raise DataError(f"energy units must be 'eV' or 'keV'; got {self.units!r}")

    @property
    def values(self) -> NDArray[np.float64]:
        """Channel energies, shape ``(C,)``."""
        return self.offset + self.scale * np.arange(self.size, dtype=np.float64)

    @property
    def low(self) -> float:
        """Energy of the first channel."""
        return float(self.offset)

    @property
    def high(self) -> float:
        """Energy of the last channel."""
        return float(self.offset + self.scale * (self.size - 1))

    def to_ev(self, value: float) -> float:
        """Convert ``value`` in this axis' units to eV."""
        return value * 1000.0 if self.units == "keV" else value

    def index(self, energy: float) -> int:
        """Nearest channel index to ``energy`` (axis units), clipped to the axis."""
        i = round((energy - self.offset) / self.scale)
        return min(max(i, 0), self.size - 1)
