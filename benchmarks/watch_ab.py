"""What watching costs the training, measured inside one run: Train tabs shown, then hidden, in turn.

    python benchmarks/watch_ab.py [--tabs 1 3] [--cycles 5] [--phase 6]

Starts the dashboard on a loopback port with a temporary store, opens ``--tabs`` Train tabs in headless
Chromium (Debian's, software drawing), starts a long report-2019 job from the first and lets every tab
load and draw it. Then, ``--cycles`` times: all tabs shown for ``--phase`` seconds (the live view
refreshes), then all hidden for as long (a hidden tab asks for nothing; the browser test checks that).
The job's images/s while shown, over its images/s while hidden, is what watching costs; both come
from the same job in the same minute, so this VM's drift (up to 2x within an hour) cancels, which a
comparison with a separate CLI run (`bench_dashboard.py`) cannot do. The first second of each phase is
left out (a refresh under way when the tabs were hidden finishes in it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_dashboard import LIVE_CURVES_DRAWN, browser_cpu_seconds
from serve import CHROMIUM_FLAGS, dashboard_server, start_long_job

from gan.store import RunStore

SHOW = """state => {
    Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def newest_step(store: RunStore) -> int:
    (info,) = store.list()
    steps = store.open(info["id"]).steps().get("step", [])
    return int(steps[-1]) if len(steps) else 0


def measure(tabs: int, cycles: int, phase: float) -> tuple[list[float], float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, dashboard_server(Path(tmp) / "runs") as (url, _), \
            sync_playwright() as p:
        store = RunStore(Path(tmp) / "runs")
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(tabs)]
        first = pages[0]
        first.set_default_timeout(120_000)
        start_long_job(first, url)
        for page in pages[1:]:
            page.set_default_timeout(120_000)
            page.goto(f"{url}/Train")
        for page in pages:
            page.locator('[data-testid="stProgress"], .gan-live-progress', has_text="running").first.wait_for()
            page.wait_for_function(LIVE_CURVES_DRAWN)  # the live loss chart, with points (not D's epoch-0 chart)
        first.wait_for_timeout(5000)  # past the first steps and the tabs' first drawing
        phases, cpu = [], {"shown": 0.0, "hidden": 0.0}
        for _ in range(cycles):
            for state in ("visible", "hidden"):
                for page in pages:
                    page.evaluate(SHOW, state)
                first.wait_for_timeout(1000)
                start, clock = newest_step(store), browser_cpu_seconds()
                first.wait_for_timeout((phase - 1) * 1000)
                phases.append((state, start, newest_step(store)))
                cpu["shown" if state == "visible" else "hidden"] += browser_cpu_seconds() - clock
        (info,) = store.list()
        log = store.open(info["id"]).steps()
        browser.close()
    ratios = []
    for (_, s0, s1), (_, h0, h1) in zip(phases[::2], phases[1::2]):
        shown = log["images_per_s"][(log["step"] > s0) & (log["step"] <= s1)]
        hidden = log["images_per_s"][(log["step"] > h0) & (log["step"] <= h1)]
        ratios.append(float(np.mean(shown) / np.mean(hidden)))
    return ratios, (cpu["shown"] - cpu["hidden"]) / (cycles * (phase - 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--phase", type=float, default=6.0, help="Seconds shown, then seconds hidden, per cycle.")
    args = parser.parse_args()
    print(f"# report-2019 from the Train page; tabs shown {args.phase:g} s, then hidden {args.phase:g} s, "
          f"{args.cycles} times (the first second of each phase left out)")
    for tabs in args.tabs:
        ratios, browser = measure(tabs, args.cycles, args.phase)
        print(f"{tabs} tab(s): images/s shown / hidden: median {statistics.median(ratios):.1%} (cycles: "
              + ", ".join(f"{r:.1%}" for r in ratios) + f"); the browser's extra CPU while shown: {browser:.2f} "
              "cores", flush=True)


if __name__ == "__main__":
    sys.exit(main())
