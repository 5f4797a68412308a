"""What another thread's OpenMP threads do to training: the same job, with and without a second team alive.

    python benchmarks/omp_pools.py [--pairs 20] [--block 1.5] [--spins 3000000 0]

torch's CPU threads are GNU OpenMP's (libgomp). Each thread that runs a multi-threaded torch operation becomes the
master of a team of its own, and the team's threads live as long as that thread does. libgomp counts every thread
it manages, and where there are more of them than cores it stops spinning (``GOMP_SPINCOUNT``) and puts idle threads
to sleep at once: each of the step's parallel regions then has to wake its threads again.

In one process, a thread trains ``report-2019`` (batch 100, float32, random images: a step's cost does not depend on
the pixels) in blocks of ``--block`` seconds; before every other block a helper thread runs one multi-threaded
matrix product and waits (its team alive), and after that block it ends (its team freed). Blocks with and without
the helper alternate, so the machine's drift falls on both; each pair gives the ratio of their images/s. Each
``--spins`` value runs in a fresh process with that ``GOMP_SPINCOUNT`` (read once, when torch loads): with 0 no
thread spins either way, which tells whether losing the spin is what the second team costs.

What it means here: the CLI trains in its main thread and nothing else in it runs torch; the dashboard trains in a
thread of its own, its page scripts run torch in threads that end with each run (freeing their teams), and the live
data route runs none. A notebook that has run a multi-threaded torch operation in its main thread and then trains
with ``JobRunner`` has two teams for as long as it lives.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(pairs: int, block_s: float) -> dict:
    """Images/s of the blocks with the helper's team alive and without, and the ratio of each pair."""
    import gan  # noqa: F401  before torch, as in the product (MKL's settings; GOMP_SPINCOUNT is this process's)
    import torch

    from gan.config import preset
    from gan.trainer import Trainer

    helper: dict = {}

    def team_on() -> None:
        started, release = threading.Event(), threading.Event()

        def work() -> None:
            torch.randn(512, 512) @ torch.randn(512, 512)  # a multi-threaded product: this thread's team
            started.set()
            release.wait()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        started.wait()
        helper.update(thread=thread, release=release)

    def team_off() -> None:
        helper["release"].set()
        helper["thread"].join()

    rates: dict[bool, list[float]] = {True: [], False: []}

    def train() -> None:
        config = preset("report-2019").replace(epochs=1, eval_samples=0, train_images=1000)
        trainer = Trainer(config, images=torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8))
        real = trainer.data[: config.batch_size]
        for _ in range(100):  # warm-up
            last = trainer.train_step(real, None)
        for block in range(2 * pairs):
            alive = block % 2 == 1
            if alive:
                team_on()
            time.sleep(0.05)  # time for a freed team's threads to exit
            last.tolist()
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < block_s:
                for _ in range(25):
                    last = trainer.train_step(real, None)
                steps += 25
            last.tolist()
            rates[alive].append(steps * config.batch_size / (time.perf_counter() - start))
            if alive:
                team_off()

    thread = threading.Thread(target=train)  # as the dashboard's jobs train: not in the main thread
    thread.start()
    thread.join()
    return {"without": statistics.median(rates[False]), "with": statistics.median(rates[True]),
            "ratio": statistics.median(a / b for a, b in zip(rates[True], rates[False]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--block", type=float, default=1.5, help="seconds per block")
    parser.add_argument("--spins", type=int, nargs="+", default=[3_000_000, 0], help="GOMP_SPINCOUNT values")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.pairs, args.block)
        print(f"{result['without']:.0f} {result['with']:.0f} {result['ratio']:.3f}")
        return 0
    print(f"# report-2019 in a thread, {args.pairs} pairs of {args.block:g}-s blocks, without and with a second "
          f"OpenMP team alive (another thread's); {os.cpu_count()} CPUs")
    for spins in args.spins:
        env = {**os.environ, "GOMP_SPINCOUNT": str(spins)}
        out = subprocess.run([sys.executable, __file__, "--child", "--pairs", str(args.pairs), "--block",
                              str(args.block)], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        without, with_team, ratio = out.stdout.split()
        print(f"GOMP_SPINCOUNT={spins:<9} without {float(without):9,.0f} images/s, with {float(with_team):9,.0f}: "
              f"median ratio of the pairs {float(ratio):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
