import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan.store import RunStore
from helpers import cli

TINY = ["--epochs", "2", "--train-images", "600", "--batch-size", "50", "--hidden", "32", "--device", "cpu",
        "--eval-samples", "0"]


def gan(*args, env=None):
    """`python -m gan ARGS` in a process of its own: the real entry point, torch's import (3 s) included."""
    return subprocess.run([sys.executable, "-m", "gan", *args], capture_output=True, text=True, env=env or os.environ)


def _train_once(tmp_path_factory, *args):
    """One `python -m gan train` per module, into a store of its own: (that store, what it printed)."""
    root = tmp_path_factory.mktemp("cli-runs") / "runs"
    out = gan("train", *args, env={**os.environ, "GAN_RUNS_DIR": str(root)})
    assert out.returncode == 0, out.stderr
    return root, out


def _copy_of(trained, runs_dir) -> str:
    """The run trained once, copied into this test's store (a test may change it): its id."""
    shutil.copytree(trained[0], runs_dir)
    (run,) = RunStore().list()
    return run["id"]


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    return _train_once(tmp_path_factory, "--preset", "report-2019", *TINY)


@pytest.fixture
def training(trained_once):
    """A tiny `python -m gan train` and what it printed."""
    return trained_once[1]


@pytest.fixture
def trained_run(trained_once, runs_dir):
    return _copy_of(trained_once, runs_dir)


def test_train_prints_the_run_id_and_its_outcome_on_stdout(training, trained_run, trained_once):
    assert training.stdout.splitlines() == [f"run {trained_run} in {trained_once[0]}", f"run {trained_run} finished"]


def test_train_writes_a_finished_run_with_its_snapshots_and_checkpoints(trained_run):
    run = RunStore().open(trained_run)
    assert run.info()["status"] == "finished"
    assert (run.info()["device"], run.info()["acceleration"]) == ("cpu", "hand-written float32 step")
    assert run.snapshot_epochs() == [0, 2] and run.checkpoint_epochs() == [0, 2]


def test_runs_lists_status_epochs_and_duration(trained_run):
    out = cli("runs")
    assert out.returncode == 0
    line = next(line for line in out.stdout.splitlines() if trained_run in line)
    assert "finished" in line and "2/2" in line and re.search(r" \d+ s ", line)  # seconds of training


def test_sample_writes_uint8_npy(trained_run, tmp_path):
    out = cli("sample", "--run", trained_run, "--n", "1000", "--out", str(tmp_path / "s.npy"))
    assert out.returncode == 0, out.stderr
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8


def test_sample_writes_png_grid_at_an_epoch(trained_run, tmp_path):
    out = cli("sample", "--run", trained_run, "--epoch", "0", "--n", "16", "--out", str(tmp_path / "g.png"))
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "g.png").size == (122, 122)  # 4 x 4 tiles of 28 px with 2 px padding


