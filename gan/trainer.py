"""A GAN training loop that knows nothing about the models it trains.

Listeners (the CLI's progress bar, the run store, the dashboard's job runner) subscribe with
``trainer.add_callback("on_log", fn)``; the trainer never calls them from anywhere but its own
thread, and a pause or stop request is honoured between two steps.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from collections import defaultdict
from typing import NamedTuple

import torch
import torch.nn.functional as F

from gan import adam
from gan.clusters import clusters, fit as fit_clusters
from gan.config import TRAIN_SPLITS, TrainConfig, env_switch
from gan.data import load_mnist, load_train_split, to_training_tensor
from gan.ema import GeneratorAverage
from gan.losses import LOSSES, gradient_penalty, mode_seeking, r1_penalty
from gan.models import build_models, hand_step
from gan.models.conditioning import NUM_CLASSES
from gan.models.dropout import use_generator
from gan.threads import ThreadGovernor, set_thread_count

METRICS = ("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake")
PENALTY_METRICS = ("wasserstein", "gradient_penalty")  # logged by losses with a gradient penalty
EVENTS = ("on_train_start", "on_log", "on_preview", "on_snapshot", "on_evaluation", "on_discriminator", "on_alarm",
          "on_epoch_end", "on_pause", "on_resume", "on_train_end")
CHECKPOINT_FORMAT = 2  # 2: dropout has a generator of its own
_INIT_LOCK = threading.Lock()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, then MPS, then CPU; an explicit device that is missing is a clear error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise RuntimeError(f"device {name!r} is not available on this machine; choose 'auto' or 'cpu'")
    return torch.device(name)


def sample_noise(config: TrainConfig, n: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """``n`` noise vectors: uniform in (-1, 1) as in the report, or standard normal."""
    device = device or generator.device
    if config.noise == "uniform":
        return torch.rand(n, config.noise_dim, generator=generator, device=device).mul_(2).sub_(1)
    return torch.randn(n, config.noise_dim, generator=generator, device=device)


def fixed_noise(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The snapshot batch and its labels: a function of the seed alone, so runs can be compared point
    by point. Conditional runs get one row per digit, each row the same ``grid_size`` noise vectors."""
    generator = torch.Generator().manual_seed(config.seed + 1)
    if not config.conditional:
        return sample_noise(config, config.grid_size**2, generator), None
    row = sample_noise(config, config.grid_size, generator)
    return row.repeat(NUM_CLASSES, 1), torch.arange(NUM_CLASSES).repeat_interleave(config.grid_size)


