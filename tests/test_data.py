import gzip
import os
import shutil

import pytest
import torch

from gan import data
from gan.data import DataError, load_mnist, load_train_split, to_training_tensor


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))


def test_embedded_training_set_has_the_known_shape_and_label_counts():
    images, labels = load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,)
    # the well-known class counts of MNIST's training set
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_test_split_loads():
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)


def test_torchvision_raw_layout_with_uncompressed_files_is_accepted(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.SPLITS["test"]:
        with gzip.open(data.EMBEDDED_DIR / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    images, labels = load_mnist("test", tmp_path / "MNIST")
    expected, _ = load_mnist("test")
    assert torch.equal(images, expected)


def test_corrupted_copy_is_rejected_naming_the_file(tmp_path):
    for name in data.SPLITS["test"]:
        shutil.copy(data.EMBEDDED_DIR / f"{name}.gz", tmp_path)
    raw = bytearray(gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5000] ^= 0xFF  # one flipped pixel
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is corrupt: MD5"):
        load_mnist("test", tmp_path)


def test_truncated_gzip_is_rejected_naming_the_file(tmp_path):
    for name in data.SPLITS["test"]:
        shutil.copy(data.EMBEDDED_DIR / f"{name}.gz", tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz cannot be read"):
        load_mnist("test", tmp_path)


def test_missing_file_error_says_which_file_and_what_to_do(tmp_path):
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte .* is missing .* data_dir"):
        load_mnist("test", tmp_path)


def test_second_load_comes_from_the_cache_without_reading_the_idx_file(monkeypatch):
    first, _ = load_mnist("test")
    monkeypatch.setattr(data, "_read_bytes", lambda path: pytest.fail(f"re-read {path}"))
    second, _ = load_mnist("test")
    assert torch.equal(first, second)


def test_training_tensor_is_normalised_to_minus_one_one():
    x = to_training_tensor(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert x.shape == (1, 1, 1, 2) and x.dtype == torch.float32
    assert x.flatten().tolist() == [-1.0, 1.0]


def test_a_damaged_cache_is_detected_and_rebuilt_from_the_idx_file():
    expected, _ = load_mnist("test")
    (cached,) = data.cache_dir().glob("t10k-images-idx3-ubyte-*.npy")
    raw = bytearray(cached.read_bytes())
    raw[-1000] ^= 0xFF  # one flipped pixel: still a well-formed .npy of the right shape
    cached.write_bytes(bytes(raw))
    images, _ = load_mnist("test")
    assert torch.equal(images, expected)
    assert data._load_cache(cached, "t10k-images-idx3-ubyte") is not None  # and the cache was rewritten


def test_the_cache_is_written_by_the_durable_atomic_writer(monkeypatch):
    synced = []
    real_fsync = data.os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    load_mnist("test")
    folder = str(data.cache_dir())
    assert any(p.startswith(folder + "/.t10k-images") for p in synced)  # the bytes, before the rename
    assert folder in synced  # the rename itself


def test_the_tf_55k_split_is_images_5000_to_59999_of_the_training_file(mnist_train):
    images, labels = load_train_split("tf-55k")
    assert len(images) == len(labels) == 55_000
    assert torch.equal(images[0], mnist_train[0][5_000]) and torch.equal(images[-1], mnist_train[0][59_999])
    assert torch.equal(labels, mnist_train[1][5_000:])


def test_the_all_split_is_the_whole_training_file(mnist_train):
    images, labels = load_train_split("all")
    assert torch.equal(images, mnist_train[0]) and torch.equal(labels, mnist_train[1])


def test_an_unknown_split_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="train_split must be one of 'all', 'tf-55k', got 'tf'"):
        load_train_split("tf")


def test_a_trainer_of_the_report_preset_trains_on_the_tf_55k_split(mnist_train):
    from gan.config import preset
    from gan.trainer import Trainer

    trainer = Trainer(preset("report-2019", hidden=8, device="cpu", eval_samples=0))
    assert trainer.data.shape == (55_000, 1, 28, 28)
    assert torch.equal(trainer.data[0, 0], to_training_tensor(mnist_train[0][5_000:5_001])[0, 0])
