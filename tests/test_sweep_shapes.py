"""Query shapes a new user writes, gpuvelo against DuckDB: joins of every kind (with
subqueries, CTEs, USING, NULL and mixed-type keys, empty sides), subqueries as predicates
and values, set operations, and the clauses around them (DISTINCT ON, LIMIT forms, QUALIFY,
grouping sets, ORDER BY forms, PIVOT / UNPIVOT). A seeded generator draws them
(:func:`random_shape_query`); the regression tests below pin what the sweep found.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from differential import duckdb_table, run_both
from test_differential_random import ROW_ATOMS, RngChooser, _dimension_tables, _predicate, analytic_table

NULL_RATES = [0.0, 0.15, 0.15, 0.6, 1.0]


def shape_tables(ch, max_rows: int = 120) -> dict:
    """``t`` (analytic_table: unique ``rid``; its ``k2`` sometimes dictionary-encoded) and
    the dimension tables ``a`` and ``b`` (keys of other integer widths, NULLs, empty)."""
    t = analytic_table(np.random.default_rng(ch.integer(0, 2**31)), ch.integer(0, max_rows),
                       ch.choice(NULL_RATES))
    if ch.integer(0, 3) == 0:
        t = t.set_column(t.schema.get_field_index("k2"), "k2", pc.dictionary_encode(t.column("k2")))
    return {"t": t, **_dimension_tables(ch)}


def _order_all(ch, n: int) -> str:
    """ORDER BY every output column (tied rows are equal rows: one right answer)."""
    return " ORDER BY " + ", ".join(f"{j + 1} {ch.choice(['ASC', 'DESC'])} NULLS "
                                    f"{ch.choice(['FIRST', 'LAST'])}" for j in range(n))


# --------------------------------------------------------------------------- joins
A_SIDES = {"a": ["k1", "k2", "grp", "label", "i", "s", "w"],
           "(SELECT k1, k2, s, i, w, grp FROM a WHERE w IS NULL OR w >= 0)": ["k1", "k2", "s", "i", "w", "grp"],
           "(SELECT k1, COUNT(*) AS n, MAX(w) AS w, MIN(s) AS s FROM a GROUP BY k1)": ["k1", "n", "w", "s"],
           "(SELECT DISTINCT k1, k2 FROM a)": ["k1", "k2"],
           "(SELECT k1, k2, i FROM a UNION ALL SELECT k1, k2, i FROM a WHERE i > 0)": ["k1", "k2", "i"],
           "ca": ["k1", "k2", "label", "s", "i", "w"]}
CTE_A = "WITH ca AS (SELECT k1, k2, label, s, i, w FROM a WHERE label IS NOT NULL) "
JOIN_KINDS = ["JOIN", "INNER JOIN", "LEFT JOIN", "LEFT OUTER JOIN", "RIGHT JOIN", "RIGHT OUTER JOIN",
              "FULL JOIN", "FULL OUTER JOIN", "SEMI JOIN", "ANTI JOIN", "CROSS JOIN"]


def _join_on(ch, kind: str, acols: list[str]) -> tuple[str, list[str]]:
    """(ON / USING text, the USING keys)."""
    keys = [k for k in ("k1", "k2", "s") if k in acols]
    if kind == "CROSS JOIN":
        return "", []
    if ch.integer(0, 3) == 0:
        using = ch.sample([k for k in ("k1", "k2") if k in acols], 1, 2)
        return f" USING ({', '.join(using)})", using
    pairs = ch.sample([f"t.{k} = x.{k}" if ch.flag() else f"x.{k} = t.{k}" for k in keys], 1, 2)
    if kind in ("JOIN", "INNER JOIN", "SEMI JOIN", "ANTI JOIN") and "i" in acols and ch.integer(0, 3) == 0:
        pairs.append("x.i > 0" if "SEMI" in kind or "ANTI" in kind else ch.choice(["t.i > x.i", "x.i > 0"]))
    return " ON " + " AND ".join(pairs), []


def random_join_shape(ch) -> str:
    """t joined with a (a table, subquery, aggregate, DISTINCT, UNION ALL or CTE) by any
    kind of join, sometimes then with b; a projection or an aggregate over it."""
    side = ch.choice(list(A_SIDES))
    acols, kind = A_SIDES[side], ch.choice(JOIN_KINDS)
    on, using = _join_on(ch, kind, acols)
    from_ = f"t {kind} {side} AS x{on}" if side != "a" or ch.flag() else f"t {kind} a x{on}"
    bcols = []
    if kind not in ("SEMI JOIN", "ANTI JOIN") and ch.integer(0, 2) == 0:
        bkind = ch.choice(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "SEMI JOIN", "ANTI JOIN"])
        from_ += f" {bkind} b ON {ch.choice(['t.k1 = b.k1', 'b.k1 = t.k1', 'b.grp = t.k1'])}"
        bcols = [] if bkind in ("SEMI JOIN", "ANTI JOIN") else ["b.name", "b.v", "b.k1"]
    merged = kind.startswith(("RIGHT", "FULL"))
    outer = [] if kind in ("SEMI JOIN", "ANTI JOIN") else \
        [f"x.{c}" for c in acols if not (merged and c in using)] + [c for c in using if merged]
    tcols = ["t.rid", "t.k1", "t.k2", "t.i", "t.s", "t.f", "t.d"]
    tcols = [c for c in tcols if not (merged and c[2:] in using)]
    pool = tcols + outer + bcols
    where = ""
    if ch.integer(0, 2) == 0:
        atoms = ["t.i > 0", "t.k3", "t.s LIKE 'a%'", "t.k2 IS NULL"] + \
            [f"{c} IS NULL" for c in outer[:2]] + [f"{c} IS NOT NULL" for c in bcols[:1]]
        where = " WHERE " + _predicate(ch, atoms)
    pre = CTE_A if side == "ca" else ""
    if ch.flag():
        items = ch.sample(pool, 1, 5)
        q = f"{pre}SELECT {', '.join(items)} FROM {from_}{where}"
        if ch.flag():
            q += _order_all(ch, len(items)) + (f" LIMIT {ch.integer(0, 10)}" if ch.flag() else "")
        return q
    group = ch.sample([c for c in pool if c not in ("t.rid", "t.f", "t.i")], 0, 2)
    aggs = ch.sample(["COUNT(*)", "SUM(t.i)", "COUNT(t.rid)", "MAX(t.s)"] + [f"COUNT({c})" for c in outer[:3]] +
                     [f"MIN({c})" for c in outer[:3] + bcols[:2]], 1, 3)
    q = f"{pre}SELECT {', '.join(group + aggs)} FROM {from_}{where}"
    if group:
        q += " GROUP BY " + ("ALL" if ch.flag() else ", ".join(group))
    return q


# --------------------------------------------------------------------------- subqueries
SUBQUERY_TERMS = [
    "t.k1 IN (SELECT k1 FROM a)", "t.k1 NOT IN (SELECT k1 FROM a)", "t.k2 IN (SELECT k2 FROM a WHERE w > 0)",
    "t.k2 NOT IN (SELECT k2 FROM a WHERE k2 IS NOT NULL)", "t.k1 = ANY (SELECT k1 FROM b)",
    "t.k1 <> ALL (SELECT k1 FROM b)", "EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1)",
    "NOT EXISTS (SELECT 1 FROM a WHERE a.k1 = t.k1)", "EXISTS (SELECT * FROM a WHERE a.k2 = t.k2 AND a.w > 0)",
    "NOT EXISTS (SELECT * FROM b WHERE b.k1 = t.k1 AND b.v < 0)", "EXISTS (SELECT 1 FROM b)",
    "NOT EXISTS (SELECT 1 FROM b WHERE v > 100)", "t.i > (SELECT AVG(i) FROM a)", "t.i < (SELECT MAX(v) FROM b)",
    "t.s = (SELECT MIN(s) FROM a)", "t.k1 IN (SELECT grp FROM b WHERE grp IS NOT NULL)", "t.i IN (SELECT i FROM a)",
    "EXISTS (SELECT 1 FROM a WHERE t.k1 = a.k1 AND t.k2 = a.k2)",
    "t.k1 IN (SELECT k1 FROM a GROUP BY k1 HAVING COUNT(*) > 1)", "t.k2 IN (SELECT DISTINCT k2 FROM a)",
]


def random_subquery_shape(ch) -> str:
    """t filtered by [NOT] IN / EXISTS / = ANY / <> ALL / scalar subqueries over a and b."""
    terms = ch.sample(SUBQUERY_TERMS, 1, 2)
    if ch.flag():
        terms.append(ch.choice(["t.i > 0", "t.k3", "t.s IS NOT NULL"]))
    items = ch.sample(["t.rid", "t.k1", "t.k2", "t.i", "t.s"], 1, 3)
    if ch.integer(0, 4) == 0:
        items.append(ch.choice(["(SELECT COUNT(*) FROM a) AS na", "t.i - (SELECT MIN(i) FROM a) AS di"]))
    q = f"SELECT {', '.join(items)} FROM t WHERE {' AND '.join(terms)}"
    if ch.integer(0, 3) == 0:
        q = f"SELECT t.k1, COUNT(*) FROM t WHERE {' AND '.join(terms)} GROUP BY t.k1"
    if ch.flag():
        q = q.replace("t.", "tt.").replace("FROM t WHERE", "FROM t AS tt WHERE")
    return q


# --------------------------------------------------------------------------- set operations
BRANCHES = {1: ["SELECT k1 FROM t", "SELECT i % 3 FROM t", "SELECT k1 FROM a", "SELECT grp FROM b", "SELECT 2",
                "SELECT k1 FROM b WHERE v > 0", "SELECT CAST(i AS DOUBLE) / 4 FROM t", "SELECT f FROM t",
                "SELECT w FROM a", "SELECT NULL", "SELECT i FROM t WHERE i < 0"],
            2: ["SELECT k1, k2 FROM t", "SELECT k1, k2 FROM t WHERE i > 0", "SELECT k1, k2 FROM a",
                "SELECT k1, name FROM b", "SELECT grp, label FROM a", "SELECT k1, s FROM t WHERE k3",
                "SELECT 1, 'a'", "SELECT NULL, 'b'", "SELECT * FROM (VALUES (2, 'é'), (NULL, NULL)) v(x, y)",
                "SELECT CAST(k1 AS BIGINT), k2 FROM t", "SELECT DISTINCT k1, k2 FROM t",
                "SELECT k1, MIN(k2) FROM t GROUP BY k1"]}
SET_OPS = ["UNION", "UNION ALL", "INTERSECT", "INTERSECT ALL", "EXCEPT", "EXCEPT ALL"]


def random_setop_shape(ch) -> str:
    """A chain of 2-4 branches joined by set operations (some parenthesised), alone, in a
    subquery, in a CTE or grouped; sometimes ORDER BY every column with LIMIT / OFFSET."""
    ncol = ch.choice([1, 2])
    q = ch.choice(BRANCHES[ncol])
    for _ in range(ch.integer(1, 3)):
        q = f"({q})" if ch.integer(0, 4) == 0 else q
        q = f"{q} {ch.choice(SET_OPS)} {ch.choice(BRANCHES[ncol])}"
    shape = ch.integer(0, 4)
    if shape == 1:
        q = f"SELECT * FROM ({q}) AS u"
    elif shape == 2:
        q = f"WITH u AS ({q}) SELECT * FROM u"
    elif shape == 3:
        q = f"WITH u({'c1' if ncol == 1 else 'c1, c2'}) AS ({q}) SELECT c1, COUNT(*) AS n FROM u GROUP BY c1"
        ncol = 2
    if ch.flag():
        q += _order_all(ch, ncol) + (f" LIMIT {ch.integer(0, 8)}" if ch.flag() else "") + \
            (f" OFFSET {ch.integer(0, 3)}" if ch.integer(0, 3) == 0 else "")
    return q


# --------------------------------------------------------------------------- clauses
def _limit_shape(ch) -> str:
    items = ch.sample(["rid", "k1", "s", "i"], 1, 3)
    items += [] if "rid" in items else ["rid"]
    order = ", ".join(f"{c} {ch.choice(['ASC', 'DESC'])}" for c in ch.sample(items, 1, 2)) + ", rid"
    tail = ch.choice([f" LIMIT {ch.integer(0, 20)}", f" LIMIT {ch.integer(0, 10)} OFFSET {ch.integer(0, 10)}",
                      f" LIMIT {ch.integer(0, 100)} PERCENT", f" LIMIT {ch.integer(0, 100)}%",
                      f" OFFSET {ch.integer(0, 5)} ROWS FETCH FIRST {ch.integer(0, 5)} ROWS ONLY",
                      f" FETCH NEXT {ch.integer(1, 5)} ROWS ONLY", f" OFFSET {ch.integer(0, 50)}"])
    where = f" WHERE {_predicate(ch, ROW_ATOMS)}" if ch.flag() else ""
    return f"SELECT {', '.join(items)} FROM t{where} ORDER BY {order}{tail}"


def _grouping_shape(ch) -> str:
    g = ch.choice(["ROLLUP (k1, k2)", "CUBE (k1, k3)", "GROUPING SETS ((k1), (k2), ())", "ROLLUP (k2)",
                   "k1, ROLLUP (k3)", "GROUPING SETS ((k1, k2), (k1))", "CUBE (k2)"])
    cols = [c for c in ("k1", "k2", "k3") if c in g]
    q = f"SELECT {', '.join(cols)}, COUNT(*) AS n, SUM(i) AS si"
    q += ", " + ", ".join(f"GROUPING({c})" for c in cols) if ch.flag() else ""
    q += f" FROM t GROUP BY {g}"
    return q + (f" HAVING {ch.choice(['COUNT(*) > 2', 'SUM(i) > 0', 'n >= 1'])}" if ch.flag() else "")


def _ordered_groups_shape(ch) -> str:
    key = ch.choice(["k1", "k2", "k1 % 2", "d", "COALESCE(k2, 'z')"])
    alias = ch.flag()
    q = f"SELECT {key}{' AS g' if alias else ''}, {ch.choice(['COUNT(*)', 'SUM(i)', 'MAX(s)'])} AS v FROM t " \
        f"GROUP BY {ch.choice(['ALL', '1', key])}"
    q += f" HAVING {ch.choice(['COUNT(*) > 1', 'v IS NOT NULL', 'MIN(i) < 0'])}" if ch.flag() else ""
    q += f" ORDER BY {ch.choice(['g' if alias else key, '1'])} {ch.choice(['ASC', 'DESC', ''])} " \
         f"{ch.choice(['NULLS FIRST', 'NULLS LAST', ''])}"
    return q + (f" LIMIT {ch.integer(0, 4)}" if ch.flag() else "")


def _ordered_rows_shape(ch) -> str:
    e = ch.choice(["i % 7", "-i", "COALESCE(s, 'zz')", "length(s)", "f * 2", "k1 + i"])
    alias = ch.choice(["", " AS e"])
    ref = "e" if alias and ch.flag() else e
    q = f"SELECT rid, {e}{alias} FROM t ORDER BY {ref} {ch.choice(['ASC', 'DESC'])} " \
        f"NULLS {ch.choice(['FIRST', 'LAST'])}, rid"
    return q + (f" LIMIT {ch.integer(0, 10)}" if ch.flag() else "")


def _pivot_shape(ch) -> str:
    aggs = ch.choice(["SUM(i)", "COUNT(*)", "MAX(s) AS m", "SUM(i) AS s, COUNT(*) AS c", "MIN(f)"])
    col, values = ch.choice([("k1", "(0, 1, 2)"), ("k2", "('a', 'b', '')"), ("k3", "(true, false)"),
                             ("k1", "(0 AS zero, 3)")])
    src = ch.choice(["(SELECT k2, k1, i, s, f FROM t)", "(SELECT k1, k3, i, s, f FROM t)", "p"])
    if col not in src and src != "p":
        src = "(SELECT k2, k1, k3, i, s, f FROM t)"
    pre = "WITH p AS (SELECT k2, k1, k3, i, s, f FROM t WHERE rid % 2 = 0) " if src == "p" else ""
    return f"{pre}SELECT * FROM {src} PIVOT ({aggs} FOR {col} IN {values})"


def _unpivot_shape(ch) -> str:
    nulls = ch.choice(["", "", " INCLUDE NULLS", " EXCLUDE NULLS"])
    return ch.choice([
        f"SELECT * FROM (SELECT rid, i, CAST(u AS BIGINT) AS u FROM t) UNPIVOT{nulls} (v FOR name IN (i, u))",
        f"SELECT * FROM (SELECT rid, s, k2 FROM t) UNPIVOT{nulls} (v FOR col IN (s, k2))",
        f"WITH w AS (SELECT rid, f, CAST(i AS DOUBLE) AS di FROM t) SELECT rid, name, v FROM w "
        f"UNPIVOT{nulls} (v FOR name IN (f, di)) WHERE v > 0"])


def random_clause_shape(ch) -> str:
    """One of: DISTINCT ON, a LIMIT / OFFSET / PERCENT / FETCH form, QUALIFY, grouping sets
    with HAVING, ORDER BY by alias / position / expression, PIVOT, UNPIVOT."""
    k = ch.integer(0, 7)
    if k == 0:
        on = ch.choice(["k1", "k2", "k1, k3", "d"])
        return f"SELECT DISTINCT ON ({on}) {on}, rid, i, s FROM t ORDER BY {on}, " \
               f"{ch.choice(['rid', 'rid DESC', 'i, rid', 's DESC NULLS FIRST, rid'])}"
    if k == 2:
        return ch.choice([
            f"SELECT k1, rid, i FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY k1 ORDER BY i, rid) <= {ch.integer(1, 3)}",
            "SELECT k2, SUM(i) AS si FROM t GROUP BY k2 QUALIFY RANK() OVER (ORDER BY si DESC NULLS LAST) <= 2",
            "SELECT k1, rid, RANK() OVER (PARTITION BY k1 ORDER BY s) AS r FROM t QUALIFY r = 1",
            "SELECT rid, i FROM t WHERE i > 0 QUALIFY i > AVG(i) OVER ()",
            "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 HAVING COUNT(*) > 1 QUALIFY n = MAX(n) OVER ()"])
    return {1: _limit_shape, 3: _grouping_shape, 4: _ordered_groups_shape, 5: _ordered_rows_shape,
            6: _pivot_shape, 7: _unpivot_shape}[k](ch)


# --------------------------------------------------------------------------- compositions
# FROM items with columns rid (unique), k1, k2, i, s (v: the item's own value)
ITEMS = [
    "t",
    "(SELECT t.rid, t.k1, t.k2, t.i, t.s, a.w AS v FROM t LEFT JOIN a ON t.k1 = a.k1 AND t.k2 = a.k2) AS j",
    "(SELECT t.rid, t.k1, t.k2, t.i, t.s, b.v FROM t JOIN b ON t.k1 = b.k1) AS j",
    "(SELECT rid, k1, k2, i, s, f AS v FROM t WHERE i > 0 UNION ALL SELECT rid + 100000, k1, k2, -i, s, f FROM t "
    "WHERE i <= 0) AS j",
    "(SELECT rid, k1, k2, i, s, 1 AS v FROM t WHERE k1 IN (SELECT k1 FROM a)) AS j",
    "(SELECT t.rid, t.k1, t.k2, t.i, t.s, x.n AS v FROM t JOIN (SELECT k2, COUNT(*) AS n FROM a GROUP BY k2) x "
    "ON t.k2 = x.k2) AS j",
    "(SELECT rid, k1, k2, i, s, i AS v FROM t QUALIFY ROW_NUMBER() OVER (PARTITION BY k1 ORDER BY rid) <= 3) AS j",
    "(SELECT rid, k1, k2, i, s, rid AS v FROM t ORDER BY rid DESC LIMIT 40) AS j",
    "(SELECT DISTINCT ON (i) rid, k1, k2, i, s, 0 AS v FROM t ORDER BY i, rid) AS j",
    "(SELECT t.rid, t.k1, t.k2, t.i, t.s, t.u AS v FROM t SEMI JOIN a ON t.k1 = a.k1) AS j",
    "(SELECT t.rid, t.k1, t.k2, t.i, t.s, x.w AS v FROM t ASOF LEFT JOIN (SELECT k2, i, MIN(w) AS w FROM a "
    "GROUP BY k2, i) x ON t.k2 = x.k2 AND t.i >= x.i) AS j",   # (k2, i) unique: no ties
]


def random_combo_shape(ch) -> str:
    """A clause (DISTINCT ON, grouping sets, QUALIFY, LIMIT PERCENT, PIVOT, ORDER BY +
    LIMIT, a subquery filter, a join with b, a set operation) over a FROM item that is
    itself a join, set operation, filtered, QUALIFYed, LIMITed or DISTINCT ON query."""
    item = ch.choice(ITEMS)
    if ch.integer(0, 3) == 0 and item != "t":
        item = f"WITH j AS {item[:item.rindex(' AS j')]} SELECT * FROM j"
        src = "j"
        pre, item = item[:item.index(" SELECT * FROM j")] + " ", "j"
    else:
        pre, src = "", item
    k = ch.integer(0, 8)
    if k == 0:
        return f"{pre}SELECT DISTINCT ON (k1) k1, rid, i FROM {src} ORDER BY k1, rid DESC"
    if k == 1:
        return f"{pre}SELECT k1, k2, COUNT(*) AS n, SUM(i) FROM {src} GROUP BY {ch.choice(['ROLLUP (k1, k2)', 'CUBE (k1, k2)', 'GROUPING SETS ((k1, k2), (k1), ())'])}"
    if k == 2:
        return f"{pre}SELECT rid, k1, i FROM {src} QUALIFY RANK() OVER (PARTITION BY k1 ORDER BY i DESC, rid) = 1"
    if k == 3:
        return f"{pre}SELECT rid, i FROM {src} ORDER BY i NULLS FIRST, rid LIMIT {ch.integer(0, 100)} PERCENT"
    if k == 4:
        return f"{pre}SELECT * FROM (SELECT k1, k2, i FROM {src}) PIVOT (SUM(i) FOR k2 IN ('a', 'b', ''))"
    if k == 5:
        return f"{pre}SELECT rid, k2, s FROM {src} WHERE EXISTS (SELECT 1 FROM b WHERE b.k1 = {src.split()[-1] if src != 't' else 't'}.k1) " \
               f"ORDER BY rid LIMIT {ch.integer(0, 15)} OFFSET {ch.integer(0, 3)}"
    if k == 6:
        name = src.split()[-1]
        return f"{pre}SELECT {name}.rid, {name}.i, b.name FROM {src} {ch.choice(['LEFT JOIN', 'FULL JOIN', 'RIGHT JOIN', 'JOIN'])} b " \
               f"ON {name}.k1 = b.k1"
    if k == 7:
        return f"{pre}SELECT k1, k2 FROM {src} {ch.choice(SET_OPS)} SELECT k1, k2 FROM a" + \
            (_order_all(ch, 2) if ch.flag() else "")
    return f"{pre}SELECT k2, COUNT(*), MAX(i), MIN(s) FROM {src} WHERE k1 NOT IN (SELECT grp FROM b WHERE grp IS NOT NULL) " \
           f"GROUP BY ALL HAVING COUNT(*) > {ch.integer(0, 3)}"


SHAPES = {"join": random_join_shape, "subquery": random_subquery_shape, "setop": random_setop_shape,
          "clause": random_clause_shape, "combo": random_combo_shape}


def random_shape_query(ch, shape: str | None = None) -> str:
    """A random query of ``shape`` (any of SHAPES when None) over :func:`shape_tables`."""
    return SHAPES[shape or ch.choice(list(SHAPES))](ch)


# --------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("seed", range(24))
def test_seeded_random_shapes(seed, backend):
    ch = RngChooser(np.random.default_rng(90_000 + seed))
    tables = shape_tables(ch, 80)
    query = random_shape_query(ch, list(SHAPES)[seed % len(SHAPES)])
    run_both(query, tables, backend=backend, batch_size=ch.choice([None, 5, 64]))


def _keys_tables():
    import decimal
    t = pa.table({"k": pa.array([1, 2, None, 3], pa.int32()), "f": [1.0, 2.5, None, 3.0],
                  "ts": pa.array([0, 4, 5000, None], pa.timestamp("s")),
                  "d": pa.array([0, 1, None, 2], pa.date32()),
                  "dec": pa.array([decimal.Decimal("1.00"), decimal.Decimal("2.50"), None,
                                   decimal.Decimal("3.00")], pa.decimal128(5, 2)),
                  "u": pa.array([1, 2, None, 3], pa.uint8())})
    a = pa.table({"k": pa.array([1, 5_000_000_000, None, 3], pa.int64()), "f": [1.0, 2.5, None, 3.5],
                  "ts": pa.array([0, 4000, 4, 5_000_000], pa.timestamp("ms")),
                  "tsd": pa.array([0, 86_400_000_001, 2 * 86_400_000_000, None], pa.timestamp("us")),
                  "dec": pa.array([decimal.Decimal("1.0"), decimal.Decimal("2.5"), None,
                                   decimal.Decimal("30.0")], pa.decimal128(3, 1)),
                  "v": ["x", "y", "z", "w"]})
    return {"t": t, "a": a}


@pytest.mark.parametrize("left, right", [("k", "k"), ("k", "f"), ("f", "k"), ("k", "dec"), ("dec", "k"),
                                         ("dec", "dec"), ("f", "dec"), ("ts", "ts"), ("d", "tsd"), ("u", "k")])
@pytest.mark.parametrize("kind", ["JOIN", "LEFT JOIN", "FULL JOIN", "ANTI JOIN", "ASOF LEFT JOIN"])
def test_join_keys_of_different_types(left, right, kind, backend):
    """Keys compare in a type holding both, as DuckDB: a DATE key met a TIMESTAMP one cut to
    its day (wrong matches), and an int32 key with an int64 value past its range, a uint8
    with int64, an integer with a decimal or a float with a fraction, or two timestamp
    units, were an error."""
    cond = f"t.{left} >= a.{right}" if kind.startswith("ASOF") else f"t.{left} = a.{right}"
    items = f"t.{left}" if kind == "ANTI JOIN" else f"t.{left}, a.v"
    run_both(f"SELECT {items} FROM t {kind} a ON {cond}", _keys_tables(), backend=backend)


def test_unpivot_include_nulls(backend):
    """UNPIVOT INCLUDE NULLS keeps the NULL values (was read as EXCLUDE NULLS)."""
    t = pa.table({"id": [1, 2, 3], "a": [1, None, 3], "b": [None, None, 6]})
    for nulls in ("INCLUDE NULLS", "EXCLUDE NULLS", ""):
        run_both(f"SELECT * FROM (SELECT id, a, b FROM t) UNPIVOT {nulls} (v FOR name IN (a, b))",
                 {"t": t}, backend=backend)


def test_union_by_name_is_refused():
    """UNION [ALL] BY NAME matches columns by name: refused, where it was read as a plain
    UNION (columns matched by position: a silently different answer)."""
    import gpuvelo
    from gpuvelo.errors import NotSupportedError
    t = pa.table({"a": [1], "b": ["x"]})
    with pytest.raises(NotSupportedError, match="BY NAME"):
        gpuvelo.sql("SELECT a, b FROM t UNION ALL BY NAME SELECT b, a FROM t", t=t)


def test_subquery_with_a_join_in_from(backend):
    """A FROM subquery or CTE that joins runs first, as a stage (was refused)."""
    ch = RngChooser(np.random.default_rng(7))
    tables = shape_tables(ch, 60)
    for q in [
        "SELECT k1, COUNT(*), SUM(v) FROM (SELECT t.k1, t.i, a.w AS v FROM t LEFT JOIN a ON t.k1 = a.k1) j GROUP BY k1",
        "WITH j AS (SELECT t.rid, t.k1, b.name FROM t JOIN b ON t.k1 = b.k1) SELECT j.rid, a.label FROM j "
        "LEFT JOIN a ON j.k1 = a.k1 ORDER BY 1, 2 NULLS FIRST",
        "SELECT DISTINCT ON (k1) k1, rid FROM (SELECT t.rid, t.k1 FROM t SEMI JOIN a ON t.k1 = a.k1) ORDER BY k1, rid",
    ]:
        run_both(q, tables, backend=backend, batch_size=7)


def test_read_csv_with_fewer_names_than_columns(tmp_path, monkeypatch):
    """read_csv(names=[...]) with fewer names than columns renames the first ones, the rest
    keep the header's names or column<i> (was a malformed-row error); ``FROM x.csv``
    unquoted reads the file, as DuckDB's replacement scan does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nohdr.csv").write_text("1,2.5,7\n2,3.5,8\n")
    (tmp_path / "hdr.csv").write_text("id,name,price\n1,ann,1.5\n2,,2.25\n")
    for q in ["SELECT * FROM read_csv('nohdr.csv', names=['a', 'b'])",
              "SELECT * FROM read_csv('hdr.csv', names=['x'])",
              "SELECT * FROM read_csv('hdr.csv', names=['x'], header=true)",
              "SELECT * FROM hdr.csv", "SELECT hdr.id FROM hdr.csv WHERE price > 2"]:
        run_both(q, {}, check_names=True)


