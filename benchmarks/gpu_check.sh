#!/usr/bin/env bash
# The GPU session's one prepared script: CUDA paths and GPU timings (README "GPU" numbers).
# Expects wheels of what the GPU image lacks in .whl/ (dask, distributed, tornado, zict, tblib,
# partd, locket, scikit-optimize, pyaml); writes its tables under $OUT (or ./gpu-out).
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, dask, distributed, hpo_kit; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'dask', dask.__version__)" | tee -a "$OUT/gpu.txt"
echo "== benchmarks/gpu.py ==" | tee -a "$OUT/gpu.txt"
timeout 200 python3 benchmarks/gpu.py --trials 16 --epochs 5 2>&1 | grep -vE '^\s|distributed\.|^$' | tee -a "$OUT/gpu.txt"
if [ "${WITH_DIAGNOSIS:-0}" = 1 ]; then
  echo "== benchmarks/diagnosis.py --part overhead --device cuda ==" | tee -a "$OUT/gpu.txt"
  timeout 150 python3 benchmarks/diagnosis.py --part overhead --device cuda 2>&1 | tee -a "$OUT/gpu.txt"
fi
echo "== watcher tests on this machine ==" | tee -a "$OUT/gpu.txt"
[ "${WITH_TESTS:-1}" = 1 ] && timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_watcher.py 2>&1 | tail -5 | tee -a "$OUT/gpu.txt"
