"""Turn ``results/*.json`` into the tables of ``README.md`` and the discovery plots.

The tables are written between ``<!-- tables:start -->`` and ``<!-- tables:end -->``;
the prose around them is kept.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from common import DISCOVERY_DATASETS, HELD_OUT

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def latency_table(data: dict) -> list[str]:
    rows = data["rows"]
    lines = [
        "| candidates M | measured N | engine | first step (s) | median step (s) | max step (s) "
        "| gpax median / this median |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    peer = {(r["M"], r["N"]): r["median_s"] for r in rows if r["engine"] == "gpax viDKL"}
    for r in sorted(rows, key=lambda r: (int(r["M"].split("=")[1]), r["N"], r["engine"])):
        ratio = peer.get((r["M"], r["N"]))
        speedup = f"{ratio / r['median_s']:.0f}×" if ratio and r["engine"] != "gpax viDKL" else ""
        lines.append(
            f"| {r['M'].split('=')[1]} | {r['N']} | {r['engine']} | {r['first_s']:.2f} | "
            f"{r['median_s']:.3f} | {r['max_s']:.3f} | {speedup} |"
        )
    return lines


DISCOVERY_METHODS = (
    "steerscope dkl",
    "steerscope dkl beta=0.25",
    "steerscope dkl beta=4",
    "steerscope dkl pure",
    "steerscope dkl pretrained",
    "gpax viDKL",
    "random",
)
DISCOVERY_ORDER = DISCOVERY_DATASETS
DISCOVERY_COLOURS = dict(
    zip(DISCOVERY_METHODS, ("C0", "C1", "C5", "C4", "C6", "C2", "C3"), strict=True)
)


def _discovery_runs(data: dict) -> dict:
    runs: dict = defaultdict(list)
    for key, run in data["runs"].items():
        name, method, _seed, _budget = key.split("|")
        runs[(name, method)].append(run)
    return runs


def _mean(runs: list[dict], metric: str, checkpoint: str | None = None) -> float:
    values = [r[metric][checkpoint] if checkpoint else r[metric] for r in runs]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def discovery_tables(data: dict) -> tuple[list[str], list[str], dict]:
    """The discovery table of the tuning datasets, that of the held-out one, a verdict."""
    runs = _discovery_runs(data)
    header = [
        "| dataset | method | seeds | found @25 | found @50 | found @100 | ×random @100 "
        "| regions @100 | best @50 | best @100 | skill at end | steps lost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    tuned, held = list(header), list(header)
    verdict: dict = {"not_worse": [], "twice": [], "datasets": []}
    for name in DISCOVERY_ORDER:
        rand = runs.get((name, "random"))
        if not rand:
            continue
        rand100 = _mean(rand, "found", "100")
        verdict["datasets"].append(name)
        for method in DISCOVERY_METHODS:
            these = runs.get((name, method))
            if not these:
                continue
            found = {k: _mean(these, "found", k) for k in ("25", "50", "100")}
            if rand100 > 0:
                ratio = f"{found['100'] / rand100:.1f}"
            else:
                ratio = "—" if found["100"] == 0 else "∞"
            model = method.startswith("steerscope") or method.startswith("gpax")
            skill = _mean(these, "skill") if model and method != "gpax viDKL" else float("nan")
            lost = _mean(these, "lost") if model and method != "gpax viDKL" else float("nan")
            row = (
                f"| {name} | {method} | {len(these)} | {found['25']:.3f} | {found['50']:.3f} | "
                f"{found['100']:.3f} | {ratio} | {_mean(these, 'regions', '100'):.2f} | "
                f"{_mean(these, 'best', '50'):.3f} | {_mean(these, 'best', '100'):.3f} | "
                + (f"{skill:.2f} | {lost:.0%} |" if np.isfinite(skill) else "— | — |")
            )
            (held if name in HELD_OUT else tuned).append(row)
            if method == "steerscope dkl":
                best_ok = _mean(these, "best", "100") >= _mean(rand, "best", "100")
                if found["100"] >= rand100 and best_ok:
                    verdict["not_worse"].append(name)
                if found["100"] >= 2 * rand100 and found["100"] > 0:
                    verdict["twice"].append(name)
    return tuned, held, verdict


def discovery_plot(data: dict) -> Path:
    runs = _discovery_runs(data)
    datasets = [n for n in DISCOVERY_ORDER if any((n, m) in runs for m in DISCOVERY_METHODS)]
    ncols = 4
    nrows = -(-len(datasets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(datasets) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, datasets, strict=False):
        for method in DISCOVERY_METHODS:
            these = runs.get((name, method))
            if not these:
                continue
            n = min(len(r["curve"]) for r in these)
            arr = np.array([r["curve"][:n] for r in these])
            ax.plot(
                np.arange(1, n + 1),
                arr.mean(axis=0),
                color=DISCOVERY_COLOURS[method],
                label=f"{method} ({len(these)} seeds)",
            )
        ax.set_title(name + (" (held out)" if name in HELD_OUT else ""))
        ax.set_xlabel("spectra measured")
        ax.set_ylabel("top-1 % pixels found (mean)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = RESULTS / "discovery.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def other_tables() -> list[str]:
    lines: list[str] = []
    memory = _load("memory")
    if memory:
        lines += [
            "",
            "**Peak memory**, a campaign on a 512×512 overview, 16×16 patches, stride 1 "
            "(262,144 candidates), 20 seed points + 5 steps, in a fresh process:",
            "",
            "| PCA components | model | features (MiB) | peak RSS (MiB) |",
            "| --- | --- | --- | --- |",
        ]
        for r in memory["rows"]:
            lines.append(
                f"| {r['pca_components'] or 'none (256-d patches)'} | {r['model']} | "
                f"{r['features_mib']:.0f} | {r['peak_rss_mib']:.0f} |"
            )
    remote = _load("remote")
    if remote:
        lines += [
            "",
            f"**Remote path**, one `acquire` of a {remote['channels']}-channel spectrum over "
            f"loopback Pyro5 (serpent), {remote['calls']} calls: median "
            f"{remote['remote']['median_ms']:.2f} ms (p90 {remote['remote']['p90_ms']:.2f} ms) "
            f"against {remote['direct']['median_ms']:.3f} ms calling the simulator directly.",
        ]
    load = _load("load")
    if load:
        lines += [
            "",
            "**Reading the real files** with `steerscope.load` (the built-in datasets' options, "
            f"{load['machine']['date']}): the first read parses the vendor file and fills the "
            "parsed-file cache, the second reads the cache entry (each includes the dataset's "
            "ground-truth map):",
            "",
            "| dataset | spectra | first read (s) | cached (s) | ratio |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, r in load["files"].items():
            shape = "×".join(str(v) for v in r["spectra"])
            lines.append(
                f"| {name} | {shape} | {r['first_s']:.2f} | {r['cached_s']:.3f} | "
                f"{r['speedup']:.0f}× |"
            )
    sweep = _load("sweep")
    if sweep:
        lines += [
            "",
            f"**Sweep throughput** ({sweep['what']}, {sweep['results'][0]['runs']} runs of "
            f"{sweep['budget']} measurements, overview {sweep['overview_size']}²):",
            "",
            "| mode | workers | wall (s) | runs per minute |",
            "| --- | --- | --- | --- |",
        ]
        for r in sweep["results"]:
            lines.append(
                f"| {r['mode']} | {r['workers']} | {r['wall_s']:.1f} | {r['runs_per_min']:.1f} |"
            )
    mo = _load("multiobjective")
    if mo:
        lines += [
            "",
            f"**Multi-objective** (plasmonic, two window targets, {len(mo['seeds'])} seeds, budget "
            f"{mo['budget']}): median final hypervolume as a fraction of the whole dataset's "
            "(plot: `results/multiobjective.png`):",
            "",
            "| method | final hypervolume fraction | median step (s) |",
            "| --- | --- | --- |",
        ]
        for method, r in mo["summary"].items():
            step = f"{r['median_step_s']:.3f}" if r["median_step_s"] else "—"
            lines.append(f"| {method} | {r['median_final_fraction']:.3f} | {step} |")
    return lines


def pipeline_tables(data: dict) -> list[str]:
    """Beam busy per dwell and discovery per dataset: the pipelined loop against the sequential."""
    runs = data["runs"]
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    fast = min(r["dwell_s"] for r in runs)
    lines = [
        "",
        "**Pipeline: beam busy** over the model-driven phase (DKL, UCB; from the record's "
        "start/end times; median over the runs: plasmonic seed 0 at the longer dwells, every "
        f"dataset and seed at {fast:g} s; `bench_pipeline.py`):",
        "",
        "| dwell per spectrum (s) | spectra | " + " | ".join(modes) + " |",
        "| --- | --- | " + " | ".join("---" for _ in modes) + " |",
    ]
    dwells = sorted({r["dwell_s"] for r in runs}, reverse=True)
    for dwell in dwells:
        picked = {m: [r for r in runs if r["dwell_s"] == dwell and r["mode"] == m] for m in modes}
        if not any(picked.values()):
            continue
        cells = [
            f"{100 * np.median([r['beam_busy_model_phase'] for r in picked[m]]):.1f} % "
            f"({np.median([r['wall_s'] for r in picked[m]]):.0f} s)"
            if picked[m]
            else "—"
            for m in modes
        ]
        budget = next(r["budget"] for rs in picked.values() for r in rs)
        lines.append(f"| {dwell:g} | {budget} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**Pipeline: discovery** at the same number of spectra (dwell {fast:g} s), median "
        "over seeds (ratio to the sequential loop's median; jeol_fes was held out of every "
        "choice of the pipeline's defaults):",
        "",
        "| dataset | seeds | spectra | " + " | ".join(modes) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in modes) + " |",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in runs if r["dwell_s"] == fast):
        found = {
            m: [
                r["found"]
                for r in runs
                if r["dataset"] == dataset and r["dwell_s"] == fast and r["mode"] == m
            ]
            for m in modes
        }
        base = float(np.median(found["sequential"])) if found.get("sequential") else float("nan")
        cells = []
        for m in modes:
            if not found[m]:
                cells.append("—")
                continue
            med = float(np.median(found[m]))
            ratio = f" ({med / base:.2f}×)" if base > 0 and m != "sequential" else ""
            cells.append(f"{med:.3f}{ratio}")
        seeds = len(found[modes[0]])
        budget = next(r["budget"] for r in runs if r["dataset"] == dataset and r["dwell_s"] == fast)
        label = f"{dataset} (held out)" if dataset == "jeol_fes" else dataset
        lines.append(f"| {label} | {seeds} | {budget} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    lines: list[str] = []
    latency = _load("latency")
    if latency:
        m = latency["machine"]
        lines += [
            f"Measured on {m['date']}: {m['cpus']} CPUs, Python {m['python']}, torch {m['torch']}.",
            "",
            "**Step latency** (fit + posterior over all candidates + UCB + selection; "
            "16×16 patches of the plasmonic overview; gpax in the same run):",
            "",
            *latency_table(latency),
        ]
    discovery = _load("discovery")
    if discovery:
        tuned, held, verdict = discovery_tables(discovery)
        discovery_plot(discovery)
        n = len(verdict["datasets"])
        lines += [
            "",
            f"**Discovery** (measured {discovery['machine']['date']}): mean over seeds of the "
            "fraction of the top-1 % ground-truth pixels within 2 px of a measured point "
            "(found), of the top set's connected regions reached (regions), of the true "
            "maximum measured (best), and the model skill after the last point with the share "
            "of model steps that said the model was lost. 5 random seed points, then one point "
            "per step; `steerscope dkl` is the default policy (UCB at the default beta, "
            "adaptive exploration), `pure` the same with exploration off. "
            "Plot: `results/discovery.png`.",
            "",
            *tuned,
            "",
            "Held out of every choice of defaults:",
            "",
            *held,
            "",
            f"The default policy finds at least what random finds (found and best @100) on "
            f"{len(verdict['not_worse'])} of {n} datasets "
            f"({', '.join(verdict['not_worse']) or 'none'}); twice what random finds on "
            f"{len(verdict['twice'])} of {n} ({', '.join(verdict['twice']) or 'none'}).",
        ]
    lines += other_tables()
    pipeline = _load("pipeline")
    if pipeline:
        lines += pipeline_tables(pipeline)
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- tables:start -->", "<!-- tables:end -->"
    before, rest = text.split(start)
    _, after = rest.split(end)
    readme.write_text(before + start + "\n" + "\n".join(lines) + "\n" + end + after)
    print(readme)


if __name__ == "__main__":
    main()
