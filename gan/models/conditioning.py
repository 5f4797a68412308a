"""Conditioning, shared by the families: G sees the label as a one-hot vector next to z; D projects
its features onto a learned label embedding (Miyato & Koyama, 2018), which adds one dot product
instead of widening the network.

The label is the digit (``config.conditional``) or, for a self-conditioned GAN (``config.clusters``),
the cluster of a training image (``gan.clusters``). A self-conditioned generator is unconditional to
use: called without labels it draws the cluster from its noise (``ClusterDraw``)."""

import torch
from torch import nn

NUM_CLASSES = 10  # digits


def num_classes(config) -> int:
    """How many labels G and D are conditioned on: the clusters, the digits, or none."""
    return config.clusters or (NUM_CLASSES if config.conditional else 0)


def with_label(z: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    if not num_classes:
        return z
    # a comparison rather than F.one_hot, which may check the labels' range with a host sync
    one_hot = labels.unsqueeze(1) == torch.arange(num_classes, device=labels.device)
    return torch.cat([z, one_hot.to(z.dtype)], dim=1)


class ClusterDraw(nn.Module):
    """A cluster for each noise vector, drawn with the clusters' frequencies (``prior``, a buffer that
    the trainer fills and checkpoints carry), from the noise itself: the first coordinate of z is
    turned into a uniform u in (0, 1) (its CDF), u picks the cluster by the prior's cumulative sums,
    and u's position inside that cluster's interval, uniform again and independent of the cluster, is
    turned back into the first coordinate. So the cluster follows the prior, the new z has the
    training noise's distribution whatever the cluster, and G stays a function of z alone: fixed
    noise, grids, interpolations and every sampling path work as for an unconditional generator."""

    def __init__(self, clusters: int, *, uniform: bool):
        super().__init__()
        self.uniform = uniform
        self.register_buffer("prior", torch.full((clusters,), 1.0 / clusters))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = z[:, 0].float()
        u = (first + 1) / 2 if self.uniform else torch.special.ndtr(first)
        cdf = torch.cumsum(self.prior.float(), 0)
        cdf = cdf / cdf[-1]
        cluster = torch.searchsorted(cdf, u.contiguous(), right=True).clamp_(max=len(cdf) - 1)
        lower = torch.cat([cdf.new_zeros(1), cdf[:-1]])[cluster]
        inner = ((u - lower) / (cdf[cluster] - lower).clamp_min(1e-12)).clamp(1e-6, 1 - 1e-6)
        first = inner * 2 - 1 if self.uniform else torch.special.ndtri(inner)
        return torch.cat([first.to(z.dtype).unsqueeze(1), z[:, 1:]], dim=1), cluster


class GeneratorInput(nn.Module):
    """G's input: z, and the label as a one-hot vector when G is conditional or self-conditioned."""

    def __init__(self, config):
        super().__init__()
        self.num_classes = num_classes(config)
        self.draw = ClusterDraw(config.clusters, uniform=config.noise == "uniform") if config.clusters else None

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None and self.draw is not None:
            z, labels = self.draw(z)
        return with_label(z, labels, self.num_classes)


class Projection(nn.Module):
    """``<embed(y), h>``: zero for an unconditional model. With ``classifier``, also a linear auxiliary
    classifier of the features (AC-GAN, Odena et al. 2017): logits over the labels."""

    def __init__(self, *, num_classes: int, features: int, classifier: bool = False):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        self.classifier = nn.Linear(features, num_classes) if classifier and num_classes else None

    def output(self, head: nn.Module, h: torch.Tensor, labels: torch.Tensor | None, *, classes: bool = False):
        """D's output from its features ``h``: ``head(h) + <embed(y), h>``, and with ``classes`` the
        auxiliary classifier's logits beside it."""
        out = head(h).view(-1) + self(h, labels)
        return (out, self.classifier(h)) if classes else out

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return h.new_zeros(h.shape[0])
        return (self.embed(labels) * h).sum(dim=1)
