"""Where the beam may go: candidate pixels, their descriptors, seed points and forbidden pixels.

:class:`Candidates` cuts a descriptor for every candidate pixel of the
overview, maps any overview pixel to its nearest candidate (a KD-tree), lays
out the seed points and keeps what the operator and the safety limits forbid
(no-go mask, vetoed pixels). It knows nothing of targets, models or the record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from steerscope.campaign.config import GridSeeds, ListSeeds, RandomSeeds
from steerscope.campaign.history import as_points
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.errors import ConfigError
from steerscope.instruments.safety import SafetyLimits

__all__ = ["Candidates", "safety_no_go", "source_notes"]


class Candidates:
    """Candidate pixels of one overview, their features, and which pixels are forbidden.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        The overview.
    spec : DescriptorSpec
        Patch size, stride, normalisation, PCA.

    Attributes
    ----------
    pixels : ndarray of shape (M, 2)
        Candidate pixels ``(row, col)``.
    features : ndarray of shape (M, d)
        Their descriptors.
    no_go : ndarray of shape (H, W) of bool
        Pixels never chosen (operator regions and safety limits).
    vetoed : set of (int, int)
        Pixels the operator vetoed.
    """

    def __init__(self, image: ArrayLike, spec: DescriptorSpec) -> None:
        self.image = np.asarray(image, dtype=np.float32)
        self.shape = (int(self.image.shape[0]), int(self.image.shape[1]))
        self.no_go = np.zeros(self.shape, dtype=bool)
        self.vetoed: set[tuple[int, int]] = set()
        self.set_descriptor(spec)

    def set_descriptor(self, spec: DescriptorSpec) -> None:
        """Cut new patches (raises :class:`DescriptorError` before anything changes)."""
        descriptors = extract_descriptors(self.image, spec)
        self.features = descriptors.features
        self.pixels = np.asarray(descriptors.pixels, dtype=np.int64).reshape(-1, 2)
        self._tree = cKDTree(self.pixels)
        self._index_map: NDArray[np.int64] | None = None

    @property
    def n(self) -> int:
        """Number of candidates ``M``."""
        return int(self.pixels.shape[0])

    def nearest(self, points: ArrayLike) -> NDArray[np.int64]:
        """Index ``(n,)`` of the candidate nearest to each of ``points`` ``(n, 2)``."""
        pts = as_points(points)
        if pts.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        _, idx = self._tree.query(pts.astype(np.float64))
        return np.asarray(idx, dtype=np.int64).reshape(-1)

    def within(self, points: ArrayLike, radius: float) -> NDArray[np.int64]:
        """Indices of the candidates within ``radius`` pixels of any of ``points`` ``(n, 2)``."""
        pts = as_points(points)
        if pts.shape[0] == 0 or radius <= 0:
            return np.zeros(0, dtype=np.int64)
        found = self._tree.query_ball_point(pts.astype(np.float64), r=float(radius))
        hits = {int(i) for group in found for i in group}
        return np.array(sorted(hits), dtype=np.int64)

    def index_map(self) -> NDArray[np.int64]:
        """``(H, W)`` index of the nearest candidate of every overview pixel."""
        if self._index_map is None:
            rows, cols = np.indices(self.shape)
            grid = np.stack([rows.ravel(), cols.ravel()], axis=1)
            self._index_map = self.nearest(grid).reshape(self.shape)
        return self._index_map

    def to_overview_map(self, values: ArrayLike) -> NDArray[np.float64]:
        """Spread per-candidate values ``(M,)`` onto the overview grid ``(H, W)``."""
        return np.asarray(values, dtype=np.float64)[self.index_map()]

    def inside(self, p: tuple[int, int]) -> bool:
        """Whether ``(row, col)`` lies on the overview."""
        return 0 <= p[0] < self.shape[0] and 0 <= p[1] < self.shape[1]

    def blocked(self, p: tuple[int, int]) -> bool:
        """Whether ``(row, col)`` is vetoed or in a no-go region."""
        return p in self.vetoed or bool(self.no_go[p[0], p[1]])

    def seed_points(
        self, spec: RandomSeeds | GridSeeds | ListSeeds, seed: int
    ) -> list[tuple[int, int]]:
        """The seed points of a config, in measuring order.

        Raises
        ------
        ConfigError
            If listed points lie outside the overview.
        """
        h, w = self.shape
        if isinstance(spec, ListSeeds):
            points = [(int(r), int(c)) for r, c in spec.points]
            bad = [p for p in points if not self.inside(p)]
            if bad:
                raise ConfigError(
                    f"seed_points.points {bad} lie outside the {h}×{w} overview; positions are "
                    "(row, col) with 0 <= row < H and 0 <= col < W."
                )
            return points
        if isinstance(spec, GridSeeds):
            k = math.ceil(math.sqrt(spec.n)) if spec.n else 0
            rows = [int((i + 0.5) * h / k) for i in range(k)]
            cols = [int((j + 0.5) * w / k) for j in range(k)]
            return [(r, c) for r in rows for c in cols][: spec.n]
        rng = np.random.default_rng([seed, 7919])
        n = min(spec.n, self.n)
        chosen = rng.choice(self.n, size=n, replace=False)
        return [(int(r), int(c)) for r, c in self.pixels[chosen]]

    def check_points(self, points: tuple[tuple[int, int], ...], kind: str) -> None:
        """Refuse an intervention's points that are missing or off the overview.

        Raises
        ------
        ConfigError
        """
        if not points:
            raise ConfigError(f"{kind} refused: no points given; pass points of shape (n, 2).")
        outside = [p for p in points if not self.inside(p)]
        if outside:
            h, w = self.shape
            raise ConfigError(
                f"{kind} refused: {outside} lie outside the {h}×{w} overview; positions are "
                "(row, col) with 0 <= row < H and 0 <= col < W."
            )

    @property
    def vetoed_points(self) -> NDArray[np.int64]:
        """Vetoed pixels ``(k, 2)``, sorted."""
        return as_points(sorted(self.vetoed)) if self.vetoed else np.zeros((0, 2), np.int64)


def safety_no_go(limits: SafetyLimits, shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Pixels of an ``(H, W)`` overview that ``limits`` forbid by position, ``(H, W)`` bool."""
    mask = np.zeros(shape, dtype=bool)
    for rect in limits.no_go_rects:
        mask[rect.row_min : rect.row_max, rect.col_min : rect.col_max] = True
    region = limits.allowed_region
    if region is not None:
        inside = np.zeros(shape, dtype=bool)
        inside[region.row_min : region.row_max, region.col_min : region.col_max] = True
        mask |= ~inside
    if limits.field_of_view_shape is not None:
        height, width = limits.field_of_view_shape
        mask[height:, :] = True
        mask[:, width:] = True
    return mask


