"""Stats that add up: the conservation law for many queries and strategies, batch and emit
counts against what the source and sink saw, the strategy and its reason, and explain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import gpuvelo
from differential import random_table
from test_differential_random import RngChooser, random_aggregate_query

RUNS = [(1, None), (2, "hash"), (3, "round_robin"), (3, "sticky"), (3, "smart"), (8, None)]


@pytest.mark.parametrize("emit", ["final", "changes"])
@pytest.mark.parametrize("partitions,strategy", RUNS)
def test_conservation_law_over_random_queries(partitions, strategy, emit):
    table = random_table(np.random.default_rng(21), 300, null_p=0.2)
    for seed in range(5):
        query = random_aggregate_query(RngChooser(np.random.default_rng(100 + seed)))
        if emit == "changes":           # LIMIT / OFFSET need the whole result: refused there
            query = query.split(" LIMIT ")[0].split(" OFFSET ")[0]
        sink = gpuvelo.io.MemorySink()
        stats = gpuvelo.Job(query, sources={"t": table}, sink=sink, backend="cpu", batch_size=64,
                            partitions=partitions, strategy=strategy, emit=emit).run()
        where = f"{query} / partitions={partitions} strategy={strategy} emit={emit}"
        assert stats.records_read == 300, where
        assert stats.balanced, (where, stats.as_dict())
        assert stats.records_rejected == 0 and stats.records_late == 0, where
        assert stats.batches_read == 5, where            # ceil(300 / 64)
        assert stats.records_emitted == sink.rows_written == sink.table().num_rows, where
        assert stats.stopped == "" and stats.error == ""


def test_filtered_rows_are_counted():
    table = random_table(np.random.default_rng(22), 500)
    stats = gpuvelo.Job("SELECT k1, COUNT(*) FROM t WHERE i > 0 GROUP BY k1", sources={"t": table},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", batch_size=50, partitions=3,
                        strategy="round_robin").run()
    passing = int(np.sum(np.asarray(table["i"].fill_null(0)) > 0))
    assert stats.records_aggregated == passing
    assert stats.records_filtered == 500 - passing
    assert stats.balanced


@pytest.mark.parametrize("partitions,strategy,expected", [
    (1, None, "single"), (1, "hash", "hash"), (3, "hash", "hash"), (3, "round_robin", "round_robin"),
    (3, "sticky", "sticky"), (3, "smart", "hash"), (3, None, "round_robin"),
])
def test_strategy_and_reason_recorded(partitions, strategy, expected):
    table = random_table(np.random.default_rng(23), 100)
    stats = gpuvelo.Job("SELECT k2, SUM(i) FROM t GROUP BY k2", sources={"t": table},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", batch_size=30,
                        partitions=partitions, strategy=strategy).run()
    assert stats.strategy == expected
    assert stats.partitions == partitions
    assert stats.strategy_reason
    if partitions > 1:
        assert len(stats.records_routed) == partitions
        assert stats.queue_high_water, "no queue high-water marks"
    d = stats.as_dict()
    assert d["strategy"] == expected and d["strategy_reason"] == stats.strategy_reason


def test_global_aggregate_without_key_defaults_to_round_robin():
    table = random_table(np.random.default_rng(24), 100)
    stats = gpuvelo.Job("SELECT COUNT(*), SUM(i) FROM t", sources={"t": table},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", batch_size=30, partitions=2).run()
    assert stats.strategy == "round_robin"
    assert "GROUP BY" in stats.strategy_reason


def test_timings_are_recorded():
    table = random_table(np.random.default_rng(25), 2000)
    stats = gpuvelo.Job("SELECT k1, k2, AVG(f) FROM t GROUP BY k1, k2", sources={"t": table},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", batch_size=200, partitions=2,
                        strategy="hash").run()
    for name in ("time_reading_s", "time_routing_s", "time_aggregating_s", "time_writing_s"):
        assert getattr(stats, name) > 0, name
    assert stats.elapsed_s >= stats.time_reading_s


# --------------------------------------------------------------------------- explain
def test_explain_api_shows_strategy_and_why():
    table = random_table(np.random.default_rng(26), 10)
    q = "SELECT k1, COUNT(*) FROM t GROUP BY k1"
    text = gpuvelo.explain(q, sources={"t": table}, backend="cpu", partitions=4)
    line = next(ln for ln in text.splitlines() if ln.startswith("strategy:"))
    assert "round_robin over 4 partitions" in line and "two-phase aggregation" in line
    text = gpuvelo.explain(q, sources={"t": table}, backend="cpu", partitions=4, strategy="smart")
    line = next(ln for ln in text.splitlines() if ln.startswith("strategy:"))
    assert "hash over 4 partitions" in line and "each key lives in one partition" in line
    text = gpuvelo.explain(q, sources={"t": table}, backend="cpu", partitions=4, strategy="sticky")
    assert "sticky over 4 partitions (V2): sticky: asked for by name" in text
    text = gpuvelo.explain("SELECT COUNT(*) FROM t", sources={"t": table}, backend="cpu", partitions=2)
    assert "round_robin over 2 partitions" in text and "no GROUP BY key" in text
    text = gpuvelo.explain(q, sources={"t": table}, backend="cpu", partitions=1)
    assert "single partition (V1)" in text


ROOT = Path(__file__).resolve().parent.parent


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "gpuvelo", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def test_cli_explain_shows_strategy_and_why(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(random_table(np.random.default_rng(27), 10), path)
    done = _cli("explain", "SELECT k1, COUNT(*) FROM t GROUP BY k1", "--source", f"t={path}")
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("strategy:"))
    # the default partition count depends on the machine's cores: V1 or hash, each with a reason
    assert ("round_robin over" in line and "two-phase" in line) or "single partition (V1)" in line, line


def test_cli_explain_takes_partitions_and_strategy(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(random_table(np.random.default_rng(27), 10), path)
    done = _cli("explain", "SELECT k1, COUNT(*) FROM t GROUP BY k1", "--source", f"t={path}",
                "--partitions", "4", "--strategy", "round_robin")
    assert done.returncode == 0, done.stderr
    assert "round_robin over 4 partitions" in done.stdout
