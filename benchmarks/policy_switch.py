"""Thread policies compared inside one training job, in random blocks, so that this VM's drift falls on all of them.

Used by ``governor_ab.py`` (an experiment, not part of the product): ``PolicySwitch(trainer)`` runs a thread that, in
each cycle, gives every policy one block of ``block_s`` seconds, in a random order, and counts the training's steps in
each block after ``settle_s`` (a switch's first moments belong to the policy before it). The policies:

- ``slow``: ``gan.threads.ThreadGovernor`` as the trainer made it, with ``quick_rise`` off (a thread goes back after
  ``rise_after`` quiet windows in a row, 2: the policy before session 33);
- ``quick``: the same governor with ``quick_rise`` on (back after one quiet window while the load's moving average is
  below ``SUSTAINED``: the default since session 33);
- ``fixed2``: no governor, torch's threads kept at the count the trainer started with.

The trainer asks ``trainer.governor`` after every step from the training thread; the switch only replaces that
attribute (or sets the governor's flag), and torch's thread count is changed only by the training thread (OpenMP's
count is per thread), through ``Fixed.update`` returning the count once.
"""

from __future__ import annotations

import json
import random
import threading
import time

POLICIES = ("slow", "quick", "fixed2")
BASELINE = "slow"  # the ratios are to it
SETTLE_S = 0.5  # seconds at the start of each block left out: they belong to the policy before it
STALLED = 0.5  # seconds without a step: the job evaluated, paused or ended in that block, which is left out


class Fixed:
    """A stand-in governor: the trainer's starting thread count, set once by the training thread, never changed."""

    def __init__(self, threads: int):
        self.threads = self.max_threads = threads
        self._told = False

    def start(self) -> None:
        pass

    def update(self, steps: int = 1) -> int | None:
        if self._told:
            return None
        self._told = True
        return self.max_threads


class PolicySwitch:
    def __init__(self, trainer, *, block_s: float = 3.0, settle_s: float = SETTLE_S, policies=POLICIES,
                 out: str | None = None, seed: int = 0):
        self.trainer, self.block_s, self.settle_s, self.policies = trainer, block_s, settle_s, tuple(policies)
        self.governor = trainer.governor
        self.out, self.rng = out, random.Random(seed)
        self.blocks: list[dict] = []  # policy, cycle, steps, seconds, fewer (share of samples below max threads)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="policy-switch")

    def start(self) -> "PolicySwitch":
        self.thread.start()
        return self

    def stop(self) -> list[dict]:
        self.stopped.set()
        self.thread.join()
        return self.blocks

    def _apply(self, policy: str) -> None:
        if policy == "fixed2":
            self.trainer.governor = Fixed(self.governor.max_threads)
            return
        self.governor.quick_rise = policy == "quick"
        if self.trainer.governor is not self.governor:  # after Fixed, the training thread runs the full count
            self.governor.threads = self.governor.max_threads
            self.governor.start()
            self.trainer.governor = self.governor

    def _run(self) -> None:
        cycle, first = 0, self.trainer.step
        while self.trainer.step == first:  # until the training's first step (a job evaluates epoch 0 first)
            if self.stopped.wait(0.05):
                return
        while not self.stopped.is_set():
            order = list(self.policies)
            self.rng.shuffle(order)
            for policy in order:
                self._apply(policy)
                if self.stopped.wait(self.settle_s):
                    return
                step0, t0 = self.trainer.step, time.perf_counter()
                samples = fewer = 0
                last_step, last_move, stalled = step0, t0, 0.0
                while time.perf_counter() - t0 < self.block_s - self.settle_s:
                    if self.stopped.wait(0.05):
                        return
                    governor, now, step = self.trainer.governor, time.perf_counter(), self.trainer.step
                    samples += 1
                    fewer += governor.threads < governor.max_threads
                    if step != last_step:
                        last_step, last_move = step, now
                    stalled = max(stalled, now - last_move)
                t1 = time.perf_counter()
                block = {"policy": policy, "cycle": cycle, "steps": self.trainer.step - step0, "start": t0,
                         "end": t1, "seconds": t1 - t0, "fewer": fewer / max(samples, 1),
                         "stalled": stalled}  # the longest time without a step: an evaluation, a checkpoint
                self.blocks.append(block)
                if self.out:
                    with open(self.out, "a") as f:
                        f.write(json.dumps(block) + "\n")
            cycle += 1


def summary(blocks: list[dict], batch: int = 100) -> str:
    """Per policy: median images/s over its blocks, and the median over cycles of its rate / the baseline's."""
    import statistics

    by_cycle: dict[int, dict[str, dict]] = {}
    for b in blocks:
        by_cycle.setdefault(b["cycle"], {})[b["policy"]] = b
    complete = [c for c in by_cycle.values() if len(c) == len({b["policy"] for b in blocks})
                and all(b["stalled"] < STALLED for b in c.values())]
    lines = [f"{len(complete)} complete cycles ({len(by_cycle) - len(complete)} left out: incomplete, or a block "
             f"with no step for {STALLED:g} s or more, such as an evaluation)"]
    for policy in sorted({b["policy"] for b in blocks}):
        rates = [c[policy]["steps"] * batch / c[policy]["seconds"] for c in complete]
        line = (f"{policy:8s} median {statistics.median(rates):9,.0f} images/s"
                f" (fewer threads {statistics.mean(c[policy]['fewer'] for c in complete):4.0%} of the time)")
        if complete and BASELINE in complete[0] and policy != BASELINE:
            base = [c[BASELINE]["steps"] / c[BASELINE]["seconds"] for c in complete]
            ratios = sorted(c[policy]["steps"] / c[policy]["seconds"] / b for c, b in zip(complete, base))
            q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
            line += f"  / {BASELINE}: median {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})"
        lines.append(line)
    return "\n".join(lines)
