"""One dashboard run of bench_dashboard.py, drawn as a timeline: every 0.25 s the browser's CPU (every Chromium
process), the server's CPU (the process that trains) and the job's step from run.json, with each /api/ fetch and
each WebSocket message in between, then a summary line.

usage: PYTHONPATH=. python benchmarks/dashboard_timeline.py --tabs 3 [--epochs 5] [--open before]

What to read in it: where the browser's bursts fall against the training's steps (a rerun of the page at a
snapshot, tabs following a job that starts, the first drawing of the live view) and whether the step keeps
moving under them. The summary gives the training window (first step to last, from run.json, which is rewritten
about once a second, so +-1 s) and the browser's CPU inside it, then the job's images/s in each second of its training
time, from the store's flush windows (a stall shows there to the window), and the slow windows among them with the
time they lost. One run is one sample: this VM drifts.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dashboard as bd  # noqa: E402
import numpy as np  # noqa: E402
from playwright.sync_api._generated import Browser  # noqa: E402

from gan.store import RunStore  # noqa: E402


def windows(runs_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The only run's flush windows (50 steps or 1 s each), from the store's step log: each row carries the
    images/s of its window, so a run of equal rates is one window. (images/s, images) of each window."""
    (info,) = RunStore(runs_dir).list()
    run = RunStore(runs_dir).open(info["id"])
    rates = run.steps()["images_per_s"]
    edges = np.flatnonzero(np.r_[True, rates[1:] != rates[:-1], True])
    return rates[edges[:-1]], np.diff(edges) * run.config().batch_size


def rate_by_second(runs_dir: Path) -> list[float]:
    """The job's images/s in each second of its training time (snapshots left out), from its flush windows.
    It shows what a burst costs the training where run.json's step (rewritten about once a second) cannot."""
    rates, images = windows(runs_dir)
    lengths = images / rates  # each window's seconds
    seconds = np.zeros(int(lengths.sum()) + 2)
    t = 0.0
    for length, rate in zip(lengths, rates):  # each window's images, spread evenly over its time
        end_of_window = t + length
        while t < end_of_window:
            end = min(end_of_window, np.floor(t) + 1)
            seconds[int(t)] += rate * (end - t)
            t = end
    return [float(v) for v in seconds[: int(np.ceil(t))]]


SLOW = 0.7


def flush_windows(runs_dir: Path) -> str:
    """The flush windows as one line: their median images/s, the tenth percentile,
    and the windows below ``SLOW`` of the median (where a watching tab's refresh stalled the training: one step
    took 60-180 ms in such windows, README "Watching is free", session 28) with the time they lost against it."""
    rates, images = windows(runs_dir)
    median = float(np.median(rates))
    slow = rates < SLOW * median
    lost = float(np.sum(images[slow] * (1 / rates[slow] - 1 / median)))
    return (f"flush windows: {len(rates)}, median {median:,.0f} images/s, 10th percentile "
            f"{np.percentile(rates, 10):,.0f}; {int(slow.sum())} below {SLOW:.0%} of it, {lost:.2f} s lost in them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--open", choices=("before", "during"), default="before")
    args = parser.parse_args()

    t0 = time.perf_counter()
    samples: list[tuple[float, float, float, int | None]] = []
    marks: list[tuple[float, str, int]] = []

    def route(url: str) -> str:
        path = url.split("/api/", 1)[1].split("?")[0]
        return "GET /api/" + ("runs/live" if path.startswith("runs/live") else path.split("/")[0])

    def mark(kind: str, size: int) -> None:
        marks.append((time.perf_counter() - t0, kind, size))

    original_server = bd.dashboard_server

    class Sampled:
        """bench_dashboard's server, with a thread that samples the CPU and the step while it runs."""

        def __init__(self, runs_dir, *a, **k):
            self.runs_dir = Path(runs_dir)
            self.inner = original_server(runs_dir, *a, **k)
            self.stop = threading.Event()

        def __enter__(self):
            url, server = self.inner.__enter__()

            def sample():
                while not self.stop.is_set():
                    step = None
                    for path in self.runs_dir.glob("*/run.json"):
                        try:
                            step = json.loads(path.read_text()).get("step")
                        except (OSError, ValueError):
                            pass  # being replaced: the next sample reads it
                    samples.append((time.perf_counter() - t0, bd.browser_cpu_seconds(), bd.cpu_seconds(server.pid), step))
                    self.stop.wait(0.25)

            threading.Thread(target=sample, daemon=True).start()
            return url, server

        def __exit__(self, *exc):
            self.stop.set()
            return self.inner.__exit__(*exc)

    bd.dashboard_server = Sampled
    new_page = Browser.new_page

    def logged_page(self, *a, **k):
        page = new_page(self, *a, **k)
        page.on("websocket", lambda ws: (ws.on("framesent", lambda p: mark("ws sent", len(p))),
                                         ws.on("framereceived", lambda p: mark("ws received", len(p)))))
        page.on("requestfinished", lambda r: "/api/" in r.url and mark(route(r.url), r.sizes()["responseBodySize"]))
        return page

    Browser.new_page = logged_page
    with tempfile.TemporaryDirectory() as tmp:
        result = bd.dashboard(args.epochs, Path(tmp) / "runs", args.tabs, args.open)
        by_second = rate_by_second(Path(tmp) / "runs")
        slow_windows = flush_windows(Path(tmp) / "runs")

    events = sorted(marks)
    previous = None
    for t, browser, server, step in samples:
        while events and events[0][0] <= t:
            at, kind, size = events.pop(0)
            print(f"          {at:7.2f}  {kind} {size:,} bytes")
        if previous:
            dt = t - previous[0]
            print(f"{t:7.2f}  browser {100 * (browser - previous[1]) / dt:4.0f}%  server {100 * (server - previous[2]) / dt:4.0f}%"
                  f"  step {step}")
        previous = (t, browser, server, step)
    started = [i for i, s in enumerate(samples) if s[3]]
    if not started:
        sys.exit("no step was seen in run.json")
    total = samples[started[-1]][3]
    first = samples[max(started[0] - 1, 0)]
    last = next(s for s in samples if s[3] and s[3] >= total)
    print(f"SUMMARY {args.tabs} tab(s), opened {args.open}: {result.images_per_s:,.0f} images/s, training window "
          f"{last[0] - first[0]:.2f} s, browser CPU in it {last[1] - first[1]:.2f} s, in the whole run {result.browser_cpu_s:.2f} s")
    print("the job's images/s in each second of its training (the last one partial): "
          + " ".join(f"{v / 1000:.1f}k" for v in by_second))
    print(slow_windows)


if __name__ == "__main__":
    main()
