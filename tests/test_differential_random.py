"""Random queries over random data, gpuvelo against DuckDB.

A small query generator covers the SQL surface (keys, aggregates over columns and
expressions, WHERE, HAVING, ORDER BY/LIMIT, EMIT, CREATE STREAM); it draws its choices from a
:class:`Chooser`, fed either by hypothesis (which shrinks a failure to a small query) or by a
seeded numpy generator (a fixed, broad sweep).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from differential import random_table, run_both

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
