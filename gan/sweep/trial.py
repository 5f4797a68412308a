"""One trial of a sweep, as Ray Tune runs it in a worker: a run in our store, trained by the same
``execute`` as the CLI, reporting the metric to Tune at every snapshot evaluation.

Tune's checkpoint is only a pointer (run id, epoch, trial id): the weights stay in the run store,
which every node reaches (one machine, or a shared filesystem). A restored trial whose pointer is
its own resumes its run; one whose pointer is another trial's was exploited by PBT and becomes a
fork of the donor's run at that epoch, with the explored values recorded as an event.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import ray
import torch
from ray import tune

from gan.config import TrainConfig
from gan.runner import execute
from gan.store import Run, RunStore
from gan.trainer import TrainControl

POINTER = "pointer.json"


def train_trial(values: dict, *, sweep: dict) -> None:
    """Tune's function trainable. ``values``: this trial's config values; ``sweep``: id, store root,
    base config, cpus per trial, device."""
    torch.set_num_threads(sweep["cpus"])  # one trial per core: never oversubscribe
    store, trial_id = RunStore(sweep["root"]), tune.get_context().get_trial_id()
    tag = {"id": sweep["id"], "trial": trial_id, "values": values, "node": ray.get_runtime_context().get_node_id(),
           "node_ip": ray.util.get_node_ip_address(), "niceness": os.nice(0)}
    run = _trial_run(store, tag, TrainConfig.from_dict({**sweep["base"], **values}), tune.get_checkpoint())
    if run is None:
        return
    reporter = Reporter(run, trial_id)
    # each report pairs a snapshot's evaluation with that snapshot's checkpoint: evaluated in the snapshot
    execute(run, resume=run.info().get("step", 0) > 0, control=reporter.control, callbacks=reporter.callbacks(),
            evaluate_beside=False)
    if reporter.control.stop_requested:
        sys.exit(0)  # what Tune's report raised: the trial ends here, without its final report


def _trial_run(store: RunStore, tag: dict, config: TrainConfig, checkpoint) -> Run | None:
    if checkpoint is None:
        return store.create(config, fill=lambda run: run.write_info(sweep=tag))
    with checkpoint.as_directory() as folder:
        pointer = json.loads((Path(folder) / POINTER).read_text())
    if pointer["epoch"] >= config.epochs:
        return None  # restored at its last epoch: nothing is left to train
    if pointer["trial"] == tag["trial"]:  # paused or restarted: its own run, from the reported epoch
        run = store.open(pointer["run"])
        run.save_checkpoint(run.load_checkpoint(pointer["epoch"]))
        run.write_info(sweep={**run.read_info()["sweep"], "node": tag["node"], "node_ip": tag["node_ip"]})
        return run
    return exploit(store, pointer, tag, config)


def exploit(store: RunStore, pointer: dict, tag: dict, config: TrainConfig) -> Run:
    """PBT copied another trial: fork the donor's run at its reported epoch with the explored values."""
    donor = store.open(pointer["run"]).load_checkpoint(pointer["epoch"])
    donor_config = TrainConfig.from_json(donor["config"]).to_dict()
    changed = {k: v for k, v in tag["values"].items() if donor_config[k] != v}
    child = store.fork(pointer["run"], epoch=pointer["epoch"], info={"sweep": {**tag, "exploited": pointer}},
                       **{**tag["values"], "epochs": config.epochs})
    child.add_event(donor["step"], "explore", changed)
    return child


class Reporter:
    """Reports each snapshot's evaluation to Tune, after the store has kept that epoch's checkpoint."""

    def __init__(self, run: Run, trial_id: str):
        self.run, self.trial_id = run, trial_id
        self.control = TrainControl()
        self.evaluation: tuple[int, dict] | None = None

    def callbacks(self) -> list[tuple[str, object]]:
        # added after the store's own listeners: on_snapshot here runs once epoch-NNNN.pt is written
        return [("on_evaluation", self.on_evaluation), ("on_snapshot", self.on_snapshot)]

    def on_evaluation(self, trainer, epoch: int, metrics: dict) -> None:
        self.evaluation = (epoch, metrics)

    def on_snapshot(self, trainer, epoch: int, images) -> None:
        if epoch == 0 or self.evaluation is None or self.evaluation[0] != epoch:
            return
        metrics = self.evaluation[1]
        result = {"epoch": epoch, "fid": metrics["fid"], "classifier_score": metrics["classifier_score"],
                  "run_id": self.run.id}
        pointer = {"run": self.run.id, "epoch": epoch, "trial": self.trial_id}
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / POINTER).write_text(json.dumps(pointer))
            try:
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))
            except SystemExit:  # the scheduler stopped or paused this trial: end the run cleanly, then exit
                self.control.stop()
