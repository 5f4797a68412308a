import copy
import math

import pytest
import torch
import torch.nn.functional as F

from gan.config import preset
from gan.losses import gradient_penalty
from gan.trainer import METRICS, StepGraphs, Trainer, TrainControl, fixed_noise


def train(config, images, labels=None, **kwargs):
    trainer = Trainer(config, images=images, labels=labels, **kwargs)
    logged, snapshots = [], []
    trainer.add_callback("on_log", lambda t, rows: logged.extend(rows))
    trainer.add_callback("on_snapshot", lambda t, epoch, images: snapshots.append((epoch, images)))
    status = trainer.run()
    return trainer, status, logged, snapshots


def weights(trainer):
    return [p.detach().clone() for p in (*trainer.G.parameters(), *trainer.D.parameters())]


def test_records_every_step_with_all_metrics(tiny_config, mnist_train):
    trainer, status, rows, _ = train(tiny_config, mnist_train[0])
    assert status == "finished"
    steps = tiny_config.epochs * tiny_config.steps_per_epoch
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for row in rows:
        assert all(math.isfinite(row[m]) for m in METRICS)
        assert 0 <= row["d_real"] <= 1 and 0 <= row["d_fake"] <= 1 and row["images_per_s"] > 0
    assert rows[0]["epoch"] == 1 and rows[-1]["epoch"] == tiny_config.epochs


def test_snapshots_follow_the_schedule_from_one_fixed_noise_batch(tiny_config, mnist_train):
    config = tiny_config.replace(epochs=3, snapshot_epochs=(0, 1, 3))
    trainer, _, _, snapshots = train(config, mnist_train[0])
    assert [e for e, _ in snapshots] == [0, 1, 3]
    assert all(images.shape == (16, 1, 28, 28) for _, images in snapshots)
    assert torch.equal(trainer.fixed_noise, fixed_noise(config)[0])
    assert not torch.equal(snapshots[0][1], snapshots[-1][1])  # the generator changed


def test_same_seed_gives_identical_runs_on_the_cpu(tiny_config, mnist_train):
    a, _, rows_a, _ = train(tiny_config, mnist_train[0])
    b, _, rows_b, _ = train(tiny_config, mnist_train[0])
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert [{m: r[m] for m in METRICS} for r in rows_a] == [{m: r[m] for m in METRICS} for r in rows_b]


def test_another_seed_gives_another_run(tiny_config, mnist_train):
    a, *_ = train(tiny_config, mnist_train[0])
    b, *_ = train(tiny_config.replace(seed=1), mnist_train[0])
    assert not torch.equal(weights(a)[0], weights(b)[0])


def test_checkpoint_round_trip_continues_identically(tiny_config, mnist_train):
    config = tiny_config.replace(epochs=2)
    straight, _, rows_straight, _ = train(config, mnist_train[0])

    # stop in the middle of epoch 1, checkpoint, and continue in a fresh trainer
    control = TrainControl()
    first = Trainer(config, images=mnist_train[0], control=control, log_every=1)
    first.add_callback("on_log", lambda t, rows: t.step == 5 and control.stop())
    assert first.run() == "stopped" and first.step == 5
    state = first.state_dict()
    resumed = Trainer(config, images=mnist_train[0])
    resumed.load_state_dict(state)
    rows_resumed = []
    resumed.add_callback("on_log", lambda t, rows: rows_resumed.extend(rows))
    assert resumed.run() == "finished"
    assert all(torch.equal(x, y) for x, y in zip(weights(straight), weights(resumed)))
    assert [r["g_loss"] for r in rows_resumed] == [r["g_loss"] for r in rows_straight[5:]]


def test_d_steps_updates_g_every_kth_batch(tiny_config, mnist_train):
    _, _, rows, _ = train(tiny_config.replace(d_steps=3, epochs=1), mnist_train[0])
    updated = [r["step"] for r in rows if not math.isnan(r["g_loss"])]
    assert updated == [s for s in range(1, len(rows) + 1) if s % 3 == 0]


