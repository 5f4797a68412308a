"""A DCGAN sized for 28x28 digits and a CPU: z -> 7x7 feature maps -> two transposed convolutions.

``hidden`` is the base width w: G goes 2w -> w -> 1 channels, D mirrors it with strided
convolutions 1 -> w -> 2w. G uses BatchNorm (as in Radford et al.); D uses none, so that every loss,
the gradient penalty included, sees per-sample outputs. ``dense`` > 0 adds a fully connected layer
of that many units at the top of G (z -> dense -> 2w x 7 x 7) and before D's output, which with
w = 64 and dense = 1024 is the InfoGAN architecture that Lucic et al. (2018) used on MNIST.
"""

import torch
from torch import nn

from gan.models.conditioning import GeneratorInput, Projection, num_classes

CONFIG_FIELDS = ("hidden", "leaky_slope", "dense")


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input = GeneratorInput(config)
        self.width = width = config.hidden
        dense = config.dense
        inputs = config.noise_dim + self.input.num_classes
        top = [nn.Linear(inputs, dense, bias=False), nn.BatchNorm1d(dense), nn.ReLU(True)] if dense else []
        self.project = nn.Sequential(
            *top,
            nn.Linear(dense or inputs, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(True),
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.project(self.input(z, labels))
        return self.net(h.view(-1, 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    def __init__(self, *, width, leaky_slope, dense=0, num_classes=0, classifier=False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(leaky_slope, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # 14 -> 7
            nn.LeakyReLU(leaky_slope, True),
            nn.Flatten(),
            *([nn.Linear(2 * width * 7 * 7, dense), nn.LeakyReLU(leaky_slope, True)] if dense else []),
        )
        features = dense or 2 * width * 7 * 7
        self.head = nn.Linear(features, 1)
        self.projection = Projection(num_classes=num_classes, features=features, classifier=classifier)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, classes: bool = False):
        return self.projection.output(self.head, self.body(x), labels, classes=classes)


def build(config):
    classes = num_classes(config)
    return (
        Generator(config),
        Discriminator(width=config.hidden, leaky_slope=config.leaky_slope, dense=config.dense, num_classes=classes,
                      classifier=bool(config.aux_classifier)),
    )
