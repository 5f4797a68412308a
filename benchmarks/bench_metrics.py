"""What the quality metrics cost: one evaluation at a snapshot against the training time of each
preset's run, at its default snapshot schedule.

    python benchmarks/bench_metrics.py [--presets report-2019 dcgan]

For each preset it times one epoch of training (on the full training set) and ``--repeats`` evaluations
of ``eval_samples`` generated images after a first one (their median), then prints the overhead of all snapshot evaluations relative
to the whole run's training time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from gan.config import preset
from gan.data import load_mnist
from gan.evaluation import Evaluator
from gan.trainer import Trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["report-2019", "dcgan"])
    parser.add_argument("--repeats", type=int, default=5, help="evaluations timed after the first (the median is shown)")
    args = parser.parse_args()
    images, labels = load_mnist("train")
    print(f"{'preset':12} {'epoch s':>8} {'eval s':>7} {'snapshots':>9} {'run min':>8} {'metrics add':>11}")
    for name in args.presets:
        config = preset(name, device="cpu")
        trainer = Trainer(config, images=images, labels=labels)
        evaluator = Evaluator(trainer)
        evaluator.on_snapshot(trainer, 0, None)  # warm the reference caches, as the first snapshot does
        start = time.perf_counter()
        trainer.train_epoch()
        epoch_s = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluator.on_snapshot(trainer, 1, None)
            times.append(time.perf_counter() - start)
        eval_s = statistics.median(times)
        snapshots = len(config.snapshot_schedule())
        run_s = epoch_s * config.epochs
        print(f"{name:12} {epoch_s:8.1f} {eval_s:7.2f} {snapshots:9d} {run_s / 60:8.1f} {snapshots * eval_s / run_s:10.1%}"
              f"   evaluations: {', '.join(f'{t:.2f}' for t in times)} s")


if __name__ == "__main__":
    main()
