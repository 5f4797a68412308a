"""Adversarial losses. Each maps D's outputs to the terms the trainer optimises and logs.

``discriminator(real_out, fake_out, config)`` returns ``(loss_real, loss_fake)``, whose sum D
minimises; ``generator(fake_out, config)`` returns G's loss; ``score(out)`` is what the curves show
as D(x) and D(G(z)) (a probability where D's output is a logit, the raw score otherwise).
A loss with ``gradient_penalty`` set adds ``config.gp_weight`` times :func:`gradient_penalty`.
"""

import torch
import torch.nn.functional as F


class BCE:
    """The original GAN loss, non-saturating for G: labels real=``real_label``, fake=0; G wants 1."""

    CONFIG_FIELDS = ("real_label",)
    probability = True  # D(x) is a probability: 0.5 means D cannot tell
    gradient_penalty = False
    unit = "binary cross-entropy"
    healthy = ("Healthy: D's losses hover around 0.3-0.7 and G's around 1-3 without trending to 0 or exploding; "
               "D(x) stays above D(G(z)) and both drift towards 0.5. D's losses near 0 with D(G(z)) near 0 "
               "mean D has won and G gets no useful gradient.")

    @staticmethod
    def discriminator(real_out, fake_out, config):
        loss_real = F.binary_cross_entropy_with_logits(real_out, torch.full_like(real_out, config.real_label))
        loss_fake = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        return loss_real, loss_fake

    @staticmethod
    def generator(fake_out, config):
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))

    @staticmethod
    def score(out):
        return out.sigmoid()


class LSGAN:
    """Least squares (Mao et al., 2017): D regresses real to ``real_label`` and fake to 0; G pulls fakes to 1."""

    CONFIG_FIELDS = ("real_label",)
    probability = True  # targets 0 and 1: 0.5 is the undecided middle
    gradient_penalty = False
    unit = "squared error"
    healthy = ("Healthy: all three losses settle around 0.1-0.3 with no trend to 0; D's outputs on real and "
               "fake images approach each other around 0.5.")

    @staticmethod
    def discriminator(real_out, fake_out, config):
        return 0.5 * (real_out - config.real_label).pow(2).mean(), 0.5 * fake_out.pow(2).mean()

    @staticmethod
    def generator(fake_out, config):
        return 0.5 * (fake_out - 1).pow(2).mean()

    @staticmethod
    def score(out):
        return out


class Hinge:
    """Hinge loss (Lim & Ye, 2017; used by SAGAN and BigGAN): D wants real > 1 and fake < -1."""

    CONFIG_FIELDS = ()
    probability = False
    gradient_penalty = False
    unit = "hinge loss"
    healthy = ("Healthy: D's hinge losses stay well above 0 (D is not separating everything by the margin) and G's "
               "loss (minus D's mean score on fakes) wanders without running away.")

    @staticmethod
    def discriminator(real_out, fake_out, config):
        return F.relu(1 - real_out).mean(), F.relu(1 + fake_out).mean()

    @staticmethod
    def generator(fake_out, config):
        return -fake_out.mean()

    @staticmethod
    def score(out):
        return out


class WGANGP:
    """Wasserstein loss with gradient penalty (Gulrajani et al., 2017): the critic's
    mean(D(x)) - mean(D(G(z))) estimates the Wasserstein distance, which should shrink."""

    CONFIG_FIELDS = ("gp_weight",)
    probability = False
    gradient_penalty = True
    unit = "critic loss"
    healthy = ("Healthy: the Wasserstein estimate (mean D(x) - mean D(G(z))) rises quickly, then falls steadily "
               "towards 0 as samples improve; the gradient penalty stays small (below about 0.1). G's loss itself "
               "has no fixed scale and may drift.")

    @staticmethod
    def discriminator(real_out, fake_out, config):
        return -real_out.mean(), fake_out.mean()

    @staticmethod
    def generator(fake_out, config):
        return -fake_out.mean()

    @staticmethod
    def score(out):
        return out


def gradient_penalty(D, real, fake, labels=None, *, generator=None):
    """E[(||grad D(x_hat)||_2 - 1)^2] at random points between real and fake images.

    Needs a double backward, so it stays eager even where the rest of a step is compiled.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    out = D(x_hat, labels)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(D, real, labels=None):
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] over real images, of D's raw output (a logit for BCE,
    a score for the others), which D minimises. Needs a double backward, like the gradient penalty."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, labels).float().sum(), x, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def mode_seeking(fake, z, weight: float, eps: float = 1e-5):
    """MSGAN's term (Mao et al. 2019), which G minimises: weight / (mean |G(z1) - G(z2)| / mean |z1 - z2|) over the
    pairs (i, i + n/2) of the batch's two halves. Small when each pair of fakes differs as much as its noise
    does, large when G maps different noise to the same image. The trainer gives both halves the same labels."""
    half = fake.shape[0] // 2
    ratio = ((fake[:half] - fake[half : 2 * half]).float().abs().mean()
             / (z[:half] - z[half : 2 * half]).float().abs().mean())
    return weight / (ratio + eps)


LOSSES = {
    "bce": BCE,
    "lsgan": LSGAN,
    "hinge": Hinge,
    "wgan-gp": WGANGP,
}
