"""Where a captured training step spends its time, and whether ``torch.compile`` shortens it.

An experiment for the GPU session, not a product path: the trainer does not compile its models. It prints,
for one preset and batch size:

1. kernels per eager step (``torch.profiler``, device kernels over 20 steps) and the eager images/s;
2. images/s as shipped (the step replayed as CUDA graphs, noise, batch slicing and buffer copies outside);
3. images/s of the bare graph replay alone (the step's floor as captured: the rest is the loop around it);
4. for each ``--compile`` mode: G and D wrapped in ``torch.compile`` under the same capture, the images/s
   and the largest difference of the first 200 steps' metrics from the shipped step (same seed).

    python benchmarks/gpu_step_profile.py --device cuda
    python benchmarks/gpu_step_profile.py --device cpu --steps 100 --compile   # the plumbing, on a CPU
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script, like its docstring
import gan.trainer as trainer_module  # noqa: E402
from benchmarks.bench_train import labels_for  # noqa: E402
from benchmarks.cuda_check import steps  # noqa: E402
from gan.config import preset  # noqa: E402
from gan.data import load_mnist  # noqa: E402
from gan.trainer import Trainer  # noqa: E402


def build(config, images, **kwargs) -> Trainer:
    return Trainer(config, images=images, labels=labels_for(config, len(images)), **kwargs)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(trainer: Trainer, n: int) -> float:
    steps(trainer, 10)  # warm-up: compilation, capture
    sync(trainer.device)
    start = time.perf_counter()
    steps(trainer, n)  # returns the metrics on the host: the sync ends the timed span
    return n * trainer.config.batch_size / (time.perf_counter() - start)


def replay_rate(trainer: Trainer, n: int) -> float:
    graph, _ = trainer._graphs.graphs[True]
    sync(trainer.device)
    start = time.perf_counter()
    for _ in range(n):
        graph.replay()
    sync(trainer.device)
    return n * trainer.config.batch_size / (time.perf_counter() - start)


def kernels_per_step(trainer: Trainer, n: int = 20) -> float:
    steps(trainer, 5)
    activities = [torch.profiler.ProfilerActivity.CPU] + (
        [torch.profiler.ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        steps(trainer, n)
        sync(trainer.device)
    if trainer.device.type == "cuda":
        events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    else:  # on the CPU: the operators dispatched, as a stand-in
        events = [e for e in prof.events() if e.name.startswith("aten::")]
    return len(events) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report-2019")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--compile", nargs="*", default=None, metavar="MODE",
                        help="torch.compile modes to try (none given: default)")
    args = parser.parse_args()
    images, _ = load_mnist("train")
    config = preset(args.preset, device=args.device, eval_samples=0, train_split="all")
    config = config.replace(batch_size=args.batch_size) if args.batch_size else config
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"# {name}, torch {torch.__version__}, preset {args.preset}, batch {config.batch_size}, {args.steps} steps",
          flush=True)
    eager = build(config, images, graphs=False)
    print(f"eager: {kernels_per_step(eager):.0f} {'kernels' if device.type == 'cuda' else 'aten ops'} per step, "
          f"{rate(eager, args.steps // 4):,.0f} images/s", flush=True)
    shipped = build(config, images, graphs=True)
    reference = steps(shipped, 200).float().cpu()
    print(f"as shipped ({shipped.accel.describe()}): {rate(shipped, args.steps):,.0f} images/s", flush=True)
    if device.type == "cuda":
        print(f"graph replay alone: {replay_rate(shipped, args.steps):,.0f} images/s", flush=True)
    for mode in ([] if args.compile is None else (args.compile or ["default"])):
        build_models = trainer_module.build_models
        trainer_module.build_models = lambda c: tuple(torch.compile(m, mode=mode) for m in build_models(c))
        try:
            start = time.perf_counter()
            compiled = build(config, images, graphs=True)
            metrics = steps(compiled, 200).float().cpu()
            warm = time.perf_counter() - start
            diff = (metrics - reference).abs().nan_to_num(0.0).max().item()
            print(f"torch.compile mode={mode}: {rate(compiled, args.steps):,.0f} images/s, first 200 steps {warm:.1f} s "
                  f"(compilation included), largest metric difference from the shipped step {diff:.2e}", flush=True)
        except Exception as exc:  # an experiment: say what failed and go on
            print(f"torch.compile mode={mode}: failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        finally:
            trainer_module.build_models = build_models


if __name__ == "__main__":
    main()
