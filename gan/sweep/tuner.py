"""Running a sweep on Ray Tune: the search space, the scheduler, the Ray connection and the record.

The only module besides ``trial`` that imports Ray; ``gan`` itself never does.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import ray
from ray import tune
from ray._private import ray_constants
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

from gan.config import TrainConfig
from gan.store import LIVE_STATUSES, RunStore
from gan.sweep.environment import LOOPBACK_ENV, uses_local_ray
from gan.sweep.record import (METRICS, create_sweep, ranked, request_stop, stop_requested, sweep_path,
                              sweep_runs, write_sweep)
from gan.sweep.space import Dimension
from gan.sweep.trial import train_trial

OBJECT_STORE_BYTES = 256 << 20  # trials pass pointers, not weights: a small object store is plenty
# a trial stopped by its scheduler finishes its step and writes a checkpoint before its worker takes the next
# trial; Tune waits 2 s for that by default, too short on a busy machine (the trial would then fail)
# RAY_worker_niceness: Ray starts its workers at niceness 15, below everything else on the machine. A trial is
# the user's work, not a background chore: beside a training job, a dashboard or a browser at niceness 0, trials
# at 15 got a few per cent of a core (a PBT test took 280 s instead of 14 s beside two busy processes on 2 cores).
WORKER_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "60", "RAY_worker_niceness": "0"}


def connect(address: str | None) -> bool:
    """Join ``address`` (``auto``: the cluster this machine belongs to; None and no ``$RAY_ADDRESS``: a
    new local Ray on loopback with its dashboard off). Returns whether this call started Ray."""
    if ray.is_initialized():
        return False
    if not uses_local_ray(address):
        ray.init(address=address or None, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
        return True
    if ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(f"a local Ray would listen on every interface: call "
                           f"gan.sweep.environment.local_ray_environment() before importing ray ({LOOPBACK_ENV}=0)")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
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


def make_scheduler(name: str, dimensions: list[Dimension], *, interval: int, epochs: int):
    """fifo: every trial to the end; asha: stop the worse trials at rungs of ``interval``, 2x, 4x...
    epochs; pbt: every ``interval`` epochs the worse half copies the better half's weights (a fork)
    and perturbs the searched values."""
    if name == "asha":
        return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(interval, epochs), reduction_factor=2)
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
    main_thread = threading.current_thread() is threading.main_thread()  # only there can it take signals
    previous = signal.signal(signal.SIGTERM, lambda *_: request_stop(store, sweep_id)) if main_thread else None
    started = connect(address)
    try:
        tuner = _tuner(store, sweep_id, base, dimensions, scheduler=scheduler, trials=trials,
                       max_concurrent=max_concurrent, metric=metric, cpus=cpus_per_trial, gpus=gpus_per_trial,
                       interval=interval)
        grid = tuner.fit()
        status = "stopped" if stop_requested(store, sweep_id) else "finished"
        trial_states = [{"trial": (r.metrics or {}).get("trial_id"), "error": str(r.error) if r.error else None} for r in grid]
        _finish(store, sweep_id, metric, status=status, trials=trial_states)
    except BaseException as exc:
        _finish(store, sweep_id, metric, status="failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if main_thread:
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
                                    scheduler=make_scheduler(scheduler, dimensions, interval=interval,
                                                             epochs=base.epochs)),
        run_config=tune.RunConfig(name="ray", storage_path=str(sweep_path(store, sweep_id).resolve()),
                                  stop=StopFile(store, sweep_id), verbose=0),
    )


def _finish(store: RunStore, sweep_id: str, metric: str, **fields) -> None:
    """Mark runs whose worker was ended by the scheduler (or the stop) stopped, and record the best.

    Tune has ended every trial by now, but on a busy machine a stopped trial's worker may still be finishing
    its step (its run still ``running``) when Ray shuts down and kills it, which would leave the run
    ``interrupted``: such runs are stopped too."""
    for info in sweep_runs(store, sweep_id):
        if info["status"] in ("interrupted", *LIVE_STATUSES):
            store.open(info["id"]).write_info(status="stopped", ended=time.time(),
                                              message="stopped by the sweep's scheduler")
    rows = ranked(store, sweep_id, metric)
    write_sweep(store, sweep_id, ended=time.time(), best=rows[0] if rows and rows[0][metric] is not None else None,
                runs=[r["run"] for r in rows], **fields)
