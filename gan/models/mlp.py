"""The 2019 report's vanilla GAN: one hidden layer each, LeakyReLU and dropout."""

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
IMAGE_SIZE = 28 * 28


class Generator(nn.Module):
    def __init__(self, *, noise_dim, hidden, leaky_slope, dropout):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden),
            nn.LeakyReLU(leaky_slope),
            nn.Dropout(dropout),
            nn.Linear(hidden, IMAGE_SIZE),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)


class Discriminator(nn.Module):
    def __init__(self, *, hidden, leaky_slope, dropout):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMAGE_SIZE, hidden),
            nn.LeakyReLU(leaky_slope),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),  # a logit: the loss applies the sigmoid, which is stabler
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def build(config):
    layer = dict(hidden=config.hidden, leaky_slope=config.leaky_slope, dropout=config.dropout)
    return Generator(noise_dim=config.noise_dim, **layer), Discriminator(**layer)
