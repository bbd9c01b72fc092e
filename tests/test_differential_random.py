"""Random queries over random data, gpuvelo against DuckDB.

A small query generator covers the SQL surface (keys, aggregates over columns and
expressions, WHERE, HAVING, ORDER BY/LIMIT, EMIT, CREATE STREAM, joins with small dimension
tables, window functions and QUALIFY); it draws its choices from a
:class:`Chooser`, fed either by hypothesis (which shrinks a failure to a small query) or by a
seeded numpy generator (a fixed, broad sweep).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from differential import KEY_STRINGS, STRINGS, random_table, run_both

# --------------------------------------------------------------------------- the generator
# GROUP BY key expressions (each is repeated verbatim in the SELECT list).
KEYS = [
    "k1", "k2", "k3", "d", "s", "k1 % 2", "u % 3", "COALESCE(k2, 'none')",
    "CASE WHEN i > 0 THEN 'pos' WHEN i < 0 THEN 'neg' END", "i IS NULL", "CAST(k1 AS BIGINT) * 10",
    "i16 % 4", "FLOOR(f / 50)", "CASE WHEN s LIKE 'a%' THEN s ELSE 'other' END", "k1 IN (1, NULL)",
    "i // 250", "sign(f)", "greatest(k1, 2)", "k2 IS DISTINCT FROM 'a'",
    "upper(k2)", "substring(s, 1, 1)", "date_trunc('day', ts)", "year(d)", "extract(hour FROM ts)",
    "strftime(ts, '%Y-%m-%d')", "k2 || '-' || s", "time_bucket(INTERVAL '6 hours', ts)",
]
NUMERIC_ARGS = ["i", "u", "f", "g", "dec", "i * 2 + u", "f * i", "CASE WHEN k3 THEN i ELSE 0 END",
                "ABS(i)", "COALESCE(f, 0)", "i + f", "-i", "NULLIF(i, 0)", "dec * 2", "i16", "u64",
                "u64 - i16", "ROUND(f)", "CAST(f AS BIGINT)", "f * 1.5", "i / 4", "CEIL(g) - FLOOR(f)",
                "i // 7", "greatest(i, u)", "least(f, dec)", "trunc(f / 3)", "sqrt(ABS(f))", "power(g, 2)",
                "length(s)", "epoch(ts)", "date_diff('hour', TIMESTAMP '2024-01-01', ts)", "dayofweek(d)"]
OTHER_ARGS = ["s", "ts", "d", "k2", "COALESCE(s, k2)", "CASE WHEN k3 THEN s END",
              "ts + INTERVAL 1 HOUR", "concat(k2, s)", "trim(s)", "date_trunc('hour', ts)"]
NUMERIC_AGGS = ["SUM", "AVG", "MIN", "MAX", "STDDEV", "STDDEV_POP", "VAR_SAMP", "VAR_POP", "VARIANCE",
                "STDDEV_SAMP", "COUNT", "COUNT(DISTINCT", "MEDIAN"]
OTHER_AGGS = ["MIN", "MAX", "COUNT", "COUNT(DISTINCT", "FIRST", "LAST", "ANY_VALUE", "MEDIAN"]
ORDERED_ARG_AGGS = ["FIRST", "LAST", "ANY_VALUE"]   # over numeric args too
FILTERED_AGGS = ["SUM(i) FILTER (WHERE k3)", "COUNT(*) FILTER (WHERE f > 0)", "count_if(i > 0)",
                 "AVG(f) FILTER (WHERE s LIKE 'a%')", "MIN(s) FILTER (WHERE i < 0)",
                 "bool_and(i > 0)", "bool_or(k3)", "COUNT(DISTINCT k2) FILTER (WHERE u > 1000)",
                 "quantile_disc(i, 0.3)", "quantile_cont(f, 0.75)", "quantile_disc(s, 0.5)",
                 "median(dec) FILTER (WHERE k3)", "arg_max(s, i)", "arg_min(k2, f)", "max_by(dec, ts)",
                 "min_by(i, fn)", "SUM(DISTINCT i)", "AVG(DISTINCT f)", "SUM(DISTINCT dec)",
                 "string_agg(s, ',')", "string_agg(DISTINCT k2, '|' ORDER BY k2 DESC)",
                 "corr(f, i)", "covar_samp(dec, u)", "regr_slope(f, g)", "regr_r2(i, k1)", "regr_count(f, i)"]
ROW_ATOMS = [
    "i > 0", "i <= -100", "f < 0", "f = 0", "s = 'a'", "s <> ''", "s LIKE 'a%'", "s LIKE '_'", "k3",
    "NOT k3", "i IS NULL", "s IS NOT NULL", "k1 IN (0, 2, 4)", "k2 IN ('a', 'é', '')",
    "i BETWEEN -50 AND 500", "ts < TIMESTAMP '2024-01-03 00:00:00'", "d >= DATE '2024-01-04'",
    "dec > 0", "u % 2 = 0", "COALESCE(i, 0) > f", "g >= 1.5", "i + u > 1000", "k1 = 3",
    "CASE WHEN k3 THEN i > 0 ELSE f > 0 END", "NULLIF(k1, 1) IS NULL", "ABS(i) < 100",
    "dec > f", "i > dec", "u > i", "i16 < 0", "u64 > 1000", "k1 NOT IN (1, NULL)", "s >= k2",
    "s NOT LIKE '%b%'", "d BETWEEN DATE '2024-01-02' AND DATE '2024-01-05'", "ROUND(f) = f",
    "starts_with(s, 'a')", "s ILIKE 'A%'", "contains(s, 'b')", "hour(ts) < 12",
    "ts > TIMESTAMP '2024-01-02' + INTERVAL 6 HOUR", "regexp_matches(s, '^[ab]')",
]
HAVING_ATOMS = ["COUNT(*) > 2", "SUM(i) > 0", "MAX(f) >= 0", "MIN(s) <> 'a'", "AVG(u) < 1000",
                "COUNT(DISTINCT s) >= 2", "MIN(i) IS NULL", "SUM(dec) < 0", "MAX(ts) > TIMESTAMP '2024-01-03 00:00:00'",
                "STDDEV(i) > 500", "FIRST(s) = 'a'", "SUM(i) > SUM(u) / 2", "NOT (MAX(k2) < 'b')"]
STATELESS_EXPRS = [
    "i", "s", "k1", "ts", "d", "dec", "f", "k3", "i + u", "i * 2 - 1", "f / 2", "-f", "i % 7",
    "ABS(i)", "ROUND(f)", "FLOOR(f)", "CEIL(g)", "COALESCE(s, '?')", "NULLIF(i, 0)", "CAST(i AS DOUBLE)",
    "CASE WHEN i > 0 THEN s ELSE 'neg' END", "i > 0", "s LIKE '%b'", "k1 IN (1, 2)",
    "i BETWEEN 0 AND 10", "s IS NULL", "(i > 0) AND k3", "(i > 0) OR k3", "NOT k3", "dec + 1",
    "i16", "u64", "u64 * 2 + i16", "CAST(i AS VARCHAR)", "ROUND(f / 3, 2)", "g", "dec * i16", "ts", "d",
    "upper(s)", "strftime(d, '%d/%m')", "ts - INTERVAL '1 day'", "lpad(s, 3, '*')", "month(ts)",
]


class Chooser:
    """Where the generator's choices come from."""

    def choice(self, options):
        raise NotImplementedError

    def integer(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def sample(self, options, lo: int, hi: int) -> list:
        """Between lo and hi distinct items of ``options``, in the drawn order."""
        k = self.integer(lo, min(hi, len(options)))
        pool, out = list(options), []
        for _ in range(k):
            out.append(pool.pop(self.integer(0, len(pool) - 1)))
        return out

    def flag(self) -> bool:
        return self.integer(0, 1) == 1


class RngChooser(Chooser):
    """Choices from a seeded numpy generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def choice(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))


class DataChooser(Chooser):
    """Choices drawn by hypothesis (so a failure shrinks)."""

    def __init__(self, data):
        self.data = data

    def choice(self, options):
        return self.data.draw(st.sampled_from(options))

    def integer(self, lo, hi):
        return self.data.draw(st.integers(lo, hi))


def _predicate(ch: Chooser, atoms: list[str]) -> str:
    parts = ch.sample(atoms, 1, 3)
    text = parts[0]
    for p in parts[1:]:
        text = f"({text}) {ch.choice(['AND', 'OR'])} ({p})"
    return f"NOT ({text})" if ch.integer(0, 4) == 0 else text


def _aggregate(ch: Chooser) -> str:
    if ch.integer(0, 6) == 0:
        return "COUNT(*)"
    if ch.integer(0, 6) == 0:
        return ch.choice(FILTERED_AGGS)
    if ch.flag():
        func, arg = ch.choice(NUMERIC_AGGS + ORDERED_ARG_AGGS), ch.choice(NUMERIC_ARGS)
    else:
        func, arg = ch.choice(OTHER_AGGS), ch.choice(OTHER_ARGS)
    return f"{func} {arg})" if func == "COUNT(DISTINCT" else f"{func}({arg})"


def random_aggregate_query(ch: Chooser) -> str:
    """A random GROUP BY (or global) aggregate query over ``random_table``'s columns."""
    keys = ch.sample(KEYS, 0, 3)
    aggs = [_aggregate(ch) for _ in range(ch.integer(1 if not keys else 0, 4))]
    if ch.integer(0, 3) == 0:
        aggs.append(ch.choice(["SUM(i) / COUNT(*)", "MAX(i) - MIN(i)", "COUNT(*) * 2 + SUM(u)",
                               "ROUND(AVG(f), 2)", "COALESCE(SUM(i), 0)", "CASE WHEN COUNT(*) > 3 THEN 'many' ELSE 'few' END"]))
    aliased = ch.flag()
    items = keys + aggs
    select = ", ".join(f"{e} AS c{n}" if aliased else e for n, e in enumerate(items))
    q = f"SELECT {select} FROM t"
    if ch.flag():
        q += f" WHERE {_predicate(ch, ROW_ATOMS)}"
    if keys:
        by_position = ch.flag()
        q += " GROUP BY " + ", ".join(str(n + 1) if by_position else k for n, k in enumerate(keys))
    if ch.integer(0, 2) == 0:
        having = HAVING_ATOMS + ([f"c{len(items) - 1} IS NOT NULL"] if aliased else [])
        q += f" HAVING {_predicate(ch, having)}"
    if keys and ch.flag():
        q += " ORDER BY " + ", ".join(
            f"{n + 1} {ch.choice(['ASC', 'DESC'])} NULLS {ch.choice(['FIRST', 'LAST'])}" for n in range(len(keys)))
        if ch.flag():
            q += f" LIMIT {ch.integer(0, 6)}"
    return _streaming_form(ch, q)


def random_stateless_query(ch: Chooser) -> str:
    """A random filter/project query over ``random_table``'s columns."""
    exprs = ["*"] if ch.integer(0, 9) == 0 else ch.sample(STATELESS_EXPRS, 1, 5)
    q = f"SELECT {', '.join(exprs)} FROM t"
    if ch.flag():
        q += f" WHERE {_predicate(ch, ROW_ATOMS)}"
    if exprs != ["*"] and ch.integer(0, 2) == 0:   # order by every output column: no ambiguous ties
        q += " ORDER BY " + ", ".join(
            f"{n + 1} {ch.choice(['ASC', 'DESC'])} NULLS {ch.choice(['FIRST', 'LAST'])}" for n in range(len(exprs)))
        if ch.flag():
            q += f" LIMIT {ch.integer(0, 20)}"
    return _streaming_form(ch, q)


def _streaming_form(ch: Chooser, q: str) -> str:
    q += ch.choice(["", "", " EMIT CHANGES", " EMIT FINAL"])
    return ch.choice(["", "", "", "CREATE STREAM out AS ", "CREATE TABLE out AS "]) + q


# --------------------------------------------------------------------------- joins
# ``t`` joined with dimension tables ``a`` (k1, k2, grp, label, i, s, w: k1/k2 overlap t's
# keys, i and s clash with t's names) and ``b`` (grp, k1, name, v): see _dimension_tables.
JOIN_WHERE = ["t.i > 0", "t.f < 0", "t.s LIKE 'a%'", "t.k3", "t.k2 IS NULL", "t.u % 2 = 0",
              "a.w > 0", "a.label <> 'L1'", "a.i IS NULL", "a.s = t.s", "a.i > t.i // 20",
              "a.k1 IS NOT NULL", "t.k1 + a.grp > 2", "b.name IS NOT NULL", "b.v < 10",
              "COALESCE(b.grp, -1) <> a.grp", "b.k1 = t.k1"]
JOIN_KEYS = ["t.k1", "t.k2", "t.k3", "a.label", "a.grp", "a.k1", "a.s", "b.name", "b.grp",
             "COALESCE(a.label, 'none')", "t.k1 * 10 + COALESCE(a.grp, 9)"]
JOIN_AGGS = ["COUNT(*)", "SUM(t.i)", "SUM(a.i)", "AVG(a.w)", "MIN(a.s)", "MAX(t.s)", "COUNT(a.label)",
             "COUNT(DISTINCT a.label)", "SUM(t.i * a.w)", "MAX(a.w - t.f)", "SUM(b.v)", "MIN(b.name)",
             "COUNT(b.grp)", "AVG(t.f)", "SUM(t.dec)", "MAX(t.ts)", "COUNT(DISTINCT t.k2)",
             "SUM(CASE WHEN a.k1 IS NULL THEN 1 ELSE 0 END)", "SUM(t.i) FILTER (WHERE a.w > 0)"]
JOIN_ITEMS = ["t.i", "t.k1", "t.s", "t.f", "t.dec", "t.ts", "a.label", "a.w", "a.i", "a.s", "a.k1",
              "b.name", "b.v", "t.i + a.i", "COALESCE(a.label, 'none')", "a.w * t.f", "t.k2 || a.label",
              "CASE WHEN a.grp IS NULL THEN 'miss' ELSE t.s END"]


def _dimension_tables(ch: Chooser) -> dict:
    """Two small dimension tables: keys unique or duplicated, sometimes NULL, with names
    (i, s, k1, k2, grp) that clash with ``t``'s or with each other's."""
    rng = np.random.default_rng(ch.integer(0, 2**31))
    na, nb = ch.integer(0, 8), ch.integer(0, 6)
    null_p = ch.choice([0.0, 0.0, 0.2, 0.5])
    unique_a, unique_b = ch.flag(), ch.flag()
    k1 = rng.permutation(np.arange(-1, 7))[:na] if unique_a else rng.integers(-1, 6, na)
    a = pa.table({
        "k1": pa.array(k1.astype(ch.choice([np.int32, np.int64, np.int16])),
                       mask=(rng.random(na) < null_p) if null_p else None),
        "k2": pa.array(rng.choice(KEY_STRINGS + ["x"], na), pa.string(), mask=rng.random(na) < null_p),
        "grp": pa.array(rng.integers(0, 4, na), pa.int64(), mask=rng.random(na) < null_p),
        "label": pa.array([f"L{j % 4}" for j in range(na)], pa.string(), mask=rng.random(na) < null_p),
        "i": pa.array(rng.integers(-50, 51, na), pa.int64(), mask=rng.random(na) < null_p),
        "s": pa.array(rng.choice(STRINGS, na), pa.string(), mask=rng.random(na) < null_p),
        "w": pa.array(rng.integers(-8, 9, na) / 4.0, mask=rng.random(na) < null_p),
    })
    grp = rng.permutation(np.arange(0, 6))[:nb] if unique_b else rng.integers(0, 4, nb)
    b = pa.table({
        "grp": pa.array(grp.astype(np.int64), mask=(rng.random(nb) < null_p) if null_p else None),
        "k1": pa.array(rng.integers(0, 5, nb).astype(np.int32), mask=rng.random(nb) < null_p),
        "name": pa.array([f"N{j}" for j in range(nb)], pa.string(), mask=rng.random(nb) < null_p),
        "v": pa.array(rng.integers(-20, 21, nb), pa.int64(), mask=rng.random(nb) < null_p),
    })
    return {"a": a, "b": b}


def _join_a(ch: Chooser, comma: bool) -> tuple[str, list[str]]:
    """(FROM text joining t and a, WHERE terms the join adds)."""
    if comma:
        keys = ch.choice([[], ["t.k1 = a.k1"], ["a.k2 = t.k2"], ["t.k1 = a.k1", "t.k2 = a.k2"],
                          ["t.k1 = a.k1", "a.k2 = t.k2", "t.s = a.s"]])
        return "t, a", keys
    kind = ch.choice(["JOIN", "INNER JOIN", "LEFT JOIN", "LEFT OUTER JOIN", "CROSS JOIN"])
    if kind == "CROSS JOIN":
        return "t CROSS JOIN a", []
    if ch.integer(0, 3) == 0:
        return f"t {kind} a USING ({ch.choice(['k1', 'k2', 'k1, k2', 'k2, k1'])})", []
    pairs = ch.sample(["t.k1 = a.k1", "a.k2 = t.k2", "t.s = a.s"], 1, 3)
    if kind in ("JOIN", "INNER JOIN") and ch.integer(0, 3) == 0:
        pairs.append(ch.choice(["a.w > 0", "t.i > a.i", "a.label IS NOT NULL"]))   # a filter
    return f"t {kind} a ON {' AND '.join(pairs)}", []


def _join_b(ch: Chooser, comma: bool) -> tuple[str, list[str]]:
    """(text joining b to the rows so far, WHERE terms it adds)."""
    cond = ch.choice(["a.grp = b.grp", "t.k1 = b.k1", "b.grp = a.grp AND b.k1 = t.k1"])
    if comma:
        return ", b", ch.choice([[], cond.split(" AND ")])
    kind = ch.choice(["JOIN", "LEFT JOIN", "CROSS JOIN"])
    return (" CROSS JOIN b", []) if kind == "CROSS JOIN" else (f" {kind} b ON {cond}", [])


def random_join_query(ch: Chooser) -> str:
    """A random query over ``t`` joined with ``a`` (and sometimes ``b``) of
    :func:`_dimension_tables`: INNER/LEFT/CROSS/comma joins, ON or USING, WHERE on either
    side, then GROUP BY with aggregates of both sides or a projection; sometimes with the
    tables under aliases."""
    q = _join_query(ch)
    for name, alias in (("t", "x"), ("a", "da")):
        if ch.integer(0, 3) == 0:
            q = re.sub(rf"\b{name}\.", f"{alias}.", q)
            q = re.sub(rf"(FROM|JOIN|,) {name}\b(?!\.)", rf"\1 {name} AS {alias}", q, count=1)
    return q


def _join_query(ch: Chooser) -> str:
    """random_join_query's query, before the aliases."""
    comma = ch.integer(0, 3) == 0
    from_, where = _join_a(ch, comma)
    with_b = ch.flag()
    if with_b:
        more, extra = _join_b(ch, comma)
        from_, where = from_ + more, where + extra
    atoms = [w for w in JOIN_WHERE if with_b or "b." not in w]
    if ch.flag():
        where.append(f"({_predicate(ch, atoms)})")
    keys = [k for k in JOIN_KEYS if with_b or "b." not in k]
    if ch.integer(0, 2):
        group = ch.sample(keys, 0, 3)
        aggs = ch.sample([a for a in JOIN_AGGS if with_b or "b." not in a], 1, 4)
        if group and ch.integer(0, 4) == 0:   # ranks: ties cannot change them
            aggs.append(f"RANK() OVER (ORDER BY {_directed(ch, [aggs[0]])})")
        q = f"SELECT {', '.join(group + aggs)} FROM {from_}"
        q += f" WHERE {' AND '.join(where)}" if where else ""
        if group:
            q += " GROUP BY " + ", ".join(group)
            if ch.flag():
                q += " ORDER BY " + ", ".join(f"{n + 1} {ch.choice(['ASC', 'DESC'])} NULLS "
                                              f"{ch.choice(['FIRST', 'LAST'])}" for n in range(len(group)))
                q += f" LIMIT {ch.integer(0, 8)}" if ch.flag() else ""
        return q
    items = ch.sample([e for e in JOIN_ITEMS if with_b or "b." not in e], 1, 5)
    q = f"SELECT {', '.join(items)} FROM {from_}"
    q += f" WHERE {' AND '.join(where)}" if where else ""
    if ch.flag():   # every output column: a total order (tied rows are equal rows)
        q += " ORDER BY " + ", ".join(f"{n + 1} {ch.choice(['ASC', 'DESC'])} NULLS "
                                      f"{ch.choice(['FIRST', 'LAST'])}" for n in range(len(items)))
        q += f" LIMIT {ch.integer(0, 20)}" if ch.flag() else ""
    return q


# --------------------------------------------------------------------------- window functions
# ``t`` has a unique row id ``rid`` (see _analytic_table). Functions whose value depends on how
# ties are ordered (ROW_NUMBER, NTILE, LAG/LEAD, FIRST/LAST/NTH_VALUE, ROWS frames) are ordered
# by a total order; RANK-like functions and RANGE / default frames may order by tied values.
WIN_VALUES = ["i", "f", "s", "dec", "ts", "d", "k3", "u64", "i16", "g", "k2"]
WIN_NUMBERS = ["i", "f", "dec", "i16", "u", "g", "i * 2 - u"]
WIN_LOOSE_ORDERS = ["i", "f", "s", "k1", "k1, k2", "d", "k3, i", "dec", "ABS(i)", "i % 3", "s || k2", "-f",
                    "ts"]
WIN_PARTITIONS = ["k1", "k2", "k3", "i % 3", "COALESCE(k2, 'z')", "d"]
GROUP_KEYS = ["k1", "k2", "k3", "d"]
GROUP_VALUES = ["SUM(i)", "COUNT(*)", "MAX(s)", "MIN(ts)", "AVG(f)", "SUM(dec)", "MIN(d)", "MAX(i16)"]
GROUP_NUMBERS = ["SUM(i)", "COUNT(*)", "AVG(f)", "SUM(dec)", "MAX(i16)", "COUNT(s)"]
ROWS_FRAMES = ["ROWS BETWEEN 1 PRECEDING AND CURRENT ROW", "ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING",
               "ROWS 3 PRECEDING", "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
               "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
               "ROWS BETWEEN 2 FOLLOWING AND 4 FOLLOWING", "ROWS BETWEEN 4 PRECEDING AND 1 PRECEDING",
               "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING", "ROWS BETWEEN 0 PRECEDING AND 0 FOLLOWING"]
RANGE_FRAMES = ["RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
                "RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING", "RANGE CURRENT ROW"]
GROUPS_FRAMES = ["GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW", "GROUPS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
                 "GROUPS 1 PRECEDING", "GROUPS BETWEEN CURRENT ROW AND 2 FOLLOWING",
                 "GROUPS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"]
# RANGE offsets that fit a single ORDER BY key's type and spread
RANGE_OFFSETS = {"rid": ["2", "5", "1.5"], "i": ["10", "100", "2.5"], "f": ["5", "0.5", "25"],
                 "dec": ["10000", "500000.5"], "d": ["1", "3", "INTERVAL 36 HOUR"], "k1": ["1", "2"],
                 "ABS(i)": ["50"], "i % 3": ["1"], "-f": ["10", "0.25"],
                 "ts": ["INTERVAL 6 HOUR", "INTERVAL '1 day'", "INTERVAL 90 MINUTE"],
                 "SUM(i)": ["100", "1000"], "COUNT(*)": ["1", "3"], "AVG(f)": ["10"]}
EXCLUDES = ["", "", " EXCLUDE CURRENT ROW", " EXCLUDE GROUP", " EXCLUDE TIES"]


def _offset_frame(ch: Chooser, key: str) -> str:
    """A RANGE frame with offsets over ``key`` (one ORDER BY key), or a GROUPS frame."""
    if key not in RANGE_OFFSETS or ch.integer(0, 2) == 0:
        return ch.choice(GROUPS_FRAMES)
    a, b = ch.choice(RANGE_OFFSETS[key]), ch.choice(RANGE_OFFSETS[key])
    return ch.choice([f"RANGE BETWEEN {a} PRECEDING AND {b} FOLLOWING", f"RANGE BETWEEN {a} PRECEDING AND "
                      "CURRENT ROW", f"RANGE {a} PRECEDING", f"RANGE BETWEEN UNBOUNDED PRECEDING AND {a} "
                      "PRECEDING", f"RANGE BETWEEN {a} FOLLOWING AND UNBOUNDED FOLLOWING", f"RANGE BETWEEN "
                      f"CURRENT ROW AND {a} FOLLOWING", f"RANGE BETWEEN {a} PRECEDING AND {b} PRECEDING"])


def _frame(ch: Chooser, frames: list[str], key: str | None) -> tuple[str, str]:
    """(a frame or '', the same with an EXCLUDE clause maybe): from ``frames``, or one with
    offsets over the single ORDER BY ``key``."""
    if ch.integer(0, 2):
        return "", ""
    frame = " " + (_offset_frame(ch, key) if key is not None and ch.flag() else ch.choice(frames))
    return frame, frame + (ch.choice(EXCLUDES) if " BETWEEN " in frame else "")


def _directed(ch: Chooser, exprs: list[str]) -> str:
    return ", ".join(f"{e} {ch.choice(['ASC', 'DESC'])}{ch.choice(['', ' NULLS FIRST', ' NULLS LAST'])}"
                     for e in exprs)


def _window_call(ch: Chooser, keys: list[str], total: list[str], loose: list[str],
                 values: list[str], numbers: list[str]) -> tuple[str, str]:
    """One window function call and its kind ('int', 'num', 'real' -- a float whose last
    bits may differ -- or 'any'). ``total`` orders rows totally (ties of value functions
    then cannot differ); ``loose`` may tie."""
    partition = ch.sample(keys, 0, 2)
    over = f"PARTITION BY {', '.join(partition)} " if partition else ""
    if ch.integer(0, 2):   # a total order: every function, ROWS frames
        order = [o for o in ch.sample(keys, 0, 1) if o not in partition] + [ch.choice(total)]
        over += f"ORDER BY {_directed(ch, order)}"
        plain, frame = _frame(ch, ROWS_FRAMES + RANGE_FRAMES, order[0] if len(order) == 1 else None)
        n = ch.integer(1, 4)
        calls = [("ROW_NUMBER()", "int", ""), ("NTILE({})".format(ch.integer(1, 6)), "int", ""),
                 (f"LAG({ch.choice(values)}{', ' + str(n) if ch.flag() else ''})", "any", ""),
                 (f"LEAD({ch.choice(values)}, {n})", "any", ""),
                 (f"LAG({ch.choice(numbers)}, {n}, 0)", "num", ""),
                 (f"LEAD({ch.choice(numbers)} IGNORE NULLS)", "num", ""),
                 (f"FIRST_VALUE({ch.choice(values)})", "any", frame),
                 (f"LAST_VALUE({ch.choice(values)}{ch.choice(['', ' IGNORE NULLS'])})", "any", frame),
                 (f"NTH_VALUE({ch.choice(values)}, {n})", "any", frame),
                 (f"SUM({ch.choice(numbers)})", "num", frame), (f"AVG({ch.choice(numbers)})", "num", frame),
                 (f"MIN({ch.choice(values)})", "any", frame), (f"MAX({ch.choice(values)})", "any", frame),
                 (f"COUNT({ch.choice(values)})", "int", frame), ("COUNT(*)", "int", frame),
                 (f"STDDEV({ch.choice(numbers)})", "real", frame), (f"VAR_POP({ch.choice(numbers)})", "real", frame),
                 (f"MEDIAN({ch.choice(numbers)})", "num", plain),
                 (f"COUNT(DISTINCT {ch.choice(values)})", "int", plain),
                 ("RANK()", "int", ""), ("PERCENT_RANK()", "num", "")]
        if total == ["rid"]:
            calls += [(f"ARG_MAX({ch.choice(values)}, rid)", "any", frame),
                      ("STRING_AGG(s, '|')", "any", plain)]
    else:                  # ties (or no ORDER BY): functions whose values ties cannot change
        if ch.integer(0, 3):
            key = ch.choice(loose)
            over += f"ORDER BY {_directed(ch, [key])}"
            plain, frame = _frame(ch, RANGE_FRAMES + GROUPS_FRAMES, key)
        else:
            plain = frame = ""
        calls = [("RANK()", "int", ""), ("DENSE_RANK()", "int", ""), ("PERCENT_RANK()", "num", ""),
                 ("CUME_DIST()", "num", ""), ("COUNT(*)", "int", frame),
                 (f"COUNT({ch.choice(values)})", "int", frame), (f"SUM({ch.choice(numbers)})", "num", frame),
                 (f"AVG({ch.choice(numbers)})", "num", frame), (f"MIN({ch.choice(values)})", "any", frame),
                 (f"MAX({ch.choice(values)})", "any", frame),
                 (f"VAR_SAMP({ch.choice(numbers)})", "real", frame),
                 (f"QUANTILE_DISC({ch.choice(values)}, 0.25)", "any", plain),
                 (f"COUNT(DISTINCT {ch.choice(values)})", "int", plain)]
    fn, kind, frame = ch.choice(calls)
    return f"{fn} OVER ({over.strip()}{frame})", kind


def _around(ch: Chooser, call: str, kind: str) -> str:
    """``call`` itself or an expression over it."""
    if ch.integer(0, 2):
        return call
    if kind == "int":
        return ch.choice([f"{call} * 2 + 1", f"CASE WHEN {call} = 1 THEN 'first' ELSE 'rest' END"])
    if kind in ("num", "real"):
        return ch.choice([f"{call} + 1", f"COALESCE({call}, 0)", f"{call} IS NULL"])
    # (not CAST(... AS VARCHAR): MIN/MAX of tied -0.0 and 0.0 may print either sign)
    return ch.choice([f"{call} IS NULL", f"COALESCE({call}, {call})"])


def _qualify(ch: Chooser, alias: str, kind: str) -> str:
    return {"int": f"{alias} <= {ch.integer(1, 4)}", "num": f"{alias} > 0", "real": f"{alias} > 0",
            "any": f"{alias} IS NOT NULL"}[kind]


def random_analytic_query(ch: Chooser) -> str:
    """A random query with window functions over ``t`` of :func:`_analytic_table`: over its
    rows, or over its GROUP BY groups; QUALIFY, expressions over the calls, ORDER BY/LIMIT."""
    grouped = ch.flag()
    if grouped:
        keys = ch.sample(GROUP_KEYS, 1, 3)
        total = [", ".join(ch.sample(keys, len(keys), len(keys)))]   # the keys: unique per group
        plain = keys + ch.sample(GROUP_VALUES, 0, 2)
        args = dict(keys=keys, total=total, loose=GROUP_NUMBERS + keys, values=GROUP_VALUES + keys,
                    numbers=GROUP_NUMBERS)
    else:
        keys = WIN_PARTITIONS
        plain = ["rid"] + ch.sample(["i", "s", "k1", "f", "ts"], 0, 2)
        args = dict(keys=keys, total=["rid"], loose=WIN_LOOSE_ORDERS, values=WIN_VALUES, numbers=WIN_NUMBERS)
    calls = [_window_call(ch, **args) for _ in range(ch.integer(1, 3))]
    items = plain + [f"{_around(ch, c, kind)} AS w{n}" for n, (c, kind) in enumerate(calls)]
    q = f"SELECT {', '.join(items)} FROM t"
    if ch.integer(0, 2) == 0:
        q += f" WHERE {_predicate(ch, ROW_ATOMS)}"
    if grouped:
        q += " GROUP BY " + ", ".join(keys)
        if ch.integer(0, 3) == 0:
            q += " HAVING COUNT(*) > 1"
    qualify = ""
    if ch.integer(0, 2) == 0:
        n = ch.integer(0, len(calls) - 1)
        call, kind = calls[n]
        target = f"w{n}" if items[len(plain) + n] == f"{call} AS w{n}" and ch.flag() else call
        qualify = f" QUALIFY {_qualify(ch, target, kind)}"
    named = _named_window(ch, calls[0][0])
    if named:
        over, named_over, window = named
        q, qualify = q.replace(over, named_over) + window, qualify.replace(over, named_over)
    q += qualify
    if ch.flag():
        q += " ORDER BY " + (", ".join(f"{k} {ch.choice(['ASC', 'DESC'])} NULLS FIRST" for k in keys)
                             if grouped else f"{ch.choice(['', 'w0, ' if calls[0][1] != 'real' else ''])}"
                             f"rid {ch.choice(['ASC', 'DESC'])}")   # (variances: rounding may reorder)
        q += f" LIMIT {ch.integer(0, 10)}" if ch.flag() else ""
    return q


def _named_window(ch: Chooser, call: str) -> tuple[str, str, str] | None:
    """Sometimes ``call``'s OVER clause as a named window: (the clause, what replaces it,
    the WINDOW clause), e.g. ``OVER w`` or ``OVER (w ORDER BY ...)`` and ``WINDOW w AS (...)``."""
    over = call[call.index(" OVER (") + 6:]
    if ch.integer(0, 3) or over == "()":
        return None
    inner = over[1:-1]
    if inner.startswith("PARTITION BY") and " ORDER BY " in inner and ch.flag():
        cut = inner.index(" ORDER BY ")
        return f" OVER {over}", f" OVER (w{inner[cut:]})", f" WINDOW w AS ({inner[:cut]})"
    return f" OVER {over}", " OVER w", f" WINDOW w AS {over}"


def analytic_table(rng: np.random.Generator, n: int, null_p: float) -> pa.Table:
    """``random_table`` with a unique row id ``rid`` (0, 1, ...)."""
    t = random_table(rng, n, null_p=null_p)
    return t.append_column("rid", pa.array(np.arange(n, dtype=np.int64)))


# --------------------------------------------------------------------------- the tests
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
NULL_RATES = [0.0, 0.15, 0.15, 0.6, 1.0]


def _table(ch: Chooser, max_rows: int):
    seed, n, null_p = ch.integer(0, 2**31), ch.integer(0, max_rows), ch.choice(NULL_RATES)
    note(f"random_table(np.random.default_rng({seed}), {n}, null_p={null_p})")
    return {"t": random_table(np.random.default_rng(seed), n, null_p=null_p)}


def _opts(ch: Chooser, backend: str) -> dict:
    return {"backend": backend, "batch_size": ch.choice([None, 5, 64]), "partitions": ch.choice([None, 1, 3])}


@SETTINGS
@given(data=st.data())
def test_random_aggregate_queries(backend, data):
    ch = DataChooser(data)
    tables = _table(ch, 150)
    query = random_aggregate_query(ch)
    note(query)
    run_both(query, tables, **_opts(ch, backend))


@settings(SETTINGS, max_examples=50)
@given(data=st.data())
def test_random_stateless_queries(backend, data):
    ch = DataChooser(data)
    tables = _table(ch, 100)
    query = random_stateless_query(ch)
    note(query)
    run_both(query, tables, **_opts(ch, backend))


@pytest.mark.parametrize("seed", range(40))
def test_seeded_random_queries(seed, backend):
    ch = RngChooser(np.random.default_rng(seed))
    tables = {"t": random_table(np.random.default_rng(10_000 + seed), int(ch.integer(0, 400)),
                                null_p=ch.choice(NULL_RATES))}
    query = random_aggregate_query(ch) if seed % 4 else random_stateless_query(ch)
    run_both(query, tables, **_opts(ch, backend))


def _join_tables(ch: Chooser, max_rows: int) -> dict:
    tables = _table(ch, max_rows)
    dims = _dimension_tables(ch)
    note(f"a = {dims['a'].to_pydict()}\nb = {dims['b'].to_pydict()}")
    return {**tables, **dims}


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_random_join_queries(backend, data):
    ch = DataChooser(data)
    tables = _join_tables(ch, 120)
    query = random_join_query(ch)
    note(query)
    run_both(query, tables, **_opts(ch, backend))


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_random_analytic_queries(backend, data):
    ch = DataChooser(data)
    seed, n, null_p = ch.integer(0, 2**31), ch.integer(0, 80), ch.choice(NULL_RATES)
    note(f"analytic_table(np.random.default_rng({seed}), {n}, {null_p})")
    query = random_analytic_query(ch)
    note(query)
    run_both(query, {"t": analytic_table(np.random.default_rng(seed), n, null_p)}, **_opts(ch, backend))


@pytest.mark.parametrize("seed", range(30))
def test_seeded_random_join_and_analytic_queries(seed, backend):
    ch = RngChooser(np.random.default_rng(50_000 + seed))
    data = np.random.default_rng(60_000 + seed)
    if seed % 2:
        tables = {"t": random_table(data, ch.integer(0, 300), null_p=ch.choice(NULL_RATES)),
                  **_dimension_tables(ch)}
        query = random_join_query(ch)
    else:
        tables = {"t": analytic_table(data, ch.integer(0, 200), ch.choice(NULL_RATES))}
        query = random_analytic_query(ch)
    run_both(query, tables, **_opts(ch, backend))