def test_pivot_group_by_and_unpivot_forms(backend):
    """PIVOT (... GROUP BY g) groups by g alone (its GROUP BY was ignored: every other
    column grouped too); UNPIVOT IN entries with aliases (``jan AS 'j'``) and several value
    columns (``(v1, v2) FOR m IN ((jan, feb), (mar, mar) AS y)``; a row with a NULL value
    is left out) were unknown-column errors."""
    sales = pa.table({"region": ["n", "s", "n", "e", None], "prod": ["a", "a", "b", "b", "a"],
                      "yr": pa.array([2020, 2020, 2021, 2021, 2021], pa.int32()), "amt": [10, 20, 30, 40, 50]})
    wide = pa.table({"id": [1, 2, 3], "jan": [1, None, 3], "feb": [4, 5, None], "mar": [7, 8, 9]})
    tables = {"sales": sales, "wide": wide}
    for q in [
        "SELECT * FROM (SELECT region, prod, yr, amt FROM sales) PIVOT (SUM(amt) FOR yr IN (2020, 2021) GROUP BY region)",
        "SELECT * FROM (SELECT id, jan, feb, mar FROM wide) UNPIVOT (v FOR month IN (jan AS 'j', feb AS 'f'))",
        "SELECT * FROM (SELECT id, jan, feb, mar FROM wide) UNPIVOT ((v1, v2) FOR m IN ((jan, feb), (mar, mar) AS y))",
        "SELECT * FROM (SELECT id, jan, feb, mar FROM wide) UNPIVOT INCLUDE NULLS ((v1, v2) FOR m IN ((jan, feb), (mar, jan)))",
    ]:
        run_both(q, tables, backend=backend, check_names=True)


