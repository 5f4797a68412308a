"""The README's preset table: train each preset with several seeds, time it, score it with the MNIST classifier.

    python benchmarks/presets_table.py [--epochs report-2019=20 dcgan=5 ...] [--seeds 0 1 2] [--n 10000]

Trains every preset for the given epochs (default: each preset's own) in a temporary run store
(snapshot metrics off, so the minutes are training only), then scores ``--n`` samples of the last
checkpoint (the averaged generator where the preset keeps one) and, for conditional presets, the
accuracy of the requested digit over ``--n`` / 10 samples per digit. Prints one line per run, then a
Markdown table: the mean over seeds with the worst seed in brackets, and real digits' values.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from gan.config import PRESETS, preset
from gan.metrics import classifier_features, evaluate
from gan.runner import execute
from gan.sampling import sample
from gan.store import RunStore


def digit_accuracy(run, per_digit: int) -> list[float]:
    """For each digit k: the share of ``per_digit`` samples asked for k that the classifier reads as k."""
    accuracies = []
    for digit in range(10):
        images, _ = sample(run, per_digit, seed=digit, digit=digit)
        _, probs = classifier_features(images)
        accuracies.append(float((probs.argmax(1) == digit).mean()))
    return accuracies


FIGURES = ("classifier_score", "fid", "precision", "recall", "classes_covered", "label_entropy")


def cell(values: list[float], fmt: str, worst) -> str:
    text = fmt.format(np.mean(values))
    return text + (f" ({fmt.format(worst(values))})" if len(values) > 1 else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", nargs="+", default=[f"{name}=" for name in PRESETS],
                        help="NAME=EPOCHS (EPOCHS empty: the preset's own)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per run")
    args = parser.parse_args()
    rows, real = [], None
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for item in args.epochs:
            name, _, epochs = item.partition("=")
            epochs = int(epochs) if epochs else preset(name).epochs
            runs = []
            for seed in args.seeds:
                config = preset(name, epochs=epochs, seed=seed, eval_samples=0, device="cpu",
                                snapshot_epochs=(epochs,))
                run = store.create(config)
                start = time.perf_counter()
                execute(run)
                minutes = (time.perf_counter() - start) / 60
                images, labels = sample(run, args.n, seed=123)
                scores = evaluate(images, labels=labels.numpy() if labels is not None else None)
                real = scores["real"]
                accuracy = digit_accuracy(run, args.n // 10) if config.conditional else None
                runs.append((minutes, scores, accuracy))
                print(f"# {name} seed {seed}: {minutes:.1f} min, " + ", ".join(f"{k} {scores[k]:.3g}" for k in FIGURES)
                      + (f", digit accuracy {np.mean(accuracy):.2%} (min {min(accuracy):.1%})" if accuracy else ""),
                      flush=True)
            rows.append((name, epochs, runs))
    print(f"\n# seeds {args.seeds}, {args.n} samples per run, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| preset | epochs | minutes (2 CPU cores) | classifier score | FID-MNIST | precision | recall | classes | "
          "entropy | digit accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, epochs, runs in rows:
        minutes = [m for m, _, _ in runs]
        figures = {k: [s[k] for _, s, _ in runs] for k in FIGURES}
        accuracy = [np.mean(a) for _, _, a in runs if a]
        print(f"| `{name}` | {epochs} | {np.mean(minutes):.1f} | {cell(figures['classifier_score'], '{:.2f}', min)} | "
              f"{cell(figures['fid'], '{:.1f}', max)} | {cell(figures['precision'], '{:.2f}', min)} | "
              f"{cell(figures['recall'], '{:.2f}', min)} | {cell(figures['classes_covered'], '{:.0f}', min)} | "
              f"{cell(figures['label_entropy'], '{:.2f}', min)} | "
              + (cell([100 * a for a in accuracy], "{:.1f}%", min) if accuracy else "–") + " |")
    print(f"| real digits | – | – | {real['classifier_score']:.2f} | {real['fid']:.1f} | {real['precision']:.2f} | "
          f"{real['recall']:.2f} | {real['classes_covered']} | {real['label_entropy']:.2f} | "
          f"{real['conditional_accuracy']:.1%} |")


if __name__ == "__main__":
    main()