def test_learning_rates_changed_while_paused_apply_on_resume(tiny_config, mnist_train):
    control = TrainControl()
    trainer = Trainer(tiny_config, images=mnist_train[0], control=control, log_every=1)
    seen = []
    trainer.add_callback("on_log", lambda t, rows: t.step == 3 and control.pause())
    trainer.add_callback("on_pause", lambda t: control.resume(lr_g=1e-4))
    trainer.add_callback("on_resume", lambda t, changes: seen.append(changes))
    trainer.run()
    assert seen == [{"lr_g": 1e-4}]
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-4 and trainer.config.lr_g == 1e-4


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
@pytest.mark.parametrize("loss", ["bce", "lsgan", "hinge", "wgan-gp"])
@pytest.mark.parametrize("conditional, aux_classifier", [(False, 0.0), (True, 0.0), (True, 0.5)])
def test_every_family_and_loss_trains_an_epoch(family, loss, conditional, aux_classifier, mnist_train):
    config = preset("report-2019", family=family, loss=loss, conditional=conditional, hidden=8, epochs=1,
                    aux_classifier=aux_classifier,
                    train_images=200, batch_size=50, d_steps=2 if loss == "wgan-gp" else 1, device="cpu", grid_size=2)
    trainer, status, rows, snapshots = train(config, *mnist_train)
    assert status == "finished" and len(rows) == 4
    expected = set(METRICS) | ({"wasserstein", "gradient_penalty"} if loss == "wgan-gp" else set())
    assert expected <= set(rows[-1])
    assert all(math.isfinite(rows[-1][m]) for m in expected)
    before, after = snapshots[0][1], snapshots[-1][1]
    assert not torch.equal(before, after)
    assert after.shape == ((20 if conditional else 4), 1, 28, 28)  # one row per digit when conditional


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic():
    w = torch.randn(784)
    w /= w.norm()
    critic = lambda x, labels=None: x.flatten(1) @ w  # noqa: E731 (gradient norm exactly 1)
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    assert gradient_penalty(lambda x, labels=None: 3 * critic(x), real, fake).item() == pytest.approx(4.0)


def test_unknown_callback_event_is_rejected(tiny_config, mnist_train):
    trainer = Trainer(tiny_config, images=mnist_train[0])
    with pytest.raises(ValueError, match="unknown event"):
        trainer.add_callback("on_banana", print)


def test_explicit_unavailable_device_is_a_clear_error(tiny_config, mnist_train):
    missing = "mps" if not torch.backends.mps.is_available() else "cuda"
    with pytest.raises(RuntimeError, match=f"device '{missing}' is not available"):
        Trainer(tiny_config.replace(device=missing), images=mnist_train[0])


@pytest.mark.parametrize("family, loss, conditional, d_steps", [
    ("mlp", "bce", False, 1), ("dcgan", "lsgan", True, 2), ("mlp", "wgan-gp", False, 2),
])
def test_the_fixed_buffer_plumbing_changes_no_bit_of_training_on_the_cpu(family, loss, conditional, d_steps, mnist_train):
    """The step that CUDA captures reads its inputs from fixed buffers (the batch, the noise, the labels)
    and clones its output. On the CPU that plumbing runs uncaptured, around the same ``_step``, and must
    not change a single bit: a buffer not refreshed, or an output not cloned before the next step
    overwrites it, fails here. What it cannot show: that a captured CUDA graph computes what the eager
    step computes; only ``benchmarks/cuda_check.py`` on a GPU checks that."""
    config = preset("report-2019", family=family, loss=loss, conditional=conditional, d_steps=d_steps, epochs=1,
                    train_images=300, batch_size=50, hidden=8, device="cpu", grid_size=2, eval_samples=0)
    eager, _, rows_eager, _ = train(config, *mnist_train, graphs=False)
    buffered, _, rows_buffered, _ = train(config, *mnist_train, graphs=True)
    assert buffered._graphs is not None and eager._graphs is None
    assert all(torch.equal(x, y) for x, y in zip(weights(eager), weights(buffered)))
    metrics = eager.metric_names
    table = [torch.tensor([[r[m] for m in metrics] for r in rows]) for rows in (rows_eager, rows_buffered)]
    assert table[0].shape == (6, len(metrics))
    torch.testing.assert_close(*table, rtol=0, atol=0, equal_nan=True)


