"""What watching costs the training, measured inside one run: Train tabs shown, then hidden, in turn.

    python benchmarks/watch_ab.py [--tabs 1 3] [--cycles 5] [--phase 6] [--frozen]

Starts the dashboard on a loopback port with a temporary store, opens ``--tabs`` Train tabs in headless
Chromium (Debian's, software drawing), starts a long report-2019 job from the first and lets every tab
load and draw it. Then, ``--cycles`` times: all tabs shown for ``--phase`` seconds (the live view
refreshes), then all hidden for as long (a hidden tab asks for nothing; the browser test checks that).
The job's images/s while shown, over its images/s while hidden, is what watching costs; both come
from the same job in the same minute, so this VM's drift (up to 2x within an hour) cancels, which a
comparison with a separate CLI run (`bench_dashboard.py`) cannot do. The first second of each phase is
left out (a refresh under way when the tabs were hidden finishes in it).

``--frozen`` (an experiment): each cycle also has a phase with the tabs shown but their charts frozen
(``Plotly.react`` does nothing: the progress line and the grid still refresh), the three phases of a cycle
in a random order. Frozen over hidden is what watching would cost if the charts cost nothing to redraw:
the bound of any saving on the charts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_dashboard import FREEZE, LIVE_CURVES_DRAWN, SHOW, browser_cpu_seconds
from serve import CHROMIUM, CHROMIUM_FLAGS, dashboard_server, start_long_job

from gan.store import RunStore


def newest_step(store: RunStore) -> int:
    (info,) = store.list()
    steps = store.open(info["id"]).steps().get("step", [])
    return int(steps[-1]) if len(steps) else 0


def measure(tabs: int, cycles: int, phase: float,
            frozen: bool = False) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per cycle, images/s in each shown phase over the hidden phase's; and the browser's extra cores in each."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, dashboard_server(Path(tmp) / "runs") as (url, _), \
            sync_playwright() as p:
        store = RunStore(Path(tmp) / "runs")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
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
        states = ["shown", "hidden"] + (["frozen"] if frozen else [])
        phases, cpu = [], dict.fromkeys(states, 0.0)
        for _ in range(cycles):
            order = random.sample(states, len(states)) if frozen else states  # shown, then hidden, as before
            cycle = {}
            for state in order:
                for page in pages:
                    if frozen:
                        page.evaluate(FREEZE, state == "frozen")
                    page.evaluate(SHOW, "hidden" if state == "hidden" else "visible")
                first.wait_for_timeout(1000)
                start, clock = newest_step(store), browser_cpu_seconds()
                first.wait_for_timeout((phase - 1) * 1000)
                cycle[state] = (start, newest_step(store))
                cpu[state] += browser_cpu_seconds() - clock
            phases.append(cycle)
        (info,) = store.list()
        log = store.open(info["id"]).steps()
        browser.close()

    def rate(steps: tuple[int, int]) -> float:
        return float(np.mean(log["images_per_s"][(log["step"] > steps[0]) & (log["step"] <= steps[1])]))

    watched = [state for state in states if state != "hidden"]
    ratios = {state: [rate(cycle[state]) / rate(cycle["hidden"]) for cycle in phases] for state in watched}
    extra = {state: (cpu[state] - cpu["hidden"]) / (cycles * (phase - 1)) for state in watched}
    return ratios, extra


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--phase", type=float, default=6.0, help="Seconds shown, then seconds hidden, per cycle.")
    parser.add_argument("--frozen", action="store_true",
                        help="Also a phase per cycle shown with the charts frozen (an experiment; the phases "
                             "in a random order).")
    args = parser.parse_args()
    print(f"# report-2019 from the Train page; tabs shown {args.phase:g} s, then hidden {args.phase:g} s"
          + (", and shown with the charts frozen, in a random order," if args.frozen else ",")
          + f" {args.cycles} times (the first second of each phase left out)")
    for tabs in args.tabs:
        ratios, extra = measure(tabs, args.cycles, args.phase, args.frozen)
        for state, values in ratios.items():
            print(f"{tabs} tab(s): images/s {state} / hidden: median {statistics.median(values):.1%} (cycles: "
                  + ", ".join(f"{r:.1%}" for r in values) + f"); the browser's extra CPU while {state}: "
                  f"{extra[state]:.2f} cores", flush=True)


if __name__ == "__main__":
    sys.exit(main())
