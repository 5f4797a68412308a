"""The run store: a folder per run, no server.

    runs/<run id>/
        config.json          the TrainConfig
        run.json             status, progress, owner pid, heartbeat, lineage
        owner.lock           flock-ed by the process training (or queueing) the run, for as long as it does
        metrics.sqlite       per-step metrics and events (SQLite in WAL mode: readers never block the writer)
        snapshots/epoch-0005.png, epoch-0005.npy    the fixed-noise grid and the raw generator output
        snapshots/epoch-0005-discriminator.json     D's outputs on fixed real and fake images
        checkpoints/last.pt, epoch-0005.pt          loadable with torch.load(..., weights_only=True)

Every file is written to a temporary name and renamed into place, so a crash never leaves one
half-written. The root is ``runs/`` or ``$GAN_RUNS_DIR``.

Whether a run marked running still has an owner is read from ``owner.lock``: the kernel releases
an advisory lock when its process dies, even by ``kill -9``, so a free lock means the owner is gone
at once, and a reused process id cannot make a dead run look alive.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
import zipfile
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from gan.config import ConfigError, TrainConfig
from gan.files import atomic_write
from gan.images import grid_image, npy_bytes, png_bytes
from gan.trainer import EVENTS

LIVE_STATUSES = ("queued", "running", "paused")
# fields that shape the weights: a fork must keep them
ARCHITECTURE_FIELDS = ("family", "conditional", "clusters", "noise_dim", "hidden", "dense", "spectral_norm")  # spectral_norm: D's weights are stored reparametrised
HEARTBEAT_TIMEOUT_S = 120.0  # a live run writes run.json at least every few seconds
PROGRESS_SECONDS = 1.0  # while training, run.json's progress is rewritten at most this often between epochs
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DISCRIMINATOR_SUFFIX = "-discriminator.json"  # snapshots/epoch-NNNN-discriminator.json
STAGING_PREFIX = ".staging-"  # never a valid run id, so list() skips it
STALE_STAGING_S = 3600.0
OWNER_LOCK = "owner.lock"
_OWNED: dict[str, tuple[int, int]] = {}  # owner.lock path -> (descriptor, claims in this process)
_OWNED_LOCK = threading.Lock()


class RunNotFound(KeyError):
    def __str__(self):
        return self.args[0]


def default_root() -> Path:
    return Path(os.environ.get("GAN_RUNS_DIR") or "runs")


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else default_root()

    def path_of(self, run_id: str) -> Path:
        """The folder of ``run_id``; ids that could leave the root are refused."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise RunNotFound(f"invalid run id {run_id!r}: letters, digits, '.', '_' and '-' only")
        path = (self.root / run_id).resolve()
        if path.parent != self.root.resolve():
            raise RunNotFound(f"invalid run id {run_id!r}")
        return path

    def create(self, config: TrainConfig, *, parent: dict | None = None, fill=None) -> "Run":
        """A new run. It is built in a hidden staging folder and renamed into place in one step, so
        ``list()`` never sees a run without its config.json and run.json. ``fill(run)``, if given,
        writes more files (a fork's checkpoint and history) before the run becomes visible."""
        config.validate()
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_staging()
        while True:
            run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.family}-{secrets.token_hex(2)}"
            staging = self.root / f"{STAGING_PREFIX}{run_id}"
            try:
                staging.mkdir()
            except FileExistsError:
                continue
            try:
                run = Run(staging)
                run.id = run_id
                atomic_write(staging / "config.json", config.to_json().encode())
                run.write_info(
                    status="created", created=time.time(), epochs_done=0, step=0, epochs=config.epochs,
                    train_seconds=0.0, parent=parent, message="",
                )
                if fill is not None:
                    fill(run)
                if self.path_of(run_id).exists():
                    raise FileExistsError(run_id)
                os.rename(staging, self.path_of(run_id))
            except FileExistsError:
                shutil.rmtree(staging, ignore_errors=True)
                continue
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            return Run(self.path_of(run_id))

    def _remove_stale_staging(self) -> None:
        """Staging folders left by a process killed while creating or deleting a run."""
        for path in self.root.glob(f"{STAGING_PREFIX}*"):
            try:
                if time.time() - path.stat().st_mtime > STALE_STAGING_S:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass

    def open(self, run_id: str) -> "Run":
        path = self.path_of(run_id)
        if not (path / "run.json").exists() and not (path / "config.json").exists():
            raise RunNotFound(f"no run {run_id!r} in {self.root}")
        return Run(path)

    def list(self) -> list[dict]:
        """Every run's info, newest first; a damaged run is listed with status ``damaged``."""
        if not self.root.is_dir():
            return []
        infos = []
        for path in self.root.iterdir():
            if RUN_ID.match(path.name) and path.is_dir():
                info = Run(path).info()
                if info["status"] != "damaged" or path.exists():  # not deleted while we read it
                    infos.append(info)
        return sorted(infos, key=lambda i: (i.get("created") or 0, i["id"]), reverse=True)

    def fork(self, parent_id: str, *, epoch: int | None = None, info: dict | None = None, **changes) -> "Run":
        """A new run that starts from ``parent_id``'s checkpoint at ``epoch`` (default: its latest) with
        ``changes`` to the config; it records its parent and inherits the history up to that point.
        ``info``: more fields for the child's run.json (a sweep's tag)."""
        parent = self.open(parent_id)
        state = parent.load_checkpoint(epoch)
        base = TrainConfig.from_json(state["config"])
        config = base.replace(**changes)
        errors = {f: f"{f} cannot change in a fork: the weights have the parent's shape"
                  for f in ARCHITECTURE_FIELDS if getattr(config, f) != getattr(base, f)}
        if bool(config.aux_classifier) != bool(base.aux_classifier):
            errors["aux_classifier"] = ("aux_classifier cannot be turned on or off in a fork: D's classifier exists only "
                                        "while it is on (its weight can change)")
        if config.epochs <= state["epoch"]:
            errors["epochs"] = f"epochs must be more than the fork point's {state['epoch']}, got {config.epochs}"
        data_fields = ("batch_size", "train_images", "train_split")  # the saved epoch order indexes these images
        if state["batch"] and any(getattr(config, f) != getattr(base, f) for f in data_fields):
            errors["batch_size"] = ("batch_size, train_images and train_split can change only in a fork from an "
                                    "epoch boundary")
        if errors:
            raise ConfigError(errors)

        def fill(child: Run) -> None:
            child.save_checkpoint({**state, "config": config.to_json()})
            child.inherit(parent, step=state["step"], epoch=state["epoch"])
            child.write_info(epochs_done=state["epoch"], step=state["step"],
                             train_seconds=state.get("train_seconds", 0.0), **(info or {}))

        return self.create(config, parent={"run": parent_id, "epoch": state["epoch"], "step": state["step"]},
                           fill=fill)

    def delete(self, run_id: str) -> None:
        run = self.open(run_id)
        if run.info()["status"] in LIVE_STATUSES:
            raise RuntimeError(f"run {run_id} is {run.info()['status']}; stop it before deleting")
        # rename first so that list() sees the run whole or not at all, then remove at leisure
        trash = self.root / f"{STAGING_PREFIX}deleted-{run_id}-{secrets.token_hex(2)}"
        os.rename(run.path, trash)
        shutil.rmtree(trash, ignore_errors=True)