def test_bf16_autocast_and_channels_last_train_the_conv_family_step_for_step_like_float32(mnist_train):
    """On CUDA these are the dcgan defaults; the CPU runs the same code. From the same weights, batches and
    noise, every one of 20 steps' metrics agrees with the float32 run's to 0.01 (measured: 0.001), while
    those metrics move by more than 0.1 over the run, so a bf16 path that learned less, or nothing, fails."""
    config = preset("dcgan", epochs=1, train_images=1000, batch_size=50, hidden=8, device="cpu", grid_size=2,
                    eval_samples=0)
    fp32, _, rows32, _ = train(config, mnist_train[0], amp=False, channels_last=False)
    bf16, status, rows16, snapshots = train(config, mnist_train[0], amp=True, channels_last=True)
    assert fp32.accel.describe() == "eager float32"
    assert bf16.accel.describe() == "bf16 autocast, channels-last" and status == "finished"
    assert next(bf16.D.parameters()).dtype == torch.float32  # master weights stay float32
    assert next(bf16.D.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert snapshots[-1][1].dtype == torch.float32
    a, b = (torch.tensor([[r[m] for m in METRICS] for r in rows]) for rows in (rows32, rows16))
    assert a.shape == b.shape == (20, len(METRICS))
    assert (a[-1] - a[0]).abs().max() > 0.1  # float32 learned visibly in 20 steps
    torch.testing.assert_close(b, a, rtol=0, atol=0.01)


def test_acceleration_defaults_follow_the_device_the_family_and_the_environment(monkeypatch):
    from gan.trainer import acceleration

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    mlp, dcgan, wgan = preset("report-2019"), preset("dcgan"), preset("wgan-gp")
    # the report's model stays float32, and on the CPU takes the step written out by hand
    assert acceleration(mlp, cpu) == (False, False, False, True)
    assert not acceleration(mlp.replace(conditional=True), cpu).hand  # a config the hand step does not cover
    assert not acceleration(mlp, cpu, hand=False).hand
    monkeypatch.setattr("gan.trainer.cpu_has_native_bf16", lambda: False)
    assert acceleration(dcgan, cpu) == (False, False, False, False)  # emulated bfloat16 would be slower
    monkeypatch.setattr("gan.trainer.cpu_has_native_bf16", lambda: True)
    assert acceleration(dcgan, cpu) == (False, True, True, False)
    assert acceleration(mlp, cuda) == (True, False, False, False)
    assert acceleration(dcgan, cuda) == (True, True, True, False)
    assert acceleration(wgan, cuda).graphs is False  # the gradient penalty's double backward stays eager
    with pytest.raises(ValueError, match="gradient penalty"):
        acceleration(wgan, cuda, graphs=True)
    r1 = dcgan.replace(r1_gamma=0.1)  # so does R1's
    assert acceleration(r1, cuda).graphs is False and acceleration(r1, cuda).amp is True
    with pytest.raises(ValueError, match="r1_gamma is on"):
        acceleration(r1, cuda, graphs=True)
    monkeypatch.setenv("GAN_AMP", "1")  # on for every family where bfloat16 is native
    assert acceleration(mlp, cuda) == (True, True, False, False) and acceleration(mlp, cpu) == (False, True, False, False)
    monkeypatch.setattr("gan.trainer.cpu_has_native_bf16", lambda: False)
    assert acceleration(mlp, cpu) == (False, False, False, True)
    monkeypatch.setenv("GAN_CUDA_GRAPHS", "0")
    monkeypatch.setenv("GAN_AMP", "off")
    assert acceleration(dcgan, cuda) == (False, False, False, False)
    monkeypatch.setenv("GAN_HAND_STEP", "0")
    assert acceleration(mlp, cpu) == (False, False, False, False)


def test_jobs_training_side_by_side_do_not_shift_each_others_random_numbers(tiny_config, mnist_train):
    # the dashboard trains two jobs in one process and builds trainers for time estimates meanwhile;
    # each run must still be a function of its seed alone (dropout used to draw from torch's global RNG)
    import threading

    config = tiny_config.replace(epochs=3)
    alone, *_ = train(config, mnist_train[0])
    results = {}

    def job(name, cfg):
        results[name] = train(cfg, mnist_train[0])[0]

    def estimates():
        while len(results) < 2:
            Trainer(config.replace(seed=99), images=mnist_train[0][:600]).train_step(torch.zeros(50, 1, 28, 28))

    threads = [threading.Thread(target=job, args=("a", config)), threading.Thread(target=job, args=("b", config.replace(seed=5))),
               threading.Thread(target=estimates)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(x, y) for x, y in zip(weights(alone), weights(results["a"])))


@pytest.fixture
def tf32_settings_restored():
    """enable_tf32 is process-wide: put the precision settings back for the tests that follow."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = matmul.fp32_precision, conv.fp32_precision
    yield
    matmul.fp32_precision, conv.fp32_precision = saved


def test_tf32_switch_sets_both_matmul_and_convolution_precision_with_this_torch(tf32_settings_restored):
    """What the CPU can check: the switch uses this torch's API (>= 2.9 forbids mixing it with the legacy
    allow_tf32 flags) and covers matmuls and cuDNN convolutions. Whether TF32 speeds a GPU up, and how
    much precision it costs, only a GPU session can measure (benchmarks/gpu_check.sh)."""
    from gan.trainer import enable_tf32

    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "ieee"
    enable_tf32()
    assert (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == ("tf32", "tf32")


def test_the_tf32_switch_leaves_cpu_training_bit_identical(tiny_config, mnist_train, tf32_settings_restored):
    from gan.trainer import enable_tf32

    before, *_ = train(tiny_config, mnist_train[0])
    enable_tf32()
    after, *_ = train(tiny_config, mnist_train[0])
    assert all(torch.equal(x, y) for x, y in zip(weights(before), weights(after)))


class _FakeCuda:
    """Stands in for torch.cuda's graph API on the CPU, as CUDA behaves: capturing records the step
    without running it (here: runs it, then restores every weight, optimizer state and the dropout RNG,
    and leaves NaN in the output buffer), and each replay, the first one included, runs the recorded
    step on whatever the input buffers then hold. What this checks is StepGraphs' own logic: warm-up,
    one capture per variant, the replay right after a capture (without it that step would not train),
    replays, re-capture after a learning-rate change, and the eager fallback when a capture fails. What
    it cannot check: that CUDA records the step faithfully (``benchmarks/cuda_check.py`` on a GPU)."""

    def __init__(self, monkeypatch, trainer, fail=False):
        import contextlib

        self.captured, self.replays, self.fail = [], 0, fail
        capturing = []
        fake = self

        class Graph:
            def __init__(self):
                self.call, self.out, self.generators = None, None, []

            def register_generator_state(self, generator):
                self.generators.append(generator)

            def replay(self):
                fake.replays += 1
                self.out.copy_(self.call())

        @contextlib.contextmanager
        def graph(g, stream=None, capture_error_mode="global"):
            assert capture_error_mode == "thread_local"
            if fake.fail:
                raise RuntimeError("operation not permitted when stream is capturing")
            before = _training_state(trainer)
            capturing.append(g)
            yield
            capturing.pop()
            _restore(trainer, before)  # a capture runs nothing
            g.out.fill_(math.nan)  # and leaves its output buffer unwritten
            fake.captured.append(g)

        step = trainer._step

        def recording_step(*args):
            out = step(*args)
            if capturing:
                capturing[-1].call, capturing[-1].out = (lambda: step(*args)), out
            return out

        class Stream:
            def wait_stream(self, other):
                pass

        monkeypatch.setattr(trainer, "_step", recording_step)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
        monkeypatch.setattr(torch.cuda, "graph", graph)
        monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: Stream())
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
        trainer._graphs.capture, trainer._graphs.stream = True, Stream()


def _state_tensors(trainer) -> list[torch.Tensor]:
    tensors = [*trainer.G.state_dict().values(), *trainer.D.state_dict().values()]
    for optimizer in (trainer.opt_g, trainer.opt_d):
        tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return tensors


def _training_state(trainer):
    return [t.clone() for t in _state_tensors(trainer)], trainer.dropout_generator.get_state()


@torch.no_grad()
def _restore(trainer, state) -> None:
    tensors, dropout = state
    for tensor, saved in zip(_state_tensors(trainer), tensors, strict=True):
        tensor.copy_(saved)
    trainer.dropout_generator.set_state(dropout)


def test_step_graphs_warm_up_capture_each_variant_once_and_recapture_after_a_learning_rate_change(
        tiny_config, mnist_train, monkeypatch):
    config = tiny_config.replace(d_steps=2)
    eager, _, rows_eager, _ = train(config, mnist_train[0])
    trainer = Trainer(config, images=mnist_train[0], graphs=True)
    fake = _FakeCuda(monkeypatch, trainer)
    logged = []
    trainer.add_callback("on_log", lambda t, rows: logged.extend(rows))
    assert trainer.run() == "finished"
    graphs = trainer._graphs
    assert len(fake.captured) == 2 == graphs.captures and set(graphs.graphs) == {True, False}
    assert graphs.warm == {True: StepGraphs.WARMUP, False: StepGraphs.WARMUP}
    steps = config.epochs * config.steps_per_epoch
    assert fake.replays == steps - 2 * StepGraphs.WARMUP  # every step after the warm-ups is a replay
    assert all(g.generators == [trainer.dropout_generator] for g in fake.captured)
    assert all(torch.equal(x, y) for x, y in zip(weights(eager), weights(trainer)))
    assert [r["d_loss_real"] for r in logged] == [r["d_loss_real"] for r in rows_eager]

    trainer.apply_changes({"lr_d": 1e-4})  # the captured optimizer step holds the old learning rate
    assert graphs.graphs == {} and graphs.warm == {True: 0, False: 0}
    trainer.config = trainer.config.replace(epochs=3)
    trainer.run()
    assert graphs.captures == 4 and trainer.opt_d.param_groups[0]["lr"] == 1e-4


def test_a_failed_capture_falls_back_to_eager_and_trains_on(tiny_config, mnist_train, monkeypatch):
    eager, *_ = train(tiny_config, mnist_train[0])
    trainer = Trainer(tiny_config, images=mnist_train[0], graphs=True)
    _FakeCuda(monkeypatch, trainer, fail=True)
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed, training eagerly"):
        assert trainer.run() == "finished"
    assert trainer._graphs.capture is False and "not permitted" in trainer._graphs.failure
    assert trainer.accel.graphs is False and trainer.accel.describe() == "eager float32"
    assert all(torch.equal(x, y) for x, y in zip(weights(eager), weights(trainer)))


@pytest.mark.parametrize("family,loss,conditional", [("mlp", "bce", False), ("dcgan", "hinge", True)])
def test_g_update_does_not_compute_d_weight_gradients_and_trains_as_if_it_did(family, loss, conditional, mnist_train,
                                                                              monkeypatch):
    """G's update needs only D's input gradients; D's weight gradients from it were thrown away by the
    next D step's zero_grad. Leaving them out must change no bit of training, and D must stay trainable."""
    images, labels = mnist_train[0][:640], mnist_train[1][:640]
    config = preset("dcgan" if family == "dcgan" else "report-2019", family=family, loss=loss, conditional=conditional,
                    epochs=1, train_split="all", train_images=640, batch_size=64, snapshot_epochs=(), eval_samples=0,
                    hidden=8 if family == "dcgan" else 32, device="cpu")
    lean = Trainer(config, images=images, labels=labels)
    steps = [lean.train_step(lean.data[i * 64 : (i + 1) * 64],
                             lean.labels[i * 64 : (i + 1) * 64] if conditional else None) for i in range(5)]
    assert all(p.requires_grad for p in lean.D.parameters())
    assert all(p.grad is not None for p in lean.D.parameters())  # the D step's own gradients
    monkeypatch.setattr(torch.nn.Module, "requires_grad_", lambda self, flag=True: self)  # as before: D's too
    full = Trainer(config, images=images, labels=labels)
    reference = [full.train_step(full.data[i * 64 : (i + 1) * 64],
                                 full.labels[i * 64 : (i + 1) * 64] if conditional else None) for i in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(steps, reference))
    assert all(torch.equal(a, b) for a, b in zip(weights(lean), weights(full)))


