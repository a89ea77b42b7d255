"""Screenshots of every UI page for docs/ui.md: ``python docs/make_ui_screenshots.py``.

Starts the app on the built-in plasmonic dataset (loopback, a free port, a
temporary records folder), drives headless Chromium through Source → Target →
Campaign (a short exact-GP run) → Review, then two targets → a multi-objective
Campaign → a small Sweep, and writes ``docs/figures/ui_*.png``.
Needs Debian's chromium at /usr/bin/chromium (``make chromium``); nothing is
downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from steerscope.ui import APP_PATH

OUT = Path(__file__).parent / "figures"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(500)


def main() -> int:
    """Start the app, take the screenshots, stop the app; returns the exit code."""
    OUT.mkdir(parents=True, exist_ok=True)
    records = Path(tempfile.mkdtemp(prefix="steerscope-ui-shots-"))
    port = _free_port()
    env = dict(os.environ)
    env.update(STEERSCOPE_DEMO_DATASET="plasmonic_nanoparticles", STEERSCOPE_RECORDS=str(records))
    command = [sys.executable, "-m", "streamlit", "run", str(APP_PATH)]
    command += ["--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the app did not start", file=sys.stderr)
                    return 1
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            page.goto(url)
            expect(page.get_by_text("built-in dataset plasmonic_nanoparticles")).to_be_visible()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "ui_source.png"), full_page=True)

            page.get_by_role("link", name="Target").click()
            _number(page, "Window low (eV)", "1.0")
            _number(page, "Window high (eV)", "1.8")
            page.get_by_role("button", name="Save target").click()
            expect(page.get_by_text("Saved:")).to_be_visible()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "ui_target.png"), full_page=True)

            page.get_by_role("link", name="Campaign").click()
            page.get_by_label("Model", exact=True).click()
            page.get_by_role("option", name="exact_gp").click()
            _number(page, "Budget (measurements)", "30")
            page.get_by_role("button", name="Start").click()
            expect(page.get_by_text("Status: finished", exact=False)).to_be_visible(timeout=180_000)
            page.set_viewport_size({"width": 1400, "height": 3300})  # to the event log
            page.wait_for_timeout(2000)
            page.screenshot(path=str(OUT / "ui_campaign.png"), full_page=True)
            page.set_viewport_size({"width": 1400, "height": 2600})

            page.get_by_role("link", name="Review").click()
            expect(page.get_by_text("Interventions", exact=True)).to_be_visible()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(OUT / "ui_review.png"), full_page=True)

            # Two targets: tip/edge modes and the bulk plasmon -> a multi-objective campaign.
            page.get_by_role("link", name="Target").click()
            page.get_by_text("Several targets (multi-objective)").click()
            _number(page, "Target 1 low (eV)", "1.0")
            _number(page, "Target 1 high (eV)", "1.8")
            _number(page, "Target 2 low (eV)", "3.5")
            _number(page, "Target 2 high (eV)", "4.1")
            page.get_by_role("button", name="Save target").click()
            expect(page.get_by_text("Saved: Σ 1.00–1.80 | Σ 3.50–4.10")).to_be_visible()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "ui_target_multi.png"), full_page=True)

            page.get_by_role("link", name="Campaign").click()
            page.get_by_label("Model", exact=True).click()
            page.get_by_role("option", name="exact_gp").click()
            _number(page, "Budget (measurements)", "30")
            page.get_by_role("button", name="Start").click()
            expect(page.get_by_text("Weight: Σ 1.00–1.80").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Status: finished", exact=False)).to_be_visible(timeout=180_000)
            page.wait_for_timeout(3000)
            page.screenshot(path=str(OUT / "ui_campaign_multi.png"), full_page=True)

            page.get_by_role("link", name="Sweep").click()
            _number(page, "Budget per run", "15")
            page.get_by_role("button", name="Run sweep").click()
            expect(page.get_by_text("run(s) in", exact=False)).to_be_visible(timeout=300_000)
            page.mouse.move(1390, 2590)  # no tooltip in the picture
            page.wait_for_timeout(3000)
            page.screenshot(path=str(OUT / "ui_sweep.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    for name in (
        "source",
        "target",
        "campaign",
        "review",
        "target_multi",
        "campaign_multi",
        "sweep",
    ):
        print(OUT / f"ui_{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
