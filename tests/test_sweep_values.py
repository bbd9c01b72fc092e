"""Values and types, gpuvelo against DuckDB: regression tests for what a differential sweep
over expressions, functions, casts, aggregates and window functions found, and the sweep's
seeded random generator of typed expressions (a small fixed share of it runs here).

The generator (:class:`Gen`) builds expressions of a given SQL type (integers, floats,
decimals, strings, booleans, timestamps, dates, intervals) over ``random_table``'s columns,
nesting operators, functions, casts, TRY_CAST, CASE and COALESCE; the queries put them in
SELECT and WHERE, in GROUP BY keys, inside aggregates (with FILTER) and around aggregates.
It avoids what DuckDB leaves unspecified (MODE ties, list order without ORDER BY,
APPROX_COUNT_DISTINCT's estimate, which gpuvelo answers exactly) and float text of sums (its
last digit depends on the summation order). A query gpuvelo refuses must
be refused clearly (NotSupportedError and its kin), never answered differently.
"""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from differential import duckdb_table, random_table, run_both
from gpuvelo.errors import ArithmeticOverflowError, NotSupportedError, PlanError, TypeMismatchError

D = decimal.Decimal

# --------------------------------------------------------------------------- the generator
COLS = {"int": ["i", "k1", "u", "i16", "u64"], "float": ["f", "g"], "dec": ["dec"], "str": ["s", "k2"],
        "bool": ["k3"], "ts": ["ts"], "date": ["d"]}


