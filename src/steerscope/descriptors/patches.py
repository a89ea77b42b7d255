"""Patch features for candidate pixels of an overview image.

Patches are cut from a reflect-padded copy of the overview through
``numpy.lib.stride_tricks.sliding_window_view`` (a view, no copy) and
materialised in chunks of candidate rows, so memory holds at most one chunk of
raw patches besides the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from steerscope.descriptors.spec import DescriptorSpec
from steerscope.errors import DescriptorError

__all__ = ["EXACT_PCA_MAX_PIXELS", "Descriptors", "extract_descriptors"]

EXACT_PCA_MAX_PIXELS = 1024
"""Largest patch (in pixels) whose PCA uses the exact covariance; larger ones are randomised."""

_POWER_ITERATIONS = 6

_CHUNK_VALUES = 1 << 20
"""About how many patch pixels one chunk holds (4 MiB in float32)."""


@dataclass(frozen=True, eq=False)
class Descriptors:
    """Feature vectors of the candidate pixels of one overview.

    Attributes
    ----------
    features : ndarray of shape (n_candidates, n_features), float32
        One row per candidate; ``n_features`` is ``patch_size**2`` or
        ``pca_components``.
    pixels : ndarray of shape (n_candidates, 2), int64
        The candidates ``(row, col)``, row-major over the grid
        ``range(0, H, stride) × range(0, W, stride)``.
    spec : DescriptorSpec
        The spec the features were cut with.
    image_shape : tuple of int
        ``(H, W)`` of the overview.
    overview_mean, overview_std : float
        Statistics of the overview used by ``normalization="global"`` (std is
        1.0 for a constant image), recorded for every normalisation.
    pca_mean : ndarray of shape (patch_size**2,) or None
        Mean patch subtracted before projection.
    pca_components : ndarray of shape (pca_components, patch_size**2) or None
        Principal axes, rows of unit length, sign fixed so each row's largest
        entry is positive (deterministic).
    pca_explained_variance_ratio : ndarray of shape (pca_components,) or None
        Share of the patch variance each component keeps.
    """

    features: NDArray[np.float32]
    pixels: NDArray[np.int64]
    spec: DescriptorSpec
    image_shape: tuple[int, int]
    overview_mean: float
    overview_std: float
    pca_mean: NDArray[np.float64] | None = None
    pca_components: NDArray[np.float64] | None = None
    pca_explained_variance_ratio: NDArray[np.float64] | None = None

    @property
    def patch_shape(self) -> tuple[int, int]:
        """``(patch_size, patch_size)``."""
        return self.spec.patch_shape

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Candidates per column and per row: ``(ceil(H / stride), ceil(W / stride))``."""
        stride = self.spec.stride
        return (-(-self.image_shape[0] // stride), -(-self.image_shape[1] // stride))

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def index_of(self, points: ArrayLike) -> NDArray[np.int64]:
        """Rows of :attr:`features` (and :attr:`pixels`) for overview pixels.

        Parameters
        ----------
        points : array_like of shape (n_points, 2)
            Pixels ``(row, col)``, integers (integral floats are accepted).

        Returns
        -------
        ndarray of shape (n_points,), int64
            ``pixels[index_of(points)] == points``.

        Raises
        ------
        DescriptorError
            If the shape is wrong, a coordinate is not an integer, or a point is
            outside the overview or not on the candidate grid.
        """
        array = np.asarray(points)
        if array.ndim != 2 or array.shape[1] != 2:
            raise DescriptorError(
                f"points must have shape (n_points, 2) as (row, col); got shape {array.shape}. "
                "For one pixel pass [[row, col]]."
            )
        integral = np.issubdtype(array.dtype, np.integer) or (
            np.issubdtype(array.dtype, np.floating)
            and bool(np.all(np.isfinite(array) & (array == np.round(array))))
        )
        if array.size and not integral:
            raise DescriptorError(
                f"points must be integer pixel coordinates; got dtype {array.dtype} with "
                "non-integral values. Round them to pixels first."
            )
        pixel = array.astype(np.int64)
        height, width = self.image_shape
        stride = self.spec.stride
        inside = (pixel[:, 0] >= 0) & (pixel[:, 0] < height)
        inside &= (pixel[:, 1] >= 0) & (pixel[:, 1] < width)
        on_grid = inside & (pixel[:, 0] % stride == 0) & (pixel[:, 1] % stride == 0)
        if not on_grid.all():
            bad = np.flatnonzero(~on_grid)
            first = int(bad[0])
            row, col = (int(v) for v in pixel[first])
            reason = (
                "outside the overview"
                if not inside[first]
                else f"not on the candidate grid (every {stride} pixels from (0, 0))"
            )
            raise DescriptorError(
                f"{bad.size} of {len(pixel)} points are not candidate pixels; the first, "
                f"({row}, {col}) at position {first}, is {reason} of the {height}×{width} "
                "overview. Use points from Descriptors.pixels."
            )
        grid_width = self.grid_shape[1]
        return (pixel[:, 0] // stride) * grid_width + pixel[:, 1] // stride

    def to_image(self, values: ArrayLike) -> NDArray[np.float64]:
        """Spread one value per candidate over the overview grid.

        Each overview pixel takes the value of the candidate at or just above-left
        of it (the candidate whose ``stride × stride`` block holds it).

        Parameters
        ----------
        values : array_like of shape (n_candidates,)
            One value per row of :attr:`pixels`.

        Returns
        -------
        ndarray of shape (H, W), float64
        """
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (len(self),):
            raise DescriptorError(
                f"to_image needs one value per candidate, shape ({len(self)},); got shape "
                f"{array.shape}."
            )
        stride = self.spec.stride
        grid = array.reshape(self.grid_shape)
        image = np.repeat(np.repeat(grid, stride, axis=0), stride, axis=1)
        return image[: self.image_shape[0], : self.image_shape[1]]


def _check_overview(overview: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(overview)
    if array.ndim != 2:
        raise DescriptorError(
            f"the overview must be a 2-D image (H, W); got shape {array.shape}. "
            "Pass a single HAADF frame (sum or pick one channel of a stack)."
        )
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise DescriptorError(f"the overview must be a real numeric image; got {array.dtype}.")
    values = array.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DescriptorError(
            f"the overview holds {int(bad.sum())} NaN or infinite pixels (first at ({row}, "
            f"{col})); fill them (e.g. with the image median) before cutting descriptors."
        )
    return values


def _standardise_rows(block: NDArray[np.float32]) -> NDArray[np.float32]:
    """Each row to zero mean and unit std (a constant row becomes zeros)."""
    mean = block.mean(axis=1, keepdims=True)
    std = block.std(axis=1, keepdims=True)
    return ((block - mean) / np.where(std > 0, std, 1.0)).astype(np.float32, copy=False)


def _chunks(
    patches: Callable[[NDArray[np.int64]], NDArray[np.float32]],
    sample: NDArray[np.int64],
    chunk: int,
) -> Iterator[NDArray[np.float64]]:
    """The sampled patches, ``chunk`` at a time, as float64 ``(chunk, size**2)``."""
    for start in range(0, len(sample), chunk):
        yield patches(sample[start : start + chunk]).astype(np.float64)


def _fit_pca(
    patches: Callable[[NDArray[np.int64]], NDArray[np.float32]],
    sample: NDArray[np.int64],
    n_components: int,
    chunk: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Mean, principal axes ``(k, d)`` and explained-variance ratios ``(k,)`` of the sample.

    Up to :data:`EXACT_PCA_MAX_PIXELS` pixels per patch the covariance is
    accumulated chunk by chunk and diagonalised exactly. Above it (patches over
    32×32) a ``d × d`` covariance costs ``n d²`` (minutes at 64×64), so a
    randomised subspace iteration (Halko et al. 2011, ``k + 10`` directions,
    :data:`_POWER_ITERATIONS` power iterations) finds the leading axes in a few
    chunked passes instead; it is seeded, hence deterministic.
    """
    n_samples = len(sample)
    n_pixels = patches(sample[:1]).shape[1]
    total = np.zeros(n_pixels)
    squares = np.zeros(n_pixels)
    if n_pixels <= EXACT_PCA_MAX_PIXELS:
        scatter = np.zeros((n_pixels, n_pixels))
        for block in _chunks(patches, sample, chunk):
            total += block.sum(axis=0)
            scatter += block.T @ block
        mean = total / n_samples
        covariance = scatter / n_samples - np.outer(mean, mean)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1][:n_components]
        components = eigenvectors[:, order].T
        kept = np.clip(eigenvalues[order], 0.0, None)
        total_variance = float(np.clip(eigenvalues, 0.0, None).sum())
    else:
        for block in _chunks(patches, sample, chunk):
            total += block.sum(axis=0)
            squares += (block * block).sum(axis=0)
        mean = total / n_samples
        total_variance = float(np.clip(squares / n_samples - mean * mean, 0.0, None).sum())
        n_directions = min(n_components + 10, n_pixels, n_samples)
        basis = np.linalg.qr(rng.standard_normal((n_pixels, n_directions)))[0]
        for _ in range(_POWER_ITERATIONS):
            # basis <- orth(Xc^T Xc basis), with Xc the centred sample, one pass each.
            image = np.zeros((n_pixels, n_directions))
            for block in _chunks(patches, sample, chunk):
                centred = block - mean
                image += centred.T @ (centred @ basis)
            basis = np.linalg.qr(image)[0]
        small = np.zeros((n_directions, n_directions))
        for block in _chunks(patches, sample, chunk):
            projected = (block - mean) @ basis
            small += projected.T @ projected
        eigenvalues, eigenvectors = np.linalg.eigh(small / n_samples)
        order = np.argsort(eigenvalues)[::-1][:n_components]
        components = (basis @ eigenvectors[:, order]).T
        kept = np.clip(eigenvalues[order], 0.0, None)
    largest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(len(components)), largest])[:, None]
    explained = kept / total_variance if total_variance > 0 else np.zeros(len(kept))
    return mean, components, explained


def extract_descriptors(overview: ArrayLike, spec: DescriptorSpec) -> Descriptors:
    """Cut one feature vector per candidate pixel of ``overview``.

    Parameters
    ----------
    overview : array_like of shape (H, W)
        The overview image (HAADF), finite.
    spec : DescriptorSpec
        Patch size, stride, normalisation and PCA.

    Returns
    -------
    Descriptors
        ``M = ceil(H / stride) * ceil(W / stride)`` candidates, border pixels
        included thanks to reflect padding.

    Raises
    ------
    DescriptorError
        If the overview is not a finite 2-D image, the patch is larger than
        the image, or ``pca_components`` exceeds ``patch_size**2`` or ``M``.

    Notes
    -----
    Memory: the result takes ``M * d * 4`` bytes (``d = patch_size**2`` without
    PCA, e.g. exactly 1 GiB for a 512×512 overview, 32×32 patches and stride 1;
    ``d = pca_components`` with PCA). Besides it, extraction holds the padded
    overview in float32, one chunk of about 4 MiB of patches (and its float64
    copy), and with PCA a ``d × d`` float64 covariance up to 32×32 patches
    (8 MiB) or a ``d × (k + 10)`` basis above (randomised PCA, see
    ``EXACT_PCA_MAX_PIXELS``). PCA is fitted on at most ``spec.pca_max_patches``
    patches drawn with ``spec.seed``, so it is deterministic.
    """
    if not isinstance(spec, DescriptorSpec):
        raise DescriptorError(
            f"extract_descriptors needs a DescriptorSpec; got {type(spec).__name__}. "
            "Build one with DescriptorSpec(patch_size=16, stride=1)."
        )
    image = _check_overview(overview)
    height, width = image.shape
    size = spec.patch_size
    if size > height or size > width:
        raise DescriptorError(
            f"patch_size {size} is larger than the {height}×{width} overview; choose a "
            f"patch_size of at most {min(height, width)} or a larger overview."
        )
    n_pixels = size * size
    grid_rows = -(-height // spec.stride)
    grid_cols = -(-width // spec.stride)
    n_candidates = grid_rows * grid_cols
    if spec.pca_components is not None and spec.pca_components > min(n_pixels, n_candidates):
        raise DescriptorError(
            f"pca_components {spec.pca_components} exceeds what the patches can give: "
            f"{n_pixels} pixels per {size}×{size} patch and {n_candidates} candidates; "
            f"choose at most {min(n_pixels, n_candidates)} or None."
        )

    mean = float(image.mean())
    std = float(image.std())
    std = std if std > 0 else 1.0
    if spec.normalization == "global":
        image = (image - mean) / std
    before = size // 2
    after = size - 1 - before
    padded = np.pad(image.astype(np.float32), ((before, after), (before, after)), mode="reflect")
    windows = sliding_window_view(padded, (size, size))[:: spec.stride, :: spec.stride]

    def patches(flat_index: NDArray[np.int64]) -> NDArray[np.float32]:
        """Materialised, normalised patches ``(len(flat_index), size**2)``."""
        block = windows[flat_index // grid_cols, flat_index % grid_cols].reshape(-1, n_pixels)
        return _standardise_rows(block) if spec.normalization == "patch" else block

    chunk = max(1, _CHUNK_VALUES // n_pixels)
    starts = range(0, n_candidates, chunk)

    rows, cols = np.meshgrid(
        np.arange(0, height, spec.stride, dtype=np.int64),
        np.arange(0, width, spec.stride, dtype=np.int64),
        indexing="ij",
    )
    pixels = np.stack([rows.ravel(), cols.ravel()], axis=1)

    if spec.pca_components is None:
        features = np.empty((n_candidates, n_pixels), dtype=np.float32)
        for start in starts:
            stop = min(start + chunk, n_candidates)
            features[start:stop] = patches(np.arange(start, stop, dtype=np.int64))
        return Descriptors(features, pixels, spec, (height, width), mean, std)

    if n_candidates > spec.pca_max_patches:
        sample = np.sort(
            np.random.default_rng(spec.seed).choice(
                n_candidates, size=spec.pca_max_patches, replace=False
            )
        )
    else:
        sample = np.arange(n_candidates, dtype=np.int64)
    pca_mean, components, explained = _fit_pca(
        patches, sample, spec.pca_components, chunk, np.random.default_rng([spec.seed, 1])
    )

    features = np.empty((n_candidates, spec.pca_components), dtype=np.float32)
    projection = components.T.astype(np.float32)
    centre = pca_mean.astype(np.float32)
    for start in starts:
        stop = min(start + chunk, n_candidates)
        features[start:stop] = (patches(np.arange(start, stop, dtype=np.int64)) - centre) @ (
            projection
        )
    return Descriptors(
        features, pixels, spec, (height, width), mean, std, pca_mean, components, explained
    )
