"""The sweep's overhead: a trial's training images/s under Ray Tune against the same config trained
alone in this process with the same number of torch threads (target: >= 90%).

    python benchmarks/sweep_overhead.py                                  # report-2019, 2 trials one at a time
    python benchmarks/sweep_overhead.py --preset dcgan --train-images 5000 --max-concurrent 2

images/s is the trainer's own figure, per logged batch of steps (evaluations and checkpoints are
outside it), as the median over the run. With ``--max-concurrent`` 1 the trials train one at a time,
so the difference is Ray's; with 2 on 2 cores they also share the memory bus, like two runs alone.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from gan.config import preset
from gan.runner import execute
from gan.store import RunStore
from gan.sweep.environment import local_ray_environment
from gan.sweep.space import parse_space


def median_rate(store: RunStore, run_id: str) -> float:
    rates = store.open(run_id).steps().get("images_per_s", np.empty(0))
    return float(np.median(rates[np.isfinite(rates)]))


def alone(store: RunStore, config) -> float:
    run = store.create(config)
    execute(run)
    return median_rate(store, run.id)


def swept(store: RunStore, config, *, trials: int, concurrent: int) -> list[float]:
    local_ray_environment()
    from gan.sweep.record import sweep_runs  # Ray is imported after its environment is set
    from gan.sweep.tuner import run_sweep

    space = parse_space([f"seed=grid:{','.join(map(str, range(trials)))}"], config)
    sweep_id = run_sweep(store, config, space, scheduler="fifo", trials=1, max_concurrent=concurrent)
    return [median_rate(store, info["id"]) for info in sweep_runs(store, sweep_id)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report-2019")
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--max-concurrent", type=int, default=1)
    args = parser.parse_args()
    config = preset(args.preset, train_images=args.train_images, epochs=args.epochs, device="cpu",
                    snapshot_epochs=tuple(range(1, args.epochs + 1)))
    torch.set_num_threads(1)  # what each trial gets (--cpus-per-trial 1)
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        base = alone(store, config)
        rates = swept(store, config, trials=args.trials, concurrent=args.max_concurrent)
    print(f"{args.preset}, {args.train_images} images, 1 thread: alone {base:,.0f} images/s")
    for i, rate in enumerate(rates):
        print(f"  trial {i}: {rate:,.0f} images/s = {rate / base:.0%} of alone "
              f"({args.max_concurrent} trial(s) at once)")


if __name__ == "__main__":
    main()
