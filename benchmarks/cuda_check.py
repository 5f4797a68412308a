"""Correctness checks of the accelerated training step on a device, printed as PASS/FAIL lines.

CI has no GPU, so these run as a script in a GPU session (``benchmarks/gpu_check.sh``). On the CPU
nothing is captured: check 1 then compares the eager step with the uncaptured fixed-buffer one (the
plumbing, not a CUDA graph), check 3 sees the new learning rate take effect but no re-capture, and
the throughput check (no host sync per step) needs CUDA's sync debug mode, so it prints SKIP.
``tests/test_gpu_scripts.py`` runs the script on the CPU and breaks each check's code path once to
see it print FAIL.

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

LR_AFTER = 1e-5  # check 3's new learning rate
ADAM_STEP_BOUND = 3.0  # an Adam step moves a weight by about lr at most (3x: bias correction's early overshoot)


def check(name: str, ok: bool, detail: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    return ok


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


def metric_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest difference between two runs' metrics; inf where one is NaN and the other is not."""
    if not torch.equal(a.isnan(), b.isnan()):
        return math.inf
    finite = ~a.isnan()
    return (a - b)[finite].abs().max().item() if finite.any() else 0.0


def finite(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all())


def captures(trainer: Trainer) -> int:
    return trainer._graphs.captures if trainer._graphs is not None else 0


def check_graphs_equal_eager(device: str, images, n: int = 300) -> bool:
    """1. the captured step computes what the eager one does (fp32, same seed, same batches)."""
    config = preset("report-2019", device=device, train_images=10_000, eval_samples=0)
    eager = Trainer(config, images=images, graphs=False)
    graphed = Trainer(config, images=images, graphs=True)
    diff = metric_diff(steps(eager, n), steps(graphed, n))
    expected = 1 if device == "cuda" else 0  # the CPU runs the fixed-buffer step uncaptured
    return check("mlp graphs == eager", diff < 1e-3 and captures(graphed) == expected,
                 f"{n} steps, max metric difference {diff:.2e}, weights {max_weight_diff(eager, graphed):.2e}, "
                 f"{captures(graphed)} graph(s) captured (expected {expected})")


def check_two_graphs_conditional(device: str, images, labels, n: int = 200) -> bool:
    """2. two graphs (d_steps 2), conditional labels, bf16 autocast and channels-last: trains, stays finite."""
    config = preset("cgan", family="dcgan", device=device, train_images=10_000, d_steps=2, eval_samples=0)
    trainer = Trainer(config, images=images, labels=labels)
    out = steps(trainer, n)
    updated = torch.arange(1, n + 1) % 2 == 0
    g = out[:, 2]
    learned = abs(out[-5:, 3].mean().item() - out[:5, 3].mean().item())  # D(x) moves off its start
    expected = 2 if device == "cuda" else 0
    ok = (finite(out[:, [0, 1, 3, 4]]) and finite(g[updated]) and bool(g[~updated].isnan().all()) and learned > 0.02
          and captures(trainer) == expected)
    return check("cdcgan d_steps=2 " + trainer.accel.describe(), ok,
                 f"{n} steps, {int(updated.sum())} G updates, {captures(trainer)} graph(s) (expected {expected}), "
                 f"D(x) moved {learned:.3f}, last D(x) {out[-1, 3]:.3f}")


def check_lr_change(device: str, images, n: int = 20) -> bool:
    """3. a learning-rate change takes effect (and, on CUDA, is re-captured)."""
    config = preset("report-2019", device=device, train_images=10_000, eval_samples=0)
    trainer = Trainer(config, images=images)
    steps(trainer, 10)
    before = captures(trainer)
    trainer.apply_changes({"lr_g": LR_AFTER, "lr_d": LR_AFTER})
    weights = [p.detach().clone() for p in trainer.G.parameters()]
    steps(trainer, n)
    moved = max((p - w).abs().max().item() for p, w in zip(trainer.G.parameters(), weights))
    after = captures(trainer)
    bound = ADAM_STEP_BOUND * n * LR_AFTER
    return check("lr change takes effect" + (" and recaptures" if device == "cuda" else ""),
                 (after > before) == (device == "cuda") and 0 < moved < bound,
                 f"graphs {before} -> {after}, G moved at most {moved:.2e} in {n} steps at lr {LR_AFTER:g} "
                 f"(bound {bound:.1e}; at the old lr it moves about 100 times more)")


