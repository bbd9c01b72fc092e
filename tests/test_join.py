"""FROM stream JOIN table [JOIN ...], CROSS and comma joins: a stream enriched with finite
sources (io/join.py), against DuckDB."""

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
# dimension tables with unique keys (joined by lookup), one with a NULL key that matches nothing
DIM = pa.table({"k": pa.array([0, 1, 2, 3, None], pa.int32()), "sector": [10, 20, 10, None, 30],
                "name": ["n0", "n1", "n2", "n3", "nnull"]})
SEC = pa.table({"id": [10, 20, 40], "name": ["tech", "fin", "unused"]})
THR = pa.table({"lo": [-100], "hi": [500]})
EMPTY = pa.table({"z": pa.array([], pa.int64())})
TABLES = {"t": T, "d": D, "s2": S2, "dim": DIM, "sec": SEC, "thr": THR, "empty": EMPTY}


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


CHAINS = [
    # star / snowflake: a later ON reads an earlier join's column; INNER and LEFT mixed
    "SELECT x.name, COUNT(*) AS n, SUM(t.i) AS s FROM t JOIN dim s ON t.k1 = s.k "
    "LEFT JOIN sec x ON s.sector = x.id GROUP BY x.name",
    "SELECT s.name AS sn, x.name AS xn, COUNT(*) AS n FROM t LEFT JOIN dim s ON t.k1 = s.k "
    "LEFT JOIN sec x ON s.sector = x.id GROUP BY s.name, x.name",
    "SELECT t.i, s.name, x.name AS xn FROM t JOIN dim s ON t.k1 = s.k JOIN sec x ON x.id = s.sector "
    "WHERE t.i > 900",
    "SELECT d.label, s.name, COUNT(*) AS n, SUM(t.f) AS sf FROM t JOIN d ON t.k1 = d.k "
    "LEFT JOIN dim s ON d.k = s.k GROUP BY d.label, s.name",
    "SELECT k2, s.name, COUNT(*) AS n FROM t JOIN s2 USING (k2) LEFT JOIN dim s ON t.k1 = s.k "
    "GROUP BY k2, s.name",
    # the same dimension twice, under two aliases (the second join by hash: b.sector repeats)
    "SELECT a.name AS an, b.name AS bn, COUNT(*) AS n FROM t JOIN dim a ON t.k1 = a.k "
    "LEFT JOIN dim b ON a.sector = b.sector GROUP BY a.name, b.name",
    # comma joins: WHERE's equalities become the keys, the other terms stay a filter
    "SELECT t.k1, COUNT(*) AS n, SUM(t.i) AS s FROM t, dim s WHERE t.k1 = s.k AND t.i > 3 GROUP BY t.k1",
    "SELECT x.name, COUNT(*) AS n FROM t, dim s, sec x WHERE s.k = t.k1 AND x.id = s.sector "
    "AND (t.f > 0 OR t.f IS NULL) GROUP BY x.name",
    # cross joins: a one-row table of thresholds, a comma join without equality, an empty side
    "SELECT t.k1, COUNT(*) AS n FROM t CROSS JOIN thr WHERE t.i BETWEEN thr.lo AND thr.hi GROUP BY t.k1",
    "SELECT t.k1, COUNT(*) AS n, MAX(hi) AS h FROM t, thr WHERE t.i > thr.lo GROUP BY t.k1",
    "SELECT COUNT(*) AS n, SUM(t.i) AS s FROM t CROSS JOIN empty",
    "SELECT d.label, COUNT(*) AS n, SUM(t.i) AS s FROM t, d GROUP BY d.label",
    # an INNER JOIN's other conditions filter (non-equi: a cross join and a filter)
    "SELECT d.label, COUNT(*) AS n FROM t JOIN d ON t.k1 = d.k AND t.i > d.i AND d.weight > 1 GROUP BY d.label",
    "SELECT t.k1, COUNT(*) AS n FROM t JOIN thr ON t.i < thr.hi GROUP BY t.k1",
    # aggregating derived tables and CTEs as the joined side (each runs first, as a stage)
    "SELECT t.k2, COUNT(*) AS n FROM t CROSS JOIN (SELECT AVG(f) AS m FROM t) a WHERE t.f > a.m GROUP BY t.k2",
    "SELECT t.k2, COUNT(*) AS n, SUM(a.m) AS sm FROM t JOIN (SELECT k2, AVG(f) AS m FROM t GROUP BY k2) a "
    "ON t.k2 = a.k2 WHERE t.f > a.m GROUP BY t.k2",
    "SELECT t.k1, COUNT(a.m) AS n, SUM(a.m) AS s FROM t LEFT JOIN (SELECT k1, MAX(i) AS m FROM t "
    "WHERE i > 900 GROUP BY k1) a ON t.k1 = a.k1 GROUP BY t.k1",
    "WITH m AS (SELECT k1, SUM(i) AS si FROM t GROUP BY k1) SELECT m.si, COUNT(*) AS n FROM t "
    "JOIN m ON t.k1 = m.k1 GROUP BY m.si",
    "SELECT s.name, COUNT(*) AS n FROM t JOIN (SELECT * FROM dim WHERE sector > 10) s ON t.k1 = s.k "
    "GROUP BY s.name",
]


