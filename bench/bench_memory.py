"""Peak memory of a campaign on a 512×512 overview with 16×16 patches.

Each case runs in a fresh subprocess (so peaks do not mix) that builds the campaign,
runs a few steps through the real engine, simulator and record, and reports its peak
resident set size (``ru_maxrss``) and the size of the features.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from common import machine, save

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from steerscope.campaign import Campaign, load_config

pca, kind, steps = json.loads(sys.argv[1])
config = load_config({
    "name": "memory",
    "source": {"dataset": "plasmonic_nanoparticles",
               "options": {"seed": 0, "overview_size": 512, "spectrum_size": 128}},
    "descriptor": {"patch_size": 16, "stride": 1, "pca_components": pca},
    "model": {"kind": kind},
    "seed_points": {"kind": "random", "n": 20},
    "budget": {"measurements": 20 + steps},
})
t0 = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    campaign = Campaign.create(config, Path(tmp) / "memory.sqlite")
    campaign.run()
    features = campaign.features
    print(json.dumps({
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "features_mib": features.nbytes / 2**20,
        "candidates": int(features.shape[0]),
        "feature_dim": int(features.shape[1]),
        "seconds": time.perf_counter() - t0,
    }))
"""


def main() -> None:
    rows = []
    for pca, kind in ((None, "dkl"), (16, "dkl"), (16, "exact_gp")):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps([pca, kind, 5])],
            check=True,
            capture_output=True,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        row = {
            "pca_components": pca,
            "model": kind,
            **json.loads(out.stdout.strip().splitlines()[-1]),
        }
        rows.append(row)
        print(row, flush=True)
    print(save("memory", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
