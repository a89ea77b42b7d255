"""Step latency: one full BO step (fit + posterior over all candidates + acquisition + selection).

steerscope's surrogates and gpax viDKL run side by side in the same run on the same
features (16×16 patches of the plasmonic overview) and the same targets.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import machine, make_problem, model_spec, run_gpax, save

from steerscope.acquisition import acquisition_scores, select_points
from steerscope.models import make_surrogate


def steerscope_steps(problem, kind: str, n: int, n_steps: int, seed: int) -> list[float]:
    """Seconds per step for ``n_steps`` consecutive steps starting from ``n`` random points."""
    rng = np.random.default_rng(seed)
    measured = list(rng.choice(len(problem.X), size=n, replace=False))
    model = make_surrogate(model_spec(kind), seed=seed)
    times = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        model.fit(problem.X[measured], problem.y[measured])
        mean, var = model.posterior(problem.X)
        scores = acquisition_scores("ucb", mean, var, beta=0.25)
        (chosen,) = select_points(scores, problem.pixels, 1, exclude=problem.pixels[measured])
        times.append(time.perf_counter() - t0)
        measured.append(int(chosen))
    return times


def summarise(times: list[float]) -> dict[str, float]:
    rest = times[1:]
    return {
        "first_s": times[0],
        "median_s": float(np.median(rest)),
        "max_s": float(np.max(rest)),
        "n_steps": len(rest),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpax-python", default=None, help="python of the gpax venv; omit to skip")
    parser.add_argument(
        "--steps", type=int, default=6, help="steps per N (first one reported apart)"
    )
    parser.add_argument("--n", type=int, nargs="+", default=[20, 100, 300])
    args = parser.parse_args()

    problems = {
        "M=4096": make_problem("plasmonic_nanoparticles", stride=2),
        "M=16384": make_problem("plasmonic_nanoparticles", stride=1),
    }
    rows = []
    for m_label, problem in problems.items():
        for n in args.n:
            for kind in ("dkl", "exact_gp"):
                times = steerscope_steps(problem, kind, n, args.steps, seed=0)
                rows.append(
                    {"M": m_label, "N": n, "engine": f"steerscope {kind}", **summarise(times)}
                )
                print(rows[-1], flush=True)
        if args.gpax_python:
            out = run_gpax(
                "latency",
                args.gpax_python,
                {
                    "X": problem.X,
                    "y": problem.y,
                    "n_measured": np.array(args.n),
                    "n_steps": args.steps,
                    "seed": 0,
                },
            )
            for n, times in out["step_seconds"].items():
                rows.append({"M": m_label, "N": int(n), "engine": "gpax viDKL", **summarise(times)})
                print(rows[-1], flush=True)
    print(save("latency", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
