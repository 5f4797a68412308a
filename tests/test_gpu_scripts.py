"""The GPU check scripts run on a GPU machine that CI never has; on the CPU they take the same code
paths minus the capture, so at least the scripts themselves cannot rot unnoticed."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_cuda_check_script_passes_on_the_cpu(tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/cuda_check.py", "--device", "cpu"], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "GAN_RUNS_DIR": str(tmp_path)}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.startswith("PASS ") for line in lines) == 6 and lines[-1] == "all checks passed"


def test_the_gpu_check_script_names_only_scripts_that_exist():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    named = {word for word in script.split() if word.startswith("benchmarks/") and word.endswith(".py")}
    assert named == {"benchmarks/cuda_check.py", "benchmarks/bench_train.py", "benchmarks/graph_equivalence.py"}
    assert all((ROOT / path).is_file() for path in named)
    syntax = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
