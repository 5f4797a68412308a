import pytest
import torch
from torch import nn

from gan.config import preset
from gan.models import FAMILIES, build_models
from gan.models.dropout import Dropout, use_generator
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
    assert [type(m) for m in G.net] == [nn.Linear, nn.LeakyReLU, Dropout, nn.Linear, nn.Tanh]
    assert [type(m) for m in D.body] == [nn.Flatten, nn.Linear, nn.LeakyReLU, Dropout]
    assert G.net[0].in_features == 100 and G.net[0].out_features == 128 and G.net[1].negative_slope == 0.01
    assert G.net[2].p == 0.2 and D.head.out_features == 1
    assert D.projection.embed is None  # unconditional: D is exactly the report's


def test_registry_builds_the_mlp_family():
    assert "mlp" in FAMILIES
    G, D = build_models(preset("report-2019", hidden=16))
    assert isinstance(G, Generator) and isinstance(D, Discriminator)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("conditional", [False, True])
def test_every_family_keeps_the_shape_contract(family, conditional):
    config = preset("report-2019", family=family, conditional=conditional, hidden=16)
    G, D = build_models(config)
    labels = torch.arange(6) % 10 if conditional else None
    images = G(torch.randn(6, config.noise_dim), labels)
    assert images.shape == (6, 1, 28, 28) and images.abs().max() <= 1
    assert D(images, labels).shape == (6,)


def test_conditional_generator_draws_differently_for_different_labels():
    G, _ = build_models(preset("cgan", hidden=8))
    G.eval()
    z = torch.randn(1, 64).repeat(2, 1)
    out = G(z, torch.tensor([3, 7]))
    assert not torch.equal(out[0], out[1])


def test_conditional_discriminator_depends_on_the_label():
    _, D = build_models(preset("cgan", hidden=8))
    torch.nn.init.normal_(D.projection.embed.weight)
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)
    out = D(x, torch.tensor([3, 7]))
    assert out[0] != out[1]


def test_dcgan_discriminator_has_no_batchnorm():
    _, D = build_models(preset("dcgan"))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_dropout_draws_from_its_own_generator_and_matches_nn_dropout_in_expectation():
    layer = Dropout(0.2)
    x = torch.ones(200_000)
    use_generator(torch.Generator().manual_seed(7), layer)
    a = layer(x)
    torch.manual_seed(0)  # the global generator is not what it draws from
    use_generator(torch.Generator().manual_seed(7), layer)
    assert torch.equal(layer(x), a)
    assert set(a.unique().tolist()) == {0.0, 1.25}  # kept units scaled by 1 / (1 - p), as nn.Dropout does
    assert abs((a == 0).float().mean().item() - 0.2) < 0.005 and abs(a.mean().item() - 1) < 0.01
    assert torch.equal(layer.eval()(x), x)  # identity at evaluation


def test_the_wide_dcgan_preset_is_the_infogan_architecture_with_an_average():
    config = preset("dcgan-wide-ema")
    assert config.ema_halflife == 10_000 and not config.spectral_norm and config.family == "dcgan"
    G, D = build_models(config)
    layers = lambda model, kinds: [(m.in_features, m.out_features) if isinstance(m, nn.Linear)
                                   else (m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, kinds)]
    # Lucic et al. 2018: G = FC 1024 -> FC 7x7x128 -> deconv 64 -> deconv 1; D = conv 64 -> conv 128 -> FC 1024
    assert layers(G, (nn.Linear, nn.ConvTranspose2d)) == [(64, 1024), (1024, 128 * 7 * 7), (128, 64), (64, 1)]
    assert layers(D, (nn.Linear, nn.Conv2d)) == [(1, 64), (64, 128), (128 * 7 * 7, 1024), (1024, 1)]
    assert G(torch.randn(3, 64)).shape == (3, 1, 28, 28) and D(torch.zeros(3, 1, 28, 28)).shape == (3,)


def test_dense_is_an_error_outside_its_range_and_ignored_by_the_mlp():
    from gan.config import ConfigError, applicable_fields

    with pytest.raises(ConfigError, match=r"dense must be in \[0, 4096\]"):
        preset("dcgan", dense=-1)
    assert "dense" in applicable_fields("dcgan", "bce") and "dense" not in applicable_fields("mlp", "bce")
