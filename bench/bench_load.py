"""Reading the real microscope files: a first read (parsed by RosettaSciIO) against a cached one.

Each file of ``steerscope datasets fetch`` is read twice with the options its
built-in dataset uses, in a fresh parsed-file cache (``steerscope.data.cache``):
the first read parses the vendor file and writes the cache entry, the second reads
the entry back. HyperSpy is imported before timing, so neither read pays for it.
Writes ``results/load.json``: seconds of each read and their ratio.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

from common import machine, save

DATASETS = ("jeol_fes", "bruker_tem", "velox_aupdcu")


def main() -> None:
    import hyperspy.api  # noqa: F401  (imported once, outside the timings)

    from steerscope.datasets import get_dataset

    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["STEERSCOPE_CACHE"] = cache
        for name in DATASETS:
            seconds = []
            for _ in range(2):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dataset = get_dataset(name)
                seconds.append(time.perf_counter() - start)
            image = dataset.image
            rows[name] = {
                "file": image.metadata.get("source"),
                "spectra": list(image.spectra.shape),
                "first_s": seconds[0],
                "cached_s": seconds[1],
                "speedup": seconds[0] / seconds[1],
            }
            print(name, rows[name], flush=True)
    print(save("load", {"machine": machine(), "files": rows}))


if __name__ == "__main__":
    main()
