"""torch's CPU threads that follow the machine's load (gan.threads): the policy, and that it changes no bit."""

import os
import threading

import pytest
import torch
import torch.nn.functional as F

from gan.config import preset
from gan.threads import (CRAWL, LEARN, SUSTAINED, TAKEN, ThreadGovernor, machine_cores, machine_cpu_seconds,
                         process_cpu_seconds, same_bits_across_threads, set_thread_count)
from gan.trainer import Trainer
from helpers import count_in_a_new_thread


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


def test_the_governor_takes_a_thread_off_after_one_window_that_crawled_and_gives_it_back_after_one_quiet_one():
    m = Machine()
    g = m.governor()
    assert g.update() is None  # the first call only starts a window
    answers = []
    # (cores the rest of the machine used, steps in the window): 100 steps a window with two threads alone, 30
    # when they crawl beside a busy core, 80 with one thread
    for others, steps in ((0.05, 100), (0.9, 30), (0.05, 80), (0.9, 80), (0.9, 80), (0.6, 80), (0.4, 80), (0.1, 80),
                          (0.1, 100), (0.0, 100)):
        m.window(others)
        answers.append(g.update(steps))
        assert g.others == pytest.approx(others) and g.rate == pytest.approx(4 * steps)
    # a busy window in which the training crawled takes a thread off at once, and the next quiet window gives it
    # back (the load's moving average, 0.16, is short of SUSTAINED); a busy window without a crawl takes nothing
    # off until the load lasts (its average 0.43 in the fifth window); then quiet windows give the thread back one
    # at a time once the average is below SUSTAINED again (0.38 after the first 0.1); 0.4 of a core is a core
    # taken, 0.1 is not
    assert answers == [None, 1, 2, None, 1, None, None, 2, None, None]
    assert g.threads == 2
    assert g.quiet == {2: pytest.approx(400), 1: pytest.approx(320)}


# (cores the rest of the machine used, steps in a 0.25-s window), as the test before session 33 had it: 80 steps
# while the old policy kept one thread
SCRIPT = ((0.05, 100), (0.9, 30), (0.05, 80), (0.9, 80), (0.9, 80), (0.6, 80), (0.4, 80), (0.1, 80), (0.1, 80),
          (0.0, 100))


def test_without_the_quick_rise_a_thread_comes_back_only_after_two_quiet_windows_in_a_row():
    m = Machine()
    g = ThreadGovernor(2, 2, quick_rise=False, machine=lambda: (m.busy, 2 * m.now), own=lambda: m.mine,
                       clock=lambda: m.now)
    g.update()
    answers = []
    for others, steps in SCRIPT:
        m.window(others)
        answers.append(g.update(steps))
    # the policy before session 33: one quiet window between busy ones gives nothing back, two do
    assert answers == [None, 1, None, None, None, None, None, None, 2, None]


def test_after_a_lasting_load_a_thread_comes_back_only_after_two_quiet_windows():
    m = Machine()
    g = m.governor()
    g.start()
    m.window(0.0)
    g.update(100)
    answers = []
    for _ in range(6):  # another process busy all the time: a thread off, its average climbs past SUSTAINED
        m.window(1.0)
        answers.append(g.update(30 if g.threads == 2 else 80))  # two threads crawl beside it
    assert answers == [1, None, None, None, None, None] and g.load >= SUSTAINED
    m.window(0.0)
    assert g.update(80) is None and g.load >= SUSTAINED  # a pause in a lasting load: the thread stays off
    m.window(0.0)
    assert g.update(80) == 2