@pytest.mark.parametrize("query", CHAINS)
@pytest.mark.parametrize("opts", [{}, {"batch_size": 7}, {"batch_size": 1000, "partitions": 3}])
def test_join_chains_match_duckdb(query, opts, backend):
    run_both(query, TABLES, backend=backend, **opts)


@pytest.mark.parametrize("query", CHAINS[:2] + CHAINS[8:9] + CHAINS[14:16])
def test_join_chains_one_row_batches(query, backend):
    run_both(query, {**TABLES, "t": T.slice(0, 150)}, backend=backend, batch_size=1)


@pytest.mark.parametrize("query", [
    "SELECT t.k1, COUNT(*) AS n FROM t JOIN dim s ON t.k1 = s.k WHERE t.i > (SELECT AVG(i) FROM t) "
    "GROUP BY t.k1",
    "SELECT s.name, x.name AS xn, SUM(t.i) AS si FROM t JOIN dim s ON t.k1 = s.k "
    "LEFT JOIN sec x ON s.sector = x.id GROUP BY ROLLUP (s.name, x.name)",
    "SELECT s.name, COUNT(*) AS n FROM t, dim s WHERE t.k1 = s.k GROUP BY s.name ORDER BY n DESC, 1 LIMIT 2",
    "SELECT s.name, SUM(t.i) AS si, RANK() OVER (ORDER BY SUM(t.i)) AS r FROM t JOIN dim s ON t.k1 = s.k "
    "GROUP BY s.name",
    "SELECT a.k1, b.m FROM (SELECT k1, SUM(i) AS si FROM t GROUP BY k1) a "
    "JOIN (SELECT k1, MAX(i) AS m FROM t GROUP BY k1) b ON a.k1 = b.k1",
    "SELECT s.name, COUNT(*) AS n FROM (SELECT * FROM t WHERE i > 0) a JOIN dim s ON a.k1 = s.k GROUP BY s.name",
    "SELECT t.k1, COUNT(*) AS n FROM t JOIN d ON t.k1 = d.k OR t.i = d.i GROUP BY t.k1",
    "SELECT t.k1, COUNT(*) AS n FROM t INNER JOIN thr ON TRUE GROUP BY t.k1",
])
@pytest.mark.parametrize("opts", [{}, {"batch_size": 7, "partitions": 3}])
def test_join_with_other_features(query, opts, backend):
    """Joins beside value subqueries, ROLLUP, ORDER BY / LIMIT, window functions, derived
    tables on both sides, and ON conditions that are not key pairs."""
    run_both(query, TABLES, backend=backend, **opts)


def test_join_chain_uses_lookup_per_unique_key(monkeypatch):
    """Each join of a chain whose right key is unique is a lookup, not a hash join."""
    from gpuvelo.io.join import JoinedSource

    calls = []
    looked_up = JoinedSource._looked_up
    monkeypatch.setattr(JoinedSource, "_looked_up",
                        lambda self, *a: calls.append(self.right.name) or looked_up(self, *a))
    got = gpuvelo.sql(CHAINS[0], **TABLES, backend="cpu")
    assert sorted(set(calls)) == ["dim", "sec"]
    assert got.num_rows == 3


def test_join_explain_lists_the_chain():
    text = gpuvelo.explain(CHAINS[0], sources=TABLES, backend="cpu")
    assert "inner join of each batch with dim (read whole first) on t.k1 = s.k" in text
    assert "left join of each batch with sec (read whole first) on s.sector = x.id" in text


@pytest.mark.parametrize("query, message", [
    ("SELECT * FROM t RIGHT JOIN d ON t.k1 = d.k AND d.weight > 1", "RIGHT JOIN's other conditions"),
    ("SELECT * FROM t NATURAL JOIN d", "only INNER, LEFT and CROSS joins"),
    ("SELECT * FROM t LEFT SEMI JOIN d ON t.k1 = d.k", "only INNER, LEFT and CROSS joins"),
    ("SELECT * FROM t LEFT JOIN d ON t.k1 > d.k", "LEFT JOIN's other conditions are not supported"),
    ("SELECT * FROM t LEFT JOIN d ON t.k1 = d.k AND d.weight > 1", "LEFT JOIN's other conditions"),
    ("SELECT * FROM t JOIN d ON k1 = k", "qualified by table"),
    ("SELECT * FROM t LEFT JOIN d", "a JOIN needs ON"),
    ("SELECT * FROM t JOIN d ON t.k1 = d.k JOIN d ON t.k1 = d.i", "used by two tables"),
    ("SELECT * FROM t JOIN d ON t.nope = d.k", "JOIN key 'nope'"),
    ("SELECT * FROM t JOIN dim s ON t.k1 = s.k JOIN sec x ON s.nope = x.id", "JOIN key 'nope'"),
])
def test_join_errors(query, message):
    with pytest.raises(gpuvelo.errors.GpuveloError, match=message):
        gpuvelo.sql(query, **TABLES)


