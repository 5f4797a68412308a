"""The tutorial loop as a whole program: what a user of the reference scripts runs, timed from the outside
by ``benchmarks/bench_process.py`` against ``python -m gan train``.

The same models, optimiser settings, labels and split as the ``report-2019`` preset; what the tutorials do
for the rest: a torchvision Dataset converting each image with ToTensor + Normalize (or, with ``--preloaded``,
the set normalised once into a tensor), a shuffled DataLoader,
the three losses summed on the device and printed once per epoch (no host sync per step), and a grid of 64
samples saved after every epoch with ``torchvision.utils.save_image``.

    python benchmarks/tutorial_gan.py --epochs 5 --workers 0 --out /tmp/tutorial
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torchvision.utils import save_image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.bench_train import tutorial_setup, tutorial_step  # noqa: E402
from gan.config import preset  # noqa: E402
from gan.data import load_train_split  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", default="tutorial-samples")
    parser.add_argument("--preloaded", action="store_true", help="the set normalised once into a tensor, no per-image transform")
    args = parser.parse_args()
    config = preset("report-2019", device="cpu")  # the CPU benchmark, as before
    images, _ = load_train_split(config.train_split)
    G, D, opt_g, opt_d, loader = tutorial_setup(config, images, args.workers, tensors=args.preloaded)
    fixed = torch.rand(64, config.noise_dim) * 2 - 1
    os.makedirs(args.out, exist_ok=True)
    for epoch in range(1, args.epochs + 1):
        start, total, steps = time.perf_counter(), torch.zeros(3), 0
        for real, _ in loader:
            total += tutorial_step(config, G, D, opt_g, opt_d, real)
            steps += 1
        d_real, d_fake, g = (total / steps).tolist()
        print(f"epoch {epoch}: D real {d_real:.3f}, D fake {d_fake:.3f}, G {g:.3f}, "
              f"{steps * config.batch_size / (time.perf_counter() - start):,.0f} images/s", flush=True)
        G.eval()
        with torch.no_grad():
            save_image(G(fixed).view(-1, 1, 28, 28), os.path.join(args.out, f"epoch-{epoch:03d}.png"), normalize=True)
        G.train()


if __name__ == "__main__":
    main()