def test_a_burst_takes_no_thread_off_unless_the_training_crawls_in_it_or_the_load_lasts():
    m = Machine()
    g = m.governor()
    g.start()
    m.window(0.9)
    assert g.update(100) == 1  # before any quiet window there is nothing to compare with: off at once
    m.window(0.0)
    assert g.update(80) == 2  # a load of one window: the next quiet one gives the thread back
    # quiet windows: a moving average of the rate, LEARN the newest's weight
    for steps in (100, 60, 100, 100, 100, 100, 100, 100):
        m.window(0.0)
        g.update(steps)
    assert g.quiet == {1: pytest.approx(320), 2: pytest.approx(400 - 40 * (1 - LEARN) ** 6)}
    assert g.load == pytest.approx(0.2 * 0.9 * 0.8 ** 9)  # LOAD_WEIGHT 0.2: the busy window, then nine quiet ones
    full = g.quiet[2]
    # a burst: a core taken for one window, the training above CRAWL of its quiet rate in it: both threads stay
    m.window(0.9)
    assert g.update(CRAWL * full / 4 + 1) is None and g.threads == 2
    m.window(0.0)
    g.update(100)
    # the training crawled: off at once
    m.window(0.9)
    assert g.update(CRAWL * full / 4 - 1) == 1
    m.window(0.0)
    assert g.update(80) == 2
    # a load that lasts, without a crawl: off once its moving average reaches SUSTAINED of a core
    answers = []
    while len(answers) < 8 and g.threads == 2:
        m.window(0.6)
        answers.append(g.update(90))
    assert answers == [None, None, 1] and g.load >= SUSTAINED
    # the policy before session 26: any window that finds a core taken takes a thread off
    m = Machine()
    eager = ThreadGovernor(2, 2, measured=False, machine=lambda: (m.busy, 2 * m.now), own=lambda: m.mine,
                           clock=lambda: m.now)
    eager.start()
    m.window(0.0)
    eager.update(100)
    m.window(0.9)
    assert eager.update(100) == 1


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
    # Linux, all of /proc/stat's cores usable, and matrix products whose bits do not depend on the thread count
    assert (governor is not None) == (machine_cores() is not None and same_bits_across_threads(2))
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


def test_matrix_products_give_the_same_bits_at_any_thread_count_in_a_process_that_imported_gan_first():
    # gan sets MKL's strict reproducible mode before torch's first product (conftest imports gan first); without
    # it, an Intel Xeon's MKL gives report-2019's D forward different bits with one thread and with two
    if torch.backends.mkl.is_available():
        assert os.environ.get("MKL_CBWR") == "AUTO,STRICT"
        assert same_bits_across_threads(2)


def test_the_governor_stays_off_where_the_thread_count_changes_the_bits(monkeypatch):
    linear = F.linear

    def rounding_by_threads(x, w, b=None):  # an imitation of a BLAS whose rounding follows the thread count
        return linear(x, w, b) + (torch.get_num_threads() - 1) * 1e-6

    torch.set_num_threads(2)
    same_bits_across_threads.cache_clear()
    monkeypatch.setattr(F, "linear", rounding_by_threads)
    try:
        assert not same_bits_across_threads(2)
        assert ThreadGovernor.for_device(torch.device("cpu"), 2) is None
        assert torch.get_num_threads() == 2  # the check leaves the count as it found it
    finally:
        same_bits_across_threads.cache_clear()


def test_a_thread_count_set_by_gan_is_that_threads_alone():
    seen = {}
    ready, done = threading.Event(), threading.Event()

    def one_thread():
        set_thread_count(1)
        seen["set"] = torch.get_num_threads()
        ready.set()
        assert done.wait(30)
        seen["after"] = torch.get_num_threads()

    torch.set_num_threads(2)
    thread = threading.Thread(target=one_thread)
    thread.start()
    assert ready.wait(30)
    seen["new"], seen["main"] = count_in_a_new_thread(), torch.get_num_threads()
    done.set()
    thread.join()
    # torch.set_num_threads(1) there would have given the new thread 1: ATen keeps the last count set for new threads
    assert seen == {"set": 1, "after": 1, "new": 2, "main": 2}
    assert count_in_a_new_thread() == 2


def test_a_count_the_thread_already_has_is_not_set_again(monkeypatch):
    import gan.threads

    calls = []
    monkeypatch.setattr(gan.threads, "_thread_local_setters",
                        lambda: (lambda n: calls.append(("omp", n)), lambda n: calls.append(("mkl", n))))
    count = torch.get_num_threads()
    set_thread_count(count)  # the trainer calls it at every snapshot and at the end of a run: nothing to do there
    assert calls == []
    set_thread_count(count + 1)
    assert calls == [("omp", count + 1), ("mkl", count + 1)]


