"""Built-in datasets (placeholder: the registry lands with the datasets work)."""

from steerscope.datasets.base import Dataset

__all__ = ["Dataset"]
