"""Draw one overview figure per built-in dataset into ``docs/figures/dataset_<name>.png``.

Each figure shows the overview image, the mean spectrum with the default
scalarizer's energy window(s) shaded, the spectra at an interesting pixel (the
ground-truth maximum) and a dull one (the ground truth's 10th percentile), and
the ground-truth map. Real datasets are drawn only when their files have been
fetched (``steerscope datasets fetch``); otherwise the script says so and skips
them.

Run: ``.venv/bin/python docs/make_dataset_figures.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray

from steerscope.datasets import Dataset, get_dataset, list_datasets
from steerscope.errors import SteerscopeError

SYNTHETIC = ("plasmonic_nanoparticles", "core_loss_two_phase")


def energy_windows(spec: Any) -> list[tuple[str, float, float]]:
    """Every ``[low, high]`` window in a scalarizer spec, with the key it was found under."""
    found: list[tuple[str, float, float]] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(isinstance(v, int | float) for v in value)
            ):
                found.append((str(key), float(value[0]), float(value[1])))
            else:
                found.extend(energy_windows(value))
    elif isinstance(spec, list):
        for item in spec:
            found.extend(energy_windows(item))
    return found


def example_pixels(ground_truth: NDArray[np.float64]) -> tuple[tuple[int, int], tuple[int, int]]:
    """An interesting pixel (ground-truth maximum) and a dull one (nearest its 10th percentile)."""
    hot = np.unravel_index(np.argmax(ground_truth), ground_truth.shape)
    dull_level = np.quantile(ground_truth, 0.1)
    dull = np.unravel_index(np.argmin(np.abs(ground_truth - dull_level)), ground_truth.shape)
    return (int(hot[0]), int(hot[1])), (int(dull[0]), int(dull[1]))


def draw(ds: Dataset, out_dir: Path) -> Path:
    """Draw the four panels of one dataset and save them as ``dataset_<name>.png``."""
    image = ds.image
    energy = image.energy.values
    units = image.energy.units
    hot, dull = example_pixels(ds.ground_truth)
    mean_spectrum = np.asarray(image.spectra, dtype=np.float64).reshape(-1, image.n_channels)
    mean_spectrum = mean_spectrum.mean(axis=0)
    extent = [0, image.overview_shape[1] * image.pixel_size, image.overview_shape[0]]
    extent = [0.0, extent[1], extent[2] * image.pixel_size, 0.0]

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.4), layout="constrained")
    ax_overview, ax_mean, ax_examples, ax_truth = axes

    ax_overview.imshow(image.overview, cmap="gray", extent=extent)
    ax_overview.set_title("overview (HAADF)")
    ax_truth.set_title(f"ground truth: {_spec_label(ds.default_scalarizer)}")
    shown = ax_truth.imshow(ds.ground_truth, cmap="viridis", extent=extent)
    fig.colorbar(shown, ax=ax_truth, shrink=0.85)
    for ax in (ax_overview, ax_truth):
        for (row, col), colour, label in (
            (hot, "tab:red", "interesting"),
            (dull, "tab:cyan", "dull"),
        ):
            ax.plot(
                (col + 0.5) * image.pixel_size,
                (row + 0.5) * image.pixel_size,
                marker="o",
                markersize=9,
                markerfacecolor="none",
                markeredgecolor=colour,
                markeredgewidth=2,
                label=label,
            )
        ax.set_xlabel(image.pixel_units)
        ax.set_ylabel(image.pixel_units)
    ax_overview.legend(loc="lower right", fontsize=8)

    windows = energy_windows(ds.default_scalarizer)
    colours = ["tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for ax in (ax_mean, ax_examples):
        for (key, low, high), colour in zip(windows, colours, strict=False):
            ax.axvspan(low, high, color=colour, alpha=0.25, label=f"{key} {low:g}–{high:g} {units}")
        ax.set_xlabel(
            f"energy loss ({units})" if image.signal_kind == "EELS" else f"energy ({units})"
        )
        ax.set_ylabel("counts")
    ax_mean.plot(energy, mean_spectrum, color="black", lw=1)
    ax_mean.set_title("mean spectrum, scalarizer window(s) shaded")
    ax_examples.plot(energy, image.spectra_at([hot])[0], color="tab:red", lw=1, label="interesting")
    ax_examples.plot(energy, image.spectra_at([dull])[0], color="tab:cyan", lw=1, label="dull")
    ax_examples.set_title("spectra at the marked pixels")
    _zoom_past_zero_loss(ds, ax_mean, ax_examples, mean_spectrum)
    ax_mean.legend(fontsize=8)
    ax_examples.legend(fontsize=8)

    fig.suptitle(f"{ds.name}  (seed {ds.provenance.get('seed', '—')}; {ds.provenance['license']})")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"dataset_{ds.name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _spec_label(spec: dict[str, Any]) -> str:
    kind = spec.get("kind", "?")
    if kind == "edx_line":
        return f"{spec.get('line')} line"
    if kind == "window_ratio":
        return "window ratio"
    return str(kind).replace("_", " ")


def _zoom_past_zero_loss(ds: Dataset, *axes_and_mean: Any) -> None:
    """For low-loss EELS, cap the y axes so the plasmons show next to the zero-loss peak."""
    ax_mean, ax_examples, mean_spectrum = axes_and_mean
    energy = ds.image.energy.values
    if ds.image.energy.low <= 0.0 < ds.image.energy.high:
        beyond = energy > 0.7
        hot_spectrum = ds.image.spectra_at([example_pixels(ds.ground_truth)[0]])[0]
        ax_mean.set_ylim(0, 1.3 * float(mean_spectrum[beyond].max()))
        ax_examples.set_ylim(0, 1.3 * float(hot_spectrum[beyond].max()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "figures")
    args = parser.parse_args()
    for name in list_datasets():
        try:
            ds = get_dataset(name)
        except (SteerscopeError, ImportError) as exc:
            if name in SYNTHETIC:
                raise
            print(f"skipped {name}: {exc}")
            continue
        print(f"wrote {draw(ds, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
