"""Running a sweep on Ray Tune: the search space, the scheduler, the Ray connection and the record.

The only module besides ``trial`` that imports Ray; ``gan`` itself never does.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

import gan
from gan.config import TrainConfig
from gan.store import RunStore
from gan.sweep.record import (METRICS, create_sweep, ranked, request_stop, stop_requested, sweep_path,
                              sweep_runs, write_sweep)
from gan.sweep.space import Dimension
from gan.sweep.trial import train_trial

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a local Ray registers as 127.0.0.1 and listens only there
OBJECT_STORE_BYTES = 256 << 20  # trials pass pointers, not weights: a small object store is plenty


def local_ray_environment() -> None:
    """The environment a local Ray (or a loopback test cluster) needs, set before it starts: nodes on
    loopback only, and workers that import this very ``gan`` package."""
    os.environ[LOOPBACK_ENV] = "0"
    package_root = str(Path(gan.__file__).resolve().parent.parent)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if package_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, paths)])


def connect(address: str | None) -> bool:
    """Join ``address`` (``auto``: the cluster this machine belongs to; None and no ``$RAY_ADDRESS``: a
    new local Ray on loopback with its dashboard off). Returns whether this call started Ray."""
    if ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address or None, log_to_driver=False)
        return True
    local_ray_environment()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             log_to_driver=False)
    return True


def search_space(dimensions: list[Dimension]) -> dict:
    return {d.field: _distribution(d) for d in dimensions}


def _distribution(d: Dimension):
    if d.kind == "grid":
        return tune.grid_search(list(d.values))
    if d.kind == "choice":
        return tune.choice(list(d.values))
    whole = isinstance(d.low, int)
    if d.kind == "uniform":
        return tune.randint(d.low, d.high + 1) if whole else tune.uniform(d.low, d.high)
    return tune.lograndint(d.low, d.high + 1) if whole else tune.loguniform(d.low, d.high)


def make_scheduler(name: str, dimensions: list[Dimension], *, interval: int):
    """fifo: every trial to the end; asha: stop the worse trials at rungs of ``interval``, 2x, 4x...
    epochs; pbt: every ``interval`` epochs the worse half copies the better half's weights (a fork)
    and perturbs the searched values."""
    if name == "asha":
        return ASHAScheduler(time_attr="epoch", grace_period=interval, reduction_factor=2)
    if name == "pbt":
        mutations = {d.field: tune.choice(list(d.values)) if d.values else _distribution(d) for d in dimensions}
        return PopulationBasedTraining(time_attr="epoch", perturbation_interval=interval,
                                       hyperparam_mutations=mutations, quantile_fraction=0.5, synch=True)
    return FIFOScheduler()


class StopFile(tune.Stopper):
    """Ends the whole sweep once its stop file exists (the dashboard's Stop button, or a signal)."""

    def __init__(self, store: RunStore, sweep_id: str):
        self.store, self.sweep_id = store, sweep_id

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return stop_requested(self.store, self.sweep_id)


def run_sweep(store: RunStore, base: TrainConfig, dimensions: list[Dimension], *, scheduler: str = "fifo",
              trials: int = 4, max_concurrent: int | None = None, metric: str = "fid", cpus_per_trial: int = 1,
              gpus_per_trial: float = 0, address: str | None = None, interval: int = 1,
              on_start=None) -> str:
    """Run a sweep to its end (or a stop request) and return its id; ``on_start(sweep_id)`` is called
    once the record exists. ``base``: every trial's config before its sampled values."""
    base = base.replace(snapshot_epochs=tuple(range(1, base.epochs + 1)), device="auto" if gpus_per_trial else "cpu")
    sweep_id = create_sweep(store, space=[d.to_dict() for d in dimensions], scheduler=scheduler, metric=metric,
                            trials_wanted=trials, base=base.to_dict(), address=address or "local")
    if on_start:
        on_start(sweep_id)
    previous = signal.signal(signal.SIGTERM, lambda *_: request_stop(store, sweep_id))
    started = connect(address)
    try:
        tuner = _tuner(store, sweep_id, base, dimensions, scheduler=scheduler, trials=trials,
                       max_concurrent=max_concurrent, metric=metric, cpus=cpus_per_trial, gpus=gpus_per_trial,
                       interval=interval)
        grid = tuner.fit()
        status = "stopped" if stop_requested(store, sweep_id) else "finished"
        trial_states = [{"trial": r.metrics.get("trial_id"), "error": str(r.error) if r.error else None} for r in grid]
        _finish(store, sweep_id, metric, status=status, trials=trial_states)
    except BaseException as exc:
        _finish(store, sweep_id, metric, status="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if started:
            ray.shutdown()
    return sweep_id


# reuse_actors: a worker process keeps the classifier and its reference statistics between trials
def _tuner(store, sweep_id, base, dimensions, *, scheduler, trials, max_concurrent, metric, cpus, gpus, interval):
    sweep = {"id": sweep_id, "root": str(store.root.resolve()), "base": base.to_dict(), "cpus": cpus}
    trainable = tune.with_resources(tune.with_parameters(train_trial, sweep=sweep), {"cpu": cpus, "gpu": gpus})
    return tune.Tuner(
        trainable,
        param_space=search_space(dimensions),
        tune_config=tune.TuneConfig(metric=metric, mode=METRICS[metric], num_samples=trials,
                                    max_concurrent_trials=max_concurrent, reuse_actors=True,
                                    scheduler=make_scheduler(scheduler, dimensions, interval=interval)),
        run_config=tune.RunConfig(name="ray", storage_path=str(sweep_path(store, sweep_id).resolve()),
                                  stop=StopFile(store, sweep_id), verbose=0),
    )


def _finish(store: RunStore, sweep_id: str, metric: str, **fields) -> None:
    """Mark runs whose worker was ended by the scheduler (or the stop) stopped, and record the best."""
    for info in sweep_runs(store, sweep_id):
        if info["status"] == "interrupted":
            store.open(info["id"]).write_info(status="stopped", ended=time.time(),
                                              message="stopped by the sweep's scheduler")
    rows = ranked(store, sweep_id, metric)
    write_sweep(store, sweep_id, ended=time.time(), best=rows[0] if rows and rows[0][metric] is not None else None,
                runs=[r["run"] for r in rows], **fields)
