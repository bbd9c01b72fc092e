"""DuckDB conveniences a new user writes, against DuckDB: DISTINCT ON, ``= ANY`` / ``<> ALL``
over subqueries, LIMIT ... PERCENT (was silently read as a row count), FETCH FIRST, GLOB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

QUERIES = [
    "SELECT DISTINCT ON (k2) k2, rid, i FROM t ORDER BY k2, rid DESC",
    "SELECT DISTINCT ON (k2) * FROM t ORDER BY k2, rid",
    "SELECT DISTINCT ON (k1, k3) k1, k3, rid FROM t ORDER BY k1, k3, rid",
    "SELECT DISTINCT ON (1) k2 AS g, rid FROM t ORDER BY 1, 2 DESC",
    "SELECT DISTINCT ON (g) k2 AS g, rid FROM t ORDER BY g NULLS FIRST, rid",
    "SELECT DISTINCT ON (k2) k2, rid FROM t WHERE i > 0 ORDER BY k2, rid LIMIT 3",
    "SELECT k2, COUNT(*) FROM t WHERE k1 = ANY (SELECT k1 FROM t WHERE i > 500) GROUP BY k2",
    "SELECT k2, COUNT(*) FROM t WHERE k1 <> ALL (SELECT k1 FROM t WHERE i > 500) GROUP BY k2",
    "SELECT k2, COUNT(*) FROM t WHERE k1 <> ALL (SELECT k1 FROM t WHERE i > 500 AND k1 IS NOT NULL) "
    "GROUP BY k2",
    "SELECT k2 FROM t ORDER BY rid LIMIT 10 PERCENT",
    "SELECT rid FROM t WHERE i > 0 LIMIT 33.3 PERCENT",
    "SELECT k2, COUNT(*) AS c FROM t GROUP BY k2 ORDER BY c, k2 LIMIT 50 PERCENT",
    "SELECT k2, rid FROM t ORDER BY rid OFFSET 5 ROWS FETCH NEXT 3 ROWS ONLY",
    "SELECT k2, rid FROM t ORDER BY rid FETCH FIRST ROW ONLY",
    "SELECT k2, rid FROM t ORDER BY rid LIMIT ALL",
    "SELECT k2, rid FROM t ORDER BY rid LIMIT NULL OFFSET 290",
    "SELECT COUNT(*), COUNT(*) FILTER (WHERE s GLOB '*a?'), COUNT(*) FILTER (WHERE s GLOB '[!a-m]*') FROM t",
    "SELECT k2, COUNT(*) FROM t WHERE s NOT GLOB 's?[0-4]*' GROUP BY k2",
    # ORDER BY inside aggregates whose value does not depend on it (DuckDB's ordered aggregates)
    "SELECT k1, SUM(i ORDER BY f), COUNT(DISTINCT i ORDER BY i), MEDIAN(i ORDER BY f DESC), "
    "MAX(f ORDER BY i), bool_and(k3 ORDER BY f) FROM t GROUP BY k1",
    # FILTER on aggregates that are formulas of others, and on ANY_VALUE
    "SELECT k1, product(i16) FILTER (WHERE k3), skewness(f) FILTER (WHERE k3), "
    "kurtosis(i) FILTER (WHERE i > 0) FROM t GROUP BY 1",
    "SELECT k2, mean(f) FILTER (WHERE k3), fsum(f) FILTER (WHERE NOT k3), "
    "any_value(s) FILTER (WHERE i > 900) IS NULL FROM t GROUP BY 1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_conveniences_match_duckdb(backend, query):
    t = random_table(np.random.default_rng(3), 300)
    t = t.append_column("rid", pa.array(np.arange(300)))
    run_both(query, {"t": t}, backend=backend)
    run_both(query, {"t": t}, backend=backend, batch_size=7)


def test_explain_shows_asof_inequality_set_branches_literal_rows_and_window_routing():
    import gpuvelo

    t = pa.table({"k": [1, 2], "ts": pa.array([1, 2], pa.timestamp("us")), "v": [1.0, 2.0]})
    text = gpuvelo.explain("SELECT * FROM t ASOF JOIN q ON t.k = q.k AND t.ts >= q.ts",
                           sources={"t": t, "q": t})
    assert "on t.k = q.k, t.ts >= q.ts" in text
    assert gpuvelo.explain("SELECT 1 AS a").startswith("source: __rows1")
    text = gpuvelo.explain("SELECT k FROM t UNION SELECT k FROM t EXCEPT SELECT 2", sources={"t": t})
    assert "branch 2 (runs first): SELECT 2" in text and "combined (except)" in text
    text = gpuvelo.explain("SELECT k, COUNT(*) FROM t GROUP BY k WINDOW TUMBLING (ts, 1m)",
                           sources={"t": t}, partitions=4)
    assert "hash over 4 partitions (V2)" in text


def test_graceful_stop_during_a_stage_answers_over_the_rows_read():
    """Stopped while its subquery stage reads the stream, the query still runs over what the
    stage made of the rows read (it used to answer over nothing: 0 groups, NULL rows)."""
    import threading
    import time

    import gpuvelo

    rng = np.random.default_rng(0)

    def stream():
        for _ in range(100_000):
            yield pa.record_batch({"k": pa.array(rng.integers(0, 100, 1000))})
            time.sleep(0.001)

    sink = gpuvelo.io.MemorySink()
    job = gpuvelo.Job("SELECT COUNT(*) AS groups, SUM(n) AS rows FROM (SELECT k, COUNT(*) AS n "
                      "FROM t GROUP BY k)", sources={"t": stream()}, sink=sink, backend="cpu")
    threading.Timer(0.5, job.stop).start()
    job.run()
    (row,) = sink.table().to_pylist()
    assert row["groups"] == 100 and row["rows"] > 0 and row["rows"] % 1000 == 0


@pytest.mark.parametrize("query", [
    "SELECT * FROM range(5)",
    "SELECT * FROM range(1, 10, 2) r(i)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM generate_series(10, 1, -3)",
    "SELECT * FROM range(10, 1, -3)",
    "SELECT COUNT(*), SUM(range) FROM range(100000)",
    "SELECT i % 3 AS g, COUNT(*) FROM range(100) r(i) GROUP BY g",
    "SELECT * FROM range(0)",
    "SELECT r.range, t.k2 FROM range(3) r JOIN t ON t.k1 = r.range",
])
def test_range_and_generate_series_match_duckdb(query):
    t = random_table(np.random.default_rng(4), 100)
    run_both(query, {"t": t})
    import duckdb

    import gpuvelo
    con = duckdb.connect()
    con.register("t", t)
    assert gpuvelo.sql(query, t=t).column_names == con.sql(query).columns or "SUM" in query


def test_derived_table_columns_keep_their_names_in_the_outer_query():
    import gpuvelo

    t = pa.table({"i": [1, 2, 3]})
    got = gpuvelo.sql("SELECT sum(x), max(j) FROM (SELECT i * 2 AS x, i + 1 AS j FROM t)", t=t)
    assert got.column_names == ["sum(x)", "max(j)"]


@pytest.mark.parametrize("query", [
    "SELECT COLUMNS('^k') FROM t",
    "SELECT MAX(COLUMNS(*)) FROM t",
    "SELECT MIN(COLUMNS(['k1', 'i'])) FROM t",
    "SELECT k2, SUM(COLUMNS('^(i|f)$')) FROM t GROUP BY k2",
    "SELECT COLUMNS('^k') FROM (SELECT k1, k2 FROM t WHERE i > 3)",
    "SELECT COUNT(COLUMNS(*)) FROM t",
])
def test_columns_expressions_match_duckdb(query):
    import duckdb

    import gpuvelo
    t = random_table(np.random.default_rng(6), 200)
    run_both(query, {"t": t}, ordered=False)
    con = duckdb.connect()
    con.register("t", t)
    assert gpuvelo.sql(query, t=t).column_names == con.sql(query).columns


def test_columns_expression_errors():
    import gpuvelo
    from gpuvelo.errors import NotSupportedError, UnknownColumnError

    t = pa.table({"a": [1], "b": [2]})
    with pytest.raises(UnknownColumnError, match="matches no column; the columns are a, b"):
        gpuvelo.sql("SELECT COLUMNS('^z') FROM t", t=t)
    with pytest.raises(NotSupportedError, match="not lambdas"):
        gpuvelo.sql("SELECT COLUMNS(c -> c LIKE 'a%') FROM t", t=t)
    with pytest.raises(NotSupportedError, match="needs the names"):
        gpuvelo.sql("SELECT MAX(COLUMNS(*)) FROM t", t=iter(t.to_batches()))
