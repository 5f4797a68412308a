"""Crash safety, exact resume, forks, bad input, queueing and the security ground rules."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan.config import ConfigError, TrainConfig
from gan.runner import JobRunner, continue_config, execute
from gan.store import RunStore
from helpers import cli, wait_for

ROOT = Path(__file__).resolve().parent.parent
LONG = ["--epochs", "1000", "--train-images", "600", "--batch-size", "50", "--hidden", "32", "--device", "cpu",
        "--eval-samples", "0", "--quiet"]


def steps_logged(store):
    runs = store.list()
    return len(runs[0]["id"] and store.open(runs[0]["id"]).steps().get("step", [])) if runs else 0


# -- crash safety -------------------------------------------------------------------------------
RUNNER_SCRIPT = """
import sys, time
from gan import JobRunner, RunStore, preset
runner = JobRunner(RunStore())
runner.start(preset("report-2019", epochs=1000, train_images=600, batch_size=50, hidden=32, device="cpu",
                    eval_samples=0))
time.sleep(600)
"""


@pytest.mark.parametrize("process", ["cli", "background-runner"])
def test_a_killed_training_process_leaves_an_interrupted_run_that_continues(process, runs_dir):
    command = ([sys.executable, "-m", "gan", "train", *LONG] if process == "cli"
               else [sys.executable, "-c", RUNNER_SCRIPT])
    child = subprocess.Popen(command, cwd=ROOT, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore()
    try:
        wait_for(lambda: steps_logged(store) >= 60 and store.list()[0].get("epochs_done", 0) >= 3)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    (info,) = store.list()
    assert info["status"] == "interrupted"
    run = store.open(info["id"])
    checkpoint = run.load_checkpoint()
    logged = run.steps()["step"]
    assert list(logged) == list(range(1, len(logged) + 1))  # nothing half-written: contiguous steps
    assert checkpoint["step"] <= len(logged) and checkpoint["epoch"] >= 2

    # continue it: the steps after the checkpoint are redone, the history stays contiguous
    continue_config(run, checkpoint["epoch"] + 2)
    assert execute(run, resume=True) == "finished"
    steps = run.steps()["step"]
    assert list(steps) == list(range(1, (checkpoint["epoch"] + 2) * 12 + 1))
    assert not list(run.path.rglob("*.tmp"))


# -- exact resume -------------------------------------------------------------------------------
def test_four_epochs_straight_equal_two_then_two_more(tiny_config, runs_dir):
    store = RunStore()
    straight = store.create(tiny_config.replace(epochs=4))
    execute(straight)
    split = store.create(tiny_config.replace(epochs=2))
    execute(split)
    continue_config(split, 4)
    execute(split, resume=True)

    a, b = straight.load_checkpoint(), split.load_checkpoint()
    for name in ("G", "D"):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name])
    for name in ("opt_g", "opt_d"):  # every parameter's step count and both moments, and the hyperparameters
        assert a[name]["param_groups"] == b[name]["param_groups"]
        assert a[name]["state"].keys() == b[name]["state"].keys() and len(a[name]["state"]) == 4
        for index, state in a[name]["state"].items():
            assert state.keys() == b[name]["state"][index].keys() == {"step", "exp_avg", "exp_avg_sq"}
            assert all(torch.equal(state[k], b[name]["state"][index][k]) for k in state), (name, index)
    metrics_a, metrics_b = straight.steps(), split.steps()
    for name in ("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake"):
        assert metrics_a[name].tolist() == metrics_b[name].tolist()


# -- forks --------------------------------------------------------------------------------------
def test_fork_starts_from_the_parents_checkpoint_with_changed_hyperparameters(tiny_config, runs_dir):
    store = RunStore()
    parent = store.create(tiny_config.replace(epochs=3, snapshot_epochs=(0, 1, 2, 3)))
    execute(parent)
    child = store.fork(parent.id, epoch=2, lr_g=1e-4, epochs=4)
    info = child.info()
    assert info["parent"] == {"run": parent.id, "epoch": 2, "step": 2 * tiny_config.steps_per_epoch}
    assert child.steps()["step"].tolist() == list(range(1, 2 * tiny_config.steps_per_epoch + 1))  # inherited past
    assert child.snapshot_epochs() == [0, 1, 2]
    assert execute(child, resume=True) == "finished"
    state = child.load_checkpoint()
    assert state["epoch"] == 4 and state["opt_g"]["param_groups"][0]["lr"] == 1e-4
    assert child.config().lr_g == 1e-4 and parent.config().lr_g == tiny_config.lr_g
    # the fork's first steps continue from the parent's weights at epoch 2, not from scratch
    parent_at_2 = parent.load_checkpoint(2)
    fresh = store.fork(parent.id, epoch=2, epochs=4)
    assert torch.equal(fresh.load_checkpoint()["G"]["net.0.weight"], parent_at_2["G"]["net.0.weight"])


def test_fork_cannot_change_the_architecture(tiny_config, runs_dir):
    store = RunStore()
    parent = store.create(tiny_config)
    execute(parent)
    with pytest.raises(ConfigError, match="hidden cannot change in a fork"):
        store.fork(parent.id, hidden=64)


def test_runner_forks_and_trains_the_child(tiny_config, runs_dir):
    runner = JobRunner(RunStore())
    parent = runner.start(tiny_config)
    runner.wait(parent, timeout=60)
    child = runner.fork(parent, epoch=2, epochs=3, lr_d=5e-4)
    assert runner.wait(child, timeout=60).status == "finished"
    assert runner.store.open(child).info()["parent"]["run"] == parent


def test_cli_fork_prints_the_child_and_records_the_parent(tiny_config, runs_dir):
    parent = RunStore().create(tiny_config)
    execute(parent)
    out = subprocess.run([sys.executable, "-m", "gan", "train", "--fork", parent.id, "--fork-epoch", "2",
                          "--epochs", "3", "--lr-g", "0.0005", "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    child_id = re.search(r"run (\S+) in", out.stdout).group(1)
    child = RunStore().open(child_id).info()
    assert child["status"] == "finished" and child["parent"]["run"] == parent.id and child["config"]["lr_g"] == 0.0005


# -- bad input ----------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
FIELDS = [f for f in TrainConfig.__dataclass_fields__]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=8))
def test_fuzzed_config_dicts_are_valid_or_a_config_error(data):
    try:
        config = TrainConfig.from_dict(data)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(m, str) and m for m in exc.errors.values())
    else:
        assert TrainConfig.from_json(config.to_json()) == config


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_fuzzed_config_json_is_valid_or_a_config_error_naming_each_bad_field(text):
    try:
        config = TrainConfig.from_json(text)
    except ConfigError as exc:
        assert exc.errors and all(isinstance(m, str) and m.startswith(name) for name, m in exc.errors.items())
        assert str(exc) == "; ".join(exc.errors.values())
    else:
        assert TrainConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("damage, reason", [
    (lambda run: (run.path / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 not really"), "last.pt is damaged"),
    (lambda run: (run.path / "metrics.sqlite").write_bytes(b"garbage" * 100), "metrics.sqlite is damaged"),
    (lambda run: (run.path / "run.json").write_text("{"), "JSONDecodeError"),
    (lambda run: (run.path / "config.json").write_text('{"epochs": -3}'), "epochs must be in"),
])
def test_a_damaged_file_marks_only_its_run_damaged_with_the_reason(damage, reason, tiny_config, runs_dir):
    store = RunStore()
    good, bad = store.create(tiny_config), store.create(tiny_config)
    execute(good)
    execute(bad)
    damage(bad)
    statuses = {i["id"]: i for i in store.list()}
    assert statuses[good.id]["status"] == "finished"
    assert statuses[bad.id]["status"] == "damaged" and reason in statuses[bad.id]["message"]
    listed = cli("runs")
    assert listed.returncode == 0 and "damaged" in listed.stdout and good.id in listed.stdout


def test_truncated_checkpoint_never_loads_partially(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    execute(run)
    path = run.path / "checkpoints" / "last.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert run.info()["status"] == "damaged"
    with pytest.raises(ValueError, match=f"run {run.id}: checkpoints/last.pt is damaged: "):
        run.load_checkpoint()


# -- queue ----------------------------------------------------------------------------------------
def test_jobs_beyond_the_limit_wait_in_a_queue_and_then_train(tiny_config, runs_dir):
    runner = JobRunner(RunStore(), max_jobs=1)
    try:
        first = runner.start(tiny_config.replace(epochs=30))
        second = runner.start(tiny_config)
        third = runner.start(tiny_config)
        assert runner.progress(second).status == "queued" and runner.queued() == [second, third]
        assert runner.store.open(second).info()["status"] == "queued"
        runner.stop(third)  # leaves the queue untrained
        assert runner.progress(third).status == "stopped" and runner.queued() == [second]
        assert runner.wait(first, timeout=120).status == "finished"
        assert runner.wait(second, timeout=120).status == "finished"
        assert runner.store.open(third).info()["status"] == "stopped"
    finally:
        runner.shutdown()


# -- security -------------------------------------------------------------------------------------
def test_training_and_sampling_work_with_the_network_cut_off(tiny_config, runs_dir, monkeypatch):
    def refuse(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access to {address}")
        return real_connect(self, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    run = RunStore().create(tiny_config)
    assert execute(run) == "finished"
    from gan.sampling import sample

    images, _ = sample(run, 10)
    assert images.shape == (10, 1, 28, 28)
