"""Work handed off the training thread (``Trainer.beside``): a snapshot's evaluation runs beside the training."""

import threading

import pytest
import torch

from gan.config import preset
from gan.runner import execute
from gan.store import RunStore
from gan.threads import ThreadGovernor
from gan.trainer import Trainer
from helpers import count_in_a_new_thread


def _trainer(images, *, beside=True, epochs=2):
    """report-2019, small, with a governor on a quiet scripted machine (so not the host's load decides the count)."""
    torch.set_num_threads(2)
    config = preset("report-2019", epochs=epochs, train_images=1000, device="cpu", eval_samples=0,
                    snapshot_epochs=(0, epochs))
    trainer = Trainer(config, images=images[:1000], log_every=2)
    clock = {"now": 0.0}

    def machine():
        clock["now"] += 0.3
        return (0.0, 2 * clock["now"])

    trainer.governor = ThreadGovernor(2, 2, machine=machine, own=lambda: 0.0, clock=lambda: clock["now"])
    trainer.beside_ok = beside
    return trainer


def _record(trainer, seen, release_after_logs=2):
    """A listener that hands work off at the epoch-0 snapshot; the work waits until the training has logged
    ``release_after_logs`` times beside it, so steps surely run while it is pending."""
    release = threading.Event()
    if release_after_logs == 0:  # inline: nothing to wait for
        release.set()
    main = threading.current_thread()

    def work():
        seen.append(("work", threading.current_thread() is main, torch.get_num_threads()))
        assert release.wait(30)
        return 42

    def deliver(value):
        seen.append(("deliver", threading.current_thread() is main, value, trainer.epoch))

    def on_snapshot(trainer, epoch, images):
        seen.append(("snapshot", epoch))
        if epoch == 0:
            trainer.beside(work, deliver)

    def on_log(trainer, rows):
        pending = trainer._beside is not None
        seen.append(("log", pending, torch.get_num_threads()))
        if pending:  # a thread started now (a second job, say) starts with the process's count, not the helper's
            seen.append(("new thread", count_in_a_new_thread()))
        if pending and sum(1 for s in seen if s[:2] == ("log", True)) >= release_after_logs:
            release.set()

    trainer.add_callback("on_snapshot", on_snapshot)
    trainer.add_callback("on_log", on_log)
    trainer.add_callback("on_epoch_end", lambda trainer: seen.append(("epoch_end", trainer.epoch)))
    trainer.add_callback("on_train_end", lambda trainer, status: seen.append(("train_end", status)))
    return release


def test_work_beside_runs_on_a_helper_with_one_thread_and_is_delivered_on_the_training_thread_in_its_epoch(
        mnist_train):
    trainer, seen = _trainer(mnist_train[0]), []
    _record(trainer, seen)
    assert trainer.run() == "finished"
    work = next(s for s in seen if s[0] == "work")
    assert work == ("work", False, 1)  # a helper thread, one torch thread: no second OpenMP team
    deliver = seen.index(("deliver", True, 42, 0))  # on the training thread, during the first epoch
    assert deliver < seen.index(("epoch_end", 1))
    beside = [s[2] for s in seen[:deliver] if s[0] == "log"]
    after = [s[2] for s in seen[deliver:] if s[0] == "log"]
    assert len(beside) >= 2 and set(beside) == {1}, "the training should go on with a thread fewer beside the work"
    assert after and set(after) == {2}  # and have its threads back once the work is delivered
    assert {s[1] for s in seen if s[0] == "new thread"} == {2}
    assert torch.get_num_threads() == 2


def test_training_beside_the_work_gives_the_same_bits_as_without(mnist_train):
    weights = []
    for beside in (True, False):
        trainer, seen = _trainer(mnist_train[0], beside=beside), []
        _record(trainer, seen, release_after_logs=1 if beside else 0)
        assert trainer.run() == "finished"
        assert any(s[0] == "log" and s[1] for s in seen) == beside
        weights.append([p.detach().clone() for p in (*trainer.G.parameters(), *trainer.D.parameters())])
    for a, b in zip(*weights):
        assert torch.equal(a, b)


def test_without_training_after_it_or_outside_run_the_work_is_done_at_once_on_the_training_thread(mnist_train):
    trainer, seen = _trainer(mnist_train[0], epochs=1), []
    main = threading.current_thread()
    trainer.add_callback("on_snapshot", lambda trainer, epoch, images: trainer.beside(
        lambda: threading.current_thread() is main, lambda here: seen.append((epoch, here, trainer._beside))))
    trainer.snapshot()  # outside run()
    assert trainer.run() == "finished"
    # epoch 0 beside the training; epoch 1, the last, at once (nothing to hide it behind)
    assert seen == [(0, True, None), (0, False, None), (1, True, None)]


def test_an_error_in_the_work_fails_the_run_and_the_process_keeps_its_threads(mnist_train):
    trainer = _trainer(mnist_train[0])

    def broken():
        raise ValueError("scores failed")

    trainer.add_callback("on_snapshot", lambda trainer, epoch, images: trainer.beside(broken, lambda value: None))
    with pytest.raises(ValueError, match="scores failed"):
        trainer.run()
    assert trainer._beside is None and torch.get_num_threads() == 2


@pytest.mark.parametrize("request_", ["pause", "stop"])
def test_a_pause_or_a_stop_delivers_the_pending_work_first(mnist_train, request_):
    trainer, seen = _trainer(mnist_train[0], epochs=3), []
    release = _record(trainer, seen, release_after_logs=10**6)  # released by the request below

    def on_log(trainer, rows):
        if trainer._beside is not None:
            getattr(trainer.control, request_)()
            release.set()

    trainer.add_callback("on_log", on_log)
    trainer.add_callback("on_pause", lambda trainer: (seen.append(("pause",)), trainer.control.stop()))
    assert trainer.run() == "stopped"
    kinds = [s[0] for s in seen]
    assert kinds.index("deliver") < kinds.index("pause" if request_ == "pause" else "train_end")
    assert "epoch_end" not in kinds and kinds.count("deliver") == 1


def test_a_run_evaluates_beside_the_training_with_the_same_scores_and_a_sweep_keeps_them_in_the_snapshot(
        tiny_config, runs_dir):
    torch.set_num_threads(2)
    config = tiny_config.replace(eval_samples=200, snapshot_epochs=(0, 2))
    scores, orders = [], []
    for beside in (True, False):
        order = []
        callbacks = [("on_snapshot", lambda trainer, epoch, images: order.append(("snapshot", epoch))),
                     ("on_evaluation", lambda trainer, epoch, metrics: order.append(("evaluation", epoch)))]
        run = RunStore().create(config)
        assert execute(run, callbacks=callbacks, evaluate_beside=beside) == "finished"
        scores.append(run.evaluations())
        orders.append(order)
    assert scores[0] == scores[1] and sorted(scores[0]) == [0, 2]
    # inline (a sweep's trials): each evaluation before the listeners that follow the snapshot's; beside the
    # training, epoch 0's arrives after them (the last, with nothing to hide it behind, stays inline)
    assert orders[1] == [("evaluation", 0), ("snapshot", 0), ("evaluation", 2), ("snapshot", 2)]
    assert orders[0] == [("snapshot", 0), ("evaluation", 0), ("evaluation", 2), ("snapshot", 2)]
