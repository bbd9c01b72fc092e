"""Shared helpers for the benchmarks: synthetic data, timing, machine description, output."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

QUERY = ("SELECT k, COUNT(*) AS n, SUM(a) AS sum_a, MIN(a) AS min_a, MAX(b) AS max_b, "
         "AVG(b) AS avg_b FROM t GROUP BY k")
RESULT_COLUMNS = ["k", "n", "sum_a", "min_a", "max_b", "avg_b"]


def make_table(rows: int, keys: int, seed: int = 0) -> pa.Table:
    """A single-chunk table: int64 key ``k`` uniform over ``keys`` values, float64 ``a``, ``b``."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "k": rng.integers(0, keys, rows, dtype=np.int64),
        "a": rng.standard_normal(rows),
        "b": rng.random(rows) * 100.0,
    })


def split(table: pa.Table, batch_rows: int) -> list[pa.RecordBatch]:
    """``table`` as zero-copy record batches of ``batch_rows`` rows (the last may be shorter)."""
    return table.combine_chunks().to_batches(max_chunksize=batch_rows)


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs (after one warm-up run)."""

    warmup_s: float
    runs_s: list[float] = field(default_factory=list)

    @property
    def best_s(self) -> float:
        return min(self.runs_s)


def measure(fn: Callable[[], object], repeats: int = 3, budget_s: float = 60.0) -> Timing:
    """Run ``fn`` once to warm up, then up to ``repeats`` more times; stop early once the
    measured runs have used ``budget_s`` (at least one measured run always happens)."""
    t0 = time.perf_counter()
    fn()
    timing = Timing(warmup_s=time.perf_counter() - t0)
    spent = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        timing.runs_s.append(dt)
        spent += dt
        if spent + dt > budget_s:
            break
    return timing


def machine_info() -> dict:
    """Cores, platform and the versions of the libraries compared."""
    import duckdb
    import polars

    import gpuvelo
    info = {
        "cpu_count": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "gpuvelo": getattr(gpuvelo, "__version__", "dev"),
        "arrow_cpu_threads": pa.cpu_count(),
    }
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def rate(rows: int, seconds: float) -> float:
    """Rows per second."""
    return rows / seconds if seconds > 0 else float("inf")


def fmt_rate(r: float) -> str:
    """Rows/s in M rows/s, readable in a table."""
    return f"{r / 1e6:8.2f} M/s"


def sorted_result(table: pa.Table) -> dict[str, np.ndarray]:
    """A result table's columns as NumPy arrays, sorted by key (for cross-engine checks)."""
    table = table.rename_columns(RESULT_COLUMNS).sort_by("k")
    return {c: table.column(c).to_numpy() for c in RESULT_COLUMNS}


def check_same(name: str, got: pa.Table, want: pa.Table, rtol: float = 1e-9) -> None:
    """Raise AssertionError when two results of :data:`QUERY` differ (floats within ``rtol``)."""
    g, w = sorted_result(got), sorted_result(want)
    for c in RESULT_COLUMNS:
        if g[c].shape != w[c].shape:
            raise AssertionError(f"{name}: column {c}: {g[c].shape[0]} rows, expected {w[c].shape[0]}")
        if g[c].dtype.kind == "f":
            ok = np.allclose(g[c], w[c], rtol=rtol, atol=1e-9)
        else:
            ok = np.array_equal(g[c], w[c])
        if not ok:
            raise AssertionError(f"{name}: column {c} differs from the reference")


def write_json(path: str, payload: dict) -> None:
    """Write ``payload`` as indented JSON."""
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
        f.write("\n")


def target(label: str, value: float, goal: float) -> dict:
    """Print a PASS/MISS line for ``value >= goal`` and return it as a record."""
    ok = value >= goal
    print(f"  [{'PASS' if ok else 'MISS'}] {label}: x{value:.2f} (target >= x{goal:g})")
    return {"target": label, "value": value, "goal": goal, "pass": ok}
