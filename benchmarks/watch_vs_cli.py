"""The dashboard's job, watched from Train tabs, against the CLI, side by side in one run: the two take turns.

    python benchmarks/watch_vs_cli.py [--tabs 1 3] [--repeats 3] [--cycles 20] [--block 5]
                                      [--view shown hidden cli runner]

``bench_dashboard.py`` runs the CLI before and after each dashboard run; on a VM whose speed drifts by up to 2x within
a minute, where its CLI runs fall decides a run's ratio (one-tab runs from 63% to 123% in one session). Here both
train at once and take turns on the machine instead: the dashboard (its server with a report-2019 job started from the
first tab, and every Chromium process, the tabs shown and refreshing) and a CLI run of the same preset, each stopped
with SIGSTOP while the other has its block of ``--block`` seconds, in a random order in each cycle. A stopped process
takes no CPU, so each block has the machine as that side would have it alone; the first ``--settle`` seconds after a
switch are left out (the side's thread governor sees the other side's load in the window that spans its stop, and the
tabs' timers fire on waking). The images/s of a block come from the steps the run's store logged in it (each step
carries its flush window's rate; their harmonic mean is images over seconds); a block in which the job logged nothing
for ``STALLED`` seconds (an evaluation or a checkpoint) is left out, with the other side's block of its cycle. Each
run prints the median over cycles of the dashboard's images/s over the CLI's; ``--repeats`` runs, each with a fresh
server, browser and CLI, give the median of the runs.

What this measures is the steady state: the cost of the tabs' refreshes while a job trains, not the start of a run
(a tab's first drawing, the job's start), which ``bench_dashboard.py`` includes. ``--view cli`` adds a second CLI run
as one more side, compared with the first: the method's own error on the machine of the day (its ratio should be 100%).
``--view runner`` adds the job as the dashboard runs it (``gan.runner.JobRunner``, training in a thread) in a process
without Streamlit: the job's machinery told apart from the server around it.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_dashboard import SHOW, browser_cpu_seconds, descendants, watch_long_job
from serve import CHROMIUM, CHROMIUM_FLAGS, ROOT, dashboard_server

from gan.store import RunStore

# a job of the dashboard's kind (``gan.runner.JobRunner``, training in a thread of its own) in a process without
# Streamlit: ``--view runner`` tells the job's machinery from the server around it
RUNNER = """
import sys, time
from gan.config import preset
from gan.runner import JobRunner
from gan.store import RunStore
runner = JobRunner(RunStore(sys.argv[1]))
run_id = runner.start(preset("report-2019", epochs=1000))
while runner.is_active(run_id):
    time.sleep(1)
"""
OTHERS = {"cli": "cli again", "runner": "job runner"}  # the sides besides the dashboard and the CLI, by view
STALLED = 0.75  # seconds without a logged step: the block is left out
POLL_S = 0.25


class StepLog:
    """The steps a run's store has logged, read incrementally (only while its writer runs: never a stopped one's)."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self.rows = {"step": np.empty(0), "images_per_s": np.empty(0)}

    def newest_step(self) -> int:
        runs = RunStore(self.runs_dir).list()
        if not runs:
            return 0
        after = int(self.rows["step"][-1]) if len(self.rows["step"]) else 0
        new = RunStore(self.runs_dir).open(runs[0]["id"]).steps(after=after)
        if new and len(new["step"]):
            for key in self.rows:
                self.rows[key] = np.concatenate([self.rows[key], new[key]])
        return int(self.rows["step"][-1]) if len(self.rows["step"]) else 0

    def rate(self, first: int, last: int) -> float:
        """Images/s over the steps in (first, last]: the harmonic mean of their flush windows' rates."""
        chosen = self.rows["images_per_s"][(self.rows["step"] > first) & (self.rows["step"] <= last)]
        return float(len(chosen) / np.sum(1.0 / chosen)) if len(chosen) else float("nan")


