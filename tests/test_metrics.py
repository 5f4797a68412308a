"""The offline GAN metrics, specified on real MNIST digits, uniform noise and a collapsed set."""

import json

import numpy as np
import pytest
import torch

from gan import classifier, metrics
from gan.data import load_mnist, to_training_tensor


@pytest.fixture(scope="module")
def test_set():
    images, labels = load_mnist("test")
    return to_training_tensor(images), labels


@pytest.fixture(scope="module")
def test_scores(test_set):
    """Features and probabilities of all 10,000 test digits."""
    return metrics.classifier_features(test_set[0])


@pytest.fixture(scope="module")
def noise():
    return torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture(scope="module")
def noise_scores(noise):
    return metrics.classifier_features(noise)


@pytest.fixture
def fresh_classifier_cache():
    classifier.load_classifier.cache_clear()
    yield
    classifier.load_classifier.cache_clear()  # later tests must get the genuine weights again


def test_tampered_weights_are_rejected_naming_the_file_and_the_fix(tmp_path, monkeypatch, fresh_classifier_cache):
    raw = bytearray(classifier.WEIGHTS_PATH.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit inside a weight
    tampered = tmp_path / "mnist_cnn.pt"
    tampered.write_bytes(raw)
    monkeypatch.setattr(classifier, "WEIGHTS_PATH", tampered)
    with pytest.raises(classifier.ClassifierError, match=r"mnist_cnn\.pt have SHA-256 .*scripts/train_classifier\.py"):
        classifier.load_classifier()


def test_missing_weights_say_how_to_regenerate_them(tmp_path, monkeypatch, fresh_classifier_cache):
    monkeypatch.setattr(classifier, "WEIGHTS_PATH", tmp_path / "mnist_cnn.pt")
    with pytest.raises(classifier.ClassifierError, match=r"mnist_cnn\.pt are missing.*scripts/train_classifier\.py"):
        classifier.load_classifier()


def test_classifier_reads_the_whole_test_set_with_at_least_99_percent_accuracy(test_set, test_scores):
    _, probs = test_scores
    assert metrics.conditional_accuracy(probs, test_set[1]) >= 0.99


def test_features_are_128_wide_and_probabilities_sum_to_one(test_scores):
    features, probs = test_scores
    assert features.shape == (10000, 128) and probs.shape == (10000, 10)
    assert np.allclose(probs.sum(1), 1.0)


def test_images_in_the_wrong_format_are_refused():
    with pytest.raises(ValueError, match=r"expected float images \(N, 1, 28, 28\)"):
        metrics.classifier_features(load_mnist("test")[0][:10])  # uint8 (N, 28, 28), not converted


def test_real_digits_score_near_10_and_noise_scores_near_1(test_scores, noise_scores):
    assert metrics.classifier_score(test_scores[1]) > 9.5
    assert metrics.classifier_score(noise_scores[1]) < 2


def test_frechet_distance_of_a_set_with_itself_is_zero_and_of_real_against_noise_is_large(test_scores, noise_scores):
    features = test_scores[0]
    assert metrics.frechet_distance(features, features) == pytest.approx(0, abs=1e-6)
    halves = metrics.frechet_distance(features[0::2], features[1::2])
    assert metrics.frechet_distance(features, noise_scores[0]) > 100 * halves


def test_kernel_distance_of_two_halves_of_the_test_set_is_near_zero(test_scores, noise_scores):
    features = test_scores[0]
    halves = metrics.kernel_distance(features[0::2], features[1::2])
    against_noise = metrics.kernel_distance(features, noise_scores[0])
    assert abs(halves) < 0.01 * against_noise


def test_kernel_distance_is_deterministic_given_the_seed(test_scores, noise_scores):
    a, b = test_scores[0][:1000], noise_scores[0]
    runs = [metrics.kernel_distance(a, b, subsets=3, subset_size=200, seed=s) for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_kernel_distance_against_a_second_reference_of_the_same_shape_is_not_the_firsts():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(500, 16))
    metrics._WITHIN_REFERENCE.clear()
    fresh = metrics.kernel_distance(a, b + 1, subsets=5, subset_size=100)
    metrics._WITHIN_REFERENCE.clear()
    metrics.kernel_distance(a, b, subsets=5, subset_size=100)  # its within-reference sums are kept
    assert metrics.kernel_distance(a, b + 1, subsets=5, subset_size=100) == fresh


def test_kid_keeps_the_reference_sums_on_disk_and_a_new_process_reads_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(500, 16))
    metrics._WITHIN_REFERENCE.clear()
    first = metrics.kernel_distance(a, b, subsets=5, subset_size=100, keep_on_disk=True)
    assert len(list((tmp_path / "metrics").glob("kid-within-*.npz"))) == 1
    calls = []
    subset_sums = metrics._subset_sums
    monkeypatch.setattr(metrics, "_subset_sums", lambda *args, **kw: calls.append(args[1] is args[0]) or subset_sums(*args, **kw))
    metrics._WITHIN_REFERENCE.clear()  # as in a new process
    assert metrics.kernel_distance(a, b, subsets=5, subset_size=100, keep_on_disk=True) == first
    assert calls == [True, False]  # the fakes' own sums and the cross sums; the reference's came from disk
    metrics._WITHIN_REFERENCE.clear()
    assert metrics.kernel_distance(a, b + 1, subsets=5, subset_size=100, keep_on_disk=True) != first  # keyed by content
    assert len(list((tmp_path / "metrics").glob("kid-within-*.npz"))) == 2


