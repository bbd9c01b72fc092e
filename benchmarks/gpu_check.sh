#!/usr/bin/env bash
# One command for the lent GPU machine: install gpuvelo's missing wheels offline, run the GPU
# tests and the host kernel tests, then a GPU benchmark sized to fit; everything under 5 minutes
# (each step has its own time limit; the benchmark gets what is left of the budget).
# Writes $OUT/gpu_check.log, $OUT/gpu_check.json (summary), the junit XML of both test runs
# and $OUT/bench_gpu.json. Usage: bash benchmarks/gpu_check.sh
# Knobs: GPU_CHECK_ROWS (benchmark rows, default 10M), GPU_CHECK_BUDGET_S (default 280).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu_check_out}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
ROWS="${GPU_CHECK_ROWS:-10000000}"
BUDGET="${GPU_CHECK_BUDGET_S:-280}"
START=$SECONDS
left() { echo $(( BUDGET - (SECONDS - START) )); }
exec > >(tee "$LOG") 2>&1

if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || echo "WARNING: wheel install failed"
else
    echo "NOTE: no .whl/ folder: tests needing sqlglot/duckdb will fail or skip"
fi
export PYTHONPATH=/tmp/site:$PWD

python3 - <<'PY'
import platform, numpy, pyarrow
import cupy
print("python", platform.python_version(), platform.machine(), "numpy", numpy.__version__,
      "pyarrow", pyarrow.__version__, "cupy", cupy.__version__,
      "devices", cupy.cuda.runtime.getDeviceCount())
PY
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || true
g++ --version | head -1 || true

PYTEST=(python3 -m pytest -q -rf -p no:cacheprovider)
# the GPU backend's own tests and the core differential suite first (their XML is written
# even if the broad run after them is cut short), then every other test's gpu variant
CORE=(tests/test_gpu_backend.py tests/test_gpu_cudf.py tests/test_differential_sql.py
      tests/test_differential_random.py tests/test_v2_equivalence.py)
echo "=== pytest -m gpu, core files ($(left)s left)"
timeout 90 "${PYTEST[@]}" -m gpu --maxfail=50 --junitxml="$OUT/pytest_gpu.xml" "${CORE[@]}"
rc_gpu=$?
echo "=== pytest -m gpu, the other files ($(left)s left)"
timeout 70 "${PYTEST[@]}" -m gpu --maxfail=50 --junitxml="$OUT/pytest_gpu_rest.xml" \
    $(printf -- '--ignore=%s ' "${CORE[@]}") tests
rc_gpu_rest=$?
echo "=== host kernel tests ($(left)s left)"
timeout 60 "${PYTEST[@]}" --junitxml="$OUT/pytest_host.xml" tests/test_kernels_host.py
rc_host=$?
bench_s=$(( $(left) - 10 ))
if [ "$bench_s" -ge 30 ]; then
    echo "=== bench_gpu.py, $ROWS rows, limit ${bench_s}s"
    timeout "$bench_s" python3 benchmarks/bench_gpu.py --rows "$ROWS" --batch $((ROWS / 4)) \
        --repeat 2 --json "$OUT/bench_gpu.json"
    rc_bench=$?
else
    echo "=== bench_gpu.py skipped: only ${bench_s}s left"
    rc_bench=124
fi

python3 - "$OUT" "$rc_gpu" "$rc_gpu_rest" "$rc_host" "$rc_bench" "$((SECONDS - START))" <<'PY'
import json, os, sys
import xml.etree.ElementTree as ET
out, rc_gpu, rc_gpu_rest, rc_host, rc_bench, secs = sys.argv[1], *map(int, sys.argv[2:])
def counts(path):
    """Totals and failing test ids of a junit XML file (None when the run left none)."""
    if not os.path.exists(path):
        return None
    root = ET.parse(path).getroot()
    s = root if root.tag == "testsuite" else root.find("testsuite")
    res = {k: int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    res["failed"] = [f"{c.get('classname')}::{c.get('name')}" for c in s.iter("testcase")
                     if c.find("failure") is not None or c.find("error") is not None]
    return res
bench_path = f"{out}/bench_gpu.json"
bench = json.load(open(bench_path)) if os.path.exists(bench_path) else None
summary = {"pytest_gpu": counts(f"{out}/pytest_gpu.xml"),
           "pytest_gpu_rest": counts(f"{out}/pytest_gpu_rest.xml"),
           "pytest_host_kernels": counts(f"{out}/pytest_host.xml"),
           "rc": {"pytest_gpu": rc_gpu, "pytest_gpu_rest": rc_gpu_rest, "pytest_host": rc_host,
                  "bench": rc_bench},
           "seconds": secs, "bench": bench}
json.dump(summary, open(f"{out}/gpu_check.json", "w"), indent=1)
print("=== gpu_check summary")
print(json.dumps({k: v for k, v in summary.items() if k != "bench"}, indent=1))
if bench:
    for r in bench["results"]:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
PY
[ "$rc_gpu" -eq 0 ] && [ "$rc_gpu_rest" -eq 0 ] && [ "$rc_host" -eq 0 ] && [ "$rc_bench" -eq 0 ]