@pytest.mark.parametrize("args, field", [
    (["train", "--epochs", "0"], "epochs must be in [1, 10000]"),
    (["train", "--dropout", "1.5"], "dropout must be in [0.0, 0.9]"),
    (["train", "--lr-g", "abc"], "--lr-g"),
    (["train", "--noise", "cauchy"], "--noise"),
    (["sample", "--run", "../x", "--n", "3", "--out", "x.npy"], "invalid run id"),
    (["sample", "--run", "nope", "--n", "3", "--out", "x.npy"], "no run 'nope'"),
    (["sample", "--n", "3", "--out", "x.npy"], "--run"),
    (["fly"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(runs_dir, args, field):
    out = cli(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and field in out.stderr, out.stderr


def test_sample_at_a_missing_epoch_says_which_exist(trained_run, tmp_path):
    out = cli("sample", "--run", trained_run, "--epoch", "7", "--n", "3", "--out", str(tmp_path / "x.npy"))
    assert out.returncode == 2 and "epochs kept: 0, 2" in out.stderr


def test_every_subcommand_has_help():
    for command in ("train", "runs", "sample"):
        out = cli(command, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout


@pytest.fixture(scope="module")
def conditional_once(tmp_path_factory):
    return _train_once(tmp_path_factory, "--preset", "cgan", "--epochs", "1", "--train-images", "200",
                       "--batch-size", "50", "--hidden", "8", "--device", "cpu", "--eval-samples", "0")


@pytest.fixture
def conditional_run(conditional_once, runs_dir):
    return _copy_of(conditional_once, runs_dir)


def test_sample_of_a_conditional_run_with_a_digit_writes_only_images(conditional_run, tmp_path):
    out = cli("sample", "--run", conditional_run, "--n", "30", "--digit", "3", "--out", str(tmp_path / "s.npy"))
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "s.npy").shape == (30, 28, 28)
    assert not (tmp_path / "s.labels.npy").exists()


def test_sample_of_a_conditional_run_without_a_digit_cycles_labels_and_writes_them(conditional_run, tmp_path):
    out = cli("sample", "--run", conditional_run, "--n", "25", "--out", str(tmp_path / "s.npy"))
    assert out.returncode == 0, out.stderr
    labels = np.load(tmp_path / "s.labels.npy")
    assert labels.tolist() == [i % 10 for i in range(25)]
    assert np.load(tmp_path / "s.npy").shape == (25, 28, 28)


def test_digit_for_an_unconditional_run_exits_2(trained_run, tmp_path):
    out = cli("sample", "--run", trained_run, "--n", "3", "--digit", "3", "--out", str(tmp_path / "s.npy"))
    assert out.returncode == 2 and "only for conditional runs" in out.stderr


def test_conditional_flag_is_a_boolean_switch():
    from gan.cli import _config_from_args, build_parser

    def conditional(*flags):
        return _config_from_args(build_parser().parse_args(["train", *flags])).conditional

    assert conditional("--preset", "cgan") is True and conditional("--preset", "cgan", "--no-conditional") is False
    assert conditional("--preset", "dcgan") is False and conditional("--preset", "dcgan", "--conditional") is True


def test_the_module_entry_point_exits_2_with_one_line_in_a_process_of_its_own(runs_dir):
    out = gan("sample", "--run", "nope", "--n", "3", "--out", "x.npy")
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "python -m gan sample: error: no run 'nope' in " + str(runs_dir)], out.stderr


def test_eval_prints_json_scores_next_to_the_real_data_values(conditional_run):
    out = cli("eval", "--run", conditional_run, "--n", "200")
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout)
    assert scores["run"] == conditional_run and scores["epoch"] == 1 and scores["n_samples"] == 200
    for name in ("classifier_score", "fid", "kid", "precision", "recall", "label_entropy", "conditional_accuracy"):
        assert isinstance(scores[name], float) and isinstance(scores["real"][name], float)
    assert scores["real"]["classifier_score"] > 9 and scores["real"]["conditional_accuracy"] > 0.97
    assert len(scores["class_histogram"]) == 10 and sum(scores["class_histogram"]) == 200


def test_eval_rejects_an_out_of_range_sample_count(trained_run):
    out = cli("eval", "--run", trained_run, "--n", "5")
    assert out.returncode == 2 and "--n must be in [100, 10000]" in out.stderr


def test_progress_in_a_log_or_pipe_is_one_plain_line_per_epoch(training):
    assert "\r" not in training.stderr
    lines = training.stderr.splitlines()
    assert lines[0] == "training on cpu (hand-written float32 step)" and len(lines) == 3
    for line, epoch, step in zip(lines[1:], (1, 2), (12, 24)):
        assert re.fullmatch(rf"epoch {epoch}/2 step {step}/24 [\d,]+ img/s ETA \d+ s D\(x\) \d\.\d\d "
                            r"D\(G\(z\)\) \d\.\d\d G \d+\.\d{3}", line), line


class Terminal(io.StringIO):
    def isatty(self):
        return True


def train_with_progress(config, stream, **options):
    from gan.cli import ProgressBar
    from gan.trainer import Trainer

    trainer = Trainer(config, log_every=4)
    for event, fn in ProgressBar(stream, **options).callbacks():
        trainer.add_callback(event, fn)
    trainer.run()


def test_progress_on_a_terminal_is_one_bar_redrawn_in_place(tiny_config, mnist_train):
    terminal = Terminal()
    train_with_progress(tiny_config, terminal)
    first, bars = terminal.getvalue().split("\r", 1)
    assert first == "training on cpu (hand-written float32 step)\n" and terminal.getvalue().endswith("\n")
    bars = bars.rstrip("\n").split("\r")
    assert len(bars) == 6  # 24 steps, a flush every 4
    assert re.match(r"\[#{24}\] epoch 2/2 step 24/24 [\d,]+ img/s ETA 0 s D\(x\) \d\.\d\d D\(G\(z\)\) \d\.\d\d G ",
                    bars[-1]), bars[-1]


def test_progress_in_a_log_also_writes_a_line_every_so_many_seconds_within_an_epoch(tiny_config, mnist_train):
    log = io.StringIO()
    train_with_progress(tiny_config, log, line_seconds=0.0)
    steps = [int(re.search(r"step (\d+)/", line).group(1)) for line in log.getvalue().splitlines()[1:]]
    assert steps == [4, 8, 12, 12, 16, 20, 24, 24]  # each flush, and each epoch's end


def test_sample_uses_the_average_of_an_ema_run_and_raw_asks_for_the_raw_generator(runs_dir, tmp_path):
    out = gan("train", "--preset", "report-2019", *TINY, "--ema-halflife", "300", "--ema-rampup", "0")
    assert out.returncode == 0, out.stderr
    (info,) = RunStore().list()
    paths = {kind: tmp_path / f"{kind}.npy" for kind in ("average", "raw")}
    assert cli("sample", "--run", info["id"], "--n", "16", "--out", str(paths["average"])).returncode == 0
    assert cli("sample", "--run", info["id"], "--n", "16", "--out", str(paths["raw"]), "--raw").returncode == 0
    average, raw = np.load(paths["average"]), np.load(paths["raw"])
    assert np.abs(average.astype(int) - raw.astype(int)).mean() > 1  # two different generators
    # the average is what the run's own snapshots show: the last grid comes from the same weights
    import torch

    from gan.sampling import generate, load_generator, noise_from_seed

    G, config = load_generator(RunStore().open(info["id"]))
    expected = generate(G, noise_from_seed(config, 0, 16))
    assert np.array_equal(average, ((expected.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy().reshape(-1, 28, 28))


def test_help_and_malformed_arguments_are_answered_without_loading_torch():
    script = ("import sys, runpy\n"
              "sys.argv = ['gan', *sys.argv[1:]]\n"
              "try:\n    runpy.run_module('gan', run_name='__main__')\n"
              "except SystemExit:\n    pass\n"
              "print('torch' in sys.modules, file=sys.stderr)")
    for args in (["--help"], ["train", "--help"], ["train", "--epochs", "many"]):
        out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
        assert out.stderr.splitlines()[-1] == "False", (args, out.stderr)


def test_the_packages_torch_backed_names_load_on_first_use():
    script = "import sys, gan; before = 'torch' in sys.modules; gan.Trainer; print(before, 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout.split() == ["False", "True"]