def source_notes(
    description: Mapping[str, Any], overview_shape: tuple[int, int], stride: int
) -> list[str]:
    """What the operator should know about the source before the first spectrum.

    Parameters
    ----------
    description : mapping
        The instrument's ``describe()``; a simulator reports ``spectrum_shape``
        ``(h, w)`` and ``overview_source`` (``"sum"`` when the file had no overview).
    overview_shape : tuple of int
        ``(H, W)`` of the overview the candidates are cut from.
    stride : int
        The descriptor's candidate stride.

    Returns
    -------
    list of str
        One sentence per finding, each with the setting that changes it: the
        overview is the sum of the spectra; several candidates share one
        spectrum pixel (measuring a second one measures the same spectrum again).
    """
    notes = []
    if description.get("overview_source") == "sum":
        notes.append(
            "the overview is the sum of the spectra (the file holds no HAADF): the patches "
            "see only the spectrum grid's resolution. If a HAADF was acquired, pass it as "
            "`source: {file: ..., options: {overview: haadf.dm4}}`."
        )
    grid = description.get("spectrum_shape")
    if isinstance(grid, list | tuple) and len(grid) == 2 and min(int(v) for v in grid) > 0:
        per_row = overview_shape[0] / int(grid[0])
        per_col = overview_shape[1] / int(grid[1])
        sharing = math.ceil(per_row / stride) * math.ceil(per_col / stride)
        if sharing > 1:
            k = max(1, round(min(per_row, per_col)))
            notes.append(
                f"the overview has {per_row:.3g}×{per_col:.3g} pixels per spectrum pixel: "
                f"with stride {stride}, up to {sharing} candidates share each spectrum, and "
                "measuring a second one measures the same spectrum again. "
                f"`descriptor.stride: {k}` gives one candidate per spectrum pixel."
            )
    return notes
