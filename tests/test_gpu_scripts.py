"""The GPU check scripts run on a GPU machine that CI never has. On the CPU nothing is captured, so
what these tests prove is that the script runs, that each of its checks can fail (each check's code
path is broken once below and must print FAIL), and that the CUDA-only check says it was skipped.
That a captured CUDA graph computes what the eager step does is proven only by a GPU session."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import cuda_check
from gan.losses import BCE, WGANGP
from gan.trainer import StepGraphs, Trainer

ROOT = Path(__file__).resolve().parents[1]


def test_the_cuda_check_script_passes_on_the_cpu_and_says_what_it_skipped(runs_dir, capsys):
    code = cuda_check.main(["--device", "cpu"])  # the script's main, in this process (no 3 s process start)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    lines = out.out.splitlines()
    passed = [line.split(":")[0] for line in lines if line.startswith("PASS ")]
    assert passed == ["PASS mlp graphs == eager", "PASS cdcgan d_steps=2 " + _cdcgan_accel(), "PASS lr change takes effect",
                      "PASS resume == straight", "PASS wgan-gp eager"]
    assert [line for line in lines if line.startswith("SKIP ")] == [
        "SKIP throughput, no host sync per step: needs CUDA's sync debug mode"]
    assert lines[-1] == "all checks passed (1 skipped off CUDA)"


def _cdcgan_accel() -> str:
    from gan.config import preset
    from gan.trainer import acceleration

    return acceleration(preset("cgan"), torch.device("cpu")).describe()


@pytest.fixture(scope="module")
def mnist():
    from gan.data import load_mnist

    return load_mnist("train")


def test_check_1_fails_when_the_fixed_buffer_step_reuses_stale_noise(mnist, monkeypatch, capsys):
    assert cuda_check.check_graphs_equal_eager("cpu", mnist[0], n=30) is True  # as a baseline, at this size
    call = StepGraphs.__call__

    def stale(self, real, labels, z, update_g):
        return call(self, real, labels, torch.zeros_like(z), update_g)  # the noise buffer never refreshed

    monkeypatch.setattr(StepGraphs, "__call__", stale)
    assert cuda_check.check_graphs_equal_eager("cpu", mnist[0], n=30) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL mlp graphs == eager")


def test_check_2_fails_when_the_generator_loss_turns_nan(mnist, monkeypatch, capsys):
    assert cuda_check.check_two_graphs_conditional("cpu", *mnist, n=20) is True
    monkeypatch.setattr(BCE, "generator", staticmethod(lambda fake_out, config: fake_out.mean() * math.nan))
    assert cuda_check.check_two_graphs_conditional("cpu", *mnist, n=20) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL cdcgan d_steps=2")


def test_check_3_fails_when_a_learning_rate_change_is_ignored(mnist, monkeypatch, capsys):
    assert cuda_check.check_lr_change("cpu", mnist[0]) is True
    monkeypatch.setattr(Trainer, "apply_changes", lambda self, changes: changes)
    assert cuda_check.check_lr_change("cpu", mnist[0]) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL lr change takes effect")


def test_check_4_fails_when_a_resume_loses_the_shuffling_state(mnist, monkeypatch, capsys):
    assert cuda_check.check_resume("cpu", mnist[0]) is True
    load = Trainer.load_state_dict

    def forgetful(self, state):
        load(self, state)
        self.generator.manual_seed(12345)

    monkeypatch.setattr(Trainer, "load_state_dict", forgetful)
    assert cuda_check.check_resume("cpu", mnist[0]) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL resume == straight")


def test_check_5_fails_when_the_gradient_penalty_turns_nan(mnist, monkeypatch, capsys):
    assert cuda_check.check_gradient_penalty_eager("cpu", mnist[0], n=10) is True
    monkeypatch.setattr("gan.trainer.gradient_penalty", lambda *args, **kwargs: torch.tensor(math.nan))
    assert WGANGP.gradient_penalty
    assert cuda_check.check_gradient_penalty_eager("cpu", mnist[0], n=10) is False
    assert capsys.readouterr().out.splitlines()[-1].startswith("FAIL wgan-gp eager")


def test_the_metric_comparison_counts_nan_against_a_number_as_a_difference():
    a = torch.tensor([[1.0, math.nan], [2.0, 3.0]])
    assert cuda_check.metric_diff(a, a.clone()) == 0.0
    assert cuda_check.metric_diff(a, torch.tensor([[1.0, 5.0], [2.0, 3.0]])) == math.inf
    assert cuda_check.metric_diff(a, torch.tensor([[1.5, math.nan], [2.0, 3.0]])) == 0.5


def test_the_gpu_check_script_names_only_scripts_that_exist():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    named = {word for word in script.split() if word.startswith("benchmarks/") and word.endswith(".py")}
    assert named == {"benchmarks/cuda_check.py", "benchmarks/bench_train.py", "benchmarks/graph_equivalence.py"}
    assert all((ROOT / path).is_file() for path in named)
    syntax = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_the_gpu_check_script_fits_one_device_call_and_passes_only_flags_its_scripts_take():
    import re

    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text().replace("\\\n", " ")
    timeouts = [int(t) for t in re.findall(r"\btimeout (\d+)", script)]
    assert len(timeouts) == 5 and sum(timeouts) <= 540  # a device call runs 600 s at most
    for line in script.splitlines():
        match = re.search(r"(benchmarks/\w+\.py)(.*)", line)
        if match:
            source = (ROOT / match.group(1)).read_text()
            for flag in re.findall(r"(--[a-z][a-z-]*)", match.group(2)):
                assert f'"{flag}"' in source, f"{match.group(1)} takes no {flag}"


def test_the_step_profile_experiment_runs_on_the_cpu(tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/gpu_step_profile.py", "--device", "cpu", "--steps", "40"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "GAN_RUNS_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if not line.startswith("#")]
    assert lines[0].startswith("eager: ") and "aten ops per step" in lines[0]
    assert lines[1].startswith("as shipped (CUDA graphs): ") and lines[1].endswith(" images/s")