class Gen:
    """Random typed SQL expressions over ``random_table``'s columns (plus ``rid``): ``expr(ty)``
    is text of type ``ty`` (one of TYPES), nested at most two levels."""

    def __init__(self, rng):
        self.rng = rng

    def pick(self, xs):
        return xs[int(self.rng.integers(0, len(xs)))]

    def expr(self, ty, depth=0):
        if depth >= 2 or self.rng.random() < 0.35:
            return self.leaf(ty)
        return self.pick(getattr(self, "f_" + ty))(depth + 1)

    def leaf(self, ty):
        if ty == "iv":
            return self.pick(["ts - TIMESTAMP '2024-01-03'", "INTERVAL 90 MINUTE", "ts - date_trunc('day', ts)",
                              "to_hours(i16)", "INTERVAL '2 days'", "to_seconds(i)"])
        if self.rng.random() < 0.15:
            return self.pick({"int": ["0", "-1", "7", "NULL", "9223372036854775807"], "float": ["0.5", "-0.0", "1e300", "'nan'::DOUBLE", "'inf'::DOUBLE"],
                              "dec": ["1.25", "-0.05", "CAST(NULL AS DECIMAL(6,3))"], "str": ["'a'", "''", "'é'", "NULL"],
                              "bool": ["TRUE", "NULL"], "ts": ["TIMESTAMP '2024-01-02 12:30:00'"],
                              "date": ["DATE '2024-01-03'"]}[ty])
        return self.pick(COLS[ty])

    # -- per-type productions: each returns text of that type
    @property
    def f_int(self):
        e = self.expr
        return [lambda d: f"({e('int', d)} + {e('int', d)})", lambda d: f"({e('int', d)} * {e('int', d)})",
                lambda d: f"({e('int', d)} - {e('int', d)})", lambda d: f"({e('int', d)} // NULLIF({e('int', d)}, 0))",
                lambda d: f"({e('int', d)} % NULLIF({e('int', d)}, 0))", lambda d: f"ABS({e('int', d)})",
                lambda d: f"length({e('str', d)})", lambda d: f"year({e('date', d)})", lambda d: f"hour({e('ts', d)})",
                lambda d: f"extract(minute FROM {e('ts', d)})", lambda d: f"CAST({e('float', d)} AS INTEGER)",
                lambda d: f"TRY_CAST({e('float', d)} AS SMALLINT)", lambda d: f"TRY_CAST({e('str', d)} AS INTEGER)",
                lambda d: f"CASE WHEN {e('bool', d)} THEN {e('int', d)} ELSE {e('int', d)} END",
                lambda d: f"COALESCE({e('int', d)}, {e('int', d)})", lambda d: f"greatest({e('int', d)}, {e('int', d)})",
                lambda d: f"least({e('int', d)}, {e('int', d)})", lambda d: f"sign({e('int', d)})",
                lambda d: f"date_diff('{self.pick(['day', 'hour', 'month', 'week', 'minute', 'year', 'quarter'])}', {e('ts', d)}, TIMESTAMP '2024-01-04 06:00:00')",
                lambda d: f"date_diff('day', {e('date', d)}, DATE '2024-01-03')", lambda d: f"dayofweek({e('date', d)})",
                lambda d: f"strpos({e('str', d)}, 'a')", lambda d: f"ascii({e('str', d)})", lambda d: f"({e('date', d)} - {e('date', d)})",
                lambda d: f"CAST({e('dec', d)} AS BIGINT)", lambda d: f"CAST({e('bool', d)} AS INTEGER)",
                lambda d: f"epoch_ms({e('ts', d)})", lambda d: f"extract(hour FROM {e('iv', d)})",
                lambda d: f"week({e('date', d)})", lambda d: f"dayofyear({e('ts', d)})", lambda d: f"isodow({e('ts', d)})",
                lambda d: f"quarter({e('date', d)})", lambda d: f"yearweek({e('date', d)})", lambda d: f"isoyear({e('ts', d)})",
                lambda d: f"millisecond({e('ts', d)})", lambda d: f"second({e('ts', d)})",
                lambda d: f"NULLIF({e('int', d)}, {e('int', d)})", lambda d: f"(-{e('int', d)})",
                lambda d: f"CAST({e('int', d)} AS TINYINT)", lambda d: f"TRY_CAST({e('int', d)} AS UTINYINT)"]

    @property
    def f_float(self):
        e = self.expr
        return [lambda d: f"({e('float', d)} + {e('float', d)})", lambda d: f"({e('float', d)} * {e('int', d)})",
                lambda d: f"({e('int', d)} / {e('int', d)})", lambda d: f"({e('float', d)} / {e('float', d)})",
                lambda d: f"sqrt({e('float', d)})", lambda d: f"ROUND({e('float', d)}, {self.pick([0, 1, 2, -1])})",
                lambda d: f"FLOOR({e('float', d)})", lambda d: f"CEIL({e('float', d)})", lambda d: f"TRUNC({e('float', d)})",
                lambda d: f"power({e('float', d)}, {self.pick(['2', '0.5', '-1', '3'])})", lambda d: f"ln({e('float', d)})",
                lambda d: f"log10({e('float', d)})", lambda d: f"exp({e('float', d)} / 100)",
                lambda d: f"CAST({e('int', d)} AS DOUBLE)", lambda d: f"CAST({e('dec', d)} AS DOUBLE)",
                lambda d: f"TRY_CAST({e('str', d)} AS DOUBLE)", lambda d: f"epoch({e('ts', d)})", lambda d: f"epoch({e('iv', d)})",
                lambda d: f"fn", lambda d: f"({e('float', d)} % {e('float', d)})", lambda d: f"ABS({e('float', d)})",
                lambda d: f"sin({e('float', d)})", lambda d: f"atan2({e('float', d)}, {e('float', d)})",
                lambda d: f"cbrt({e('float', d)})", lambda d: f"log2({e('float', d)})", lambda d: f"radians({e('float', d)})",
                lambda d: f"CASE WHEN {e('bool', d)} THEN {e('float', d)} END", lambda d: f"greatest({e('float', d)}, {e('int', d)})",
                lambda d: f"({e('float', d)} // {e('float', d)})", lambda d: f"CAST({e('float', d)} AS FLOAT)",
                lambda d: f"({e('dec', d)} / {e('int', d)})", lambda d: f"({e('dec', d)} * {e('float', d)})"]

    @property
    def f_dec(self):
        e = self.expr
        return [lambda d: f"({e('dec', d)} + {e('dec', d)})", lambda d: f"({e('dec', d)} - {e('int', d)})",
                lambda d: f"({e('dec', d)} * {self.pick(['2', '1.5', '-0.25', 'k1', 'i16'])})",
                lambda d: f"ROUND({e('dec', d)}, {self.pick([0, 1, 3, -2])})", lambda d: f"FLOOR({e('dec', d)})",
                lambda d: f"CEIL({e('dec', d)})", lambda d: f"ABS({e('dec', d)})", lambda d: f"TRUNC({e('dec', d)})",
                lambda d: f"CAST({e('float', d)} AS DECIMAL(12, 3))", lambda d: f"CAST({e('int', d)} AS DECIMAL(9, 2))",
                lambda d: f"TRY_CAST({e('str', d)} AS DECIMAL(8, 2))", lambda d: f"CAST({e('dec', d)} AS DECIMAL(14, 4))",
                lambda d: f"TRY_CAST({e('dec', d)} AS DECIMAL(6, 1))", lambda d: f"COALESCE({e('dec', d)}, 0)",
                lambda d: f"(-{e('dec', d)})", lambda d: f"greatest({e('dec', d)}, {e('dec', d)})",
                lambda d: f"({e('dec', d)} % {self.pick(['3', '0.7', 'NULL'])})", lambda d: f"sign({e('dec', d)})"]

    @property
    def f_str(self):
        e = self.expr
        return [lambda d: f"upper({e('str', d)})", lambda d: f"lower({e('str', d)})", lambda d: f"({e('str', d)} || {e('str', d)})",
                lambda d: f"concat({e('str', d)}, {e('int', d)})", lambda d: f"substring({e('str', d)}, {self.pick([1, 2, 0, -1])}, {self.pick([1, 2, 5])})",
                lambda d: f"left({e('str', d)}, {self.pick([1, 2, -1, 0])})", lambda d: f"right({e('str', d)}, {self.pick([1, 3, -1])})",
                lambda d: f"trim({e('str', d)})", lambda d: f"replace({e('str', d)}, 'a', 'xy')", lambda d: f"reverse({e('str', d)})",
                lambda d: f"repeat({e('str', d)}, {self.pick([0, 2])})", lambda d: f"lpad({e('str', d)}, {self.pick([0, 3])}, '*')",
                lambda d: f"rpad({e('str', d)}, 2, 'é')", lambda d: f"split_part({e('str', d)}, '_', {self.pick([1, 2, -1])})",
                lambda d: f"CAST({e('int', d)} AS VARCHAR)", lambda d: f"CAST({e('float', d)} > 0 AS VARCHAR)",
                lambda d: f"CAST({e('dec', d)} AS VARCHAR)", lambda d: f"CAST({e('ts', d)} AS VARCHAR)",
                lambda d: f"CAST({e('date', d)} AS VARCHAR)", lambda d: f"CAST({e('bool', d)} AS VARCHAR)",
                lambda d: f"CAST({e('iv', d)} AS VARCHAR)", lambda d: f"strftime({e('ts', d)}, '{self.pick(['%Y-%m-%d', '%H:%M:%S', '%j %a %b', '%y/%d %p %I'])}')",
                lambda d: f"dayname({e('date', d)})", lambda d: f"monthname({e('ts', d)})",
                lambda d: f"regexp_replace({e('str', d)}, '[ab]', '-')", lambda d: f"concat_ws('-', {e('str', d)}, {e('str', d)})",
                lambda d: f"CASE WHEN {e('bool', d)} THEN {e('str', d)} ELSE {e('str', d)} END",
                lambda d: f"COALESCE({e('str', d)}, {e('str', d)})", lambda d: f"NULLIF({e('str', d)}, 'a')",
                lambda d: f"md5({e('str', d)})", lambda d: f"ltrim({e('str', d)}, 'a')"]

    @property
    def f_bool(self):
        e = self.expr
        cmp = lambda: self.pick(["=", "<>", "<", "<=", ">", ">="])
        return [lambda d: f"({e('int', d)} {cmp()} {e('int', d)})", lambda d: f"({e('float', d)} {cmp()} {e('float', d)})",
                lambda d: f"({e('dec', d)} {cmp()} {e('int', d)})", lambda d: f"({e('str', d)} {cmp()} {e('str', d)})",
                lambda d: f"({e('ts', d)} {cmp()} {e('ts', d)})", lambda d: f"({e('date', d)} {cmp()} {e('ts', d)})",
                lambda d: f"({e('iv', d)} {cmp()} {e('iv', d)})", lambda d: f"({e('bool', d)} AND {e('bool', d)})",
                lambda d: f"({e('bool', d)} OR {e('bool', d)})", lambda d: f"(NOT {e('bool', d)})",
                lambda d: f"({e('str', d)} LIKE '{self.pick(['a%', '%b', '_', '%', 'a_b', '%é%'])}')",
                lambda d: f"({e('str', d)} ILIKE 'A%')", lambda d: f"({e('int', d)} IS NULL)",
                lambda d: f"({e('int', d)} IN (0, 1, NULL))", lambda d: f"({e('str', d)} NOT IN ('a', 'b'))",
                lambda d: f"({e('int', d)} BETWEEN -10 AND {e('int', d)})", lambda d: f"({e('float', d)} IS DISTINCT FROM {e('float', d)})",
                lambda d: f"isnan({e('float', d)})", lambda d: f"contains({e('str', d)}, 'b')", lambda d: f"starts_with({e('str', d)}, '')",
                lambda d: f"TRY_CAST({e('str', d)} AS BOOLEAN)", lambda d: f"CAST({e('int', d)} AS BOOLEAN)",
                lambda d: f"regexp_matches({e('str', d)}, '^.$')", lambda d: f"({e('dec', d)} = {e('float', d)})"]

    @property
    def f_ts(self):
        e = self.expr
        return [lambda d: f"({e('ts', d)} + {e('iv', d)})", lambda d: f"({e('ts', d)} - {e('iv', d)})",
                lambda d: f"date_trunc('{self.pick(['hour', 'day', 'week', 'month', 'minute', 'year', 'quarter'])}', {e('ts', d)})",
                lambda d: f"CAST({e('date', d)} AS TIMESTAMP)", lambda d: f"time_bucket(INTERVAL '{self.pick(['6 hours', '1 day', '15 minutes'])}', {e('ts', d)})",
                lambda d: f"({e('date', d)} + INTERVAL {self.pick(['1 HOUR', '2 DAY', '1 MONTH', '36 HOUR'])})",
                lambda d: f"date_add({e('ts', d)}, INTERVAL {self.pick(['1 MONTH', '1 YEAR', '3 DAY'])})",
                lambda d: f"greatest({e('ts', d)}, {e('ts', d)})", lambda d: f"COALESCE({e('ts', d)}, TIMESTAMP '2000-01-01')",
                lambda d: "to_timestamp(i)",
                lambda d: f"CAST({e('ts', d)} AS TIMESTAMP_S)", lambda d: f"CAST({e('ts', d)} AS TIMESTAMP_MS)",
                lambda d: f"TRY_CAST({e('str', d)} AS TIMESTAMP)"]

    @property
    def f_date(self):
        e = self.expr
        return [lambda d: f"CAST({e('ts', d)} AS DATE)", lambda d: f"({e('date', d)} + {self.pick(['1', 'k1', '-3'])})",
                lambda d: f"last_day({e('date', d)})", lambda d: f"make_date(2024, {self.pick(['1', '2', 'k1 + 1'])}, {self.pick(['1', '29', '31'])})",
                lambda d: f"date_trunc('month', {e('date', d)})", lambda d: f"greatest({e('date', d)}, DATE '2024-01-05')",
                lambda d: f"COALESCE({e('date', d)}, DATE '1999-12-31')", lambda d: f"TRY_CAST({e('str', d)} AS DATE)"]

    @property
    def f_iv(self):
        e = self.expr
        return [lambda d: f"({e('ts', d)} - {e('ts', d)})", lambda d: f"({e('iv', d)} + {e('iv', d)})",
                lambda d: f"({e('iv', d)} - {e('iv', d)})", lambda d: f"({e('iv', d)} * {self.pick(['2', '-1', 'k1', '1.5'])})",
                lambda d: f"({e('iv', d)} / {self.pick(['2', '3', '0.5'])})", lambda d: f"(-{e('iv', d)})",
                lambda d: f"CASE WHEN {e('bool', d)} THEN {e('iv', d)} ELSE {e('iv', d)} END",
                lambda d: f"COALESCE({e('iv', d)}, INTERVAL 1 HOUR)", lambda d: f"to_minutes({e('int', d)})",
                lambda d: f"greatest({e('iv', d)}, {e('iv', d)})"]


