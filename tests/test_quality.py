"""Quality metrics recorded during training, and the failure alarms."""

import math
import time

import pytest
import torch
from torch import nn

from gan.alarms import ALARMS, D_WINS_STEPS, Alarms
from gan.data import load_mnist, to_training_tensor
from gan.evaluation import Evaluator
from gan.losses import BCE
from gan.runner import JobRunner, execute
from gan.store import RunStore
from gan.trainer import Trainer


def test_metrics_are_recorded_at_every_snapshot_epoch_with_the_real_reference(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(eval_samples=200))
    execute(run)
    evaluations = run.evaluations()
    assert sorted(evaluations) == [0, 2]
    for metrics in evaluations.values():
        assert metrics["n_samples"] == 200 and len(metrics["class_histogram"]) == 10
        assert metrics["real"]["classifier_score"] > 9 and metrics["real"]["fid"] < metrics["fid"]


class Collapsed(nn.Module):
    """A generator that draws one and the same real digit for every z."""

    def __init__(self, image):
        super().__init__()
        self.image = image
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, z, labels=None):
        return self.image.expand(z.shape[0], 1, 28, 28) + 0 * self.dummy


def test_a_collapsed_generator_trips_the_mode_collapse_alarm(tiny_config, mnist_train):
    trainer = Trainer(tiny_config.replace(eval_samples=200), images=mnist_train[0])
    trainer.G = Collapsed(to_training_tensor(mnist_train[0][:1]))
    Evaluator(trainer)
    Alarms(trainer)
    raised = []
    trainer.add_callback("on_alarm", lambda t, alarm: raised.append(alarm))
    trainer.epoch = 5
    trainer.snapshot()
    assert [a["name"] for a in raised] == ["mode-collapse"]
    assert raised[0]["covered"] == 1 and "try" not in raised[0]["message"] and raised[0]["advice"]


def test_a_healthy_sample_raises_no_alarm(tiny_config, mnist_train):
    trainer = Trainer(tiny_config.replace(eval_samples=500), images=mnist_train[0])
    alarms = Alarms(trainer)
    raised = []
    trainer.add_callback("on_alarm", lambda t, alarm: raised.append(alarm))
    from gan.metrics import evaluate

    real = to_training_tensor(load_mnist("test")[0][:500])
    alarms.on_evaluation(trainer, 5, evaluate(real))
    assert raised == []


def test_nan_in_a_loss_pauses_the_job_with_the_message(tiny_config, runs_dir, monkeypatch):
    original = BCE.discriminator
    calls = {"n": 0}

    def poisoned(real_out, fake_out, config):
        calls["n"] += 1
        loss_real, loss_fake = original(real_out, fake_out, config)
        return (loss_real * math.nan if calls["n"] > 15 else loss_real), loss_fake

    monkeypatch.setattr(BCE, "discriminator", staticmethod(poisoned))
    monkeypatch.setenv("GAN_HAND_STEP", "0")  # the poison is in the loss, which the report's hand-written step inlines
    runner = JobRunner(RunStore())
    try:
        run_id = runner.start(tiny_config.replace(epochs=50))
        deadline = time.monotonic() + 60
        while runner.progress(run_id).status != "paused":
            assert time.monotonic() < deadline and runner.progress(run_id).status != "failed"
            time.sleep(0.05)
        progress = runner.progress(run_id)
        assert [a["name"] for a in progress.alarms] == ["divergence"]
        info = runner.store.open(run_id).info()
        assert info["status"] == "paused" and "diverged" in info["message"]
        events = [e for e in runner.store.open(run_id).events() if e["kind"] == "alarm"]
        assert events[0]["detail"]["name"] == "divergence" and events[0]["detail"]["step"] == 16
    finally:
        runner.shutdown()


