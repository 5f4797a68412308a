#!/usr/bin/env bash
# Everything a GPU session should check and measure, in one run of about 5 minutes; prints tables.
# The timeouts below add up to 540 s, so the whole check fits one device call (600 s at most).
#   bash benchmarks/gpu_check.sh            (on the GPU machine; needs torch, torchvision, numpy, pillow; no Streamlit)
# 1. correctness of the captured step (PASS/FAIL lines), 2. images/s against the tutorial loop with each
# acceleration on its own, batch and dataset-size sweeps, 3. eager vs accelerated training curves and scores,
# 4. the report's whole 500-epoch experiment through the CLI, timed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" GAN_RUNS_DIR="${GAN_RUNS_DIR:-/tmp/gan-gpu-runs}" GAN_CACHE_DIR="${GAN_CACHE_DIR:-/tmp/gan-cache}"
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
echo "== 1. correctness";   timeout 80 $PY benchmarks/cuda_check.py --device cuda
echo "== 2. speed";         timeout 100 $PY benchmarks/bench_train.py --device cuda --preset report-2019 --steps 3000 --tutorial-steps 600 --workers 0 4 8 --variants \
                                --batch-sweep 100 256 1024 4096 --size-sweep 15000 30000 60000
                            timeout 70 $PY benchmarks/bench_train.py --device cuda --preset dcgan --steps 1500 --tutorial-steps 400 --workers 0 4 8 --variants \
                                --batch-sweep 64 256 1024
echo "== 3. same learning"; timeout 100 $PY benchmarks/graph_equivalence.py --device cuda --epochs 10 --seeds 2
echo "== 4. 500 epochs: the report's whole experiment through the CLI (snapshots, checkpoints, evaluations included)"
TIMEFORMAT="report-2019, 500 epochs, wall time: %R s"
time timeout 190 $PY -m gan train --preset report-2019 --device cuda --quiet