TYPES = ["int", "float", "dec", "str", "bool", "ts", "date", "iv"]
AGGS = {
    "int": ["SUM", "AVG", "MIN", "MAX", "COUNT", "STDDEV", "MEDIAN", "COUNT(DISTINCT", "SUM(DISTINCT", "MODE", "quantile_disc", "quantile_cont", "FIRST", "LAST", "bool_and_pos", "string_agg_cast", "arg_max", "LIST", "entropy_none", "product", "VAR_POP", "kurtosis", "skewness", "sem"],
    "float": ["SUM", "AVG", "MIN", "MAX", "COUNT", "VAR_SAMP", "MEDIAN", "COUNT(DISTINCT", "quantile_cont", "arg_min", "LIST", "AVG(DISTINCT"],
    "dec": ["SUM", "AVG", "MIN", "MAX", "MEDIAN", "quantile_cont", "quantile_disc", "SUM(DISTINCT", "STDDEV_POP", "arg_max", "LIST", "FIRST"],
    "str": ["MIN", "MAX", "COUNT", "COUNT(DISTINCT", "string_agg", "MODE", "quantile_disc", "arg_max", "LIST", "FIRST", "LAST"],
    "bool": ["bool_and", "bool_or", "COUNT", "MIN", "MAX", "count_if", "SUM_CAST", "LIST", "arg_max"],
    "ts": ["MIN", "MAX", "COUNT", "MEDIAN", "quantile_cont", "quantile_disc", "arg_max", "LIST", "COUNT(DISTINCT", "span"],
    "date": ["MIN", "MAX", "MEDIAN", "quantile_cont", "COUNT(DISTINCT", "LIST", "span"],
    "iv": ["MIN", "MAX", "AVG", "COUNT", "arg_max", "LIST", "COUNT(DISTINCT"],
}


