"""Whole processes, side by side: ``python -m gan train`` against the tutorial loop as a program
(``benchmarks/tutorial_gan.py``), for the same epochs of ``report-2019``, wall-clock from start to exit.

Ours runs as a user starts it: metrics on (an evaluation of 2,000 samples at each snapshot, here epochs
0 and 5), and with ``--eval-samples 0``. The tutorial runs with each of ``--workers`` DataLoader workers;
and with the set preloaded as one tensor; the fastest is the baseline. The runs alternate, ``--repeats`` rounds, and each figure is a median.
Beside the ratio of the medians, each round's own ratio (the baseline's time in that round over the program's) and
their median: on a VM whose speed drifts between stretches, the runs of one round are the nearest in time.
Both sides run once untimed first (the metrics' disk cache; Python's bytecode, which is kept even where the
environment sets ``PYTHONDONTWRITEBYTECODE``, as an ordinary install keeps it).

    python benchmarks/bench_process.py --epochs 5 --repeats 2

``--timeline``: afterwards, one more run of ours with ``--eval-samples 0`` and its progress lines, each timed from the
process's start: where its fixed costs lie on the machine of the day (torch's import before the run's first line, the
run's start before training, each epoch, the exit after the last line).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], env: dict, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timeline(command: list[str], env: dict, cwd: Path = ROOT) -> list[tuple[float, str]]:
    """The lines ``command`` prints, each with the seconds since it started, and its exit as ``(seconds, "exit")``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - start, line.rstrip()) for line in process.stdout]
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    return [*lines, (time.perf_counter() - start, "exit")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--before", type=Path, default=None, metavar="DIR",
                        help="also time ours from another checkout (e.g. `git worktree add DIR COMMIT`), in the same rounds")
    parser.add_argument("--timeline", action="store_true",
                        help="then one run of ours with --eval-samples 0, its output lines timed from its start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GAN_RUNS_DIR": tmp}  # the metrics' cache stays where it is: a user's second run
        # Python's bytecode is kept, as after any ordinary install: where the environment says not to write it,
        # every process would compile torch's modules again (5 s here, on both sides, for torch._dynamo alone)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # the OpenMP spin count `gan` sets when it is imported (gan/__init__.py), for the tutorial's process too
        env.setdefault("GOMP_SPINCOUNT", "3000000")
        epochs = ["--epochs", str(args.epochs)]
        ours = [sys.executable, "-m", "gan", "train", "--preset", "report-2019", "--quiet", *epochs]
        commands = {"ours, metrics on": ours, "ours, --eval-samples 0": [*ours, "--eval-samples", "0"]}
        if args.before:  # the same commands run in the other checkout, whose `gan` comes first on the path
            before = args.before.resolve()
            commands["before, metrics on"] = (ours, env, before)
            commands["before, --eval-samples 0"] = ([*ours, "--eval-samples", "0"], env, before)
        for w in args.workers:
            commands[f"tutorial, {w} workers"] = [sys.executable, "benchmarks/tutorial_gan.py", *epochs,
                                                  "--workers", str(w), "--out", os.path.join(tmp, f"tutorial-{w}")]
        commands["tutorial, preloaded tensors, 0 workers"] = [
            sys.executable, "benchmarks/tutorial_gan.py", *epochs, "--preloaded", "--out", os.path.join(tmp, "tutorial-t")]
        commands = {name: c if isinstance(c, tuple) else (c, env, ROOT) for name, c in commands.items()}
        timed(ours, env)  # fills the metrics' disk cache once, as a user's first run does
        timed(*commands["tutorial, preloaded tensors, 0 workers"])  # and writes the tutorial's bytecode
        if args.before:
            timed(*commands["before, --eval-samples 0"])  # the other checkout's bytecode
        times: dict[str, list[float]] = {name: [] for name in commands}
        for r in range(args.repeats):
            for name in (list(commands) if r % 2 == 0 else list(reversed(commands))):
                times[name].append(timed(*commands[name]))
                print(f"  round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
        if args.timeline:  # the progress lines (one per epoch when not a terminal), not --quiet
            lines = timeline([arg for arg in commands["ours, --eval-samples 0"][0] if arg != "--quiet"], env)
    median = {name: statistics.median(t) for name, t in times.items()}
    tutorials = {name: s for name, s in median.items() if name.startswith("tutorial")}
    best = min(tutorials, key=tutorials.get)
    print(f"\nreport-2019, {args.epochs} epochs, whole process, median of {args.repeats}")
    print(f"{'program':40} {'wall s':>7}  {'vs the best tutorial (' + best + ')'}; per round, and their median")
    for name, seconds in median.items():
        rounds = [b / t for b, t in zip(times[best], times[name])]
        print(f"{name:40} {seconds:7.1f}  {median[best] / seconds:.2f}x;  "
              f"{', '.join(f'{r:.2f}x' for r in rounds)}: {statistics.median(rounds):.2f}x")
    if args.timeline:
        print("\nours, --eval-samples 0, once more: its lines, seconds from its start")
        previous = 0.0
        for seconds, line in lines:
            print(f"{seconds:7.2f} (+{seconds - previous:5.2f})  {line[:100]}")
            previous = seconds


if __name__ == "__main__":
    main()
