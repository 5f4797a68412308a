"""Adversarial losses. Each maps D's logits to the terms the trainer optimises and logs.

``discriminator(real_logits, fake_logits, config)`` returns ``(loss_real, loss_fake)``, whose sum
D minimises; ``generator(fake_logits, config)`` returns G's loss.
"""

import torch
import torch.nn.functional as F


class BCE:
    """The original GAN loss, non-saturating for G: labels real=``real_label``, fake=0; G wants 1."""

    @staticmethod
    def discriminator(real_logits, fake_logits, config):
        real_target = torch.full_like(real_logits, config.real_label)
        loss_real = F.binary_cross_entropy_with_logits(real_logits, real_target)
        loss_fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return loss_real, loss_fake

    @staticmethod
    def generator(fake_logits, config):
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


LOSSES = {
    "bce": BCE,
}
