"""torch's CPU threads that follow the machine's load (gan.threads): the policy, and that it changes no bit."""

import pytest
import torch

from gan.config import preset
from gan.threads import TAKEN, ThreadGovernor, machine_cores, machine_cpu_seconds, process_cpu_seconds
from gan.trainer import Trainer


class Machine:
    """A scripted machine: each window, the rest of it uses ``others`` cores and this process ``own`` cores."""

    def __init__(self):
        self.now, self.busy, self.mine = 0.0, 0.0, 0.0

    def window(self, others: float, own: float = 1.5, seconds: float = 0.25):
        self.now += seconds
        self.busy += (others + own) * seconds
        self.mine += own * seconds

    def governor(self, max_threads=2, cores=2):
        return ThreadGovernor(max_threads, cores, machine=lambda: (self.busy, 2 * self.now), own=lambda: self.mine,
                              clock=lambda: self.now)


def test_the_governor_takes_a_thread_off_after_one_busy_window_and_gives_it_back_after_two_quiet_ones():
    m = Machine()
    g = m.governor()
    assert g.update() is None  # the first call only starts a window
    answers = []
    for others in (0.05, 0.9, 0.05, 0.9, 0.9, 0.6, 0.4, 0.1, 0.1, 0.0):
        m.window(others)
        answers.append(g.update())
        assert g.others == pytest.approx(others)
    # a busy window takes a thread off at once (two threads beside a busy core crawl); one quiet window between
    # busy ones gives nothing back, two do; 0.4 of a core is a core taken, 0.1 is not
    assert answers == [None, 1, None, None, None, None, None, None, 2, None]
    assert g.threads == 2


def test_the_governor_waits_for_a_whole_window_and_keeps_between_one_and_its_maximum():
    m = Machine()
    g = m.governor(max_threads=4, cores=4)
    g.start()
    m.window(3.0, seconds=0.2)
    assert g.update() is None and g.others == 0.0  # 0.2 s is not a window yet: nothing measured
    m.window(3.0, seconds=0.4)
    assert g.update() == 1  # three of four cores taken
    m.window(3.9)
    assert g.update() is None and g.threads == 1  # four taken: still one thread
    for others in (TAKEN + 0.05, TAKEN + 0.05):
        m.window(others)
        answer = g.update()
    assert answer == 3
    for _ in range(2):
        m.window(0.0)
        answer = g.update()
    assert answer == 4 and g.threads == 4


def test_the_governor_applies_only_where_it_can_measure_and_may_act(monkeypatch):
    assert ThreadGovernor.for_device(torch.device("cuda"), 2) is None
    assert ThreadGovernor.for_device(torch.device("cpu"), 1) is None
    governor = ThreadGovernor.for_device(torch.device("cpu"), 2)
    assert (governor is not None) == (machine_cores() is not None)  # Linux, all of /proc/stat's cores usable
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    report = preset("report-2019", train_images=64, batch_size=64, device="cpu")
    assert (Trainer(report, images=images).governor is not None) == (governor is not None)
    monkeypatch.setenv("GAN_ADAPTIVE_THREADS", "0")
    assert Trainer(report, images=images).governor is None
    monkeypatch.delenv("GAN_ADAPTIVE_THREADS")
    busy, total = machine_cpu_seconds()
    assert 0 <= busy <= total and process_cpu_seconds() > 0
    # only the hand-written step: convolutions' numbers depend on the thread count
    assert Trainer(preset("dcgan", train_images=64, device="cpu"), images=torch.zeros(64, 28, 28, dtype=torch.uint8)
                   ).governor is None


def _trained(config, images, governor_script=None):
    trainer = Trainer(config, images=images, log_every=2)  # five flushes an epoch
    seen = {"train": set(), "snapshot": set()}
    if governor_script is not None:
        m = Machine()
        trainer.governor = m.governor()
        loads = iter(governor_script)

        def on_log(trainer, rows):
            seen["train"].add(torch.get_num_threads())
            m.window(next(loads, 0.0))  # the next flush sees this window

        trainer.add_callback("on_log", on_log)
        trainer.add_callback("on_snapshot", lambda trainer, epoch, images: seen["snapshot"].add(torch.get_num_threads()))
    assert trainer.run() == "finished"
    return trainer, seen


def test_training_while_the_threads_change_gives_the_same_bits_and_the_process_keeps_its_count(mnist_train):
    torch.set_num_threads(2)
    config = preset("report-2019", epochs=3, train_images=1000, device="cpu", eval_samples=0, snapshot_epochs=(0, 2, 3))
    images = mnist_train[0][:1000]
    fixed, _ = _trained(config, images)
    fixed_weights = [p.detach().clone() for p in (*fixed.G.parameters(), *fixed.D.parameters())]
    assert fixed.accel.hand
    # busy for the first 8 of its 15 flushes (the snapshot at epoch 2 comes at the 10th), then quiet: 2 -> 1 -> 2
    governed, seen = _trained(config, images, governor_script=[0.9] * 8 + [0.0] * 30)
    assert seen["train"] == {1, 2}, "the scripted load should have taken a thread off and given it back"
    assert seen["snapshot"] == {2}  # snapshots and their evaluations run with the count the trainer started with
    assert torch.get_num_threads() == 2
    for a, b in zip(fixed_weights, (*governed.G.parameters(), *governed.D.parameters())):
        assert torch.equal(a, b)
    assert torch.equal(fixed.generator.get_state(), governed.generator.get_state())
    # busy to the end: the run ends with one thread, the process gets its two back
    _, seen = _trained(config, images, governor_script=[0.9] * 30)
    assert 1 in seen["train"] and torch.get_num_threads() == 2
