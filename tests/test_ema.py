"""The averaged generator (EMA) and spectral normalisation in D."""

import pytest
import torch

from gan.config import ConfigError, TrainConfig, preset
from gan.ema import ema_beta
from gan.models import FAMILIES, build_models
from gan.runner import continue_config, execute
from gan.sampling import load_generator, raw_and_averaged
from gan.store import RunStore
from gan.trainer import Trainer


@pytest.fixture
def ema_config(tiny_config):
    return tiny_config.replace(ema_halflife=500, ema_rampup=0.0)


@pytest.fixture
def dcgan_ema_config(tiny_config):
    """A tiny DCGAN (BatchNorm in G) with an average."""
    return preset("dcgan", epochs=2, train_images=600, batch_size=50, hidden=8, noise_dim=16, device="cpu",
                  grid_size=4, eval_samples=0, ema_halflife=500, ema_rampup=0.0, snapshot_epochs=(0, 2))


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_half_life_halves_the_old_weights_and_the_ramp_up_shortens_it():
    halflife, batch = 1000, 50
    assert ema_beta(halflife, 0.0, 0, batch) ** (halflife / batch) == pytest.approx(0.5)
    # early in training the ramp-up caps the half-life at rampup x images seen
    assert ema_beta(halflife, 0.1, 2000, batch) == pytest.approx(ema_beta(200, 0.0, 0, batch))
    assert ema_beta(halflife, 0.1, 1_000_000, batch) == pytest.approx(ema_beta(halflife, 0.0, 0, batch))


def test_average_follows_the_formula_for_weights_and_batchnorm_statistics(dcgan_ema_config, mnist_train):
    trainer = Trainer(dcgan_ema_config.replace(epochs=1), images=mnist_train[0])
    before = {k: v.clone() for k, v in trainer.ema.model.state_dict().items()}
    real = trainer.data[:50]
    trainer.train_step(real)
    beta = ema_beta(500, 0.0, 50, 50)
    raw, averaged = trainer.G.state_dict(), trainer.ema.model.state_dict()
    for name, value in averaged.items():
        if value.is_floating_point():  # weights and BatchNorm's running mean and variance
            expected = beta * before[name] + (1 - beta) * raw[name]
            assert torch.allclose(value, expected, atol=1e-6), name
        else:  # BatchNorm's step count follows the raw generator
            assert torch.equal(value, raw[name]), name
    assert not torch.equal(averaged["project.1.running_mean"], raw["project.1.running_mean"])


def test_snapshots_and_samples_come_from_the_average_not_the_raw_generator(dcgan_ema_config, mnist_train):
    trainer = Trainer(dcgan_ema_config, images=mnist_train[0])
    snapshots = []
    trainer.add_callback("on_snapshot", lambda t, epoch, images: snapshots.append(images))
    trainer.run()
    with torch.no_grad():
        averaged = trainer.ema.model(trainer.fixed_noise)
        raw = trainer.G.eval()(trainer.fixed_noise)
    assert torch.equal(snapshots[-1], averaged)
    assert not torch.allclose(snapshots[-1], raw, atol=1e-3)
    assert torch.equal(trainer.generate(trainer.fixed_noise, raw=True), raw)


def test_a_run_without_ema_shows_its_raw_generator(tiny_config, mnist_train):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    assert trainer.ema is None and "G_ema" not in trainer.state_dict()


def test_average_survives_checkpoint_resume_bit_identically(dcgan_ema_config, runs_dir):
    store = RunStore()
    straight = store.create(dcgan_ema_config.replace(epochs=3, snapshot_epochs=(3,)))
    execute(straight)
    split = store.create(dcgan_ema_config.replace(epochs=2, snapshot_epochs=(2,)))
    execute(split)
    continue_config(split, 3)
    execute(split, resume=True)
    a, b = straight.load_checkpoint(), split.load_checkpoint()
    assert state_equal(a["G_ema"], b["G_ema"]) and state_equal(a["G"], b["G"])
    assert not state_equal(a["G_ema"], a["G"])


