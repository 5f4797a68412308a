"""Load: two training jobs at once with three browser tabs open for five minutes.

    python benchmarks/load_test.py [--minutes 5]

Starts `streamlit run dashboard.py` on a free loopback port with a temporary run store; tab 1 starts
two jobs from the Train page, tab 2 watches the Train page, tab 3 reloads the Runs and Compare pages.
Every 10 s it checks every tab for an exception box and samples the server's resident memory.
Prints the figures; exits non-zero on any error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from serve import CHROMIUM, CHROMIUM_FLAGS, dashboard_server

from gan.store import RunStore


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_job(page) -> None:
    advanced = page.get_by_text("Advanced")
    if not page.locator('input[type=range][aria-label="train images"]').is_visible():
        advanced.click()
    # 2,000 images and 1,000 epochs: long enough that both jobs train for the whole test
    for label, keys in (("train images", ("Home", "ArrowRight")), ("epochs", ("End",))):
        slider = page.locator(f'input[type=range][aria-label="{label}"]')
        slider.focus()
        for key in keys:
            slider.press(key)
    page.get_by_text("(1000 epochs × 20 steps").wait_for()
    page.locator('[data-testid="stButton"] button', has_text="Start training").click()
    page.wait_for_timeout(3000)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        errors, samples = [], []
        with dashboard_server(Path(tmp) / "runs", log_path) as (url, server), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            tabs = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
            for tab in tabs:
                tab.set_default_timeout(120_000)
            tabs[0].goto(f"{url}/Train")
            samples.append(("start", rss_mib(server.pid)))
            start_job(tabs[0])
            start_job(tabs[0])
            tabs[1].goto(f"{url}/Train")
            deadline = time.monotonic() + args.minutes * 60
            turn = 0
            while time.monotonic() < deadline:
                tabs[2].goto(f"{url}/{'Runs' if turn % 2 else 'Compare'}")
                tabs[2].wait_for_timeout(10_000)
                for i, tab in enumerate(tabs):
                    boxes = tab.locator('[data-testid="stException"]')
                    if boxes.count():
                        errors.append(f"tab {i}: {boxes.first.inner_text()[:200]}")
                samples.append((f"{turn * 10 + 10}s", rss_mib(server.pid)))
                turn += 1
            for _ in range(2):
                stop = tabs[1].locator('[data-testid="stButton"] button', has_text="Stop").filter(visible=True)
                if stop.count():
                    stop.first.click()
                    tabs[1].wait_for_timeout(3000)
            browser.close()
        text = log_path.read_text()
        if "Traceback" in text or "missing ScriptRunContext" in text:
            errors.append("server log: " + text[-2000:])
        runs = RunStore(Path(tmp) / "runs").list()
        rss = [v for _, v in samples]
        print(f"# load: {len(runs)} jobs, 3 tabs, {args.minutes:g} min, refresh every 2 s")
        print(f"server RSS MiB: start {rss[0]:.0f}, after jobs started {rss[1]:.0f}, end {rss[-1]:.0f}, max {max(rss):.0f}")
        for info in runs:
            print(f"  {info['id']}: {info['status']}, {info.get('step', 0):,} steps")
        print(f"errors: {len(errors)}")
        for error in errors:
            print("  " + error)
        sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
