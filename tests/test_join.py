"""FROM stream JOIN table: a stream enriched with a finite source (io/join.py), against DuckDB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

import gpuvelo

T = random_table(np.random.default_rng(1), 2000)
D = pa.table({"k": pa.array([0, 1, 2, 2, None], pa.int64()), "label": ["zero", "one", "two", "two-b", "none"],
              "weight": [1.0, 2.0, 0.5, 3.0, 9.0], "i": [10, 20, 30, 40, 50]})
S2 = pa.table({"k2": ["a", "é", "", "x"], "score": [1, 2, 3, 4]})
TABLES = {"t": T, "d": D, "s2": S2}


@pytest.mark.parametrize("query", [
    "SELECT d.label, COUNT(*) AS n, SUM(t.i) AS s FROM t JOIN d ON t.k1 = d.k GROUP BY d.label",
    "SELECT t.k1, d.label, COUNT(*) AS n FROM t LEFT JOIN d ON t.k1 = d.k GROUP BY t.k1, d.label",
    "SELECT label, AVG(f) AS a FROM t INNER JOIN d ON d.k = t.k1 WHERE weight > 1 GROUP BY label",
    "SELECT t.i, d.label FROM t JOIN d ON t.k1 = d.k WHERE t.i > 950",
    "SELECT label, SUM(a.i * weight) AS w, SUM(b.i) AS bi FROM t AS a JOIN d AS b ON a.k1 = b.k GROUP BY label ORDER BY label",
    "SELECT k2, COUNT(*) AS n FROM t JOIN s2 USING (k2) GROUP BY k2",
    "SELECT k2, MAX(score) AS m, COUNT(*) AS n, MIN(s) AS ms FROM t LEFT JOIN s2 USING (k2) GROUP BY k2",
    "SELECT t.k2, COUNT(*) AS n FROM t JOIN s2 ON t.k2 = s2.k2 AND t.k1 = s2.score GROUP BY t.k2",
])
@pytest.mark.parametrize("opts", [{}, {"batch_size": 7}, {"batch_size": 100, "partitions": 3}])
def test_join_matches_duckdb(query, opts, backend):
    run_both(query, TABLES, backend=backend, **opts)


def test_join_windowed_and_stream_order():
    """Rows keep the stream's order (FIRST/LAST), and windows work over the joined rows."""
    t = pa.table({"ts": pa.array(np.arange(0, 600_000, 10_000), pa.timestamp("ms")),
                  "k": np.tile([0, 1, 2], 20), "v": np.arange(60)})
    got = gpuvelo.sql("SELECT label, window_start, COUNT(*) AS n, FIRST(v) AS f, LAST(v) AS l FROM t "
                      "JOIN d ON t.k = d.k GROUP BY label WINDOW TUMBLING(ts, INTERVAL '5' MINUTE)",
                      t=t, d=D).sort_by([("label", "ascending"), ("window_start", "ascending")])
    assert got.column("label").to_pylist() == ["one", "one", "two", "two", "two-b", "two-b", "zero", "zero"]
    assert got.column("n").to_pylist() == [10] * 8
    assert got.column("f").to_pylist()[:2] == [1, 31] and got.column("l").to_pylist()[:2] == [28, 58]


@pytest.mark.parametrize("query, message", [
    ("SELECT * FROM t RIGHT JOIN d ON t.k1 = d.k", "only INNER and LEFT joins"),
    ("SELECT * FROM t JOIN d ON t.k1 > d.k", "equalities of a column of each side"),
    ("SELECT * FROM t JOIN d ON k1 = k", "qualified by table"),
    ("SELECT * FROM t JOIN d ON t.k1 = d.k JOIN s2 USING (k2)", "one JOIN per query"),
    ("SELECT * FROM t JOIN d ON t.nope = d.k", "JOIN key 'nope'"),
])
def test_join_errors(query, message):
    with pytest.raises(gpuvelo.errors.GpuveloError, match=message):
        gpuvelo.sql(query, **TABLES)
