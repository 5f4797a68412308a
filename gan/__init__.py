"""Train GANs on MNIST: config, data, models, losses, trainer, background jobs, run store, CLI.

Plain Python: usable from scripts, notebooks and the CLI (``python -m gan``); the Streamlit
dashboard is built on top of it and nothing here imports Streamlit.

The config loads at once; everything that needs torch loads on first use (``gan.Trainer``), so
``python -m gan --help`` and the config's validation start without it.
"""

import importlib
import os

# torch's CPU threads are GNU OpenMP's (libgomp), which reads this once, when torch loads: an idle thread
# spins this many times before it sleeps (libgomp's default 300,000, about 3 ms). Ten times that keeps the
# intra-op threads awake between a step's parallel regions when the cores are shared (a browser drawing the
# live view): beside a process busy in 50 ms bursts, report-2019 trained 20% faster (36,954 against 30,921
# images/s), and alone as fast (benchmarks/omp_spin.py). An idle process still sleeps within about 40 ms.
# A value the user set is kept; torch imported before gan keeps libgomp's default.
os.environ.setdefault("GOMP_SPINCOUNT", "3000000")
# The thread governor (gan/threads.py) changes torch's thread count during a run, and a run must stay a function
# of its seed. Intel MKL's matrix products split their work by thread count and, by default, round differently
# with one thread than with two (on an Intel Xeon with AVX-512, report-2019's D forward, 200x784 by 784x128,
# differed by 5e-5); MKL's strict conditional numerical reproducibility gives the same bits at any thread count,
# for about 2% of the hand-written step's speed (47,386 against 46,305 images/s, benchmarks/bench_train.py, three
# runs each). MKL reads it at its first call, so torch imported and used before gan keeps MKL's default: the
# governor checks the bits itself and stays off where they differ. Not set where the governor is switched off.
from gan.config import PRESETS, ConfigError, TrainConfig, env_switch, preset  # noqa: E402  (no torch)

if env_switch("GAN_ADAPTIVE_THREADS") is not False:
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

_LAZY = {"JobRunner": "gan.runner", "Progress": "gan.runner", "execute": "gan.runner", "Run": "gan.store",
         "RunStore": "gan.store", "Trainer": "gan.trainer", "TrainControl": "gan.trainer"}

__all__ = ["PRESETS", "ConfigError", "TrainConfig", "preset", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'gan' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
