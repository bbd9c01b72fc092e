"""V1 == V2: the partitioned coordinator gives the single-partition answer for every
partition count and routing strategy, on random data and random aggregate queries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import gpuvelo
from differential import assert_same_rows, has_order_by, random_table, rows
from test_differential_random import DataChooser, RngChooser, random_aggregate_query

STRATEGIES = ("hash", "round_robin", "sticky", "smart")
PARTITIONS = (1, 2, 3, 8)


def _v1_v2_agree(query: str, table, batch_size: int) -> None:
    """Run ``query`` on V1 and on V2 for every partition count and strategy; assert equal rows."""
    v1 = gpuvelo.sql(query, backend="cpu", batch_size=batch_size, partitions=1, t=table)
    ordered = has_order_by(query)
    for n in PARTITIONS:
        for strategy in STRATEGIES:
            v2 = gpuvelo.sql(query, backend="cpu", batch_size=batch_size, partitions=n,
                             strategy=strategy, t=table)
            assert v2.column_names == v1.column_names
            assert_same_rows(rows(v2), rows(v1), ordered=ordered,
                             context=f"query: {query}\npartitions={n} strategy={strategy} "
                                     f"batch_size={batch_size}")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_queries_v1_equals_v2(data):
    ch = DataChooser(data)
    seed, n = ch.integer(0, 2**31), ch.integer(1, 120)
    null_p = ch.choice([0.0, 0.15, 0.6])
    note(f"random_table(np.random.default_rng({seed}), {n}, null_p={null_p})")
    table = random_table(np.random.default_rng(seed), n, null_p=null_p)
    query = random_aggregate_query(ch)
    note(query)
    _v1_v2_agree(query, table, batch_size=ch.choice([7, 16, 33]))


@pytest.mark.parametrize("seed", range(4))
def test_seeded_queries_v1_equals_v2(seed):
    ch = RngChooser(np.random.default_rng(seed))
    table = random_table(np.random.default_rng(500 + seed), 200, null_p=0.15)
    _v1_v2_agree(random_aggregate_query(ch), table, batch_size=23)


@pytest.mark.parametrize("query", [
    "SELECT k1, k2, COUNT(*), SUM(i), SUM(dec), MIN(s), MAX(f), AVG(dec), VAR_SAMP(i), "
    "COUNT(DISTINCT s), FIRST(s), LAST(i) FROM t GROUP BY k1, k2",
    "SELECT COUNT(*), SUM(dec), STDDEV_POP(f), FIRST(ts), LAST(s), COUNT(DISTINCT k2) FROM t",
    "SELECT k2, SUM(i) FROM t WHERE f > 0 GROUP BY k2 HAVING COUNT(*) > 3 "
    "ORDER BY 2 DESC NULLS LAST, 1 ASC NULLS FIRST LIMIT 3",
])
def test_fixed_queries_v1_equals_v2(query):
    """Every accumulator kind (incl. FIRST/LAST by global arrival, COUNT DISTINCT, variance)
    merges across partitions; ORDER BY/LIMIT are global."""
    table = random_table(np.random.default_rng(7), 240, null_p=0.15)
    _v1_v2_agree(query, table, batch_size=29)


# --------------------------------------------------------------------------- EMIT CHANGES
CHANGES_QUERIES = [
    ("SELECT k1, k2, COUNT(*), SUM(i), MIN(s), AVG(dec), LAST(f) FROM t GROUP BY k1, k2", 2),
    ("SELECT k3, COUNT(DISTINCT s), STDDEV(i), FIRST(d) FROM t WHERE i > -500 GROUP BY k3", 1),
    ("SELECT COUNT(*), SUM(f), MAX(ts) FROM t", 0),
]


def _last_per_group(table, nkeys: int) -> list[tuple]:
    """The last row emitted for each group (groups identified by the first ``nkeys`` columns)."""
    last: dict = {}
    for r in rows(table):
        last[r[:nkeys]] = r
    return list(last.values())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("query,nkeys", CHANGES_QUERIES)
def test_emit_changes_last_row_per_group_is_final(query, nkeys, strategy):
    table = random_table(np.random.default_rng(11), 300, null_p=0.15)
    final = gpuvelo.sql(query, backend="cpu", batch_size=25, partitions=1, t=table)
    sink = gpuvelo.io.MemorySink()
    stats = gpuvelo.Job(query, sources={"t": table}, sink=sink, backend="cpu", batch_size=25,
                        partitions=3, strategy=strategy, emit="changes").run()
    emitted = sink.table()
    assert stats.emits > 1, "EMIT CHANGES emitted once only: not streaming"
    assert emitted.num_rows > final.num_rows or final.num_rows <= 1
    assert_same_rows(_last_per_group(emitted, nkeys), rows(final), ordered=False,
                     context=f"query: {query}\nstrategy={strategy}")
