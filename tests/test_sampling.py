"""Generating from a run: labels, noise from seeds, chunked generation, interpolation paths."""

import math

import pytest
import torch

from gan.config import preset
from gan.runner import execute
from gan.sampling import generate, interpolate, load_generator, noise_from_seed, sample, sample_labels
from gan.store import RunStore


def norms(path):
    return path.norm(dim=1)


def test_linear_interpolation_is_evenly_spaced_from_a_to_b():
    a, b = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = interpolate(a, b, 5)
    assert path.tolist() == [[0.0, 2.0], [1.0, 1.0], [2.0, 0.0], [3.0, -1.0], [4.0, -2.0]]


def test_spherical_interpolation_keeps_the_norm_on_a_great_circle():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
    path = interpolate(a, b, 5, mode="spherical")
    torch.testing.assert_close(norms(path), torch.full((5,), 3.0))
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(path[2], torch.tensor([1.0, 1.0, 0.0]) * 3 / math.sqrt(2))  # the arc's midpoint
    angles = [torch.arccos(torch.nn.functional.cosine_similarity(p, q, dim=0)).item() for p, q in zip(path, path[1:])]
    assert angles == pytest.approx([math.pi / 8] * 4, abs=1e-5)  # equal steps along the arc


def test_spherical_interpolation_divides_the_angle_evenly():
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([1.0, math.sqrt(3)])  # 60 degrees apart, both of norm 2
    path = interpolate(a, b, 3, mode="spherical")
    torch.testing.assert_close(path, torch.tensor([[2.0, 0.0], [math.sqrt(3), 1.0], [1.0, math.sqrt(3)]]))


# float32 noise whose cosine with 2z and -2z rounds past 1 and -1 in float64 (found by search)
ROUNDS_PAST_ONE = torch.tensor([0.1227012425661087, -0.5663174986839294, 0.3731146454811096])


@pytest.mark.parametrize("factor", [2.0, -2.0])
def test_a_cosine_rounded_past_plus_or_minus_one_gives_no_nan(factor):
    z = ROUNDS_PAST_ONE
    path = interpolate(z, factor * z, 5, mode="spherical")
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path[-1], factor * z)


def test_spherical_interpolation_of_unequal_norms_moves_between_them():
    path = interpolate(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0]), 3, mode="spherical")
    torch.testing.assert_close(path[-1], torch.tensor([0.0, 3.0]))
    assert 1.0 < norms(path)[1] < 3.0


def test_spherical_interpolation_of_parallel_vectors_is_the_straight_line():
    a = torch.tensor([1.0, 2.0, 2.0])
    path = interpolate(a, 2 * a, 3, mode="spherical")
    torch.testing.assert_close(path, torch.stack([a, 1.5 * a, 2 * a]))


