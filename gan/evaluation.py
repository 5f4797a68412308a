"""Quality metrics during training: at every snapshot epoch, score a fixed set of samples with the
project's MNIST classifier (gan.metrics) and hand the figures to listeners as ``on_evaluation``."""

from __future__ import annotations

import torch

from gan.metrics import evaluate
from gan.models.conditioning import NUM_CLASSES
from gan.trainer import sample_noise


class Evaluator:
    def __init__(self, trainer):
        config = trainer.config
        generator = torch.Generator().manual_seed(config.seed + 2)  # independent of training's randomness
        self.noise = sample_noise(config, config.eval_samples, generator)
        self.labels = torch.arange(config.eval_samples) % NUM_CLASSES if config.conditional else None
        trainer.add_callback("on_snapshot", self.on_snapshot)

    def on_snapshot(self, trainer, epoch: int, images) -> None:
        samples = torch.cat([trainer.generate(z, y) for z, y in _chunks(self.noise, self.labels)])
        labels = self.labels.numpy() if self.labels is not None else None
        trainer.fire("on_evaluation", epoch=epoch, metrics=evaluate(samples, labels=labels))


def _chunks(noise, labels, size: int = 1000):
    label_parts = labels.split(size) if labels is not None else [None] * len(noise.split(size))
    return zip(noise.split(size), label_parts)
