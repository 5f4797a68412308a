"""MNIST from the original IDX files, offline.

The four files ship inside the package (``gan/mnist/``). A reader verifies the MD5 of the
decompressed bytes the first time it sees a file and caches the decoded array as ``.npy`` so that
later start-ups skip the gunzip and the decoding. The cached array is hashed again on every load
(the IDX header rebuilt from its shape, then its bytes: the same MD5), so a damaged cache is
noticed and rebuilt from the IDX file instead of training on corrupt digits.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import torch

from gan.config import TRAIN_SPLITS
from gan.files import atomic_write
from gan.images import npy_bytes

EMBEDDED_DIR = Path(__file__).with_name("mnist")

# MD5 of the *decompressed* bytes (the well-known torchvision values)
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


class DataError(RuntimeError):
    """A missing or corrupt MNIST file; the message says which file and what to do."""


def cache_dir() -> Path:
    root = os.environ.get("GAN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gan-dashboard"
    )
    return Path(root)


def resolve_dir(data_dir: str | os.PathLike | None) -> Path:
    """The folder that holds the IDX files: the embedded copy unless another is given."""
    return Path(data_dir).expanduser() if data_dir else EMBEDDED_DIR


def _find(folder: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in ``folder`` or its ``raw/`` (torchvision's ``MNIST/raw`` layout)."""
    for candidate in (folder / name, folder / f"{name}.gz", folder / "raw" / name, folder / "raw" / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise DataError(f"MNIST file {path} cannot be read ({exc}); replace it with a fresh copy.") from exc


def _decode(name: str, raw: bytes, path: Path) -> np.ndarray:
    magic, count = struct.unpack(">II", raw[:8])
    if name.endswith("idx3-ubyte"):
        rows, cols = struct.unpack(">II", raw[8:16])
        expected, shape, offset = IMAGE_MAGIC, (count, rows, cols), 16
    else:
        expected, shape, offset = LABEL_MAGIC, (count,), 8
    if magic != expected or len(raw) != offset + int(np.prod(shape)):
        raise DataError(f"MNIST file {path} is not a valid IDX file; replace it with a fresh copy.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _cache_path(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / f"{path.name.split('.')[0]}-{key}.npy"


def _save_cache(target: Path, array: np.ndarray) -> None:
    try:
        atomic_write(target, npy_bytes(array))
    except OSError:
        pass  # a read-only home only costs the cache, never the data


def _idx_md5(name: str, array: np.ndarray) -> str | None:
    """The MD5 of the IDX file that ``array`` was decoded from (None if it cannot be one)."""
    images = name.endswith("idx3-ubyte")
    if array.dtype != np.uint8 or array.ndim != (3 if images else 1):
        return None
    header = struct.pack(">I" + "I" * array.ndim, IMAGE_MAGIC if images else LABEL_MAGIC, *array.shape)
    digest = hashlib.md5(header)
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _load_cache(path: Path, name: str) -> np.ndarray | None:
    """The cached array, if it is still exactly the verified file's content."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated or not an .npy
        return None
    return array if _idx_md5(name, array) == FILES[name] else None


def read_idx(folder: Path, name: str) -> np.ndarray:
    """One verified IDX file as a uint8 array, from the ``.npy`` cache when it is current."""
    path = _find(folder, name)
    if path is None:
        raise DataError(
            f"MNIST file {name} (or {name}.gz) is missing from {folder}. Point data_dir at a folder "
            "holding the four original IDX files (torchvision's MNIST/raw layout works), or leave it "
            "empty to use the copy embedded in the package."
        )
    cached = _cache_path(path)
    array = _load_cache(cached, name)
    if array is not None:
        return array
    raw = _read_bytes(path)
    digest = hashlib.md5(raw).hexdigest()
    if digest != FILES[name]:
        raise DataError(
            f"MNIST file {path} is corrupt: MD5 of its decompressed bytes is {digest}, expected "
            f"{FILES[name]}. Replace it with a fresh copy of the original file."
        )
    array = _decode(name, raw, path)
    _save_cache(cached, array)
    return array


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)`` tensors of a split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    folder = resolve_dir(data_dir)
    image_name, label_name = SPLITS[split]
    images, labels = read_idx(folder, image_name), read_idx(folder, label_name)
    if len(images) != len(labels):
        raise DataError(f"MNIST {split} images and labels in {folder} disagree in count.")
    # a cache read is a fresh, writable array of its own (no copy of 47 MB); a freshly decoded file is a view
    # of read-only bytes
    images = images if images.flags.writeable else images.copy()
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def load_train_split(name: str, data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of a training split (``gan.config.TRAIN_SPLITS``), in the file's order."""
    if name not in TRAIN_SPLITS:
        raise ValueError(f"train_split must be one of {', '.join(map(repr, TRAIN_SPLITS))}, got {name!r}")
    first, stop = TRAIN_SPLITS[name]
    images, labels = load_mnist("train", data_dir)
    return images[first:stop], labels[first:stop]


def to_training_tensor(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in [-1, 1] on ``device``, once."""
    return images.to(device).unsqueeze(1).float().div_(127.5).sub_(1.0)
