"""Train GANs on MNIST: config, data, models, losses, trainer, background jobs, run store, CLI.

Plain Python: usable from scripts, notebooks and the CLI (``python -m gan``); the Streamlit
dashboard is built on top of it and nothing here imports Streamlit.

The config loads at once; everything that needs torch loads on first use (``gan.Trainer``), so
``python -m gan --help`` and the config's validation start without it.
"""

import importlib

from gan.config import PRESETS, ConfigError, TrainConfig, preset

_LAZY = {"JobRunner": "gan.runner", "Progress": "gan.runner", "execute": "gan.runner", "Run": "gan.store",
         "RunStore": "gan.store", "Trainer": "gan.trainer", "TrainControl": "gan.trainer"}

__all__ = ["PRESETS", "ConfigError", "TrainConfig", "preset", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'gan' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
