"""Scores for a set of generated digits, computed offline with the MNIST classifier of ``gan.classifier``.

Images are float tensors (N, 1, 28, 28) in [-1, 1], as the generators produce them. The scores:

- classifier score: the Inception Score's analogue, exp E[KL(p(y|x) || p(y))]; from 1 to 10 (confident
  and varied digits).
- Fréchet distance ("FID-MNIST") and kernel distance ("KID") between Gaussians / kernel embeddings of
  the classifier's 128 penultimate features of the images and of the test set. Not comparable with
  Inception-based FID/KID; ``evaluate`` reports real digits' values to give the scale.
- precision (fidelity) and recall (coverage) of Kynkäänniemi et al. 2019 on the same features' directions.
- class histogram, classes covered and label entropy (nats, at most ln 10): mode collapse at a glance.
- conditional accuracy: how often a conditional generator draws the digit it was asked for.
- nearest training distance: pixel-space L2 to the closest training image, a memorisation check.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from gan.classifier import CLASSES, WEIGHTS_SHA256, load_classifier
from gan.data import FILES, cache_dir, load_mnist, to_training_tensor
from gan.files import atomic_write

K_NEIGHBOURS = 3  # Kynkäänniemi et al.'s choice
CHUNK_ELEMENTS = 2**23  # distance matrices are built in slices of this many entries (64 MB in float64)


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28) or not images.is_floating_point():
        raise ValueError(
            f"expected float images (N, 1, 28, 28) in [-1, 1], got {images.dtype} {tuple(images.shape)}"
        )


def classifier_features(images: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, 128) and class probabilities (N, 10), both float64."""
    _check_images(images)
    model = load_classifier()
    features, probs = [], []
    with torch.inference_mode():
        for chunk in images.split(batch):
            f, logits = model.features_and_logits(chunk.to("cpu", torch.float32))
            features.append(f.double())
            probs.append(logits.double().softmax(1))  # float64 before softmax keeps tiny probabilities > 0
    return torch.cat(features).numpy(), torch.cat(probs).numpy()


def classifier_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 1 for one class or no confidence, 10 for sure and balanced labels."""
    logs = np.log(np.maximum(probs, np.finfo(np.float64).tiny))  # p log p -> 0 as p -> 0
    marginal = np.log(probs.mean(0))
    return float(np.exp((probs * (logs - marginal)).sum(1).mean()))


def _gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _frechet(mu_a, cov_a, mu_b, cov_b) -> float:
    # tr sqrt(A B) = tr sqrt(A^1/2 B A^1/2), and the latter is symmetric PSD: eigvalsh is exact and stable
    root_a = _psd_sqrt(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(np.clip(cross, 0, None)).sum()
    return float(max(value, 0.0))  # a distance; rounding can leave -1e-12 for identical sets


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on the classifier's features)."""
    return _frechet(*_gaussian(feat_a), *_gaussian(feat_b))


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T).div_(a.shape[1]).add_(1).pow_(3)


def _subset_sums(a: torch.Tensor, b: torch.Tensor, picks_a: list[np.ndarray], picks_b: list[np.ndarray], *,
                 same: bool, rows: int = 500) -> torch.Tensor:
    """The kernel's sum over ``a[pa] x b[pb]`` (without the diagonal when ``same``: ``a`` is ``b``) for every
    pair of subsets at once: the kernel between the whole sets (``rows`` rows at a time), summed per subset pair as ``1_paᵀ K 1_pb`` through one product
    with the subsets' indicator vectors, instead of one small kernel per subset (KID's 50 subsets: 0.12
    against 0.44 s here). The products are float32 (each sums at most ``len(b)`` kernel values), the chunks
    add up in float64: on 2,000 x 10,000 features the KID moved by less than 1e-9. Subsets must not
    repeat an index."""
    ra = torch.zeros(len(a), len(picks_a))
    rb = torch.zeros(len(b), len(picks_b))
    for i, (pa, pb) in enumerate(zip(picks_a, picks_b)):
        ra[torch.from_numpy(np.asarray(pa)), i] = 1.0
        rb[torch.from_numpy(np.asarray(pb)), i] = 1.0
    sums = torch.zeros(len(picks_a), dtype=torch.float64)
    for start in range(0, len(a), rows):
        k = _kernel(a[start : start + rows], b)
        chunk = ra[start : start + rows].double()
        sums += (chunk * (k @ rb).double()).sum(0)
        if same:  # the diagonal pairs each point with itself; the unbiased estimator leaves them out
            sums -= chunk.T @ k.diagonal(offset=start).double()
    return sums