def agg(g, ty):
    a = g.pick(AGGS[ty])
    x = g.expr(ty, 1)
    q = g.pick(["0.5", "0.25", "0.9", "0.1", "0.33"])
    filt = f" FILTER (WHERE {g.expr('bool', 1)})" if g.rng.random() < 0.2 and a not in ("FIRST", "LAST") else ""
    text = {"COUNT(DISTINCT": f"COUNT(DISTINCT {x})", "SUM(DISTINCT": f"SUM(DISTINCT {x})", "AVG(DISTINCT": f"AVG(DISTINCT {x})",
            "quantile_disc": f"quantile_disc({x}, {q})", "quantile_cont": f"quantile_cont({x}, {q})",
            "bool_and_pos": f"bool_and({x} > 0)", "string_agg_cast": f"string_agg(CAST({x} AS VARCHAR), ',' ORDER BY CAST({x} AS VARCHAR))",
            "string_agg": f"string_agg({x}, '|' ORDER BY {x})", "arg_max": f"arg_max({x}, rid)", "arg_min": f"arg_min({x}, rid)",
            "LIST": f"LIST({x} ORDER BY rid)", "entropy_none": f"COUNT({x})", "SUM_CAST": f"SUM(CAST({x} AS INTEGER))",
            "span": f"MAX({x}) - MIN({x})", "MODE": f"MODE({x})", "FIRST": f"FIRST({x})", "LAST": f"LAST({x})"}.get(a, f"{a}({x})")
    if a == "MODE":   # ties are DuckDB's hash order: only on a uniquely-decided mode
        return None
    return text + filt


