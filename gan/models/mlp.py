"""The 2019 report's vanilla GAN: one hidden layer each, LeakyReLU and dropout."""

import torch
from torch import nn

from gan.models.conditioning import GeneratorInput, Projection, num_classes
from gan.models.dropout import Dropout
from gan.models.mlp_step import HandStep, supports as hand_step_supports  # noqa: F401 - the family's hand step

IMAGE_SHAPE = (1, 28, 28)
IMAGE_SIZE = 28 * 28
CONFIG_FIELDS = ("hidden", "leaky_slope", "dropout")


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input = GeneratorInput(config)
        self.net = nn.Sequential(
            nn.Linear(config.noise_dim + self.input.num_classes, config.hidden),
            nn.LeakyReLU(config.leaky_slope),
            Dropout(config.dropout),
            nn.Linear(config.hidden, IMAGE_SIZE),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.input(z, labels)).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    def __init__(self, *, hidden, leaky_slope, dropout, num_classes=0, classifier=False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMAGE_SIZE, hidden),
            nn.LeakyReLU(leaky_slope),
            Dropout(dropout),
        )
        self.head = nn.Linear(hidden, 1)  # a logit: the loss applies the sigmoid, which is stabler
        self.projection = Projection(num_classes=num_classes, features=hidden, classifier=classifier)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, classes: bool = False):
        return self.projection.output(self.head, self.body(x), labels, classes=classes)


def build(config):
    layer = dict(hidden=config.hidden, leaky_slope=config.leaky_slope, dropout=config.dropout,
                 num_classes=num_classes(config), classifier=bool(config.aux_classifier))
    return Generator(config), Discriminator(**layer)
