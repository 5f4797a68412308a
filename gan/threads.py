"""torch's CPU threads that follow the machine's load.

On a CPU, torch runs each operator's parallel regions on ``torch.get_num_threads()`` OpenMP threads, one per core
by default, and a region ends only when its slowest thread does. When another process (a browser drawing the live
view, a second job) keeps one of two cores busy, each region waits for a thread that the kernel has descheduled:
``report-2019`` on two cores beside a process busy all the time trained at 5,510 images/s with two threads and
15,585 with one, while alone two threads are 1.26x faster than one (``python benchmarks/adaptive_threads.py``).

``ThreadGovernor`` measures, every ``window_s`` of training (the trainer asks after every step; between windows that
is one clock read), how many cores the rest of the machine used (the machine's busy time from ``/proc/stat`` less
this process's CPU time) and asks for as many threads as there are cores it leaves (a core counts as taken when more
than ``TAKEN`` of it was used), between 1 and the thread count the trainer started with. The two directions cost
differently, so they are not decided alike: a thread comes off after one busy window (two threads beside a busy core
crawl: in the dashboard, the page's redraw at the first evaluation left the training 21 steps in one second, 2,085
images/s, while the governor waited for a second window), and goes back after ``rise_after`` quiet windows in a row
(one thread alone costs about 13%) while the load lasts (its moving average is ``SUSTAINED`` or more), so a pause in
a lasting load does not flip it back; after a short load (a crawl beside a burst, or the first busy window), one
quiet window gives it back (``quick_rise``, session 33: three Train tabs refresh about every 0.5 s between them, so
two quiet windows in a row were rare and a 5-epoch job in the dashboard trained on one thread in 26-40% of its
windows, 14-15% with the quick rise; compared in random blocks of single jobs, ``benchmarks/governor_ab.py``, its
speed was within that method's noise, about 4%, beside every load tried and with three Train tabs). Whether two
threads crawl beside a busy core depends on the machine and on the load: on the AMD EPYC VMs this project measured
on they did (5,510 images/s against 15,585 with one), while on an Intel Xeon VM (sessions 26 and 27) two threads
beside three Train tabs' short redraw bursts kept 87% of their speed alone and one thread alone has 77%, so taking a
thread off at every burst cost 12% there (``refresh3`` in the benchmark: 39,187 images/s against 44,082 keeping
two). So a busy window takes a thread off only when the load lasts (its moving average over about a second is
``SUSTAINED`` of a core or more), or when the training crawled in it (slower than ``CRAWL`` of what the same thread
count trains at in quiet windows, a moving average the governor keeps per thread count), or before any quiet window
has been measured; a short burst beside which the training keeps going leaves the threads as they are. The trainer
uses it only for the hand-written float32 step of the report's model, whose numbers do not depend on the thread
count where the matrix products' do (Intel MKL's in its strict reproducible mode, which ``gan`` sets; ``for_device``
checks it and gives no governor otherwise; ``tests/test_threads.py`` trains with 1 and 2 threads and compares the
bits); convolutions do (``dcgan`` differs by 1e-5 after 6 steps), so other steps keep their thread count, and a run
stays a function of its seed. Off Linux, in a container that sees fewer cores than ``/proc/stat`` lists, or on a
GPU, the thread count stays as it is; the trainer also leaves it alone with ``GAN_ADAPTIVE_THREADS=0``.
"""

from __future__ import annotations

import functools
import math
import os
import time
from pathlib import Path

TICK = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
# a core counts as taken when the rest of the machine used more than this share of it: what it uses is less than
# what it asks for while it competes with our threads (a process busy 2/3 of the time beside two training threads
# measured about 0.4 core), and one thread was as fast as two beside a process busy 40% of the time
TAKEN = 0.25
LEARN = 0.25  # the weight of a new quiet window in its thread count's rate (an exponential moving average)
LOAD_WEIGHT = 0.2  # the weight of a new window in the load's moving average (about a second of 0.25 s windows)
SUSTAINED = 0.4  # cores of load, on average, from which fewer threads pay even when the training does not crawl
CRAWL = 0.5  # a window slower than this share of the quiet rate: the threads crawl, fewer at once


def machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores; None where unknown."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest time is inside user)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (total - idle) * TICK, total * TICK


def process_cpu_seconds() -> float:
    """This process's CPU seconds, every thread (the training thread, torch's OpenMP threads, the rest)."""
    times = os.times()
    return times.user + times.system


def machine_cores() -> int | None:
    """The cores ``/proc/stat`` sums over, if this process may run on all of them (else None: a container or an
    affinity mask would make the machine's busy time not ours to share)."""
    try:
        listed = sum(1 for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("cpu") and line[3:4].isdigit())
        usable = len(os.sched_getaffinity(0))
    except (OSError, AttributeError):
        return None
    return listed if listed == usable and listed > 0 else None


@functools.lru_cache(maxsize=None)
def _thread_local_setters():
    """``omp_set_num_threads`` and MKL's ``MKL_Set_Num_Threads_Local`` as torch's CPU library links them (through
    its handle, so the OpenMP runtime torch uses), or None where either is missing (another build of torch)."""
    import ctypes

    import torch

    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        omp, mkl = lib.omp_set_num_threads, lib.MKL_Set_Num_Threads_Local  # C's (mkl_set_..._local is Fortran's)
    except (OSError, AttributeError):
        return None
    omp.argtypes, omp.restype, mkl.argtypes, mkl.restype = [ctypes.c_int], None, [ctypes.c_int], ctypes.c_int
    return omp, mkl


def set_thread_count(threads: int) -> None:
    """torch's CPU thread count for the calling thread only. ``torch.set_num_threads`` also stores the count as the
    one every thread started later begins with, so a governor that had just taken a thread off (or a helper thread set
    to one) made a job started meanwhile train on one thread for its whole run, with no governor. OpenMP's count is
    per thread, and so is MKL's local one, which is what ``torch.set_num_threads`` sets besides; where torch's library
    does not export both, ``torch.set_num_threads``. A count the thread already has is left as it is."""
    import torch

    if torch.get_num_threads() == threads:  # also torch's first call in a thread, which sets its count: before ours
        return
    setters = _thread_local_setters()
    if setters is None:
        torch.set_num_threads(threads)
        return
    omp, mkl = setters
    omp(threads)
    mkl(threads)


# (rows, inner, columns) of matrix products the report's step makes at batch 100 (D's forward on 200 images, the
# gradient of G's output layer's input, G's output layer, D's first weight gradient), and two odd sizes
PROBES = ((200, 784, 128), (100, 784, 128), (100, 128, 784), (128, 200, 784), (64, 100, 128), (77, 300, 33))


