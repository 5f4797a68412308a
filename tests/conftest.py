import pytest

from gan.config import preset
from gan.data import load_mnist


@pytest.fixture(scope="session")
def mnist_train():
    images, labels = load_mnist("train")
    return images, labels


@pytest.fixture
def tiny_config():
    """The report's model, shrunk so that an epoch takes a fraction of a second."""
    return preset("report-2019", epochs=2, train_images=600, batch_size=50, hidden=32, device="cpu", grid_size=4,
                  eval_samples=0)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("GAN_RUNS_DIR", str(path))
    return path
