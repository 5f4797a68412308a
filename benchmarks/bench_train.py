"""Images/s of our trainer against the tutorial loop, side by side in one run.

The tutorial loop is what most GAN examples do: a torchvision-style Dataset that converts each
image with ToTensor + Normalize and a shuffled DataLoader. It runs at its best settings on this
machine: no host sync per step (the losses are summed on the device, read once at the end) and
each of ``--workers`` (default 0, 1 and 2 DataLoader workers) tried, and the other way tutorials feed
MNIST, the set normalised once into a tensor (``TensorDataset``, 0 workers); the fastest is the baseline.

    python benchmarks/bench_train.py                 # report-2019, batch 100, one epoch each
    python benchmarks/bench_train.py --preset dcgan --steps 200
    python benchmarks/bench_train.py --batch-sweep 32 64 100 256 1000 --size-sweep 15000 30000 60000
    python benchmarks/bench_train.py --device cuda --steps 3000 --variants   # what each GPU acceleration gives
"""

from __future__ import annotations

import argparse
import os
import platform
import time

# the OpenMP spin count `gan` sets when it is imported before torch (gan/__init__.py), for both loops here
os.environ.setdefault("GOMP_SPINCOUNT", "3000000")

import torch  # noqa: E402
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision import transforms

from gan.config import preset
from gan.data import load_mnist
from gan.models import build_models
from gan.losses import LOSSES
from gan.trainer import Trainer, acceleration, resolve_device


class TutorialMNIST(Dataset):
    """Per-sample PIL conversion and normalisation, as in the tutorials."""

    def __init__(self, images):
        self.images = images.numpy()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i], mode="L")), 0


def preloaded(images) -> TensorDataset:
    """The other way tutorials feed MNIST: the whole set normalised once into a tensor, indexed per sample
    by the DataLoader (no PIL, no per-image transform)."""
    return TensorDataset(images.float().div(127.5).sub(1).unsqueeze(1), torch.zeros(len(images)))


def labels_for(config, n):
    return torch.randint(0, 10, (n,)) if config.conditional else None


def tutorial_setup(config, images, workers: int, tensors: bool = False):
    """What a tutorial builds before its loop: the models, two Adams and a shuffled DataLoader (of
    per-image transforms, or of ``preloaded`` tensors): ``(G, D, opt_g, opt_d, loader)``."""
    torch.manual_seed(config.seed)
    G, D = (m.to(resolve_device(config.device)) for m in build_models(config))
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(config.beta1_g, config.beta2_g))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(config.beta1_d, config.beta2_d))
    dataset = preloaded(images) if tensors else TutorialMNIST(images)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)
    return G, D, opt_g, opt_d, loader


def tutorial_step(config, G, D, opt_g, opt_d, real: torch.Tensor) -> torch.Tensor:
    """One step as the tutorials write it; the three losses, detached and left on the device (no sync)."""
    device = real.device
    b = real.shape[0]
    z = torch.rand(b, config.noise_dim, device=device) * 2 - 1 if config.noise == "uniform" else \
        torch.randn(b, config.noise_dim, device=device)
    fake = G(z)
    d_loss_real = F.binary_cross_entropy_with_logits(D(real), torch.full((b,), config.real_label, device=device))
    d_loss_fake = F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(b, device=device))
    opt_d.zero_grad()
    (d_loss_real + d_loss_fake).backward()
    opt_d.step()
    g_loss = F.binary_cross_entropy_with_logits(D(fake), torch.ones(b, device=device))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return torch.stack([d_loss_real, d_loss_fake, g_loss]).detach()


def tutorial_images_per_s(config, images, steps: int, workers: int, tensors: bool = False) -> float:
    device = resolve_device(config.device)
    G, D, opt_g, opt_d, loader = tutorial_setup(config, images, workers, tensors)
    done, start, total = 0, None, torch.zeros(3, device=device)
    while done < steps:
        for real, _ in loader:
            if done == 5:  # skip warm-up (worker start, first allocations)
                start = time.perf_counter()
            total += tutorial_step(config, G, D, opt_g, opt_d, real.to(device))  # logged at the end: no sync per step
            done += 1
            if done >= steps:
                break
    total.tolist()  # the one host sync, inside the timed span
    return (steps - 5) * config.batch_size / (time.perf_counter() - start)


def ours_images_per_s(config, images, steps: int, **accel) -> float:
    """Our trainer's images/s; the first flush (5 steps: warm-up, and the CUDA graph capture) is not timed.
    ``accel``: ``graphs``/``amp``/``channels_last``/``hand`` overrides (default: the device's defaults)."""
    config = config.replace(train_split="all", train_images=min(len(images), (steps + 5) * config.batch_size), epochs=1,
                            snapshot_epochs=(1,), eval_samples=0)
    trainer = Trainer(config, images=images, labels=labels_for(config, len(images)), **accel)
    seconds = []
    trainer.add_callback("on_log", lambda t, rows: seconds.append((len(rows), time.perf_counter())))
    trainer.log_every = 5
    trainer.train_epoch()
    (_, t0), (_, t_last) = seconds[0], seconds[-1]
    steps_timed = sum(n for n, _ in seconds[1:])
    return steps_timed * config.batch_size / (t_last - t0)


