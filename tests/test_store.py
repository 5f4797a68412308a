import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.files import atomic_write
from gan.runner import execute
from gan.store import RunNotFound, RunStore


def test_a_short_run_writes_a_complete_run_that_another_process_reads(tiny_config, runs_dir):
    store = RunStore()
    run = store.create(tiny_config)
    assert execute(run) == "finished"
    script = f"""
import json
import pickle
from gan.store import RunStore
run = RunStore().open({run.id!r})
info = run.info()
steps = run.steps()
print(json.dumps(dict(status=info["status"], epochs_done=info["epochs_done"], n=len(steps["step"]),
      cols=sorted(steps), snaps=run.snapshot_epochs(), ckpts=run.checkpoint_epochs(),
      grid=list(run.snapshot_images(2).shape))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, check=True)
    seen = json.loads(out.stdout)
    assert seen["status"] == "finished" and seen["epochs_done"] == 2
    assert seen["n"] == 2 * tiny_config.steps_per_epoch
    assert {"d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake", "images_per_s", "epoch"} <= set(seen["cols"])
    assert seen["snaps"] == [0, 2] and seen["ckpts"] == [0, 2] and seen["grid"] == [16, 28, 28]
    assert (run.path / "config.json").is_file() and (run.path / "snapshots" / "epoch-0002.png").is_file()


def test_checkpoints_load_with_weights_only_and_hold_the_full_state(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    execute(run)
    state = torch.load(run.path / "checkpoints" / "last.pt", weights_only=True)
    assert {"G", "D", "opt_g", "opt_d", "rng_dropout", "rng_data", "epoch", "step", "config"} <= set(state)
    assert state["epoch"] == 2 and state["step"] == 2 * tiny_config.steps_per_epoch


@pytest.mark.parametrize("bad_id", ["../etc", "..", "a/b", "/abs", "", ".hidden", "x" * 200, None])
def test_run_ids_cannot_escape_the_runs_folder(runs_dir, bad_id):
    with pytest.raises(RunNotFound):
        RunStore().open(bad_id)


def test_missing_run_is_reported(runs_dir):
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        RunStore().open("nope")


def test_run_left_running_by_a_dead_process_is_interrupted(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.write_info(status="running", pid=dead.pid)
    assert run.info()["status"] == "interrupted"
    run.write_info(status="running", pid=os.getpid())
    assert run.info()["status"] == "running"


OWNER_SCRIPT = """
import os, sys, time
from gan.store import RunStore
run = RunStore().open(sys.argv[1])
run.claim()
run.write_info(status="running", pid=int(sys.argv[2]))  # a pid that lives: as if the owner's was reused
print("claimed", flush=True)
time.sleep(600)
"""


def test_a_run_whose_owner_was_killed_is_interrupted_at_once_even_if_its_pid_lives_on(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT, run.id, str(os.getpid())], stdout=subprocess.PIPE,
                             text=True, env=os.environ)
    try:
        assert owner.stdout.readline() == "claimed\n"
        assert run.info()["status"] == "running" and run.owner_alive() is True
        with pytest.raises(RuntimeError, match=f"run {run.id} is being trained by another process"):
            run.claim()
    finally:
        owner.kill()
        owner.wait()
    assert run.owner_alive() is False
    assert run.info()["status"] == "interrupted"  # no 120 s heartbeat wait, though the recorded pid is alive


def test_the_owner_lock_held_by_a_thread_of_this_process_reads_as_alive(tiny_config, runs_dir):
    # the dashboard trains in threads of its own process and reads the same runs' status there
    run = RunStore().create(tiny_config)
    run.claim()
    run.claim()  # the job runner and execute() both claim a background job: claims are counted
    try:
        run.write_info(status="running", pid=os.getpid())
        assert RunStore().open(run.id).info()["status"] == "running"
        run.release()
        assert run.info()["status"] == "running"
    finally:
        run.release()
    assert run.info()["status"] == "interrupted"
    run.claim()  # free again: this process (or any) can take it
    run.release()


def test_run_whose_owner_went_silent_is_interrupted(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    run.write_info(status="paused", pid=os.getpid())
    info = json.loads((run.path / "run.json").read_text())
    info["updated"] = time.time() - 3600
    (run.path / "run.json").write_text(json.dumps(info))
    assert run.info()["status"] == "interrupted"


def test_damaged_config_marks_only_that_run_damaged(tiny_config, runs_dir):
    store = RunStore()
    good, bad = store.create(tiny_config), store.create(tiny_config)
    (bad.path / "config.json").write_text("{not json")
    statuses = {i["id"]: i["status"] for i in store.list()}
    assert statuses == {good.id: "created", bad.id: "damaged"}
    assert "not valid JSON" in bad.info()["message"]


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, object())  # fails inside the write
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_syncs_the_bytes_and_then_the_folder_entry(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(tmp_path / "f.json", b"new")
    assert len(synced) == 2 and synced[0].startswith(str(tmp_path / ".f.json.")) and synced[1] == str(tmp_path)


def test_delete_removes_a_finished_run_but_not_a_live_one(tiny_config, runs_dir):
    store = RunStore()
    run = store.create(tiny_config)
    run.write_info(status="running", pid=os.getpid())
    with pytest.raises(RuntimeError, match="stop it before deleting"):
        store.delete(run.id)
    run.write_info(status="stopped")
    store.delete(run.id)
    assert store.list() == []


def test_snapshot_images_round_trip(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    images = torch.rand(16, 1, 28, 28) * 2 - 1
    run.save_snapshot(3, images, nrow=4)
    np.testing.assert_array_equal(run.snapshot_images(3), images.reshape(16, 28, 28).numpy())
    assert run.snapshot_epochs() == [3]


def test_a_metrics_database_without_tables_yet_reads_as_empty_not_damaged(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    import sqlite3

    sqlite3.connect(run.db_path).close()  # the file exists, its tables do not (a run starting up)
    assert run.steps() == {} and run.events() == [] and run.evaluations() == {} and run.evaluation_epochs() == []
    assert run.info()["status"] == "created"


def test_list_never_sees_a_run_half_created_or_half_deleted(tiny_config, runs_dir):
    # CI once listed a run whose folder existed before its run.json did; runs now appear and vanish whole
    import threading

    store = RunStore()
    done = threading.Event()
    seen, errors = [], []

    def churn():
        try:
            for _ in range(40):
                run = store.create(tiny_config)
                # on a loaded machine the lister can miss a whole create-delete cycle: let it see some runs
                # (it keeps listing while the next ones are created and deleted, which is what is tested)
                deadline = time.monotonic() + 0.2
                while not any(i["id"] == run.id for i in seen[-5:]) and time.monotonic() < deadline:
                    time.sleep(0.001)
                store.delete(run.id)
        except Exception as exc:  # a broken create or delete fails the test instead of hanging it
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=churn)
    worker.start()
    while not done.is_set():
        seen.extend(store.list())
    worker.join()
    assert errors == []
    assert seen, "the lister never overlapped the churn"
    assert [i for i in seen if i["status"] != "created"] == []
    assert store.list() == [] and list(runs_dir.iterdir()) == []


def test_a_create_that_fails_part_way_leaves_nothing_behind(tiny_config, runs_dir):
    store = RunStore()

    def fail(run):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.create(tiny_config, fill=fail)
    assert store.list() == [] and list(runs_dir.iterdir()) == []


# -- what a trainer's recorder writes, read back in this process ----------------------------------
@pytest.fixture
def recorded(tiny_config, runs_dir):
    """A run of 2 epochs x 12 steps with G updated every second step, recorded by execute()."""
    run = RunStore().create(tiny_config.replace(d_steps=2, snapshot_epochs=(0, 1, 2)))
    assert execute(run) == "finished"
    return run


def test_steps_come_back_as_float_columns_in_step_order_with_nan_where_g_was_not_updated(recorded):
    steps = recorded.steps()
    assert set(steps) == {"step", "epoch", "d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake", "images_per_s"}
    assert steps["step"].tolist() == list(range(1, 25)) and steps["step"].dtype == np.float64
    assert steps["epoch"].tolist() == [1.0] * 12 + [2.0] * 12
    assert np.isnan(steps["g_loss"][0::2]).all() and np.isfinite(steps["g_loss"][1::2]).all()
    assert np.isfinite(steps["d_loss_real"]).all() and ((0 < steps["d_real"]) & (steps["d_real"] < 1)).all()


def test_steps_after_a_step_are_only_the_newer_ones(recorded):
    assert recorded.steps(after=20)["step"].tolist() == [21.0, 22.0, 23.0, 24.0]
    later = recorded.steps(after=24)
    assert set(later) == set(recorded.steps()) and all(column.shape == (0,) for column in later.values())


def test_a_run_without_a_metrics_database_has_no_steps_events_or_evaluations(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    assert (run.steps(), run.events(), run.evaluations()) == ({}, [], {})


def test_checkpoints_and_snapshots_are_kept_at_the_snapshot_epochs(recorded):
    assert recorded.snapshot_epochs() == [0, 1, 2] and recorded.checkpoint_epochs() == [0, 1, 2]
    assert recorded.snapshot_png(1) == recorded.path / "snapshots" / "epoch-0001.png"
    assert recorded.snapshot_png(1).read_bytes().startswith(b"\x89PNG")
    grid = recorded.snapshot_images(1)
    assert grid.shape == (16, 28, 28) and grid.dtype == np.float32 and -1 <= grid.min() <= grid.max() <= 1
    assert recorded.load_checkpoint(1)["epoch"] == 1 and recorded.load_checkpoint()["epoch"] == 2


def test_ds_outputs_on_fixed_real_and_fake_images_are_stored_at_every_snapshot(recorded):
    outputs = recorded.discriminator_outputs()
    assert sorted(outputs) == recorded.snapshot_epochs() == [0, 1, 2]
    for snapshot in outputs.values():
        assert snapshot["output"] == "probability"  # bce: D's sigmoid
        assert len(snapshot["real"]) == len(snapshot["fake"]) == 1000
        assert all(0 <= p <= 1 for p in snapshot["real"] + snapshot["fake"])
    assert outputs[0]["real"] != outputs[2]["real"]  # D learned in between


def test_ds_outputs_of_an_untrained_d_are_its_sigmoid_on_the_first_test_images(tiny_config, runs_dir):
    from gan.data import load_mnist, to_training_tensor
    from gan.trainer import Trainer

    run = RunStore().create(tiny_config.replace(epochs=1, snapshot_epochs=(0,)))
    execute(run)
    untrained = Trainer(run.config())  # the same seed: the same initial D
    untrained.D.eval()
    expected = untrained.D(to_training_tensor(load_mnist("test")[0][:1000])).sigmoid().flatten()
    np.testing.assert_allclose(run.discriminator_outputs()[0]["real"], expected.detach().numpy(), rtol=1e-5)


def test_a_critics_raw_scores_are_stored_for_the_hinge_loss(tiny_config, runs_dir):
    run = RunStore().create(tiny_config.replace(loss="hinge", epochs=1, snapshot_epochs=(1,)))
    execute(run)
    assert run.discriminator_outputs()[1]["output"] == "score"


def test_events_and_evaluations_are_read_back_in_order(tiny_config, mnist_train, runs_dir):
    from gan.store import StoreWriter
    from gan.trainer import Trainer

    run = RunStore().create(tiny_config)
    trainer = Trainer(run.config(), images=mnist_train[0])
    writer = StoreWriter(run, trainer)
    trainer.train_seconds = 1.23456
    writer.on_train_start(trainer)
    info = run.read_info()
    assert {k: info[k] for k in ("status", "pid", "message", "device", "acceleration", "epochs_done", "step",
                                 "train_seconds", "epochs")} == {
        "status": "running", "pid": os.getpid(), "message": "", "device": "cpu", "acceleration": "hand-written float32 step",
        "epochs_done": 0, "step": 0, "train_seconds": 1.235, "epochs": 2}
    assert time.time() - 60 < info["started"] <= time.time()
    trainer.step = 7
    writer.on_pause(trainer)
    info = run.read_info()
    assert (info["status"], info["step"]) == ("paused", 7) and run.load_checkpoint()["step"] == 7  # a pause checkpoints
    writer.on_pause(trainer)  # the heartbeat of a pause: no second event
    writer.on_alarm(trainer, {"name": "mode-collapse", "message": "Mode collapse: few digits."})
    assert run.read_info()["message"] == "Mode collapse: few digits."
    trainer.config = trainer.config.replace(lr_d=1e-4)
    trainer.step = 8
    writer.on_resume(trainer, {"lr_d": 1e-4})
    info = run.read_info()
    assert run.config().lr_d == 1e-4 and (info["status"], info["message"], info["step"]) == ("running", "", 8)
    writer.on_evaluation(trainer, 2, {"fid": 12.5})
    writer.on_evaluation(trainer, 1, {"fid": 30.0})
    writer.finish("stopped")
    events = run.events()
    assert [(e["kind"], e["step"], e["detail"]) for e in events] == [
        ("pause", 7, {}), ("alarm", 7, {"name": "mode-collapse", "message": "Mode collapse: few digits."}),
        ("resume", 8, {"lr_d": 1e-4})]
    assert all(isinstance(e["time"], float) for e in events)
    assert run.evaluations() == {1: {"fid": 30.0}, 2: {"fid": 12.5}}
    assert run.evaluation_epochs() == [1, 2]  # what the Train page compares at each refresh, in epoch order
    info = run.info()
    assert (info["status"], info["message"]) == ("stopped", "") and time.time() - 60 < info["ended"] <= time.time()


def test_the_recorder_checkpoints_every_checkpoint_every_epochs(tiny_config, mnist_train, runs_dir):
    from gan.store import StoreWriter
    from gan.trainer import Trainer

    run = RunStore().create(tiny_config.replace(epochs=4, checkpoint_every=2))
    trainer = Trainer(run.config(), images=mnist_train[0])
    writer = StoreWriter(run, trainer)
    writer.on_train_start(trainer)
    saved = []
    for epoch in (1, 2, 3, 4):
        trainer.epoch = epoch
        writer.on_epoch_end(trainer)
        saved.append(run.load_checkpoint()["epoch"] if (run.path / "checkpoints" / "last.pt").exists() else None)
        assert run.read_info()["epochs_done"] == epoch
    writer.finish("stopped")
    assert saved == [None, 2, 2, 4]


def test_the_recorder_rewrites_the_progress_at_most_every_second_between_epochs_and_at_each_epoch_end(
        tiny_config, mnist_train, runs_dir, monkeypatch):
    import gan.store
    from gan.store import StoreWriter
    from gan.trainer import Trainer

    run = RunStore().create(tiny_config)
    trainer = Trainer(run.config(), images=mnist_train[0])
    writer = StoreWriter(run, trainer)
    writer.on_train_start(trainer)
    clock = [1000.0]
    monkeypatch.setattr(gan.store.time, "monotonic", lambda: clock[0])
    written = []
    real_write_info = run.write_info
    monkeypatch.setattr(run, "write_info", lambda **fields: written.append(fields.get("step")) or real_write_info(**fields))
    for step in range(1, 31):  # a flush every 0.1 s: 3 s of flushes
        trainer.step = step
        writer.on_log(trainer, [{"step": step, "epoch": 0, "g_loss": 1.0}])
        clock[0] += 0.1
    assert written == [1, 11, 21]  # once a second, not at every flush
    assert len(run.steps()["step"]) == 30  # the steps themselves all reach SQLite at once
    trainer.epoch = 1
    writer.on_epoch_end(trainer)  # an epoch's end is always written, and counts as the latest write
    writer.on_log(trainer, [{"step": 31, "epoch": 1, "g_loss": 1.0}])
    assert written == [1, 11, 21, 30] and run.read_info()["step"] == 30
    writer.finish("stopped")
    assert run.read_info()["step"] == 30 and run.read_info()["status"] == "stopped"


@pytest.mark.parametrize("pid, alive", [(None, False), (0, False), (os.getpid(), True)],
                         ids=["none", "zero", "this-process"])  # the same ids in every xdist worker
def test_process_alive_by_pid(pid, alive):
    from gan.store import process_alive

    assert process_alive(pid) is alive


def test_process_alive_only_probes_with_signal_0_and_counts_a_foreign_process_as_alive(monkeypatch):
    from gan.store import process_alive

    sent = []

    def kill(pid, sig):
        sent.append((pid, sig))
        raise PermissionError(f"process {pid} belongs to another user")

    monkeypatch.setattr(os, "kill", kill)
    assert process_alive(4242) is True and sent == [(4242, 0)]


def test_a_pid_that_exited_is_not_alive():
    from gan.store import process_alive

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert process_alive(dead.pid) is False


# -- forks ------------------------------------------------------------------------------------------
def test_a_fork_records_its_parent_and_inherits_its_past_up_to_the_fork_point(recorded):
    child = RunStore().fork(recorded.id, epoch=1, lr_g=1e-4, epochs=3)
    info = child.info()
    assert info["parent"] == {"run": recorded.id, "epoch": 1, "step": 12}
    assert (info["status"], info["epochs_done"], info["step"], info["epochs"]) == ("created", 1, 12, 3)
    assert info["train_seconds"] == recorded.load_checkpoint(1)["train_seconds"]
    steps = child.steps()
    assert steps["step"].tolist() == list(range(1, 13))
    np.testing.assert_array_equal(steps["g_loss"], recorded.steps()["g_loss"][:12])  # NaN stays NaN
    assert child.snapshot_epochs() == [0, 1]
    assert child.snapshot_png(1).read_bytes() == recorded.snapshot_png(1).read_bytes()
    assert child.discriminator_outputs() == {e: recorded.discriminator_outputs()[e] for e in (0, 1)}
    np.testing.assert_array_equal(child.snapshot_images(0), recorded.snapshot_images(0))
    state = child.load_checkpoint()
    assert state["epoch"] == 1 and json.loads(state["config"])["lr_g"] == 1e-4
    assert torch.equal(state["G"]["net.0.weight"], recorded.load_checkpoint(1)["G"]["net.0.weight"])
    assert child.config().lr_g == 1e-4 and recorded.config().lr_g != 1e-4


def test_a_fork_of_a_checkpoint_without_a_training_time_starts_its_clock_at_zero(recorded):
    state = recorded.load_checkpoint()
    del state["train_seconds"]  # checkpoints written before the field existed
    recorded.save_checkpoint(state)
    assert RunStore().fork(recorded.id, epochs=4).info()["train_seconds"] == 0.0


def test_a_fork_from_the_latest_checkpoint_by_default(recorded):
    child = RunStore().fork(recorded.id, epochs=4)
    assert child.info()["parent"]["epoch"] == 2 and child.steps()["step"].tolist() == list(range(1, 25))


@pytest.mark.parametrize("changes, field, message", [
    ({"hidden": 64}, "hidden", "hidden cannot change in a fork: the weights have the parent's shape"),
    ({"noise_dim": 10}, "noise_dim", "noise_dim cannot change in a fork"),
    ({"conditional": True}, "conditional", "conditional cannot change in a fork"),
    ({"epochs": 1}, "epochs", "epochs must be more than the fork point's 1, got 1"),
])
def test_a_fork_refuses_changes_the_checkpoint_cannot_take(recorded, changes, field, message):
    from gan.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        RunStore().fork(recorded.id, epoch=1, **{"epochs": 3, **changes})
    assert list(refused.value.errors) == [field] and refused.value.errors[field].startswith(message)
    assert [i["id"] for i in RunStore().list()] == [recorded.id]  # nothing half-made


def test_batch_size_can_change_only_in_a_fork_from_an_epoch_boundary(recorded):
    from gan.config import ConfigError

    run = recorded
    state = run.load_checkpoint()
    run.save_checkpoint({**state, "batch": 3})  # as if stopped in mid-epoch
    with pytest.raises(ConfigError) as refused:
        RunStore().fork(run.id, epochs=4, batch_size=25)
    assert refused.value.errors == {
        "batch_size": "batch_size, train_images and train_split can change only in a fork from an epoch boundary"}
    assert RunStore().fork(run.id, epoch=2, epochs=4, batch_size=25).config().batch_size == 25  # a kept epoch is one


class _Payload:
    """Unpickling this runs code: it creates the file named ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_when_unpickled_is_refused(tiny_config, runs_dir, tmp_path):
    run = RunStore().create(tiny_config)
    marker = tmp_path / "code-ran"
    run.save_checkpoint({"epoch": 0, "payload": _Payload(str(marker))})
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        run.load_checkpoint()
    assert not marker.exists()


