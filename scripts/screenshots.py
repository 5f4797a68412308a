"""The README's screenshots, taken anew from the dashboard as it is: a fresh run store with a 5-epoch `cgan` run and
a 20-epoch `report-2019` run (trained with the CLI), the server started as the README says, each page shot in
Chromium at 1400 x 1000; then a small sweep (Ray Tune) for the Sweeps page, and last the Train page while a job
started from it trains.

    python scripts/screenshots.py                      # into docs/screenshots/ (about 5 minutes on 2 cores)
    python scripts/screenshots.py --out /tmp/shots --store /tmp/store   # keep the store, to shoot again faster

A kept store keeps its sweep too, so from the second shot on its trials are on the Home and Runs pages as well.

Needs Debian's Chromium and the playwright package (requirements-dev.txt), as the browser test does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.serve import CHROMIUM, CHROMIUM_FLAGS, dashboard_server, start_long_job  # noqa: E402
from gan.store import RunStore  # noqa: E402

RUNS = (("cgan", 5), ("report-2019", 20))  # the last one is the newest: the pages open on it


def train(store: Path) -> None:
    """The two runs, unless the store has them already (``--store`` kept from an earlier shot)."""
    done = {path.parent.name.split("-")[2] for path in store.glob("*/config.json")} if store.exists() else set()
    for preset, epochs in RUNS:
        family = "dcgan" if preset == "cgan" else "mlp"
        if family in done:
            continue
        print(f"training {preset} for {epochs} epochs", flush=True)
        subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(store), "train", "--preset", preset,
                        "--epochs", str(epochs), "--quiet"], cwd=ROOT, check=True)


def sweep(store: Path) -> None:
    """A small sweep of the two learning rates on Ray Tune (about three minutes here), unless the store has one."""
    if (store / ".sweeps").exists() and any((store / ".sweeps").iterdir()):
        return
    print("sweeping report-2019's learning rates", flush=True)
    subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(store), "sweep", "--preset", "report-2019",
                    "--epochs", "3", "--trials", "6", "--scheduler", "asha",
                    "--space", "lr_g=loguniform:1e-4:1e-2", "--space", "lr_d=loguniform:1e-4:1e-2"],
                   cwd=ROOT, check=True)


def shoot(page, out: Path, name: str) -> None:
    if page.locator('[data-testid="stException"]').count():
        raise RuntimeError(f"{name}: " + page.locator('[data-testid="stException"]').first.inner_text())
    page.wait_for_timeout(1500)  # images and charts drawn
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"  {out / name}.png", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--store", type=Path, help="run store to use and keep (default: a temporary one)")
    parser.add_argument("--live-seconds", type=float, default=40.0,
                        help="how long the job started on the Train page trains before its shot")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "runs"
        train(store)
        runs = RunStore(store)
        cache = {"GAN_CACHE_DIR": os.environ.get("GAN_CACHE_DIR", str(Path(tmp) / "cache"))}
        with dashboard_server(store, Path(tmp) / "server.log", env=cache) as (url, _), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            page.get_by_text(f"Runs ({len(runs.list())})").wait_for()
            page.locator('[data-testid="stImage"] img').nth(1).wait_for()
            shoot(page, args.out, "home")
            page.goto(f"{url}/Compare")
            page.get_by_text("Snapshots side by side").wait_for()
            page.locator('[data-testid="stImage"] img').nth(3).wait_for()
            shoot(page, args.out, "compare")
            page.goto(f"{url}/Generate")
            page.get_by_text("One digit, your noise").wait_for()
            page.locator('[data-testid="stImage"] img').first.wait_for()
            shoot(page, args.out, "generate")
            page.goto(f"{url}/Runs")
            page.get_by_text("Overlay curves").wait_for()
            page.locator(".js-plotly-plot").first.wait_for()
            shoot(page, args.out, "runs")
            sweep(store)  # after the other pages' shots: its trials are runs too
            page.goto(f"{url}/Sweeps")
            page.locator(".js-plotly-plot").first.wait_for()
            shoot(page, args.out, "sweeps")
            before = {run["id"] for run in runs.list()}
            start_long_job(page, url)  # report-2019, 1000 epochs: watched live, then stopped and deleted
            page.locator(".gan-live-progress").wait_for()
            time.sleep(args.live_seconds)
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, args.out, "train")
            page.locator('[data-testid="stButton"] button', has_text="Stop").filter(visible=True).first.click()
            page.get_by_text("stopped").first.wait_for()
            browser.close()
        for run_id in {run["id"] for run in runs.list()} - before:
            runs.delete(run_id)  # a kept store shoots the same pages again
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
