"""Making long metric histories cheap to draw: a 500-epoch run has 300,000 steps per curve."""

from __future__ import annotations

import threading
import warnings

import numpy as np


def downsample(columns: dict[str, np.ndarray], *, max_points: int = 2000, by: str = "step") -> dict[str, np.ndarray]:
    """Bucket the rows into at most ``max_points`` equal runs of consecutive steps.

    Every column becomes its per-bucket mean (NaN-aware, so a G loss logged every k-th step still
    draws), plus ``<name>_min`` and ``<name>_max`` for a band that keeps spikes visible. Histories
    shorter than ``max_points`` come back unchanged (with min = max = the value).
    """
    n = len(columns.get(by, ()))
    if n == 0:
        return {}
    buckets = min(n, max_points)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    starts = edges[:-1]
    counts = np.diff(edges)
    out = {}
    for name, values in columns.items():
        values = np.asarray(values, dtype=np.float64)
        if buckets == n:
            out[name] = values
            if name != by:
                out[f"{name}_min"] = out[f"{name}_max"] = values
            continue
        finite = np.isfinite(values)
        sums = np.add.reduceat(np.where(finite, values, 0.0), starts)
        hits = np.add.reduceat(finite.astype(np.int64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = sums / hits
        if name == by:
            out[name] = values[starts + counts // 2]  # the bucket's middle step
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN buckets stay NaN
            out[f"{name}_min"] = np.fmin.reduceat(np.where(finite, values, np.nan), starts)
            out[f"{name}_max"] = np.fmax.reduceat(np.where(finite, values, np.nan), starts)
    return out


class IncrementalHistory:
    """A run's per-step metrics, kept in memory and extended with only the steps written since the
    last :meth:`update`: what a live chart refreshing every few seconds needs. Thread-safe, so
    every viewer of a run can share one. A run trained again from scratch (a new ``started`` in
    run.json) or one whose columns changed is read anew."""

    def __init__(self, run):
        self.run = run
        self._lock = threading.Lock()
        self._started = None
        self.columns: dict[str, np.ndarray] = {}

    def update(self) -> dict[str, np.ndarray]:
        with self._lock:
            started = self.run.read_info().get("started")
            if started != self._started:
                self._started, self.columns = started, {}
            steps = self.columns.get("step")
            new = self.run.steps(after=int(steps[-1]) if steps is not None and steps.size else 0)
            if new and self.columns and new.keys() != self.columns.keys():
                new, self.columns = self.run.steps(), {}  # a metric appeared: its earlier rows are NaN now
            if new:
                old = self.columns
                self.columns = {k: np.concatenate([old[k], v]) if k in old else v for k, v in new.items()}
            return self.columns
