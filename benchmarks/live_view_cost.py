"""What one refresh of the Train page's live view costs the server, part by part.

    python benchmarks/live_view_cost.py [--epochs 3] [--refreshes 20]

Trains report-2019 for a few epochs into a temporary store (CLI, metrics off), then replays the live
view's refreshes against it as if the run were in progress: each refresh sees the steps that 2 s of
training at ``--images-per-s`` add. It times, in CPU seconds of this thread, what the view does per
refresh (store reads, figures, Plotly's JSON, the grid image) and counts the bytes those elements
put on the wire. It runs outside Streamlit (``ui`` works without a server: its session state is a
plain dict then), so it measures our code and Plotly/PIL, not the websocket or the browser;
`benchmarks/bench_dashboard.py` measures the whole thing.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import ui  # noqa: E402
from gan.store import Run, RunStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Parts:
    """CPU seconds and bytes per named part."""

    def __init__(self):
        self.seconds, self.bytes = defaultdict(float), defaultdict(int)

    def timed(self, name, fn, *args, **kwargs):
        start = time.thread_time()
        out = fn(*args, **kwargs)
        self.seconds[name] += time.thread_time() - start
        return out


def train(runs_dir: Path, epochs: int) -> str:
    subprocess.run([sys.executable, "-m", "gan", "--runs-dir", str(runs_dir), "train", "--preset", "report-2019",
                    "--epochs", str(epochs), "--eval-samples", "0", "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    (info,) = RunStore(runs_dir).list()
    return info["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--images-per-s", type=float, default=20_000, help="Training speed the replay assumes.")
    parser.add_argument("--tabs", type=int, default=1, help="Tabs watching the run, refreshing together.")
    parser.add_argument("--panel", action="store_true",
                        help="Each refresh as the live panel's fetch of /api/live (ui.live_response), not a rerun.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_id = train(Path(tmp), args.epochs)
        parts = replay(RunStore(Path(tmp)).open(run_id), args)
    print(f"# one live-view refresh of report-2019 by {args.tabs} tab(s) ({args.refreshes} refreshes replayed, "
          f"{args.images_per_s:,.0f} images/s assumed), CPU ms of the server's script thread and bytes sent")
    print(f"{'part':34} {'CPU ms':>8} {'bytes':>10}")
    for name in parts.seconds:
        print(f"{name:34} {1000 * parts.seconds[name] / args.refreshes:8.1f} {parts.bytes[name] / args.refreshes:10,.0f}")
    total = sum(parts.seconds.values()) / args.refreshes
    print(f"{'total':34} {1000 * total:8.1f} {sum(parts.bytes.values()) / args.refreshes:10,.0f}")
    print(f"CPU share of one core at one refresh per {ui.REFRESH_S:g} s: {total / ui.REFRESH_S:.1%}")


class Clock:
    """The replay's time: one refresh period passes between refreshes, none between the tabs' views."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def replay(run, args) -> Parts:
    """Replays refreshes up to the end of the run; the store's steps are hidden until 'written'."""
    steps = run.steps()["step"]
    per_refresh = int(args.images_per_s * ui.REFRESH_S / run.config().batch_size)
    # the last refreshes of the run, each seeing ``per_refresh`` more steps (fewer if the run is short)
    first = max(len(steps) // 2, len(steps) - args.refreshes * per_refresh)
    ends = np.linspace(first, len(steps), args.refreshes + 1).astype(int)[1:]
    parts, clock, tabs = Parts(), Clock(), [{} for _ in range(args.tabs)]
    ui.time = types.SimpleNamespace(monotonic=clock.monotonic, time=time.time)
    history = run.steps()
    for end in ends:
        shown = (history["step"] <= steps[end - 1])
        # every Run object of this store (the dashboard's shared history makes its own) sees only these steps
        Run.steps = lambda self, after=0, shown=shown: {k: v[shown & (history["step"] > after)] for k, v in history.items()}
        clock.now += ui.REFRESH_S
        for tab in tabs:
            panel_refresh(run, parts, tab) if args.panel else refresh(run, parts)
    return parts


class _Runner:  # the run is watched from the store, as a run of another process
    def __init__(self, store):
        self.store = store

    def has_job(self, run_id):
        return False


def panel_refresh(run, parts: Parts, tab: dict) -> None:
    """The live panel's fetch: what the route handler does (``ui.live_response``); ``tab`` keeps what that
    tab's browser already has (the figures' generation, the grid), as its query string says."""
    ui._RUNNER = _Runner(RunStore(run.path.parent))
    status, body = parts.timed("panel: /api/live answer", ui.live_response, run.id, tab)
    assert status == 200, body
    parts.bytes["panel: /api/live answer"] += len(body)
    answer = json.loads(body)
    tab["figures"] = answer.get("figures_id", tab.get("figures", ""))
    tab["grid"] = answer["grid"]["key"] if "grid" in answer else tab.get("grid", "")


def refresh(run, parts: Parts) -> None:
    """What ``live_body`` in pages/1_Train.py does with the store, Plotly and PIL (a run of another process)."""
    info = parts.timed("store: run info", run.info)
    config = ui.config_of(info)
    columns = parts.timed("store: new steps", ui.history, run)
    events = parts.timed("store: events", run.events)
    figures = parts.timed("figures: downsample, build", ui.live_figures, run, config, columns, events)
    for name, fig in figures.items():  # a running job's curves go through ui.curve_chart, drawn in place
        payload = parts.timed(f"serialise: {name} (live chart)", lambda f: ui.live_chart_data(f)["figure"].encode(), fig)
        parts.bytes[f"serialise: {name} (live chart)"] += len(payload)
    png, _, _ = parts.timed("grid: PNG (cached per grid)", ui.live_grid, run, None)
    parts.bytes["grid: PNG (cached per grid)"] += len(png)


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # ui outside a server: Streamlit warns about the missing runtime
    main()
