#!/usr/bin/env bash
# One command for the lent GPU machine: install gpuvelo's missing wheels offline, run the GPU
# tests and the host kernel tests, then a GPU benchmark sized to fit; everything under 5 minutes.
# Writes $OUT/gpu_check.log and $OUT/gpu_check.json (summary). Usage: bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu_check_out}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
ROWS="${GPU_CHECK_ROWS:-20000000}"
exec > >(tee "$LOG") 2>&1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || echo "WARNING: wheel install failed (is .whl/ there?)"
export PYTHONPATH=/tmp/site:$PWD

python3 -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true

timeout 150 python3 -m pytest -m gpu -q -p no:cacheprovider --junitxml="$OUT/pytest_gpu.xml" tests
rc_gpu=$?
timeout 60 python3 -m pytest -q -p no:cacheprovider --junitxml="$OUT/pytest_host.xml" tests/test_kernels_host.py
rc_host=$?
timeout 120 python3 benchmarks/bench_gpu.py --rows "$ROWS" --batch $((ROWS / 4)) --repeat 2 --json "$OUT/bench_gpu.json"
rc_bench=$?

python3 - "$OUT" "$rc_gpu" "$rc_host" "$rc_bench" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
out, rc_gpu, rc_host, rc_bench = sys.argv[1], *map(int, sys.argv[2:])
def counts(path):
    if not os.path.exists(path):
        return None
    s = ET.parse(path).getroot()
    s = s if s.tag == "testsuite" else s.find("testsuite")
    return {k: int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
bench = json.load(open(f"{out}/bench_gpu.json")) if os.path.exists(f"{out}/bench_gpu.json") else None
summary = {"pytest_gpu": counts(f"{out}/pytest_gpu.xml"), "pytest_host_kernels": counts(f"{out}/pytest_host.xml"),
           "rc": {"pytest_gpu": rc_gpu, "pytest_host": rc_host, "bench": rc_bench}, "bench": bench}
json.dump(summary, open(f"{out}/gpu_check.json", "w"), indent=1)
print("=== gpu_check summary ===")
print(json.dumps({k: v for k, v in summary.items() if k != "bench"}, indent=1))
if bench:
    for r in bench["results"]:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
PY
[ "$rc_gpu" -eq 0 ] && [ "$rc_host" -eq 0 ] && [ "$rc_bench" -eq 0 ]
