"""Choosing the next pixels from acquisition scores: exclusion, no-go masks, batch diversity."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steerscope.errors import AcquisitionError

__all__ = ["allowed_mask", "select_points"]


def _as_points(points: ArrayLike, what: str) -> NDArray[np.int64]:
    arr = np.asarray(points)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise AcquisitionError(
            f"{what} must be pixels of shape (n, 2) as (row, col); got shape {arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        rounded = np.rint(arr)
        if not np.array_equal(rounded, arr):
            raise AcquisitionError(
                f"{what} must hold whole pixel indices; got non-integer values such as "
                f"{arr[np.any(rounded != arr, axis=1)][0].tolist()}. Round them first."
            )
        arr = rounded
    return arr.astype(np.int64, copy=False)


def allowed_mask(
    pixels: ArrayLike,
    *,
    exclude: ArrayLike | None = None,
    no_go: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Which candidates may be chosen: not excluded and not in a no-go region.

    Parameters
    ----------
    pixels : array_like of shape (m, 2)
        Candidate pixels ``(row, col)``.
    exclude : array_like of shape (k, 2), optional
        Pixels never to choose (already measured, pending, vetoed). Pixels that
        are not candidates are ignored.
    no_go : array_like of shape (H, W) of bool, optional
        True where the beam must not go; it must cover every candidate pixel.

    Returns
    -------
    allowed : ndarray of shape (m,) of bool
    """
    pixel_arr = _as_points(pixels, "pixels")
    allowed = np.ones(pixel_arr.shape[0], dtype=bool)
    if exclude is not None:
        excluded = _as_points(exclude, "exclude")
        if excluded.shape[0] and pixel_arr.shape[0]:
            # One integer key per pixel, offset so negative coordinates stay distinct.
            both = np.concatenate([pixel_arr, excluded])
            low = both.min(axis=0)
            width = int(both[:, 1].max() - low[1]) + 1
            keys = (pixel_arr[:, 0] - low[0]) * width + (pixel_arr[:, 1] - low[1])
            excluded_keys = (excluded[:, 0] - low[0]) * width + (excluded[:, 1] - low[1])
            n_keys = int(max(keys.max(), excluded_keys.max())) + 1
            if n_keys <= 8 * both.shape[0]:  # a dense grid: one flag per pixel is faster
                flagged = np.zeros(n_keys, dtype=bool)
                flagged[excluded_keys] = True
                allowed &= ~flagged[keys]
            else:
                allowed &= ~np.isin(keys, excluded_keys)
    if no_go is not None:
        mask = np.asarray(no_go)
        if mask.ndim != 2 or mask.dtype != np.bool_:
            raise AcquisitionError(
                "no_go must be a boolean mask of shape (H, W) (True = do not measure); "
                f"got dtype {mask.dtype} and shape {mask.shape}."
            )
        if pixel_arr.shape[0]:
            inside = (
                (pixel_arr[:, 0] >= 0)
                & (pixel_arr[:, 0] < mask.shape[0])
                & (pixel_arr[:, 1] >= 0)
                & (pixel_arr[:, 1] < mask.shape[1])
            )
            if not np.all(inside):
                outside = pixel_arr[~inside][0].tolist()
                raise AcquisitionError(
                    f"the no-go mask of shape {mask.shape} does not cover candidate pixel "
                    f"{outside}; pass a mask with the overview's shape (H, W)."
                )
            allowed &= ~mask[pixel_arr[:, 0], pixel_arr[:, 1]]
    return allowed