def test_only_read_columns_are_joined():
    """The join hands out only the columns the query reads (and the keys later joins need):
    COUNT(*) alone still counts every joined row."""
    t = pa.table({"sym": [1, 2, 2, 3, None], "v": [1.0, 2, 3, 4, 5]})
    s = pa.table({"sym": [1, 2, 4], "sector": [10, 20, 30], "unused": ["x", "y", "z"]})
    x = pa.table({"id": [10, 20], "name": ["a", "b"]})
    for q in ("SELECT COUNT(*) AS n FROM t JOIN s ON t.sym = s.sym",
              "SELECT COUNT(*) AS n FROM t LEFT JOIN s ON t.sym = s.sym",
              "SELECT x.name, COUNT(*) AS n FROM t JOIN s ON t.sym = s.sym "
              "JOIN x ON s.sector = x.id GROUP BY 1"):
        for bs in (None, 2):
            run_both(q, {"t": t, "s": s, "x": x}, batch_size=bs)
    job = gpuvelo.Job("SELECT SUM(v) AS v FROM t JOIN s ON t.sym = s.sym", sources={"t": t, "s": s},
                      sink=gpuvelo.io.MemorySink(), backend="cpu")
    job.run()
    assert job.source.schema().names == ["v"]


# --------------------------------------------------------------------------- regressions (random sweep)
D3 = pa.table({"k": pa.array([0, 1, 2, None, 4], pa.int64()), "k2": ["a", "é", "", "a", None],
               "flag": [True, False, True, True, False], "v": [1, 2, 3, 4, 5]})


@pytest.mark.parametrize("query", [
    # a USING key read as alias.key is the right side's value: NULL where LEFT JOIN missed
    "SELECT k2, t.k2 AS tk, s2.k2 AS sk, COUNT(*) AS n FROM t LEFT JOIN s2 USING (k2) GROUP BY 1, 2, 3",
    "SELECT COUNT(*) AS n, SUM(CASE WHEN s2.k2 IS NULL THEN 1 ELSE 0 END) AS miss FROM t "
    "LEFT JOIN s2 USING (k2) CROSS JOIN thr",
    "SELECT t.i, s2.k2 FROM t LEFT JOIN s2 USING (k2) WHERE s2.k2 IS NOT NULL OR t.i > 990",
    # nothing read but COUNT(*) through a chain: each join keeps what the next one hands out
    "SELECT COUNT(*) AS n FROM t LEFT JOIN dim s ON t.k1 = s.k JOIN sec x ON s.sector = x.id",
    "SELECT COUNT(*) AS n FROM t LEFT JOIN d3 ON t.k1 = d3.k AND d3.k2 = t.k2 JOIN dim s ON d3.v = s.sector",
    # three key pairs (ON, and a comma join's WHERE)
    "SELECT COUNT(*) AS n, SUM(t.i) AS s FROM t JOIN d3 ON t.k1 = d3.k AND t.k2 = d3.k2 AND t.k3 = d3.flag",
    "SELECT d3.v, COUNT(*) AS n FROM t LEFT JOIN d3 ON t.k1 = d3.k AND d3.k2 = t.k2 AND d3.flag = t.k3 "
    "GROUP BY d3.v",
    "SELECT COUNT(*) AS n FROM t, d3 WHERE t.k1 = d3.k AND t.k2 = d3.k2 AND t.k3 = d3.flag AND (t.i > 0)",
])
@pytest.mark.parametrize("opts", [{}, {"batch_size": 7, "partitions": 3}])
def test_join_sweep_regressions(query, opts, backend):
    run_both(query, {**TABLES, "d3": D3}, backend=backend, **opts)


def test_using_key_read_qualified_beside_star():
    with pytest.raises(gpuvelo.errors.NotSupportedError, match="SELECT \\* beside s2.<key>"):
        gpuvelo.sql("SELECT *, s2.k2 FROM t JOIN s2 USING (k2)", **TABLES)


@pytest.mark.parametrize("kind", ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
def test_one_key_lookup_with_duplicate_and_null_right_keys(kind):
    """The one-key join index: right keys repeated (each left row once per right row, stream
    order kept), NULL right keys (match nothing), and a right side of only NULL keys."""
    t = random_table(np.random.default_rng(5), 300)
    for d in (pa.table({"id": pa.array([None, None], pa.int32()), "x": [1, 2]}),
              pa.table({"id": pa.array([1, 1, 2, None, 3, 3, 3], pa.int32()), "x": [1, 2, 3, 4, 5, 6, 7]})):
        run_both(f"SELECT t.k1, d.x, t.i FROM t {kind} d ON t.k1 = d.id", {"t": t, "d": d}, batch_size=17)
