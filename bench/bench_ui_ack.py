"""Acknowledgement latency in Chromium: click → the page shows the queued change, while DKL runs.

Starts the real app (``python -m streamlit run``, what ``steerscope demo`` runs)
on a loopback port, starts a DKL campaign on the built-in plasmonic dataset
from the Campaign page (0.5 s simulated dwell, a budget that outlasts the
clicks), then changes beta ``--clicks`` times with real keyboard events and
times each change until the page acknowledges it (the "Queued: beta …" toast
or line, or the settings line already showing the new value). This is the
timing the browser test used to assert; tests assert behaviour only.

``--baseline REV`` adds rows served from a git worktree of an earlier commit (its
``src`` first on ``PYTHONPATH``), so a change to the page is measured against what it
replaces in the same run, on the same machine.

Writes ``results/ui_ack.json``. Needs ``/usr/bin/chromium`` and Playwright.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import machine, save
from playwright.sync_api import expect, sync_playwright

from steerscope.ui import APP_PATH

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ROOT = Path(__file__).resolve().parents[1]


def _worktree(rev: str) -> Path:
    """A checkout of ``rev`` beside the repository, made once (``git worktree``)."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    folder = Path(tempfile.gettempdir()) / f"steerscope-baseline-{sha}"
    if not (folder / "src").is_dir():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), sha], check=True
        )
    return folder


def _serve(
    records: Path, refresh_s: float, campaigns: str, source: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, STEERSCOPE_DEMO_DATASET="plasmonic_nanoparticles")
    app = APP_PATH
    if source is not None:  # the baseline's package, ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), env.get("PYTHONPATH", "")])
        app = source / "src" / "steerscope" / "ui" / "app.py"
    env["STEERSCOPE_UI_CAMPAIGNS"] = campaigns
    env["STEERSCOPE_RECORDS"] = str(records)
    env["STEERSCOPE_LIVE_REFRESH_S"] = str(refresh_s)
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true"]
    cmd += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the Streamlit server did not start in 60 s")


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(400)


def _clicks(
    model: str, clicks: int, refresh_s: float, campaigns: str, source: Path | None = None
) -> list[float]:
    """Seconds from Enter to the acknowledgement, for ``clicks`` beta changes."""
    records = Path(tempfile.mkdtemp()) / "records"
    process, url = _serve(records, refresh_s, campaigns, source)
    latencies: list[float] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            main = page.get_by_test_id("stMainBlockContainer")
            expect(main.get_by_text("built-in dataset plasmonic_nanoparticles")).to_be_visible()
            page.get_by_role("link", name="Campaign").click()
            expect(page.get_by_label("Initial exploration weight (β)", exact=True)).to_be_visible(
                timeout=30_000
            )
            if model != "dkl":
                page.get_by_label("Model", exact=True).click()
                page.get_by_role("option", name=model).click()
            _fill(page, "Number of seed points", "3")
            _fill(page, "Budget (measurements)", "400")
            _fill(page, "Simulated delay per point (s)", "0.5")
            page.get_by_role("button", name="Start").click()
            beta = page.get_by_label("beta", exact=True)
            expect(beta).to_be_visible(timeout=60_000)
            expect(page.get_by_text(re.compile(r"([6-9]|\d\d+)/400 measured"))).to_be_visible(
                timeout=120_000
            )
            for i in range(clicks):
                value = f"{1.5 + 0.5 * i:g}"  # each differs from the one in force
                shown = re.compile(rf"(Queued: beta [^\n]*→ {re.escape(value)}\b|beta {value},)")
                beta.fill(value)
                start = time.perf_counter()
                beta.press("Enter")
                try:
                    expect(page.get_by_text(shown).first).to_be_visible(timeout=30_000)
                except AssertionError:
                    text = page.inner_text("body")
                    lines = [t for t in text.splitlines() if "beta" in t.lower()]
                    message = f"no acknowledgement of beta {value} on the page: {lines}"
                    raise SystemExit(message) from None
                latencies.append(time.perf_counter() - start)
                page.wait_for_timeout(300)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--model", default="dkl", choices=["dkl", "exact_gp"])
    parser.add_argument(
        "--refresh-s", type=float, nargs="+", default=[1.0], help="live redraw intervals"
    )
    parser.add_argument(
        "--campaigns",
        nargs="+",
        default=["process", "thread"],
        choices=["process", "thread"],
        help="where the UI runs the campaign ($STEERSCOPE_UI_CAMPAIGNS): its own process "
        "(the default) or a thread of the Streamlit server (before)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the app of this earlier commit, served from a git worktree",
    )
    args = parser.parse_args()
    sources: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.baseline:
        sources.insert(0, (args.baseline, _worktree(args.baseline)))
    runs = []
    for campaigns in args.campaigns:
        for refresh in args.refresh_s:
            for name, source in sources:
                runs.append(_run(args.model, args.clicks, refresh, campaigns, name, source))
    save(
        "ui_ack" if args.model == "dkl" else f"ui_ack_{args.model}",
        {"machine": machine(), "model": args.model, "runs": runs},
    )


def _run(
    model: str, clicks: int, refresh: float, campaigns: str, app: str, source: Path | None
) -> dict[str, object]:
    latencies = _clicks(model, clicks, refresh, campaigns, source)
    run = {
        "app": app,
        "campaigns": campaigns,
        "refresh_s": refresh,
        "clicks": len(latencies),
        "median_s": statistics.median(latencies),
        "max_s": max(latencies),
        "over_1s": sum(t > 1.0 for t in latencies),
        "latencies_s": latencies,
    }
    print(run, flush=True)
    return run


if __name__ == "__main__":
    main()
