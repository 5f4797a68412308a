"""Each adversarial loss against values worked out by hand, and the gradient penalty."""

import math

import pytest
import torch

from gan.config import TrainConfig
from gan.losses import BCE, LOSSES, LSGAN, WGANGP, Hinge, gradient_penalty, mode_seeking, r1_penalty

CONFIG = TrainConfig(real_label=0.9)
REAL = torch.tensor([2.0, -1.0])  # D's outputs (logits or scores) on two real images
FAKE = torch.tensor([0.5, -3.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bce_discriminator_targets_the_real_label_for_real_and_zero_for_fake():
    loss_real, loss_fake = BCE.discriminator(REAL, FAKE, CONFIG)
    # BCE with logits, target y: y * softplus(-x) + (1 - y) * softplus(x), averaged
    expected_real = sum(0.9 * softplus(-x) + 0.1 * softplus(x) for x in (2.0, -1.0)) / 2
    expected_fake = sum(softplus(x) for x in (0.5, -3.0)) / 2
    assert loss_real.item() == pytest.approx(expected_real) and loss_fake.item() == pytest.approx(expected_fake)


def test_bce_generator_is_non_saturating_targeting_one():
    assert BCE.generator(FAKE, CONFIG).item() == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2)


def test_bce_scores_are_probabilities():
    torch.testing.assert_close(BCE.score(torch.tensor([0.0, 100.0, -100.0])), torch.tensor([0.5, 1.0, 0.0]))


def test_lsgan_regresses_real_to_the_real_label_fake_to_zero_and_pulls_fakes_to_one():
    loss_real, loss_fake = LSGAN.discriminator(REAL, FAKE, CONFIG)
    assert loss_real.item() == pytest.approx(0.5 * ((2.0 - 0.9) ** 2 + (-1.0 - 0.9) ** 2) / 2)
    assert loss_fake.item() == pytest.approx(0.5 * (0.5**2 + 3.0**2) / 2)
    assert LSGAN.generator(FAKE, CONFIG).item() == pytest.approx(0.5 * ((0.5 - 1) ** 2 + (-3.0 - 1) ** 2) / 2)
    torch.testing.assert_close(LSGAN.score(REAL), REAL)


def test_hinge_penalises_real_below_1_and_fake_above_minus_1():
    loss_real, loss_fake = Hinge.discriminator(REAL, FAKE, CONFIG)
    assert loss_real.item() == pytest.approx((0 + 2.0) / 2)  # relu(1 - 2), relu(1 + 1)
    assert loss_fake.item() == pytest.approx((1.5 + 0) / 2)  # relu(1 + 0.5), relu(1 - 3)
    assert Hinge.generator(FAKE, CONFIG).item() == pytest.approx(1.25)
    torch.testing.assert_close(Hinge.score(FAKE), FAKE)


def test_wgan_critic_loss_is_minus_the_wasserstein_estimate():
    loss_real, loss_fake = WGANGP.discriminator(REAL, FAKE, CONFIG)
    assert (loss_real.item(), loss_fake.item()) == (pytest.approx(-0.5), pytest.approx(-1.25))
    assert -(loss_real + loss_fake).item() == pytest.approx(REAL.mean() - FAKE.mean())
    assert WGANGP.generator(FAKE, CONFIG).item() == pytest.approx(1.25)
    torch.testing.assert_close(WGANGP.score(REAL), REAL)


def test_each_loss_declares_what_its_scores_mean_and_which_fields_it_reads():
    flags = {name: (loss.probability, loss.gradient_penalty, loss.CONFIG_FIELDS) for name, loss in LOSSES.items()}
    assert flags == {"bce": (True, False, ("real_label",)), "lsgan": (True, False, ("real_label",)),
                     "hinge": (False, False, ()), "wgan-gp": (False, True, ("gp_weight",))}
    assert {name: loss.unit for name, loss in LOSSES.items()} == {
        "bce": "binary cross-entropy", "lsgan": "squared error", "hinge": "hinge loss", "wgan-gp": "critic loss"}
    assert all(loss.healthy.startswith("Healthy: ") for loss in LOSSES.values())


def _linear_critic(scale: float):
    w = torch.zeros(784)
    w[0] = scale  # gradient norm exactly |scale| everywhere
    return lambda x, labels=None: x.flatten(1) @ w


@pytest.mark.parametrize("scale, penalty", [(1.0, 0.0), (3.0, 4.0), (0.5, 0.25), (0.0, 1.0)])
def test_gradient_penalty_is_the_squared_distance_of_the_gradient_norm_from_1(scale, penalty):
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    assert gradient_penalty(_linear_critic(scale), real, fake).item() == pytest.approx(penalty, abs=1e-6)


def test_gradient_penalty_is_taken_between_real_and_fake_images_and_passes_the_labels():
    seen = []

    def critic(x, labels=None):
        seen.append((x.detach().clone(), labels))
        return (x.flatten(1) ** 2).sum(dim=1) / 2  # gradient: x itself, so the penalty reveals where x was

    real, fake, labels = torch.full((4, 1, 28, 28), 2.0), torch.full((4, 1, 28, 28), -0.5), torch.arange(4)
    generator = torch.Generator().manual_seed(0)
    penalty = gradient_penalty(critic, real, fake, labels, generator=generator)
    (x_hat, passed), = seen
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x_hat, alpha * real + (1 - alpha) * fake)  # on the segment, per image
    assert torch.equal(passed, labels)
    norms = x_hat.flatten(1).norm(dim=1)
    assert penalty.item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-5)
    assert penalty.requires_grad  # create_graph: the penalty itself trains the critic


