"""A small CNN that recognises MNIST digits: the feature extractor behind ``gan.metrics``.

Its weights ship in ``gan/weights/mnist_cnn.pt``, made by ``scripts/train_classifier.py``. The
SHA-256 below pins that exact file, so every score in every run comes from the same network.
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import torch
from torch import nn

WEIGHTS_PATH = Path(__file__).with_name("weights") / "mnist_cnn.pt"
WEIGHTS_SHA256 = "10c349424349dc5dc638c8005fcc83384b4589aca2b042b6008fa0725cf8d01b"
FEATURES = 128
CLASSES = 10
REGENERATE = (
    "Regenerate it with `python scripts/train_classifier.py` and put the SHA-256 it prints into "
    "WEIGHTS_SHA256 in gan/classifier.py."
)


class ClassifierError(RuntimeError):
    """Missing or unexpected classifier weights; the message names the file and the fix."""


class MnistCNN(nn.Module):
    """Two conv blocks, a 128-feature layer and a 10-way head; input (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 7 x 7
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(FEATURES, CLASSES))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features (N, 128) and logits (N, 10) in one pass."""
        features = self.body(x)
        return features, self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def _verified_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ClassifierError(f"Classifier weights {path} are missing. {REGENERATE}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise ClassifierError(
            f"Classifier weights {path} have SHA-256 {digest}, expected {WEIGHTS_SHA256}: the file is "
            f"corrupt or was retrained. {REGENERATE}"
        )
    return raw


@functools.lru_cache(maxsize=1)
def load_classifier() -> MnistCNN:
    """The verified classifier in eval mode, loaded once per process and shared: do not modify it."""
    # load the bytes that were hashed, not the path again, so a file swapped in between cannot slip through
    raw = _verified_bytes(WEIGHTS_PATH)
    model = MnistCNN()
    model.load_state_dict(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)  # CPU convolutions run faster channels-last
