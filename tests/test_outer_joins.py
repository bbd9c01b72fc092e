"""RIGHT / FULL [OUTER] joins with the stream on the left (the right rows no stream row
matched come after the stream ends), SEMI / ANTI joins, [NOT] EXISTS (correlated: a SEMI /
ANTI join; uncorrelated: a value) and correlated IN (a SEMI join), against DuckDB."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from differential import duckdb_table, random_table, rows, run_both, sort_rows, assert_same_rows

import gpuvelo
from gpuvelo.errors import NotSupportedError

T = random_table(np.random.default_rng(7), 150)
# dimension tables: duplicate keys, NULL keys, keys the stream lacks (k1 runs 0..9 in T)
A = pa.table({"k1": pa.array([0, 1, 1, 2, None, 40, 41, None], pa.int32()),
              "k2": ["a", "b", None, "b", "a", "zz", "a", "é"],
              "label": ["zero", "one", "one-b", "two", "null", "forty", None, "nullé"],
              "i": pa.array([10, 20, 30, None, 50, 60, 70, 80], pa.int64()),
              "w": [1.0, 2.0, 0.5, 3.0, 9.0, -1.0, None, 4.0]})
# a unique key column (joined by lookup), one key the stream lacks, one NULL
U = pa.table({"k1": pa.array([3, 4, 99, None], pa.int64()), "name": ["three", "four", "n99", "nnull"],
              "grp": [1, 2, 1, 2]})
G = pa.table({"grp": [1, 2, 2, 7], "gname": ["g1", "g2", "g2b", "g7"]})
EMPTY = pa.table({"k1": pa.array([], pa.int32()), "z": pa.array([], pa.int64())})
TABLES = {"t": T, "a": A, "u": U, "g": G, "e": EMPTY}
OPTS = [{}, {"batch_size": 7}, {"batch_size": 64, "partitions": 3}]

OUTER = [
    # RIGHT / FULL, projections and aggregates over them, hash join (a) and lookup (u)
    "SELECT t.i, t.k1, a.label, a.i AS ai FROM t RIGHT JOIN a ON t.k1 = a.k1",
    "SELECT t.i, a.k1, a.label FROM t RIGHT OUTER JOIN a ON t.k1 = a.k1 AND t.k2 = a.k2",
    "SELECT t.i, a.label, a.w FROM t FULL JOIN a ON t.k1 = a.k1 WHERE t.i > 500 OR t.i IS NULL",
    "SELECT a.label, COUNT(*) AS n, COUNT(t.i) AS ni, SUM(t.i) AS s, MAX(t.s) AS ms FROM t "
    "RIGHT JOIN a ON t.k1 = a.k1 GROUP BY a.label",
    "SELECT t.k1, a.label, COUNT(*) AS n, SUM(a.w) AS sw FROM t FULL OUTER JOIN a ON t.k1 = a.k1 "
    "GROUP BY t.k1, a.label",
    "SELECT u.name, COUNT(*) AS n, AVG(t.f) AS af FROM t RIGHT JOIN u ON t.k1 = u.k1 GROUP BY u.name",
    "SELECT t.k1, u.name, COUNT(*) AS n FROM t FULL JOIN u ON u.k1 = t.k1 GROUP BY t.k1, u.name",
    "SELECT COUNT(*) AS n, COUNT(t.k1) AS nk, COUNT(u.k1) AS nu FROM t FULL JOIN u ON t.k1 = u.k1",
    "SELECT *  FROM t RIGHT JOIN u ON t.k1 = u.k1 WHERE t.i > 900 OR t.i IS NULL",
    # USING: the merged key (the right's value on the unmatched rows)
    "SELECT k1, COUNT(*) AS n, SUM(t.i) AS s, MIN(a.label) AS l FROM t RIGHT JOIN a USING (k1) GROUP BY k1",
    "SELECT k1, k2, COUNT(*) AS n FROM t FULL JOIN a USING (k1, k2) GROUP BY k1, k2",
    "SELECT * FROM t RIGHT JOIN u USING (k1) WHERE i > 950 OR i IS NULL",
    # an empty right side, chains (left-deep, as DuckDB)
    "SELECT COUNT(*) AS n, SUM(t.i) AS s FROM t FULL JOIN e ON t.k1 = e.k1",
    "SELECT COUNT(*) AS n FROM t RIGHT JOIN e ON t.k1 = e.k1",
    "SELECT u.name, g.gname, COUNT(*) AS n, SUM(t.i) AS s FROM t RIGHT JOIN u ON t.k1 = u.k1 "
    "JOIN g ON g.grp = u.grp GROUP BY u.name, g.gname",
    "SELECT u.name, g.gname, COUNT(*) AS n FROM t RIGHT JOIN u ON t.k1 = u.k1 "
    "FULL JOIN g ON g.grp = u.grp GROUP BY u.name, g.gname",
    "SELECT a.label, g.gname, COUNT(*) AS n FROM t JOIN a ON t.k1 = a.k1 RIGHT JOIN g ON g.grp = t.k1 "
    "GROUP BY a.label, g.gname",
    "SELECT a.label, u.name, COUNT(*) AS n, SUM(t.i) AS s FROM t LEFT JOIN a ON t.k1 = a.k1 "
    "RIGHT JOIN u ON u.k1 = a.k1 GROUP BY a.label, u.name",
    "SELECT u.name, COUNT(*) AS n FROM t FULL JOIN u ON t.k1 = u.k1 SEMI JOIN g ON g.grp = u.grp "
    "GROUP BY u.name",
    # the small table as the stream (works as any LEFT JOIN)
    "SELECT a.label, COUNT(t.i) AS n, SUM(t.i) AS s FROM a LEFT JOIN t ON a.k1 = t.k1 GROUP BY a.label",
    "SELECT u.name, t.i FROM u LEFT JOIN t ON u.k1 = t.k1 WHERE t.i IS NULL OR t.i > 900",
]

SEMI = [
    "SELECT * FROM t SEMI JOIN a ON t.k1 = a.k1",
    "SELECT t.i, t.k2 FROM t ANTI JOIN a ON t.k1 = a.k1",
    "SELECT k1, COUNT(*) AS n, SUM(i) AS s FROM t ANTI JOIN a ON t.k1 = a.k1 AND t.k2 = a.k2 GROUP BY k1",
    "SELECT k1, k2, COUNT(*) AS n FROM t SEMI JOIN a USING (k1, k2) GROUP BY k1, k2",
    "SELECT k1, COUNT(*) AS n FROM t ANTI JOIN u USING (k1) GROUP BY k1",
    "SELECT t.k1, COUNT(*) AS n FROM t SEMI JOIN a ON t.k1 = a.k1 AND a.w > 1 GROUP BY t.k1",
    "SELECT t.k1, COUNT(*) AS n FROM t ANTI JOIN a ON a.k1 = t.k1 AND a.label LIKE 'o%' GROUP BY t.k1",
    "SELECT COUNT(*) AS n FROM t ANTI JOIN e ON t.k1 = e.k1",
    "SELECT COUNT(*) AS n FROM t SEMI JOIN e ON t.k1 = e.k1",
    "SELECT u.name, COUNT(*) AS n FROM t JOIN u ON t.k1 = u.k1 ANTI JOIN g ON g.grp = u.grp AND g.gname = 'g2' "
    "GROUP BY u.name",
    # [NOT] EXISTS: correlated (SEMI / ANTI joins), inner conditions on the inner table alone
    "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1)",
    "SELECT t.i, t.s FROM t WHERE NOT EXISTS (SELECT * FROM a WHERE a.k1 = t.k1 AND a.w > 1) AND t.i > 100",
    "SELECT k1, COUNT(*) AS n FROM t WHERE EXISTS (SELECT label FROM a WHERE k2 = t.k2 AND k1 = t.k1 "
    "AND label IS NOT NULL) GROUP BY k1",
    "SELECT k2, COUNT(*) AS n FROM t AS x WHERE NOT EXISTS (SELECT 1 FROM a AS y WHERE y.k2 = x.k2) GROUP BY k2",
    "SELECT COUNT(*) AS n FROM t WHERE EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1 AND t.f > 0 LIMIT 1)",
    "SELECT COUNT(*) AS n FROM t WHERE (NOT EXISTS (SELECT 1 FROM e WHERE e.k1 = t.k1)) AND "
    "EXISTS (SELECT 1 FROM u WHERE u.k1 = t.k1)",
    "SELECT u.name, COUNT(*) AS n FROM t JOIN u ON t.k1 = u.k1 WHERE NOT EXISTS (SELECT 1 FROM g "
    "WHERE g.grp = u.grp AND g.gname <> 'g1') GROUP BY u.name",
    "SELECT t.k1, COUNT(*) AS n FROM t WHERE EXISTS (SELECT 1 FROM t AS t2 WHERE t2.k1 = t.k1 "
    "AND t2.i > 990) GROUP BY t.k1",
    "SELECT k1, COUNT(*) AS n FROM t WHERE EXISTS (SELECT 1 FROM (SELECT k1, MAX(w) AS m FROM a "
    "GROUP BY k1) m WHERE m.k1 = t.k1 AND m.m > 1) GROUP BY k1",
    # a correlated x IN (SELECT ...) term of WHERE: EXISTS with one more equality
    "SELECT k1, COUNT(*) AS n FROM t WHERE k1 IN (SELECT k1 FROM a WHERE a.k2 = t.k2) GROUP BY k1",
    "SELECT x.i, x.k2 FROM t AS x WHERE x.k2 IN (SELECT y.k2 FROM a AS y WHERE y.k1 = x.k1 AND y.w > 0)",
    # uncorrelated EXISTS: one boolean value
    "SELECT COUNT(*) AS n FROM t WHERE EXISTS (SELECT 1 FROM a WHERE w > 5)",
    "SELECT COUNT(*) AS n FROM t WHERE NOT EXISTS (SELECT 1 FROM a WHERE w > 50)",
    "SELECT k1, EXISTS (SELECT 1 FROM e) AS x, COUNT(*) AS n FROM t GROUP BY k1",
    "SELECT COUNT(*) AS n FROM t WHERE t.i > 900 OR EXISTS (SELECT k1 FROM a GROUP BY k1 HAVING COUNT(*) > 1)",
]


@pytest.mark.parametrize("query", OUTER + SEMI)
@pytest.mark.parametrize("opts", OPTS)
def test_matches_duckdb(query, opts, backend):
    run_both(query, TABLES, backend=backend, **opts)


@pytest.mark.parametrize("query", [OUTER[0], OUTER[4], OUTER[10], OUTER[15], SEMI[2], SEMI[12]])
def test_one_row_batches_and_empty_stream(query, backend):
    run_both(query, {**TABLES, "t": T.slice(0, 60)}, backend=backend, batch_size=1)
    run_both(query, {**TABLES, "t": T.slice(0, 0)}, backend=backend)


def test_anti_join_keeps_null_keys_unlike_not_in():
    """ANTI JOIN / NOT EXISTS keep a row whose key is NULL (it matches nothing); NOT IN with
    a NULL in the list keeps none."""
    t = pa.table({"k": [1, 2, None, 4], "v": [1, 2, 3, 4]})
    d = pa.table({"id": [2, None]})
    for q in ("SELECT v FROM t ANTI JOIN d ON t.k = d.id",
              "SELECT v FROM t WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.id = t.k)"):
        assert sorted(run_both(q, {"t": t, "d": d})) == [(1,), (3,), (4,)]
    assert run_both("SELECT v FROM t WHERE k NOT IN (SELECT id FROM d)", {"t": t, "d": d}) == []


def test_unmatched_rows_come_last_in_stream_order():
    """The matched rows keep the stream's order; the unmatched right rows follow the stream."""
    t = pa.table({"k": [3, 1, 3, 2], "v": [1, 2, 3, 4]})
    d = pa.table({"k": [1, 3, 7, None], "w": ["a", "c", "g", "n"]})
    got = gpuvelo.sql("SELECT t.v, d.w FROM t FULL JOIN d ON t.k = d.k", t=t, d=d, batch_size=2)
    assert rows(got) == [(1, "c"), (2, "a"), (3, "c"), (4, None), (None, "g"), (None, "n")]


