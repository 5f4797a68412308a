"""Does the accelerated step (CUDA graphs, bf16, channels-last) learn like the plain eager one?

Trains the same config twice with the same seed, once with every acceleration off and once with the
device's defaults, and prints per-epoch means of the logged metrics side by side, the final scores
from the MNIST classifier (FID, digit coverage) on 2,000 samples, and each run's wall time.
The two runs are not bit-identical on a GPU (different kernels, bf16 rounding); they should give
curves of the same shape and final scores within run-to-run noise. For that noise, ``--seeds 2``
repeats the eager run with another seed.

    python benchmarks/graph_equivalence.py --device cuda --epochs 20
    python benchmarks/graph_equivalence.py --device cpu --epochs 2 --train-images 6000 --graphs   # the plumbing
"""

from __future__ import annotations

import argparse
import time

import torch

from gan.config import preset
from gan.data import load_mnist
from gan.metrics import evaluate
from gan.trainer import METRICS, Trainer, sample_noise


def train(config, images, labels, **accel):
    trainer = Trainer(config, images=images, labels=labels, **accel)
    sums: dict[int, dict[str, float]] = {}
    counts: dict[int, int] = {}

    def on_log(t, rows):
        for row in rows:
            e = row["epoch"]
            counts[e] = counts.get(e, 0) + 1
            acc = sums.setdefault(e, dict.fromkeys(METRICS, 0.0))
            for m in METRICS:
                acc[m] += row[m] if row[m] == row[m] else 0.0  # NaN: no G update on that step

    trainer.add_callback("on_log", on_log)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - start
    means = {e: {m: v / counts[e] for m, v in acc.items()} for e, acc in sums.items()}
    noise = sample_noise(config, 2000, torch.Generator().manual_seed(12345))
    gen_labels = torch.arange(2000) % 10 if config.conditional else None
    scores = evaluate(trainer.generate(noise, gen_labels), labels=gen_labels.numpy() if gen_labels is not None else None)
    return trainer, means, scores, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report-2019")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-images", type=int, default=60_000)
    parser.add_argument("--seeds", type=int, default=1, help="eager runs with seeds 0..N-1 (run-to-run noise)")
    parser.add_argument("--graphs", action="store_true", help="force the fixed-buffer step (for a CPU check)")
    args = parser.parse_args()
    config = preset(args.preset, device=args.device, epochs=args.epochs, train_split="all", train_images=args.train_images,
                    snapshot_epochs=(args.epochs,), eval_samples=0)
    images, labels = load_mnist("train")  # the whole file (train_split "all"): the same images for every run
    labels = labels if config.conditional else None
    off = dict(graphs=False, amp=False, channels_last=False)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"# {name}, torch {torch.__version__}, preset {args.preset}, {args.epochs} epochs of {args.train_images} images",
          flush=True)
    show(config, args, "eager seed 0", *train(config, images, labels, **off))
    on = dict(graphs=True) if args.graphs else {}
    trainer, *rest = train(config, images, labels, **on)
    label = trainer.accel.describe().replace("CUDA graphs", "CUDA graphs" if trainer.device.type == "cuda"
                                             else "fixed-buffer step (uncaptured)")
    show(config, args, f"{label} seed 0", trainer, *rest)
    for seed in range(1, args.seeds):
        show(config, args, f"eager seed {seed}", *train(config.replace(seed=seed), images, labels, **off))


def show(config, args, label, trainer, means, scores, seconds):
    """One run's table, printed as soon as it ends: a run cut short still shows what it measured."""
    rate = args.epochs * config.steps_per_epoch * config.batch_size / seconds
    print(f"\n## {label}: {seconds:.1f} s ({rate:,.0f} images/s incl. snapshots), "
          f"FID {scores['fid']:.1f}, classes {scores['classes_covered']}, precision {scores['precision']:.2f}, "
          f"recall {scores['recall']:.2f}")
    print(f"{'epoch':>5} " + " ".join(f"{m:>11}" for m in METRICS))
    shown = sorted(means)
    shown = shown if len(shown) <= 12 else shown[:: max(1, len(shown) // 10)] + [shown[-1]]
    for e in dict.fromkeys(shown):
        print(f"{e:5d} " + " ".join(f"{means[e][m]:11.4f}" for m in METRICS))
    print(end="", flush=True)

if __name__ == "__main__":
    main()