def test_a_speed_measured_in_seconds_times_a_slow_step_over_fewer_steps_and_a_fast_one_over_all(monkeypatch):
    """The Train form's estimate (`seconds`): a model whose step takes 50 ms is timed over 3 x 5 steps
    after the 5 warm-up steps, not 3 x 30; a fast one still over the full 30. The trainer's clock is a fake
    that each step advances by its delay, so the test does not depend on how busy the machine is (with a
    real sleep it failed once when four processes shared the two cores)."""
    import types

    from gan.trainer import measure_images_per_s

    now, calls, step = [0.0], [], Trainer.train_step
    monkeypatch.setattr("gan.trainer.time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def counted(self, *args, delay=0.0):
        calls.append(1)
        now[0] += delay
        return step(self, *args)

    config = preset("report-2019", hidden=32, batch_size=50, device="cpu")
    monkeypatch.setattr(Trainer, "train_step", lambda self, *args: counted(self, *args, delay=0.05))
    rate = measure_images_per_s(config, seconds=0.25)
    # 4 timed warm-up steps took 0.2 s, so 0.25 s is ceil(0.25 * 4 / 0.2) = 5 steps, three times
    assert len(calls) == 5 + 3 * 5 and rate == pytest.approx(50 / 0.05)
    calls.clear()
    monkeypatch.setattr(Trainer, "train_step", lambda self, *args: counted(self, *args, delay=0.001))
    assert measure_images_per_s(config, seconds=10.0) == pytest.approx(50 / 0.001) and len(calls) == 5 + 3 * 30


@pytest.mark.parametrize("mode_seeking", [0.0, 0.5])
def test_mode_seeking_gives_both_halves_of_the_fakes_the_first_halfs_labels(mode_seeking, mnist_train):
    """MSGAN's pairs must differ by their noise alone: with mode seeking, G draws the second half of its
    batch with the first half's labels, and D judges the fakes with those labels; without it, the real
    batch's labels as they are."""
    config = preset("cgan", hidden=8, epochs=1, train_images=64, batch_size=16, device="cpu", grid_size=2,
                    eval_samples=0, mode_seeking=mode_seeking)
    trainer = Trainer(config, images=mnist_train[0][:64], labels=mnist_train[1][:64])
    seen = {"G": [], "D": []}
    for name, model in (("G", trainer.G), ("D", trainer.D)):
        model.register_forward_pre_hook(lambda m, args, name=name: seen[name].append(args[1].clone()))
    real, labels = trainer.data[:16], trainer.labels[:16]
    assert not torch.equal(labels[:8], labels[8:])  # the real batch's halves differ
    trainer.train_step(real, labels)
    fake_labels = torch.cat([labels[:8], labels[:8]]) if mode_seeking else labels
    assert [x.tolist() for x in seen["G"]] == [fake_labels.tolist()]
    assert [x.tolist() for x in seen["D"]] == [torch.cat([labels, fake_labels]).tolist(), fake_labels.tolist()]


def test_mode_seeking_changes_gs_update_and_leaves_the_logged_g_loss_adversarial(mnist_train):
    config = preset("dcgan", hidden=8, epochs=1, train_images=64, batch_size=16, device="cpu", grid_size=2,
                    eval_samples=0)
    runs = {}
    for weight in (0.0, 0.5):
        trainer = Trainer(config.replace(mode_seeking=weight), images=mnist_train[0][:64])
        values = trainer.train_step(trainer.data[:16])
        runs[weight] = (values, [p.detach().clone() for p in trainer.G.parameters()])
    (plain, g_plain), (seeking, g_seeking) = runs[0.0], runs[0.5]
    torch.testing.assert_close(plain, seeking, rtol=0, atol=0)  # same D step, same adversarial G loss
    assert not all(torch.equal(a, b) for a, b in zip(g_plain, g_seeking))  # but G moved otherwise


def _first_batch_step(trainer):
    """One step on the first 16 images: the batch, copies of G and D from before it, and the noise G drew."""
    real, labels = trainer.data[:16], trainer.labels[:16]
    G0, D0 = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    noise = []
    trainer.G.register_forward_pre_hook(lambda m, args: noise.append(args[0].clone()))
    trainer.train_step(real, labels)
    (z,) = noise
    return real, labels, G0, D0, z


@pytest.mark.parametrize("clusters", [False, True])
def test_the_auxiliary_classifier_adds_its_cross_entropy_to_d_on_real_images_and_to_g_on_its_fakes(clusters, mnist_train):
    """AC-GAN's term, recomputed by hand from the weights before the step: D's classifier learns the
    real batch's labels (and nothing from the fakes), and G's gradient is that of its adversarial loss
    plus the weight times the classifier's cross-entropy on the fakes, against the labels they were drawn with."""
    images, digits = mnist_train[0][:64], mnist_train[1][:64]
    kind = dict(clusters=4) if clusters else dict(conditional=True)
    config = preset("dcgan", hidden=8, epochs=1, train_images=64, batch_size=16, device="cpu", grid_size=2,
                    eval_samples=0, aux_classifier=0.7, **kind)
    # float32 whatever the CPU: on one with native bfloat16 the family trains in bf16 autocast by default
    trainer = Trainer(config, images=images, labels=None if clusters else digits, amp=False, channels_last=False)
    real, labels, G0, D0, z = _first_batch_step(trainer)

    fake = G0(z, labels)
    out, logits = D0(torch.cat([real, fake.detach()]), torch.cat([labels, labels]), classes=True)
    d_loss = sum(trainer.loss.discriminator(out[:16], out[16:], config))
    d_loss = d_loss + 0.7 * F.cross_entropy(logits[:16], labels)
    expected = torch.autograd.grad(d_loss, list(D0.parameters()))
    for (name, p), want in zip(trainer.D.named_parameters(), expected):
        torch.testing.assert_close(p.grad, want, msg=name)

    D1 = trainer.D  # G's step sees D after its update
    fake_out, fake_logits = D1(fake, labels, classes=True)
    g_loss = trainer.loss.generator(fake_out, config) + 0.7 * F.cross_entropy(fake_logits, labels)
    expected = torch.autograd.grad(g_loss, list(G0.parameters()))
    for (name, p), want in zip(trainer.G.named_parameters(), expected):
        torch.testing.assert_close(p.grad, want, msg=name)


def test_without_the_auxiliary_classifier_d_has_no_classifier_and_its_output_is_unchanged(mnist_train):
    config = preset("cgan", hidden=8, epochs=1, train_images=64, batch_size=16, device="cpu", eval_samples=0)
    plain, aux = (Trainer(c, images=mnist_train[0][:64], labels=mnist_train[1][:64])
                  for c in (config, config.replace(aux_classifier=1.0)))
    assert plain.D.projection.classifier is None and aux.D.projection.classifier is not None
    x, y = plain.data[:4], plain.labels[:4]
    aux.D.load_state_dict(plain.D.state_dict(), strict=False)  # the same weights but the classifier's
    torch.testing.assert_close(aux.D(x, y), plain.D(x, y), rtol=0, atol=0)


@pytest.mark.parametrize("step, applied", [(0, True), (8, True), (9, False)])
def test_the_r1_penalty_is_added_to_ds_loss_every_r1_every_steps_scaled_by_the_interval(step, applied, mnist_train):
    """R1, recomputed by hand from the weights before the step: on the steps it applies to, D's gradient is that
    of its loss plus gamma/2 * r1_every * E||grad_x D(x)||^2 over the real batch (with its labels); on the others,
    of its loss alone."""
    images, digits = mnist_train[0][:64], mnist_train[1][:64]
    config = preset("dcgan", hidden=8, epochs=1, train_images=64, batch_size=16, device="cpu", grid_size=2,
                    eval_samples=0, conditional=True, r1_gamma=0.6, r1_every=4)
    trainer = Trainer(config, images=images, labels=digits, amp=False, channels_last=False)
    trainer.step = step
    real, labels, G0, D0, z = _first_batch_step(trainer)

    fake = G0(z, labels)
    out = D0(torch.cat([real, fake.detach()]), torch.cat([labels, labels]))
    d_loss = sum(trainer.loss.discriminator(out[:16], out[16:], config))
    if applied:
        x = real.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(D0(x, labels).sum(), x, create_graph=True)
        d_loss = d_loss + 0.6 / 2 * 4 * grad.pow(2).flatten(1).sum(1).mean()
    expected = torch.autograd.grad(d_loss, list(D0.parameters()))
    for (name, p), want in zip(trainer.D.named_parameters(), expected):
        torch.testing.assert_close(p.grad, want, msg=name)


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_every_family_trains_an_epoch_with_the_r1_penalty(family, loss, mnist_train):
    config = preset("report-2019", family=family, loss=loss, hidden=8, epochs=1, train_images=200, batch_size=50,
                    device="cpu", grid_size=2, r1_gamma=1.0, r1_every=2)
    trainer, status, rows, snapshots = train(config, *mnist_train)
    assert status == "finished" and len(rows) == 4 and not trainer.accel.hand
    assert all(math.isfinite(rows[-1][m]) for m in METRICS)
    assert not torch.equal(snapshots[0][1], snapshots[-1][1])


def test_importing_gan_sets_openmp_spin_count_and_keeps_the_users():
    """libgomp reads GOMP_SPINCOUNT once, when torch loads: importing gan (which the CLI and the dashboard
    do before torch) sets the longer spin unless the user chose one (benchmarks/omp_spin.py measures it)."""
    import os
    import subprocess
    import sys

    code = "import os, gan, torch; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert unset.stdout.strip() == "3000000"
    chosen = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "1234"},
                            capture_output=True, text=True, check=True)
    assert chosen.stdout.strip() == "1234"
