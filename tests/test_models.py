import torch
from torch import nn

from gan.config import preset
from gan.models import FAMILIES, build_models
from gan.models.mlp import Discriminator, Generator


def test_mlp_generator_maps_noise_to_images_in_tanh_range():
    G, _ = build_models(preset("report-2019"))
    out = G(torch.rand(5, 100) * 2 - 1)
    assert out.shape == (5, 1, 28, 28)
    assert out.min() >= -1 and out.max() <= 1


def test_mlp_discriminator_gives_one_logit_per_image():
    _, D = build_models(preset("report-2019"))
    assert D(torch.zeros(7, 1, 28, 28)).shape == (7,)


def test_mlp_layers_are_the_reports():
    G, D = build_models(preset("report-2019"))
    assert [type(m) for m in G.net] == [nn.Linear, nn.LeakyReLU, nn.Dropout, nn.Linear, nn.Tanh]
    assert [type(m) for m in D.net] == [nn.Flatten, nn.Linear, nn.LeakyReLU, nn.Dropout, nn.Linear]
    assert G.net[0].in_features == 100 and G.net[0].out_features == 128 and G.net[1].negative_slope == 0.01
    assert G.net[2].p == 0.2 and D.net[4].out_features == 1


def test_registry_builds_the_mlp_family():
    assert "mlp" in FAMILIES
    G, D = build_models(preset("report-2019", hidden=16))
    assert isinstance(G, Generator) and isinstance(D, Discriminator)
