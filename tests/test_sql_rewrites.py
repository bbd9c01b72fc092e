"""SQL conveniences the planner receives rewritten (``gpuvelo.sql.rewrite``): derived tables,
DISTINCT, GROUP BY / ORDER BY ALL, aggregate FILTER, count_if, bool_and/bool_or,
IS [NOT] DISTINCT FROM, lateral aliases, constant predicates -- each against DuckDB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

import gpuvelo

T = {"t": random_table(np.random.default_rng(11), 500)}


def _cases(*queries):
    return pytest.mark.parametrize("query", queries)


@_cases(
    "SELECT k1, SUM(i) FILTER (WHERE i > 0) AS a FROM t GROUP BY k1",
    "SELECT k1, COUNT(*) FILTER (WHERE f > 0) AS pos, AVG(f) FILTER (WHERE k3) AS a FROM t GROUP BY k1",
    "SELECT k1, COUNT(DISTINCT k2) FILTER (WHERE i > 0) AS a, MIN(s) FILTER (WHERE i < 0) AS b FROM t GROUP BY k1",
    "SELECT COUNT(*) FILTER (WHERE s LIKE 'a%') AS a, MAX(i) FILTER (WHERE k1 = 2) AS b FROM t",
    "SELECT k1, count_if(i > 0) AS a, count_if(k3) AS b FROM t GROUP BY k1",
    "SELECT k1, bool_and(k3) AS a, bool_or(k3) AS b, bool_and(i > 0) AS c FROM t GROUP BY k1",
    "SELECT k1, SUM(dec) FILTER (WHERE dec > 0) AS a, stddev(f) FILTER (WHERE k2 = 'a') AS b FROM t GROUP BY k1",
)
def test_aggregate_filters_and_boolean_aggregates(query, backend):
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7)


@_cases(
    "SELECT DISTINCT k1 FROM t",
    "SELECT DISTINCT k1, k3 FROM t",
    "SELECT DISTINCT k1 % 2 AS p, lower(k2) AS l FROM t",
    "SELECT DISTINCT k1 FROM t ORDER BY k1 DESC",
    "SELECT DISTINCT k2 FROM t WHERE i > 0 ORDER BY k2 LIMIT 3",
    "SELECT k1, SUM(i) AS s FROM t GROUP BY ALL",
    "SELECT k1, k2, SUM(i) AS s FROM t GROUP BY ALL ORDER BY ALL",
    "SELECT k1 % 2 AS p, COUNT(*) AS n FROM t GROUP BY ALL ORDER BY ALL DESC",
    "SELECT k1, i FROM t WHERE i > 950 ORDER BY ALL",
)
def test_distinct_and_all(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT k1, i IS DISTINCT FROM 0 AS x, COUNT(*) AS n FROM t GROUP BY k1, x",
    "SELECT k1, COUNT(*) AS n FROM t WHERE k2 IS NOT DISTINCT FROM s GROUP BY k1",
    "SELECT f IS DISTINCT FROM g AS a, fn IS NOT DISTINCT FROM fn AS b, k2 IS DISTINCT FROM NULL AS c FROM t",
)
def test_null_safe_comparison(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT k1, COUNT(*) AS n FROM (SELECT * FROM t WHERE i > 0) GROUP BY k1",
    "WITH x AS (SELECT * FROM t WHERE i > 0) SELECT k1, COUNT(*) AS n FROM x GROUP BY k1",
    "WITH x AS (SELECT k1 AS key, i * 2 AS v FROM t WHERE f > 0) SELECT key, SUM(v) AS total FROM x GROUP BY key",
    "SELECT key, SUM(v) AS s FROM (SELECT k1 AS key, i + 1 AS v FROM t) AS sub WHERE v > 10 GROUP BY key HAVING SUM(v) > 0",
    "SELECT * FROM (SELECT k1, i FROM t WHERE i > 900)",
    "SELECT sub.k1, COUNT(*) AS n FROM (SELECT k1 FROM t) sub GROUP BY sub.k1",
    "WITH a AS (SELECT * FROM t WHERE i > 0), b AS (SELECT * FROM a WHERE f > 0) SELECT k1, COUNT(*) AS n FROM b GROUP BY k1",
    "SELECT v, COUNT(*) AS n FROM (SELECT lower(k2) AS v FROM t) GROUP BY v ORDER BY v",
)
def test_derived_tables_are_inlined(query, backend):
    run_both(query, T, backend=backend, check_names=True)


@_cases(
    "SELECT k1, SUM(i) AS total, total / COUNT(*) AS avg_i FROM t GROUP BY k1",
    "SELECT i * 2 AS x, x + 1 AS y FROM t WHERE i > 500",
    "SELECT k1, COUNT(*) AS n, n * 2 AS n2 FROM t GROUP BY k1 HAVING n2 > 10 ORDER BY n2",
)
def test_lateral_aliases(query, backend):
    run_both(query, T, backend=backend)


@_cases(
    "SELECT COUNT(*) AS n FROM t WHERE FALSE",
    "SELECT COUNT(*) AS n, SUM(1) AS s FROM t WHERE 1 = 1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE NULL GROUP BY k1",
    "SELECT 1 AS one, COUNT(*) AS n FROM t GROUP BY one",
    "SELECT 42 AS x FROM t WHERE i > 990",
)
def test_constant_expressions(query, backend):
    run_both(query, T, backend=backend)


def test_filter_keeps_the_written_name():
    out = gpuvelo.sql("SELECT count_if(i > 0), COUNT(*) FILTER (WHERE i > 0) FROM t", t=T["t"])
    assert out.column_names == ["count_if(i > 0)", "count(*) FILTER(WHERE i > 0)"]


@_cases(
    "SELECT * EXCLUDE (s, fn) FROM t WHERE i > 900",
    "SELECT * REPLACE (i * 2 AS i, upper(s) AS s) FROM t WHERE i > 900",
    "SELECT * RENAME (i AS j) FROM t WHERE i > 900",
    "SELECT t.* FROM t WHERE i > 900",
    "SELECT t.* EXCLUDE (i) FROM t WHERE i > 900",
    "SELECT * FROM (SELECT * EXCLUDE (fn) FROM t WHERE i > 900)",
    "SELECT * EXCLUDE (dec) FROM (SELECT * EXCLUDE (fn) FROM t) WHERE i > 900",
)
def test_star_modifiers(query, backend):
    run_both(query, T, backend=backend, check_names=True)


def test_star_modifier_naming_an_unknown_column():
    with pytest.raises(gpuvelo.errors.UnknownColumnError, match="EXCLUDE"):
        gpuvelo.sql("SELECT * EXCLUDE (nope) FROM t", t=T["t"])


# --------------------------------------------------------------------------- staged subqueries
@_cases(
    "SELECT AVG(n) AS a, MAX(n) AS m FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1)",
    "SELECT k2, n FROM (SELECT k2, COUNT(*) AS n FROM t GROUP BY k2) WHERE n > 100",
    "WITH per AS (SELECT k1, k2, SUM(i) AS s FROM t GROUP BY k1, k2) "
    "SELECT k1, MAX(s) AS best, COUNT(*) AS groups FROM per GROUP BY k1",
    "WITH a AS (SELECT * FROM t WHERE i > 0), b AS (SELECT k1, COUNT(*) AS n FROM a GROUP BY k1) "
    "SELECT SUM(n) AS total FROM b",
    "SELECT COUNT(*) AS n FROM (SELECT DISTINCT k2 FROM t)",
    "SELECT sub.k1, sub.n * 2 AS twice FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 "
    "ORDER BY n DESC, k1 LIMIT 2) AS sub",
    "SELECT AVG(m) AS a FROM (SELECT k1, MAX(x) AS m FROM (SELECT k1, SUM(i) AS x FROM t GROUP BY k1, k2) GROUP BY k1)",
)
def test_aggregating_subqueries_run_as_stages(query, backend):
    run_both(query, T, backend=backend, check_names=True)
    run_both(query, T, backend=backend, batch_size=7, partitions=2)


def test_stages_read_a_one_shot_stream_once():
    table = T["t"]
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=50))
    out = gpuvelo.sql("SELECT SUM(n) AS total FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1)", t=reader)
    assert out.column("total").to_pylist() == [table.num_rows]


def test_staged_job_stats_and_explain():
    sink = gpuvelo.io.MemorySink()
    job = gpuvelo.Job("SELECT MAX(n) AS m FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1)",
                      sources={"t": T["t"]}, sink=sink)
    stats = job.run()
    assert len(stats.stages) == 1 and stats.stages[0].records_read == T["t"].num_rows
    assert stats.records_read == 6          # the stage's groups: k1 in 0..4 and NULL
    text = gpuvelo.explain("SELECT MAX(n) AS m FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1)",
                           sources={"t": T["t"]})
    assert text.startswith("stage") and "GROUP BY k1" in text


def test_stage_errors_are_reported_before_running():
    with pytest.raises(gpuvelo.errors.UnknownColumnError, match="nope"):
        gpuvelo.Job("SELECT nope FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1)",
                    sources={"t": T["t"]}, sink=gpuvelo.io.MemorySink())
    with pytest.raises(gpuvelo.errors.NotSupportedError, match="WINDOW"):
        gpuvelo.sql("SELECT MAX(n) FROM (SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 "
                    "WINDOW TUMBLING(ts, INTERVAL '1' HOUR))", t=T["t"])


# --------------------------------------------------------------------------- value subqueries
@_cases(
    "SELECT k1, COUNT(*) AS n FROM t WHERE f > (SELECT AVG(f) FROM t) GROUP BY k1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE k2 IN (SELECT k2 FROM t WHERE i > 900) GROUP BY k1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE k1 NOT IN (SELECT k1 FROM t WHERE i > 990) GROUP BY k1",
    "SELECT k1, SUM(i) AS s FROM t GROUP BY k1 HAVING SUM(i) > (SELECT SUM(i) / 10 FROM t)",
    "SELECT i, f - (SELECT MIN(f) FROM t) AS d FROM t WHERE i > 980",
    "SELECT k1, COUNT(*) AS n FROM t WHERE i IN (SELECT i FROM t WHERE i % 7 = 0) GROUP BY k1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE i NOT IN (SELECT i FROM t WHERE i % 7 = 0) GROUP BY k1",
    "SELECT COUNT(*) AS n FROM t WHERE k2 IN (SELECT k2 FROM t WHERE FALSE)",
    "SELECT COUNT(*) AS n FROM t WHERE f > (SELECT MAX(f) FROM t WHERE FALSE)",
    "SELECT k1, COUNT(*) AS n FROM t WHERE dec > (SELECT AVG(dec) FROM t) GROUP BY k1",
)
def test_subqueries_used_as_values(query, backend):
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7, partitions=2)


def test_value_subquery_over_another_source():
    watch = pa.table({"name": ["a", "é", "zz"]})
    got = gpuvelo.sql("SELECT k2, COUNT(*) AS n FROM t WHERE k2 IN (SELECT name FROM w) GROUP BY k2 ORDER BY k2",
                      t=T["t"], w=watch)
    assert got.column("k2").to_pylist() == ["a", "é"]


@pytest.mark.parametrize("query, error, message", [
    ("SELECT COUNT(*) FROM t WHERE i > (SELECT i FROM t)", gpuvelo.errors.PlanError, "returned"),
    ("SELECT COUNT(*) FROM t WHERE i IN (SELECT i, f FROM t)", gpuvelo.errors.PlanError, "one column"),
    ("SELECT COUNT(*) FROM t WHERE i > 0 OR EXISTS (SELECT 1 FROM t AS u WHERE u.i = t.i)",
     gpuvelo.errors.NotSupportedError, "correlated EXISTS"),
])
def test_value_subquery_errors(query, error, message):
    with pytest.raises(error, match=message):
        gpuvelo.sql(query, t=T["t"])


@_cases(
    "SELECT k1, mean(f) AS a, favg(g) AS b, fsum(f) AS c, sumkahan(i) AS d, kahan_sum(dec) AS e FROM t GROUP BY k1",
    "SELECT k1, arbitrary(s) AS a, count_star() AS n FROM t GROUP BY k1",
    "SELECT k1, geomean(u) AS a, geometric_mean(ABS(f)) AS b, sem(f) AS c FROM t GROUP BY k1",
    "SELECT k1, product(i16 % 3) AS a, product(f / 100) AS b, product(k1) AS c FROM t GROUP BY k1",
    "SELECT product(fn) AS a, product(NULLIF(i, 0) / 500) AS b FROM t",
    "SELECT k2, product(i % 5) AS p FROM t WHERE i BETWEEN -20 AND 20 GROUP BY k2",
    "SELECT k1, skewness(f) AS s, kurtosis(f) AS k, kurtosis_pop(i) AS kp FROM t GROUP BY k1",
    "SELECT k1, k2, skewness(i16) AS s, kurtosis(dec) AS k FROM t GROUP BY k1, k2",
)
def test_other_aggregate_spellings_and_formulas(query, backend):
    """mean/fsum/arbitrary/count_star() are other names; geomean, sem and product are formulas
    of plain aggregates (product: zeros, signs, NaN and infinities as DuckDB multiplies)."""
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7)


# --------------------------------------------------------------------------- grouping sets
@_cases(
    "SELECT k1, k3, SUM(i) AS s, COUNT(*) AS n FROM t GROUP BY ROLLUP (k1, k3)",
    "SELECT k1, k3, SUM(i) AS s, GROUPING(k1) AS g1, GROUPING(k3) AS g3 FROM t GROUP BY CUBE (k1, k3)",
    "SELECT k1, k2, COUNT(*) AS n FROM t GROUP BY GROUPING SETS ((k1, k2), (k1), ())",
    "SELECT k1, k3, SUM(i) AS s FROM t WHERE f > 0 GROUP BY k1, ROLLUP (k3) HAVING SUM(i) > 0",
    "SELECT k1, k3, SUM(i) AS s FROM t GROUP BY ROLLUP (k1, k3) ORDER BY k1 NULLS FIRST, k3 NULLS FIRST, s DESC LIMIT 7",
    "SELECT k2, AVG(f) AS a, MAX(s) AS m FROM t GROUP BY ROLLUP (k2) ORDER BY AVG(f) DESC NULLS LAST",
    "SELECT k1, k3, COUNT(*) AS n, GROUPING(k1, k3) AS g, GROUPING(k3, k1) AS h FROM t "
    "GROUP BY CUBE (k1, k3) ORDER BY g, k1, k3",
    "SELECT k2, COUNT(*) AS n FROM t GROUP BY ROLLUP (t.k2) ORDER BY k2",
    "SELECT t.k2, SUM(i) AS s, GROUPING(t.k2) AS g FROM t GROUP BY ROLLUP (k2) ORDER BY 1",
)
def test_rollup_cube_grouping_sets(query, backend):
    """One query per key set (missing keys NULL, GROUPING() the bitmask of absent keys; keys
    match with or without their table), stacked, then ordered."""
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7, partitions=2)


@_cases(
    "SELECT k1, i FROM t WHERE i > 990 UNION ALL SELECT k1, i FROM t WHERE i < -990",
    "SELECT k2 FROM t WHERE i > 900 UNION SELECT k2 FROM t WHERE i < -900",
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 UNION ALL SELECT NULL, COUNT(*) FROM t ORDER BY n DESC",
    "SELECT k2 AS key, SUM(i) AS s FROM t GROUP BY k2 UNION ALL SELECT s, SUM(u) FROM t GROUP BY s "
    "ORDER BY key NULLS FIRST, s LIMIT 5",
    "SELECT i FROM t WHERE i > 990 UNION ALL SELECT f FROM t WHERE f > 99",
)
def test_union(query, backend):
    """UNION [ALL]: each branch runs as its own query; results stacked (types promoted,
    named as the first branch), then DISTINCT / ORDER BY / LIMIT over them."""
    run_both(query, T, backend=backend)


def test_union_of_different_sources_and_errors():
    got = gpuvelo.sql("SELECT x FROM a UNION ALL SELECT y FROM b ORDER BY x", a={"x": [3, 1]}, b={"y": [2]})
    assert got.column("x").to_pylist() == [1, 2, 3]
    with pytest.raises(gpuvelo.errors.PlanError, match="2 and 1 columns"):
        gpuvelo.sql("SELECT x, x FROM a UNION ALL SELECT y FROM b", a={"x": [3]}, b={"y": [2]})