def _trained(config, images, governor_script=None):
    trainer = Trainer(config, images=images, log_every=2)  # five flushes an epoch
    seen = {"train": set(), "snapshot": set(), "new": set()}
    if governor_script is not None:
        m = Machine()
        trainer.governor = m.governor()
        loads = iter(governor_script)

        def on_log(trainer, rows):
            seen["train"].add(torch.get_num_threads())
            seen["new"].add(count_in_a_new_thread())  # a job started now, say
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
    assert seen["new"] == {2}  # a thread started meanwhile (a second job) starts with the process's count
    assert seen["snapshot"] == {2}  # snapshots and their evaluations run with the count the trainer started with
    assert torch.get_num_threads() == 2
    for a, b in zip(fixed_weights, (*governed.G.parameters(), *governed.D.parameters())):
        assert torch.equal(a, b)
    assert torch.equal(fixed.generator.get_state(), governed.generator.get_state())
    # busy to the end: the run ends with one thread, the process gets its two back
    _, seen = _trained(config, images, governor_script=[0.9] * 30)
    assert 1 in seen["train"] and torch.get_num_threads() == 2


def test_a_snapshot_is_no_measure_of_the_load(mnist_train):
    """A window that holds a snapshot's time would be learned as a slow quiet rate (the machine is quiet while this
    process evaluates), and a slower quiet rate makes the crawl rule blunter: each snapshot begins a new window."""
    torch.set_num_threads(2)
    config = preset("report-2019", epochs=3, train_images=1000, device="cpu", eval_samples=0, snapshot_epochs=(1, 2))

    def quiet_rates(snapshot_seconds):
        trainer = Trainer(config, images=mnist_train[0][:1000], log_every=2)
        m = Machine()
        trainer.governor = m.governor()
        trainer.add_callback("on_log", lambda trainer, rows: m.window(0.0))  # 2 steps a quarter second, machine quiet
        trainer.add_callback("on_snapshot", lambda trainer, epoch, images: m.window(0.0, seconds=snapshot_seconds))
        assert trainer.run() == "finished"
        return trainer.governor.quiet

    assert quiet_rates(10.0) == quiet_rates(0.0) == {2: pytest.approx(8.0, rel=0.15)}  # 2 steps a window, give or take a step


def test_the_policy_switch_gives_every_policy_one_block_per_cycle_and_applies_it():
    """benchmarks/policy_switch.py (governor_ab.py's A/B inside one job): each cycle gives every policy one block,
    with the governor's flag set or a fixed stand-in in its place, and the summary compares them cycle by cycle."""
    import threading
    import time

    from benchmarks.policy_switch import POLICIES, Fixed, PolicySwitch, summary

    m = Machine()
    trainer = type("T", (), {})()
    trainer.governor, trainer.step = m.governor(), 0
    seen, stop = [], threading.Event()

    def train():  # the training thread: steps, and which policy is in place at each
        while not stop.is_set():
            trainer.step += 1
            g = trainer.governor
            seen.append((time.perf_counter(), "fixed2" if isinstance(g, Fixed) else "quick" if g.quick_rise else "slow"))
            if isinstance(g, Fixed):
                assert g.update() in (None, 2) and g.threads == g.max_threads
            time.sleep(0.002)

    worker = threading.Thread(target=train)
    worker.start()
    switch = PolicySwitch(trainer, block_s=0.2, settle_s=0.05).start()
    time.sleep(1.5)
    blocks = switch.stop()
    stop.set()
    worker.join()
    cycles = {}
    for b in blocks:
        cycles.setdefault(b["cycle"], []).append(b["policy"])
        assert b["steps"] > 0 and b["stalled"] < 0.5
        assert {policy for t, policy in seen if b["start"] < t < b["end"]} == {b["policy"]}  # in place all the block
    assert len(cycles) >= 2 and all(sorted(p) == sorted(POLICIES) for c, p in cycles.items() if c < max(cycles))
    text = summary(blocks)
    assert "quick" in text and "/ slow: median" in text