@pytest.mark.parametrize("query", [
    "SELECT * FROM s FULL JOIN e USING (k)",
    "SELECT k, COUNT(*) AS n, SUM(e.w) AS sw FROM s RIGHT JOIN e USING (k) GROUP BY k",
    "SELECT s.v, e.k FROM s RIGHT JOIN e ON s.k = e.k",
    "SELECT * FROM s ANTI JOIN e ON s.k = e.k",
    "SELECT v FROM s WHERE EXISTS (SELECT 1 FROM e WHERE e.k = s.k AND e.w > 0)",
])
def test_dictionary_encoded_string_keys(query, backend):
    """A stream whose string key column is dictionary-encoded (as Parquet reads it)."""
    s = pa.table({"k": pa.array(["a", "b", None, "c", "a", "é"]).dictionary_encode(), "v": [1, 2, 3, 4, 5, 6]})
    e = pa.table({"k": ["a", "z", None, "é", "é"], "w": [1, 2, 3, 4, -5]})
    for bs in (None, 2):
        run_both(query, {"s": s, "e": e}, backend=backend, batch_size=bs)


@pytest.mark.parametrize("partitions", [1, 3])
def test_emit_changes_over_right_join(partitions, backend):
    """EMIT CHANGES: the groups of the unmatched right rows arrive in the last emit; the
    final state (each group's last emitted row) equals DuckDB's result."""
    query = "SELECT a.label, COUNT(*) AS n, SUM(t.i) AS s FROM t RIGHT JOIN a ON t.k1 = a.k1 GROUP BY a.label"
    emits = []
    gpuvelo.Job(query + " EMIT CHANGES", sources=TABLES, sink=gpuvelo.io.CallbackSink(emits.append),
                batch_size=50, backend=backend, partitions=partitions).run()
    assert len(emits) > 1
    state = {}
    for table in emits:
        for row in rows(table):
            state[row[0]] = row
    if partitions == 1:     # (with more, each partition emits on its own)
        assert {"forty", None, "nullé"} <= {r[0] for r in rows(emits[-1])}   # only unmatched rows'
    assert_same_rows(sort_rows(list(state.values())), sort_rows(rows(duckdb_table(query, TABLES))),
                     ordered=True, context=query)


