"""Self-conditioning without labels: k-means clusters of the training images, G and D conditioned on
them, and a generator that draws its cluster from its noise."""

import numpy as np
import pytest
import torch

import gan.clusters as clusters_module
from gan.clusters import clusters, fit
from gan.config import ConfigError, preset
from gan.models import build_models
from gan.models.conditioning import ClusterDraw
from gan.runner import continue_config, execute
from gan.sampling import load_generator
from gan.store import RunStore
from gan.trainer import Trainer


def blobs(n_per: int = 60, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three unmistakable kinds of image (a bar in one of three places) with a little noise, shuffled."""
    g = torch.Generator().manual_seed(seed)
    kinds = []
    for row in (3, 13, 23):
        base = torch.zeros(28, 28)
        base[row : row + 3, 4:24] = 230
        kinds.append(base)
    truth = torch.arange(3).repeat_interleave(n_per)
    images = torch.stack([kinds[t] for t in truth]) + torch.rand(len(truth), 28, 28, generator=g) * 20
    order = torch.randperm(len(truth), generator=g)
    return images[order].to(torch.uint8), truth[order].numpy()


def same_partition(a, b) -> bool:
    """Equal up to renaming the clusters."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


def test_kmeans_finds_well_separated_groups_and_is_deterministic():
    images, truth = blobs()
    found = fit(images, 3)
    assert same_partition(found.labels.numpy(), truth)
    assert torch.equal(fit(images, 3).labels, found.labels)
    assert found.frequencies().sum().item() == pytest.approx(1.0)
    # other images of the same kinds are assigned to the cluster of their kind
    others, other_truth = blobs(10, seed=1)
    assert same_partition(np.concatenate([found.labels.numpy(), found.assign(others).numpy()]),
                          np.concatenate([truth, other_truth]))


def test_kmeans_runs_to_a_fixed_point_of_lloyds_iteration(mnist_train):
    images = mnist_train[0][:800]
    found = fit(images, 8)
    features = clusters_module._project(images, found.mean, found.basis)
    for c in range(8):  # every centroid is the mean of its members, every image is with its nearest centroid
        assert torch.allclose(found.centroids[c], features[found.labels == c].mean(0), atol=1e-9)
    assert torch.equal(clusters_module._nearest(features, found.centroids), found.labels)
    assert len(found.labels.unique()) == 8


def test_kmeans_result_is_cached_and_a_damaged_cache_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    images, _ = blobs()
    first = clusters(images, 3)
    (cached,) = (tmp_path / "clusters").glob("*.npz")

    def refuse(*args):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(clusters_module, "fit", refuse)
    assert torch.equal(clusters(images, 3).labels, first.labels)
    cached.write_bytes(cached.read_bytes()[:100])  # truncated
    with pytest.raises(AssertionError, match="recomputed"):
        clusters(images, 3)


@pytest.mark.parametrize("noise", ["uniform", "normal"])
def test_the_drawn_cluster_follows_the_prior_and_the_new_noise_keeps_its_distribution(noise):
    draw = ClusterDraw(4, uniform=noise == "uniform")
    draw.prior.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    g = torch.Generator().manual_seed(0)
    n = 200_000
    z = torch.rand(n, 3, generator=g) * 2 - 1 if noise == "uniform" else torch.randn(n, 3, generator=g)
    new, cluster = draw(z)
    assert torch.equal(new[:, 1:], z[:, 1:])
    shares = torch.bincount(cluster, minlength=4).double() / n
    assert torch.allclose(shares, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.double), atol=0.005)
    for c in range(4):  # within every cluster the first coordinate has the training noise's distribution
        first = new[cluster == c, 0]
        assert first.mean().item() == pytest.approx(0.0, abs=0.02)
        assert first.std().item() == pytest.approx(1 / 3**0.5 if noise == "uniform" else 1.0, abs=0.02)
        if noise == "uniform":
            assert first.abs().max() < 1
    assert torch.equal(draw(z)[1], cluster)  # a function of z alone


