"""Training speed of presets and of the ablation's changes, one after another in one process.

    python benchmarks/preset_speed.py                          # every preset, and dcgan + EMA, + SN
    python benchmarks/preset_speed.py --only dcgan dcgan+ema --epochs 2
    python benchmarks/preset_speed.py --only dcgan dcgan-clusters dcgan dcgan-clusters   # interleaved

Each config trains ``--epochs`` full epochs on MNIST (snapshot metrics off); prints images/s and the
minutes the preset's own epochs take at that speed. The quality runs of ``ablation.py`` and
``presets_table.py`` can run single-threaded side by side; this gives their minutes on the whole machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from gan.config import PRESETS, preset
from gan.data import load_mnist
from gan.trainer import Trainer

CONFIGS = {
    **{name: (name, {}) for name in PRESETS},
    "dcgan+ema": ("dcgan", {"ema_halflife": 10_000}),
    "dcgan+ema+sn": ("dcgan", {"ema_halflife": 10_000, "spectral_norm": True}),
    "dcgan-wide-ema+sn": ("dcgan-wide-ema", {"spectral_norm": True}),
    "dcgan+ema+clusters": ("dcgan", {"ema_halflife": 10_000, "clusters": 50}),
}
TABLE_EPOCHS = {"report-2019": 20}  # the README's table trains the report's model 20 epochs, not 500


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    images, labels = load_mnist("train")
    print(f"# {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| config | images/s | minutes for the table's epochs |")
    print("| --- | --- | --- |")
    for name in args.only:
        base, changes = CONFIGS[name]
        config = preset(base, **changes, epochs=args.epochs, eval_samples=0, snapshot_epochs=(args.epochs,), device="cpu")
        trainer = Trainer(config, images=images, labels=labels)
        start = time.perf_counter()
        trainer.run()
        seconds = time.perf_counter() - start
        rate = args.epochs * config.steps_per_epoch * config.batch_size / seconds
        epochs = TABLE_EPOCHS.get(base, preset(base).epochs if base not in ("dcgan", "cgan", "wgan-gp") else 5)
        print(f"| {name} | {rate:,.0f} | {epochs} epochs: {epochs * seconds / args.epochs / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
