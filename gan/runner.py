"""Training runs: in the foreground (``execute``, used by the CLI) or in background threads
(``JobRunner``, used by the dashboard). Both record into the run store through ``StoreWriter``."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from gan.alarms import Alarms
from gan.config import TrainConfig
from gan.evaluation import DiscriminatorProbe, Evaluator
from gan.images import grid_image
from gan.store import LIVE_STATUSES, Run, RunStore, StoreWriter
from gan.timing import eta_seconds
from gan.trainer import EVENTS, TrainControl, Trainer


def continue_config(run: Run, epochs: int | None) -> TrainConfig:
    """The run's config, extended to ``epochs`` in total if given (must exceed the epochs done)."""
    config = run.config()
    if epochs is None:
        return config
    done = run.info().get("epochs_done", 0)
    if epochs <= done:
        raise ValueError(f"epochs must be more than the {done} already done, got {epochs}")
    config = config.replace(epochs=epochs)
    run.write_config(config)
    return config


def execute(run: Run, *, resume: bool = False, control: TrainControl | None = None,
            callbacks: list[tuple[str, object]] = (), evaluate_beside: bool = True) -> str:
    """Train ``run`` in this thread (from its last checkpoint if ``resume``) and record it.

    ``evaluate_beside``: snapshot evaluations may run beside the training (``Trainer.beside``) and arrive
    during the next epoch; False keeps each in its snapshot, before the store's checkpoint of that epoch.

    Returns ``"finished"`` or ``"stopped"``; an exception marks the run failed and propagates.
    The run's owner lock is held throughout (a RuntimeError, with nothing written, if another
    process trains it).
    """
    run.claim()
    writer = None
    try:
        trainer = Trainer(run.config(), control=control)
        trainer.beside_ok = trainer.beside_ok and evaluate_beside
        if trainer.config.eval_samples:
            Evaluator(trainer)
        DiscriminatorProbe(trainer)
        Alarms(trainer)  # before the checkpoint loads: it holds the alarms already raised
        if resume:
            trainer.load_state_dict(run.load_checkpoint())
        writer = StoreWriter(run, trainer)
        for event, fn in callbacks:
            trainer.add_callback(event, fn)
        return trainer.run()
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}"
        if writer is not None:
            writer.finish("failed", message)
        else:
            run.write_info(status="failed", message=message, ended=time.time())
        raise
    finally:
        run.release()


ACTIVE = ("queued", "starting", "running", "paused")


@dataclass(frozen=True)
class Progress:
    """A consistent picture of one job, safe to read from any thread."""

    run_id: str
    status: str = "starting"
    epoch: int = 0  # epochs completed
    epochs: int = 0
    step: int = 0
    steps_total: int = 0
    images_per_s: float = 0.0
    eta_s: float | None = None
    metrics: dict = field(default_factory=dict)  # the latest step's
    grid: np.ndarray | None = None  # the latest fixed-noise grid, uint8 (H, W)
    grid_epoch: float | None = None  # fractional between snapshots (a live preview)
    evaluation: dict | None = None  # the latest snapshot's quality metrics, with its "epoch"
    alarms: tuple = ()  # alarms raised so far (gan.alarms)
    message: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        return self.step / self.steps_total if self.steps_total else 0.0


class Job:
    def __init__(self, run: Run):
        self.run = run
        self.control = TrainControl()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._progress = Progress(run_id=run.id)

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def update(self, **changes) -> None:
        with self._lock:
            self._progress = dataclasses.replace(self._progress, **changes)

    # trainer callbacks: they run in the training thread and only touch this job's progress
    def on_train_start(self, trainer) -> None:
        self.update(status="running", **_counts(trainer))

    def on_log(self, trainer, rows) -> None:
        counts = _counts(trainer)
        eta = eta_seconds(counts["steps_total"] - trainer.step, trainer.config.batch_size, trainer.images_per_s)
        self.update(metrics=rows[-1], images_per_s=trainer.images_per_s, eta_s=eta, **counts)

    def on_snapshot(self, trainer, epoch, images) -> None:
        self.update(grid=grid_image(images, trainer.config.grid_size), grid_epoch=epoch)

    on_preview = on_snapshot

    def on_evaluation(self, trainer, epoch, metrics) -> None:
        self.update(evaluation={**metrics, "epoch": epoch})

    def on_alarm(self, trainer, alarm) -> None:
        self.update(alarms=(*self.progress.alarms, alarm))

    def on_epoch_end(self, trainer) -> None:
        self.update(**_counts(trainer))

    def on_pause(self, trainer) -> None:
        self.update(status="paused", eta_s=None)

    def on_resume(self, trainer, changes) -> None:
        self.update(status="running")

    def on_train_end(self, trainer, status) -> None:
        self.update(status=status, eta_s=0.0 if status == "finished" else None, **_counts(trainer))

    def callbacks(self) -> list[tuple[str, object]]:
        return [(name, getattr(self, name)) for name in EVENTS if hasattr(self, name)]


def _counts(trainer) -> dict:
    c = trainer.config
    return dict(epoch=trainer.epoch, epochs=c.epochs, step=trainer.step, steps_total=c.epochs * c.steps_per_epoch)


MAX_JOBS_RANGE = (1, 64)