CSV_FILES = {
    "blank_one_column.csv": "a\n1\n\n3\n\n",          # a blank line of a one-column file: a NULL row
    "blank_two_columns.csv": "a,b\n1,2\n\n3,4\n",      # ... of a wider one: nothing
    "repeated_names.csv": "a,a,b\n1,2,3\n",           # a, a_1, b
    "empty_name.csv": "a,,b\nx,y,z\n",                # a, column1, b
    "header_only.csv": "x,y,z",                       # no rows, three VARCHAR columns
    "blank.csv": "\n",                                # no rows, column0
    "comment_header_only.csv": "# c\nx;y\n",
    "one_line.csv": "1,2",                            # one row, no line break
    "comment_one_line.csv": "# c\n# d\n0;1;2",
    "quoted_first_line.csv": '"a,b",abc,2024-02-10\n"c",d,2024-02-11\n',   # no header, 3 columns
    "codes.csv": "010;010\n007;5\n;010\n",            # codes are text: every column text, a header
    "stamps.csv": "t\n2024-01-01 10:00:00\n",         # TIMESTAMP (microseconds)
}


def test_csv_sniffing_as_duckdb(tmp_path, monkeypatch):
    """CSV files read as DuckDB reads them: names, types and rows (each was an error or a
    different answer)."""
    import gpuvelo
    monkeypatch.chdir(tmp_path)
    for name, text in CSV_FILES.items():
        (tmp_path / name).write_text(text, newline="")
        query = f"SELECT * FROM '{name}'"
        run_both(query, {}, check_names=True)
        assert gpuvelo.sql(query).schema.types == duckdb_table(query, {}).schema.types, name