def test_a_fork_inherits_the_average_and_a_fork_that_turns_it_on_starts_from_the_raw_weights(dcgan_ema_config, runs_dir):
    store = RunStore()
    parent = store.create(dcgan_ema_config.replace(snapshot_epochs=(1, 2)))
    execute(parent)
    at_1 = parent.load_checkpoint(1)
    child = store.fork(parent.id, epoch=1, epochs=3, lr_g=1e-4)
    trainer = Trainer(child.config(), images=torch.zeros(600, 28, 28, dtype=torch.uint8))
    trainer.load_state_dict(child.load_checkpoint())
    assert state_equal(trainer.ema.model.state_dict(), at_1["G_ema"])

    plain = store.create(dcgan_ema_config.replace(ema_halflife=0))
    execute(plain)
    turned_on = store.fork(plain.id, epochs=3, ema_halflife=1000)
    trainer = Trainer(turned_on.config(), images=torch.zeros(600, 28, 28, dtype=torch.uint8))
    trainer.load_state_dict(turned_on.load_checkpoint())
    assert state_equal(trainer.ema.model.state_dict(), plain.load_checkpoint()["G"])


def test_sampling_loads_the_average_unless_asked_for_the_raw_generator(dcgan_ema_config, runs_dir):
    run = RunStore().create(dcgan_ema_config)
    execute(run)
    state = run.load_checkpoint()
    averaged, _ = load_generator(run)
    raw, _ = load_generator(run, raw=True)
    assert state_equal(averaged.state_dict(), state["G_ema"])
    assert state_equal(raw.state_dict(), state["G"])
    raw_images, averaged_images = raw_and_averaged(run, 2)
    assert torch.equal(averaged_images, torch.from_numpy(run.snapshot_images(2)).reshape(-1, 1, 28, 28))
    assert not torch.allclose(raw_images, averaged_images, atol=1e-3)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_every_family_trains_an_epoch_with_and_without_spectral_norm(family, spectral_norm, tiny_config, mnist_train):
    config = tiny_config.replace(family=family, spectral_norm=spectral_norm, epochs=1, hidden=8)
    trainer = Trainer(config, images=mnist_train[0])
    assert trainer.run() == "finished"
    normalised = [m for m in trainer.D.modules() if hasattr(m, "parametrizations")]
    layers = [m for m in trainer.D.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert len(normalised) == (len(layers) if spectral_norm else 0)
    assert all(torch.isfinite(p).all() for p in trainer.D.parameters())


def test_spectral_norm_bounds_each_layer_of_d(tiny_config):
    _, D = build_models(tiny_config.replace(family="dcgan", spectral_norm=True, hidden=8))
    D.train()
    for _ in range(30):  # the power iteration converges over forward passes
        D(torch.randn(4, 1, 28, 28))
    for module in D.modules():
        if isinstance(module, torch.nn.Linear):
            assert float(torch.linalg.matrix_norm(module.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.05)


def test_spectral_norm_cannot_change_in_a_fork(tiny_config, runs_dir):
    store = RunStore()
    parent = store.create(tiny_config)
    execute(parent)
    with pytest.raises(ConfigError, match="spectral_norm cannot change in a fork"):
        store.fork(parent.id, spectral_norm=True, epochs=3)


def test_spectral_norm_must_be_a_boolean(tiny_config):
    with pytest.raises(ConfigError, match="spectral_norm must be true or false"):
        TrainConfig.from_dict({**tiny_config.to_dict(), "spectral_norm": "yes"})


def test_sample_and_the_compare_grids_use_the_average_at_the_epoch_asked_for_with_the_runs_labels(
        dcgan_ema_config, runs_dir):
    from gan.sampling import generate, noise_from_seed, sample

    run = RunStore().create(dcgan_ema_config.replace(conditional=True, snapshot_epochs=(0, 1, 2)))
    execute(run)
    raw_images, averaged_images = raw_and_averaged(run, 1)  # not the latest checkpoint
    assert torch.equal(averaged_images, torch.from_numpy(run.snapshot_images(1)).reshape(-1, 1, 28, 28))
    assert not torch.allclose(raw_images, averaged_images, atol=1e-3)
    state, config = run.load_checkpoint(), run.config()
    labels = torch.arange(6) % 10
    for raw, key in ((False, "G_ema"), (True, "G")):
        G = build_models(config)[0]
        G.load_state_dict(state[key])
        expected = generate(G.eval(), noise_from_seed(config, 0, 6), labels)
        images, asked = sample(run, 6, raw=True) if raw else sample(run, 6)  # the default: the average, seed 0
        assert torch.equal(images, expected) and torch.equal(asked, labels)
