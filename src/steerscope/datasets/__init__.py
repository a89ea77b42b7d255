"""Built-in datasets: synthetic spectrum images with known ground truth, and real test files.

``get_dataset(name, **options)`` builds any of ``list_datasets()``; the
synthetic generators and the real-data loaders are also importable directly.
"""

from steerscope.datasets.base import Dataset
from steerscope.datasets.core_loss import core_loss_two_phase
from steerscope.datasets.plasmonic import plasmonic_nanoparticles
from steerscope.datasets.real import bruker_tem, data_dir, fetch_real_data, jeol_fes, velox_aupdcu
from steerscope.datasets.registry import dataset_info, get_dataset, list_datasets

__all__ = [
    "Dataset",
    "bruker_tem",
    "core_loss_two_phase",
    "data_dir",
    "dataset_info",
    "fetch_real_data",
    "get_dataset",
    "jeol_fes",
    "list_datasets",
    "plasmonic_nanoparticles",
    "velox_aupdcu",
]