def epoch_seconds(config, images, n: int) -> float:
    """Seconds for one epoch over the first ``n`` images (should grow linearly with n)."""
    config = config.replace(train_split="all", train_images=n, epochs=1, snapshot_epochs=(1,), eval_samples=0)
    trainer = Trainer(config, images=images)
    trainer.log_every = 10**9  # one flush per epoch: time the loop, not the listeners
    start = time.perf_counter()
    trainer.train_epoch()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report-2019")
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument("--steps", type=int, default=600, help="timed steps per loop (600 = one epoch at batch 100)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="DataLoader workers of the tutorial loop, each tried (default 0 1 2); the fastest is the baseline")
    parser.add_argument("--no-preloaded", action="store_true",
                        help="skip the tutorial variant that feeds preloaded tensors instead of per-image transforms")
    parser.add_argument("--tutorial-steps", type=int,
                        help="timed steps of the tutorial loop (default: --steps); its per-image CPU work sets its pace")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sweep", type=int, nargs="*", metavar="B", help="also: our images/s at these batch sizes")
    parser.add_argument("--variants", action="store_true",
                        help="also: our trainer with each acceleration (CUDA graphs, bf16, channels-last) on its own")
    parser.add_argument("--size-sweep", type=int, nargs="*", metavar="N", help="also: epoch time on the first N images")
    args = parser.parse_args()
    config = preset(args.preset, device=args.device, eval_samples=0)
    config = config.replace(batch_size=args.batch_size) if args.batch_size else config
    images, _ = load_mnist("train")  # the whole training file: both loops are given it (train_split "all")
    name = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"# {name}, {torch.get_num_threads()} threads, torch {torch.__version__}, device {args.device}, "
          f"preset {args.preset}, batch {config.batch_size}, {args.steps} steps", flush=True)
    tutorial_steps = args.tutorial_steps or args.steps
    tried = {f"tutorial, {w} workers": tutorial_images_per_s(config, images, tutorial_steps, w) for w in args.workers}
    if not args.no_preloaded:
        tried["tutorial, preloaded tensors, 0 workers"] = tutorial_images_per_s(config, images, tutorial_steps, 0,
                                                                                 tensors=True)
    best = max(tried, key=tried.get)
    tutorial = tried[best]
    per_epoch = config.steps_per_epoch * config.batch_size

    def row(loop, rate):  # printed as soon as it is measured: a run cut short still shows what it measured
        print(f"{loop:40} {rate:10,.0f} {rate / tutorial:10.2f}x {500 * per_epoch / rate / 60:9.1f} min", flush=True)

    print(f"{'loop':40} {'images/s':>10} {'vs baseline':>11} {'500 epochs':>11}")
    for name, rate in tried.items():
        row(name + (" (the baseline)" if name == best else ""), rate)
    accel = acceleration(config, resolve_device(args.device))
    ours = ours_images_per_s(config, images, args.steps)
    row(f"ours ({accel.describe()})", ours)
    if accel.hand:  # what the step written out by hand buys: the same trainer with autograd's step
        row("ours, autograd's step (GAN_HAND_STEP=0)", ours_images_per_s(config, images, args.steps, hand=False))
    print(f"ratio ours/tutorial at its best ({best}): {ours / tutorial:.2f}x", flush=True)
    if args.variants:
        # each acceleration on its own, to see what pays off on this card
        for label, accel in (("ours, eager fp32", dict(graphs=False, amp=False, channels_last=False)),
                             ("ours, graphs fp32", dict(graphs=True, amp=False, channels_last=False)),
                             ("ours, eager bf16", dict(graphs=False, amp=True, channels_last=False)),
                             ("ours, eager bf16+NHWC", dict(graphs=False, amp=True, channels_last=True))):
            if accel["graphs"] and LOSSES[config.loss].gradient_penalty:
                continue
            row(label, ours_images_per_s(config, images, args.steps, **accel))
    if args.batch_sweep:
        print(f"\n{'batch':>6} {'images/s':>10}")
        for b in args.batch_sweep:
            print(f"{b:6d} {ours_images_per_s(config.replace(batch_size=b), images, max(50, args.steps * 100 // b)):10,.0f}",
                  flush=True)
    if args.size_sweep:
        print(f"\n{'images':>7} {'epoch s':>8} {'s per 10k':>9}")
        for n in args.size_sweep:
            seconds = epoch_seconds(config, images, n)
            print(f"{n:7d} {seconds:8.2f} {seconds / n * 10_000:9.3f}", flush=True)


if __name__ == "__main__":
    main()
