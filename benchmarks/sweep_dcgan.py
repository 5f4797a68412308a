"""Does a sweep beat the hand-tuned dcgan preset? ASHA or PBT over the learning rates, Adam's beta1 and
the weight average's half-life, against the preset trained for the same epochs: both scored by
FID-MNIST on 10,000 samples of their last checkpoint.

    python benchmarks/sweep_dcgan.py                          # asha, 6 trials of 3 epochs (12 min on 2 cores here)
    python benchmarks/sweep_dcgan.py --scheduler pbt --trials 4 --epochs 6 --interval 2
    python benchmarks/sweep_dcgan.py --trials 2 --epochs 1 --train-images 2000 --n 2000   # a smoke run

Runs land in $GAN_RUNS_DIR (or ./runs) like any others, so the Sweeps page shows the sweep.
"""

from __future__ import annotations

import argparse

from gan.config import preset
from gan.metrics import evaluate
from gan.runner import execute
from gan.sampling import sample
from gan.store import RunStore
from gan.sweep.environment import local_ray_environment
from gan.sweep.space import parse_space

SPACE = ["lr_g=loguniform:1e-4:2e-3", "lr_d=loguniform:1e-4:2e-3", "beta1_g=choice:0.0,0.5,0.9",
         "beta1_d=choice:0.0,0.5,0.9", "ema_halflife=choice:0,5000,10000,20000"]


def fid(store: RunStore, run_id: str, n: int) -> float:
    images, _ = sample(store.open(run_id), n, seed=123)
    return evaluate(images)["fid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", choices=("asha", "pbt"), default="asha")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=60_000)
    parser.add_argument("--n", type=int, default=10_000, help="samples scored at the end")
    args = parser.parse_args()
    store = RunStore()
    config = preset("dcgan", epochs=args.epochs, train_images=args.train_images, device="cpu")
    space = parse_space(SPACE, config, scheduler=args.scheduler)

    local_ray_environment()
    from gan.sweep.record import ranked  # Ray is imported after its environment is set
    from gan.sweep.tuner import run_sweep

    sweep_id = run_sweep(store, config, space, scheduler=args.scheduler, trials=args.trials, interval=args.interval,
                         max_concurrent=2)
    finished = [r for r in ranked(store, sweep_id, "fid") if r["epochs_done"] == args.epochs]
    best = finished[0]
    baseline = store.create(config)
    execute(baseline)
    print(f"sweep {sweep_id}: best trial {best['run']} {best['values']}")
    print(f"FID-MNIST on {args.n:,} samples at epoch {args.epochs}: best trial {fid(store, best['run'], args.n):.2f}, "
          f"dcgan preset {fid(store, baseline.id, args.n):.2f} ({baseline.id})")


if __name__ == "__main__":
    main()