def stateless_query(g):
    n = int(g.rng.integers(1, 4))
    items = [g.expr(g.pick(TYPES)) for _ in range(n)]
    q = f"SELECT rid, {', '.join(items)} FROM t"
    if g.rng.random() < 0.4:
        q += f" WHERE {g.expr('bool')}"
    return q


def aggregate_query(g):
    keys = [g.expr(g.pick(TYPES), 1) for _ in range(int(g.rng.integers(0, 3)))]
    aggs = [a for a in (agg(g, g.pick(TYPES)) for _ in range(int(g.rng.integers(1, 4)))) if a]
    if not aggs:
        aggs = ["COUNT(*)"]
    q = f"SELECT {', '.join(keys + aggs)} FROM t"
    if g.rng.random() < 0.3:
        q += f" WHERE {g.expr('bool')}"
    if keys:
        q += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
    return q


def over_aggregate_query(g):
    """f(agg(x)): expressions over aggregates (text casts only of exact results: a float's
    last digit depends on the summation order)."""
    ty = g.pick(["int", "dec", "ts", "date", "str"])
    a = agg(g, ty) or "COUNT(*)"
    exact = not any(f in a for f in ("AVG", "STDDEV", "VAR", "quantile_cont", "MEDIAN", "kurtosis",
                                      "skewness", "sem", "product", "LIST"))
    wraps = [f"{a} IS NULL"] + ([f"CAST({a} AS VARCHAR)", f"COALESCE(CAST({a} AS VARCHAR), 'none')"]
                                if exact else [])
    return f"SELECT k1, {g.pick(wraps)} FROM t GROUP BY k1"