def test_watch_vs_cli_gives_each_side_the_machine_in_turn(tmp_path):
    """benchmarks/watch_vs_cli.py (the dashboard's job against the CLI, taking turns): in each cycle every side gets one
    block while the others are stopped (real processes, SIGSTOP and SIGCONT), all run again afterwards, and the ratios
    leave out a cycle with a stalled block."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from watch_vs_cli import STALLED, Side, ratios, take_turns

    ticker = ("import sys, time\nn = 0\nwith open(sys.argv[1], 'a', buffering=1) as f:\n    while True:\n"
              "        n += 1\n        f.write(f'{n} {time.perf_counter()}\\n')\n        time.sleep(0.005)\n")

    class Log:  # the child's ticks stand for a run's logged steps
        def __init__(self, path):
            self.path = path

        def ticks(self) -> list[tuple[int, float]]:
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            return [(int(a), float(b)) for a, b in (line.split() for line in lines if line.count(" ") == 1)]

        def newest_step(self) -> int:
            ticks = self.ticks()
            return ticks[-1][0] if ticks else 0

        def rate(self, first: int, last: int) -> float:
            return float(last - first)

    logs = {name: Log(tmp_path / f"{name}.txt") for name in ("a", "b")}
    children = {name: subprocess.Popen([sys.executable, "-c", ticker, str(log.path)]) for name, log in logs.items()}
    try:
        while not all(log.newest_step() for log in logs.values()):
            time.sleep(0.05)
        sides = [Side(name, logs[name], lambda name=name: [children[name].pid]) for name in logs]
        blocks = take_turns(sides, cycles=3, block_s=0.5, settle_s=0.1)
        time.sleep(0.3)
        for name, log in logs.items():  # both run again after the last block
            assert log.ticks()[-1][1] > max(b["end"] for b in blocks) + 0.1, name
    finally:
        for child in children.values():
            child.kill()
    assert sorted((b["cycle"], b["side"]) for b in blocks) == [(c, s) for c in range(3) for s in ("a", "b")]
    for b in blocks:
        other = logs["b" if b["side"] == "a" else "a"]
        assert b["images_per_s"] > 10  # its own ticks went on
        assert not [t for _, t in other.ticks() if b["start"] < t < b["end"]]  # the other's stopped
    rated = [{"cycle": c, "side": s, "images_per_s": r, "stalled": stall} for c, s, r, stall in
             [(0, "a", 90.0, 0.0), (0, "b", 100.0, 0.0), (1, "a", 50.0, STALLED), (1, "b", 100.0, 0.0),
              (2, "b", 80.0, 0.0), (2, "a", 100.0, 0.1)]]
    assert ratios(rated, "a", "b") == [0.9, 1.25]


def test_watch_vs_cli_runner_side_trains_the_dashboards_kind_of_job_without_streamlit(tmp_path):
    """``--view runner``'s process: report-2019 trained by ``gan.runner.JobRunner`` (in a thread, as the dashboard
    does), logging steps to its store, with no Streamlit in the process."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from watch_vs_cli import RUNNER, StepLog

    from gan.store import RunStore

    code = RUNNER.replace("while runner.is_active(run_id):", "assert 'streamlit' not in sys.modules\n"
                          "print('training', flush=True)\nwhile runner.is_active(run_id):")
    assert code != RUNNER
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "training\n"
        log, deadline = StepLog(tmp_path), time.monotonic() + 60
        while log.newest_step() < 100:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.2)
        (info,) = RunStore(tmp_path).list()
        assert info["status"] == "running" and info["epochs"] == 1000 and info["config"]["family"] == "mlp"
    finally:
        child.kill()
        child.wait()


def test_hidden_contention_replays_a_record_in_windows_and_bounds_any_thread_policy():
    """benchmarks/hidden_contention.py's replay: each 0.25-s window takes the record's rate at that moment for the
    count the policy runs; the faster count at every moment is at least either fixed count."""
    from benchmarks.hidden_contention import replay

    # (seconds since the start, images/s at two threads, at one): two faster for the first second, one for the next
    rows = [(0.5, 40_000.0, 30_000.0), (1.0, 40_000.0, 30_000.0), (1.5, 20_000.0, 30_000.0), (2.0, 20_000.0, 30_000.0)]
    assert replay(rows, 2) == (pytest.approx(30_000), 0.0)
    assert replay(rows, 1) == (pytest.approx(30_000), 1.0)
    assert replay(rows, "best") == (pytest.approx(35_000), 0.5)
