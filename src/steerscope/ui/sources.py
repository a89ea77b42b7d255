"""What the UI works on: a built-in dataset, a file, or a microscope server.

A *source description* is a small JSON-able dict a page stores in session
state; :func:`open_source` turns it into a :class:`LoadedSource` with the
arrays the pages draw. No Streamlit here, so it is testable on its own.

- ``{"kind": "dataset", "name": "plasmonic_nanoparticles", "options": {"seed": 0}}``
- ``{"kind": "file", "path": "/data/si.hspy"}``, optionally with
  ``"overview": "/data/haadf.dm4"`` (a HAADF saved in a file of its own)
- ``{"kind": "remote", "uri": "PYRO:steerscope.microscope@host:port", "token": "..."}``
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data import SpectrumImage
from steerscope.errors import ConfigError, DataWarning
from steerscope.types import EnergyAxis

__all__ = ["SOURCE_KINDS", "LoadedSource", "describe_source", "open_source", "source_key"]

SOURCE_KINDS = ("dataset", "file", "remote")
"""The ``kind`` values a source description may have."""


@dataclass(frozen=True, eq=False)
class LoadedSource:
    """Everything the pages need to draw a source.

    Parameters
    ----------
    description : dict
        The source description it was opened from.
    title : str
        A short name to show (dataset name, file name, server URI).
    overview : ndarray of shape (H, W)
        The overview image.
    pixel_size, pixel_units : float, str
        Size of one overview pixel.
    image : SpectrumImage or None
        Pre-acquired spectra (dataset or file); ``None`` for a live microscope.
    ground_truth : ndarray of shape (H, W) or None
        Known target map of a built-in dataset.
    default_scalarizer : dict or None
        The dataset's suggested scalarizer spec.
    about : str
        A paragraph describing the sample.
    instrument : dict
        ``describe()`` of a remote microscope (empty otherwise).
    warnings : tuple of str
        What reading the source warned about (e.g. no overview image in the file),
        shown on the Source page.
    """

    description: dict[str, Any]
    title: str
    overview: NDArray[np.float32]
    pixel_size: float
    pixel_units: str
    image: SpectrumImage | None = None
    ground_truth: NDArray[np.float64] | None = None
    default_scalarizer: dict[str, Any] | None = None
    about: str = ""
    instrument: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the overview."""
        return (int(self.overview.shape[0]), int(self.overview.shape[1]))

    @property
    def energy(self) -> EnergyAxis | None:
        """Energy axis of the pre-acquired spectra, if any."""
        return self.image.energy if self.image is not None else None

    def spectra_at(self, points: NDArray[np.int64]) -> NDArray[np.float64]:
        """Pre-acquired spectra under overview pixels ``(n, 2)`` → ``(n, C)``."""
        if self.image is None:
            raise ConfigError(
                "this source has no pre-acquired spectra (a live microscope); "
                "spectra appear once a campaign measures them."
            )
        return np.asarray(self.image.spectra_at(points), dtype=np.float64)


def source_key(description: dict[str, Any]) -> str:
    """A stable string for a source description (cache key; the token is left out)."""
    public = {k: v for k, v in description.items() if k != "token"}
    return json.dumps(public, sort_keys=True, default=str)


def describe_source(description: dict[str, Any]) -> str:
    """One line naming a source for headers and logs."""
    kind = description.get("kind")
    if kind == "dataset":
        return f"built-in dataset {description.get('name')}"
    if kind == "file":
        return f"file {Path(str(description.get('path'))).name}"
    if kind == "remote":
        return f"microscope server {description.get('uri')}"
    return "no source"


def open_source(description: dict[str, Any]) -> LoadedSource:
    """Open a source description.

    Parameters
    ----------
    description : dict
        See the module docstring.

    Returns
    -------
    LoadedSource

    Raises
    ------
    ConfigError
        If ``kind`` is not one of :data:`SOURCE_KINDS` or a required key is missing.
    SteerscopeError
        Whatever the dataset registry, file reader or microscope client raises
        (``DataError``, ``InstrumentError``), with its own message.
    """
    kind = description.get("kind")
    if kind == "dataset":
        from steerscope.datasets import get_dataset

        name = _required(description, "name")
        dataset = get_dataset(name, **dict(description.get("options") or {}))
        image = dataset.image
        return LoadedSource(
            description=dict(description),
            title=name,
            overview=image.overview,
            pixel_size=float(image.pixel_size),
            pixel_units=image.pixel_units,
            image=image,
            ground_truth=np.asarray(dataset.ground_truth, dtype=np.float64),
            default_scalarizer=dict(dataset.default_scalarizer),
            about=dataset.description,
        )
    if kind == "file":
        from steerscope import load

        path = Path(_required(description, "path"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            image = load(path, overview=description.get("overview") or None)
        return LoadedSource(
            description=dict(description),
            title=path.name,
            overview=image.overview,
            pixel_size=float(image.pixel_size),
            pixel_units=image.pixel_units,
            image=image,
            about=f"{image!r} from {path}",
            warnings=tuple(str(w.message) for w in caught if issubclass(w.category, DataWarning)),
        )
    if kind == "remote":
        from steerscope.instruments.client import RemoteMicroscope

        uri = _required(description, "uri")
        token = description.get("token") or None
        microscope = RemoteMicroscope(uri, token=token)
        try:
            overview = microscope.overview()
            about = microscope.describe()
        finally:
            microscope.close()
        return LoadedSource(
            description=dict(description),
            title=uri,
            overview=np.asarray(overview.image, dtype=np.float32),
            pixel_size=float(overview.pixel_size),
            pixel_units=overview.pixel_units,
            about=f"live microscope at {uri}",
            instrument=dict(about),
        )
    raise ConfigError(
        f"a source needs kind one of {', '.join(SOURCE_KINDS)}; got {kind!r}. "
        "Pick a dataset, a file or a microscope server on the Source page."
    )


def _required(description: dict[str, Any], key: str) -> str:
    value = description.get(key)
    if not value:
        raise ConfigError(
            f"a {description.get('kind')} source needs a non-empty {key!r}; got {value!r}. "
            f"Fill in the {key} on the Source page."
        )
    return str(value)