def test_explain_names_the_kinds():
    text = gpuvelo.explain("SELECT t.i FROM t FULL JOIN u ON t.k1 = u.k1 WHERE NOT EXISTS "
                           "(SELECT 1 FROM a WHERE a.k1 = t.k1 AND a.w > 1)", sources=TABLES, backend="cpu")
    assert "full join of each batch with u (read whole first) on t.k1 = u.k1; then its rows no " \
           "stream row matched, when the stream ends" in text
    assert "stage __exists1 (runs first, to the end of its input): SELECT * FROM a WHERE a.w > 1" in text
    assert "anti join of each batch with __exists1 (read whole first) on t.k1 = __exists1.k1" in text


@pytest.mark.parametrize("query, message", [
    ("SELECT t.label, COUNT(*) FROM t RIGHT JOIN a ON t.k1 = a.k1 GROUP BY 1 "
     "WINDOW TUMBLING (ts, INTERVAL 1 HOUR)", "RIGHT JOIN with a WINDOW clause"),
    ("SELECT COUNT(*) FROM t FULL JOIN a ON t.k1 = a.k1 WINDOW TUMBLING (ts, INTERVAL 1 HOUR)",
     "FULL JOIN with a WINDOW clause"),
    ("SELECT * FROM t RIGHT JOIN a ON t.k1 = a.k1 AND a.w > 1", "RIGHT JOIN's other conditions"),
    ("SELECT * FROM t FULL JOIN a ON t.k1 < a.k1", "FULL JOIN's other conditions"),
    ("SELECT t.k1 FROM t RIGHT JOIN a USING (k1)", "USING key of a RIGHT JOIN is read unqualified"),
    ("SELECT a.k1 FROM t FULL JOIN a USING (k1)", "USING key of a FULL JOIN is read unqualified"),
    ("SELECT * FROM t, u RIGHT JOIN a ON a.k1 = u.k1", "after a comma join"),
    ("SELECT * FROM t JOIN u ON t.k1 = u.k1 AND u.grp > 1 RIGHT JOIN a ON a.k1 = u.k1",
     "before a RIGHT JOIN"),
    ("SELECT a.label FROM t SEMI JOIN a ON t.k1 = a.k1", "a.label: a SEMI JOIN only filters"),
    ("SELECT * FROM t ANTI JOIN a ON t.k1 = a.k1 AND t.i > 1", "an ANTI JOIN's conditions"),
    ("SELECT * FROM t LEFT SEMI JOIN a ON t.k1 = a.k1", "only INNER, LEFT and CROSS joins"),
    ("SELECT * FROM t NATURAL JOIN a", "only INNER, LEFT and CROSS joins"),
    ("SELECT * FROM t WHERE t.i > 0 OR EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1)",
     "correlated EXISTS .*not under OR"),
    ("SELECT EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1) AS x FROM t", "correlated EXISTS"),
    ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM a WHERE a.k1 > t.k1)", "not by a.k1 > t.k1"),
    ("SELECT * FROM t WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1 AND t.i > 0)", "not by t.i > 0"),
    ("SELECT * FROM t WHERE EXISTS (SELECT COUNT(*) FROM a WHERE a.k1 = t.k1)", "has AGGREGATES"),
    ("SELECT * FROM t WHERE EXISTS (SELECT k1 FROM a WHERE a.k1 = t.k1 GROUP BY k1)", "has GROUP"),
    ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM a JOIN u ON a.k1 = u.k1 WHERE a.k1 = t.k1)", "has JOINS"),
    ("SELECT * FROM t WHERE EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1 LIMIT 0)", "has LIMIT"),
    ("SELECT * FROM t WHERE k1 NOT IN (SELECT k1 FROM a WHERE a.i = t.i)", "correlated subqueries"),
    ("SELECT * FROM t WHERE k1 IN (SELECT k1 FROM a WHERE a.i > t.i)", r"correlated IN \(SELECT \.\.\.\) is "
     "supported when it is correlated by equalities"),
    ("SELECT * FROM t WHERE t.i > 0 OR k1 IN (SELECT k1 FROM a WHERE a.i = t.i)", "correlated subqueries"),
])
def test_errors(query, message):
    with pytest.raises(gpuvelo.errors.GpuveloError, match=message):
        gpuvelo.sql(query, **TABLES)


