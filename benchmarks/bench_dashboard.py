"""Training speed with Train pages open in a browser (refreshing live) against the CLI, same config.

    python benchmarks/bench_dashboard.py [--epochs 5] [--repeats 3] [--tabs 1 3] [--open before during]
                                         [--view shown frozen hidden]

Starts `streamlit run dashboard.py` on a free loopback port with a temporary run store, drives it
with Playwright and Debian's Chromium, and trains report-2019 from the CLI, from the Train page, and
from the CLI again, per tab count, ``--repeats`` times (the two CLI runs' mean is the baseline: this
VM's speed drifts). It prints each run's images/s, the ratio to the baseline over the whole run and
over the steps after every tab had loaded and drawn the live view ("watching": opening a tab costs the
browser seconds of CPU), and the medians and spreads of the ratios; also what watching cost:
the server's CPU seconds beyond the CLI's for the same training, the browser's CPU seconds (every
Chromium process), the bytes the page received over the websocket and the live view's refreshes.

With more than one tab, ``--open`` says when the other tabs open the Train page: ``before`` the first tab
presses Start (watchers already there: they follow the new job without a reload, and their page loads are
not part of the run), or ``during`` the run, right after Start (each tab loads the page, Streamlit's frontend
and Plotly while the job trains: several seconds of browser CPU each on two cores). Both by default.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from serve import CHROMIUM, CHROMIUM_FLAGS, ROOT, dashboard_server, start_long_job

from gan.store import RunStore

TICKS = os.sysconf("SC_CLK_TCK")
# the live loss chart drawn with points in it (before the first steps are logged it is drawn empty; and the
# page draws D's chart at the epoch-0 snapshot before either)
LIVE_CURVES_DRAWN = """() => {
    const chart = document.querySelector('div.gan-live-chart.js-plotly-plot');
    return !!chart && (chart._fullData || []).some(trace => trace.x && trace.x.length > 0);  // decoded arrays
}"""


def watch_long_job(browser, url: str, tabs: int) -> list:
    """``tabs`` Train tabs on a long report-2019 job, the others open on the Train page before the first starts it
    (``--open before``); returns the pages once each has drawn the live curves."""
    pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(tabs)]
    for page in pages:
        page.set_default_timeout(120_000)
    for page in pages[1:]:
        page.goto(f"{url}/Train")
        page.get_by_text("Start training").first.wait_for()
    start_long_job(pages[0], url)
    for page in pages:
        page.wait_for_function(LIVE_CURVES_DRAWN)
    return pages


@dataclass
class Result:
    images_per_s: float
    cpu_s: float  # the training process's (the CLI's, or the dashboard server's)
    browser_cpu_s: float = 0.0
    received_bytes: int = 0
    requests: int = 0  # messages the tabs sent: rerun requests, the live view's refreshes among them
    seconds: float = 0.0
    watched_from: int = 0  # the step at which every tab had drawn the live view
    notes: list = field(default_factory=list)


def images_per_s(runs_dir: Path, after_step: int | None = None) -> float:
    """Mean throughput over the run's steps (each step logs its flush window's rate): all but the first
    tenth (warm-up), or those after ``after_step``."""
    (info,) = RunStore(runs_dir).list()
    steps = RunStore(runs_dir).open(info["id"]).steps()
    rates = steps["images_per_s"]
    if after_step is None:
        return float(np.mean(rates[len(rates) // 10 :]))
    later = rates[steps["step"] > after_step]
    return float(np.mean(later)) if len(later) >= 100 else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(parts[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def browser_cpu_seconds() -> float:
    """CPU of every Chromium process this benchmark started (Playwright's driver excluded)."""
    total = 0.0
    for pid in descendants(os.getpid()):
        try:
            if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def cli(epochs: int, runs_dir: Path) -> Result:
    start = os.times()
    subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(runs_dir), "train", "--preset", "report-2019",
                    "--epochs", str(epochs), "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    end = os.times()
    return Result(images_per_s(runs_dir), end.children_user + end.children_system
                  - start.children_user - start.children_system)


# page scripts for the experiments (not the product), shared with watch_ab.py. SHOW: the tab reports itself visible
# or hidden (a hidden tab asks for nothing); FREEZE: on, the live view's Plotly.react does nothing (the progress line and
# the grid still refresh), off, it draws again. Each returns whether it took.
SHOW = """state => {
    Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
    document.dispatchEvent(new Event("visibilitychange"));
    return document.visibilityState === state;
}"""
FREEZE = """on => {
    window.__ganReact = window.__ganReact || window.Plotly.react;
    window.Plotly.react = on ? (chart) => Promise.resolve(chart) : window.__ganReact;
    return String(window.Plotly.react).includes("Promise.resolve") === on;
}"""
# --view, once every tab has drawn the live view: the script and its argument
VIEWS = {"frozen": (FREEZE, True), "hidden": (SHOW, "hidden")}


def dashboard(epochs: int, runs_dir: Path, tabs: int, open_tabs: str = "during", *, view: str = "shown") -> Result:
    from playwright.sync_api import sync_playwright

    with dashboard_server(runs_dir) as (url, server), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        received = {"bytes": 0, "sent": 0}

        def count(ws):
            ws.on("framereceived", lambda payload: received.update(bytes=received["bytes"] + len(payload)))
            ws.on("framesent", lambda _: received.update(sent=received["sent"] + 1))

        def fetched(request):  # the live panel's refreshes: fetches of /api/live, not websocket messages
            if "/api/live/" in request.url:
                received.update(bytes=received["bytes"] + request.sizes()["responseBodySize"], sent=received["sent"] + 1)

        pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(tabs)]
        for page in pages:
            page.set_default_timeout(120_000)
            page.on("websocket", count)
            page.on("requestfinished", fetched)
        first = pages[0]
        first.goto(f"{url}/Train")
        slider = first.locator('input[type=range][aria-label="epochs"]')
        slider.focus()
        slider.press("Home")
        for _ in range(epochs - 1):
            slider.press("ArrowRight")
        first.get_by_text(f"({epochs} epochs ×").wait_for()
        if open_tabs == "before":  # the other tabs are open on the Train page before the job starts
            for page in pages[1:]:
                page.goto(f"{url}/Train")
                page.get_by_text("No runs yet").wait_for()
                page.wait_for_function("typeof window.Plotly === 'object'")  # as a watcher's page is, once loaded
        server_cpu, browser_cpu, clock = cpu_seconds(server.pid), browser_cpu_seconds(), time.perf_counter()
        received.update(bytes=0, sent=0)
        first.locator('[data-testid="stButton"] button', has_text="Start training").click()
        if open_tabs == "during":
            for page in pages[1:]:  # the other tabs open the Train page on the running job
                page.goto(f"{url}/Train")
        for page in pages:  # from here on every tab only watches: no page load, no first drawing
            page.wait_for_function(LIVE_CURVES_DRAWN)
        for page in pages:
            if view in VIEWS:
                assert page.evaluate(*VIEWS[view]), f"the tab could not be made {view}"
        (info,) = RunStore(runs_dir).list()
        logged = RunStore(runs_dir).open(info["id"]).steps().get("step", [0])
        watched_from = int(logged[-1]) if len(logged) else 0  # the newest step in the store's log
        if view == "hidden":  # a hidden tab asks for nothing, so it never learns that the job ended: the store says
            deadline = time.monotonic() + 900
            while RunStore(runs_dir).list()[0]["status"] != "finished" and time.monotonic() < deadline:
                time.sleep(0.25)
        else:
            for page in pages:
                page.locator('[data-testid="stProgress"]', has_text="finished").wait_for(timeout=900_000)
        result = Result(0.0, cpu_seconds(server.pid) - server_cpu, browser_cpu_seconds() - browser_cpu,
                        received["bytes"], received["sent"], time.perf_counter() - clock, watched_from)
        browser.close()
    result.images_per_s = images_per_s(runs_dir)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--open", nargs="+", choices=("before", "during"), default=["before", "during"],
                        help="when tabs after the first open the Train page: before Start, or during the run")
    parser.add_argument("--view", nargs="+", choices=("shown", "frozen", "hidden"), default=["shown"],
                        help="experiments, once every tab has drawn the live view: 'frozen', its charts are never "
                             "redrawn (Plotly.react does nothing; the progress line and the grid still refresh): what "
                             "watching costs with no chart drawing at all; 'hidden', every tab reports itself hidden "
                             "(it asks for nothing): what is left of the gap without watching. Several: each case "
                             "every way, in turn")
    args = parser.parse_args()
    cases = [(tabs, mode, view) for tabs in args.tabs for mode in (args.open if tabs > 1 else ["before"])
             for view in args.view]
    print(f"# report-2019, {args.epochs} epochs, batch 100, {os.cpu_count()} CPUs; the CLI right before and right "
          "after each dashboard run, their mean the baseline"
          + ("; 'frozen' and 'hidden': experiments (--help)" if set(args.view) - {"shown"} else ""))
    print(f"{'repeat':>6} {'where':36} {'images/s':>9} {'/ CLI':>7} {'watching':>9} {'from':>6} {'CPU s':>7} "
          f"{'+CPU s':>7} {'browser':>8} {'MB recv':>8} {'sent':>6} {'ms/sent':>8} {'kB/sent':>8} {'s/sent':>7}")
    ratios = {case: [] for case in cases}
    watching = {case: [] for case in cases}
    label = {case: (f"{case[0]} tab" if case[0] == 1 else f"{case[0]} tabs, opened {case[1]}")
             + ("" if case[2] == "shown" else f", {case[2]}") for case in cases}
    for repeat in range(args.repeats):
        for case in cases:
            tabs, mode, view = case
            with tempfile.TemporaryDirectory() as tmp:
                before = cli(args.epochs, Path(tmp) / "before")
                watched = dashboard(args.epochs, Path(tmp) / "dashboard", tabs, mode, view=view)
                after = cli(args.epochs, Path(tmp) / "after")
                base = (before.images_per_s + after.images_per_s) / 2
                base_later = (images_per_s(Path(tmp) / "before", watched.watched_from)
                              + images_per_s(Path(tmp) / "after", watched.watched_from)) / 2
                ratio = watched.images_per_s / base
                later = images_per_s(Path(tmp) / "dashboard", watched.watched_from) / base_later
            ratios[case].append(ratio)
            if later == later:  # not NaN: enough steps were left after the tabs had drawn
                watching[case].append(later)
            cli_cpu = (before.cpu_s + after.cpu_s) / 2
            for name, run in (("CLI before", before), ("CLI after", after)):
                print(f"{repeat:6} {name:36} {run.images_per_s:9,.0f} {'':7} {'':9} {'':6} {run.cpu_s:7.1f}")
            print(f"{repeat:6} {label[case]:36} {watched.images_per_s:9,.0f} {ratio:7.1%} "
                  f"{later:9.1%} {watched.watched_from:6} {watched.cpu_s:7.1f} {watched.cpu_s - cli_cpu:7.1f} "
                  f"{watched.browser_cpu_s:8.1f} {watched.received_bytes / 1e6:8.2f} {watched.requests:6} "
                  f"{1000 * watched.browser_cpu_s / max(watched.requests, 1):8.0f} "
                  f"{watched.received_bytes / 1e3 / max(watched.requests, 1):8.1f} "
                  f"{watched.seconds * tabs / max(watched.requests, 1):7.2f}", flush=True)
    print("/ CLI: the whole run's images/s over the CLI runs'; watching: the same over the steps after 'from', the step "
          "at which every tab had loaded and drawn the live view (opening a tab costs the browser seconds of CPU); "
          "CPU s: the training process's; +CPU s: the dashboard server's beyond the CLI's; browser: every Chromium "
          "process's; MB recv: what the tabs' websockets received; sent: the messages the tabs sent (rerun requests: "
          "the live view's refreshes); ms/sent and kB/sent: browser CPU and bytes received per message sent; "
          "s/sent: seconds between one tab's messages (its refresh period, at most)")
    for case in cases:
        for name, values in (("whole run", ratios[case]), ("watching", watching[case])):
            if values:
                print(f"dashboard / CLI, {label[case]}, {name}: median {statistics.median(values):.1%} "
                      f"(min {min(values):.1%}, max {max(values):.1%}, {len(values)} runs)")


if __name__ == "__main__":
    main()
