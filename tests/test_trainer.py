import math

import pytest
import torch

from gan.config import preset
from gan.losses import gradient_penalty
from gan.trainer import METRICS, Trainer, TrainControl, fixed_noise


def train(config, images, labels=None, **kwargs):
    trainer = Trainer(config, images=images, labels=labels, **kwargs)
    logged, snapshots = [], []
    trainer.add_callback("on_log", lambda t, rows: logged.extend(rows))
    trainer.add_callback("on_snapshot", lambda t, epoch, images: snapshots.append((epoch, images)))
    status = trainer.run()
    return trainer, status, logged, snapshots


def weights(trainer):
    return [p.detach().clone() for p in (*trainer.G.parameters(), *trainer.D.parameters())]


def test_records_every_step_with_all_metrics(tiny_config, mnist_train):
    trainer, status, rows, _ = train(tiny_config, mnist_train[0])
    assert status == "finished"
    steps = tiny_config.epochs * tiny_config.steps_per_epoch
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for row in rows:
        assert all(math.isfinite(row[m]) for m in METRICS)
        assert 0 <= row["d_real"] <= 1 and 0 <= row["d_fake"] <= 1 and row["images_per_s"] > 0
    assert rows[0]["epoch"] == 1 and rows[-1]["epoch"] == tiny_config.epochs


def test_snapshots_follow_the_schedule_from_one_fixed_noise_batch(tiny_config, mnist_train):
    config = tiny_config.replace(epochs=3, snapshot_epochs=(0, 1, 3))
    trainer, _, _, snapshots = train(config, mnist_train[0])
    assert [e for e, _ in snapshots] == [0, 1, 3]
    assert all(images.shape == (16, 1, 28, 28) for _, images in snapshots)
    assert torch.equal(trainer.fixed_noise, fixed_noise(config)[0])
    assert not torch.equal(snapshots[0][1], snapshots[-1][1])  # the generator changed


def test_same_seed_gives_identical_runs_on_the_cpu(tiny_config, mnist_train):
    a, _, rows_a, _ = train(tiny_config, mnist_train[0])
    b, _, rows_b, _ = train(tiny_config, mnist_train[0])
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert [{m: r[m] for m in METRICS} for r in rows_a] == [{m: r[m] for m in METRICS} for r in rows_b]


def test_another_seed_gives_another_run(tiny_config, mnist_train):
    a, *_ = train(tiny_config, mnist_train[0])
    b, *_ = train(tiny_config.replace(seed=1), mnist_train[0])
    assert not torch.equal(weights(a)[0], weights(b)[0])


def test_checkpoint_round_trip_continues_identically(tiny_config, mnist_train):
    config = tiny_config.replace(epochs=2)
    straight, _, rows_straight, _ = train(config, mnist_train[0])

    # stop in the middle of epoch 1, checkpoint, and continue in a fresh trainer
    control = TrainControl()
    first = Trainer(config, images=mnist_train[0], control=control, log_every=1)
    first.add_callback("on_log", lambda t, rows: t.step == 5 and control.stop())
    assert first.run() == "stopped" and first.step == 5
    state = first.state_dict()
    resumed = Trainer(config, images=mnist_train[0])
    resumed.load_state_dict(state)
    rows_resumed = []
    resumed.add_callback("on_log", lambda t, rows: rows_resumed.extend(rows))
    assert resumed.run() == "finished"
    assert all(torch.equal(x, y) for x, y in zip(weights(straight), weights(resumed)))
    assert [r["g_loss"] for r in rows_resumed] == [r["g_loss"] for r in rows_straight[5:]]


def test_d_steps_updates_g_every_kth_batch(tiny_config, mnist_train):
    _, _, rows, _ = train(tiny_config.replace(d_steps=3, epochs=1), mnist_train[0])
    updated = [r["step"] for r in rows if not math.isnan(r["g_loss"])]
    assert updated == [s for s in range(1, len(rows) + 1) if s % 3 == 0]


def test_learning_rates_changed_while_paused_apply_on_resume(tiny_config, mnist_train):
    control = TrainControl()
    trainer = Trainer(tiny_config, images=mnist_train[0], control=control, log_every=1)
    seen = []
    trainer.add_callback("on_log", lambda t, rows: t.step == 3 and control.pause())
    trainer.add_callback("on_pause", lambda t: control.resume(lr_g=1e-4))
    trainer.add_callback("on_resume", lambda t, changes: seen.append(changes))
    trainer.run()
    assert seen == [{"lr_g": 1e-4}]
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-4 and trainer.config.lr_g == 1e-4


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
@pytest.mark.parametrize("loss", ["bce", "lsgan", "hinge", "wgan-gp"])
@pytest.mark.parametrize("conditional", [False, True])
def test_every_family_and_loss_trains_an_epoch(family, loss, conditional, mnist_train):
    config = preset("report-2019", family=family, loss=loss, conditional=conditional, hidden=8, epochs=1,
                    train_images=200, batch_size=50, d_steps=2 if loss == "wgan-gp" else 1, device="cpu", grid_size=2)
    trainer, status, rows, snapshots = train(config, *mnist_train)
    assert status == "finished" and len(rows) == 4
    expected = set(METRICS) | ({"wasserstein", "gradient_penalty"} if loss == "wgan-gp" else set())
    assert expected <= set(rows[-1])
    assert all(math.isfinite(rows[-1][m]) for m in expected)
    before, after = snapshots[0][1], snapshots[-1][1]
    assert not torch.equal(before, after)
    assert after.shape == ((20 if conditional else 4), 1, 28, 28)  # one row per digit when conditional


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    w = torch.randn(784)
    w /= w.norm()
    critic = lambda x, labels=None: x.flatten(1) @ w  # noqa: E731 (gradient norm exactly 1)
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    assert gradient_penalty(lambda x, labels=None: 3 * critic(x), real, fake).item() == pytest.approx(4.0)


def test_unknown_callback_event_is_rejected(tiny_config, mnist_train):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    with pytest.raises(ValueError, match="unknown event"):
        trainer.add_callback("on_banana", print)


def test_explicit_unavailable_device_is_a_clear_error(tiny_config, mnist_train):
    missing = "mps" if not torch.backends.mps.is_available() else "cuda"
    with pytest.raises(RuntimeError, match=f"device '{missing}' is not available"):
        Trainer(tiny_config.replace(device=missing), images=mnist_train[0])
