"""Routing: with ``hash`` every key's rows land in exactly one partition, the same on every
run and whatever the batching; the scatter is stable; routing counts add up; ``sticky``
follows source partitions and ``smart`` picks sticky for a source partitioned by the key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from differential import random_table
from gpuvelo.arrowcol import col_to_arrow
from gpuvelo.backends import select_backend
from gpuvelo.backends.keyhash import partition_ids
from gpuvelo.exec.query import CompiledQuery
from gpuvelo.exec.routing import HashRouting

QUERY = "SELECT k1, k2, COALESCE(s, 'none'), COUNT(*), SUM(i) FROM t WHERE i <> 0 GROUP BY 1, 2, 3"


def _row_stage(query: str, table: pa.Table, position: int = 0, full_table=None):
    """The row-stage output of ``table`` (one batch) for ``query`` on the CPU backend."""
    job = gpuvelo.Job(query, sources={"t": full_table or table}, sink=gpuvelo.io.MemorySink(),
                      backend="cpu")
    cq = CompiledQuery(job.plan, job.backend)
    return cq, cq.row_stage(table.combine_chunks().to_batches()[0], position)


def _key_tuples(rb, index) -> list[tuple]:
    cols = [col_to_arrow(k.take(index)).to_pylist() for k in rb.keys]
    return list(zip(*cols))


def _partition_of_rows(rb, n: int) -> np.ndarray:
    """Partition id per row-stage row, from the pieces HashRouting makes."""
    out = np.full(rb.rows_out, -1)
    for piece in HashRouting(n, select_backend("cpu")).route(rb, 0):
        assert (out[piece.rows] == -1).all(), "a row was routed to two partitions"
        out[piece.rows] = piece.partition
    return out


@pytest.mark.parametrize("n", [2, 3, 8])
def test_hash_each_key_in_exactly_one_partition(n):
    table = random_table(np.random.default_rng(3), 2000, null_p=0.2)
    _, rb = _row_stage(QUERY, table)
    pieces = HashRouting(n, select_backend("cpu")).route(rb, 0)
    assert sum(p.batch.rows_out for p in pieces) == rb.rows_out
    owner: dict = {}
    seen = np.concatenate([np.asarray(p.rows) for p in pieces])
    assert np.array_equal(np.sort(seen), np.arange(rb.rows_out)), "rows lost or duplicated"
    for p in pieces:
        assert np.all(np.diff(np.asarray(p.rows)) > 0), "scatter is not stable (arrival order)"
        assert np.array_equal(p.batch.positions, rb.positions[p.rows])
        for key in set(_key_tuples(rb, p.rows)):
            assert owner.setdefault(key, p.partition) == p.partition, f"key {key} in two partitions"
    assert len(owner) > n, "test data too uniform: fewer keys than partitions"
    assert len({p.partition for p in pieces}) == n


def test_hash_routing_matches_the_one_hash_and_is_repeatable():
    table = random_table(np.random.default_rng(4), 1000)
    _, rb = _row_stage(QUERY, table)
    cpu = select_backend("cpu")
    expected = partition_ids(cpu.hash_keys(rb.keys), 5, np)
    first = _partition_of_rows(rb, 5)
    assert np.array_equal(first, expected)
    _, rb_again = _row_stage(QUERY, table)
    assert np.array_equal(_partition_of_rows(rb_again, 5), first)


def test_hash_routing_independent_of_batching():
    """A key goes to the same partition whichever batch (and string dictionary) it arrives in."""
    table = random_table(np.random.default_rng(5), 900)
    _, whole = _row_stage(QUERY, table)
    by_key_whole = dict(zip(_key_tuples(whole, np.arange(whole.rows_out)), _partition_of_rows(whole, 4)))
    for lo in (0, 300, 600):
        part = table.slice(lo, 300)
        # reverse the slice so string dictionaries and codes differ from the whole table's
        part = part.take(pa.array(np.arange(part.num_rows)[::-1]))
        _, rb = _row_stage(QUERY, part, lo, full_table=table)
        for key, p in zip(_key_tuples(rb, np.arange(rb.rows_out)), _partition_of_rows(rb, 4)):
            assert by_key_whole[key] == p, f"key {key}: partition {p}, whole table says {by_key_whole[key]}"


def test_routed_counts_sum_to_aggregated():
    table = random_table(np.random.default_rng(6), 3000)
    stats = gpuvelo.Job(QUERY, sources={"t": table}, sink=gpuvelo.io.MemorySink(), backend="cpu",
                        batch_size=250, partitions=3, strategy="hash").run()
    assert len(stats.records_routed) == 3
    assert all(r > 0 for r in stats.records_routed)
    assert sum(stats.records_routed) == stats.records_aggregated
    assert stats.records_filtered > 0 and stats.balanced


def test_round_robin_routes_whole_batches_in_turn():
    table = random_table(np.random.default_rng(6), 1000)
    stats = gpuvelo.Job(QUERY, sources={"t": table}, sink=gpuvelo.io.MemorySink(), backend="cpu",
                        batch_size=100, partitions=3, strategy="round_robin").run()
    assert stats.records_routed == [400, 300, 300]
    assert stats.balanced


def _parquet_dir(tmp_path, files: int = 3, rows: int = 500):
    """A directory of Parquet files, file f holding only key k == f (partitioned by k)."""
    rng = np.random.default_rng(8)
    tables = []
    for f in range(files):
        t = pa.table({"k": np.full(rows + 100 * f, f, dtype=np.int64),
                      "v": rng.integers(0, 100, rows + 100 * f)})
        pq.write_table(t, tmp_path / f"part{f}.parquet")
        tables.append(t)
    return pa.concat_tables(tables)


def test_sticky_keeps_source_partitions(tmp_path):
    whole = _parquet_dir(tmp_path)
    src = gpuvelo.io.ParquetSource(tmp_path, batch_size=128)
    sink = gpuvelo.io.MemorySink()
    stats = gpuvelo.Job("SELECT k, COUNT(*) AS n, SUM(v) AS sv FROM t GROUP BY k", sources={"t": src},
                        sink=sink, backend="cpu", partitions=3, strategy="sticky").run()
    assert stats.strategy == "sticky"
    assert stats.records_routed == [500, 600, 700]
    got = sink.table().sort_by("k").to_pylist()
    assert got == [{"k": f, "n": 500 + 100 * f,
                    "sv": int(np.asarray(whole.filter(pa.compute.equal(whole["k"], f))["v"]).sum())}
                   for f in range(3)]


def test_smart_picks_sticky_for_a_source_partitioned_by_the_key(tmp_path):
    _parquet_dir(tmp_path)
    src = gpuvelo.io.ParquetSource(tmp_path, batch_size=128)
    src.partition_key = ("k",)
    stats = gpuvelo.Job("SELECT k, COUNT(*) FROM t GROUP BY k", sources={"t": src},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", partitions=3,
                        strategy="smart").run()
    assert stats.strategy == "sticky", stats.strategy_reason
    assert "partitioned by k" in stats.strategy_reason


def test_smart_hashes_when_source_partitioned_by_another_column(tmp_path):
    _parquet_dir(tmp_path)
    src = gpuvelo.io.ParquetSource(tmp_path, batch_size=128)
    src.partition_key = ("v",)
    stats = gpuvelo.Job("SELECT k, COUNT(*) FROM t GROUP BY k", sources={"t": src},
                        sink=gpuvelo.io.MemorySink(), backend="cpu", partitions=3,
                        strategy="smart").run()
    assert stats.strategy == "hash"
