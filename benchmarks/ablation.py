"""What each change buys: DCGAN -> + EMA -> + SN, + clusters ..., each row trained with several seeds.

    python benchmarks/ablation.py                       # every row (3 seeds, 10,000 samples)
    python benchmarks/ablation.py --rows preset +ema --seeds 0 --n 2000 --eval-epochs 2 5

Each row is the ``--base`` preset with the row's changes (``ROWS``: each names all of its changes).
A run trains in this process (snapshot metrics off, so the minutes are training only); at each of
``--eval-epochs`` (default: the last) the generator that snapshots show (the average when EMA is on)
draws ``--n`` samples that the project's MNIST classifier scores. Prints one line per run as it
goes, then a Markdown table: the mean over seeds, the worst seed, and real digits' values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gan.config import preset
from gan.metrics import evaluate
from gan.sampling import generate, sample_labels
from gan.trainer import Trainer, sample_noise

# each row: the changes it makes to the base preset
ROWS = {
    "preset": {},
    "+ema": {"ema_halflife": 10_000},
    "+ema+sn": {"ema_halflife": 10_000, "spectral_norm": True},
    "+ema+clusters": {"ema_halflife": 10_000, "clusters": 50},
    "+ema+clusters100": {"ema_halflife": 10_000, "clusters": 100},
    # dcgan-clusters's changes (at the base's epochs): 200 clusters, the R1 penalty and mode seeking
    "+ema+clusters200+r1+ms": {"ema_halflife": 10_000, "clusters": 200, "r1_gamma": 0.1, "mode_seeking": 0.15},
}
FIGURES = ("classifier_score", "fid", "precision", "recall", "classes_covered")
WORSE_IS_HIGHER = {"fid"}


def score(trainer: Trainer, n: int, seed: int = 123) -> dict:
    noise = sample_noise(trainer.config, n, torch.Generator().manual_seed(seed))
    labels = sample_labels(trainer.config, n)
    G = trainer.ema.model if trainer.ema is not None else trainer.G.eval()
    try:
        images = generate(G, noise.to(trainer.device), labels.to(trainer.device) if labels is not None else None)
    finally:
        trainer.G.train()
    return evaluate(images.float().cpu(), labels=labels.numpy() if labels is not None else None)


def train_and_score(config, eval_epochs: list[int], n: int, name: str = "") -> list[tuple[int, float, dict]]:
    """(epoch, training minutes so far, scores) at each of ``eval_epochs``, printed as they come."""
    trainer, results = Trainer(config), []
    clock = {"start": time.perf_counter(), "paused": 0.0}

    def on_epoch_end(t):
        if t.epoch in eval_epochs:
            stop = time.perf_counter()
            minutes = (stop - clock["start"] - clock["paused"]) / 60
            results.append((t.epoch, minutes, score(t, n)))
            accuracy = results[-1][2]["conditional_accuracy"]
            print(f"# {name} seed {config.seed} epoch {t.epoch}: {minutes:.2f} min, "
                  + ", ".join(f"{k} {results[-1][2][k]:.3g}" for k in FIGURES)
                  + (f", digit accuracy {accuracy:.2%}" if accuracy is not None else ""), flush=True)
            clock["paused"] += time.perf_counter() - stop

    trainer.add_callback("on_epoch_end", on_epoch_end)
    trainer.run()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="dcgan", help="the preset the rows change")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the base preset's")
    parser.add_argument("--eval-epochs", type=int, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, the cores)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="extra changes for every row")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {k: _parse(v) for k, v in (item.split("=", 1) for item in args.set)}
    epochs = args.epochs or preset(args.base).epochs
    eval_epochs = args.eval_epochs or [epochs]
    table, real = [], None
    for name in args.rows:
        changes = ROWS[name]
        per_epoch: dict[int, list] = {}
        for seed in args.seeds:
            config = preset(args.base, **{**changes, **extra}, epochs=epochs, seed=seed, eval_samples=0,
                            snapshot_epochs=(epochs,), device="cpu")
            for epoch, minutes, scores in train_and_score(config, eval_epochs, args.n, name):
                real = scores["real"]
                per_epoch.setdefault(epoch, []).append((minutes, scores))
        table += [(name, epoch, runs) for epoch, runs in per_epoch.items()]
    print(f"\n# base {args.base}, extra {extra or 'none'}, seeds {args.seeds}, {args.n} samples, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| row | epochs | minutes | classifier score | FID-MNIST | precision | recall | classes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, epoch, runs in table:
        minutes = np.mean([m for m, _ in runs])
        cells = [_cell([s[k] for _, s in runs], k) for k in FIGURES]
        print(f"| {name} | {epoch} | {minutes:.1f} | " + " | ".join(cells) + " |")
    print(f"| real digits | – | – | {real['classifier_score']:.2f} | {real['fid']:.1f} | {real['precision']:.2f} | "
          f"{real['recall']:.2f} | {real['classes_covered']} |")


def _cell(values: list[float], key: str) -> str:
    """mean (worst) over seeds."""
    worst = max(values) if key in WORSE_IS_HIGHER else min(values)
    fmt = "{:.0f}" if key == "classes_covered" else "{:.1f}" if key == "fid" else "{:.2f}"
    return fmt.format(np.mean(values)) + (f" ({fmt.format(worst)})" if len(values) > 1 else "")


def _parse(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


if __name__ == "__main__":
    main()
