"""An exponential moving average of the generator's weights (Yazıcı et al. 2019; StyleGAN2, BigGAN).

The raw generator keeps training; a copy follows it slowly and is what snapshots, evaluations and
sampling show: averaging over the last few thousand images smooths out the oscillation that the
adversarial game leaves in the raw weights, for the price of one ``lerp`` per G update.

The speed of the average is a half-life in images, as in StyleGAN2 (``ema_kimg``): after
``halflife`` images the old weights count for half. A ramp-up keeps the average from dragging the
untrained initial weights along: the half-life is at most ``rampup`` times the images seen so far.
BatchNorm's running statistics are averaged like the weights (as timm's ``ModelEmaV2`` does), so the
averaged generator's eval mode sees statistics of the weights it averages, not of the latest step's.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from gan.models.dropout import use_generator


def ema_beta(halflife: float, rampup: float, images_seen: int, batch_size: int) -> float:
    """How much of the old average survives one update of ``batch_size`` images."""
    if rampup > 0:
        halflife = min(halflife, images_seen * rampup)
    return 0.5 ** (batch_size / max(halflife, 1e-8))


class GeneratorAverage:
    def __init__(self, generator: nn.Module, *, halflife: float, rampup: float):
        self.halflife, self.rampup = halflife, rampup
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        use_generator(None, self.model)  # eval mode draws no dropout masks; the run's generator stays unshared
        floating = lambda model: [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]
        counts = lambda model: [b for b in model.buffers() if not b.is_floating_point()]
        self._raw, self._avg = floating(generator), floating(self.model)
        self._raw_counts, self._avg_counts = counts(generator), counts(self.model)

    @torch.no_grad()
    def update(self, generator: nn.Module, *, images_seen: int, batch_size: int) -> None:
        """Move the average towards ``generator``'s current weights and BatchNorm statistics."""
        beta = ema_beta(self.halflife, self.rampup, images_seen, batch_size)
        torch._foreach_lerp_(self._avg, self._raw, 1.0 - beta)
        for avg, raw in zip(self._avg_counts, self._raw_counts):
            avg.copy_(raw)