def test_value_subqueries_reading_ctes_and_set_operations(backend):
    """A subquery used as a value (IN, = ANY, scalar, uncorrelated EXISTS) may read a CTE
    (was: no source of that name) and be a set operation (was refused)."""
    t = pa.table({"k": pa.array([1, 2, 2, 3, None, 5, 1], pa.int32()),
                  "i": pa.array([10, -5, 7, 0, 3, None, 8], pa.int64())})
    a = pa.table({"k": pa.array([1, 2, None, 4], pa.int64())})
    for q in [
        "WITH x AS (SELECT k FROM a) SELECT * FROM t WHERE k IN (SELECT k FROM x)",
        "WITH x AS (SELECT k, COUNT(*) AS n FROM t GROUP BY k) SELECT * FROM t WHERE k IN (SELECT k FROM x WHERE n > 1)",
        "WITH x AS (SELECT k FROM a) SELECT k, (SELECT COUNT(*) FROM x) AS n FROM t WHERE EXISTS (SELECT 1 FROM x WHERE k > 3)",
        "WITH x AS (SELECT k FROM a), y AS (SELECT * FROM t WHERE k IN (SELECT k FROM x)) SELECT COUNT(*) FROM y",
        "SELECT k FROM t WHERE k IN (SELECT k FROM a UNION SELECT 3)",
        "SELECT k FROM t WHERE k NOT IN (SELECT k FROM a WHERE k IS NOT NULL EXCEPT SELECT 4)",
        "WITH x AS (SELECT k FROM a) SELECT k FROM t WHERE k = ANY (SELECT k FROM x INTERSECT SELECT k FROM t)",
    ]:
        run_both(q, {"t": t, "a": a}, backend=backend, batch_size=3)