def sweep_case(seed: int) -> tuple[str, dict]:
    """The sweep's query and table for ``seed`` (stateless, aggregate or over-aggregate)."""
    rng = np.random.default_rng(seed)
    make = (stateless_query, aggregate_query, over_aggregate_query)[seed % 3]
    query = make(Gen(rng))
    n = int(rng.integers(0, 60))
    t = random_table(np.random.default_rng(seed + 7), n, null_p=float(rng.choice([0.0, 0.15, 0.5])))
    return query, {"t": t.append_column("rid", pa.array(np.arange(n, dtype=np.int64)))}


# clear refusals; ArithmeticOverflowError: a decimal beyond 18 digits, which DuckDB widens (README)
REFUSALS = (NotSupportedError, PlanError, TypeMismatchError, ArithmeticOverflowError)


@pytest.mark.parametrize("seed", range(60))
def test_seeded_value_sweep(seed, backend):
    query, tables = sweep_case(seed)
    try:
        duckdb_table(query, tables)
    except Exception:   # DuckDB refuses it (overflow, division by zero, ...): not compared
        return
    try:
        run_both(query, tables, backend=backend, batch_size=7)
    except REFUSALS:
        pass


# --------------------------------------------------------------------------- regressions
def _t(n=60, seed=11):
    t = random_table(np.random.default_rng(seed), n)
    return {"t": t.append_column("rid", pa.array(np.arange(n, dtype=np.int64)))}


