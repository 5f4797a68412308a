"""Failure alarms while training: each says what it means and what to try.

``Alarms`` listens to a trainer (``on_log`` and ``on_evaluation``) and raises each alarm once per
run through the trainer's ``on_alarm`` event; divergence also pauses the job, since every step after
a NaN is wasted. Its state travels in the trainer's checkpoints (``"alarms"``), so a continued run
does not raise again what it already raised.
"""

from __future__ import annotations

import math

from gan.losses import LOSSES

# D has won when, for this many consecutive steps, it calls fakes fake with near certainty
D_WINS_STEPS = 500
D_WINS_PROBABILITY = 0.02
D_WINS_LOSS = 0.05
# mode collapse: the fixed-size evaluation sample covers few digit classes, or its class entropy dropped
MIN_CLASSES = 8
MIN_ENTROPY = 0.75 * math.log(10)
ENTROPY_DROP = 0.3  # nats lost since the best snapshot so far

# name: (what it means, what to try). The dashboard and the CLI put the name before the meaning, so the meaning
# does not start with it again ("Mode collapse (step 1,650): Mode collapse: ...")
ALARMS = {
    "divergence": (
        "Training diverged: a loss or D's output became NaN or infinite, so every further step is wasted. "
        "The job is paused.",
        "Fork the run from an earlier checkpoint (Runs page) with lower learning rates (e.g. halve lr_g and lr_d), "
        "or use a more stable loss such as wgan-gp.",
    ),
    "discriminator-wins": (
        "The discriminator is winning: for {steps} steps its loss on fakes has been near 0 and D(G(z)) near 0, "
        "so the generator receives almost no gradient.",
        "Lower lr_d or raise lr_g, keep real_label below 1 (label smoothing), add dropout to D, or switch to the "
        "wgan-gp or hinge loss.",
    ),
    "mode-collapse": (
        "The generator collapsed onto a few modes: its samples cover {covered} of 10 digit classes (class entropy "
        "{entropy:.2f} of at most 2.30 nats); it is producing a few kinds of digit only.",
        "Fork from the last snapshot that covered all classes with a lower learning rate, use a conditional model "
        "(cgan), self-conditioning without labels (clusters, in a new run), or try the wgan-gp loss, which resists collapse.",
    ),
}


def alarm(name: str, **facts) -> dict:
    meaning, advice = ALARMS[name]
    return {"name": name, "message": meaning.format(**facts), "advice": advice, **facts}


class Alarms:
    def __init__(self, trainer):
        self.raised: set[str] = set()
        self.d_winning_for = 0
        self.best_entropy = 0.0
        self.watch_d = LOSSES[trainer.config.loss].probability  # "D wins" is read off probabilities
        trainer.add_callback("on_log", self.on_log)
        trainer.add_callback("on_evaluation", self.on_evaluation)
        trainer.state_parts["alarms"] = self

    def state_dict(self) -> dict:
        """Plain data, so that checkpoints still load with ``weights_only=True``."""
        return {"raised": sorted(self.raised), "d_winning_for": self.d_winning_for, "best_entropy": self.best_entropy}

    def load_state_dict(self, state: dict) -> None:
        self.raised = set(state["raised"])
        self.d_winning_for, self.best_entropy = state["d_winning_for"], state["best_entropy"]

    def raise_once(self, trainer, name: str, **facts) -> None:
        if name not in self.raised:
            self.raised.add(name)
            trainer.fire("on_alarm", alarm=alarm(name, **facts))

    def on_log(self, trainer, rows) -> None:
        for row in rows:
            if _diverged(row, trainer.config.d_steps):
                self.raise_once(trainer, "divergence", step=row["step"])
                trainer.control.pause()
                return
            if self.watch_d:
                d_wins = row["d_fake"] < D_WINS_PROBABILITY and row["d_loss_fake"] < D_WINS_LOSS
                self.d_winning_for = self.d_winning_for + 1 if d_wins else 0
                if self.d_winning_for >= D_WINS_STEPS:
                    self.raise_once(trainer, "discriminator-wins", steps=self.d_winning_for)

    def on_evaluation(self, trainer, epoch, metrics) -> None:
        if epoch == 0:
            return  # an untrained generator is not collapsed, just noise
        covered, entropy = metrics["classes_covered"], metrics["label_entropy"]
        self.best_entropy = max(self.best_entropy, entropy)
        if covered < MIN_CLASSES or entropy < MIN_ENTROPY or entropy < self.best_entropy - ENTROPY_DROP:
            self.raise_once(trainer, "mode-collapse", covered=covered, entropy=entropy, epoch=epoch)


def _diverged(row: dict, d_steps: int) -> bool:
    values = [row["d_loss_real"], row["d_loss_fake"], row["d_real"], row["d_fake"]]
    if row["step"] % d_steps == 0:  # a G update happened: its loss must be finite too
        values.append(row["g_loss"])
    return not all(math.isfinite(v) for v in values)
