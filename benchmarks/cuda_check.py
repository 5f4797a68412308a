"""Correctness checks of the accelerated training step on a device, printed as PASS/FAIL lines.

CI has no GPU, so these run as a script in a GPU session (``benchmarks/gpu_check.sh``); on the CPU
they run the uncaptured fixed-buffer step, which checks the script itself.

    python benchmarks/cuda_check.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from gan.config import preset
from gan.data import load_mnist
from gan.trainer import Trainer

FAILED = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def steps(trainer: Trainer, n: int) -> torch.Tensor:
    """``n`` training steps on fixed batches; their metrics, one row per step (on the host)."""
    rows = []
    b, data = trainer.config.batch_size, trainer.data
    for i in range(n):
        index = torch.arange(i * b, (i + 1) * b, device=trainer.device) % data.shape[0]
        labels = trainer.labels.index_select(0, index) if trainer.labels is not None else None
        out = trainer.train_step(data.index_select(0, index), labels,
                                 update_g=(i + 1) % trainer.config.d_steps == 0)
        rows.append(out)
    return torch.stack(rows).float().cpu()


def max_weight_diff(a: Trainer, b: Trainer) -> float:
    pairs = zip((*a.G.parameters(), *a.D.parameters()), (*b.G.parameters(), *b.D.parameters()))
    return max((x - y).abs().max().item() for x, y in pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    images, labels = load_mnist("train")
    capture = args.device == "cuda"
    print(f"# {torch.cuda.get_device_name() if capture else 'cpu'}, torch {torch.__version__}")

    # 1. the captured step computes what the eager one does (fp32, same seed, same batches)
    config = preset("report-2019", device=args.device, train_images=10_000, eval_samples=0)
    eager = Trainer(config, images=images, graphs=False)
    graphed = Trainer(config, images=images, graphs=True)
    a, b = steps(eager, 300), steps(graphed, 300)
    diff = (a - b).abs().nan_to_num().max().item()
    captures = graphed._graphs.captures
    check("mlp graphs == eager", diff < 1e-3 and (captures == 1) == capture,
          f"300 steps, max metric difference {diff:.2e}, weights {max_weight_diff(eager, graphed):.2e}, "
          f"{captures} graph(s) captured")

    # 2. two graphs (d_steps 2), conditional labels, bf16 autocast and channels-last: trains, stays finite
    config = preset("cgan", family="dcgan", device=args.device, train_images=10_000, d_steps=2, eval_samples=0)
    trainer = Trainer(config, images=images, labels=labels)
    out = steps(trainer, 200)
    g_steps = out[:, 2][~out[:, 2].isnan()]
    check("cdcgan d_steps=2 " + trainer.accel.describe(),
          bool(torch.isfinite(out[:, [0, 1, 3, 4]]).all()) and len(g_steps) == 100 and bool(torch.isfinite(g_steps).all()),
          f"{len(out)} steps, {len(g_steps)} G updates, "
          f"{trainer._graphs.captures if trainer._graphs else 0} graph(s), last D(x) {out[-1, 3]:.3f}")

    # 3. a learning-rate change recaptures and takes effect
    before = trainer._graphs.captures if trainer._graphs else 0
    trainer.apply_changes({"lr_g": 1e-5, "lr_d": 1e-5})
    weights = [p.detach().clone() for p in trainer.G.parameters()]
    steps(trainer, 20)
    moved = max((p - w).abs().max().item() for p, w in zip(trainer.G.parameters(), weights))
    after = trainer._graphs.captures if trainer._graphs else 0
    check("lr change recaptures", (after > before) == capture and 0 < moved < 1e-2,
          f"graphs {before} -> {after}, G moved at most {moved:.2e} in 20 steps at lr 1e-5")

    # 4. checkpoint and continue: the same as going straight on (graphs on both sides)
    config = preset("report-2019", device=args.device, train_images=5_000, epochs=2, eval_samples=0)
    straight = Trainer(config, images=images)
    straight.run()
    first = Trainer(config.replace(epochs=1), images=images)
    first.run()
    resumed = Trainer(config, images=images)
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    diff = max_weight_diff(straight, resumed)
    check("resume == straight", diff < 1e-4, f"max weight difference after 2 epochs {diff:.2e}")

    # 5. the gradient penalty stays eager and trains
    config = preset("wgan-gp", device=args.device, train_images=5_000, eval_samples=0)
    trainer = Trainer(config, images=images)
    out = steps(trainer, 100)
    check("wgan-gp eager", trainer._graphs is None and bool(torch.isfinite(out.nan_to_num(0.0)).all()),
          f"{trainer.accel.describe()}, last wasserstein {out[-1, 5]:.3f}")

    # 6. no host sync per step: 1,000 captured steps queue up faster than they run
    config = preset("report-2019", device=args.device, train_images=10_000, eval_samples=0)
    trainer = Trainer(config, images=images)
    steps(trainer, 10)
    if capture:
        torch.cuda.synchronize()
    start = time.perf_counter()
    outs = steps(trainer, 1000)
    seconds = time.perf_counter() - start
    check("throughput", math.isfinite(outs.sum().item()),
          f"{1000 * config.batch_size / seconds:,.0f} images/s over 1,000 steps ({trainer.accel.describe()})")
    print("all checks passed" if not FAILED else f"FAILED: {', '.join(FAILED)}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