@pytest.mark.parametrize("offset", [0.0, 1e-9])
def test_spherical_interpolation_of_antiparallel_vectors_stays_finite_and_on_the_sphere(offset):
    z = noise_from_seed(preset("dcgan"), seed=3)[0]  # normal noise of 64 dimensions
    other = -z + offset
    path = interpolate(z, other, 9, mode="spherical")
    assert torch.isfinite(path).all()
    torch.testing.assert_close(norms(path), torch.full((9,), z.norm().item()), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(path[0], z)
    torch.testing.assert_close(path[-1], other, rtol=1e-4, atol=1e-4)
    assert abs(torch.dot(path[4], z).item()) < 1e-3 * z.norm().item() ** 2  # halfway: orthogonal to both


def test_antiparallel_interpolation_through_the_least_aligned_axis_keeps_the_norm():
    a = torch.tensor([1.0, 2.0, 2.0])  # norm 3; its least aligned axis, x, still has a third of it
    path = interpolate(a, -a, 5, mode="spherical")
    torch.testing.assert_close(norms(path), torch.full((5,), 3.0))
    assert abs(torch.dot(path[2], a).item()) < 1e-5  # halfway: orthogonal to a


def test_unknown_interpolation_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be 'linear' or 'spherical', got 'cubic'"):
        interpolate(torch.zeros(2), torch.ones(2), 3, mode="cubic")


def test_noise_from_a_seed_is_reproducible_and_follows_the_configured_distribution():
    uniform, normal = preset("report-2019"), preset("dcgan")
    assert noise_from_seed(uniform, seed=7).shape == (1, 100)  # one vector unless asked for more
    z = noise_from_seed(uniform, seed=7, n=2000)
    assert z.shape == (2000, 100) and torch.equal(z, noise_from_seed(uniform, seed=7, n=2000))
    assert not torch.equal(z, noise_from_seed(uniform, seed=8, n=2000))
    assert z.min() >= -1 and z.max() < 1 and z.min() < -0.99 and z.max() > 0.99  # uniform in (-1, 1)
    assert abs(z.mean().item()) < 0.01
    n = noise_from_seed(normal, seed=7, n=2000)
    assert n.shape == (2000, 64) and abs(n.std().item() - 1) < 0.02 and n.abs().max() > 3


def test_labels_cycle_through_the_digits_or_repeat_the_one_asked_for():
    config = preset("cgan")
    assert sample_labels(config, 12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert sample_labels(config, 3, digit=7).tolist() == [7, 7, 7]
    assert sample_labels(config, 2, digit=0).tolist() == [0, 0]
    assert sample_labels(preset("report-2019"), 5) is None


@pytest.mark.parametrize("digit", [-1, 10])
def test_a_digit_outside_0_to_9_is_rejected(digit):
    with pytest.raises(ValueError, match=rf"digit must be in \[0, 9\], got {digit}"):
        sample_labels(preset("cgan"), 3, digit=digit)


def test_a_digit_for_an_unconditional_model_is_rejected():
    with pytest.raises(ValueError, match=r"^digit is only for conditional runs \(this run was trained without labels\)$"):
        sample_labels(preset("report-2019"), 3, digit=1)


def test_generation_in_chunks_equals_one_batch():
    calls = []

    def G(z, labels=None):
        calls.append((len(z), None if labels is None else labels.tolist()))
        return z.sum(dim=1, keepdim=True) + (0 if labels is None else labels.unsqueeze(1))

    z, labels = torch.randn(5, 3), torch.arange(5)
    out = generate(G, z, labels, chunk=2)
    assert calls == [(2, [0, 1]), (2, [2, 3]), (1, [4])]
    torch.testing.assert_close(out, z.sum(dim=1, keepdim=True) + labels.unsqueeze(1))
    assert generate(G, z, chunk=10).shape == (5, 1)


def test_a_runs_generator_loads_in_eval_mode_and_samples_reproducibly(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(epochs=1))
    execute(run)
    G, config = load_generator(run)
    assert not G.training and config == run.config()
    images, labels = sample(run, 6, seed=2)
    again, _ = sample(run, 6, seed=2)
    assert images.shape == (6, 1, 28, 28) and labels is None and torch.equal(images, again)
    assert images.min() >= -1 and images.max() <= 1
    assert not torch.equal(images, sample(run, 6, seed=3)[0])
    at_zero, _ = sample(run, 6, seed=2, epoch=0)
    assert not torch.equal(images, at_zero)  # the kept checkpoint of epoch 0, not the latest


@pytest.fixture
def conditional_run(runs_dir):
    run = RunStore().create(preset("cgan", epochs=1, train_images=200, batch_size=50, hidden=8, device="cpu",
                                   grid_size=2, eval_samples=0))
    execute(run)
    return run


def test_a_conditional_run_samples_the_digit_asked_for_or_cycles_through_all(conditional_run):
    images, labels = sample(conditional_run, 12, seed=4)
    assert labels.tolist() == [i % 10 for i in range(12)]
    sevens, seven_labels = sample(conditional_run, 3, seed=4, digit=7)
    ones, _ = sample(conditional_run, 3, seed=4, digit=1)
    assert seven_labels.tolist() == [7, 7, 7] and sevens.shape == (3, 1, 28, 28)
    assert not torch.equal(sevens, ones)  # same noise, another digit: the label reaches the generator


def test_a_cluster_asked_for_repeats_and_one_outside_the_run_is_refused_with_the_range():
    config = preset("dcgan", clusters=5)
    assert sample_labels(config, 3, cluster=0).tolist() == [0, 0, 0]
    assert sample_labels(config, 2, cluster=4).tolist() == [4, 4]
    for cluster in (-1, 5):
        with pytest.raises(ValueError) as refused:
            sample_labels(config, 2, cluster=cluster)
        assert str(refused.value) == f"cluster must be in [0, 4] for this run, got {cluster}"
    with pytest.raises(ValueError) as refused:
        sample_labels(preset("dcgan"), 2, cluster=0)
    assert str(refused.value) == "cluster is only for self-conditioned runs (clusters > 0)"
