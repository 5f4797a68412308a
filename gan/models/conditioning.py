"""Conditioning on the digit, shared by the families: G sees the label as a one-hot vector next to
z; D projects its features onto a learned label embedding (Miyato & Koyama, 2018), which adds one
dot product instead of widening the network."""

import torch
from torch import nn

NUM_CLASSES = 10  # digits


def num_classes(config) -> int:
    return NUM_CLASSES if config.conditional else 0


def with_label(z: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    if not num_classes:
        return z
    # a comparison rather than F.one_hot, which may check the labels' range with a host sync
    one_hot = labels.unsqueeze(1) == torch.arange(num_classes, device=labels.device)
    return torch.cat([z, one_hot.to(z.dtype)], dim=1)


class Projection(nn.Module):
    """``<embed(y), h>``: zero for an unconditional model."""

    def __init__(self, *, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes else None

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return h.new_zeros(h.shape[0])
        return (self.embed(labels) * h).sum(dim=1)