def test_decimal_text_as_duckdb(backend):
    """CAST(decimal AS VARCHAR): every fractional digit, never exponent notation ('0E-18'),
    and no 0 before the point when the width is all scale."""
    t = pa.table({"a": pa.array([D("0.123456789012345678"), D("0"), D("1E-18"), D("-0.5"), None],
                                pa.decimal128(18, 18)),
                  "b": pa.array([D("0.00"), D("-0.05"), D("12.30"), D("1E-2"), None], pa.decimal128(10, 2))})
    got = run_both("SELECT CAST(a AS VARCHAR), CAST(b AS VARCHAR), b || '', CAST(b / 3 AS VARCHAR) FROM t",
                   {"t": t}, backend=backend)
    assert sorted(r[0] for r in got if r[0]) == ["-.500000000000000000", ".000000000000000000",
                                                  ".000000000000000001", ".123456789012345678"]
    run_both("SELECT CAST(0.00000001::DECIMAL(12, 8) AS VARCHAR), CAST(0.5::DECIMAL(5, 5) AS VARCHAR), "
             "CAST(-12::DECIMAL(4, 0) AS VARCHAR)", {}, backend=backend)


def test_timestamptz_text_as_duckdb_utc(backend):
    """TIMESTAMPTZ as text: computed in UTC, as DuckDB's UTC session prints it ('+00')."""
    t = pa.table({"z": pa.array([0, 1_500_000, -86_400_000_000 + 5, None, 1_704_067_200_000_000],
                                pa.timestamp("us", tz="America/New_York"))})
    got = run_both("SELECT CAST(z AS VARCHAR) FROM t", {"t": t}, backend=backend)
    assert ("1970-01-01 00:00:01.5+00",) in got


def test_negative_nan_text(backend):
    """sqrt of a negative number is a NaN with its sign bit set: DuckDB prints '-nan'."""
    run_both("SELECT CAST(sqrt(f) AS VARCHAR), CAST(sqrt(g) AS VARCHAR), CAST(fn AS VARCHAR) FROM t",
             _t(), backend=backend)


def test_logarithm_nan_text(backend):
    """DuckDB's logarithms and arc sines of out-of-range numbers are NaN without the sign bit
    ('nan', where NumPy's print '-nan')."""
    nan_text = " ".join(f"CASE WHEN isnan({e}) THEN CAST({e} AS VARCHAR) END AS c{n}," for n, e in
                        enumerate(["ln(f)", "log10(g)", "log2(fn)", "log(2, f)", "acos(f)", "asin(g)"]))
    got = run_both(f"SELECT {nan_text} log(3, ABS(f)) FROM t", _t(), backend=backend)
    assert {r[0] for r in got} == {None, "nan"}


def test_wide_decimal_quantiles_round_down(backend):
    """QUANTILE_CONT of a DECIMAL of more than 18 digits (a DECIMAL(38, s) column, SUM(x))
    rounds down, as DuckDB's HUGEINT decimals; of 18 digits or fewer, toward zero."""
    vals = [D("-0.01"), D("-0.02"), D("0.01"), D("0.04"), D("-0.01"), D("-0.04"), D("5"), None]
    t = pa.table({"k": [1, 1, 2, 2, 3, 3, 3, 3], "x": pa.array(vals, pa.decimal128(38, 2)),
                  "y": pa.array(vals, pa.decimal128(12, 2))})
    got = run_both("SELECT k, median(x), quantile_cont(x, 0.7), median(y) FROM t GROUP BY k ORDER BY k",
                   {"t": t}, backend=backend)
    assert got[0][1:] == (D("-0.02"), D("-0.02"), D("-0.01"))
    run_both("SELECT k, median(s) FROM (SELECT k, SUM(x) AS s FROM t GROUP BY k, x) GROUP BY k",
             {"t": t}, backend=backend)


def test_null_literal_in_string_functions(backend):
    """A bare NULL where a string goes is a NULL string (was an Arrow kernel error)."""
    run_both("SELECT upper(NULL), length(NULL), trim(NULL), NULL LIKE 'a%', NULL ILIKE 'a', "
             "concat(NULL, s), contains(NULL, 'b'), md5(NULL) FROM t", _t(20), backend=backend)
    run_both("SELECT k1, COUNT(*) FROM t WHERE NOT (NULL LIKE 'a_b') IS NULL GROUP BY k1", _t(20),
             backend=backend)


