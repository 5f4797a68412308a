"""Clusters of the training images, found without their labels, for self-conditioned GANs.

A conditional GAN that is told which digit to draw learns far better digits than an unconditional one
with the same networks (README: FID-MNIST 13 against 80 after 5 epochs): each conditional generator
only has to cover one mode. A self-conditioned GAN (Liu et al. 2020, "Diverse image generation via
self-conditioned GANs"; Sage et al. 2018 clustered logos the same way) gets most of that benefit
without labels: it clusters the training images, conditions G and D on the cluster, and samples a
cluster with its frequency, so the result is an unconditional generator of a mixture.

Here the clusters are k-means (k-means++ seeding, Lloyd's iterations) on the images' first 50
principal components, computed in float64 from a fixed seed, so the same images always give the
same clusters. They are computed once per set of images and kept in the cache folder
(``$GAN_CACHE_DIR/clusters``), named by a hash of the images' bytes and the parameters; a cached
file that does not match is recomputed. No digit label is read anywhere here.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np
import torch

from gan.data import cache_dir
from gan.files import atomic_write

VERSION = 1  # part of the cache key: bump when the algorithm changes
COMPONENTS = 50
ITERATIONS = 100
SEED = 0


@dataclass(frozen=True)
class Clustering:
    labels: torch.Tensor  # int64 (N,): the cluster of each image
    mean: torch.Tensor  # float64 (784,): the images' mean, in [0, 1] pixels
    basis: torch.Tensor  # float64 (784, COMPONENTS): the principal directions
    centroids: torch.Tensor  # float64 (k, COMPONENTS)

    @property
    def k(self) -> int:
        return self.centroids.shape[0]

    def frequencies(self) -> torch.Tensor:
        """float32 (k,): the share of the images in each cluster."""
        return (torch.bincount(self.labels, minlength=self.k).double() / len(self.labels)).float()

    def assign(self, images: torch.Tensor) -> torch.Tensor:
        """The nearest cluster of other uint8 ``(N, 28, 28)`` images (the discriminator probe's test digits)."""
        return _nearest(_project(images, self.mean, self.basis), self.centroids)


def _project(images: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    x = images.reshape(len(images), -1).double() / 255.0
    return (x - mean) @ basis


def _nearest(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    # |f - c|^2 = |f|^2 - 2 f.c + |c|^2; |f|^2 does not change the argmin
    return (centroids.square().sum(1) - 2 * features @ centroids.T).argmin(1)


def fit(images: torch.Tensor, k: int) -> Clustering:
    """k-means with ``k`` clusters of uint8 ``(N, 28, 28)`` images (no cache)."""
    if not 2 <= k <= len(images):
        raise ValueError(f"clusters must be between 2 and the number of images ({len(images)}), got {k}")
    x = images.reshape(len(images), -1).double() / 255.0
    mean = x.mean(0)
    centred = x - mean
    # the principal directions from the 784 x 784 covariance: exact and deterministic (no random projection)
    values, vectors = torch.linalg.eigh(centred.T @ centred)
    basis = vectors[:, values.argsort(descending=True)[: min(COMPONENTS, x.shape[1])]].contiguous()
    features = centred @ basis
    generator = torch.Generator().manual_seed(SEED)
    # k-means++: each next seed drawn with probability proportional to its squared distance to the nearest seed
    chosen = [int(torch.randint(len(features), (1,), generator=generator))]
    distance = (features - features[chosen[0]]).square().sum(1)
    for _ in range(k - 1):
        chosen.append(int(torch.multinomial(distance.clamp_min(0), 1, generator=generator)))
        distance = torch.minimum(distance, (features - features[chosen[-1]]).square().sum(1))
    centroids = features[chosen].clone()
    labels = _nearest(features, centroids)
    for _ in range(ITERATIONS):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, features)
        # an emptied cluster keeps its old centroid
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None].double(), centroids)
        new = _nearest(features, centroids)
        if torch.equal(new, labels):
            break
        labels = new
    return Clustering(labels=labels, mean=mean, basis=basis, centroids=centroids)


def _key(images: torch.Tensor, k: int) -> str:
    digest = hashlib.sha256(f"v{VERSION}|k{k}|c{COMPONENTS}|i{ITERATIONS}|s{SEED}|{tuple(images.shape)}|".encode())
    digest.update(np.ascontiguousarray(images.numpy()).data)
    return digest.hexdigest()[:24]


def clusters(images: torch.Tensor, k: int) -> Clustering:
    """``fit(images, k)``, read from the cache folder when it was computed before."""
    images = images.to(torch.uint8).cpu()
    path = cache_dir() / "clusters" / f"kmeans-{_key(images, k)}.npz"
    cached = _load(path, len(images), k)
    if cached is not None:
        return cached
    result = fit(images, k)
    buffer = io.BytesIO()
    np.savez(buffer, labels=result.labels.numpy(), mean=result.mean.numpy(), basis=result.basis.numpy(),
             centroids=result.centroids.numpy())
    try:
        atomic_write(path, buffer.getvalue())
    except OSError:
        pass  # a read-only home only costs the cache
    return result


def _load(path, n: int, k: int) -> Clustering | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: torch.from_numpy(data[name].copy()) for name in ("labels", "mean", "basis", "centroids")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, truncated or not ours
        return None
    labels = arrays["labels"]
    if (labels.dtype != torch.int64 or labels.shape != (n,) or arrays["centroids"].shape[0] != k
            or (n and (int(labels.min()) < 0 or int(labels.max()) >= k))):
        return None
    return Clustering(**arrays)