def test_a_snapshot_array_of_python_objects_is_refused(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    (run.path / "snapshots").mkdir()
    np.save(run.path / "snapshots" / "epoch-0000.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        run.snapshot_images(0)



# -- damage ------------------------------------------------------------------------------------------
def test_a_checkpoint_with_a_flipped_byte_is_damaged_naming_the_entry(recorded):
    path = recorded.path / "checkpoints" / "last.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a stored tensor: its CRC no longer matches
    path.write_bytes(bytes(data))
    info = recorded.info()
    assert info["status"] == "damaged" and info["message"].startswith("checkpoints/last.pt is damaged: corrupt entry ")
    with pytest.raises(ValueError, match=f"^run {recorded.id}: checkpoints/last.pt is damaged: corrupt entry "):
        recorded.load_checkpoint()
    assert recorded.load_checkpoint(2)["epoch"] == 2  # the kept copies are separate files, each checked


def test_damage_checks_are_per_file(recorded, tiny_config):
    good = RunStore().create(tiny_config)
    execute(good)
    (recorded.path / "checkpoints" / "last.pt").write_bytes(b"not a zip at all")
    assert [good.info()["status"], recorded.info()["status"]] == ["finished", "damaged"]
    assert recorded.info()["message"] == "checkpoints/last.pt is damaged: File is not a zip file"


def test_a_garbage_metrics_database_is_damaged_with_sqlites_reason(recorded):
    recorded.db_path.write_bytes(b"garbage" * 100)
    info = recorded.info()
    assert info["status"] == "damaged" and info["message"] == "metrics.sqlite is damaged: file is not a database"


def test_a_missing_checkpoint_says_which_epochs_are_kept(recorded, tiny_config):
    with pytest.raises(FileNotFoundError, match=r"^run \S+ has no checkpoint epoch-0007.pt \(epochs kept: 0, 1, 2\)$"):
        recorded.load_checkpoint(7)
    empty = RunStore().create(tiny_config)
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint last.pt \(epochs kept: none\)$"):
        empty.load_checkpoint()


def test_info_carries_the_config_and_the_id(recorded):
    info = recorded.info()
    assert info["id"] == recorded.id and info["config"] == recorded.config().to_dict()


def test_an_unreadable_run_json_is_damaged_with_the_exception_named(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    (run.path / "run.json").write_text("{")
    assert run.info() == {"id": run.id, "status": "damaged",
                          "message": "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}


def test_a_run_folder_with_only_its_config_still_opens_and_lists_as_damaged(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    (run.path / "run.json").unlink()
    assert RunStore().open(run.id).path == run.path
    (listed,) = RunStore().list()
    assert listed["id"] == run.id and listed["status"] == "damaged"


def test_a_run_folder_with_only_its_run_json_still_opens(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    (run.path / "config.json").unlink()
    assert RunStore().open(run.id).info()["status"] == "damaged"


def test_runs_are_listed_newest_first(tiny_config, runs_dir):
    store = RunStore()
    runs = [store.create(tiny_config) for _ in range(3)]
    for age, run in zip((30, 10, 20), runs):
        run.write_info(created=time.time() - age)
    assert [i["id"] for i in store.list()] == [runs[1].id, runs[2].id, runs[0].id]


def test_a_queued_run_waits_silently_without_going_stale(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    run.write_info(status="queued", pid=os.getpid())
    info = json.loads((run.path / "run.json").read_text())
    info["updated"] = time.time() - 3600
    (run.path / "run.json").write_text(json.dumps(info))
    assert run.info()["status"] == "queued"
    info["status"] = "running"
    (run.path / "run.json").write_text(json.dumps(info))
    assert run.info()["status"] == "interrupted"


def test_a_live_run_json_without_a_heartbeat_or_owner_lock_is_interrupted(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    (run.path / "run.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))  # no "updated"
    assert run.info()["status"] == "interrupted"


def test_temporary_files_left_by_a_killed_writer_are_removed_when_training_starts(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    left = run.path / "checkpoints" / ".last.pt.x1y2.tmp"
    left.parent.mkdir()
    left.write_bytes(b"half")
    execute(run)
    assert not left.exists() and not list(run.path.rglob("*.tmp"))


@pytest.mark.parametrize("n,nrow,padding", [(64, 8, 2), (10, 4, 2), (1, 8, 2), (7, 10, 0), (3, 2, 5)])
def test_grid_image_lays_out_images_exactly_as_torchvisions_make_grid(n, nrow, padding):
    """gan.images composes grids without importing torchvision (2.5 s of a CLI run's start); it must
    draw what make_grid draws, pixel for pixel, out-of-range values and a single image included."""
    from torchvision.utils import make_grid

    from gan.images import grid_image

    x = np.random.default_rng(n).uniform(-1.2, 1.2, size=(n, 1, 28, 28)).astype(np.float32)
    expected = make_grid(torch.from_numpy(x), nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1),
                         pad_value=0.0)[0]
    assert np.array_equal(grid_image(x, nrow, padding=padding), (expected * 255).round().to(torch.uint8).numpy())


def test_training_and_the_cli_never_import_torchvision():
    code = ("import sys, gan.cli, gan.runner, gan.store, gan.trainer, gan.evaluation, gan.images, gan.metrics; "
            "print(sorted(m for m in sys.modules if m.startswith('torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- what mutation testing of store.py found unchecked (README, "Mutation testing") ----------------
def test_a_new_run_is_recorded_exactly_under_a_dated_id_even_in_a_folder_not_yet_made(tiny_config, tmp_path):
    import re

    store = RunStore(tmp_path / "not" / "yet" / "runs")
    before = time.time()
    run = store.create(tiny_config)
    after = time.time()
    assert re.fullmatch(r"\d{8}-\d{6}-mlp-[0-9a-f]{4}", run.id)
    stamp = time.mktime(time.strptime(run.id[:15], "%Y%m%d-%H%M%S"))
    assert int(before) - 1 <= stamp <= after
    info = run.read_info()
    assert {k: info[k] for k in ("id", "status", "epochs_done", "step", "epochs", "train_seconds", "parent",
                                 "message")} == {
        "id": run.id, "status": "created", "epochs_done": 0, "step": 0, "epochs": 2, "train_seconds": 0.0,
        "parent": None, "message": ""}
    assert type(info["epochs_done"]) is int and type(info["train_seconds"]) is float
    assert before <= info["created"] <= after
    assert sorted(p.name for p in store.root.iterdir()) == [run.id]


def test_create_takes_another_id_when_its_folder_or_its_staging_folder_is_taken(tiny_config, tmp_path, monkeypatch):
    import gan.store

    tokens = iter(["aaaa", "aaaa", "bbbb", "cccc", "dddd"])
    monkeypatch.setattr(gan.store.secrets, "token_hex", lambda n: next(tokens))
    monkeypatch.setattr(gan.store.time, "strftime", lambda fmt: "20260101-000000")
    store = RunStore(tmp_path)
    first = store.create(tiny_config)
    assert first.id == "20260101-000000-mlp-aaaa"
    assert store.create(tiny_config).id == "20260101-000000-mlp-bbbb"  # aaaa's folder exists
    busy = tmp_path / ".staging-20260101-000000-mlp-cccc"  # another process is creating cccc right now
    busy.mkdir()
    assert store.create(tiny_config).id == "20260101-000000-mlp-dddd"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        busy.name, "20260101-000000-mlp-aaaa", "20260101-000000-mlp-bbbb", "20260101-000000-mlp-dddd"]
    assert first.info()["status"] == "created"  # the colliding attempt left the first run alone


def test_create_clears_staging_folders_older_than_an_hour_and_keeps_younger_ones(tiny_config, tmp_path):
    old, young = tmp_path / ".staging-killed", tmp_path / ".staging-busy"
    for path in (old, young):
        (path / "sub").mkdir(parents=True)
    hours_ago = time.time() - 3600 - 60
    os.utime(old, (hours_ago, hours_ago))
    run = RunStore(tmp_path).create(tiny_config)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([young.name, run.id])


def test_the_default_root_is_runs_unless_the_environment_or_the_caller_names_another(tmp_path, monkeypatch):
    from gan.store import default_root

    monkeypatch.delenv("GAN_RUNS_DIR", raising=False)
    assert default_root() == Path("runs") and RunStore().root == Path("runs")
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path / "env"))
    assert RunStore().root == tmp_path / "env" and RunStore(tmp_path / "mine").root == tmp_path / "mine"


def test_a_refused_run_id_says_why(tmp_path):
    with pytest.raises(RunNotFound) as bad:
        RunStore(tmp_path).path_of("a/b")
    assert str(bad.value) == "invalid run id 'a/b': letters, digits, '.', '_' and '-' only"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "link").symlink_to(tmp_path / "elsewhere")  # a name that leads out of the store
    with pytest.raises(RunNotFound) as outside:
        RunStore(tmp_path / "runs").path_of("link")
    assert str(outside.value) == "invalid run id 'link'"


@pytest.mark.parametrize("changes", [{"batch_size": 25}, {"train_images": 500}, {"train_split": "all"}])
def test_a_fork_from_mid_epoch_refuses_each_change_of_the_images_and_takes_other_changes(recorded, changes):
    from gan.config import ConfigError

    recorded.save_checkpoint({**recorded.load_checkpoint(), "batch": 3})  # as if stopped in mid-epoch
    with pytest.raises(ConfigError) as refused:
        RunStore().fork(recorded.id, epochs=4, **changes)
    assert list(refused.value.errors) == ["batch_size"]
    assert RunStore().fork(recorded.id, epochs=4, lr_g=1e-4).config().lr_g == 1e-4


def test_a_fork_writes_the_info_it_is_given(recorded):
    child = RunStore().fork(recorded.id, epochs=4, info={"sweep": "s1", "trial": 3})
    assert (child.info()["sweep"], child.info()["trial"]) == ("s1", 3)


def test_an_added_event_is_read_back(tiny_config, runs_dir):
    run = RunStore().create(tiny_config)
    run.add_event(12, "explore", {"lr_g": 1e-4})
    assert [(e["step"], e["kind"], e["detail"]) for e in run.events()] == [(12, "explore", {"lr_g": 1e-4})]


def test_claims_are_counted_and_a_lock_held_elsewhere_is_refused_with_the_run_named(tiny_config, runs_dir):
    import fcntl
    import stat

    from gan.store import OWNER_LOCK

    run = RunStore().create(tiny_config)
    for _ in range(3):
        run.claim()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((run.path / OWNER_LOCK).stat().st_mode) == 0o644 & ~umask
    run.release()
    run.release()
    assert run.owner_alive() is True  # one claim is left
    run.release()
    assert run.owner_alive() is False
    # flock locks belong to open file descriptions: a second descriptor in this process is another owner
    other = os.open(run.path / OWNER_LOCK, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match=f"^run {run.id} is being trained by another process$"):
            run.claim()
    finally:
        os.close(other)
    run.claim()  # free again
    run.release()


def test_the_recorder_takes_a_single_row_clears_an_old_message_and_ends_with_its_own(tiny_config, mnist_train,
                                                                                       runs_dir):
    from gan.store import StoreWriter
    from gan.trainer import Trainer

    run = RunStore().create(tiny_config)
    run.write_info(message="Mode collapse: few digits.")  # from an earlier attempt
    trainer = Trainer(run.config(), images=mnist_train[0])
    writer = StoreWriter(run, trainer)
    writer.on_train_start(trainer)
    assert run.read_info()["message"] == ""
    trainer.step = 1
    writer.on_log(trainer, [{"step": 1, "epoch": 1, "d_loss_real": 0.5, "lr": 0.1}])
    assert run.steps()["lr"].tolist() == [0.1]
    trainer.step, trainer.config = 11, trainer.config.replace(epochs=5)
    writer.finish("failed", "boom")
    info = run.read_info()
    assert (info["status"], info["message"], info["step"], info["epochs"]) == ("failed", "boom", 11, 5)


def test_a_run_deleted_while_the_lister_reads_it_is_left_out_not_listed_as_damaged(tiny_config, runs_dir,
                                                                                    monkeypatch):
    import shutil

    import gan.store

    store = RunStore()
    kept, gone = store.create(tiny_config), store.create(tiny_config)
    read = gan.store.Run.info

    def info_of_a_run_being_deleted(run):
        if run.path.name == gone.id:
            shutil.rmtree(run.path)  # another process deletes it between iterdir() and our read
        return read(run)

    monkeypatch.setattr(gan.store.Run, "info", info_of_a_run_being_deleted)
    assert [i["id"] for i in store.list()] == [kept.id]


def test_a_fork_may_change_the_auxiliary_classifiers_weight_but_not_turn_it_on_or_off(tiny_config, runs_dir):
    """D has a classifier head only while aux_classifier is above 0, so the checkpoint's D fits only those forks."""
    from gan.config import ConfigError

    store = RunStore()
    parent = store.create(tiny_config.replace(conditional=True, aux_classifier=0.5, epochs=1))
    assert execute(parent) == "finished"
    child = store.fork(parent.id, aux_classifier=1.0, epochs=2)
    assert execute(child, resume=True) == "finished" and child.config().aux_classifier == 1.0
    with pytest.raises(ConfigError) as refused:
        store.fork(parent.id, aux_classifier=0.0, epochs=2)
    assert refused.value.errors == {"aux_classifier": "aux_classifier cannot be turned on or off in a fork: D's "
                                                      "classifier exists only while it is on (its weight can change)"}
    plain = store.create(tiny_config.replace(conditional=True, epochs=1))
    assert execute(plain) == "finished"
    with pytest.raises(ConfigError, match="aux_classifier cannot be turned on or off"):
        store.fork(plain.id, aux_classifier=0.5, epochs=2)