_WITHIN_REFERENCE: dict[tuple, torch.Tensor] = {}  # kernel sums within the second set's subsets, by its content


def _within_sums(b: torch.Tensor, picks: list[np.ndarray], key: tuple, keep_on_disk: bool) -> torch.Tensor:
    """Kernel sums within each subset of ``b``: the same at every evaluation against one reference set,
    so they are computed once per process (a third of KID's cost), and with ``keep_on_disk`` once at all
    (the first evaluation of every later process reads them: 1 s less at a run's start here)."""
    if key not in _WITHIN_REFERENCE:
        if len(_WITHIN_REFERENCE) >= 8:
            _WITHIN_REFERENCE.pop(next(iter(_WITHIN_REFERENCE)))
        compute = lambda: _subset_sums(b, b, picks, picks, same=True)  # noqa: E731
        _WITHIN_REFERENCE[key] = (torch.from_numpy(_cached_arrays("kid-within", lambda: {"sums": compute().numpy()},
                                                                  *key)["sums"])
                                  if keep_on_disk else compute())
    return _WITHIN_REFERENCE[key]


def kernel_distance(feat_a: np.ndarray, feat_b: np.ndarray, *, subsets: int = 50, subset_size: int = 1000,
                    seed: int = 0, keep_on_disk: bool = False) -> float:
    """KID: unbiased MMD² with the kernel (x·y/d + 1)³, averaged over random equal-size subsets.

    Near 0 (it can dip below) for samples of one distribution. Subsets are capped at the smaller set.
    ``keep_on_disk``: ``feat_b`` is a reference set (the test set's features): the part of the estimate
    that depends on it alone is kept in the metrics' disk cache, keyed by its content.
    """
    m = min(subset_size, len(feat_a), len(feat_b))
    if m < 2:
        raise ValueError(f"kernel distance needs at least 2 samples per set, got {len(feat_a)} and {len(feat_b)}")
    rng = np.random.default_rng(seed)
    picks = [(rng.choice(len(feat_a), m, replace=False), rng.choice(len(feat_b), m, replace=False))
             for _ in range(subsets)]
    a, b = torch.from_numpy(feat_a).float(), torch.from_numpy(feat_b).float()  # float32 matmuls: 2x faster
    key = (hashlib.sha1(np.ascontiguousarray(feat_b)).hexdigest(), feat_b.shape, len(feat_a), m, subsets, seed)
    picks_a, picks_b = [pick_a for pick_a, _ in picks], [pick_b for _, pick_b in picks]
    within_b = _within_sums(b, picks_b, key, keep_on_disk)
    within_a = _subset_sums(a, a, picks_a, picks_a, same=True)
    across = _subset_sums(a, b, picks_a, picks_b, same=False)
    return float(((within_a + within_b) / (m * (m - 1)) - 2 * across / m**2).mean())