def test_a_self_conditioned_generator_is_unconditional_to_use():
    config = preset("dcgan", clusters=5, hidden=8, noise_dim=8)
    G, D = build_models(config)
    G.eval()
    G.input.draw.prior.copy_(torch.tensor([0.5, 0.0, 0.2, 0.2, 0.1]))
    z = torch.randn(64, 8)
    new, cluster = G.input.draw(z)
    assert torch.equal(G(z), G(new, cluster))
    assert not (cluster == 1).any()  # an empty cluster is never drawn
    assert D(G(z), cluster).shape == (64,)
    assert not torch.allclose(G(new, (cluster + 1) % 5), G(new, cluster))  # the cluster matters


def test_clusters_are_validated_with_clear_messages():
    with pytest.raises(ConfigError, match="clusters must be 0 \\(off\\) or between 2 and 200, got 1"):
        preset("dcgan", clusters=1)
    with pytest.raises(ConfigError, match="clusters must be in \\[0, 200\\], got 201"):
        preset("dcgan", clusters=201)
    with pytest.raises(ConfigError, match="turn off conditional to use clusters"):
        preset("cgan", clusters=10)
    with pytest.raises(ConfigError, match="clusters must be at most train_images \\(100\\), got 150"):
        preset("dcgan", clusters=150, train_images=100, batch_size=50)


@pytest.fixture
def clustered_config():
    return preset("dcgan", clusters=10, epochs=2, train_images=600, batch_size=50, hidden=8, noise_dim=16,
                  device="cpu", grid_size=4, eval_samples=0, snapshot_epochs=(0, 2))


def test_the_trainer_conditions_on_the_clusters_of_the_whole_training_file_not_the_digits(clustered_config, mnist_train):
    images, digits = mnist_train  # 10 clusters of the whole file, as every test here uses: computed once, then cached
    expected = clusters(images, 10)
    trainer = Trainer(clustered_config.replace(train_split="tf-55k"))
    assert torch.equal(trainer.labels, expected.labels[5000:5600])
    assert not torch.equal(trainer.labels, digits[5000:5600])
    assert torch.equal(trainer.G.input.draw.prior, expected.frequencies())
    assert trainer.fixed_labels is None  # grids come from noise alone
    assert trainer.fixed_grid().shape == (16, 1, 28, 28)


def test_clusters_survive_checkpoint_resume_bit_identically_and_sampling(clustered_config, runs_dir):
    store = RunStore()
    straight = store.create(clustered_config.replace(epochs=3, snapshot_epochs=(3,), ema_halflife=500))
    execute(straight)
    split = store.create(clustered_config.replace(epochs=2, snapshot_epochs=(2,), ema_halflife=500))
    execute(split)
    continue_config(split, 3)
    execute(split, resume=True)
    a, b = straight.load_checkpoint(), split.load_checkpoint()
    for part in ("G", "G_ema", "D"):
        assert a[part].keys() == b[part].keys() and all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    prior = a["G"]["input.draw.prior"]
    assert prior.sum().item() == pytest.approx(1.0) and torch.equal(a["G_ema"]["input.draw.prior"], prior)
    G, _ = load_generator(straight)
    assert torch.equal(G.input.draw.prior, prior)
    with pytest.raises(ConfigError, match="clusters cannot change in a fork"):
        store.fork(straight.id, clusters=20, epochs=4)


def test_the_speed_estimate_works_for_a_self_conditioned_config_whatever_its_batch():
    from gan.trainer import measure_images_per_s

    for batch in (64, 2):  # a batch of 2 gives fewer estimate images (70) than clusters
        config = preset("dcgan", clusters=100, hidden=8, noise_dim=8, batch_size=batch)
        assert measure_images_per_s(config, steps=3, repeats=1) > 0


def test_labels_for_one_cluster_are_checked_against_the_run():
    from gan.sampling import sample_labels

    config = preset("dcgan-clusters", clusters=100)
    assert sample_labels(config, 3, cluster=99).tolist() == [99, 99, 99]
    assert sample_labels(config, 3) is None  # left to the noise
    with pytest.raises(ValueError, match="cluster must be in \\[0, 99\\] for this run, got 100"):
        sample_labels(config, 3, cluster=100)
    with pytest.raises(ValueError, match="cluster is only for self-conditioned runs"):
        sample_labels(preset("dcgan"), 3, cluster=0)
