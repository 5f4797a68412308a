"""What the Train page's live view costs the browser: Chromium's CPU and a trace of its main thread.

    python benchmarks/live_view_browser.py [--seconds 10] [--wait 5] [--no-trace]

Starts the dashboard on a loopback port with a temporary store, starts a long report-2019 job from the
Train page in headless Chromium (Debian's, software drawing), waits until it runs and ``--wait`` seconds more
(early in a job about an epoch passes per refresh and the charts' x axis moves at most refreshes; later it
holds), then for ``--seconds``: every Chromium process's CPU seconds and the refreshes the tab asked for,
CDP's main-thread metrics, and a trace with V8's sampling profiler, whose self time it sums by script
(Plotly's bundle, React, Streamlit's own chunks). ``--no-trace``: no trace (its profiler costs CPU itself),
and then what opening a second Train tab on the running job costs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench_dashboard import browser_cpu_seconds, cpu_seconds, descendants
from serve import CHROMIUM, CHROMIUM_FLAGS, dashboard_server, start_long_job

CATEGORIES = ["devtools.timeline", "v8", "blink", "disabled-by-default-devtools.timeline",
              "disabled-by-default-v8.cpu_profiler"]


def self_time_by_script(trace: dict) -> Counter:
    """Milliseconds of V8 samples per script file (idle and program time under their own names). Under the trace,
    an async function can take time that is not its own: in session 39 the panel's ``poll`` had 372 ms in 20 s
    here against 6.8 ms in a like run sampled by CDP's ``Profiler`` domain alone (200 µs); read the split
    between scripts with that in mind."""
    nodes, totals = {}, Counter()
    for event in trace["traceEvents"]:
        if event.get("name") != "ProfileChunk":
            continue
        data = event["args"]["data"]
        profile = data.get("cpuProfile", {})
        for node in profile.get("nodes", []):
            nodes[(event["id"], node["id"])] = node["callFrame"]
        for sample, delta in zip(profile.get("samples", []), data.get("timeDeltas", [])):
            frame = nodes.get((event["id"], sample))
            if frame:
                script = frame.get("url", "").rsplit("/", 1)[-1] or frame.get("functionName") or "?"
                totals[script] += delta / 1000
    return totals


def chromium_cpu_by_type() -> Counter:
    """CPU seconds of this benchmark's Chromium processes by process type (browser, renderer, gpu-process, ...)."""
    totals = Counter()
    for pid in descendants(os.getpid()):
        try:
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()  # Chromium rewrites argv
            kind = next((a.split(b"=", 1)[1].decode() for a in args if a.startswith(b"--type=")), "browser")
            totals[kind] += cpu_seconds(pid)
        except OSError:
            pass
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--no-trace", action="store_true",
                        help="Only CPU and refreshes (the trace's profiler costs CPU itself), then what opening "
                             "one more Train tab on the running job costs.")
    parser.add_argument("--wait", type=float, default=5, help="Seconds of the running job before measuring.")
    parser.add_argument("--save-trace", type=Path, help="Also keep the trace (Chromium's JSON) at this path.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, dashboard_server(Path(tmp) / "runs") as (url, _), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.append(1)))
        page.on("request", lambda request: "/api/live/" in request.url and sent.append(1))  # the live panel's fetches
        start_long_job(page, url)
        page.locator('[data-testid="stProgress"], .gan-live-progress', has_text="running").first.wait_for()
        page.wait_for_timeout(args.wait * 1000)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def metrics():
            return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

        before, cpu, asked, by_type = metrics(), browser_cpu_seconds(), len(sent), chromium_cpu_by_type()
        trace = Path(tmp) / "trace.json"
        if not args.no_trace:
            browser.start_tracing(page=page, path=str(trace), categories=CATEGORIES)
        page.wait_for_timeout(args.seconds * 1000)
        if not args.no_trace:
            browser.stop_tracing()
        after, cpu, asked = metrics(), browser_cpu_seconds() - cpu, len(sent) - asked
        by_type = chromium_cpu_by_type() - by_type
        if args.no_trace:
            opened = browser_cpu_seconds()
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"{url}/Train")
            tab.locator("div.gan-live-chart.js-plotly-plot").first.wait_for()
            opened = browser_cpu_seconds() - opened
        browser.close()
        if args.save_trace and not args.no_trace:
            args.save_trace.write_bytes(trace.read_bytes())
        scripts = {} if args.no_trace else self_time_by_script(json.loads(trace.read_text()))
    print(f"# the Train page watching a running report-2019 job for {args.seconds:g} s, one tab, "
          f"from {args.wait:g} s after it ran")
    print(f"Chromium CPU, every process: {cpu:.2f} s; refreshes asked for: {asked}, "
          f"{1000 * cpu / max(asked, 1):.0f} ms of CPU per refresh")
    print("  by process type: " + ", ".join(f"{kind} {1000 * s / max(asked, 1):.0f} ms"
                                           for kind, s in by_type.most_common()))
    if args.no_trace:
        print(f"opening a second Train tab on the job, until its charts are drawn: {opened:.2f} s of Chromium CPU")
        return
    for name in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"):
        print(f"main thread {name}: {after[name] - before[name]:.2f} s")
    print(f"JS event listeners {before['JSEventListeners']:.0f} -> {after['JSEventListeners']:.0f}, "
          f"nodes {before['Nodes']:.0f} -> {after['Nodes']:.0f}")
    print("V8 self time by script (ms):")
    for script, ms in scripts.most_common(10):
        print(f"  {ms:8.0f}  {script}")


if __name__ == "__main__":
    sys.exit(main())
