"""The result must not depend on how the input is cut into batches (or partitions): the same
query with batch_size 1, 7, 1000 and None, and over streams of uneven batches, gives the same
rows, and those rows equal DuckDB's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import assert_same_rows, engine_table, has_order_by, random_table, rows, run_both

T = {"t": random_table(np.random.default_rng(99), 120)}

QUERIES = [
    "SELECT k1, COUNT(*), SUM(i), AVG(f), MIN(s), MAX(ts) FROM t GROUP BY k1",
    "SELECT k2, k3, COUNT(DISTINCT s), VAR_SAMP(i), STDDEV_POP(f), SUM(dec) FROM t GROUP BY k2, k3",
    "SELECT k1, FIRST(s), LAST(s), FIRST(i), LAST(ts) FROM t GROUP BY k1",
    "SELECT COUNT(*), SUM(u), MIN(d), MAX(dec), FIRST(k2), LAST(k2) FROM t",
    "SELECT k2, SUM(i) AS total FROM t WHERE f > 0 GROUP BY k2 HAVING COUNT(*) > 3 ORDER BY total DESC, k2 NULLS LAST",
    "SELECT i, s, f FROM t WHERE i > 0 ORDER BY i, s NULLS FIRST, f LIMIT 15",
    "SELECT i * 2, s FROM t WHERE k3",
]


@pytest.mark.parametrize("query", QUERIES)
def test_batch_size_does_not_change_the_result(query, backend):
    reference = run_both(query, T, backend=backend)
    for batch_size in (1, 7, 1000):
        got = run_both(query, T, backend=backend, batch_size=batch_size)
        assert_same_rows(got, reference, ordered=has_order_by(query), context=f"batch_size={batch_size}: {query}")


@pytest.mark.parametrize("query", QUERIES[:5])
@pytest.mark.parametrize("partitions", [1, 2, 5])
def test_partition_count_does_not_change_the_result(query, partitions, backend):
    run_both(query, T, backend=backend, partitions=partitions, batch_size=16)


@pytest.mark.parametrize("query", QUERIES)
def test_uneven_stream_of_batches(query, backend):
    table = T["t"]
    cuts = [0, 1, 2, 30, 31, 77, table.num_rows]   # batches of 1, 1, 28, 1, 46, 43 rows
    stream = [b for lo, hi in zip(cuts, cuts[1:]) for b in table.slice(lo, hi - lo).to_batches()]
    expected = rows(engine_table(query, T, backend=backend))
    got = rows(engine_table(query, {"t": iter(stream)}, backend=backend))
    assert_same_rows(got, expected, ordered=has_order_by(query), context=query)
    run_both(query, {"t": pa.Table.from_batches(stream)}, backend=backend)


def test_batches_with_different_string_dictionaries(backend):
    """Dictionary-encoded strings whose codes mean different strings in different batches."""
    b1 = pa.record_batch({"s": pa.DictionaryArray.from_arrays(pa.array([0, 1, 1, None], pa.int32()), pa.array(["a", "b"])),
                          "x": pa.array([1, 2, 3, 4], pa.int64())})
    b2 = pa.record_batch({"s": pa.DictionaryArray.from_arrays(pa.array([0, 1, 2], pa.int32()), pa.array(["b", "c", "a"])),
                          "x": pa.array([10, 20, 30], pa.int64())})
    query = "SELECT s, COUNT(*), SUM(x), FIRST(x), LAST(x) FROM t GROUP BY s"
    got = run_both(query, {"t": pa.Table.from_batches([b1, b2])}, backend=backend)
    streamed = rows(engine_table(query, {"t": [b1, b2]}, backend=backend, batch_size=2))
    assert_same_rows(streamed, got, ordered=False, context=query)
    assert sorted(r[:3] for r in got if r[0] is not None) == [("a", 2, 31), ("b", 3, 15), ("c", 1, 20)]