def select_points(
    scores: ArrayLike,
    pixels: ArrayLike,
    q: int,
    *,
    exclude: ArrayLike | None = None,
    no_go: ArrayLike | None = None,
    min_distance: float = 0.0,
) -> NDArray[np.int64]:
    """Indices of the ``q`` best allowed candidates, optionally spread apart.

    Candidates are ranked by score, highest first; equal scores are ranked by
    lowest index, so the result is deterministic. Excluded pixels and pixels
    where ``no_go`` is True are never chosen.

    Batch diversity is greedy: walking down the ranking, a candidate is taken
    when its Euclidean pixel distance to every point already taken is
    ``>= min_distance``. If fewer than ``q`` candidates are that far apart, the
    batch is completed with the best remaining allowed candidates regardless of
    distance (a full batch is more useful to the engine than an error; lower
    ``min_distance`` to avoid it).

    Parameters
    ----------
    scores : array_like of shape (m,)
        Acquisition scores, higher is better; NaN is not allowed.
    pixels : array_like of shape (m, 2)
        Candidate pixels ``(row, col)``.
    q : int
        Batch size, >= 1.
    exclude : array_like of shape (k, 2), optional
        Pixels never to choose (measured, pending, vetoed).
    no_go : array_like of shape (H, W) of bool, optional
        True where the beam must not go.
    min_distance : float, default 0.0
        Minimum distance in pixels between chosen points (0 disables).

    Returns
    -------
    indices : ndarray of shape (q,) of int64
        Rows of ``pixels``, best first.

    Raises
    ------
    AcquisitionError
        On shape mismatches, NaN scores, bad ``q``/``min_distance``, or when
        fewer than ``q`` candidates are allowed.
    """
    score_arr = np.asarray(scores, dtype=np.float64)
    pixel_arr = _as_points(pixels, "pixels")
    if score_arr.ndim != 1 or score_arr.shape[0] != pixel_arr.shape[0]:
        raise AcquisitionError(
            f"select_points expects scores of shape (m,) matching pixels (m, 2); got scores "
            f"{score_arr.shape} and pixels {pixel_arr.shape}."
        )
    if np.any(np.isnan(score_arr)):
        raise AcquisitionError(
            f"select_points got {int(np.isnan(score_arr).sum())} NaN scores; scores must be "
            "numbers. Check the posterior passed to the acquisition function."
        )
    if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 1:
        raise AcquisitionError(f"The batch size 'q' must be an integer >= 1. Got {q!r} instead.")
    q = int(q)
    try:
        distance = float(min_distance)
    except (TypeError, ValueError):
        distance = float("nan")
    if not np.isfinite(distance) or distance < 0:
        raise AcquisitionError(
            f"The 'min_distance' parameter must be a float >= 0 (pixels). "
            f"Got {min_distance!r} instead."
        )

    allowed = allowed_mask(pixel_arr, exclude=exclude, no_go=no_go)
    n_allowed = int(allowed.sum())
    if n_allowed < q:
        raise AcquisitionError(
            f"cannot choose {q} points: only {n_allowed} of {pixel_arr.shape[0]} candidates are "
            "allowed (the rest are measured, vetoed or in a no-go region). Lower the batch "
            "size, remove vetoes or no-go regions, or stop the campaign."
        )

    candidates = np.flatnonzero(allowed)
    negated = -score_arr[candidates]
    if (distance == 0.0 or q == 1) and q < candidates.shape[0]:
        # only the q best are needed: those at or above the q-th best score (ties
        # included), then the same stable order a full sort would give them
        kth = np.partition(negated, q - 1)[q - 1]
        top = negated <= kth
        best = candidates[top][np.argsort(negated[top], kind="stable")]
        return best[:q].astype(np.int64)
    # Stable sort on -score: equal scores keep ascending index order.
    ranked = candidates[np.argsort(negated, kind="stable")]
    if distance == 0.0 or q == 1:
        return ranked[:q].astype(np.int64)

    chosen: list[int] = []
    far_enough = np.ones(ranked.shape[0], dtype=bool)
    ranked_xy = pixel_arr[ranked].astype(np.float64)
    squared = distance * distance
    while len(chosen) < q:
        remaining = np.flatnonzero(far_enough)
        if remaining.size == 0:
            break
        position = int(remaining[0])
        chosen.append(position)
        delta = ranked_xy - ranked_xy[position]
        far_enough &= np.einsum("ij,ij->i", delta, delta) >= squared
        far_enough[position] = False
    if len(chosen) < q:
        # Not enough far-apart candidates: fill with the best of the rest, by rank.
        taken = np.zeros(ranked.shape[0], dtype=bool)
        taken[chosen] = True
        chosen.extend(np.flatnonzero(~taken)[: q - len(chosen)].tolist())
    return ranked[np.asarray(chosen, dtype=np.int64)].astype(np.int64)