def test_real_training_digits_have_high_precision_and_recall_against_the_test_set(test_scores):
    train_images = to_training_tensor(load_mnist("train")[0][:2000])
    precision, recall = metrics.precision_recall(test_scores[0], metrics.classifier_features(train_images)[0])
    assert precision > 0.7 and recall > 0.7


def test_noise_has_no_precision(test_scores, noise_scores):
    precision, _ = metrics.precision_recall(test_scores[0], noise_scores[0])
    assert precision < 0.01


def test_a_collapsed_set_covers_one_class_with_low_entropy_and_low_recall(test_set, test_scores):
    collapsed = test_set[0][:1].repeat(2000, 1, 1, 1)  # 2,000 copies of the test set's first digit, a 7
    features, probs = metrics.classifier_features(collapsed)
    hist = metrics.class_histogram(probs)
    assert hist.tolist() == [0] * 7 + [2000, 0, 0]
    assert metrics.classes_covered(hist) == 1
    assert metrics.label_entropy(hist) == 0
    _, recall = metrics.precision_recall(test_scores[0], features)
    assert recall < 0.01


def test_balanced_labels_cover_every_class_with_maximal_entropy():
    hist = np.full(10, 200)
    assert metrics.classes_covered(hist) == 10
    assert metrics.label_entropy(hist) == pytest.approx(np.log(10))


def test_conditional_accuracy_is_high_for_true_labels_and_chance_for_shuffled_ones(test_set, test_scores):
    labels = test_set[1]
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    assert metrics.conditional_accuracy(test_scores[1], labels) > 0.99
    assert metrics.conditional_accuracy(test_scores[1], shuffled) == pytest.approx(0.1, abs=0.02)


def test_training_images_are_at_distance_zero_from_themselves():
    train = to_training_tensor(load_mnist("train")[0])
    picked = torch.tensor([0, 1234, 31337, 59999])
    distances, indices = metrics.nearest_training_distance(train[picked], train)
    assert distances.shape == (4, 1) and np.all(distances == 0)
    assert indices[:, 0].tolist() == picked.tolist()


def test_nearest_training_images_of_unseen_digits_are_the_true_nearest_ones(test_set):
    train = to_training_tensor(load_mnist("train")[0])
    queries = test_set[0][:5]
    distances, indices = metrics.nearest_training_distance(queries, train, k=3)
    brute = torch.cdist(queries.flatten(1).double(), train.flatten(1).double()).topk(3, largest=False)
    assert np.array_equal(indices, brute.indices.numpy())
    assert np.allclose(distances, brute.values.numpy(), atol=1e-4) and np.all(distances > 0)


def test_evaluate_reports_json_ready_scores_with_the_real_scale_beside_them(noise):
    report = metrics.evaluate(noise[:500], labels=torch.zeros(500, dtype=torch.long))
    json.dumps(report)  # plain floats, ints and lists only
    real = report["real"]
    assert real["n_samples"] == report["n_samples"] == 500
    assert real["classifier_score"] > 9 > report["classifier_score"]
    assert real["fid"] < report["fid"] and real["kid"] < report["kid"]
    assert real["precision"] > 0.7 > report["precision"] and real["recall"] > report["recall"]
    assert real["classes_covered"] == 10 and real["conditional_accuracy"] > 0.98
    assert real["nearest_train_distance_mean"] < report["nearest_train_distance_mean"]