def check_resume(device: str, images) -> bool:
    """4. checkpoint and continue: the same as going straight on (graphs on both sides)."""
    config = preset("report-2019", device=device, train_images=5_000, epochs=2, eval_samples=0)
    straight = Trainer(config, images=images)
    straight.run()
    first = Trainer(config.replace(epochs=1), images=images)
    first.run()
    resumed = Trainer(config, images=images)
    resumed.load_state_dict(first.state_dict())
    resumed.run()
    diff = max_weight_diff(straight, resumed)
    return check("resume == straight", diff < 1e-4, f"max weight difference after 2 epochs {diff:.2e}")


def check_gradient_penalty_eager(device: str, images, n: int = 100) -> bool:
    """5. the gradient penalty stays eager and trains."""
    config = preset("wgan-gp", device=device, train_images=5_000, eval_samples=0)
    trainer = Trainer(config, images=images)
    out = steps(trainer, n)
    updated = torch.arange(1, n + 1) % config.d_steps == 0
    ok = (trainer._graphs is None and finite(out[:, [0, 1, 3, 4, 5, 6]]) and finite(out[updated, 2])
          and bool(out[~updated, 2].isnan().all()))
    return check("wgan-gp eager", ok, f"{trainer.accel.describe()}, {int(updated.sum())} G updates, "
                 f"last wasserstein {out[-1, 5]:.3f}, gradient penalty {out[-1, 6]:.3f}")


def check_no_sync_per_step(device: str, images, n: int = 1000) -> bool | None:
    """6. no host sync per step: CUDA's sync debug mode raises on any synchronising call."""
    if device != "cuda":
        print("SKIP throughput, no host sync per step: needs CUDA's sync debug mode", flush=True)
        return None
    config = preset("report-2019", device=device, train_images=10_000, eval_samples=0)
    trainer = Trainer(config, images=images)
    b, data = config.batch_size, trainer.data
    batches = [data[(i * b) % data.shape[0] :][:b] for i in range(n)]
    for real in batches[:10]:
        trainer.train_step(real)
    torch.cuda.synchronize()
    start, error = time.perf_counter(), ""
    torch.cuda.set_sync_debug_mode("error")
    try:
        outs = [trainer.train_step(real) for real in batches]
    except RuntimeError as exc:
        outs, error = [], str(exc).splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    ok = not error and finite(torch.stack(outs)[:, [0, 1, 3, 4]])
    return check("throughput, no host sync per step", ok, error or
                 f"{n * b / seconds:,.0f} images/s over {n:,} steps ({trainer.accel.describe()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    images, labels = load_mnist("train")
    device = args.device
    print(f"# {torch.cuda.get_device_name() if device == 'cuda' else device}, torch {torch.__version__}")
    full = device == "cuda"  # elsewhere the run checks the script itself: a fifth of the steps
    results = {
        "1": check_graphs_equal_eager(device, images, n=300 if full else 60),
        "2": check_two_graphs_conditional(device, images, labels, n=200 if full else 40),
        "3": check_lr_change(device, images),
        "4": check_resume(device, images),
        "5": check_gradient_penalty_eager(device, images, n=100 if full else 20),
        "6": check_no_sync_per_step(device, images),
    }
    failed = [name for name, ok in results.items() if ok is False]
    skipped = sum(ok is None for ok in results.values())
    print(f"FAILED checks: {', '.join(failed)}" if failed else
          "all checks passed" + (f" ({skipped} skipped off CUDA)" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