@pytest.mark.parametrize("scale", [0.0, 0.5, 3.0])
def test_r1_is_the_mean_squared_gradient_norm_at_the_real_images(scale):
    real = torch.randn(8, 1, 28, 28)
    assert r1_penalty(_linear_critic(scale), real).item() == pytest.approx(scale**2, abs=1e-6)


def test_r1_is_taken_at_the_real_images_with_their_labels_and_trains_the_critic():
    seen = []
    w = torch.nn.Parameter(torch.tensor(1.5))

    def critic(x, labels=None):
        seen.append((x.detach().clone(), labels))
        return w * (x.flatten(1) ** 2).sum(dim=1) / 2  # gradient: w * x

    real, labels = torch.randn(4, 1, 28, 28), torch.arange(4)
    penalty = r1_penalty(critic, real, labels)
    (x, passed), = seen
    assert torch.equal(x, real) and torch.equal(passed, labels)
    want = (1.5**2 * real.flatten(1).pow(2).sum(1)).mean()
    assert penalty.item() == pytest.approx(want.item(), rel=1e-5)
    penalty.backward()  # create_graph: d/dw of w^2 * mean ||x||^2
    assert w.grad.item() == pytest.approx(2 / 1.5 * want.item(), rel=1e-5)


def test_mode_seeking_is_the_weight_over_the_ratio_of_the_pairs_image_and_noise_distances():
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0], [2.0, 2.0], [-1.0, 1.0]])  # pairs (0, 2) and (1, 3): mean |dz| 2
    fake = torch.zeros(4, 1, 2, 2)
    fake[2] += 0.5  # pair (0, 2) differs by 0.5 per pixel, pair (1, 3) not at all: mean |dG| 0.25
    assert mode_seeking(fake, z, 2.0).item() == pytest.approx(2.0 / (0.25 / 2.0 + 1e-5))
    assert mode_seeking(fake.flip(0), z.flip(0), 2.0).item() == pytest.approx(2.0 / (0.125 + 1e-5))  # pairs, not order
    collapsed = mode_seeking(torch.zeros(4, 1, 2, 2), z, 1.0)  # different noise, one image: the largest value
    assert collapsed.item() == pytest.approx(1e5)
    odd = mode_seeking(torch.cat([fake, torch.full((1, 1, 2, 2), 9.0)]), torch.cat([z, torch.zeros(1, 2)]), 2.0)
    assert odd.item() == pytest.approx(2.0 / (0.125 + 1e-5))  # an odd batch's last fake is left out


def test_mode_seeking_pushes_paired_fakes_apart():
    z = torch.rand(6, 3) * 2 - 1
    fake = (torch.rand(6, 1, 2, 2) * 0.1).requires_grad_(True)
    mode_seeking(fake, z, 1.0).backward()
    step = -fake.grad  # gradient descent's direction
    gap = (fake[:3] - fake[3:]).detach()
    assert ((step[:3] - step[3:]) * gap).sum() > 0  # the pairs' differences grow
