"""Sweeps in the run store, readable without Ray (the dashboard reads them from here).

    runs/.sweeps/<sweep id>/
        sweep.json     space, scheduler, metric, status, pid, trials, best (rewritten atomically)
        stop           present once a stop is requested; the sweep process polls for it
        ray/           Ray Tune's experiment folder (its small checkpoints point into our runs)

Each trial is an ordinary run whose run.json carries ``sweep``: the sweep id, the Ray trial id,
the sampled values and the node that trained it, so every page and command works on it unchanged.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import time
from pathlib import Path

from gan.files import atomic_write
from gan.store import RUN_ID, RunNotFound, RunStore, process_alive
from gan.sweep import METRICS  # noqa: F401  (read from here by the tuner and the pages)

SWEEPS = ".sweeps"  # a dot: never a run id, so RunStore.list() skips it
ENDED = ("finished", "stopped", "failed")


def sweeps_root(store: RunStore) -> Path:
    return store.root / SWEEPS


def sweep_path(store: RunStore, sweep_id: str) -> Path:
    if not isinstance(sweep_id, str) or not RUN_ID.match(sweep_id):
        raise RunNotFound(f"invalid sweep id {sweep_id!r}")
    return sweeps_root(store) / sweep_id


def create_sweep(store: RunStore, **fields) -> str:
    """A new sweep record (status ``running``, this process's pid); returns its id."""
    sweep_id = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    sweep_path(store, sweep_id).mkdir(parents=True)
    write_sweep(store, sweep_id, id=sweep_id, status="running", created=time.time(), pid=os.getpid(),
                host=socket.gethostname(), trials=[], best=None, **fields)
    return sweep_id


def read_sweep(store: RunStore, sweep_id: str) -> dict:
    path = sweep_path(store, sweep_id) / "sweep.json"
    if not path.exists():
        raise RunNotFound(f"no sweep {sweep_id!r} in {store.root}")
    record = json.loads(path.read_text())
    if record["status"] == "running" and not process_alive(record.get("pid")) and record.get("host") == socket.gethostname():
        record["status"] = "interrupted"  # its process died without saying so
    return record


def write_sweep(store: RunStore, sweep_id: str, **fields) -> dict:
    path = sweep_path(store, sweep_id) / "sweep.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record.update(fields, updated=time.time())
    atomic_write(path, json.dumps(record, indent=1).encode())
    return record


def list_sweeps(store: RunStore) -> list[dict]:
    """Every sweep's record, newest first."""
    root = sweeps_root(store)
    if not root.is_dir():
        return []
    records = [read_sweep(store, p.name) for p in root.iterdir() if (p / "sweep.json").exists()]
    return sorted(records, key=lambda r: r.get("created", 0), reverse=True)


def request_stop(store: RunStore, sweep_id: str) -> None:
    """Ask the sweep's process to stop its trials (each writes a checkpoint) and end."""
    atomic_write(sweep_path(store, sweep_id) / "stop", b"stop requested\n")


def stop_requested(store: RunStore, sweep_id: str) -> bool:
    return (sweep_path(store, sweep_id) / "stop").exists()


def sweep_runs(store: RunStore, sweep_id: str) -> list[dict]:
    """The runs this sweep trained (PBT exploits included), oldest first."""
    infos = [i for i in store.list() if (i.get("sweep") or {}).get("id") == sweep_id]
    return sorted(infos, key=lambda i: (i.get("created") or 0, i["id"]))


def metric_by_epoch(store: RunStore, run_id: str, metric: str) -> dict[int, float]:
    """The metric at each evaluated epoch after 0 (the untrained generator's says nothing)."""
    evaluations = store.open(run_id).evaluations()
    return {e: float(m[metric]) for e, m in evaluations.items() if e > 0 and _finite(m.get(metric))}


def ranked(store: RunStore, sweep_id: str, metric: str) -> list[dict]:
    """The sweep's runs, best first by their best evaluated ``metric``; runs with none come last."""
    sign = 1 if METRICS[metric] == "min" else -1
    rows = []
    for info in sweep_runs(store, sweep_id):
        values = metric_by_epoch(store, info["id"], metric)
        best_epoch = min(values, key=lambda e: sign * values[e]) if values else None
        rows.append({"run": info["id"], "status": info["status"], "trial": info["sweep"].get("trial"),
                     "values": info["sweep"].get("values", {}), "node": info["sweep"].get("node"),
                     "parent": (info.get("parent") or {}).get("run"), "epochs_done": info.get("epochs_done", 0),
                     "best_epoch": best_epoch, metric: values[best_epoch] if values else None})
    return sorted(rows, key=lambda r: (r[metric] is None, sign * (r[metric] or 0.0)))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
