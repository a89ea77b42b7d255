"""The peer: gpax viDKL + UCB, run in its own pinned virtual environment.

Run by the benchmarks with ``bench/.gpax-venv/bin/python gpax_worker.py MODE IN.npz OUT.json``
(never imported by steerscope). It reproduces the reference tool's engine as fairly as
we can: float64 (``enable_x64``), one reused ``viDKL`` object, ``fit`` with the
reference's 1000 SVI steps at step size 5e-3, batched prediction, and UCB with
``maximize=True`` (gpax minimises by default).

Modes
-----
latency
    ``IN.npz`` holds ``X`` (M, d), ``y`` (M,), ``n_measured`` (k,), ``n_steps`` and
    ``seed``. For each N, runs ``n_steps`` BO steps starting from N random measured
    points, adding the chosen point each step, and times every step.
campaign
    ``IN.npz`` holds ``X`` (M, d), ``y`` (M,), ``seed_indices`` (s,), ``budget``,
    ``beta``, ``seed``. Runs one campaign to ``budget`` measurements and writes the
    measured indices in order and the step times.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _setup():
    import gpax
    from gpax.acquisition.base_acq import ucb

    gpax.utils.enable_x64()
    return gpax, ucb


def _step(gpax, ucb, model, key, X, measured, y, beta, batch_size):
    import jax.numpy as jnp

    Xm = jnp.asarray(X[measured])
    ym = jnp.asarray(y[measured])
    # Targets normalised with measured values only, as steerscope does.
    ym = (ym - ym.mean()) / (ym.std() + 1e-12)
    model.fit(key, Xm, ym, num_steps=1000, step_size=5e-3, print_summary=False, progress_bar=False)
    # gpax's batched prediction leaves its result unset when no full batch fits (fewer
    # candidates than batch_size, e.g. the 16 x 16 Velox set): never ask for more than all.
    batch_size = min(batch_size, len(X))
    mean, var = model.predict_in_batches(key, jnp.asarray(X), batch_size=batch_size)
    acq = np.array(ucb((mean, var), beta=beta, maximize=True), dtype=np.float64)
    acq[measured] = -np.inf
    return int(np.argmax(acq))


def latency(data, out):
    gpax, ucb = _setup()
    X = np.asarray(data["X"], dtype=np.float64)
    y = np.asarray(data["y"], dtype=np.float64)
    rng = np.random.default_rng(int(data["seed"]))
    key, _ = gpax.utils.get_keys(int(data["seed"]))
    results = {}
    for n in data["n_measured"]:
        model = gpax.viDKL(X.shape[1], z_dim=2, kernel="RBF")
        measured = list(rng.choice(len(X), size=int(n), replace=False))
        times = []
        for _ in range(int(data["n_steps"])):
            t0 = time.perf_counter()
            nxt = _step(gpax, ucb, model, key, X, measured, y, 0.25, 4096)
            times.append(time.perf_counter() - t0)
            measured.append(nxt)
        results[str(int(n))] = times
    json.dump({"step_seconds": results}, out)


def campaign(data, out):
    gpax, ucb = _setup()
    X = np.asarray(data["X"], dtype=np.float64)
    y = np.asarray(data["y"], dtype=np.float64)
    key, _ = gpax.utils.get_keys(int(data["seed"]))
    measured = [int(i) for i in data["seed_indices"]]
    model = gpax.viDKL(X.shape[1], z_dim=2, kernel="RBF")
    times = []
    while len(measured) < int(data["budget"]):
        t0 = time.perf_counter()
        measured.append(_step(gpax, ucb, model, key, X, measured, y, float(data["beta"]), 4096))
        times.append(time.perf_counter() - t0)
    json.dump({"measured": measured, "step_seconds": times}, out)


if __name__ == "__main__":
    mode, src, dst = sys.argv[1:4]
    with np.load(src) as npz, open(dst, "w") as fh:
        {"latency": latency, "campaign": campaign}[mode](dict(npz), fh)
