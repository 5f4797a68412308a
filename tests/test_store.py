import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gan.runner import execute
from gan.files import atomic_write
from gan.store import RunNotFound, RunStore


def test_a_short_run_writes_a_complete_run_that_another_process_reads(tiny_config, runs_dir):
    store = RunStore()
    run = store.create(tiny_config)
    assert execute(run) == "finished"
    script = f"""
import json
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
    assert run.steps() == {} and run.events() == [] and run.evaluations() == {}
    assert run.info()["status"] == "created"


def test_list_never_sees_a_run_half_created_or_half_deleted(tiny_config, runs_dir):
    # CI once listed a run whose folder existed before its run.json did; runs now appear and vanish whole
    import threading

    store = RunStore()
    done = threading.Event()
    seen = []

    def churn():
        for _ in range(40):
            run = store.create(tiny_config)
            store.delete(run.id)
        done.set()

    worker = threading.Thread(target=churn)
    worker.start()
    while not done.is_set():
        seen.extend(store.list())
    worker.join()
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