def test_evaluate_leaves_conditional_accuracy_empty_for_an_unconditional_generator(test_set):
    assert metrics.evaluate(test_set[0][:500])["conditional_accuracy"] is None


# -- the real-data statistics' cache on disk ------------------------------------------------------
@pytest.fixture
def metrics_cache(tmp_path, monkeypatch):
    """An empty cache folder, and no statistics held in this process."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    clear = lambda: (metrics._reference.cache_clear(), metrics._real_scores.cache_clear(),  # noqa: E731
                     metrics._train_sq.cache_clear(), metrics._WITHIN_REFERENCE.clear())
    clear()
    yield tmp_path / "metrics"
    clear()


def test_the_real_data_statistics_are_computed_once_and_then_read_from_disk(metrics_cache, noise, monkeypatch):
    first = metrics.evaluate(noise[:100])
    assert sorted(p.name.split("-")[0] for p in metrics_cache.iterdir()) == ["kid", "real", "reference", "test", "train"]
    metrics._reference.cache_clear()
    metrics._real_scores.cache_clear()  # as in a new process
    metrics._train_sq.cache_clear()
    metrics._WITHIN_REFERENCE.clear()
    scored = []
    features = metrics.classifier_features
    monkeypatch.setattr(metrics, "classifier_features", lambda images: (scored.append(len(images)), features(images))[1])
    again = metrics.evaluate(noise[:100])
    assert scored == [100]  # only the samples: neither the 10,000 test digits nor the real training digits
    assert again == first


def test_a_damaged_cache_file_is_computed_again_and_rewritten(metrics_cache, noise):
    first = metrics.evaluate(noise[:100])
    for path in metrics_cache.iterdir():
        path.write_bytes(path.read_bytes()[:100])  # truncated
    metrics._reference.cache_clear()
    metrics._real_scores.cache_clear()
    metrics._train_sq.cache_clear()
    metrics._WITHIN_REFERENCE.clear()
    assert metrics.evaluate(noise[:100]) == first
    assert all(path.stat().st_size > 100 for path in metrics_cache.iterdir())


def test_the_cache_is_keyed_by_the_classifiers_weights_and_the_datas_hashes(monkeypatch):
    paths = {metrics._cache_path("reference", ".npz", 10_000, 0)}
    monkeypatch.setattr(metrics, "WEIGHTS_SHA256", "0" * 64)
    paths.add(metrics._cache_path("reference", ".npz", 10_000, 0))
    monkeypatch.setitem(metrics.FILES, "t10k-images-idx3-ubyte", "0" * 32)
    paths.add(metrics._cache_path("reference", ".npz", 10_000, 0))
    assert len(paths) == 3


def test_the_memorisation_sample_count_is_recorded_beside_the_distances(noise):
    scores = metrics.evaluate(noise[:200], memorisation_samples=50)
    assert scores["nearest_train_samples"] == scores["real"]["nearest_train_samples"] == 50
    assert metrics.evaluate(noise[:200])["nearest_train_samples"] == 200


def test_kernel_distance_sums_every_subset_as_the_per_subset_kernels_do():
    """KID's subset sums come from one kernel matrix and indicator products (float32 products, float64
    chunks); the direct form, one small kernel per subset pair in float64 sums, must agree."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(600, 32)).astype(np.float32)
    b = (rng.normal(size=(1500, 32)) * 1.1 + 0.05).astype(np.float32)
    m, subsets, seed = 200, 7, 3
    picks = np.random.default_rng(seed)
    picks = [(picks.choice(len(a), m, replace=False), picks.choice(len(b), m, replace=False)) for _ in range(subsets)]
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)

    def direct(x, y, same):
        k = (x.double() @ y.double().T / x.shape[1] + 1) ** 3
        return k.sum().item() - (k.diagonal().sum().item() if same else 0.0)

    expected = np.mean([(direct(ta[pa], ta[pa], True) + direct(tb[pb], tb[pb], True)) / (m * (m - 1))
                        - 2 * direct(ta[pa], tb[pb], False) / m**2 for pa, pb in picks])
    got = metrics.kernel_distance(a, b, subsets=subsets, subset_size=m, seed=seed)
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert abs(expected) > 1e-3  # the two sets differ: a wrong sum would not hide near zero