def default_max_jobs() -> int:
    """``$GAN_MAX_JOBS`` (default 2, one per core); anything but a whole number in range is a
    ValueError that names the variable, so the dashboard can say what to fix."""
    text = os.environ.get("GAN_MAX_JOBS", "").strip() or "2"
    low, high = MAX_JOBS_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"GAN_MAX_JOBS must be a whole number in [{low}, {high}] (jobs training at once), "
                         f"got {text!r:.40}")
    return int(text)


class JobRunner:
    """Background training jobs, one thread each, controlled by run id.

    At most ``max_jobs`` train at once (default ``$GAN_MAX_JOBS`` or 2, one per core); more wait
    in a queue, first come first served. The dashboard holds one runner per process; nothing here
    knows about Streamlit.
    """

    def __init__(self, store: RunStore | None = None, *, max_jobs: int | None = None):
        self.store = store or RunStore()
        self.max_jobs = max_jobs or default_max_jobs()
        self._jobs: dict[str, Job] = {}
        self._queue: list[tuple[Job, bool]] = []
        self._lock = threading.Lock()

    def start(self, config: TrainConfig) -> str:
        """Create a run for ``config`` and train it in the background; returns its id."""
        run = self.store.create(config)
        self._launch(run, resume=False)
        return run.id

    def continue_run(self, run_id: str, *, epochs: int | None = None) -> str:
        """Continue a stopped, interrupted or finished run from its last checkpoint."""
        run = self.store.open(run_id)
        if self.is_active(run_id) or run.info()["status"] in LIVE_STATUSES:
            raise RuntimeError(f"run {run_id} is already training")
        continue_config(run, epochs)
        self._launch(run, resume=(run.path / "checkpoints" / "last.pt").exists())
        return run_id

    def fork(self, parent_id: str, *, epoch: int | None = None, **changes) -> str:
        """Train a new run from ``parent_id``'s checkpoint at ``epoch`` with config ``changes``."""
        child = self.store.fork(parent_id, epoch=epoch, **changes)
        self._launch(child, resume=True)
        return child.id

    def _launch(self, run: Run, *, resume: bool) -> None:
        run.claim()  # held while queued and training: other processes see the job alive
        job = Job(run)
        with self._lock:
            self._jobs[run.id] = job
            running = sum(1 for j in self._jobs.values() if j.thread is not None and j.thread.is_alive())
            if running >= self.max_jobs:
                self._queue.append((job, resume))
                job.update(status="queued")
                run.write_info(status="queued", pid=os.getpid())
                return
            self._start(job, resume)

    def _start(self, job: Job, resume: bool) -> None:  # with self._lock held
        job.thread = threading.Thread(target=self._work, args=(job, resume), name=f"train-{job.run.id}", daemon=True)
        job.update(status="starting")
        job.thread.start()

    def _work(self, job: Job, resume: bool) -> None:
        try:
            execute(job.run, resume=resume, control=job.control, callbacks=job.callbacks())
        except Exception as exc:  # recorded in the store by execute; shown through the progress
            job.update(status="failed", message=f"{type(exc).__name__}: {exc}", eta_s=None)
        finally:
            job.run.release()
            with self._lock:
                if self._queue:
                    self._start(*self._queue.pop(0))

    def queued(self) -> list[str]:
        with self._lock:
            return [job.run.id for job, _ in self._queue]

    def _job(self, run_id: str) -> Job:
        with self._lock:
            if run_id not in self._jobs:
                raise KeyError(f"no job for run {run_id!r} in this process")
            return self._jobs[run_id]

    def pause(self, run_id: str) -> None:
        self._job(run_id).control.pause()

    def resume(self, run_id: str, *, lr_g: float | None = None, lr_d: float | None = None) -> None:
        """Resume a paused job; new learning rates (validated here) apply from its next step."""
        job = self._job(run_id)
        changes = {k: v for k, v in (("lr_g", lr_g), ("lr_d", lr_d)) if v is not None}
        if changes:
            job.run.config().replace(**changes)  # raises ConfigError naming the field
        job.control.resume(**changes)

    def stop(self, run_id: str) -> None:
        """Stop a job after its current step (a queued job leaves the queue untrained)."""
        job = self._job(run_id)
        with self._lock:
            waiting = [entry for entry in self._queue if entry[0] is job]
            for entry in waiting:
                self._queue.remove(entry)
        if waiting:
            job.update(status="stopped")
            job.run.write_info(status="stopped", ended=time.time())
            job.run.release()
        job.control.stop()

    def progress(self, run_id: str) -> Progress:
        return self._job(run_id).progress

    def has_job(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._jobs

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(run_id)
        return bool(job and (job.progress.active or (job.thread and job.thread.is_alive())))

    def jobs(self) -> list[Progress]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j.progress for j in jobs]

    def wait(self, run_id: str, timeout: float | None = None) -> Progress:
        """Block until the job has ended (or ``timeout``); returns its progress."""
        job = self._job(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while job.progress.status == "queued" and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)
        if job.thread is not None:
            job.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return job.progress

    def shutdown(self, timeout: float = 30.0) -> None:
        """Empty the queue, stop every job (each writes a checkpoint) and wait for the threads."""
        with self._lock:
            queued, self._queue = self._queue, []
            jobs = list(self._jobs.values())
        for job, _ in queued:
            job.update(status="stopped")
            job.run.write_info(status="stopped", ended=time.time())
            job.run.release()
        for job in jobs:
            job.control.stop()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))
