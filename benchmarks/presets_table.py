"""The README's preset table: train each preset, time it, score it with the MNIST classifier.

    python benchmarks/presets_table.py [--epochs report-2019=20 dcgan=5 cgan=5 wgan-gp=5]

Trains every preset for the given epochs in a temporary run store (snapshot metrics off, so the
minutes are training only), then scores 2,000 samples of the last checkpoint and, for conditional
presets, the accuracy of the requested digit over 1,000 samples per digit. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from gan.config import preset
from gan.metrics import classifier_features, evaluate
from gan.runner import execute
from gan.sampling import sample
from gan.store import RunStore


def digit_accuracy(run, per_digit: int = 1000) -> list[float]:
    """For each digit k: the share of ``per_digit`` samples asked for k that the classifier reads as k."""
    accuracies = []
    for digit in range(10):
        images, _ = sample(run, per_digit, seed=digit, digit=digit)
        _, probs = classifier_features(images)
        accuracies.append(float((probs.argmax(1) == digit).mean()))
    return accuracies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", nargs="+", default=["report-2019=20", "dcgan=5", "cgan=5", "wgan-gp=5"])
    args = parser.parse_args()
    rows, real = [], None
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for item in args.epochs:
            name, epochs = item.split("=")
            config = preset(name, epochs=int(epochs), eval_samples=0, device="cpu")
            run = store.create(config)
            start = time.perf_counter()
            execute(run)
            minutes = (time.perf_counter() - start) / 60
            images, labels = sample(run, 2000, seed=123)
            scores = evaluate(images, labels=labels.numpy() if labels is not None else None)
            real = scores["real"]
            accuracy = digit_accuracy(run) if config.conditional else None
            rows.append((name, int(epochs), minutes, scores, accuracy))
            print(f"# {name}: {minutes:.1f} min, FID {scores['fid']:.1f}", flush=True)
    print(f"\n# {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| preset | epochs | minutes (2 CPU cores) | classifier score | FID-MNIST | precision | recall | classes | "
          "entropy | digit accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, epochs, minutes, s, accuracy in rows:
        acc = f"{np.mean(accuracy):.1%} (min {min(accuracy):.1%})" if accuracy else "–"
        print(f"| `{name}` | {epochs} | {minutes:.1f} | {s['classifier_score']:.2f} | {s['fid']:.1f} | "
              f"{s['precision']:.2f} | {s['recall']:.2f} | {s['classes_covered']} | {s['label_entropy']:.2f} | {acc} |")
    print(f"| real digits | – | – | {real['classifier_score']:.2f} | {real['fid']:.1f} | {real['precision']:.2f} | "
          f"{real['recall']:.2f} | {real['classes_covered']} | {real['label_entropy']:.2f} | "
          f"{real['conditional_accuracy']:.1%} |")
    for name, _, _, _, accuracy in rows:
        if accuracy:
            print(f"{name} accuracy per digit: " + ", ".join(f"{d}: {a:.1%}" for d, a in enumerate(accuracy)))


if __name__ == "__main__":
    main()