class Run:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.id = self.path.name

    def __repr__(self):
        return f"Run({self.id!r})"

    # -- config and status --------------------------------------------------------------------
    def config(self) -> TrainConfig:
        return TrainConfig.from_json((self.path / "config.json").read_text())

    def write_config(self, config: TrainConfig) -> None:
        atomic_write(self.path / "config.json", config.validate().to_json().encode())

    def read_info(self) -> dict:
        return json.loads((self.path / "run.json").read_text())

    def write_info(self, **fields) -> dict:
        """Merge ``fields`` into run.json (atomically) and stamp the heartbeat."""
        try:
            info = self.read_info()
        except (OSError, ValueError):
            info = {}
        info.update(fields, id=self.id, updated=time.time())
        atomic_write(self.path / "run.json", json.dumps(info, indent=1).encode())
        return info

    def claim(self) -> None:
        """Take this run's owner lock (again, if this process holds it: claims are counted); a
        RuntimeError if another process holds it. Each claim needs a :meth:`release`."""
        path = os.path.realpath(self.path / OWNER_LOCK)  # one descriptor per run, however it is named
        with _OWNED_LOCK:
            fd, claims = _OWNED.get(path, (None, 0))
            if fd is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                if not _lock_exclusively(fd):
                    os.close(fd)
                    raise RuntimeError(f"run {self.id} is being trained by another process")
            _OWNED[path] = (fd, claims + 1)

    def release(self) -> None:
        path = os.path.realpath(self.path / OWNER_LOCK)
        with _OWNED_LOCK:
            fd, claims = _OWNED.pop(path)
            if claims > 1:
                _OWNED[path] = (fd, claims - 1)
            else:
                os.close(fd)  # closing the descriptor releases the lock

    def owner_alive(self) -> bool | None:
        """Whether a process holds the owner lock; None for a run that never had one (older runs).

        The probe opens the file anew: flock locks belong to open file descriptions, so even in
        the owner's own process (the dashboard's training threads) the probe sees the lock held."""
        try:
            fd = os.open(self.path / OWNER_LOCK, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def info(self) -> dict:
        """run.json with the status as others should see it: a live status whose owner died is
        ``interrupted`` (runs without an owner lock: a dead pid or a heartbeat older than
        ``HEARTBEAT_TIMEOUT_S``); unreadable files make the run ``damaged`` with a reason."""
        try:
            info = self.read_info()
            config = self.config()
        except (OSError, ValueError, ConfigError) as exc:
            return {"id": self.id, "status": "damaged", "message": f"{type(exc).__name__}: {exc}"}
        info["config"] = config.to_dict()
        info["id"] = self.id
        damage = self.damage()
        if damage:
            return {**info, "status": "damaged", "message": damage}
        if info.get("status") in LIVE_STATUSES and not self._owner_lives(info):
            info["status"] = "interrupted"
        return info

    def _owner_lives(self, info: dict) -> bool:
        alive = self.owner_alive()
        if alive is not None:
            return alive
        # a queued run waits silently; running and paused ones write a heartbeat every few seconds
        stale = info.get("status") != "queued" and time.time() - info.get("updated", 0) > HEARTBEAT_TIMEOUT_S
        return not stale and process_alive(info.get("pid"))

    def remove_temporary_files(self) -> None:
        """Temporary files left by a process killed mid-write (the real files are intact)."""
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def damage(self) -> str | None:
        """Why the metrics database or the latest checkpoint cannot be used, or None if both can."""
        if self.db_path.exists():
            try:
                with closing(self._reader()) as con:
                    con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # garbage fails here
            except sqlite3.Error as exc:
                return f"metrics.sqlite is damaged: {exc}"
        last = self.path / "checkpoints" / "last.pt"
        if last.exists():
            reason = _checkpoint_damage(last)
            if reason:
                return f"checkpoints/last.pt is damaged: {reason}"
        return None

    # -- metrics ------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / "metrics.sqlite"

    def connect(self) -> sqlite3.Connection:
        """A writer connection (one per thread): WAL, so readers see committed steps while it writes."""
        con = sqlite3.connect(self.db_path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process, cheap per commit
        con.execute("CREATE TABLE IF NOT EXISTS steps (step INTEGER PRIMARY KEY, epoch INTEGER)")
        con.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, step INTEGER, time REAL, kind TEXT, detail TEXT)"
        )
        con.execute("CREATE TABLE IF NOT EXISTS evaluations (epoch INTEGER PRIMARY KEY, metrics TEXT)")
        return con

    def _reader(self) -> sqlite3.Connection | None:
        if not self.db_path.exists():
            return None
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)

    def steps(self, after: int = 0) -> dict[str, np.ndarray]:
        """Per-step metrics with ``step > after`` as columns of float arrays (NaN where absent)."""
        con = self._reader()
        if con is None:
            return {}
        with closing(con):
            try:
                cursor = con.execute("SELECT * FROM steps WHERE step > ? ORDER BY step", (after,))
            except sqlite3.OperationalError:  # created a moment ago: its tables are not there yet
                return {}
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        data = np.array(rows, dtype=np.float64).reshape(len(rows), len(names)) if rows else np.empty((0, len(names)))
        return {name: data[:, i] for i, name in enumerate(names)}

    def _rows(self, sql: str) -> list[tuple]:
        """The rows of a read-only query; none while the database or its tables are not there yet."""
        con = self._reader()
        if con is None:
            return []
        with closing(con):
            try:
                return con.execute(sql).fetchall()
            except sqlite3.OperationalError:  # created a moment ago: its tables are not there yet
                return []

    def evaluation_epochs(self) -> list[int]:
        """The epochs with quality metrics, without reading the metrics."""
        return [epoch for (epoch,) in self._rows("SELECT epoch FROM evaluations ORDER BY epoch")]

    def evaluations(self) -> dict[int, dict]:
        """Quality metrics per snapshot epoch (see gan.metrics.evaluate)."""
        rows = self._rows("SELECT epoch, metrics FROM evaluations ORDER BY epoch")
        return {epoch: json.loads(metrics) for epoch, metrics in rows}

    def events(self) -> list[dict]:
        return [{"step": s, "time": t, "kind": k, "detail": json.loads(d)}
                for s, t, k, d in self._rows("SELECT step, time, kind, detail FROM events ORDER BY id")]

    def add_event(self, step: int, kind: str, detail: dict) -> None:
        """An event recorded from outside a training loop (a sweep's explore step)."""
        with closing(self.connect()) as con:
            _insert_event(con, step, kind, detail)

    def inherit(self, parent: "Run", *, step: int, epoch: int) -> None:
        """Copy ``parent``'s metrics up to ``step`` and snapshots up to ``epoch`` (a fork's past)."""
        history = parent.steps()
        if history:
            keep = history["step"] <= step
            names = list(history)
            with closing(self.connect()) as con, con:
                for name in set(names) - {"step", "epoch"}:
                    con.execute(f'ALTER TABLE steps ADD COLUMN "{name}" REAL')
                rows = zip(*(history[n][keep] for n in names))
                whole = {"step", "epoch"}
                con.executemany(f"INSERT INTO steps ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                ([int(v) if n in whole else _sql_value(float(v)) for n, v in zip(names, row)] for row in rows))
        for e in parent.snapshot_epochs():
            if e <= epoch:
                for suffix in (".png", ".npy", DISCRIMINATOR_SUFFIX):
                    source = parent.path / "snapshots" / f"epoch-{e:04d}{suffix}"
                    if source.exists():  # runs from before the probe have no D outputs
                        atomic_write(self.path / "snapshots" / source.name, source.read_bytes())

    # -- snapshots ----------------------------------------------------------------------------
    def save_snapshot(self, epoch: int, images: torch.Tensor, nrow: int) -> None:
        arrays = images.reshape(-1, 28, 28).numpy().astype(np.float32)
        atomic_write(self.path / "snapshots" / f"epoch-{epoch:04d}.npy", npy_bytes(arrays))
        atomic_write(self.path / "snapshots" / f"epoch-{epoch:04d}.png", png_bytes(grid_image(images, nrow)))

    def snapshot_epochs(self) -> list[int]:
        return _epochs_in(self.path / "snapshots", ".png")

    def save_discriminator_outputs(self, epoch: int, outputs: dict) -> None:
        """D's outputs on the probe's real and fake images (gan.evaluation.DiscriminatorProbe)."""
        atomic_write(self.path / "snapshots" / f"epoch-{epoch:04d}{DISCRIMINATOR_SUFFIX}", json.dumps(outputs).encode())

    def discriminator_epochs(self) -> list[int]:
        return _epochs_in(self.path / "snapshots", DISCRIMINATOR_SUFFIX)

    def discriminator_outputs(self) -> dict[int, dict]:
        """Per snapshot epoch: ``{"output": "probability" or "score", "real": [...], "fake": [...]}``."""
        folder = self.path / "snapshots"
        return {e: json.loads((folder / f"epoch-{e:04d}{DISCRIMINATOR_SUFFIX}").read_text())
                for e in self.discriminator_epochs()}

    def snapshot_png(self, epoch: int) -> Path:
        return self.path / "snapshots" / f"epoch-{epoch:04d}.png"

    def snapshot_images(self, epoch: int) -> np.ndarray:
        """The raw generator output at ``epoch``: float32 (N, 28, 28) in [-1, 1]."""
        return np.load(self.path / "snapshots" / f"epoch-{epoch:04d}.npy", allow_pickle=False)

    # -- checkpoints --------------------------------------------------------------------------
    def save_checkpoint(self, state: dict, *, keep_epoch: int | None = None) -> None:
        """Write ``last.pt``; also keep ``epoch-NNNN.pt`` when ``keep_epoch`` is given."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        atomic_write(self.path / "checkpoints" / "last.pt", data)
        if keep_epoch is not None:
            atomic_write(self.path / "checkpoints" / f"epoch-{keep_epoch:04d}.pt", data)

    def checkpoint_epochs(self) -> list[int]:
        return _epochs_in(self.path / "checkpoints", ".pt")

    def load_checkpoint(self, epoch: int | None = None) -> dict:
        """The checkpoint kept at ``epoch``, or the latest one; never unpickles code. A damaged
        file (truncated, a bad CRC) is a ValueError naming it, never a partial load."""
        name = "last.pt" if epoch is None else f"epoch-{epoch:04d}.pt"
        path = self.path / "checkpoints" / name
        if not path.is_file():
            have = ", ".join(map(str, self.checkpoint_epochs())) or "none"
            raise FileNotFoundError(f"run {self.id} has no checkpoint {name} (epochs kept: {have})")
        damage = _checkpoint_damage(path)
        if damage:
            raise ValueError(f"run {self.id}: checkpoints/{name} is damaged: {damage}")
        return torch.load(path, map_location="cpu", weights_only=True)


_checked: dict[tuple, str | None] = {}  # (path, mtime, size) -> damage; checkpoints are immutable once renamed


def _checkpoint_damage(path: Path) -> str | None:
    """Cheap integrity check of a torch.save file (a zip archive): structure and every CRC."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _checked:
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            _checked[key] = f"corrupt entry {bad}" if bad else None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            _checked[key] = str(exc) or type(exc).__name__
    return _checked[key]


def _lock_exclusively(fd: int, tries: int = 50) -> bool:
    """flock ``fd`` exclusively; a reader's brief shared probe is waited out, an owner is not."""
    for _ in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.01)
    return False


