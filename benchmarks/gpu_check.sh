#!/usr/bin/env bash
# Everything a GPU session should measure, in one run of under 5 minutes; prints tables.
#   bash benchmarks/gpu_check.sh
# Needs torch (and torchvision for the tutorial loop's transforms); no Streamlit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
timeout 120 python benchmarks/bench_train.py --device cuda --preset report-2019 --steps 1200 \
    --batch-sweep 100 256 1024 4096 --size-sweep 15000 30000 60000
timeout 120 python benchmarks/bench_train.py --device cuda --preset dcgan --steps 600 --batch-sweep 64 256 1024
