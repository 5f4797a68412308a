"""How long torch's OpenMP threads spin before they sleep, and what it does to training beside other work.

    python benchmarks/omp_spin.py [--spins 300000 3000000 30000000] [--rounds 2]

torch's CPU build runs its intra-op threads on GNU OpenMP (libgomp). A thread that finds no work spins
``GOMP_SPINCOUNT`` times (libgomp's default 300,000, about 3 ms by its own estimate) and then sleeps in the
kernel until the next parallel region wakes it. A ``report-2019`` step is about 16 parallel regions with
serial Python and small operators between them, so on two cores shared with a browser that draws in bursts,
a thread that went to sleep has to be woken and scheduled again, region after region.

For each spin count (set before torch is imported: libgomp reads it once) and each load, in turn, one fresh
process times ``--steps`` steps of ``report-2019`` (batch 100, float32, random images: a step's cost does
not depend on the pixels) ``--repeats`` times and prints the median images/s. The loads:

- ``alone``: nothing else runs;
- ``bursts``: another process busy for 50 ms, idle for 75 ms, over and over (40% of one core in bursts, about
  what a browser tab redrawing a live view does when several are open).

``gan`` sets ``GOMP_SPINCOUNT`` when it is imported before torch (`gan/__init__.py`); each process here
gets the value under test in its environment, which ``gan`` keeps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BURSTS = """
import time
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < 0.05:
        pass
    time.sleep(0.075)
"""

CHILD = """
import sys, time, statistics
sys.path.insert(0, {root!r})
import gan  # noqa: F401  (first, as the CLI and the dashboard import it)
import torch
from gan.config import preset
from gan.trainer import Trainer
steps, repeats, load = {steps}, {repeats}, {load!r}
config = preset("report-2019").replace(train_images=5000, epochs=1, snapshot_epochs=(1,))
trainer = Trainer(config, images=torch.randint(0, 256, (5000, 28, 28), dtype=torch.uint8))
real = trainer.data[:100]
for _ in range(30):
    trainer.train_step(real)
other = None
if load == "bursts":
    import subprocess
    other = subprocess.Popen([sys.executable, "-c", {bursts!r}])
    time.sleep(0.5)
rates = []
for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
        last = trainer.train_step(real)
    last.tolist()
    rates.append(steps * 100 / (time.perf_counter() - start))
if other is not None:
    other.kill()
print(statistics.median(rates))
"""


def measure(spins: str, load: str, steps: int, repeats: int) -> float:
    env = {**os.environ, "GOMP_SPINCOUNT": spins}
    code = CHILD.format(root=str(ROOT), steps=steps, repeats=repeats, load=load, bursts=BURSTS)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spins", nargs="+", default=["300000", "3000000", "30000000"],
                        help="GOMP_SPINCOUNT values (libgomp's default is 300000)")
    parser.add_argument("--loads", nargs="+", default=["alone", "bursts"], choices=["alone", "bursts"])
    parser.add_argument("--rounds", type=int, default=2, help="every value and load once per round, in turn")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    print(f"# report-2019, batch 100, float32, {os.cpu_count()} CPUs; median images/s of {args.repeats} x "
          f"{args.steps} steps per process; {args.rounds} rounds, values in turn", flush=True)
    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for load in args.loads:
            for spins in args.spins:
                rate = measure(spins, load, args.steps, args.repeats)
                results.setdefault((spins, load), []).append(rate)
                print(f"round {round_}  {load:6s}  GOMP_SPINCOUNT={spins:>10s}  {rate:9,.0f} images/s", flush=True)
    print("GOMP_SPINCOUNT   " + "  ".join(f"{load:>18s}" for load in args.loads))
    for spins in args.spins:
        cells = []
        for load in args.loads:
            rates = results[(spins, load)]
            cells.append(f"{statistics.median(rates):9,.0f} ({min(rates):,.0f}-{max(rates):,.0f})")
        print(f"{spins:>14s}   " + "  ".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
