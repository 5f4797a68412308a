import time

import pytest

from gan.config import ConfigError
from gan.runner import JobRunner
from gan.store import RunStore
from helpers import wait_for


@pytest.fixture
def runner(runs_dir):
    runner = JobRunner(RunStore())
    yield runner
    runner.shutdown()


def test_background_job_trains_to_the_end(runner, tiny_config):
    run_id = runner.start(tiny_config)
    progress = runner.wait(run_id, timeout=60)
    assert progress.status == "finished" and progress.epoch == 2 and progress.fraction == 1.0
    assert progress.grid is not None and progress.grid_epoch == 2
    assert set(progress.metrics) >= {"d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake"}
    assert runner.store.open(run_id).info()["status"] == "finished"


def test_pause_resume_stop(runner, tiny_config):
    config = tiny_config.replace(epochs=200)
    run_id = runner.start(config)
    wait_for(lambda: runner.progress(run_id).step > 0)
    runner.pause(run_id)
    wait_for(lambda: runner.progress(run_id).status == "paused")
    run = runner.store.open(run_id)
    assert run.info()["status"] == "paused"
    paused_at = runner.progress(run_id).step
    time.sleep(0.3)
    assert runner.progress(run_id).step == paused_at  # really paused
    runner.resume(run_id, lr_d=1e-4)
    wait_for(lambda: runner.progress(run_id).step > paused_at)
    runner.stop(run_id)
    progress = runner.wait(run_id, timeout=30)
    assert progress.status == "stopped"
    info = run.info()
    assert info["status"] == "stopped" and info["step"] == progress.step
    assert run.load_checkpoint()["step"] == progress.step  # stop wrote a checkpoint
    assert run.config().lr_d == 1e-4
    assert [e["kind"] for e in run.events()] == ["pause", "resume"]
    assert run.events()[1]["detail"] == {"lr_d": 1e-4}


def test_a_job_paused_while_it_starts_pauses_before_its_first_step(runner, tiny_config):
    run_id = runner.start(tiny_config.replace(epochs=200))
    assert runner.progress(run_id).status == "starting"  # the Train page offers Pause from here
    runner.pause(run_id)
    wait_for(lambda: runner.progress(run_id).status == "paused")
    time.sleep(0.3)
    assert runner.progress(run_id).step == 0 and runner.store.open(run_id).info()["status"] == "paused"
    runner.resume(run_id)
    wait_for(lambda: runner.progress(run_id).step > 0)
    runner.stop(run_id)
    assert runner.wait(run_id, timeout=30).status == "stopped"


def test_resume_with_an_invalid_learning_rate_names_the_field(runner, tiny_config):
    run_id = runner.start(tiny_config.replace(epochs=200))
    runner.pause(run_id)
    with pytest.raises(ConfigError, match="lr_g must be in"):
        runner.resume(run_id, lr_g=5.0)
    runner.stop(run_id)


def test_exception_in_training_marks_the_run_failed_with_the_message(runner, tiny_config, tmp_path):
    run_id = runner.start(tiny_config.replace(data_dir=str(tmp_path / "no-mnist-here")))
    progress = runner.wait(run_id, timeout=30)
    assert progress.status == "failed" and "train-images-idx3-ubyte" in progress.message
    info = runner.store.open(run_id).info()
    assert info["status"] == "failed" and "DataError" in info["message"]


def test_a_stopped_run_continues_for_more_epochs(runner, tiny_config):
    run_id = runner.start(tiny_config.replace(epochs=1))
    runner.wait(run_id, timeout=60)
    runner.continue_run(run_id, epochs=3)
    progress = runner.wait(run_id, timeout=60)
    assert progress.status == "finished" and progress.epoch == 3
    run = runner.store.open(run_id)
    steps = run.steps()["step"]
    assert list(steps) == list(range(1, 3 * tiny_config.steps_per_epoch + 1))


def test_two_jobs_train_at_the_same_time_by_default(runner, tiny_config):
    ids = [runner.start(tiny_config.replace(epochs=200, seed=s)) for s in range(2)]
    steps = lambda: [runner.progress(i).step for i in ids]  # noqa: E731
    wait_for(lambda: min(steps()) > 0, timeout=30, message="both jobs to take steps")
    before = steps()
    wait_for(lambda: all(now > then for now, then in zip(steps(), before)), timeout=30, message="both to go on")
    assert [runner.progress(i).status for i in ids] == ["running", "running"] and runner.queued() == []
    assert {p.run_id for p in runner.jobs()} == set(ids)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.5", "65"])
def test_a_bad_max_jobs_setting_names_the_variable_and_its_range(value, monkeypatch):
    monkeypatch.setenv("GAN_MAX_JOBS", value)
    with pytest.raises(ValueError, match=r"GAN_MAX_JOBS must be a whole number in \[1, 64\].*got '"):
        JobRunner(RunStore())


@pytest.mark.parametrize("value, jobs", [(None, 2), ("", 2), ("1", 1), (" 3 ", 3), ("64", 64)])
def test_max_jobs_comes_from_the_environment_or_defaults_to_two(value, jobs, monkeypatch):
    if value is None:
        monkeypatch.delenv("GAN_MAX_JOBS", raising=False)
    else:
        monkeypatch.setenv("GAN_MAX_JOBS", value)
    assert JobRunner(RunStore()).max_jobs == jobs
