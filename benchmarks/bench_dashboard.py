"""Training speed with the Train page open in a browser (refreshing live) against the CLI, same config.

    python benchmarks/bench_dashboard.py [--epochs 3]

Starts `streamlit run dashboard.py` on a free loopback port with a temporary run store, drives it
with Playwright and Debian's Chromium, and prints images/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from serve import CHROMIUM_FLAGS, ROOT, dashboard_server

from gan.store import RunStore


def images_per_s(runs_dir: Path) -> float:
    """Mean throughput over the run's steps (each step logs its flush window's rate)."""
    (info,) = RunStore(runs_dir).list()
    rates = RunStore(runs_dir).open(info["id"]).steps()["images_per_s"]
    return float(np.mean(rates[len(rates) // 10 :]))  # skip warm-up


def cli(epochs: int, runs_dir: Path) -> float:
    subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(runs_dir), "train", "--preset", "report-2019",
                    "--epochs", str(epochs), "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return images_per_s(runs_dir)


def dashboard(epochs: int, runs_dir: Path) -> float:
    from playwright.sync_api import sync_playwright

    with dashboard_server(runs_dir) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/Train")
        slider = page.locator('input[type=range][aria-label="epochs"]')
        slider.focus()
        slider.press("Home")
        for _ in range(epochs - 1):
            slider.press("ArrowRight")
        page.get_by_text(f"({epochs} epochs ×").wait_for()
        page.locator('[data-testid="stButton"] button', has_text="Start training").click()
        page.locator('[data-testid="stProgress"]', has_text="finished").wait_for(timeout=600_000)
        browser.close()
    return images_per_s(runs_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rate_cli = cli(args.epochs, tmp / "cli")
        rate_dashboard = dashboard(args.epochs, tmp / "dashboard")
    print(f"# report-2019, {args.epochs} epochs, batch 100, {os.cpu_count()} CPUs")
    print(f"{'where':32} {'images/s':>10}")
    print(f"{'CLI (python -m gan train)':32} {rate_cli:10,.0f}")
    print(f"{'dashboard, Train page open':32} {rate_dashboard:10,.0f}")
    print(f"dashboard / CLI: {rate_dashboard / rate_cli:.1%}")


if __name__ == "__main__":
    main()
