"""Real STEM-EDX spectrum images: the test files shipped in the HyperSpy 1.7.6 wheel.

The files are GPL-3.0 test data of the HyperSpy project. They are not part of
steerscope: :func:`fetch_real_data` downloads the wheel from PyPI with pip,
extracts the few files used here into ``data_dir()/hyperspy-1.7.6/`` and writes
a ``LICENSE-NOTE.txt`` next to them. Run it once (``steerscope datasets fetch``,
``make data`` or ``python -m steerscope.datasets.real``); afterwards the loaders
:func:`jeol_fes`, :func:`bruker_tem` and :func:`velox_aupdcu` work offline.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steerscope.data import SpectrumImage, load
from steerscope.data.cache import data_dir
from steerscope.datasets.base import Dataset
from steerscope.errors import DataError

__all__ = [
    "HYPERSPY_VERSION",
    "REAL_FILES",
    "bruker_tem",
    "data_dir",
    "fetch_real_data",
    "jeol_fes",
    "real_data_path",
    "velox_aupdcu",
]

logger = logging.getLogger(__name__)

HYPERSPY_VERSION = "1.7.6"
"""The HyperSpy release whose wheel carries the test files."""

_SUBDIR = f"hyperspy-{HYPERSPY_VERSION}"
_WHEEL_IO = "hyperspy/tests/io/"
_JEOL_PREFIX = _WHEEL_IO + "JEOL_files/"
_VELOX_ZIP = _WHEEL_IO + "emd_files/fei_emd_files.zip"
_VELOX_MEMBERS = (
    "fei_SI_EDS-HAADF-4detectors_2frames.emd",
    "fei_SI_SuperX-HAADF_10frames_10x50.emd",
)

REAL_FILES: dict[str, str] = {
    "jeol_fes": "JEOL_files/rawdata.ASW",
    "jeol_fes_pts": "JEOL_files/Sample/00_View000/View000_0000006.pts",
    "jeol_fes_img": "JEOL_files/Sample/00_View000/View000_0000000.img",
    "bruker_tem": "bruker_data/test_TEM.bcf",
    "velox_aupdcu": "emd_files/fei_SI_EDS-HAADF-4detectors_2frames.emd",
    "velox_superx_10x50": "emd_files/fei_SI_SuperX-HAADF_10frames_10x50.emd",
}
"""Files :func:`fetch_real_data` guarantees, relative to ``data_dir()/hyperspy-1.7.6/``."""

_LICENSE_NOTE = f"""\
These files are test data of the HyperSpy project (https://hyperspy.org),
copied unchanged from the hyperspy {HYPERSPY_VERSION} wheel on PyPI
(paths inside the wheel: {_WHEEL_IO}JEOL_files/, {_WHEEL_IO}bruker_data/test_TEM.bcf,
and {", ".join(_VELOX_MEMBERS)} from {_VELOX_ZIP}).

License: GPL-3.0 (GNU General Public License, version 3), as HyperSpy itself.
They are not part of steerscope and are not redistributed with it; steerscope
downloads them on request (`steerscope datasets fetch`).
"""


def real_data_path(name: str, dest: Path | None = None) -> Path:
    """Path of one fetched file, by its key in :data:`REAL_FILES`.

    Raises
    ------
    DataError
        If the key is unknown or the file has not been fetched yet.
    """
    if name not in REAL_FILES:
        raise DataError(f"unknown real data file {name!r}; expected one of {sorted(REAL_FILES)}")
    root = (dest if dest is not None else data_dir()) / _SUBDIR
    path = root / REAL_FILES[name]
    if not path.is_file():
        raise DataError(
            f"the real data file {path} is missing: the HyperSpy {HYPERSPY_VERSION} test files "
            "have not been fetched; run `steerscope datasets fetch` (or `make data`) to "
            "download them (set STEERSCOPE_DATA to choose where they go)."
        )
    return path


def _expected_paths(root: Path) -> list[Path]:
    return [root / rel for rel in REAL_FILES.values()] + [root / "LICENSE-NOTE.txt"]


def _download_wheel(tmp: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary=:none:",
        "--disable-pip-version-check",
        f"hyperspy=={HYPERSPY_VERSION}",
        "-d",
        str(tmp),
    ]
    logger.info("downloading the hyperspy %s wheel: %s", HYPERSPY_VERSION, " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(
            f"could not run pip to download hyperspy=={HYPERSPY_VERSION} ({exc}); "
            "check that pip is installed in this Python and that PyPI is reachable."
        ) from exc
    wheels = sorted(tmp.glob("hyperspy-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-5:])
        raise DataError(
            f"pip could not download the hyperspy {HYPERSPY_VERSION} wheel from the package "
            f"registry (exit code {proc.returncode}):\n{tail}\n"
            "Check the network or proxy (PIP_INDEX_URL), then run `steerscope datasets fetch` "
            "again."
        )
    return wheels[0]


def _extract(wheel: Path, root: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        wanted = [
            n
            for n in names
            if not n.endswith("/")
            and (
                n == _JEOL_PREFIX + "rawdata.ASW"
                or n.startswith(_JEOL_PREFIX + "Sample/")
                or n == _WHEEL_IO + "bruker_data/test_TEM.bcf"
            )
        ]
        if _VELOX_ZIP not in names or not wanted:
            raise DataError(
                f"the downloaded wheel {wheel.name} does not hold the expected test files "
                f"under {_WHEEL_IO}; delete {root} and fetch again."
            )
        for name in wanted:
            target = root / name[len(_WHEEL_IO) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        with zipfile.ZipFile(io.BytesIO(zf.read(_VELOX_ZIP))) as inner:
            (root / "emd_files").mkdir(parents=True, exist_ok=True)
            for member in _VELOX_MEMBERS:
                with inner.open(member) as src, open(root / "emd_files" / member, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def fetch_real_data(dest: Path | None = None) -> list[Path]:
    """Download the HyperSpy 1.7.6 wheel and extract the real EDX test files.

    Idempotent: when every expected file is already present nothing is
    downloaded. Extraction goes to a temporary folder first and is moved into
    place at the end, so an interrupted fetch leaves no half-written set.

    Parameters
    ----------
    dest : Path, optional
        Data directory; default :func:`data_dir`. Files go to
        ``dest/hyperspy-1.7.6/``.

    Returns
    -------
    list of Path
        The files of :data:`REAL_FILES` and the ``LICENSE-NOTE.txt``.

    Raises
    ------
    DataError
        If pip cannot reach the package registry or the wheel lacks the files.
    """
    base = Path(dest) if dest is not None else data_dir()
    root = base / _SUBDIR
    expected = _expected_paths(root)
    if all(p.is_file() for p in expected):
        logger.info("real data already present in %s", root)
        return expected
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="steerscope-fetch-", dir=base) as tmp_name:
        tmp = Path(tmp_name)
        wheel = _download_wheel(tmp)
        staging = tmp / _SUBDIR
        _extract(wheel, staging)
        (staging / "LICENSE-NOTE.txt").write_text(_LICENSE_NOTE, encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        shutil.move(str(staging), str(root))
    missing = [str(p) for p in expected if not p.is_file()]
    if missing:
        raise DataError(f"after extraction these files are still missing: {missing}")
    logger.info("fetched %d files into %s", len(expected), root)
    return expected


def _provenance(rel: str, instrument: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    if rel.startswith("emd_files/"):
        inside = f"{_VELOX_ZIP} → {rel.split('/')[-1]}"
    else:
        inside = _WHEEL_IO + rel
    return {
        "origin": f"hyperspy {HYPERSPY_VERSION} wheel on PyPI: {inside}",
        "license": "GPL-3.0",
        "authors": "The HyperSpy developers (test files of the HyperSpy project)",
        "instrument": instrument,
        **extra,
    }


def _pretty(line: str) -> str:
    element, family = line.split("_", 1)
    greek = {"a": "α", "b": "β", "g": "γ"}
    if len(family) >= 2 and family[1] in greek:
        family = family[0] + greek[family[1]] + family[2:]
    return f"{element} {family}"


def _ground_truth(image: SpectrumImage, spec: dict[str, Any]) -> NDArray[np.float64]:
    # Imported here: datasets sits above scalarizers, and the import is not free.
    from steerscope.scalarizers import target_map

    return target_map(spec, image)


def _dataset(
    name: str,
    key: str,
    spec: dict[str, Any],
    description: str,
    load_options: dict[str, Any],
) -> Dataset:
    path = real_data_path(key)
    image = load(path, **load_options)
    with_license = dict(image.metadata)
    with_license["license"] = "GPL-3.0"
    image = SpectrumImage(
        overview=image.overview,
        spectra=image.spectra,
        energy=image.energy,
        signal_kind=image.signal_kind,
        pixel_size=image.pixel_size,
        pixel_units=image.pixel_units,
        metadata=with_license,
    )
    instrument = image.metadata.get("instrument") or (
        f"not named in the file ({image.metadata.get('format')}, "
        f"detector {image.metadata.get('detector', 'unknown')})"
    )
    provenance = _provenance(
        REAL_FILES[key],
        instrument,
        {"file": str(path), "load_options": dict(load_options)},
    )
    return Dataset(
        name=name,
        image=image,
        ground_truth=_ground_truth(image, spec),
        default_scalarizer=spec,
        description=description,
        provenance=provenance,
    )


def jeol_fes(downsample: int = 8, rebin_energy: int = 4, line: str = "Fe_Ka") -> Dataset:
    """FeS particle, JEOL JEM-2100F STEM-EDX (``rawdata.ASW``) with its 512×512 STEM image.

    Parameters
    ----------
    downsample : int, default 8
        Spatial binning of the 512×512 spectrum image (8 → 64×64 spectra).
    rebin_energy : int, default 4
        Channels summed together (4096 → 1024 channels).
    line : str, default "Fe_Ka"
        EDX line of the default scalarizer (``"Fe_Ka"`` or ``"S_Ka"``).

    Returns
    -------
    Dataset
        Overview ``(512, 512)``, spectra ``(512 / downsample, 512 / downsample, C)``,
        ground truth = the ``line`` intensity of every spectrum on the overview grid.
    """
    return _dataset(
        "jeol_fes",
        "jeol_fes",
        {"kind": "edx_line", "line": line, "width": None},
        "An iron-sulfide (FeS) particle, STEM-EDX on a JEOL JEM-2100F at 200 kV. "
        f"The default target is the {_pretty(line)} X-ray intensity: high on the "
        "particle, near zero on the support.",
        {"downsample": downsample, "rebin_energy": rebin_energy},
    )


def bruker_tem(line: str = "Si_Ka") -> Dataset:
    """Bruker ``test_TEM.bcf``: 64×64 STEM-EDX map with HAADF, Super-X detector, low counts.

    The sum spectrum is dominated by Si Kα (about 2.4 counts per pixel in the
    line window, 9.8k in all) and O Kα; Cu, Fe and Zr lines hold well under 100
    counts in the whole map. Si Kα is therefore the default target: the only
    line with enough counts to show structure (8×8-block scatter 1.4× Poisson).

    Parameters
    ----------
    line : str, default "Si_Ka"
        EDX line of the default scalarizer.

    Returns
    -------
    Dataset
        Overview ``(64, 64)``, spectra ``(64, 64, 2048)``.
    """
    return _dataset(
        "bruker_tem",
        "bruker_tem",
        {"kind": "edx_line", "line": line, "width": None},
        "A 64×64 STEM-EDX map recorded on a Bruker Super-X system at 200 kV, with its HAADF "
        "image. Counts are low (a few per pixel in the strongest line), so line maps are "
        f"noisy: a test of robustness. The default target is the {_pretty(line)} intensity.",
        {},
    )


def velox_aupdcu(line: str = "Au_La") -> Dataset:
    """Au/Pd/Cu nanoparticles, Thermo Fisher Talos Velox ``.emd`` (16×16×4096, 2 frames summed).

    Parameters
    ----------
    line : str, default "Au_La"
        EDX line of the default scalarizer.

    Returns
    -------
    Dataset
        Overview ``(16, 16)`` HAADF, spectra ``(16, 16, 4096)``; the Au Lα map follows
        the HAADF contrast (heavy Au particles are bright).
    """
    return _dataset(
        "velox_aupdcu",
        "velox_aupdcu",
        {"kind": "edx_line", "line": line, "width": None},
        "Au/Pd/Cu alloy nanoparticles recorded on a Talos (Super-X, 4 detectors, 200 kV), "
        f"16×16 pixels, 2 frames summed. The default target is the {_pretty(line)} intensity; "
        "Au Lα follows the HAADF contrast of the particles (heavy Au is bright).",
        {},
    )


def _main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = fetch_real_data()
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201  (command-line output)
        return 1
    print(f"real data in {data_dir() / _SUBDIR}:")  # noqa: T201  (command-line output)
    for p in paths:
        print(f"  {p}")  # noqa: T201  (command-line output)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
