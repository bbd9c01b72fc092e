"""PIVOT / UNPIVOT of a subquery or CTE, against DuckDB (names and values), and the clear
errors where gpuvelo cannot know the input's columns (it used to ignore PIVOT silently)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

import gpuvelo
from gpuvelo.errors import NotSupportedError
from differential import random_table, run_both

QUERIES = [
    "SELECT * FROM (SELECT k1, k2, i FROM t) PIVOT (SUM(i) FOR k2 IN ('a', 'b', 'zz'))",
    "SELECT * FROM (SELECT k1, k2, i, f FROM t) PIVOT (SUM(i) AS s, AVG(f) AS m, COUNT(*) "
    "FOR k2 IN ('a', 'b' AS bee))",
    "SELECT * FROM (SELECT k1, k3, k2, dec FROM t) PIVOT (MAX(dec) FOR k3 IN (true, false, NULL))",
    "SELECT * FROM (SELECT k1 % 3 AS g, k2, k3, i FROM t) PIVOT (COUNT(i) FOR k2 IN ('a', 'b') "
    "k3 IN (true, false))",
    "WITH x AS (SELECT k1, k2, f FROM t WHERE i > 0) SELECT * FROM x PIVOT (MIN(f) FOR k2 IN ('a', 'c'))",
    "SELECT k1, a + COALESCE(b, 0) AS ab FROM (SELECT k1, k2, i FROM t) PIVOT (SUM(i) FOR k2 IN ('a', 'b'))",
    "SELECT * FROM (SELECT k2, i FROM t) PIVOT (SUM(i) FOR k2 IN ('a', 'b'))",
    "SELECT * FROM (SELECT k1, i AS x, u AS y FROM t) UNPIVOT (val FOR col IN (x, y))",
    "SELECT col, COUNT(*), SUM(val) FROM (SELECT k1, i AS x, i16 AS y FROM t) "
    "UNPIVOT (val FOR col IN (x, y)) GROUP BY col",
    # a plain table: its columns come from the source
    "SELECT k2, a FROM t PIVOT (SUM(i) FOR k3 IN (true AS a, false)) ",
    "SELECT col, COUNT(*), SUM(val) FROM t UNPIVOT (val FOR col IN (i, i16)) GROUP BY col",
]


@pytest.mark.parametrize("query", QUERIES)
def test_pivot_matches_duckdb(backend, query):
    t = random_table(np.random.default_rng(11), 300)
    run_both(query, {"t": t}, backend=backend, batch_size=13)
    con = duckdb.connect()          # the columns are named as DuckDB names them
    con.register("t", t)
    assert gpuvelo.sql(query, t=t, backend=backend).column_names == con.sql(query).columns


@pytest.mark.parametrize("query, message", [
    ("SELECT * FROM (SELECT * FROM t) PIVOT (SUM(i) FOR k2 IN ('a'))", "not a table or SELECT \\*"),
    ("PIVOT t ON k2 USING SUM(i) GROUP BY k1", "the PIVOT statement"),
])
def test_pivot_errors(query, message):
    t = random_table(np.random.default_rng(1), 20)
    with pytest.raises(NotSupportedError, match=message):
        gpuvelo.sql(query, t=t)


def test_pivot_of_a_one_shot_stream_is_refused_not_read_twice():
    t = random_table(np.random.default_rng(1), 20)
    with pytest.raises(NotSupportedError, match="PIVOT needs the names of its input's columns"):
        gpuvelo.sql("SELECT * FROM t PIVOT (SUM(i) FOR k2 IN ('a'))", t=iter(t.to_batches()))
