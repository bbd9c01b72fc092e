"""Differential tests of the SQL surface: each query runs in gpuvelo and in DuckDB on the same
data and the results must agree (see ``differential.py`` for the comparison rules)."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

from differential import random_table, run_both

import gpuvelo

T = {"t": random_table(np.random.default_rng(20240601), 300)}
D = decimal.Decimal


def check(query: str, backend: str, tables: dict | None = None, **kw):
    """Run ``query`` in gpuvelo on ``backend`` and in DuckDB; assert they agree."""
    return run_both(query, T if tables is None else tables, backend=backend, **kw)


def _cases(*queries: str):
    return pytest.mark.parametrize("query", queries)


# --------------------------------------------------------------------------- SELECT list
@_cases(
    "SELECT k1, i, s FROM t",
    "SELECT * FROM t",
    "SELECT * FROM t WHERE i > 0",
    "SELECT s, k1 FROM t WHERE k2 = 'é'",
)
def test_select_columns_and_star(query, backend):
    check(query, backend)


def test_aliases_name_the_output(backend):
    check("SELECT i AS x, s AS label, i + 1 AS next_i FROM t", backend, check_names=True)
    check("SELECT k1 AS key, COUNT(*) AS n, SUM(i) AS total FROM t GROUP BY k1", backend,
          check_names=True)


@_cases(
    "SELECT i + u, i - 3, i * 2, f / 4, -i, -f, i + f FROM t",
    "SELECT i % 7, i % -7, u % 10 FROM t",   # C semantics: the sign follows the dividend
    "SELECT i / NULLIF(u, 0), i / 4, g * 2, dec + dec, dec * 2 FROM t",
    "SELECT (i + 2) * (k1 - 1) - -i FROM t",
)
def test_arithmetic(query, backend):
    check(query, backend)


@_cases(
    "SELECT i < 0, i <= f, i = 0, i <> 5, i >= 10, i > u FROM t",
    "SELECT s = 'a', s <> 'b', s < 'b', s >= 'é', s = '' FROM t",
    "SELECT ts < TIMESTAMP '2024-01-03 00:00:00', d = DATE '2024-01-01', d > DATE '2024-01-05' FROM t",
    "SELECT dec > 0, dec <= 12.5 FROM t",
)
def test_comparison(query, backend):
    check(query, backend)


@_cases(
    "SELECT (i > 0) AND (f < 0), (i > 0) OR k3, NOT k3, NOT (i > 0 AND k3) FROM t",
    "SELECT k3 AND NULL, k3 OR NULL, (i > 0) AND (f > 0) OR (s = 'a') FROM t",
)
def test_logic_three_valued(query, backend):
    check(query, backend)


@_cases(
    "SELECT CASE WHEN i > 100 THEN 'big' WHEN i < -100 THEN 'small' ELSE s END FROM t",
    "SELECT CASE WHEN k3 THEN i END, CASE WHEN f > 0 THEN 1 ELSE 0 END FROM t",
    "SELECT CASE WHEN i IS NULL THEN -1 WHEN i > 0 THEN i ELSE 0 END FROM t",
)
def test_case_when(query, backend):
    check(query, backend)


@_cases(
    "SELECT CAST(i AS DOUBLE), CAST(u AS BIGINT), CAST(k1 AS BIGINT), CAST(g AS DOUBLE) FROM t",
    "SELECT CAST(f AS BIGINT), CAST(f AS INTEGER) FROM t",   # rounds to nearest, ties away
    "SELECT CAST(k3 AS INTEGER), CAST(i AS VARCHAR), CAST(dec AS DOUBLE) FROM t",
)
def test_cast(query, backend):
    check(query, backend)


@_cases(
    "SELECT COALESCE(i, u, 0), COALESCE(s, 'none'), NULLIF(i, 0), NULLIF(s, '') FROM t",
    "SELECT ABS(i), ABS(f), ABS(dec) FROM t",
    "SELECT ROUND(f), ROUND(f, 1), ROUND(i / 3, 2), FLOOR(f), CEIL(f) FROM t",
    "SELECT ROUND(dec, 1), FLOOR(g), CEIL(g) FROM t",
)
def test_scalar_functions(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1 IN (1, 3), s IN ('a', '', 'é'), i NOT IN (0, 1, 2) FROM t",
    "SELECT k1 IN (1, NULL), k1 NOT IN (1, NULL) FROM t",
    "SELECT i BETWEEN -10 AND 10, i NOT BETWEEN 0 AND 500, f BETWEEN -1.5 AND 1.5 FROM t",
    "SELECT i IS NULL, s IS NOT NULL, ts IS NULL FROM t",
    "SELECT s LIKE 'a%', s LIKE '_', s LIKE '%b', s NOT LIKE 'a%', s LIKE 'x\\_y' FROM t",
    "SELECT i FROM t WHERE s = 'a' OR s = '日本'",
)
def test_predicates(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, SUM(i) / COUNT(*) AS mean_i, MAX(i) - MIN(i) AS spread, SUM(i) * 2 + 1 FROM t GROUP BY k1",
    "SELECT k2, SUM(f * i), SUM(CASE WHEN k3 THEN 1 ELSE 0 END), MAX(ABS(i)), AVG(i + u) FROM t GROUP BY k2",
    "SELECT COUNT(*) * 100.0 / SUM(u), ROUND(AVG(f), 2) FROM t",
)
def test_expressions_over_and_under_aggregates(query, backend):
    check(query, backend)


@_cases(
    "SELECT 1 AS one, 'x' AS letter, i FROM t",
    "SELECT k1, SUM(1), COUNT(1), SUM(i), SUM(i) AS again, MAX(2.5) FROM t GROUP BY k1",
    "SELECT COUNT(*) + 1, 'total' AS label FROM t",
)
def test_literals_and_repeated_aggregates(query, backend):
    check(query, backend)


def test_quoted_identifiers(backend):
    tables = {"t": pa.table({"Unit Price": [1.5, 2.5, 4.0], "Qty": [1, 2, 1], "select": ["a", "b", "a"]})}
    check('SELECT "select", SUM("Unit Price" * "Qty") AS revenue FROM t GROUP BY "select"', backend, tables)


# --------------------------------------------------------------------------- aggregates
@_cases(
    "SELECT COUNT(*), COUNT(i), COUNT(s), COUNT(ts), COUNT(dec), COUNT(k3) FROM t",
    "SELECT k1, COUNT(*), COUNT(i), COUNT(DISTINCT i), COUNT(DISTINCT s) FROM t GROUP BY k1",
    "SELECT k2, COUNT(DISTINCT ts), COUNT(DISTINCT dec), COUNT(DISTINCT f), COUNT(DISTINCT d) FROM t GROUP BY k2",
)
def test_count(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, SUM(i), SUM(u), SUM(f), SUM(g), SUM(dec) FROM t GROUP BY k1",
    "SELECT k2, AVG(i), AVG(u), AVG(f), AVG(g), AVG(dec) FROM t GROUP BY k2",
    "SELECT SUM(i), SUM(dec), AVG(dec) FROM t",
)
def test_sum_avg(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, MIN(i), MAX(i), MIN(u), MAX(u), MIN(f), MAX(f), MIN(g), MAX(g) FROM t GROUP BY k1",
    "SELECT k2, MIN(s), MAX(s), MIN(ts), MAX(ts), MIN(d), MAX(d), MIN(dec), MAX(dec) FROM t GROUP BY k2",
)
def test_min_max(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, STDDEV(i), STDDEV_SAMP(i), STDDEV_POP(i), VARIANCE(i), VAR_SAMP(i), VAR_POP(i) FROM t GROUP BY k1",
    "SELECT k2, STDDEV(f), STDDEV_POP(g), VAR_SAMP(dec), VAR_POP(u) FROM t GROUP BY k2",
    "SELECT STDDEV(i), VAR_POP(f) FROM t",
)
def test_variance_family(query, backend):
    check(query, backend)


def test_variance_of_single_value_is_null_for_samp(backend):
    tables = {"t": pa.table({"k": [1, 2, 2], "x": [5.0, 1.0, 3.0]})}
    check("SELECT k, VAR_SAMP(x), STDDEV_SAMP(x), VAR_POP(x), STDDEV_POP(x) FROM t GROUP BY k", backend, tables)


@_cases(
    "SELECT k1, FIRST(s), LAST(s), FIRST(i), LAST(i) FROM t GROUP BY k1",
    "SELECT k2, FIRST(ts), LAST(ts), FIRST(dec), LAST(f) FROM t GROUP BY k2",
    "SELECT FIRST(i), LAST(i), FIRST(s), LAST(s) FROM t",
)
def test_first_last_in_arrival_order(query, backend):
    check(query, backend)


def test_first_last_keep_nulls(backend):
    tables = {"t": pa.table({"k": [1, 1, 1, 2, 2], "x": [None, 2, None, 3, None]})}
    check("SELECT k, FIRST(x), LAST(x) FROM t GROUP BY k", backend, tables)


# --------------------------------------------------------------------------- GROUP BY
@_cases(
    "SELECT k1, COUNT(*) FROM t GROUP BY k1",
    "SELECT k1, k2, COUNT(*), SUM(i) FROM t GROUP BY k1, k2",
    "SELECT k1, k2, k3, COUNT(*) FROM t GROUP BY k1, k2, k3",
    "SELECT COUNT(*), k2 FROM t GROUP BY k2",
    "SELECT k1 % 2, COUNT(*) FROM t GROUP BY k1 % 2",
    "SELECT CASE WHEN i > 0 THEN 'pos' ELSE 'nonpos' END AS sign, COUNT(*) FROM t GROUP BY CASE WHEN i > 0 THEN 'pos' ELSE 'nonpos' END",
    "SELECT k1 % 2 AS parity, COUNT(*) AS n FROM t GROUP BY parity",
    "SELECT k2, k1, MAX(i) FROM t GROUP BY 1, 2",
    "SELECT d, MIN(ts), COUNT(*) FROM t GROUP BY d",
    "SELECT k3, COUNT(*) FROM t GROUP BY k3",
    "SELECT s, COUNT(*) FROM t GROUP BY s",
    "SELECT dec, COUNT(*) FROM t WHERE k1 = 1 GROUP BY dec",
    "SELECT f, COUNT(*) FROM t GROUP BY f",   # -0.0 and 0.0 form one group
    "SELECT k1 FROM t GROUP BY k1",
)
def test_group_by(query, backend):
    check(query, backend)


@_cases(
    "SELECT COUNT(*), SUM(i), MIN(s), MAX(ts), AVG(f) FROM t",
    "SELECT COUNT(*), COUNT(i), SUM(i), MIN(s), AVG(f), STDDEV(f), FIRST(i) FROM t WHERE i > 100000",
)
def test_global_aggregate(query, backend):
    check(query, backend)


def test_global_aggregate_over_empty_table(backend):
    empty = {"t": T["t"].slice(0, 0)}
    rows = check("SELECT COUNT(*), SUM(i), MAX(s) FROM t", backend, empty)
    assert rows == [(0, None, None)]


def test_group_by_over_empty_input_gives_no_rows(backend):
    assert check("SELECT k1, COUNT(*) FROM t WHERE i > 100000 GROUP BY k1", backend) == []


# --------------------------------------------------------------------------- clauses
@_cases(
    "SELECT k1, COUNT(*) FROM t WHERE i > 0 AND s <> 'a' GROUP BY k1",
    "SELECT k1, SUM(i) FROM t WHERE NOT (i > 0) GROUP BY k1",       # NULL rows excluded
    "SELECT k1, COUNT(*) FROM t WHERE i > 0 OR k3 GROUP BY k1",     # TRUE OR NULL
    "SELECT k2, COUNT(*) FROM t WHERE ts >= TIMESTAMP '2024-01-02 12:00:00' GROUP BY k2",
    "SELECT k1, COUNT(*) FROM t WHERE d BETWEEN DATE '2024-01-02' AND DATE '2024-01-04' GROUP BY k1",
)
def test_where(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, SUM(i) FROM t GROUP BY k1 HAVING SUM(i) > 0",
    "SELECT k1, k2, COUNT(*) AS n FROM t GROUP BY k1, k2 HAVING n > 10",
    "SELECT k1, COUNT(*) FROM t GROUP BY k1 HAVING MAX(i) > 900 AND MIN(s) = 'a'",
    "SELECT k2, AVG(f) AS m FROM t GROUP BY k2 HAVING m > 0 OR COUNT(*) < 20",
    "SELECT k1, k2 FROM t GROUP BY k1, k2 HAVING NOT (MAX(i) > 0)",   # all-NULL groups drop out
)
def test_having(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 ORDER BY k1 NULLS FIRST",
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 ORDER BY k1 DESC NULLS LAST",
    "SELECT k1, k2, SUM(i) AS total FROM t GROUP BY k1, k2 ORDER BY total DESC, k1 NULLS FIRST, k2 NULLS FIRST",
    "SELECT k2, COUNT(*) FROM t GROUP BY k2 ORDER BY 2, 1 NULLS LAST",
    "SELECT k2, COUNT(*) FROM t GROUP BY k2 ORDER BY COUNT(*) DESC, k2 NULLS LAST",
    "SELECT k2, MAX(s) FROM t GROUP BY k2 ORDER BY k2 ASC",   # NULLS LAST is the ASC default
    "SELECT i, s FROM t WHERE i IS NOT NULL ORDER BY i, s NULLS FIRST",
    "SELECT k2 FROM t GROUP BY k2 ORDER BY SUM(i) DESC, k2 NULLS FIRST",       # aggregate not selected
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 ORDER BY n * -1, k1 NULLS LAST",
    "SELECT k1, COUNT(*) FROM t GROUP BY k1 ORDER BY k1 DESC",                  # DuckDB: NULLS LAST
    "SELECT s FROM t WHERE i > 500 ORDER BY i, s",                              # key not selected
)
def test_order_by(query, backend):
    check(query, backend)


@_cases(
    "SELECT k1, k2, COUNT(*) FROM t GROUP BY k1, k2 ORDER BY k1 NULLS FIRST, k2 NULLS FIRST LIMIT 5",
    "SELECT k2, SUM(i) AS total FROM t GROUP BY k2 ORDER BY total DESC LIMIT 2",
    "SELECT i, ts FROM t WHERE ts IS NOT NULL ORDER BY ts DESC, i NULLS LAST LIMIT 7",
    "SELECT k1, COUNT(*) FROM t GROUP BY k1 ORDER BY k1 NULLS LAST LIMIT 0",
    "SELECT k1, COUNT(*) FROM t GROUP BY k1 ORDER BY k1 NULLS LAST LIMIT 100",
)
def test_limit(query, backend):
    check(query, backend)


def test_limit_without_order_by_returns_that_many_rows(backend):
    result = gpuvelo.sql("SELECT i FROM t LIMIT 10", backend=backend, **T)
    assert result.num_rows == 10


# --------------------------------------------------------------------------- streaming forms
@_cases(
    "SELECT k1, COUNT(*), SUM(i) FROM t GROUP BY k1 EMIT CHANGES",
    "SELECT k1, COUNT(*), SUM(i) FROM t GROUP BY k1 EMIT FINAL",
    "CREATE STREAM totals AS SELECT k1, COUNT(*), SUM(i) FROM t GROUP BY k1",
    "CREATE TABLE totals AS SELECT k2, MAX(i) FROM t GROUP BY k2 EMIT CHANGES",
    "CREATE STREAM positives AS SELECT i, s FROM t WHERE i > 0",
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 HAVING n > 1 ORDER BY k1 NULLS FIRST EMIT CHANGES",
)
def test_emit_and_create_give_final_result(query, backend):
    check(query, backend)


# --------------------------------------------------------------------------- types
def _int_types_table() -> pa.Table:
    n = 40
    rng = np.random.default_rng(7)
    cols = {"k": pa.array(rng.integers(0, 3, n).astype(np.int8))}
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(name)
        lo, hi = max(int(info.min), -100), min(int(info.max), 100)
        vals = rng.integers(lo, hi + 1, n).astype(name)
        cols[name] = pa.array(vals, mask=rng.random(n) < 0.2)
    return pa.table(cols)


def test_integer_types(backend):
    tables = {"t": _int_types_table()}
    names = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    aggs = ", ".join(f"SUM({c}), MIN({c}), MAX({c}), AVG({c})" for c in names)
    check(f"SELECT k, {aggs} FROM t GROUP BY k", backend, tables)
    check("SELECT int8 + int16, uint8 * 2, int32 - uint16, uint64 + 1, int8 % 3 FROM t", backend, tables)
    check("SELECT int8, uint8, COUNT(*) FROM t GROUP BY int8, uint8", backend, tables)


def test_extreme_integers(backend):
    i64, u64 = np.iinfo(np.int64), np.iinfo(np.uint64)
    tables = {"t": pa.table({
        "k": pa.array([i64.min, i64.max, i64.min, 0, i64.max, None], pa.int64()),
        "x": pa.array([i64.max, i64.min, -1, 0, 1, None], pa.int64()),
        "u": pa.array([int(u64.max), 0, 2**63, 2**63 - 1, 1, None], pa.uint64()),
    })}
    check("SELECT k, COUNT(*), MIN(x), MAX(x), MIN(u), MAX(u), COUNT(DISTINCT u) FROM t GROUP BY k", backend, tables)
    check("SELECT MIN(x), MAX(x), MIN(u), MAX(u) FROM t", backend, tables)
    check("SELECT k, x FROM t WHERE x < 0 AND u > 9223372036854775807", backend, tables)


def test_sum_of_large_integers_is_exact(backend):
    """Integer sums beyond 2**53 stay exact (no detour through float64)."""
    big = [2**60, 2**60 + 1, -(2**59), 3, 2**62 - 7, None]
    tables = {"t": pa.table({"k": [1, 1, 1, 2, 2, 2], "x": pa.array(big, pa.int64())})}
    rows = check("SELECT k, SUM(x), MIN(x), MAX(x), COUNT(DISTINCT x) FROM t GROUP BY k", backend, tables)
    assert {r[0]: r[1] for r in rows}[1] == 2**60 + 2**60 + 1 - 2**59
    check("SELECT SUM(x), AVG(x) FROM t", backend, tables)
    check("SELECT SUM(x) FROM t WHERE x = 9223372036854775807", backend,
          {"t": pa.table({"x": pa.array([2**63 - 1, None], pa.int64())})})


def test_floats_float32_and_signed_zero(backend):
    tables = {"t": pa.table({
        "k": pa.array([0.0, -0.0, 1.5, None, 1.5, -0.0], pa.float64()),
        "x": pa.array([1.25, 2.5, None, 3.0, -0.5, 4.0], pa.float32()),
    })}
    check("SELECT k, COUNT(*), SUM(x), MIN(x), MAX(x) FROM t GROUP BY k", backend, tables)
    check("SELECT x * 2, x + k, -x FROM t", backend, tables)


def test_nan_semantics_follow_duckdb(backend):
    """DuckDB groups NaNs together, orders NaN above every number (so MAX is NaN when any
    value is NaN, MIN ignores it unless all are NaN), and SUM/AVG propagate NaN."""
    nan, inf = float("nan"), float("inf")
    tables = {"t": pa.table({
        "k": pa.array([1, 1, 1, 2, 2, 3, 3, 4], pa.int64()),
        "x": pa.array([nan, 1.0, -2.0, nan, nan, inf, -inf, None], pa.float64()),
    })}
    check("SELECT k, COUNT(x), SUM(x), AVG(x), MIN(x), MAX(x) FROM t GROUP BY k", backend, tables)
    check("SELECT x, COUNT(*) FROM t GROUP BY x", backend, tables)
    check("SELECT COUNT(DISTINCT x) FROM t", backend, tables)


def test_nan_comparisons_follow_duckdb(backend):
    """DuckDB (like PostgreSQL) treats NaN as equal to itself and greater than every number in
    comparisons too, consistent with how it groups and orders NaN."""
    nan = float("nan")
    tables = {"t": pa.table({"k": [1, 2, 3, 4, 5], "x": pa.array([nan, 1.0, -0.0, None, float("inf")])})}
    check("SELECT k, x > 0, x = x, x < 1, x >= 2 FROM t", backend, tables)
    check("SELECT SUM(x), COUNT(x) FROM t WHERE x >= 0", backend, tables)


def test_nan_in_random_data(backend):
    check("SELECT k1, COUNT(fn), SUM(fn), MIN(fn), MAX(fn) FROM t GROUP BY k1", backend)
    check("SELECT fn, COUNT(*) FROM t GROUP BY fn", backend)


def test_bool_columns(backend):
    check("SELECT k3, COUNT(*), COUNT(k3), MIN(i) FROM t GROUP BY k3", backend)
    check("SELECT i FROM t WHERE k3", backend)
    check("SELECT i FROM t WHERE NOT k3", backend)


def test_strings_non_ascii_and_empty(backend):
    tables = {"t": pa.table({
        "s": pa.array(["", "é", "日本", "", None, "e", "é", "ß", "😀", "a b"], pa.string()),
        "x": pa.array(range(10), pa.int64()),
    })}
    check("SELECT s, COUNT(*), SUM(x), MIN(x) FROM t GROUP BY s", backend, tables)
    check("SELECT MIN(s), MAX(s), COUNT(DISTINCT s), FIRST(s), LAST(s) FROM t", backend, tables)
    check("SELECT x FROM t WHERE s = ''", backend, tables)
    check("SELECT x FROM t WHERE s = 'é' OR s LIKE '日%'", backend, tables)
    check("SELECT s FROM t WHERE s > 'e' ORDER BY s", backend, tables)


def test_large_strings_and_dictionary_arrays(backend):
    base = pa.array(["x", "y", None, "x", "zz"], pa.string())
    tables = {"t": pa.table({
        "s": base.cast(pa.large_string()),
        "ds": base.dictionary_encode(),
        "x": pa.array([1, 2, 3, 4, 5], pa.int64()),
    })}
    check("SELECT s, SUM(x) FROM t GROUP BY s", backend, tables)
    check("SELECT ds, SUM(x), MAX(s) FROM t GROUP BY ds", backend, tables)


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamp_units(unit, backend):
    base = np.array([0, 86_400, 86_401, 3_600, 7_200, 86_400 * 3], np.int64)
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    ts = pa.array(1_704_067_200 * scale + base * scale, pa.timestamp(unit), mask=np.array([0, 0, 0, 0, 1, 0], bool))
    tables = {"t": pa.table({"k": [1, 1, 2, 2, 2, 3], "ts": ts})}
    check("SELECT k, MIN(ts), MAX(ts), COUNT(ts), FIRST(ts), LAST(ts) FROM t GROUP BY k", backend, tables)
    check("SELECT ts, COUNT(*) FROM t GROUP BY ts", backend, tables)
    check("SELECT k FROM t WHERE ts > TIMESTAMP '2024-01-01 12:00:00'", backend, tables)


def test_timestamps_with_time_zone(backend):
    ts = pa.array([0, 3_600_000_000, None, 86_400_000_000, 0], pa.timestamp("us", tz="Europe/Paris"))
    tables = {"t": pa.table({"k": [1, 1, 2, None, 2], "ts": ts})}
    check("SELECT k, MIN(ts), MAX(ts), FIRST(ts), COUNT(ts) FROM t GROUP BY k", backend, tables)
    check("SELECT ts, COUNT(*) FROM t GROUP BY ts", backend, tables)


def test_dates(backend):
    tables = {"t": pa.table({
        "d": pa.array([19_723, 19_724, None, 19_723, 0, -1], pa.date32()),
        "x": [1, 2, 3, 4, 5, 6],
    })}
    check("SELECT d, COUNT(*), SUM(x) FROM t GROUP BY d", backend, tables)
    check("SELECT MIN(d), MAX(d), COUNT(DISTINCT d) FROM t", backend, tables)
    check("SELECT x FROM t WHERE d >= DATE '2024-01-01'", backend, tables)


@pytest.mark.parametrize("precision,scale", [(10, 0), (12, 2), (18, 6), (18, 18)])
def test_decimals_exact(precision, scale, backend):
    rng = np.random.default_rng(precision * 100 + scale)
    n = 200
    limit = 10 ** min(precision, 15)   # keep the sum inside int64
    units = rng.integers(-limit + 1, limit, n)
    vals = [D(int(u)).scaleb(-scale) for u in units]
    tables = {"t": pa.table({
        "k": pa.array(rng.integers(0, 4, n), pa.int64()),
        "x": pa.array(vals, pa.decimal128(precision, scale), mask=rng.random(n) < 0.1),
    })}
    got = check("SELECT k, SUM(x), MIN(x), MAX(x), COUNT(x), AVG(x) FROM t GROUP BY k", backend, tables)
    assert all(isinstance(r[1], D) for r in got if r[1] is not None), "SUM of a decimal must be a decimal"
    check("SELECT SUM(x), COUNT(DISTINCT x) FROM t", backend, tables)
    check("SELECT x, COUNT(*) FROM t WHERE k = 0 GROUP BY x", backend, tables)


def test_exact_numeric_literals_are_decimals(backend):
    """A literal such as 1.005 is an exact DECIMAL in SQL (and DuckDB), not a binary float:
    1 * 1.005 rounds to 1.01, and CAST(0.5 AS INTEGER) rounds half away from zero to 1."""
    tables = {"t": pa.table({"k": pa.array([1, 2, 3], pa.int64())})}
    check("SELECT k, ROUND(k * 1.005, 2), CAST(k * 0.5 AS INTEGER), CAST(0.5 AS INTEGER) FROM t", backend, tables)


def test_decimal_sum_is_exact_where_float_is_not(backend):
    tables = {"t": pa.table({"x": pa.array([D("0.10")] * 10 + [D("0.20")] * 5, pa.decimal128(10, 2))})}
    rows = check("SELECT SUM(x) FROM t", backend, tables)
    assert rows == [(D("2.00"),)]


# --------------------------------------------------------------------------- NULL semantics
def test_null_keys_form_one_group(backend):
    tables = {"t": pa.table({"k": pa.array([None, 1, None, 1, None], pa.int64()),
                             "s": pa.array([None, "a", None, None, "a"]),
                             "x": [1, 2, 3, 4, 5]})}
    rows = check("SELECT k, COUNT(*), SUM(x) FROM t GROUP BY k", backend, tables)
    assert len(rows) == 2
    check("SELECT k, s, COUNT(*) FROM t GROUP BY k, s", backend, tables)


def test_aggregates_skip_nulls_and_count_star_counts_rows(backend):
    tables = {"t": pa.table({"k": [1, 1, 1, 2, 2], "x": pa.array([None, 4, None, None, None], pa.int64())})}
    rows = check("SELECT k, COUNT(*), COUNT(x), SUM(x), AVG(x), MIN(x), MAX(x), STDDEV_POP(x) FROM t GROUP BY k",
                 backend, tables)
    by_key = {r[0]: r for r in rows}
    assert by_key[2][1:4] == (2, 0, None), "SUM of only NULLs is NULL; COUNT(*) counts rows"


def test_three_valued_logic_in_where_and_having(backend):
    tables = {"t": pa.table({"k": [1, 1, 2, 2, 3], "a": pa.array([None, 1, None, None, 5], pa.int64()),
                             "b": pa.array([True, None, False, None, None])})}
    check("SELECT k, a FROM t WHERE a > 0 OR b", backend, tables)
    check("SELECT k, a FROM t WHERE NOT (a > 0 AND b)", backend, tables)
    check("SELECT k, a FROM t WHERE a IS NULL AND b IS NOT NULL", backend, tables)
    check("SELECT k, SUM(a) FROM t GROUP BY k HAVING SUM(a) > 0 OR MAX(a) IS NULL", backend, tables)
    check("SELECT k FROM t GROUP BY k HAVING NOT (SUM(a) > 2)", backend, tables)


# --------------------------------------------------------------------------- ANY_VALUE
_SPARSE = {"t": random_table(np.random.default_rng(77), 400, null_p=0.7)}


@_cases(
    "SELECT k1, any_value(s) AS a, any_value(i) AS b, any_value(dec) AS c, any_value(ts) AS e FROM t GROUP BY k1",
    "SELECT k1, k2, any_value(f) AS a, any_value(d) AS b, any_value(k3) AS c FROM t GROUP BY k1, k2",
    "SELECT any_value(s) AS a, any_value(fn) AS b, any_value(u64) AS c FROM t",
    "SELECT i % 50 AS b, any_value(s) AS a, first(s) AS f, COUNT(*) AS n FROM t WHERE i > 0 GROUP BY b",
)
@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_any_value_is_the_first_non_null_value(query, batch_size, backend):
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_any_value_across_partitions():
    q = "SELECT k1, any_value(s) AS a, any_value(i) AS b FROM t GROUP BY k1"
    for strategy in ("hash", "round_robin"):
        run_both(q, _SPARSE, backend="cpu", batch_size=13, partitions=3, strategy=strategy)


# --------------------------------------------------------------------------- quantiles
@_cases(
    "SELECT k1, median(f) AS m, median(i) AS mi, median(dec) AS md, median(g) AS mg FROM t GROUP BY k1",
    "SELECT k1, quantile_cont(f, 0.9) AS a, quantile_disc(i, 0.7) AS b, quantile(u, 0.25) AS c FROM t GROUP BY k1",
    "SELECT k1, median(ts) AS a, median(d) AS b, quantile_disc(d, 0.5) AS c, quantile_cont(ts, 0.1) AS e FROM t GROUP BY k1",
    "SELECT k1, median(s) AS a, quantile_disc(k2, 0.9) AS b, median(k3) AS c FROM t GROUP BY k1",
    "SELECT median(fn) AS a, quantile_cont(fn, 0.1) AS b, quantile_disc(fn, 0.99) AS c FROM t",
    "SELECT k1, k2, quantile_cont(u64, 0.333) AS b, quantile_disc(i16, 0.0) AS c, quantile_cont(i, 1.0) AS e FROM t GROUP BY k1, k2",
    "SELECT k1, percentile_cont(0.5) WITHIN GROUP (ORDER BY f) AS a, percentile_cont(0.2) WITHIN GROUP (ORDER BY i DESC) AS b, "
    "percentile_disc(0.25) WITHIN GROUP (ORDER BY i) AS c FROM t GROUP BY k1",
    "SELECT k1, median(i) AS m, COUNT(*) AS n FROM t WHERE i > 500 GROUP BY k1 HAVING median(i) > 700 ORDER BY m",
    "SELECT median(i) AS m, quantile_disc(s, 0.5) AS q FROM t WHERE FALSE",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_quantiles(query, batch_size, backend):
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))
    run_both(query, T, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_quantiles_across_partitions():
    q = "SELECT k1, median(f) AS a, quantile_disc(s, 0.7) AS b, quantile_cont(ts, 0.4) AS c FROM t GROUP BY k1"
    for strategy in ("hash", "round_robin"):
        run_both(q, T, backend="cpu", batch_size=13, partitions=3, strategy=strategy)


@pytest.mark.parametrize("query, message", [
    ("SELECT quantile_cont(i, 1.5) FROM t", "between 0 and 1"),
    ("SELECT quantile_cont(i, f) FROM t", "number literal"),
    ("SELECT quantile_cont(i, [0.5, 0.9]) FROM t", "lists of quantiles are not supported"),
    ("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY i DESC) FROM t", "order ascending"),
])
def test_quantile_errors(query, message):
    with pytest.raises(gpuvelo.errors.PlanError, match=message):
        gpuvelo.sql(query, t=T["t"])


# --------------------------------------------------------------------------- unusual input types
def test_all_null_column_and_null_literal_arguments(backend):
    """A column of Arrow type null (pandas' all-None column) and NULL literals as arguments of
    every aggregate (COUNT(DISTINCT) of one used to crash Arrow's hash kernel)."""
    t = {"t": pa.table({"k": [1, 1, 2, 2, 3], "z": pa.nulls(5)})}
    run_both("SELECT k, MIN(z) AS a, MAX(z) AS b, SUM(z) AS c, AVG(z) AS e, FIRST(z) AS f, "
             "COUNT(DISTINCT z) AS g, median(z) AS h, any_value(z) AS i, COUNT(z) AS j, "
             "stddev(z) AS l FROM t GROUP BY k", t, backend=backend)
    run_both("SELECT k, MIN(NULL) AS a, SUM(NULL) AS b, COUNT(NULL) AS c, COUNT(DISTINCT NULL) AS e "
             "FROM t GROUP BY k", t, backend=backend)
    run_both("SELECT z, COUNT(*) AS n FROM t GROUP BY z", t, backend=backend)


def test_decimal256_input_within_64_bits(backend):
    """decimal256 columns (DuckDB cannot read them) work while their values fit 64 bits."""
    t = pa.table({"k": [1, 1, 2], "x": pa.array([D("1.50"), None, D("-2.25")], pa.decimal256(40, 2))})
    out = gpuvelo.sql("SELECT k, SUM(x) AS s, MIN(x) AS m, COUNT(*) AS n FROM t GROUP BY k ORDER BY k",
                      t=t, backend=backend)
    assert out.to_pylist() == [{"k": 1, "s": D("1.50"), "m": D("1.50"), "n": 2},
                               {"k": 2, "s": D("-2.25"), "m": D("-2.25"), "n": 1}]


# --------------------------------------------------------------------------- ARG_MAX / ARG_MIN
@_cases(
    "SELECT k1, arg_max(s, i) AS a, arg_min(s, i) AS b, max_by(dec, f) AS c, min_by(ts, fn) AS e FROM t GROUP BY k1",
    "SELECT k1, k2, arg_max(i, ts) AS a, arg_min(f, d) AS b, arg_max(k3, dec) AS c, arg_max(s, k3) AS e FROM t GROUP BY k1, k2",
    "SELECT arg_max(s, fn) AS a, arg_min(s, fn) AS b, arg_max(i, u64) AS c, arg_min(d, i16) AS e FROM t",
    "SELECT i % 20 AS b, arg_max(s, f) AS a, arg_min(k2, g) AS c FROM t WHERE i > 0 GROUP BY b",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_arg_max_and_arg_min(query, batch_size, backend):
    """Ties (many equal ordering values) go to the earliest row; rows with a NULL in either
    argument are skipped; NaN is the largest ordering value."""
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))
    run_both(query, T, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_arg_max_across_partitions():
    q = "SELECT k1, arg_max(s, i) AS a, arg_min(ts, f) AS b FROM t GROUP BY k1"
    for strategy in ("hash", "round_robin"):
        run_both(q, T, backend="cpu", batch_size=13, partitions=3, strategy=strategy)


@pytest.mark.parametrize("query, message", [
    ("SELECT arg_max(i, s) FROM t", "orders by numbers, times or booleans"),
    ("SELECT arg_max(i, f, 2) FROM t", "with a count"),
])
def test_arg_max_errors(query, message):
    with pytest.raises(gpuvelo.errors.NotSupportedError, match=message):
        gpuvelo.sql(query, t=T["t"])


@_cases(
    "SELECT k1, SUM(DISTINCT i) AS a, AVG(DISTINCT u) AS b, SUM(DISTINCT dec) AS c, AVG(DISTINCT dec) AS e, "
    "SUM(DISTINCT f) AS h FROM t GROUP BY k1",
    "SELECT k1, MIN(DISTINCT i) AS a, MAX(DISTINCT s) AS b, COUNT(DISTINCT i) AS c FROM t GROUP BY k1",
    "SELECT SUM(DISTINCT u64) AS a, AVG(DISTINCT i16) AS b, SUM(DISTINCT k1) AS c FROM t",
    "SELECT k2, SUM(DISTINCT i) FILTER (WHERE i > 0) AS a FROM t GROUP BY k2",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_sum_and_avg_of_distinct_values(query, batch_size, backend):
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))
    run_both(query, T, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_sum_distinct_overflow_is_an_error():
    t = pa.table({"x": pa.array([2**62, 2**62 + 1, 2**62 + 2], pa.int64())})
    with pytest.raises(gpuvelo.errors.ArithmeticOverflowError):
        gpuvelo.sql("SELECT SUM(DISTINCT x) FROM t", t=t)


# --------------------------------------------------------------------------- TRY_CAST
_MESSY = T["t"].set_column(T["t"].schema.get_field_index("s"), "s", pa.array(
    np.random.default_rng(3).choice(["1", "-7", " 42 ", "x", "", "2024-01-05", "3.5", "-2.5", "1e3",
                                     None, "999999999999", "0.5"], T["t"].num_rows)))


@_cases(
    "SELECT s, TRY_CAST(s AS INTEGER) AS x, TRY_CAST(s AS DOUBLE) AS y, TRY_CAST(s AS DATE) AS z FROM t",
    "SELECT TRY_CAST(f AS TINYINT) AS x, TRY_CAST(i AS TINYINT) AS y, TRY_CAST(u64 AS SMALLINT) AS z, "
    "TRY_CAST(fn AS INTEGER) AS w FROM t",
    "SELECT TRY_CAST(dec AS DECIMAL(8, 2)) AS x, TRY_CAST(i AS DECIMAL(4, 1)) AS y, TRY_CAST(f AS DECIMAL(3, 1)) AS z FROM t",
    "SELECT TRY_CAST(i AS UTINYINT) AS x, TRY_CAST(i16 AS UINTEGER) AS y FROM t",
    "SELECT TRY_CAST('abc' AS INTEGER) AS x, TRY_CAST('12' AS INTEGER) AS y, TRY_CAST('2024-13-01' AS DATE) AS z, "
    "TRY_CAST('x' AS DECIMAL(5,2)) AS w FROM t",
    "SELECT k1, SUM(TRY_CAST(s AS INTEGER)) AS a, COUNT(TRY_CAST(f AS TINYINT)) AS b FROM t GROUP BY k1",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_try_cast_gives_null_where_cast_fails(query, batch_size, backend):
    run_both(query, {"t": _MESSY}, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_string_to_integer_reads_decimal_and_exponent_notation(backend):
    t = {"t": pa.table({"s": ["3.5", "-2.5", "1e3", " 42 ", "0.49"]})}
    run_both("SELECT s, CAST(s AS INTEGER) AS i, CAST(s AS BIGINT) AS b FROM t", t, backend=backend)


# --------------------------------------------------------------------------- STRING_AGG, MODE
@_cases(
    "SELECT k1, string_agg(s, ',') AS a, string_agg(k2) AS b, string_agg(DISTINCT s, '|') AS c, "
    "string_agg(s, ';' ORDER BY s DESC) AS e FROM t GROUP BY k1",
    "SELECT k1, mode(k2) AS a, mode(i % 5) AS b, mode(dec) AS c, mode(d) AS e, mode(k3) AS h FROM t GROUP BY k1",
    "SELECT string_agg(s, ', ' ORDER BY s) AS a, mode(s) AS b, listagg(k2, '-') AS c, group_concat(s) AS e FROM t",
    "SELECT k2, mode(fn) AS a, mode(f) AS b FROM t GROUP BY k2",
    "SELECT k1, string_agg(s, ',') FILTER (WHERE i > 0) AS a FROM t WHERE k3 GROUP BY k1",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_string_agg_and_mode(query, batch_size, backend):
    """Arrival order (and first arrival for MODE's ties) survives batches and partitions."""
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))
    run_both(query, T, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_string_agg_and_mode_across_partitions():
    q = "SELECT k1, string_agg(s, ',') AS a, mode(k2) AS b FROM t GROUP BY k1"
    for strategy in ("hash", "round_robin"):
        run_both(q, T, backend="cpu", batch_size=13, partitions=3, strategy=strategy)


def test_string_agg_needs_strings():
    with pytest.raises(gpuvelo.errors.TypeMismatchError, match="cast it to VARCHAR"):
        gpuvelo.sql("SELECT string_agg(i, ',') FROM t", t=T["t"])


# --------------------------------------------------------------------------- CORR, COVAR, REGR
@_cases(
    "SELECT k1, corr(f, i) AS c, covar_pop(f, i) AS v, covar_samp(dec, u) AS w, regr_slope(f, i) AS r FROM t GROUP BY k1",
    "SELECT k1, regr_intercept(f, g) AS a, regr_r2(f, i) AS b, regr_count(f, i) AS c, regr_avgx(f, i) AS d, "
    "regr_avgy(f, i) AS e, regr_sxx(f, i) AS h, regr_syy(f, i) AS m, regr_sxy(f, i) AS q FROM t GROUP BY k1",
    "SELECT corr(i, u) AS a, covar_samp(i16, u64) AS b, regr_slope(dec, f) AS c, corr(fn, f) AS d FROM t",
    "SELECT k2, k3, corr(f, i) AS c, regr_r2(i, k1) AS r, regr_count(dec, f) AS n FROM t GROUP BY k2, k3",
    "SELECT k1, corr(f, i) FILTER (WHERE i > 0) AS a FROM t GROUP BY k1 HAVING regr_count(f, i) > 3",
)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_correlation_and_regression(query, batch_size, backend):
    """Groups of 0, 1 and 2 rows and constant columns hit DuckDB's NULL / NaN cases."""
    run_both(query, _SPARSE, backend=backend, **({"batch_size": batch_size} if batch_size else {}))
    run_both(query, T, backend=backend, **({"batch_size": batch_size} if batch_size else {}))


def test_correlation_of_values_far_from_zero(backend):
    """Data around 1e9 with unit spread: the co-moments keep ~8 digits (checked against
    NumPy's two-pass covariance; merging batch means stored near 1e9 bounds it -- a naive
    sum of products would keep about two)."""
    rng = np.random.default_rng(9)
    x = 1e9 + rng.normal(size=6000)
    y = 2 * x + rng.normal(size=6000)
    t = pa.table({"k": np.repeat([0, 1, 2], 2000), "x": x, "y": y})
    out = gpuvelo.sql("SELECT k, corr(x, y) AS c, regr_slope(y, x) AS s, covar_pop(x, y) AS v "
                      "FROM t GROUP BY k ORDER BY k", t=t, backend=backend, batch_size=777)
    for k in range(3):
        xs, ys = x[2000 * k:2000 * (k + 1)], y[2000 * k:2000 * (k + 1)]
        cov = np.cov(xs, ys, bias=True)
        want = (cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), cov[0, 1] / cov[0, 0], cov[0, 1])
        got = (out["c"][k].as_py(), out["s"][k].as_py(), out["v"][k].as_py())
        np.testing.assert_allclose(got, want, rtol=1e-7)
