"""Train the MNIST classifier behind gan.metrics and save it to gan/weights/mnist_cnn.pt.

    python scripts/train_classifier.py

Reproducible on a given machine: fixed seeds, a seeded shuffle, two threads. Exits with status 1,
saving nothing, when test accuracy is below 99%. Prints the file's SHA-256: put it into
WEIGHTS_SHA256 in gan/classifier.py, which refuses any other file.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from gan.classifier import WEIGHTS_PATH, MnistCNN
from gan.data import load_mnist, to_training_tensor

SEED = 0
EPOCHS = 4
BATCH = 128
MAX_SHIFT = 2
MIN_ACCURACY = 0.99


def shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own random offset of up to MAX_SHIFT pixels, background filling in."""
    n, side = len(x), x.shape[-1]
    wide = side + 2 * MAX_SHIFT
    padded = F.pad(x, (MAX_SHIFT,) * 4, value=-1.0).view(n, wide * wide)  # -1 is the background
    dy, dx = torch.randint(0, 2 * MAX_SHIFT + 1, (2, n, 1), generator=generator)
    window = (torch.arange(side)[:, None] * wide + torch.arange(side)).view(1, -1)
    return padded.gather(1, dy * wide + dx + window).view(n, 1, side, side)


def train(images: torch.Tensor, labels: torch.Tensor) -> MnistCNN:
    generator = torch.Generator().manual_seed(SEED)
    # channels-last convolutions train several times faster on CPU; the saved tensors are the same
    model = MnistCNN().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters())  # OneCycleLR sets the learning rate
    steps = EPOCHS * -(-len(images) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), BATCH):
            batch = order[start : start + BATCH]
            loss = F.cross_entropy(model(shift(images[batch], generator)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{EPOCHS}: last batch loss {loss.item():.4f}", flush=True)
    return model.eval()


@torch.inference_mode()
def accuracy(model: MnistCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    correct = sum((model(images[i : i + 1000]).argmax(1) == labels[i : i + 1000]).sum().item()
                  for i in range(0, len(images), 1000))
    return correct / len(images)


def save(model: MnistCNN) -> bytes:
    """Write the state_dict atomically, so a crash never leaves a half-written weights file."""
    WEIGHTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=WEIGHTS_PATH.parent, suffix=".tmp", delete=False) as f:
        torch.save(model.to(memory_format=torch.contiguous_format).state_dict(), f)
    os.chmod(f.name, 0o644)  # a temporary file is private; the weights are for everyone
    os.replace(f.name, WEIGHTS_PATH)
    return WEIGHTS_PATH.read_bytes()


def main() -> int:
    torch.manual_seed(SEED)  # initial weights and dropout masks
    torch.set_num_threads(2)
    started = time.perf_counter()
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    model = train(to_training_tensor(train_images), train_labels)
    test_accuracy = accuracy(model, to_training_tensor(test_images), test_labels)
    print(f"test accuracy {test_accuracy:.4f} after {time.perf_counter() - started:.0f} s")
    if test_accuracy < MIN_ACCURACY:
        print(f"below the required {MIN_ACCURACY:.0%}: weights not saved", file=sys.stderr)
        return 1
    raw = save(model)
    print(f"saved {WEIGHTS_PATH} ({len(raw) / 1024:.0f} KiB)")
    print(f"SHA-256 {hashlib.sha256(raw).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
