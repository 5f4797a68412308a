"""Model families. Adding one: a file with ``build(config) -> (G, D)`` and ``CONFIG_FIELDS``
(the config fields it reads, so the dashboard shows only those), and a line below.

Contract: ``G(z, labels=None)`` maps noise ``(N, noise_dim)`` to images ``(N, 1, 28, 28)`` in
[-1, 1]; ``D(x, labels=None)`` maps images to one output per image, shape ``(N,)``. ``labels``
(int64 digits) are given exactly when ``config.conditional`` is set. D must not use BatchNorm:
the gradient penalty needs per-sample gradients.
"""

from gan.models import dcgan, mlp

FAMILIES = {
    "mlp": mlp,  # the 2019 report's vanilla GAN
    "dcgan": dcgan,  # convolutional, sized for 28x28 on a CPU
}


def build_models(config):
    """``(G, D)`` for a validated config."""
    return FAMILIES[config.family].build(config)