def _rows_per_chunk(n_cols: int) -> int:
    return max(1, CHUNK_ELEMENTS // n_cols)


def _knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point (the radius of its ball)."""
    n = len(features)
    if n <= k:
        raise ValueError(f"k-nearest-neighbour radii with k={k} need more than {k} samples, got {n}")
    step = _rows_per_chunk(n)
    # k + 1: every point is its own nearest neighbour, at distance 0
    return torch.cat([torch.cdist(features[i : i + step], features).kthvalue(k + 1, dim=1).values
                      for i in range(0, n, step)])


def _precision_recall(real: torch.Tensor, real_radii: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    fake_radii = _knn_radii(fake, k)
    fake_inside = torch.zeros(len(fake), dtype=torch.bool)
    real_inside = torch.zeros(len(real), dtype=torch.bool)
    step = _rows_per_chunk(len(real))
    for i in range(0, len(fake), step):
        distances = torch.cdist(fake[i : i + step], real)
        fake_inside[i : i + step] = (distances <= real_radii).any(1)
        real_inside |= (distances <= fake_radii[i : i + step, None]).any(0)
    return fake_inside.double().mean().item(), real_inside.double().mean().item()


def _unit(features: np.ndarray) -> torch.Tensor:
    # compared by direction: by raw features, a few faint real digits near the origin get k-NN balls wide
    # enough to take in garbage (uniform noise scored precision 0.69, near-blank images 1.0)
    return torch.nn.functional.normalize(torch.from_numpy(features), dim=1)


def precision_recall(real_feat: np.ndarray, fake_feat: np.ndarray, k: int = K_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of features scaled to unit length.

    Precision: the share of fakes inside some real sample's k-NN ball; recall: the share of reals
    inside some fake's ball. Both depend on the set sizes, so compare values at equal sizes.
    """
    real = _unit(real_feat)
    return _precision_recall(real, _knn_radii(real, k), _unit(fake_feat), k)


def class_histogram(probs: np.ndarray) -> np.ndarray:
    """How many images the classifier assigns to each digit, shape (10,)."""
    return np.bincount(probs.argmax(1), minlength=CLASSES)


def classes_covered(hist: np.ndarray, *, min_fraction: float = 0.01) -> int:
    """Digits that get at least ``min_fraction`` of the images (the default: a tenth of a fair share)."""
    return int((hist / hist.sum() >= min_fraction).sum())


def label_entropy(hist: np.ndarray) -> float:
    """Entropy of the predicted-label distribution in nats: 0 for one digit, ln 10 ≈ 2.303 for balanced."""
    p = hist[hist > 0] / hist.sum()
    return float((p * np.log(1 / p)).sum())  # not -(p log p): one class would read -0.0


def conditional_accuracy(probs: np.ndarray, requested_labels) -> float:
    """The share of images that the classifier reads as the digit requested for them."""
    return float((probs.argmax(1) == np.asarray(requested_labels)).mean())


def nearest_training_distance(images: torch.Tensor, train_images: torch.Tensor, k: int = 1,
                              batch: int = 256, train_sq: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-space L2 distances (N, k) to the k nearest training images, nearest first, and their indices.

    Both sets as float (N, 1, 28, 28) in [-1, 1]. The maximum distance is 2 * 28 = 56. ``train_sq``: the
    training images' squared norms, if the caller keeps them (70 ms of a snapshot's evaluation here).
    """
    _check_images(images)
    _check_images(train_images)
    x, train = images.reshape(len(images), -1).cpu().float(), train_images.reshape(len(train_images), -1).float()
    train_sq = (train**2).sum(1) if train_sq is None else train_sq
    distances, indices = [], []
    for chunk in x.split(batch):
        # ||a - b||² = ||a||² + ||b||² - 2 a·b: one matmul per chunk ranks the candidates (||a||² is
        # constant per row), then the chosen ones are measured exactly, so a copy scores exactly 0
        nearest = torch.addmm(train_sq, chunk, train.T, alpha=-2).topk(k, dim=1, largest=False).indices
        exact = (chunk[:, None, :] - train[nearest]).norm(dim=2)
        exact, order = exact.sort(dim=1)
        distances.append(exact)
        indices.append(nearest.gather(1, order))
    return torch.cat(distances).double().numpy(), torch.cat(indices).numpy()


@functools.lru_cache(maxsize=1)
def _train_sq() -> torch.Tensor:
    """The training images' squared norms, kept on disk (computing them took 0.55 s of a first evaluation)."""
    compute = lambda: {"sq": (_train_images().reshape(len(_train_images()), -1) ** 2).sum(1).numpy()}  # noqa: E731
    return torch.from_numpy(_cached_arrays("train-sq", compute)["sq"])


@functools.lru_cache(maxsize=1)
def _train_images() -> torch.Tensor:
    # 188 MB of float32 kept for the process: converting 60,000 images per call would cost more than the search
    return to_training_tensor(load_mnist("train")[0])


# -- what real digits score: computed once, then read from disk ---------------------------------------
CACHE_VERSION = 1  # bump when what the cached statistics mean changes


def _cache_path(name: str, suffix: str, *parts) -> Path:
    """A cache file named by everything its content depends on: the classifier's weights, the MNIST files
    (both verified against these hashes when they load), the statistic and its parameters."""
    key = "|".join(map(str, (CACHE_VERSION, WEIGHTS_SHA256, *sorted(FILES.values()), name, *parts)))
    return cache_dir() / "metrics" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"


def _disk_cached(path: Path, compute, encode, decode):
    """``decode`` of the file at ``path``; if it is missing or unreadable, ``compute()``, written there."""
    try:
        return decode(path.read_bytes())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, damaged, an older layout
        pass
    value = compute()
    try:
        atomic_write(path, encode(value))
    except OSError:
        pass  # a read-only cache only costs time
    return value


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:  # zip CRCs catch a damaged file
        return {name: archive[name] for name in archive.files}


def _cached_arrays(name: str, compute, *parts) -> dict[str, np.ndarray]:
    return _disk_cached(_cache_path(name, ".npz", *parts), compute, _npz_bytes, _npz_arrays)


@functools.lru_cache(maxsize=1)
def _test_images() -> torch.Tensor:
    return to_training_tensor(load_mnist("test")[0])


def _test_features() -> np.ndarray:
    return _cached_arrays("test-features", lambda: {"features": classifier_features(_test_images())[0]})["features"]


@functools.lru_cache(maxsize=4)
def _reference(n_reference: int, seed: int) -> dict:
    """Statistics of the test set (a seeded subset when n_reference < 10,000) that every score compares with."""
    features = _test_features()
    if not 2 <= n_reference <= len(features):
        raise ValueError(f"n_reference must be between 2 and {len(features)}, got {n_reference}")
    if n_reference < len(features):
        features = features[np.sort(np.random.default_rng(seed).choice(len(features), n_reference, replace=False))]

    def compute():
        mu, cov = _gaussian(features)
        return {"mu": mu, "cov": cov, "radii": _knn_radii(_unit(features), K_NEIGHBOURS).numpy()}

    stats = _cached_arrays("reference", compute, n_reference, seed)
    return {**stats, "features": features, "unit": _unit(features), "radii": torch.from_numpy(stats["radii"])}


def _scores(features, probs, labels, reference, seed) -> dict:
    hist = class_histogram(probs)
    precision, recall = _precision_recall(reference["unit"], reference["radii"], _unit(features), K_NEIGHBOURS)
    return {
        "n_samples": len(features),
        "classifier_score": classifier_score(probs),
        "fid": _frechet(*_gaussian(features), reference["mu"], reference["cov"]),
        "kid": kernel_distance(features, reference["features"], seed=seed, keep_on_disk=True),
        "precision": precision,
        "recall": recall,
        "class_histogram": hist.tolist(),
        "classes_covered": classes_covered(hist),
        "label_entropy": label_entropy(hist),
        "conditional_accuracy": None if labels is None else conditional_accuracy(probs, labels),
    }


def _distance_summary(images: torch.Tensor) -> dict:
    distances = nearest_training_distance(images, _train_images(), train_sq=_train_sq())[0][:, 0]
    return {
        "nearest_train_samples": len(distances),
        "nearest_train_distance_mean": float(distances.mean()),
        "nearest_train_distance_median": float(np.median(distances)),
        "nearest_train_distance_min": float(distances.min()),
    }


@functools.lru_cache(maxsize=8)
def _real_scores(n: int, n_reference: int, seed: int, memorisation_samples: int) -> dict:
    """The scores of n real training images, with their true labels as the 'requested' ones."""

    def compute() -> dict:
        train_images, train_labels = load_mnist("train")
        pick = torch.from_numpy(np.random.default_rng(seed).choice(len(train_images), n, replace=False))
        images = to_training_tensor(train_images[pick])
        scores = _scores(*classifier_features(images), train_labels[pick].numpy(), _reference(n_reference, seed), seed)
        # a training image's nearest training image is itself: held-out test digits give the honest scale
        test_images = _test_images()
        test_images = test_images[np.random.default_rng(seed).choice(len(test_images), min(n, len(test_images)),
                                                                     replace=False)]
        scores.update(_distance_summary(test_images[:memorisation_samples]))
        return scores

    path = _cache_path("real-scores", ".json", n, n_reference, seed, memorisation_samples)
    return _disk_cached(path, compute, lambda scores: json.dumps(scores).encode(), json.loads)


def evaluate(images: torch.Tensor, *, labels=None, n_reference: int = 10_000, seed: int = 0,
             memorisation_samples: int | None = None) -> dict:
    """Every score above as JSON-ready floats and lists, plus ``"real"``: the same for real digits.

    ``labels``: the digits a conditional generator was asked for (None: unconditional). Reference
    statistics come from ``n_reference`` test images. The nearest training distances are measured for
    the first ``memorisation_samples`` images (None: all; the search over 60,000 training images is
    the costliest score). ``"real"`` scores as many training images (their nearest training distance:
    test images); it and the test set's statistics are computed once and then read from a cache on disk
    (``$GAN_CACHE_DIR/metrics``), keyed by the classifier's and the data's hashes.
    """
    memorisation_samples = len(images) if memorisation_samples is None else min(memorisation_samples, len(images))
    features, probs = classifier_features(images)
    scores = _scores(features, probs, labels, _reference(n_reference, seed), seed)
    scores.update(_distance_summary(images[:memorisation_samples]))
    scores["real"] = copy.deepcopy(_real_scores(len(images), n_reference, seed, memorisation_samples))
    return scores
