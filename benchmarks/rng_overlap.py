"""Can the report's step hide its random numbers? Three ways to get the dropout masks, in turn in one process.

The CPU generator is serial, and about half of a ``report-2019`` step runs on one core while the other
idles (one thread is only 30% slower than two), so drawing the next step's masks on a second Python
thread during that time looks free. This measures it, rounds interleaved so the VM's drift cancels:

- ``drawn``: the step as it ships (three masks drawn from the run's dropout generator inside the step);
- ``none``: no random numbers at all, the first masks reused (not valid training: the bound of any scheme);
- ``thread``: the same three draws in the same order, from a generator seeded as the run's dropout generator,
  made by a background thread ``--depth`` steps ahead (torch's operators release the GIL, so the thread runs
  beside the step).

    python benchmarks/rng_overlap.py --rounds 8
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script
from benchmarks.cuda_check import steps  # noqa: E402
from gan.config import preset  # noqa: E402
from gan.data import load_mnist  # noqa: E402
from gan.models.dropout import Dropout  # noqa: E402
from gan.trainer import Trainer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per mode and round")
    parser.add_argument("--depth", type=int, default=2, help="steps the thread draws ahead")
    args = parser.parse_args()
    config = preset("report-2019", eval_samples=0, train_split="all")
    trainer = Trainer(config, images=load_mnist("train")[0])
    b, hidden = config.batch_size, trainer.G.net[0].out_features
    shapes = [(b, hidden), (2 * b, hidden), (b, hidden)]  # G's hidden layer, D on real+fake, D on the fakes for G

    drawn = Dropout.mask
    reused: dict[tuple, torch.Tensor] = {}

    def none(self, x):
        return reused.setdefault(tuple(x.shape), drawn(self, x))

    ahead: queue.Queue = queue.Queue(maxsize=args.depth)
    running = threading.Event()
    source = Dropout(trainer.G.net[2].p)  # the thread's masks come from Dropout.mask itself, from its own generator
    source.generator = torch.Generator().manual_seed(config.seed + 3)

    def worker():
        while True:
            running.wait()
            masks = [drawn(source, torch.empty(s)) for s in shapes]
            while running.is_set():  # a round that ended while the queue was full drops this step's masks
                try:
                    ahead.put(masks, timeout=0.05)
                    break
                except queue.Full:
                    pass

    threading.Thread(target=worker, daemon=True).start()
    current: list = []

    def thread(self, x):
        if not current:
            current.extend(ahead.get())
        return current.pop(0)

    modes = {"drawn": drawn, "none": none, "thread": thread}
    times: dict[str, list[float]] = {m: [] for m in modes}
    steps(trainer, 30)
    for _ in range(args.rounds):
        for name, mask in modes.items():
            Dropout.mask = mask
            if name == "thread":
                running.set()
            steps(trainer, 20)
            start = time.perf_counter()
            steps(trainer, args.steps)
            times[name].append((time.perf_counter() - start) / args.steps * 1e3)
            running.clear()
            time.sleep(0.1)  # the worker sees the flag (its put waits at most 0.05 s) before the queue is emptied
            while not ahead.empty():
                ahead.get()
            current.clear()
    Dropout.mask = drawn
    print(f"# report-2019, batch {b}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{args.rounds} rounds of {args.steps} steps per mode")
    for name, values in times.items():
        ratios = [v / d for v, d in zip(values, times["drawn"])]
        print(f"{name:7} {statistics.median(values):6.2f} ms/step  vs drawn, median of rounds {statistics.median(ratios):.3f} "
              f"(rounds {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