def test_string_case_over_an_all_null_batch(backend):
    """CASE / COALESCE / GREATEST mixing a literal with a string column whose batch holds only
    NULLs (an empty dictionary) kept every code inside the dictionary: grouping by it with
    COUNT(DISTINCT) / MEDIAN read out of bounds."""
    t = _t(40)
    run_both("SELECT CASE WHEN k3 THEN '' ELSE k2 END, COUNT(DISTINCT ts) FILTER (WHERE k2 = s), "
             "MEDIAN(i) FROM t GROUP BY 1", t, backend=backend, batch_size=1)
    run_both("SELECT greatest(k2, s), concat(k2, 'x'), MEDIAN(i) FROM t GROUP BY 1, 2", t,
             backend=backend, batch_size=1)


def test_interval_greatest_least_as_duckdb(backend):
    """DuckDB's GREATEST / LEAST of intervals compare days first, then the time (while < and
    MAX compare lengths): greatest(2 days, 256 hours) is 2 days."""
    t = _t(60)
    got = run_both("SELECT greatest(INTERVAL '2 days', to_hours(256)), least(INTERVAL '2 days', to_hours(256)), "
                   "INTERVAL '2 days' > to_hours(256)", {}, backend=backend)
    assert got[0][2] is False
    run_both("SELECT rid, greatest(INTERVAL '2 days', to_hours(i16)), least(ts - TIMESTAMP '2024-01-03', "
             "NULL, to_minutes(i)), greatest(ts - ts, ts - TIMESTAMP '2024-01-03') FROM t", t, backend=backend)
    with pytest.raises(NotSupportedError):
        gpuvelo.sql("SELECT greatest(ts - TIMESTAMP '2024-01-03' - to_hours(i16), ts - ts) FROM t",
                    backend=backend, **t)


@pytest.mark.parametrize("unit", ["TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMPTZ", "DATE"])
def test_quantile_cont_of_times_gives_microseconds(unit, backend):
    """QUANTILE_CONT of a timestamp of seconds / milliseconds / nanoseconds is a TIMESTAMP of
    microseconds (interpolated exactly); MEDIAN keeps the unit (rounded), as in DuckDB; over
    GROUP BY groups and over windows."""
    t = _t(70)
    x = f"CAST(ts AS {unit})"
    run_both(f"SELECT k1, MEDIAN({x}), quantile_cont({x}, 0.5), quantile_cont({x}, 0.3), "
             f"quantile_disc({x}, 0.3) FROM t GROUP BY k1", t, backend=backend, batch_size=7)
    run_both(f"SELECT rid, MEDIAN({x}) OVER (PARTITION BY k1), quantile_cont({x}, 0.3) OVER "
             f"(PARTITION BY k2 ORDER BY rid) FROM t", t, backend=backend)


def test_string_function_of_null_as_a_group_key(backend):
    """upper(NULL) is a VARCHAR column of NULL codes: as a GROUP BY key (its codes were the
    NULL literal's bools, which indexed the dictionary as a mask)."""
    run_both("SELECT upper(NULL) AS u, MIN(k3), SUM(DISTINCT k1) FROM t GROUP BY 1", _t(),
             backend=backend, batch_size=7)


def test_timestamp_text_cast_to_date_takes_its_date(backend):
    """CAST('2024-01-04 10:11:12' AS DATE) is 2024-01-04 in DuckDB (was NULL under TRY_CAST)."""
    t = pa.table({"s": ["2024-01-04 10:11:12", "2024-01-04T10:11:12.5", "2024-01-05", None, "2024-01-04 xx"]})
    run_both("SELECT s, TRY_CAST(s AS DATE) FROM t", {"t": t}, backend=backend)
    run_both("SELECT CAST(s AS DATE) FROM t WHERE s NOT LIKE '%xx'", {"t": t}, backend=backend)
