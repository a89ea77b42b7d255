"""How patch descriptors are cut from the overview: a small declarative spec."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from steerscope.errors import DescriptorError

__all__ = ["MAX_PATCH_SIZE", "MIN_PATCH_SIZE", "DescriptorSpec"]

MIN_PATCH_SIZE = 3
MAX_PATCH_SIZE = 64


class DescriptorSpec(BaseModel):
    """Patch size, candidate stride, normalisation and optional PCA of the patch features.

    The patch of candidate pixel ``(r, c)`` covers rows
    ``r - patch_size // 2 ... r - patch_size // 2 + patch_size - 1`` (and the
    same for columns): centred for an odd size; for an even size the pixel is
    the lower-right of the four central pixels. The overview is reflect-padded
    (mirrored without repeating the edge pixel) so border pixels are candidates
    too.

    Out-of-range values raise :class:`~steerscope.errors.DescriptorError` when
    the spec is built.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    patch_size: int = Field(
        default=16,
        description=(
            f"Side of the square patch around each candidate, in overview pixels "
            f"({MIN_PATCH_SIZE}..{MAX_PATCH_SIZE}; odd or even)."
        ),
        json_schema_extra={"minimum": MIN_PATCH_SIZE, "maximum": MAX_PATCH_SIZE},
    )
    stride: int = Field(
        default=1,
        description=(
            "Candidates every `stride` pixels in rows and columns, starting at (0, 0); "
            "1 makes every overview pixel a candidate."
        ),
        json_schema_extra={"minimum": 1},
    )
    normalization: Literal["global", "patch", "none"] = Field(
        default="global",
        description=(
            "'global': the overview is standardised with its own mean and std (never with "
            "targets); 'patch': each patch is standardised on its own (contrast-invariant); "
            "'none': raw intensities."
        ),
    )
    pca_components: int | None = Field(
        default=None,
        description=(
            "Keep this many principal components of the patches (at most patch_size²); "
            "None keeps the raw patch pixels as features."
        ),
        json_schema_extra={"minimum": 1},
    )
    pca_max_patches: int = Field(
        default=20_000,
        description=(
            "PCA is fitted on at most this many candidate patches, drawn at random with `seed` "
            "(all of them when there are fewer)."
        ),
        json_schema_extra={"minimum": 1},
    )
    seed: int = Field(default=0, description="Seed of the PCA subsample; same seed, same features.")

    @field_validator("patch_size")
    @classmethod
    def _patch_size_in_range(cls, value: int) -> int:
        if not MIN_PATCH_SIZE <= value <= MAX_PATCH_SIZE:
            raise DescriptorError(
                f"patch_size must be between {MIN_PATCH_SIZE} and {MAX_PATCH_SIZE} pixels; got "
                f"{value}. Choose a size about the scale of the features that matter (e.g. 16)."
            )
        return value

    @field_validator("stride", "pca_max_patches")
    @classmethod
    def _positive(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            name = info.field_name or "value"
            raise DescriptorError(
                f"{name} must be a positive integer; got {value}. Use 1 for "
                + ("every pixel." if name == "stride" else "the smallest subsample.")
            )
        return value

    @field_validator("pca_components")
    @classmethod
    def _pca_positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise DescriptorError(
                f"pca_components must be a positive integer or None (no PCA); got {value}."
            )
        return value

    @property
    def patch_shape(self) -> tuple[int, int]:
        """``(patch_size, patch_size)``."""
        return (self.patch_size, self.patch_size)

    @property
    def n_features(self) -> int:
        """Length ``d`` of each feature vector: ``pca_components`` or ``patch_size**2``."""
        return self.pca_components if self.pca_components else self.patch_size**2
