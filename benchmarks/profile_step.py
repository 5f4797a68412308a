"""Where one training step's time goes on the CPU, and the floor that the arithmetic sets.

Times eager steps of a preset (default ``report-2019``, float32, batch 100) without the profiler, then
splits one profiled run's self CPU time by kind of operator, and sets it against the machine's own
matrix-product rate (a 2048 x 2048 float32 product) and the step's multiply-adds counted from its layers.

    python benchmarks/profile_step.py
    python benchmarks/profile_step.py --preset dcgan --steps 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script
from benchmarks.cuda_check import steps  # noqa: E402
from gan.config import preset  # noqa: E402
from gan.data import load_mnist  # noqa: E402
from gan.trainer import Trainer  # noqa: E402

KINDS = {  # operator name -> kind; the rest is "other operators"
    "aten::mm": "matrix products", "aten::addmm": "matrix products", "aten::bmm": "matrix products",
    "aten::convolution": "convolutions", "aten::_convolution": "convolutions",
    "aten::mkldnn_convolution": "convolutions", "aten::convolution_backward": "convolutions",
    "aten::bernoulli_": "random numbers", "aten::uniform_": "random numbers", "aten::normal_": "random numbers",
    "aten::_fused_adam_": "optimizer", "Optimizer.step#Adam.step": "optimizer",
    "Optimizer.zero_grad#Adam.zero_grad": "optimizer",
    "aten::tanh": "activations", "aten::tanh_backward": "activations", "aten::leaky_relu": "activations",
    "aten::leaky_relu_backward": "activations", "aten::sigmoid": "activations",
}


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def linear_macs_per_image(model: torch.nn.Module) -> int:
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report-2019")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of --steps (the median is shown)")
    args = parser.parse_args()
    config = preset(args.preset, eval_samples=0, train_split="all")
    images, labels = load_mnist("train")
    trainer = Trainer(config, images=images, labels=labels if config.conditional else None)
    b = config.batch_size

    steps(trainer, 30)
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        steps(trainer, args.steps)
        rounds.append((time.perf_counter() - start) / args.steps * 1e3)
    step_ms = statistics.median(rounds)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        steps(trainer, args.steps)
    by_kind: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        by_kind[KINDS.get(event.key, "other operators and autograd")] += event.self_cpu_time_total
    total = sum(by_kind.values())
    gflops = matmul_gflops()
    print(f"# {args.preset}, batch {b}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"step: {step_ms:.2f} ms median of {args.rounds} x {args.steps} steps "
          f"({', '.join(f'{r:.2f}' for r in rounds)}), {b / step_ms * 1e3:,.0f} images/s")
    print(f"{'kind (profiled self CPU time)':32} {'share':>6} {'ms/step':>8}")
    for kind, us in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"{kind:32} {us / total:6.1%} {us / total * step_ms:8.2f}")
    if config.family == "mlp":
        # multiply-adds per image: G forward (g); D forward on real and fake (2d); D's weight gradients on
        # both (2d); for G's update D forward on the fakes (d) and its input gradients (d; its weight
        # gradients are not computed), and G's backward (about 2g): 3g + 6d, about 0.94 M for the report's model
        g, d = linear_macs_per_image(trainer.G), linear_macs_per_image(trainer.D)
        macs = 3 * g + 6 * d
        floor_ms = 2 * macs * b / (gflops * 1e9) * 1e3
        print(f"arithmetic: {2 * macs / 1e6:.2f} MFLOP per image; this machine's matrix products run "
              f"{gflops:.0f} GFLOP/s (2048^3, float32), so the products alone need {floor_ms:.2f} ms per step: "
              f"at most {b / floor_ms * 1e3:,.0f} images/s")


if __name__ == "__main__":
    main()
