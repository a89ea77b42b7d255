"""Loopback round trip of one ``acquire`` of a 2048-channel spectrum through the Pyro5 server.

Serves a :class:`~steerscope.instruments.SimulatedMicroscope` (noise off, no delay) on
127.0.0.1, then times ``RemoteMicroscope.acquire`` of one point ``--calls`` times
(after a few warm-up calls) and prints JSON: median, p10, p90 and max in ms, plus the
same for the simulator called directly, so the network and encoding cost is the
difference.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from steerscope.data import SpectrumImage
from steerscope.instruments import SimulatedMicroscope
from steerscope.instruments.client import RemoteMicroscope
from steerscope.instruments.server import MicroscopeServer
from steerscope.types import EnergyAxis, SignalKind

N_CHANNELS = 2048


def _image() -> SpectrumImage:
    rng = np.random.default_rng(0)
    spectra = rng.poisson(5.0, size=(32, 32, N_CHANNELS)).astype(np.float32)
    overview = spectra.sum(axis=2)
    return SpectrumImage(overview, spectra, EnergyAxis(N_CHANNELS, 0.0, 0.5), SignalKind.EELS)


def _timings(call, n: int, warmup: int = 10) -> dict[str, float]:
    for _ in range(warmup):
        call()
    ms = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        call()
        ms[i] = (time.perf_counter() - t0) * 1000.0
    return {
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
        "max_ms": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    sim = SimulatedMicroscope(_image(), dwell_time_s=0.01)
    point = np.array([[3, 7]])
    direct = _timings(lambda: sim.acquire(point), args.calls)
    with MicroscopeServer(sim) as server:
        remote = RemoteMicroscope(server.uri, timeout_s=10)
        spectrum = remote.acquire(point).spectra
        assert spectrum.shape == (1, N_CHANNELS)
        remote_t = _timings(lambda: remote.acquire(point), args.calls)
        remote.close()
    payload = {
        "benchmark": "remote_acquire_loopback",
        "channels": N_CHANNELS,
        "dtype": str(spectrum.dtype),
        "calls": args.calls,
        "remote": remote_t,
        "direct": direct,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(payload, indent=2))
    out = Path(__file__).parent / "results" / "remote.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
