"""Model families. Adding one: a file with ``build(config) -> (G, D)`` and ``CONFIG_FIELDS``
(the config fields it reads, so the dashboard shows only those), and a line below. A family may also offer
a training step written out by hand for the configs it covers (``HandStep``, ``hand_step_supports``; the
``mlp`` family does, for the report's configs): the trainer uses it on the CPU.

Contract: ``G(z, labels=None)`` maps noise ``(N, noise_dim)`` to images ``(N, 1, 28, 28)`` in
[-1, 1]; ``D(x, labels=None)`` maps images to one output per image, shape ``(N,)``. ``labels``
(int64 digits, or clusters) are given exactly when ``config.conditional`` or ``config.clusters`` is set.
With ``config.aux_classifier`` above 0, ``D(x, labels, classes=True)`` also returns the logits of an
auxiliary classifier over the labels, ``(N, num_classes)`` (``conditioning.Projection`` does both). D must
not use BatchNorm: the gradient penalty needs per-sample gradients.
"""

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan.models import dcgan, mlp

FAMILIES = {
    "mlp": mlp,  # the 2019 report's vanilla GAN
    "dcgan": dcgan,  # convolutional, sized for 28x28 on a CPU
}


def hand_step(config):
    """The family's training step written out by hand (``HandStep(trainer)``, same contract and same bits as
    ``Trainer._step``) where it has one that covers ``config``; None otherwise."""
    family = FAMILIES[config.family]
    supports = getattr(family, "hand_step_supports", None)
    return family.HandStep if supports is not None and supports(config) else None


def build_models(config):
    """``(G, D)`` for a validated config; with ``config.spectral_norm``, every linear and convolutional
    layer of D is spectrally normalised, whatever the family."""
    G, D = FAMILIES[config.family].build(config)
    if config.spectral_norm:
        for module in D.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                spectral_norm(module)
    return G, D
