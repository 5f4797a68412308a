"""torch's threads following the machine's load (``gan.threads``) against a fixed thread count, beside other work.

    python benchmarks/adaptive_threads.py [--loads alone refresh bursts busy66 busy] [--modes ...] [--rounds 2] [--seconds 6]

For each load and each mode, in turn, one fresh process trains ``report-2019`` (batch 100, float32, the
hand-written step, random images: a step's cost does not depend on the pixels) through ``Trainer.train_epoch``,
as the CLI and the dashboard do (the governor is asked after every step), for ``--seconds`` after one second of warm-up,
and prints its images/s and the share of that time it ran with fewer threads than it started with. The modes:

- ``fixed 2``, ``fixed 1``: ``GAN_ADAPTIVE_THREADS=0`` with ``torch.set_num_threads`` 2 and 1 (on this 2-core
  machine: the default, and the best a user could pick by hand under load);
- ``adaptive``: the default, starting from torch's thread count;
- ``eager`` (only when named in ``--modes``): the governor's policy before session 26, a thread off after any busy
  window whatever the training's speed in it;
- ``slow rise`` (only when named in ``--modes``): the policy before session 33, a thread back only after two quiet
  windows in a row, however short the load that took it (``governor_ab.py`` compares it inside one job);
- ``w0.1 r2``, ``w0.25 r1``, ``w0.1 r1`` (only when named in ``--modes``): the governor with other settings, to
  compare policies side by side (``w``: its window in seconds, ``r``: the quiet windows in a row before a thread
  goes back; the default is ``w0.25 r2``).

The loads, another process that is:

- ``alone``: not there;
- ``refresh``: busy 180 ms every 2 s (what one visible Train tab's refresh cost Chromium in session 23's trace);
- ``refresh3``: busy 150 ms, idle 520 ms (three visible Train tabs refreshing in turn, each every 2 s);
- ``refresh3a``: busy 450 ms, idle 1.55 s (the same three tabs refreshing at the same moment, one after the other);
- ``bursts``: busy 50 ms, idle 75 ms (40% of a core in bursts: a browser tab redrawing a live view, or a few);
- ``busy66``: busy 200 ms, idle 100 ms (two thirds of a core);
- ``busy``: busy all the time (a second job, or a page that loads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOADS = {"alone": None, "refresh": (0.18, 1.82), "refresh3": (0.15, 0.52), "refresh3a": (0.45, 1.55), "bursts": (0.05, 0.075), "busy66": (0.2, 0.1), "busy": (1.0, 0.0)}
MODES = {"fixed 2": ("0", 2, None), "fixed 1": ("0", 1, None), "adaptive": ("1", None, None),
         # the governor with other settings (ThreadGovernor's keyword arguments), to compare policies
         # before session 26: a busy window takes a thread off whatever the training's speed in it
         "eager": ("1", None, {"measured": False}),
         # before session 33: a thread back only after two quiet windows in a row, however short the load was
         "slow rise": ("1", None, {"quick_rise": False}),
         "w0.1 r2": ("1", None, {"window_s": 0.1, "rise_after": 2}),
         "w0.25 r1": ("1", None, {"window_s": 0.25, "rise_after": 1}),
         "w0.1 r1": ("1", None, {"window_s": 0.1, "rise_after": 1})}

LOAD = """
import sys, time
busy, idle = float(sys.argv[1]), float(sys.argv[2])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < busy:
        pass
    if idle:
        time.sleep(idle)
"""

CHILD = """
import subprocess, sys, time
sys.path.insert(0, {root!r})
import gan  # noqa: F401  (first, as the CLI and the dashboard import it)
import torch
from gan.config import preset
from gan.trainer import Trainer
threads, load, seconds, settings = {threads!r}, {load!r}, {seconds!r}, {settings!r}
if threads:
    torch.set_num_threads(threads)
config = preset("report-2019").replace(train_images=10000, epochs=10000, snapshot_epochs=(10000,))
trainer = Trainer(config, images=torch.randint(0, 256, (10000, 28, 28), dtype=torch.uint8))
other = None if load is None else subprocess.Popen([sys.executable, "-c", {code!r}, *map(str, load)])
fewer, last = 0.0, [time.perf_counter()]
def count(trainer, rows):  # time spent with fewer threads than at the start, flush by flush
    global fewer
    now = time.perf_counter()
    if trainer.governor is not None and trainer.governor.threads < trainer.governor.max_threads:
        fewer += now - last[0]
    last[0] = now
trainer.add_callback("on_log", count)
if trainer.governor is not None and settings:
    for name, value in settings.items():
        setattr(trainer.governor, name, value)
if trainer.governor is not None:
    trainer.governor.start()
start = time.perf_counter()
while time.perf_counter() - start < 1.0:  # warm-up (and the governor's first windows)
    trainer.batch, trainer.perm = 0, None
    trainer.train_epoch()
step, start, fewer, last[0] = trainer.step, time.perf_counter(), 0.0, time.perf_counter()
while time.perf_counter() - start < seconds:
    trainer.batch, trainer.perm = 0, None
    trainer.train_epoch()
elapsed = time.perf_counter() - start
if other is not None:
    other.kill()
print((trainer.step - step) * 100 / elapsed, fewer / elapsed)
"""


def measure(mode: str, load: str, seconds: float) -> tuple[float, float]:
    switch, threads, settings = MODES[mode]
    env = {**os.environ, "GAN_ADAPTIVE_THREADS": switch}
    code = CHILD.format(root=str(ROOT), threads=threads, load=LOADS[load], seconds=seconds, code=LOAD,
                       settings=settings)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    rate, fewer = out.stdout.split()[-2:]
    return float(rate), float(fewer)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    parser.add_argument("--modes", nargs="+", default=["fixed 2", "fixed 1", "adaptive"], choices=list(MODES))
    parser.add_argument("--rounds", type=int, default=2, help="every mode and load once per round, in turn")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    print(f"# report-2019, batch 100, float32, {os.cpu_count()} CPUs; images/s over {args.seconds:g} s per process "
          f"after 1 s of warm-up; {args.rounds} rounds, modes in turn", flush=True)
    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for load in args.loads:
            for mode in args.modes:
                rate, fewer = measure(mode, load, args.seconds)
                results.setdefault((mode, load), []).append(rate)
                print(f"round {round_}  {load:7s}  {mode:9s}  {rate:9,.0f} images/s  fewer threads {fewer:5.0%} of "
                      "the time", flush=True)
    print("median images/s (min-max)")
    print(f"{'':10s}" + "".join(f"{load:>24s}" for load in args.loads))
    for mode in args.modes:
        cells = [results[(mode, load)] for load in args.loads]
        print(f"{mode:10s}" + "".join(f"{f'{statistics.median(r):,.0f} ({min(r):,.0f}-{max(r):,.0f})':>24s}"
                                       for r in cells))


if __name__ == "__main__":
    sys.exit(main())
