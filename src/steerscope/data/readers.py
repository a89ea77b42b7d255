"""Readers: files → SpectrumImage (placeholder until the data-layer work lands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steerscope.data.spectrum_image import SpectrumImage
from steerscope.errors import DataError

__all__ = ["load"]


def load(path: str | Path, **kwargs: Any) -> SpectrumImage:
    """Load a spectrum image from ``path``."""
    raise DataError(f"cannot read {path}: readers are not implemented yet")
