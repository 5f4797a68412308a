"""``python -m gan sweep``: its flags (no Ray needed to parse them or to check the space) and its
command, which loads Ray only once the space is valid."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gan.config import PRESETS
from gan.sweep import METRICS
from gan.sweep.environment import local_ray_environment, uses_local_ray

if TYPE_CHECKING:  # torch loads only once a sweep runs: `python -m gan --help` stays fast
    from gan.store import RunStore

RAY_MISSING = "Ray Tune is not installed: pip install 'ray[tune]==2.60.0' (it is in requirements.txt)"
SCHEDULERS = ("fifo", "asha", "pbt")
SPACE_HELP = ("A searched field, FIELD=KIND:ARGS, repeatable: lr_g=loguniform:1e-4:1e-2, beta1_g=uniform:0.3:0.9, "
              "hidden=choice:64,128, loss=grid:bce,hinge (each grid value gets --trials trials).")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r:.40}")
    return int(text)


def add_parser(sub, add_config_flags) -> None:
    sweep = sub.add_parser("sweep", help="Search hyperparameters over many runs with Ray Tune.", description=(
        "Train many runs of one config with searched values on Ray Tune, stop the worse early (asha) or copy "
        "the better ones' weights (pbt), ranked by a metric from the snapshot evaluations. Every trial is a run "
        "in the store; the sweep is recorded beside them and the Sweeps page watches it."))
    sweep.add_argument("--preset", default="report-2019", choices=sorted(PRESETS), help="Starting point (default: report-2019).")
    sweep.add_argument("--config", type=Path, help="Start from a config.json instead of a preset.")
    sweep.add_argument("--space", action="append", default=[], metavar="FIELD=KIND:ARGS", help=SPACE_HELP)
    sweep.add_argument("--scheduler", choices=SCHEDULERS, default="asha", help="fifo, asha or pbt (default asha).")
    sweep.add_argument("--trials", type=_positive, default=4, help="Trials to sample (default 4).")
    sweep.add_argument("--max-concurrent", type=_positive, help="At most this many trials at once "
                       "(default: as many as the CPUs and GPUs allow).")
    sweep.add_argument("--metric", choices=sorted(METRICS), default="fid",
                       help="fid (FID-MNIST, lower is better) or classifier_score (higher is better), from the "
                       "eval_samples (>= 2000) scored at every epoch's snapshot.")
    sweep.add_argument("--cpus-per-trial", type=_positive, default=1, help="CPUs (and torch threads) per trial (default 1).")
    sweep.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial, may be fractional (default 0).")
    sweep.add_argument("--address", help="A Ray cluster to run on: auto (the one this machine joined) or HOST:PORT "
                       "(default: $RAY_ADDRESS, else a local Ray on 127.0.0.1 started for the sweep).")
    sweep.add_argument("--interval", type=_positive, default=1, help="Epochs between asha's rungs or pbt's "
                       "perturbations (default 1).")
    add_config_flags(sweep)


MIN_EVAL_SAMPLES = 2000  # the metric must rest on a real sample, not a training batch


def run(args, store: RunStore, base) -> int:
    """Check the space, then run the sweep and print its ranking."""
    from gan.sweep.space import parse_space

    if base.eval_samples < MIN_EVAL_SAMPLES:
        raise ValueError(f"eval_samples must be at least {MIN_EVAL_SAMPLES} for a sweep (the metric's sample), "
                         f"got {base.eval_samples}")
    if args.gpus_per_trial < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    dimensions = parse_space(args.space, base, scheduler=args.scheduler)
    if uses_local_ray(args.address):
        local_ray_environment()  # before Ray is imported
    try:
        from gan.sweep.tuner import run_sweep
    except ImportError:
        raise SystemExit(f"python -m gan sweep: error: {RAY_MISSING}") from None
    sweep_id = run_sweep(store, base, dimensions, scheduler=args.scheduler, trials=args.trials,
                         max_concurrent=args.max_concurrent, metric=args.metric, cpus_per_trial=args.cpus_per_trial,
                         gpus_per_trial=args.gpus_per_trial, address=args.address, interval=args.interval,
                         on_start=lambda sid: print(f"sweep {sid} in {store.root}", flush=True))
    print_ranking(store, sweep_id, args.metric)
    return 0


def print_ranking(store: RunStore, sweep_id: str, metric: str) -> None:
    from gan.sweep.record import ranked

    rows = ranked(store, sweep_id, metric)
    print(f"{'rank':>4}  {'run':34} {'status':10} {metric:>16} {'epoch':>5}  values")
    for rank, row in enumerate(rows, 1):
        value = f"{row[metric]:.3f}" if row[metric] is not None else "-"
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["values"].items())
        print(f"{rank:>4}  {row['run']:34} {row['status']:10} {value:>16} {row['best_epoch'] or '-':>5}  {values}")