class TrainControl:
    """Pause, resume and stop requests, safe to make from any thread."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changes: dict[str, float] = {}

    def pause(self):
        self._running.clear()

    def resume(self, **changes: float):
        """Resume; ``changes`` (``lr_g``, ``lr_d``) apply from the next step."""
        with self._lock:
            self._changes.update({k: v for k, v in changes.items() if v is not None})
        self._running.set()

    def stop(self):
        self._stop.set()
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        return not self._running.is_set()

    def wait_for_resume(self, timeout: float) -> bool:
        return self._running.wait(timeout)

    def take_changes(self) -> dict[str, float]:
        with self._lock:
            changes, self._changes = self._changes, {}
        return changes


class Trainer:
    def __init__(self, config: TrainConfig, *, images: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                 control: TrainControl | None = None,
                 log_every: int = 50, log_seconds: float = 1.0, preview_seconds: float = 2.0,
                 graphs: bool | None = None, amp: bool | None = None, channels_last: bool | None = None,
                 hand: bool | None = None):
        self.config = config.validate()
        self.device = resolve_device(config.device)
        self.loss = LOSSES[config.loss]
        self.accel = acceleration(config, self.device, graphs=graphs, amp=amp, channels_last=channels_last, hand=hand)
        if self.device.type == "cuda":
            enable_tf32()
        # torch's CPU threads follow the machine's load (gan.threads): only where the thread count cannot change
        # the numbers, the hand-written float32 step; GAN_ADAPTIVE_THREADS=0 keeps the count fixed
        governed = self.accel.hand and env_switch("GAN_ADAPTIVE_THREADS") is not False
        self.governor = ThreadGovernor.for_device(self.device, torch.get_num_threads()) if governed else None
        # work handed off the training thread during run() (a snapshot's evaluation, ``beside``): only where the
        # governor runs, i.e. where the thread count cannot change the numbers; GAN_EVAL_BESIDE=0 keeps it inline
        self.beside_ok = self.governor is not None and env_switch("GAN_EVAL_BESIDE") is not False
        self._beside: _Beside | None = None
        self._running = False
        self.clustering = None  # a self-conditioned run's clusters of the training images (gan.clusters)
        if images is None:  # given images are trained on as they are (benchmarks, tests); else the config's split
            images, labels = load_train_split(config.train_split, config.data_dir or None)
            if config.clusters:  # of the whole training file, so that a fork to another split keeps them
                first = TRAIN_SPLITS[config.train_split][0]
                self.clustering = clusters(load_mnist("train", config.data_dir or None)[0], config.clusters)
                labels = self.clustering.labels[first : first + len(images)]
        elif config.clusters:  # not cached: benchmarks and tests give throwaway images
            self.clustering = fit_clusters(images, config.clusters)
            labels = self.clustering.labels
        self.data = to_training_tensor(images[: config.train_images], self.device)
        if config.conditional and labels is None:
            raise ValueError("a conditional config needs the training labels")
        conditioned = config.conditional or config.clusters
        self.labels = labels[: config.train_images].to(self.device) if conditioned else None
        with _INIT_LOCK:  # the initial weights come from torch's global generator: one trainer at a time
            torch.manual_seed(config.seed)
            self.G, self.D = (m.to(self.device) for m in build_models(config))
        if self.clustering is not None:  # G draws clusters with their frequencies (checkpoints carry them)
            self.G.input.draw.prior.copy_(self.clustering.frequencies())
        # dropout masks, shuffling and training noise come from the run's own generators, so that
        # jobs training side by side in one process do not shift each other's random numbers
        self.dropout_generator = torch.Generator(device=self.device).manual_seed(config.seed + 3)
        use_generator(self.dropout_generator, self.G, self.D)
        if self.accel.channels_last:
            self.G, self.D = (m.to(memory_format=torch.channels_last) for m in (self.G, self.D))
        # the averaged generator (None when ema_halflife is 0) is what snapshots and samples show
        self.ema = (GeneratorAverage(self.G, halflife=config.ema_halflife, rampup=config.ema_rampup)
                    if config.ema_halflife else None)
        self.opt_g = self._adam(self.G, config.lr_g, (config.beta1_g, config.beta2_g))
        self.opt_d = self._adam(self.D, config.lr_d, (config.beta1_d, config.beta2_d))
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        noise, noise_labels = fixed_noise(config)
        self.fixed_noise = noise.to(self.device)
        self.fixed_labels = noise_labels.to(self.device) if noise_labels is not None else None
        self.metric_names = METRICS + (PENALTY_METRICS if self.loss.gradient_penalty else ())
        self.control = control or TrainControl()
        self.log_every, self.log_seconds, self.preview_seconds = log_every, log_seconds, preview_seconds
        self._last_preview = time.perf_counter()
        self.callbacks = defaultdict(list)
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches completed in the current epoch
        self.step = 0  # batches completed in total
        self.perm: torch.Tensor | None = None  # the current epoch's order
        self.images_per_s = 0.0
        self.train_seconds = 0.0
        self._graphs = StepGraphs(self) if self.accel.graphs else None
        self._hand = hand_step(config)(self) if self.accel.hand else None  # the same step without autograd
        # listeners whose state belongs in the checkpoint (the alarms): name -> state_dict()/load_state_dict()
        self.state_parts: dict[str, object] = {}

    def _adam(self, model, lr, betas):
        # the fused kernel is one call per step instead of a loop over parameters; on the CPU without
        # torch.optim (gan.adam: the same bits, 2 s less to start); a step captured in a CUDA graph needs a
        # capturable optimizer (its step count lives on the device)
        if self.device.type == "cpu":
            return adam.Adam(model.parameters(), lr=lr, betas=betas)
        capturable = self.accel.graphs and self.device.type == "cuda"
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=self.device.type == "cuda",
                                     capturable=capturable)
        optimizer._warned_capturable_if_run_uncaptured = True  # the warm-up steps run uncaptured on purpose
        return optimizer

    # -- callbacks ----------------------------------------------------------------------------
    def add_callback(self, event: str, fn) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
        self.callbacks[event].append(fn)

    def fire(self, event: str, **payload) -> None:
        for fn in self.callbacks[event]:
            fn(self, **payload)

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> str:
        """Train until ``config.epochs`` are done (``"finished"``) or a stop request (``"stopped"``)."""
        schedule = set(self.config.snapshot_schedule())
        self._running = True
        try:
            return self._run(schedule)
        finally:
            self._running = False
            if self._beside is not None:  # an exception ended the run: wait for the helper, drop its result
                self._beside.thread.join()
                self._beside = None
            if self.governor is not None:
                set_thread_count(self.governor.max_threads)  # the thread keeps the count it had
                self.governor.threads = self.governor.max_threads

    def _run(self, schedule: set[int]) -> str:
        self.fire("on_train_start")
        if self.step == 0 and 0 in schedule:
            self._snapshot()
        if self.governor is not None:
            self.governor.start()
        status = "finished"
        while self.epoch < self.config.epochs:
            if not self.train_epoch():
                status = "stopped"
                break
            self.epoch, self.batch, self.perm = self.epoch + 1, 0, None
            self.fire("on_epoch_end")
            if self.epoch in schedule:
                self._snapshot()
        self.collect()
        self.fire("on_train_end", status=status)
        return status

    def _snapshot(self) -> None:
        """A snapshot with the thread count the trainer started with (the D probe's products, and an evaluation
        that runs inline, give the same numbers at every snapshot). Then the training goes on with a thread fewer while
        an evaluation handed off by a listener (``beside``) runs on a core of its own. The governor's next window
        begins after it, whatever the thread count: its time is no measure of the training's rate."""
        governor = self.governor
        if governor is not None:
            set_thread_count(governor.max_threads)
        try:
            self.snapshot()
        finally:
            if governor is not None:
                self._set_training_threads()
                governor.start()

    def _set_training_threads(self) -> None:
        """A thread fewer while work runs beside the training on a core of its own (more threads than cores would
        take libgomp's spinning away: ``benchmarks/omp_pools.py``), else the governor's count."""
        threads = self.governor.threads
        if self._beside is not None:
            threads = max(1, threads - 1)
        set_thread_count(threads)

    def beside(self, work, deliver) -> None:
        """``deliver(work())``, with ``work`` off the training thread where that is faster overall.

        During ``run()``, where ``beside_ok`` and training follows: ``work`` runs on a helper thread with one torch
        thread, the training goes on with a thread fewer meanwhile (from the end of the current snapshot; on 2 cores
        one), and ``deliver`` is called from the training thread once ``work`` is done: between two steps, at the
        latest when the epoch ends, before a pause and before the run ends (so every checkpoint after the snapshot's
        epoch follows it). An error in ``work`` is raised there. Elsewhere (outside ``run()``, after the last epoch,
        on a GPU, with ``GAN_EVAL_BESIDE=0``) both at once, here. One at a time: a second call first delivers the
        first."""
        follows = self.epoch < self.config.epochs and not self.control.stop_requested  # training to hide it behind
        if not (self.beside_ok and self._running and follows):
            deliver(work())
            return
        self.collect()
        self._beside = _Beside(work, deliver)

    def collect(self) -> None:
        """Wait for the work handed off by ``beside``, if any, give the training its threads back and deliver."""
        beside, self._beside = self._beside, None
        if beside is None:
            return
        beside.thread.join()
        if self.governor is not None:
            self._set_training_threads()
            self.governor.start()  # the window with one thread is no measure of the load
        if beside.error is not None:
            raise beside.error
        beside.deliver(beside.result)

    def train_epoch(self) -> bool:
        """Train the rest of the current epoch; False if a stop request cut it short."""
        n, b = self.data.shape[0], self.config.batch_size
        if self.perm is None:
            self.perm = torch.randperm(n, generator=self.generator, device=self.device)
        pending, clock = [], _Clock()
        while self.batch < n // b:
            if self.control.pause_requested or self.control.stop_requested:
                self.flush(pending, clock)
                self.collect()  # before the pause's checkpoint, or the end
                if not self._wait_while_paused():
                    return False
                clock = _Clock()
            index = self.perm[self.batch * b : (self.batch + 1) * b]
            real = self.data.index_select(0, index)
            labels = self.labels.index_select(0, index) if self.labels is not None else None
            pending.append(self.train_step(real, labels, update_g=(self.step + 1) % self.config.d_steps == 0))
            self.batch, self.step = self.batch + 1, self.step + 1
            if self._beside is not None:  # the governor waits while work runs beside the training
                if not self._beside.thread.is_alive():
                    self.collect()
            elif self.governor is not None and (threads := self.governor.update()) is not None:
                set_thread_count(threads)  # from the training thread, between steps
            if len(pending) >= self.log_every or clock.elapsed() >= self.log_seconds:
                self.flush(pending, clock)
                clock = _Clock()
        self.flush(pending, clock)
        self.collect()  # the epoch's end (its checkpoint) follows what was handed off
        return True

    def train_step(self, real: torch.Tensor, labels: torch.Tensor | None = None, *, update_g: bool = True) -> torch.Tensor:
        """One D update and (every ``d_steps`` batches) one G update; returns ``metric_names``' values.

        The noise is drawn here, outside the step proper, so that a captured step (``StepGraphs``)
        and an eager one consume the same random numbers.
        """
        z = sample_noise(self.config, real.shape[0], self.generator)
        if self._graphs is not None and real.shape[0] == self.config.batch_size:
            values = self._graphs(real, labels, z, update_g)
        elif self._hand is not None:
            values = self._hand(real, labels, z, update_g)
        else:
            values = self._step(real, labels, z, update_g)
        if update_g and self.ema is not None:
            # eager, after the (possibly replayed) step: the graph's parameters are the same tensors
            self.ema.update(self.G, images_seen=(self.step + 1) * self.config.batch_size,
                            batch_size=self.config.batch_size)
        return values

    def _step(self, real: torch.Tensor, labels: torch.Tensor | None, z: torch.Tensor, update_g: bool) -> torch.Tensor:
        """The step proper: no host sync, no data-dependent shapes, so CUDA can capture it.

        A conditional model draws its fakes with the real batch's labels, so both halves of D's
        batch (and the gradient penalty's mixtures) share one label distribution.
        """
        G, D, cfg, loss = self.G, self.D, self.config, self.loss
        fake_labels = labels
        if cfg.mode_seeking and labels is not None:
            # the second half of the fakes takes the first half's labels: each pair of fakes differs by its
            # noise alone (the label distribution stays the data's)
            half = real.shape[0] // 2
            fake_labels = torch.cat([labels[:half], labels[: real.shape[0] - half]])
        with self._autocast(), torch.set_grad_enabled(update_g):
            fake = G(z, fake_labels)

        # (1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss's equivalent).
        # Real and fake go through D as one batch: half the kernel launches (D has no BatchNorm, so
        # this changes nothing else)
        aux = cfg.aux_classifier
        with self._autocast():
            both = D(torch.cat([real, fake.detach()]), torch.cat([labels, fake_labels]) if labels is not None else None,
                     **({"classes": True} if aux else {}))
        if aux:  # AC-GAN: D's classifier learns the labels of the real images
            both, logits = both
        both = both.float()  # losses and scores in float32 whatever the autocast precision
        real_out, fake_out = both[: real.shape[0]], both[real.shape[0] :]
        loss_real, loss_fake = loss.discriminator(real_out, fake_out, cfg)
        d_loss = loss_real + loss_fake
        if aux:
            d_loss = d_loss + aux * F.cross_entropy(logits[: real.shape[0]].float(), labels)
        if cfg.r1_gamma and self.step % cfg.r1_every == 0:  # lazy: every r1_every steps, scaled to match
            with self._autocast():
                d_loss = d_loss + cfg.r1_gamma / 2 * cfg.r1_every * r1_penalty(D, real, labels)
        if loss.gradient_penalty:
            penalty = gradient_penalty(D, real, fake.detach(), labels, generator=self.generator)
            d_loss = d_loss + cfg.gp_weight * penalty
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()

        # (2) Update G: maximise log D(G(z)), the non-saturating form of minimising log(1 - D(G(z)))
        if update_g:
            # G's update needs D's gradients with respect to its input, not to its weights: those would be
            # thrown away by the next D step's zero_grad, so they are not computed (fewer products and, on
            # a GPU, fewer kernels in the captured step)
            D.requires_grad_(False)
            try:
                with self._autocast():
                    fake_scores = D(fake, fake_labels, **({"classes": True} if aux else {}))
                if aux:
                    fake_scores, fake_logits = fake_scores
                g_loss = loss.generator(fake_scores.float(), cfg)  # what the curves show: the adversarial part
                total = g_loss + mode_seeking(fake, z, cfg.mode_seeking) if cfg.mode_seeking else g_loss
                if aux:  # G's fakes should be classified as the labels they were drawn with
                    total = total + aux * F.cross_entropy(fake_logits.float(), fake_labels)
                self.opt_g.zero_grad()
                total.backward()
            finally:
                D.requires_grad_(True)
            self.opt_g.step()
        else:
            g_loss = torch.full((), math.nan, device=self.device)
        with torch.no_grad():
            values = [loss_real, loss_fake, g_loss, loss.score(real_out).mean(), loss.score(fake_out).mean()]
            if loss.gradient_penalty:
                values += [-(loss_real + loss_fake), penalty]  # mean D(x) - mean D(G(z)), the distance estimate
            return torch.stack(values)

    def _autocast(self):
        if not self.accel.amp:
            return contextlib.nullcontext()
        # no weight-cast cache: a cached cast would be stale in a replayed CUDA graph
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)

    def flush(self, pending: list[torch.Tensor], clock: "_Clock") -> None:
        """Hand the buffered steps to listeners: one device-to-host copy per flush, not per step."""
        if not pending:
            return
        values = torch.stack(pending).tolist()  # the only sync with the device
        seconds = clock.elapsed()
        self.train_seconds += seconds
        self.images_per_s = len(pending) * self.config.batch_size / max(seconds, 1e-9)
        first = self.step - len(pending) + 1
        rows = [
            {"step": first + i, "epoch": self.epoch + 1, **dict(zip(self.metric_names, v)), "images_per_s": self.images_per_s}
            for i, v in enumerate(values)
        ]
        pending.clear()
        self.fire("on_log", rows=rows)
        if self.callbacks["on_preview"] and time.perf_counter() - self._last_preview >= self.preview_seconds:
            # a live look at the fixed noise between snapshots, for listeners that want one
            self._last_preview = time.perf_counter()
            self.fire("on_preview", epoch=self.epoch + self.batch / max(self.config.steps_per_epoch, 1),
                      images=self.fixed_grid())

    def _wait_while_paused(self) -> bool:
        """Block while paused; False if a stop request came instead."""
        if self.control.pause_requested and not self.control.stop_requested:
            self.fire("on_pause")
            while not self.control.wait_for_resume(timeout=5.0):
                self.fire("on_pause")  # a heartbeat: listeners can show the run is alive
            if not self.control.stop_requested:
                self.fire("on_resume", changes=self.apply_changes(self.control.take_changes()))
            if self.governor is not None:
                self.governor.start()  # a pause is no measure of the load
        return not self.control.stop_requested

    def apply_changes(self, changes: dict[str, float]) -> dict[str, float]:
        """Apply learning-rate changes made while paused; returns what changed."""
        for key, optimizer in (("lr_g", self.opt_g), ("lr_d", self.opt_d)):
            if key in changes:
                for group in optimizer.param_groups:
                    group["lr"] = changes[key]
        if changes:
            self.config = self.config.replace(**changes)
            if self._graphs is not None:
                self._graphs.reset()  # a captured optimizer step holds the old learning rate
        return changes

    # -- samples ------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, noise: torch.Tensor, labels: torch.Tensor | None = None, *, raw: bool = False) -> torch.Tensor:
        """Images in [-1, 1] from ``noise`` (and ``labels`` for a conditional model), in eval mode: from
        the averaged generator when the run keeps one, unless ``raw``."""
        labels = labels.to(self.device) if labels is not None else None
        if self.ema is not None and not raw:
            return self.ema.model(noise.to(self.device), labels).float().cpu()
        self.G.eval()
        try:
            return self.G(noise.to(self.device), labels).float().cpu()
        finally:
            self.G.train()

    @torch.no_grad()
    def discriminator_scores(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's verdict on ``images`` (in [-1, 1]) in eval mode (no dropout), as the loss reads it: a
        probability for the BCE and least-squares losses, the raw score for hinge and WGAN-GP."""
        labels = labels.to(self.device) if labels is not None else None
        self.D.eval()
        try:
            with self._autocast():
                out = self.D(images.to(self.device), labels)
            return self.loss.score(out.float()).flatten().cpu()
        finally:
            self.D.train()

    def fixed_grid(self) -> torch.Tensor:
        return self.generate(self.fixed_noise, self.fixed_labels)

    def snapshot(self) -> None:
        self.fire("on_snapshot", epoch=self.epoch, images=self.fixed_grid())

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this step left off (tensors and plain data)."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_json(),
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            **({"G_ema": self.ema.model.state_dict()} if self.ema is not None else {}),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng_data": self.generator.get_state(),
            "rng_dropout": self.dropout_generator.get_state(),
            "perm": self.perm if self.perm is not None else torch.empty(0, dtype=torch.long),
        }
        state.update({name: part.state_dict() for name, part in self.state_parts.items()})
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')!r} is not {CHECKPOINT_FORMAT}")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.ema is not None:  # a fork that turns averaging on starts the average at the raw weights
            self.ema.model.load_state_dict(state.get("G_ema", state["G"]))
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        # learning rates and betas come from the config, so a fork or a resume can change them
        self.apply_changes({"lr_g": self.config.lr_g, "lr_d": self.config.lr_d})
        for optimizer, betas in ((self.opt_g, (self.config.beta1_g, self.config.beta2_g)),
                                 (self.opt_d, (self.config.beta1_d, self.config.beta2_d))):
            for group in optimizer.param_groups:
                group["betas"] = betas
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.train_seconds = state.get("train_seconds", 0.0)
        self.generator.set_state(state["rng_data"])
        self.dropout_generator.set_state(state["rng_dropout"])
        perm = state["perm"]
        self.perm = perm.to(self.device) if perm.numel() == self.data.shape[0] and self.batch else None
        for name, part in self.state_parts.items():
            if name in state:  # older checkpoints have none: the part starts fresh
                part.load_state_dict(state[name])
        if self._graphs is not None:
            self._graphs.reset()  # the optimizers' state tensors were replaced


class Acceleration(NamedTuple):
    graphs: bool  # replay the step as CUDA graphs
    amp: bool  # bfloat16 autocast
    channels_last: bool  # NHWC weights and activations for convolutions
    hand: bool  # the family's step written out by hand (no autograd; the same bits)

    def describe(self) -> str:
        names = ("CUDA graphs", "bf16 autocast", "channels-last", "hand-written float32 step")
        on = [name for name, flag in zip(names, self) if flag]
        return ", ".join(on) or "eager float32"


def enable_tf32() -> None:
    """TF32 tensor cores for float32 matmuls and convolutions on CUDA (process-wide; no effect on the CPU)."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):  # torch >= 2.9: the legacy flags
        matmul.fp32_precision = conv.fp32_precision = "tf32"                 # must not be mixed with these
    else:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def acceleration(config: TrainConfig, device: torch.device, *, graphs: bool | None = None, amp: bool | None = None,
                 channels_last: bool | None = None, hand: bool | None = None) -> Acceleration:
    """What the step uses on ``device``; ``None`` means the default, an explicit flag overrides it.

    Defaults: on CUDA the step is captured as CUDA graphs unless the loss has a gradient penalty or the R1
    penalty is on (a double backward, kept eager). The convolutional family runs in bfloat16 autocast with
    channels-last memory on CUDA and on CPUs with native bfloat16 (AVX512-BF16/AMX: 1.65x measured
    here); elsewhere bfloat16 would be emulated and slower. The MLP stays in float32, as in the
    report (``GAN_AMP=1`` puts it in bfloat16 too: 1.3x here). ``GAN_CUDA_GRAPHS=0`` and ``GAN_AMP=0``
    turn the defaults off. ``graphs=True`` off CUDA runs the same fixed-buffer step without capturing
    it, which is how the CPU tests check the plumbing. On the CPU, in float32, a family's step written out
    by hand (``gan.models.hand_step``: the report's MLP) replaces autograd's, bit for bit the same and
    1.2-1.4x faster here; ``GAN_HAND_STEP=0`` turns it off.
    """
    cuda, conv = device.type == "cuda", config.family == "dcgan"
    double_backward = LOSSES[config.loss].gradient_penalty or config.r1_gamma
    if graphs is None:
        graphs = cuda and not double_backward and env_switch("GAN_CUDA_GRAPHS") is not False
    if amp is None:
        native = cuda or (device.type == "cpu" and cpu_has_native_bf16())
        switch = env_switch("GAN_AMP")
        amp = native and switch is not False and (conv or switch is True)
    if channels_last is None:
        channels_last = conv and amp
    if graphs and double_backward and cuda:
        what = f"loss {config.loss!r} has a gradient penalty" if LOSSES[config.loss].gradient_penalty else "r1_gamma is on"
        raise ValueError(f"{what} (a double backward); it cannot run as a CUDA graph")
    if hand is None:
        hand = env_switch("GAN_HAND_STEP") is not False
    hand = hand and device.type == "cpu" and not graphs and not amp and hand_step(config) is not None
    return Acceleration(bool(graphs), bool(amp), bool(channels_last), bool(hand))


class StepGraphs:
    """The training step replayed from fixed input buffers.

    On CUDA each variant of the step (with and without the G update) runs eagerly for a few warm-up
    steps on a side stream (cuBLAS/cuDNN handles, optimizer state), is then captured once as a CUDA
    graph, and from then on costs one launch instead of a few hundred. Every step still trains: the
    warm-up steps are real steps, and the step that captures replays at once. Off CUDA the same
    buffers feed an eager call, so the CPU tests cover the plumbing (what is copied where, what is
    cloned out) without a GPU. ``reset()`` drops the graphs when the optimizers change (a learning
    rate, a loaded checkpoint): the next steps warm up and capture again.
    """

    WARMUP = 3

    def __init__(self, trainer: "Trainer"):
        self.trainer = trainer
        b, device = trainer.config.batch_size, trainer.device
        self.real = torch.empty((b, *trainer.data.shape[1:]), device=device)
        self.z = torch.empty((b, trainer.config.noise_dim), device=device)
        self.labels = torch.zeros(b, dtype=torch.long, device=device) if trainer.labels is not None else None
        self.capture = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.capture else None
        self.captures = 0  # graphs captured so far (a benchmark reports it)
        self.failure = ""  # why capture failed, if it did (the step then stays eager)
        self.reset()

    def reset(self) -> None:
        self.graphs: dict[bool, tuple] = {}  # update_g -> (graph, output buffer)
        self.warm: dict[bool, int] = {True: 0, False: 0}

    def __call__(self, real, labels, z, update_g: bool) -> torch.Tensor:
        self.real.copy_(real)
        self.z.copy_(z)
        if self.labels is not None:
            self.labels.copy_(labels)
        step = self.trainer._step
        if not self.capture:
            return step(self.real, self.labels, self.z, update_g)
        if update_g in self.graphs:
            graph, out = self.graphs[update_g]
            graph.replay()
            return out.clone()  # the next replay overwrites the buffer
        current = torch.cuda.current_stream(self.trainer.device)
        self.stream.wait_stream(current)
        if self.warm[update_g] < self.WARMUP:
            self.warm[update_g] += 1
            with torch.cuda.stream(self.stream):
                out = step(self.real, self.labels, self.z, update_g)
            current.wait_stream(self.stream)
            return out
        graph = torch.cuda.CUDAGraph()
        try:
            graph.register_generator_state(self.trainer.dropout_generator)  # replays advance the run's dropout RNG
            # thread_local: the dashboard may run other CUDA work in other threads meanwhile
            with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
                out = step(self.real, self.labels, self.z, update_g)
        except Exception as exc:  # noqa: BLE001 - any capture failure: train on, eagerly
            # a capture runs nothing, so the weights are untouched: this step simply runs eagerly
            self.capture, self.failure = False, f"{type(exc).__name__}: {exc}"
            self.trainer.accel = self.trainer.accel._replace(graphs=False)
            warnings.warn(f"CUDA graph capture failed, training eagerly: {self.failure}", RuntimeWarning, stacklevel=2)
            torch.cuda.synchronize(self.trainer.device)
            return step(self.real, self.labels, self.z, update_g)
        self.graphs[update_g] = (graph, out)
        self.captures += 1
        graph.replay()
        return out.clone()


class _Beside:
    """``work()`` on a helper thread of its own with one torch thread (so no second OpenMP team), its result or
    error kept for ``deliver`` on the training thread. The thread ends with the work."""

    def __init__(self, work, deliver):
        self.deliver, self.result, self.error = deliver, None, None
        self.thread = threading.Thread(target=self._run, args=(work,), name="gan-beside", daemon=True)
        self.thread.start()

    def _run(self, work) -> None:
        set_thread_count(1)  # this thread's count only (the training thread keeps its own, new threads theirs)
        try:
            self.result = work()
        except BaseException as exc:  # noqa: BLE001  raised on the training thread
            self.error = exc


class _Clock:
    def __init__(self):
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def measure_images_per_s(config: TrainConfig, *, steps: int = 30, repeats: int = 3, seconds: float | None = None) -> float:
    """Training throughput of ``config`` on this machine, from a few steps on random images
    (the step's cost does not depend on the pixels); the first steps are warm-up and not timed.
    The best of ``repeats`` timings: a short burst of other work (a browser drawing a page) must
    not make the estimate of a long run absurd. ``seconds``: time about that long each instead of
    ``steps`` steps (at most ``steps``, at least 3; the step's cost read from the warm-up), so a slow
    model is measured in a second or two and a fast one still over enough steps."""
    warmup = 5
    n = min(config.batch_size * (steps + warmup), config.train_images)
    config = config.replace(train_images=max(n, config.batch_size, config.clusters), epochs=1, snapshot_epochs=(1,))
    images = torch.randint(0, 256, (config.train_images, 28, 28), dtype=torch.uint8)
    if config.clusters:  # copies of as many distinct images as clusters: their k-means converges at once
        images = images[torch.arange(config.train_images) % config.clusters]
    labels = torch.randint(0, NUM_CLASSES, (config.train_images,))
    trainer = Trainer(config, images=images, labels=labels)
    real = trainer.data[: config.batch_size]
    real_labels = trainer.labels[: config.batch_size] if trainer.labels is not None else None
    trainer.train_step(real, real_labels)  # the first step pays one-off costs
    clock = _Clock()
    for _ in range(warmup - 1):
        last = trainer.train_step(real, real_labels)
    if seconds is not None:
        last.tolist()
        steps = max(3, min(steps, math.ceil(seconds * (warmup - 1) / clock.elapsed())))
    rates = []
    for _ in range(repeats):
        clock = _Clock()
        for _ in range(steps):
            last = trainer.train_step(real, real_labels)
        last.tolist()  # wait for the device
        rates.append(steps * config.batch_size / clock.elapsed())
    return max(rates)