def test_discriminator_winning_for_many_steps_raises_one_alarm(tiny_config, mnist_train):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    alarms = Alarms(trainer)
    raised = []
    trainer.add_callback("on_alarm", lambda t, alarm: raised.append(alarm))
    winning = {"d_loss_real": 0.3, "d_loss_fake": 0.01, "g_loss": 5.0, "d_real": 0.9, "d_fake": 0.005}
    alarms.on_log(trainer, [{"step": s, **winning} for s in range(1, D_WINS_STEPS)])
    assert raised == []
    alarms.on_log(trainer, [{"step": s, **winning} for s in range(D_WINS_STEPS, D_WINS_STEPS + 100)])
    assert [a["name"] for a in raised] == ["discriminator-wins"]


@pytest.mark.parametrize("d_fake", [0.2, 0.5])
def test_a_discriminator_that_is_not_certain_raises_no_alarm(tiny_config, mnist_train, d_fake):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    alarms = Alarms(trainer)
    raised = []
    trainer.add_callback("on_alarm", lambda t, alarm: raised.append(alarm))
    row = {"d_loss_real": 0.5, "d_loss_fake": 0.4, "g_loss": 1.0, "d_real": 0.7, "d_fake": d_fake}
    alarms.on_log(trainer, [{"step": s, **row} for s in range(1, 2 * D_WINS_STEPS)])
    assert raised == []


def d_always_wins(monkeypatch, steps=5):
    """Thresholds under which any real run trips "discriminator wins" after ``steps`` steps."""
    monkeypatch.setattr("gan.alarms.D_WINS_STEPS", steps)
    monkeypatch.setattr("gan.alarms.D_WINS_PROBABILITY", 2.0)
    monkeypatch.setattr("gan.alarms.D_WINS_LOSS", math.inf)


def test_an_alarm_raised_before_a_continue_is_not_raised_again(tiny_config, runs_dir, monkeypatch):
    from gan.runner import continue_config

    d_always_wins(monkeypatch)
    run = RunStore().create(tiny_config.replace(epochs=1))
    execute(run)
    continue_config(run, 3)
    execute(run, resume=True)
    alarms = [e for e in run.events() if e["kind"] == "alarm"]
    assert [a["detail"]["name"] for a in alarms] == ["discriminator-wins"]
    assert alarms[0]["step"] <= tiny_config.steps_per_epoch  # raised in the first run, not after the continue


def test_alarm_state_round_trips_through_a_weights_only_checkpoint(tiny_config, mnist_train, tmp_path):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    alarms = Alarms(trainer)
    alarms.raised, alarms.d_winning_for, alarms.best_entropy = {"mode-collapse"}, 123, 2.1
    torch.save(trainer.state_dict(), tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    resumed = Trainer(tiny_config, images=mnist_train[0])
    restored = Alarms(resumed)
    resumed.load_state_dict(state)
    assert (restored.raised, restored.d_winning_for, restored.best_entropy) == ({"mode-collapse"}, 123, 2.1)


def test_a_checkpoint_without_alarm_state_still_loads_with_fresh_alarms(tiny_config, mnist_train):
    state = Trainer(tiny_config, images=mnist_train[0]).state_dict()
    assert "alarms" not in state  # no Alarms listened: what an older checkpoint looks like
    resumed = Trainer(tiny_config, images=mnist_train[0])
    alarms = Alarms(resumed)
    resumed.load_state_dict(state)
    assert (alarms.raised, alarms.d_winning_for, alarms.best_entropy) == (set(), 0, 0.0)


def test_no_alarm_repeats_its_name_at_the_start_of_its_meaning():
    # the dashboard shows "**Mode collapse** (step 1,650): <meaning>" and the CLI "ALARM mode-collapse: <meaning>"
    for name, (meaning, advice) in ALARMS.items():
        title = name.replace("-", " ")
        assert not meaning.lower().startswith(title), (name, meaning)
        assert meaning and advice


def test_an_alarm_recorded_with_its_name_in_its_meaning_is_shown_with_the_name_once():
    from ui import alarm_text

    old = {"name": "mode-collapse", "message": "Mode collapse: the generator's samples cover 5 of 10 digit classes.",
           "advice": "Fork."}
    assert alarm_text({"step": 1650, "detail": old}) == (
        "**Mode collapse** (step 1,650): The generator's samples cover 5 of 10 digit classes.  \n**Try:** Fork.")
