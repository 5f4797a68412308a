"""Model families. Adding one: a file with ``build(config) -> (G, D)`` and a line below.

Contract: ``G(z)`` maps noise ``(N, noise_dim)`` to images ``(N, 1, 28, 28)`` in [-1, 1];
``D(x)`` maps images to one logit per image, shape ``(N,)``.
"""

from gan.models import mlp

FAMILIES = {
    "mlp": mlp.build,  # the 2019 report's vanilla GAN
}


def build_models(config):
    """``(G, D)`` for a validated config."""
    return FAMILIES[config.family](config)