@functools.lru_cache(maxsize=None)
def same_bits_across_threads(threads: int) -> bool:
    """Whether torch's matrix products give the same bits with one thread and with ``threads`` in this process
    (``F.linear`` with a bias, and ``mm`` of transposed operands, as the hand-written step forms them). Intel MKL
    does only in its strict reproducible mode (``MKL_CBWR``, which ``gan`` sets before torch's first product); a
    check of a few shapes, about 20 ms once per process and thread count, not a proof for every shape."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(m, k, generator=g), torch.randn(n, k, generator=g), torch.randn(n, generator=g))
             for m, k, n in PROBES]
    before = torch.get_num_threads()
    results = []
    try:
        for count in (1, threads):
            set_thread_count(count)
            products = []
            for x, w, b in cases:
                y = F.linear(x, w, b)
                products += [y, y.t().mm(x), y.mm(w)]
            results.append(products)
    finally:
        set_thread_count(before)
    return all(torch.equal(a, b) for a, b in zip(*results))


class ThreadGovernor:
    """How many threads torch should use now: as many as the cores the rest of the machine leaves, between 1 and
    ``max_threads``. ``update()`` is called from the training thread (between steps); it returns the
    new count when it changes, else None: fewer threads after one window that finds a core taken, more after
    ``rise_after`` windows in a row that agree on more (one, with ``quick_rise``, while the load's moving average
    is below ``SUSTAINED``; False: always ``rise_after``, the policy before session 33). ``measured``: a busy
    window takes threads off only when the training was slower in it than the fewer threads are with the machine
    to themselves (False: whenever a core is taken, the policy before session 26)."""

    def __init__(self, max_threads: int, cores: int, *, window_s: float = 0.25, rise_after: int = 2,
                 measured: bool = True, quick_rise: bool = True, machine=machine_cpu_seconds,
                 own=process_cpu_seconds, clock=time.monotonic):
        self.max_threads, self.cores, self.window_s, self.rise_after = max_threads, cores, window_s, rise_after
        self.measured, self.quick_rise = measured, quick_rise
        self.machine, self.own, self.clock = machine, own, clock
        self.threads = max_threads
        self.others = 0.0  # cores the rest of the machine used in the last window
        self.rate = 0.0  # steps per second in the last window
        self.load = 0.0  # cores the rest of the machine used, a moving average over the windows
        self.quiet: dict[int, float] = {}  # steps per second in quiet windows, by thread count (moving averages)
        self._wanted = max_threads
        self._agreeing = 0  # windows in a row that wanted ``_wanted``
        self._steps = 0  # since the window began
        self._mark = None

    @classmethod
    def for_device(cls, device, threads: int) -> "ThreadGovernor | None":
        """A governor for a trainer on ``device`` that starts with ``threads``; None where it would not apply."""
        if device.type != "cpu" or threads < 2:
            return None
        cores = machine_cores()
        if cores is None or machine_cpu_seconds() is None or not same_bits_across_threads(threads):
            return None
        return cls(threads, cores)

    def start(self) -> None:
        """Begin a window now (at the start of training, and after a pause: idle time is no measure)."""
        machine = self.machine()
        self._mark = None if machine is None else (self.clock(), machine, self.own())
        self._steps = 0

    def _worth_fewer(self) -> bool:
        """Whether a window that found a core taken should take threads off: the load has lasted (its moving
        average over about a second is ``SUSTAINED`` of a core or more), or the training crawled in it (below
        ``CRAWL`` of its quiet rate), or there is no quiet rate yet to tell."""
        full = self.quiet.get(self.threads)
        return full is None or self.load >= SUSTAINED or self.rate < CRAWL * full

    def update(self, steps: int = 1) -> int | None:
        """After ``steps`` training steps (the trainer calls it after each): the new thread count, or None."""
        if self._mark is None:
            self.start()
            return None
        self._steps += steps
        now = self.clock()
        if now - self._mark[0] < self.window_s:
            return None
        machine, own = self.machine(), self.own()
        if machine is None:
            return None
        (then, (busy0, _), own0) = self._mark
        self._mark, steps, self._steps = (now, machine, own), self._steps, 0
        self.others = max(0.0, (machine[0] - busy0) - (own - own0)) / (now - then)
        self.rate = steps / (now - then)
        taken = max(0, math.ceil(self.others - TAKEN))  # cores the rest of the machine keeps busy
        wanted = min(self.max_threads, max(1, self.cores - taken))
        if taken == 0:  # what this thread count trains at with the machine to itself
            known = self.quiet.get(self.threads)
            self.quiet[self.threads] = self.rate if known is None else known + LEARN * (self.rate - known)
        self.load += LOAD_WEIGHT * (self.others - self.load)
        if wanted < self.threads and self.measured and not self._worth_fewer():
            wanted = self.threads  # a burst, not a load, and no crawl: these threads stay
        self._agreeing = self._agreeing + 1 if wanted == self._wanted else 1
        self._wanted = wanted
        rise_after = 1 if self.quick_rise and self.load < SUSTAINED else self.rise_after
        if wanted < self.threads or (wanted > self.threads and self._agreeing >= rise_after):
            self.threads = wanted
            return wanted
        return None