def test_errors_are_not_supported_errors():
    with pytest.raises(NotSupportedError):
        gpuvelo.sql("SELECT * FROM t WHERE t.i > 0 OR EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1)", **TABLES)


# --------------------------------------------------------------------------- random queries
KINDS = ["RIGHT JOIN", "RIGHT OUTER JOIN", "FULL JOIN", "FULL OUTER JOIN", "SEMI JOIN", "ANTI JOIN",
         "EXISTS", "NOT EXISTS"]
KEYS = [["k1"], ["k2"], ["k1", "k2"]]


def _dimension(rng: np.random.Generator) -> pa.Table:
    """A small table with the stream's key names: keys duplicated or absent, sometimes NULL."""
    n = int(rng.integers(0, 9))
    null = rng.random(n) < rng.choice([0.0, 0.3])
    return pa.table({"k1": pa.array(rng.integers(-2, 12, n), pa.int32(), mask=null),
                     "k2": pa.array(rng.choice(["a", "b", "c", "q", "é", ""], n), pa.string(),
                                    mask=rng.random(n) < 0.2),
                     "x": pa.array(rng.integers(-5, 6, n), pa.int64(), mask=rng.random(n) < 0.2)})


def random_outer_query(rng: np.random.Generator) -> str:
    """A random query over ``t`` and a dimension table ``d`` (and sometimes ``u``, joined
    after it): one of KINDS, ON or USING keys, a filter of ``d`` alone, then a projection
    or an aggregate."""
    kind, keys = str(rng.choice(KINDS)), KEYS[int(rng.integers(len(KEYS)))]
    filt = ["d.x > 0", "d.x IS NULL", "d.k2 <> 'a'"][int(rng.integers(3))] if rng.random() < 0.4 else None
    pairs = [f"t.{k} = d.{k}" if rng.random() < 0.5 else f"d.{k} = t.{k}" for k in keys]
    reads_d = kind.startswith(("RIGHT", "FULL"))
    if "EXISTS" in kind:
        cond = " AND ".join(pairs + ([filt] if filt else []))
        from_, where = "t", [f"{kind} (SELECT 1 FROM d WHERE {cond})"]
    elif kind.startswith(("SEMI", "ANTI")) or filt is None:
        using = rng.random() < 0.3 and not reads_d
        on = f"USING ({', '.join(keys)})" if using else "ON " + " AND ".join(pairs + ([filt] if filt else []))
        from_, where = f"t {kind} d {on}", []
    else:
        from_, where = f"t {kind} d ON {' AND '.join(pairs)}", [f"({filt} OR d.x IS NULL)"]
    if reads_d and rng.random() < 0.3:
        from_ += f" {['JOIN', 'LEFT JOIN', 'RIGHT JOIN', 'FULL JOIN'][int(rng.integers(4))]} u ON u.k1 = d.k1"
    if rng.random() < 0.3:
        where.append(["t.i > 0", "t.i IS NULL", "t.s LIKE 'a%'", "t.f < 0"][int(rng.integers(4))])
    cols = ["t.i", "t.k1", "t.s", "t.f"] + (["d.x", "d.k2", "d.k1"] if reads_d else [])
    if "u ON" in from_:
        cols.append("u.name")
    group: list[str] = []
    if rng.random() < 0.5:
        items = list(rng.choice(cols, int(rng.integers(1, 4)), replace=False))
    else:
        group = list(rng.choice(cols, int(rng.integers(0, 3)), replace=False))
        aggs = ["COUNT(*)", "SUM(t.i)", "COUNT(t.k1)", "MAX(t.s)"]
        aggs += ["SUM(d.x)", "COUNT(d.k2)"] if reads_d else []
        items = group + list(rng.choice(aggs, int(rng.integers(1, 3)), replace=False))
    q = f"SELECT {', '.join(items)} FROM {from_}" + (f" WHERE {' AND '.join(where)}" if where else "")
    return q + (f" GROUP BY {', '.join(group)}" if group else "")


@pytest.mark.parametrize("seed", range(40))
def test_random_outer_queries(seed, backend):
    rng = np.random.default_rng(1000 + seed)
    tables = {"t": random_table(rng, int(rng.integers(0, 120))), "d": _dimension(rng), "u": U}
    query = random_outer_query(rng)
    opts = [{}, {"batch_size": 1}, {"batch_size": 7}, {"batch_size": 13, "partitions": 3}][seed % 4]
    run_both(query, tables, backend=backend, **opts)
