"""The hand-written step of ``report-2019`` under two or more process environments, timed in turns so that the
machine's drift falls on every variant alike.

Each variant is one long-lived process (its environment fixed before torch loads, as for ``MKL_CBWR``, which MKL
reads once); the processes take turns, one at a time, each timing ``--steps`` steps per turn while the others wait
on a pipe (no CPU), for ``--turns`` turns each. A VM whose speed drifts by tens of percent within a minute (this
project's 2-core VMs do) then drifts under every variant alike, and the per-turn ratios show the spread.

    python benchmarks/env_ab.py "MKL_CBWR=AUTO,STRICT" "MKL_CBWR=AUTO" [--turns 30] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import gan  # noqa: F401  (first, as the CLI and the dashboard import it)
import torch
from gan.config import preset
from gan.trainer import Trainer
config = preset("report-2019").replace(train_images=10000, epochs=10000, snapshot_epochs=(10000,))
trainer = Trainer(config, images=torch.randint(0, 256, (10000, 28, 28), dtype=torch.uint8))
steps, b, batch = {steps}, config.batch_size, 0
batches = trainer.data.shape[0] // b


def train(count):
    global batch
    for _ in range(count):
        batch = (batch + 1) % batches
        trainer.train_step(trainer.data[batch * b : (batch + 1) * b])


train(100)  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    start = time.perf_counter()
    train(steps)
    print(steps * b / (time.perf_counter() - start), flush=True)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help='environment settings per variant: "NAME=VALUE[ NAME=VALUE]"')
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    code = CHILD.format(root=str(ROOT), steps=args.steps)
    children = []
    for variant in args.variants:
        # a fixed thread count (no governor): the variants differ only in what they set
        env = {**os.environ, "GAN_ADAPTIVE_THREADS": "0", **dict(item.split("=", 1) for item in variant.split())}
        child = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        if not child.stdout.readline().startswith("ready"):
            raise SystemExit(f"{variant}: the child did not start")
        children.append(child)
    rates: list[list[float]] = [[] for _ in children]
    for turn in range(args.turns):
        order = range(len(children)) if turn % 2 == 0 else reversed(range(len(children)))
        for i in order:
            children[i].stdin.write("go\n")
            children[i].stdin.flush()
            rates[i].append(float(children[i].stdout.readline()))
    for child in children:
        child.stdin.close()
        child.wait()
    print(f"# report-2019's hand-written step, batch 100, {os.cpu_count()} CPUs: {args.turns} turns of {args.steps} "
          "steps per variant, variants in turn")
    base = rates[0]
    for variant, r in zip(args.variants, rates):
        ratios = [x / b for x, b in zip(r, base)]
        low, middle, high = statistics.quantiles(ratios, n=4)
        print(f"{variant:32s} median {statistics.median(r):9,.0f} images/s (min {min(r):,.0f}, max {max(r):,.0f}); "
              f"per-turn ratio to the first: median {middle:.3f} (quartiles {low:.3f}-{high:.3f})")


if __name__ == "__main__":
    sys.exit(main())
