"""Looking inside training at every snapshot epoch: quality metrics of a fixed set of samples, scored
by the project's MNIST classifier (``Evaluator``, fired as ``on_evaluation``), and the discriminator's
outputs on fixed real and fake images (``DiscriminatorProbe``, fired as ``on_discriminator``)."""

from __future__ import annotations

import torch

from gan.data import load_mnist, to_training_tensor
from gan.models.conditioning import NUM_CLASSES
from gan.trainer import sample_noise

# of the snapshot's samples; each is compared with all 60,000 training images (47 GFLOP per 500), the
# costliest score and one that no chart shows during training (`gan eval` measures them all)
MEMORISATION_SAMPLES = 250
PROBE_SAMPLES = 1000  # real test images, and as many fakes, that D judges at every snapshot


class Evaluator:
    def __init__(self, trainer):
        config = trainer.config
        generator = torch.Generator().manual_seed(config.seed + 2)  # independent of training's randomness
        self.noise = sample_noise(config, config.eval_samples, generator)
        self.labels = torch.arange(config.eval_samples) % NUM_CLASSES if config.conditional else None
        trainer.add_callback("on_snapshot", self.on_snapshot)

    def on_snapshot(self, trainer, epoch: int, images) -> None:
        """The samples are drawn here; they are scored beside the training where the trainer can
        (``Trainer.beside``: 0.3-0.65 s less per snapshot on 2 cores, README), and ``on_evaluation`` fires when
        they are."""
        samples = torch.cat([trainer.generate(z, y) for z, y in _chunks(self.noise, self.labels)])
        labels = self.labels.numpy() if self.labels is not None else None

        def score():
            from gan.metrics import evaluate  # the classifier and its reference statistics load on first use

            return evaluate(samples, labels=labels, memorisation_samples=MEMORISATION_SAMPLES)

        trainer.beside(score, lambda metrics: trainer.fire("on_evaluation", epoch=epoch, metrics=metrics))


def _chunks(noise, labels, size: int = 1000):
    label_parts = labels.split(size) if labels is not None else [None] * len(noise.split(size))
    return zip(noise.split(size), label_parts)


class DiscriminatorProbe:
    """D's outputs at every snapshot on the first ``n`` test images and on ``n`` fakes of the raw
    generator (what D trains against) from fixed noise: two distributions that, for a probability,
    should move together towards 0.5. Conditional runs: real digits with their labels, fakes asked
    for digits 0..9 in turn; self-conditioned runs: real digits with their nearest cluster, fakes with
    the cluster their noise draws (what G would draw unasked)."""

    def __init__(self, trainer, n: int = PROBE_SAMPLES):
        config = trainer.config
        images, labels = load_mnist("test", config.data_dir or None)
        self.real = to_training_tensor(images[:n])
        self.real_labels = labels[:n] if config.conditional else None
        self.noise = sample_noise(config, n, torch.Generator().manual_seed(config.seed + 4))
        self.fake_labels = torch.arange(n) % NUM_CLASSES if config.conditional else None
        if trainer.clustering is not None:  # self-conditioned: the test digits' nearest clusters, the fakes' drawn ones
            self.real_labels = trainer.clustering.assign(images[:n])
            with torch.no_grad():
                self.noise, self.fake_labels = trainer.G.input.draw(self.noise.to(trainer.device))
            self.noise, self.fake_labels = self.noise.cpu(), self.fake_labels.cpu()
        trainer.add_callback("on_snapshot", self.on_snapshot)

    def on_snapshot(self, trainer, epoch: int, images) -> None:
        fake = trainer.generate(self.noise, self.fake_labels, raw=True)
        trainer.fire("on_discriminator", epoch=epoch, outputs={
            "output": "probability" if trainer.loss.probability else "score",
            "real": trainer.discriminator_scores(self.real, self.real_labels).tolist(),
            "fake": trainer.discriminator_scores(fake, self.fake_labels).tolist(),
        })
