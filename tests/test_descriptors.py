"""Descriptors: shapes, reflect padding, normalisation, PCA, index_of, memory and errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import steerscope.descriptors.patches as patches_module
from steerscope.descriptors import DescriptorSpec, extract_descriptors
from steerscope.errors import DescriptorError

SQUARE = np.arange(25, dtype=float).reshape(5, 5)


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 3.0, size=(height, width))


@pytest.mark.parametrize(
    ("height", "width", "size", "stride", "grid"),
    [
        (10, 12, 3, 1, (10, 12)),
        (10, 12, 4, 3, (4, 4)),
        (7, 9, 5, 2, (4, 5)),
        (33, 17, 16, 5, (7, 4)),
        (64, 64, 64, 64, (1, 1)),
    ],
)
def test_shapes_and_candidate_grid(
    height: int, width: int, size: int, stride: int, grid: tuple[int, int]
) -> None:
    spec = DescriptorSpec(patch_size=size, stride=stride)
    descriptors = extract_descriptors(noise_image(height, width), spec)
    n_candidates = grid[0] * grid[1]
    assert descriptors.features.shape == (n_candidates, size * size)
    assert descriptors.features.dtype == np.float32
    assert descriptors.pixels.shape == (n_candidates, 2) and descriptors.pixels.dtype == np.int64
    assert descriptors.grid_shape == grid and len(descriptors) == n_candidates
    assert descriptors.patch_shape == (size, size)
    # Row-major grid from (0, 0); the border rows/cols are there.
    assert tuple(descriptors.pixels[0]) == (0, 0)
    if n_candidates > 1:
        assert tuple(descriptors.pixels[1]) == ((0, stride) if grid[1] > 1 else (stride, 0))
    assert tuple(descriptors.pixels[-1]) == ((grid[0] - 1) * stride, (grid[1] - 1) * stride)
    np.testing.assert_array_equal(descriptors.index_of(descriptors.pixels), np.arange(n_candidates))


def test_reflect_padding_with_an_odd_patch() -> None:
    spec = DescriptorSpec(patch_size=3, normalization="none")
    descriptors = extract_descriptors(SQUARE, spec)
    corner = descriptors.features[descriptors.index_of([[0, 0]])[0]].reshape(3, 3)
    # Rows/cols -1, 0, 1 with -1 mirrored to 1 (the edge pixel is not repeated).
    np.testing.assert_array_equal(corner, SQUARE[np.ix_([1, 0, 1], [1, 0, 1])])
    middle = descriptors.features[descriptors.index_of([[2, 3]])[0]].reshape(3, 3)
    np.testing.assert_array_equal(middle, SQUARE[1:4, 2:5])


def test_even_patch_centre_convention_and_padding() -> None:
    spec = DescriptorSpec(patch_size=4, normalization="none")
    descriptors = extract_descriptors(SQUARE, spec)
    # Pixel (r, c) covers rows r-2 .. r+1: it is the lower-right of the four central pixels.
    first = descriptors.features[descriptors.index_of([[0, 0]])[0]].reshape(4, 4)
    np.testing.assert_array_equal(first, SQUARE[np.ix_([2, 1, 0, 1], [2, 1, 0, 1])])
    last = descriptors.features[descriptors.index_of([[4, 4]])[0]].reshape(4, 4)
    np.testing.assert_array_equal(last, SQUARE[np.ix_([2, 3, 4, 3], [2, 3, 4, 3])])


def test_global_normalisation_uses_the_overview_statistics() -> None:
    image = noise_image(20, 30)
    centre = 4  # pixel (1, 1) of a 3×3 patch is the candidate itself
    plain = extract_descriptors(image, DescriptorSpec(patch_size=3, normalization="none"))
    scaled = extract_descriptors(image, DescriptorSpec(patch_size=3, normalization="global"))
    np.testing.assert_allclose(plain.features[:, centre], image.ravel(), rtol=1e-6)
    expected = (image - image.mean()) / image.std()
    np.testing.assert_allclose(scaled.features[:, centre], expected.ravel(), atol=1e-5)
    assert scaled.overview_mean == pytest.approx(image.mean())
    assert scaled.overview_std == pytest.approx(image.std())


def test_patch_normalisation_standardises_every_patch() -> None:
    image = noise_image(16, 16)
    image[:8, :8] = 5.0  # a flat corner: its inner patches have zero std
    descriptors = extract_descriptors(image, DescriptorSpec(patch_size=5, normalization="patch"))
    features = descriptors.features.astype(np.float64)
    flat = descriptors.index_of([[2, 2]])[0]
    np.testing.assert_array_equal(features[flat], 0.0)
    others = np.delete(features, flat, axis=0)
    varied = others.std(axis=1) > 0
    np.testing.assert_allclose(others[varied].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(others[varied].std(axis=1), 1.0, atol=1e-4)


def test_pca_matches_an_svd_and_is_deterministic() -> None:
    image = noise_image(24, 20)
    spec = DescriptorSpec(patch_size=4, stride=2, normalization="none", pca_components=5)
    first = extract_descriptors(image, spec)
    second = extract_descriptors(image, spec)
    assert first.features.shape == (12 * 10, 5)
    np.testing.assert_array_equal(first.features, second.features)

    raw = extract_descriptors(image, spec.model_copy(update={"pca_components": None}))
    centred = raw.features.astype(np.float64) - raw.features.mean(axis=0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ right[:5].T
    np.testing.assert_allclose(np.abs(first.features), np.abs(expected), atol=1e-3)
    ratio = first.pca_explained_variance_ratio
    assert ratio is not None
    np.testing.assert_allclose(ratio, (singular**2 / (singular**2).sum())[:5], rtol=1e-5)
    components = first.pca_components
    assert components is not None
    np.testing.assert_allclose(components @ components.T, np.eye(5), atol=1e-10)
    largest = components[np.arange(5), np.abs(components).argmax(axis=1)]
    assert (largest > 0).all()  # the sign convention that makes PCA deterministic


def test_pca_on_a_subsample_is_seeded() -> None:
    image = noise_image(40, 40)
    spec = DescriptorSpec(patch_size=5, pca_components=3, pca_max_patches=200, seed=1)
    same = extract_descriptors(image, spec).features
    np.testing.assert_array_equal(same, extract_descriptors(image, spec).features)
    other = extract_descriptors(image, spec.model_copy(update={"seed": 2})).features
    assert same.shape == other.shape == (1600, 3)
    assert not np.array_equal(same, other)


def test_pca_keeps_memory_far_below_the_raw_patches() -> None:
    image = noise_image(256, 256)
    spec = DescriptorSpec(patch_size=16, pca_components=8)
    raw_bytes = 256 * 256 * 16 * 16 * 4  # 64 MiB that must never exist at once
    tracemalloc.start()
    try:
        descriptors = extract_descriptors(image, spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert descriptors.features.shape == (65536, 8)
    assert peak < 0.4 * raw_bytes


def test_index_of_and_to_image() -> None:
    descriptors = extract_descriptors(SQUARE, DescriptorSpec(patch_size=3, stride=2))
    np.testing.assert_array_equal(descriptors.index_of([[0, 0], [4, 2], [2, 4]]), [0, 7, 5])
    np.testing.assert_array_equal(descriptors.index_of(np.array([[2.0, 2.0]])), [4])
    image = descriptors.to_image(np.arange(9.0))
    assert image.shape == (5, 5)
    assert image[3, 1] == 3.0 and image[4, 4] == 8.0 and image[1, 4] == 2.0


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0, 0], [1, 2]], r"1 of 2 points are not candidate pixels.*\(1, 2\) at position 1.*grid"),
        ([[6, 0]], r"\(6, 0\) at position 0, is outside the overview of the 5×5"),
        ([[-2, 0]], "outside the overview"),
        ([0, 0], r"shape \(n_points, 2\)"),
        ([[0.5, 0.0]], "integer pixel coordinates"),
    ],
)
def test_index_of_refuses_points_that_are_not_candidates(points: object, message: str) -> None:
    descriptors = extract_descriptors(SQUARE, DescriptorSpec(patch_size=3, stride=2))
    with pytest.raises(DescriptorError, match=message):
        descriptors.index_of(points)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"patch_size": 2}, "patch_size must be between 3 and 64 pixels; got 2"),
        ({"patch_size": 65}, "between 3 and 64 pixels; got 65"),
        ({"stride": 0}, "stride must be a positive integer; got 0"),
        ({"pca_components": 0}, "pca_components must be a positive integer or None"),
    ],
)
def test_bad_specs_raise_descriptor_error(options: dict[str, int], message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        DescriptorSpec(**options)


def test_extraction_errors() -> None:
    with pytest.raises(DescriptorError, match=r"patch_size 8 is larger than the 5×5 overview"):
        extract_descriptors(SQUARE, DescriptorSpec(patch_size=8))
    with pytest.raises(DescriptorError, match=r"pca_components 10 exceeds.*9 pixels per 3×3"):
        extract_descriptors(SQUARE, DescriptorSpec(patch_size=3, pca_components=10))
    holey = SQUARE.copy()
    holey[1, 3] = np.nan
    with pytest.raises(DescriptorError, match=r"1 NaN or infinite pixels \(first at \(1, 3\)\)"):
        extract_descriptors(holey, DescriptorSpec(patch_size=3))
    with pytest.raises(DescriptorError, match=r"2-D image \(H, W\); got shape \(2, 5, 5\)"):
        extract_descriptors(np.stack([SQUARE, SQUARE]), DescriptorSpec(patch_size=3))


def test_spec_round_trips_through_a_dict() -> None:
    spec = DescriptorSpec(patch_size=7, stride=2, normalization="patch", pca_components=4)
    assert DescriptorSpec.model_validate(spec.model_dump()) == spec
    assert DescriptorSpec() == DescriptorSpec(
        patch_size=16, stride=1, normalization="global", pca_components=None
    )
    assert "overview pixels" in (DescriptorSpec.model_fields["patch_size"].description or "")


def test_randomised_pca_for_large_patches_agrees_with_the_exact_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smooth = gaussian_filter(noise_image(64, 64), 2.0)  # few strong components
    spec = DescriptorSpec(patch_size=8, stride=2, pca_components=4)
    exact = extract_descriptors(smooth, spec)
    monkeypatch.setattr(patches_module, "EXACT_PCA_MAX_PIXELS", 0)
    randomised = extract_descriptors(smooth, spec)
    scale = np.abs(exact.features).max()
    np.testing.assert_allclose(randomised.features, exact.features, atol=1e-3 * scale)
    assert randomised.pca_explained_variance_ratio is not None
    assert exact.pca_explained_variance_ratio is not None
    np.testing.assert_allclose(
        randomised.pca_explained_variance_ratio, exact.pca_explained_variance_ratio, rtol=1e-3
    )
