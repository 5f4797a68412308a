"""The report's step written out by hand (gan.models.mlp_step): it must change no bit of training, so every
figure measured with autograd's step still holds."""

import copy

import pytest
import torch

from gan.trainer import Trainer


def _state(trainer):
    return [*trainer.G.parameters(), *trainer.D.parameters(),
            *(t for opt in (trainer.opt_g, trainer.opt_d) for s in opt.state.values() for t in s.values())]


@pytest.mark.parametrize("change", [{}, {"d_steps": 2}, {"dropout": 0.0}, {"leaky_slope": 0.2, "real_label": 1.0}])
def test_the_hand_written_step_trains_bit_for_bit_as_autograd_does(change, tiny_config, mnist_train):
    config = tiny_config.replace(epochs=3, **change)
    hand = Trainer(config, images=mnist_train[0])
    auto = Trainer(config, images=mnist_train[0], hand=False)
    assert hand.accel.hand and hand.accel.describe() == "hand-written float32 step" and not auto.accel.hand

    def no_autograd(*args):
        raise AssertionError("the hand-written step should have run")

    hand._step = no_autograd  # so this test fails if the hand trainer quietly took autograd's step
    rows = {}
    for name, trainer in (("hand", hand), ("auto", auto)):
        trainer.add_callback("on_log", lambda t, rows, out=rows.setdefault(name, []): out.extend(rows))
        assert trainer.run() == "finished"
    assert len(rows["hand"]) == 3 * 12
    strip = lambda rs: [{k: v for k, v in r.items() if k != "images_per_s"} for r in rs]  # noqa: E731
    assert str(strip(rows["hand"])) == str(strip(rows["auto"]))  # NaN-safe: the G loss is NaN on D-only steps
    for a, b in zip(_state(hand), _state(auto), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(hand.dropout_generator.get_state(), auto.dropout_generator.get_state())
    assert torch.equal(hand.fixed_grid(), auto.fixed_grid())


def test_a_checkpoint_moves_between_the_hand_written_and_autograd_steps(tiny_config, mnist_train):
    config = tiny_config.replace(epochs=2)
    straight = Trainer(config, images=mnist_train[0])
    straight.run()
    first = Trainer(config.replace(epochs=1), images=mnist_train[0], hand=False)
    first.run()
    resumed = Trainer(config, images=mnist_train[0])  # autograd's first epoch, the hand step's second
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    resumed.run()
    for a, b in zip(_state(straight), _state(resumed), strict=True):
        assert torch.equal(a, b)


def test_configs_the_hand_written_step_does_not_cover_take_autograds(tiny_config, mnist_train):
    for change in ({"loss": "lsgan"}, {"spectral_norm": True}, {"conditional": True}, {"mode_seeking": 0.5},
                   {"r1_gamma": 0.1}):
        trainer = Trainer(tiny_config.replace(**change), images=mnist_train[0], labels=mnist_train[1])
        assert not trainer.accel.hand and trainer._hand is None, change
    assert Trainer(tiny_config, images=mnist_train[0], graphs=True).accel.hand is False  # the fixed-buffer step