class Side:
    """One contender: the processes stopped and continued together, and the log of the run they train."""

    def __init__(self, name: str, log: StepLog, pids, on_continue=None, cpu=None):
        self.name, self.log, self.pids = name, log, pids  # pids: a callable, asked at every switch
        self.on_continue = on_continue  # called right after the side is continued, before the settle time
        self.cpu = cpu  # CPU seconds of something to watch in its blocks (the browser), a callable

    def signal(self, sig: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def block(side: Side, block_s: float, settle_s: float) -> dict:
    """Runs one block of ``side`` (already continued): its images/s after the settle time, and its longest stall."""
    time.sleep(settle_s)
    first = last = side.log.newest_step()
    cpu = side.cpu() if side.cpu else 0.0
    start = moved = time.perf_counter()
    stalled = 0.0
    while (now := time.perf_counter()) - start < block_s - settle_s:
        time.sleep(POLL_S)
        step, now = side.log.newest_step(), time.perf_counter()
        if step != last:
            last, moved = step, now
        stalled = max(stalled, now - moved)
    cores = (side.cpu() - cpu) / (now - start) if side.cpu else 0.0
    return {"side": side.name, "first": first, "last": last, "stalled": stalled, "start": start, "end": now,
            "cores": cores}


def take_turns(sides: list[Side], cycles: int, block_s: float, settle_s: float, seed: int = 0) -> list[dict]:
    """Every cycle, each side one block in a random order, the others stopped; returns the blocks, rates filled in."""
    rng, blocks = random.Random(seed), []
    try:
        for cycle in range(cycles):
            for side in rng.sample(sides, len(sides)):
                for other in sides:
                    if other is not side:
                        other.signal(signal.SIGSTOP)
                side.signal(signal.SIGCONT)
                if side.on_continue:
                    side.on_continue()
                blocks.append({"cycle": cycle, **block(side, block_s, settle_s)})
    finally:
        for side in sides:
            side.signal(signal.SIGCONT)
    by_name = {side.name: side for side in sides}
    for b in blocks:
        b["images_per_s"] = by_name[b["side"]].log.rate(b["first"], b["last"])
    return blocks


def ratios(blocks: list[dict], numerator: str, denominator: str) -> list[float]:
    """Per complete cycle (both blocks without a stall), the numerator side's images/s over the denominator's."""
    by_cycle: dict[int, dict[str, dict]] = {}
    for b in blocks:
        by_cycle.setdefault(b["cycle"], {})[b["side"]] = b
    return [c[numerator]["images_per_s"] / c[denominator]["images_per_s"] for c in by_cycle.values()
            if {numerator, denominator} <= c.keys() and all(c[s]["stalled"] < STALLED for s in (numerator, denominator))
            and all(c[s]["images_per_s"] > 0 for s in (numerator, denominator))]


def run(tabs: int, cycles: int, block_s: float, settle_s: float, seed: int,
        views: tuple[str, ...] = ("shown",)) -> list[dict]:
    """One run: the blocks of every side (the CLI, and the dashboard in each of ``views``)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, dashboard_server(Path(tmp) / "dashboard") as (url, server), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        pages = watch_long_job(browser, url, tabs)

        def start_cli(folder: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "gan", "--runs-dir", str(Path(tmp) / folder), "train",
                                     "--preset", "report-2019", "--epochs", "1000", "--quiet"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL)

        def start_runner(folder: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", RUNNER, str(Path(tmp) / folder)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL)

        others = [v for v in views if v in OTHERS]  # the sides besides the dashboard and the first CLI
        clis = [start_cli("cli")] + [start_cli(OTHERS[v]) if v == "cli" else start_runner(OTHERS[v]) for v in others]
        try:
            def dashboard_pids() -> list[int]:
                chromium = [pid for pid in descendants(os.getpid()) if _comm(pid).startswith("chrom")]
                return [server.pid, *descendants(server.pid), *chromium]

            def view(state: str):
                def show() -> None:  # a hidden tab asks for nothing (the browser test checks it)
                    for page in pages:
                        assert page.evaluate(SHOW, state), f"the tab could not be made {state}"
                return show

            dashboard_log = StepLog(Path(tmp) / "dashboard")
            sides = [Side(f"dashboard {v}", dashboard_log, dashboard_pids,
                          view("hidden" if v == "hidden" else "visible"), browser_cpu_seconds)
                     for v in views if v not in OTHERS]
            command_lines = [Side(name, StepLog(Path(tmp) / name), lambda process=process: [process.pid])
                             for name, process in zip(("cli", *(OTHERS[v] for v in others)), clis)]
            for side, process in zip(command_lines, clis):
                while side.log.newest_step() == 0:  # the CLI has started training (all train meanwhile)
                    if process.poll() is not None:
                        raise RuntimeError(f"the CLI ended with {process.returncode}")
                    time.sleep(0.2)
            blocks = take_turns([*sides, *command_lines], cycles, block_s, settle_s, seed)
        finally:
            for process in clis:
                process.kill()
                process.wait()
        browser.close()
    return blocks


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--block", type=float, default=5.0, help="seconds per side per cycle")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds left out at the start of each block")
    parser.add_argument("--view", nargs="+", choices=("shown", "hidden", "cli", "runner"), default=["shown"],
                        help="the dashboard's blocks: its tabs shown (the product as watched), or hidden (a hidden tab "
                             "asks for nothing: the job in the server alone); several: each its own block per cycle; "
                             "'cli': a second CLI run as one more side, against the first (the method's own error: "
                             "its ratio should be 100%%); 'runner': the job as the dashboard runs it (JobRunner, a "
                             "thread) in a process without Streamlit")
    args = parser.parse_args()
    if not {"shown", "hidden"} & set(args.view):  # the dashboard is a side, or it trains through the others' blocks
        parser.error("--view cli and runner need shown or hidden too")
    print(f"# report-2019 (1000 epochs, metrics on) from the Train page ({', '.join(args.view)}) against the CLI; "
          f"{args.cycles} cycles of one {args.block:g}-s block per side, in a random order, the others stopped "
          f"(the first {args.settle:g} s of each block left out); {os.cpu_count()} CPUs", flush=True)
    names = [OTHERS.get(v, f"dashboard {v}") for v in args.view]
    medians = {(tabs, name): [] for tabs in args.tabs for name in names}
    for repeat in range(args.repeats):
        for tabs in args.tabs:
            blocks = run(tabs, args.cycles, args.block, args.settle, repeat, tuple(args.view))
            cli = [b["images_per_s"] for b in blocks if b["side"] == "cli" and b["stalled"] < STALLED] or [np.nan]
            print(f"repeat {repeat}, {tabs} tab(s): CLI median {statistics.median(cli):,.0f} images/s "
                  f"({min(cli):,.0f}-{max(cli):,.0f})", flush=True)
            for name in names:
                values = ratios(blocks, name, "cli")
                if not values:  # every cycle had a stalled block (a short run's evaluations)
                    print(f"  {name} / CLI: no complete cycle", flush=True)
                    continue
                q = statistics.quantiles(values, n=4) if len(values) >= 2 else values * 3
                medians[tabs, name].append(statistics.median(values))
                cores = statistics.mean(b["cores"] for b in blocks if b["side"] == name)
                print(f"  {name} / CLI: median {statistics.median(values):.1%} (quartiles {q[0]:.1%}-{q[2]:.1%}, "
                      f"{len(values)} of {args.cycles} cycles)"
                      + (f"; Chromium {cores:.2f} cores" if name.startswith("dashboard") else ""), flush=True)
    for (tabs, name), values in medians.items():
        if not values:
            continue
        print(f"{tabs} tab(s), {name} / CLI: median of {len(values)} runs {statistics.median(values):.1%} "
              f"(runs: {', '.join(f'{v:.1%}' for v in values)})")


if __name__ == "__main__":
    main()
