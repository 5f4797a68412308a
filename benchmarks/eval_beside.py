"""A snapshot's evaluation beside the training (``Trainer.beside``) against the same evaluation inline, in one process.

    python benchmarks/eval_beside.py [--pairs 14] [--epochs 1] [--processes]

Each run is ``Trainer.run()`` of ``report-2019`` on its 55,000 images for ``--epochs`` epochs with snapshots at epoch
0 and at the last, evaluated as ``gan train`` evaluates them (2,000 samples, the D probe): the epoch-0 evaluation runs
beside the first epoch (the last one inline either way, since nothing follows it) or, with the switch off, inline
before it. The two alternate in a random order within each pair, in one process, so that the machine's drift falls
on both; each pair gives inline/beside of their wall-clock, and the scores of the two runs must be equal. The first
pair is untimed (the classifier, the reference statistics and the training images load then).

``--processes``: whole processes instead, ``python -m gan train --preset report-2019 --epochs N`` with
``GAN_EVAL_BESIDE`` unset and ``=0`` in turn (a temporary run store), so the first evaluation of a process, which also
loads the classifier and the reference statistics, is in the figure.

On 2 cores both sides lose by it (the evaluation takes about twice as long on one thread, the training runs at
0.6–1.0 of its two-thread speed), so what it gains depends on how well the training uses its second thread at the
time: a little where it uses it well, up to about a quarter of an epoch where it barely does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import gan  # noqa: F401  before torch, as in the product
import torch

from gan.config import preset
from gan.evaluation import DiscriminatorProbe, Evaluator
from gan.trainer import Trainer


def one_run(config, beside: bool) -> tuple[float, list]:
    trainer = Trainer(config)
    trainer.beside_ok = trainer.beside_ok and beside
    Evaluator(trainer)
    DiscriminatorProbe(trainer)
    scores = []
    trainer.add_callback("on_evaluation", lambda t, epoch, metrics: scores.append((epoch, metrics["fid"],
                                                                                   metrics["precision"])))
    start = time.perf_counter()
    trainer.run()
    return time.perf_counter() - start, scores


def processes(pairs: int, epochs: int) -> None:
    import os
    import subprocess
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    print(f"# whole processes: python -m gan train --preset report-2019 --epochs {epochs}, GAN_EVAL_BESIDE unset "
          f"and =0 in a random order per pair", flush=True)
    with tempfile.TemporaryDirectory() as runs:
        def one(beside: bool) -> float:
            env = {**os.environ, "GAN_RUNS_DIR": runs}
            env.pop("GAN_EVAL_BESIDE", None)
            if not beside:
                env["GAN_EVAL_BESIDE"] = "0"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gan", "train", "--preset", "report-2019", "--epochs", str(epochs)],
                           cwd=root, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - start

        one(True), one(False)  # untimed: the metrics' disk cache, Python's bytecode
        report([{beside: one(beside) for beside in random.sample([True, False], 2)} for _ in range(pairs)])


def report(pairs: list[dict]) -> None:
    ratios = [p[False] / p[True] for p in pairs]
    for i, (p, r) in enumerate(zip(pairs, ratios)):
        print(f"pair {i}: beside {p[True]:.2f} s, inline {p[False]:.2f} s, inline/beside {r:.3f}", flush=True)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print(f"medians: beside {statistics.median(p[True] for p in pairs):.2f} s, inline "
          f"{statistics.median(p[False] for p in pairs):.2f} s; inline/beside per pair: median "
          f"{statistics.median(ratios):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}), "
          f"{sum(r > 1 for r in ratios)} of {len(ratios)} pairs faster beside")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=14)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--processes", action="store_true", help="whole `gan train` processes, by the switch")
    args = parser.parse_args()
    if args.processes:
        processes(args.pairs, args.epochs)
        return
    config = preset("report-2019", epochs=args.epochs, snapshot_epochs=(0, args.epochs), device="cpu")
    probe = Trainer(config)
    if not probe.beside_ok:
        raise SystemExit("no evaluation beside the training here (it needs the CPU thread governor: 2 or more "
                         "threads, bit-identical products at any count, GAN_EVAL_BESIDE and GAN_ADAPTIVE_THREADS on)")
    del probe
    print(f"# report-2019, {args.epochs} epoch(s), snapshots at 0 and {args.epochs}, {torch.get_num_threads()} "
          f"threads; inline/beside per pair, in a random order", flush=True)
    one_run(config, True), one_run(config, False)  # untimed: what loads once per process
    pairs = []
    for _ in range(args.pairs):
        result = {beside: one_run(config, beside) for beside in random.sample([True, False], 2)}
        if result[True][1] != result[False][1]:
            raise SystemExit(f"the scores differ: {result[True][1]} against {result[False][1]}")
        pairs.append({beside: seconds for beside, (seconds, _) in result.items()})
    report(pairs)
    print("the scores of every pair equal")


if __name__ == "__main__":
    main()
