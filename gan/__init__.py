"""Train GANs on MNIST: config, data, models, losses, trainer, background jobs, run store, CLI.

Plain Python: usable from scripts, notebooks and the CLI (``python -m gan``); the Streamlit
dashboard is built on top of it and nothing here imports Streamlit.
"""

from gan.config import PRESETS, ConfigError, TrainConfig, preset
from gan.runner import JobRunner, Progress, execute
from gan.store import Run, RunStore
from gan.trainer import Trainer, TrainControl

__all__ = [
    "PRESETS", "ConfigError", "TrainConfig", "preset", "JobRunner", "Progress", "execute",
    "Run", "RunStore", "Trainer", "TrainControl",
]