def _epochs_in(folder: Path, suffix: str) -> list[int]:
    if not folder.is_dir():
        return []
    found = (re.fullmatch(rf"epoch-(\d+){re.escape(suffix)}", p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


class StoreWriter:
    """Records a trainer into a run: the bridge from the training loop to the store.

    It runs in the training thread and owns that thread's SQLite connection.
    """

    def __init__(self, run: Run, trainer, *, status_on_start: str = "running"):
        self.run, self.trainer = run, trainer
        self.status_on_start = status_on_start
        self.con: sqlite3.Connection | None = None
        self.columns = {"step", "epoch"}
        self.progress_written = 0.0  # time.monotonic() of the last progress written to run.json
        for event in EVENTS:
            if hasattr(self, event):  # every event it handles (not the live previews)
                trainer.add_callback(event, getattr(self, event))

    def _progress(self) -> dict:
        t = self.trainer
        return dict(epochs_done=t.epoch, step=t.step, train_seconds=round(t.train_seconds, 3), epochs=t.config.epochs)

    def on_train_start(self, trainer) -> None:
        self.run.remove_temporary_files()
        self.con = self.run.connect()
        self.columns = {row[1] for row in self.con.execute("PRAGMA table_info(steps)")}
        with self.con:
            # a resume starts from the checkpoint: steps logged after it are redone
            self.con.execute("DELETE FROM steps WHERE step > ?", (trainer.step,))
        self.run.write_info(status=self.status_on_start, pid=os.getpid(), started=time.time(), message="",
                            device=str(trainer.device), acceleration=trainer.accel.describe(), **self._progress())

    def on_log(self, trainer, rows: list[dict]) -> None:
        for name in rows[0].keys() - self.columns:
            self.con.execute(f'ALTER TABLE steps ADD COLUMN "{name}" REAL')
            self.columns.add(name)
        names = list(rows[0])
        sql = f"INSERT OR REPLACE INTO steps ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with self.con:
            self.con.executemany(sql, ([_sql_value(r[n]) for n in names] for r in rows))
        # run.json (read, merged, fsynced, renamed: a few ms) at most every PROGRESS_SECONDS: a flush comes every
        # 50 steps, several times a second on a CPU; the steps themselves are in SQLite at once
        if time.monotonic() - self.progress_written >= PROGRESS_SECONDS:
            self._write_progress()

    def _write_progress(self) -> None:
        self.run.write_info(**self._progress())
        self.progress_written = time.monotonic()

    def on_snapshot(self, trainer, epoch: int, images: torch.Tensor) -> None:
        self.run.save_snapshot(epoch, images, nrow=trainer.config.grid_size)
        self.run.save_checkpoint(trainer.state_dict(), keep_epoch=epoch)

    def on_evaluation(self, trainer, epoch: int, metrics: dict) -> None:
        with self.con:
            self.con.execute("INSERT OR REPLACE INTO evaluations (epoch, metrics) VALUES (?, ?)",
                             (epoch, json.dumps(metrics)))

    def on_discriminator(self, trainer, epoch: int, outputs: dict) -> None:
        self.run.save_discriminator_outputs(epoch, outputs)

    def on_alarm(self, trainer, alarm: dict) -> None:
        self.record_event("alarm", alarm)
        self.run.write_info(message=alarm["message"])

    def on_epoch_end(self, trainer) -> None:
        if trainer.epoch % trainer.config.checkpoint_every == 0:
            self.run.save_checkpoint(trainer.state_dict())
        self._write_progress()

    def on_pause(self, trainer) -> None:
        if self.run.read_info().get("status") != "paused":
            self.run.save_checkpoint(trainer.state_dict())
            self.record_event("pause", {})
        self.run.write_info(status="paused", **self._progress())

    def on_resume(self, trainer, changes: dict) -> None:
        if changes:
            self.run.write_config(trainer.config)
        self.record_event("resume", changes)
        self.run.write_info(status="running", message="", **self._progress())

    def on_train_end(self, trainer, status: str) -> None:
        self.run.save_checkpoint(trainer.state_dict())
        self.finish(status)

    def record_event(self, kind: str, detail: dict) -> None:
        _insert_event(self.con, self.trainer.step, kind, detail)

    def finish(self, status: str, message: str = "") -> None:
        """Mark the run ended (finished, stopped or failed) and release the database."""
        self.run.write_info(status=status, ended=time.time(), message=message, **self._progress())
        if self.con is not None:
            self.con.close()
            self.con = None


def _insert_event(con: sqlite3.Connection, step: int, kind: str, detail: dict) -> None:
    with con:
        con.execute("INSERT INTO events (step, time, kind, detail) VALUES (?, ?, ?, ?)",
                    (step, time.time(), kind, json.dumps(detail)))


def _sql_value(v):
    return None if isinstance(v, float) and v != v else v  # NaN -> NULL
