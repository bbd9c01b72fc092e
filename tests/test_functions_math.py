"""Numeric scalar functions (``gpuvelo.sql.functions.math``) against DuckDB."""

from __future__ import annotations

import numpy as np
import pytest

from differential import random_table, run_both

import gpuvelo
from gpuvelo.errors import PlanError, SqlError, TypeMismatchError

T = {"t": random_table(np.random.default_rng(7), 400)}


@pytest.mark.parametrize("query", [
    "SELECT sqrt(f) AS a, cbrt(i) AS b, exp(f / 100) AS c, ln(u) AS e, log(i16) AS g FROM t",
    "SELECT log10(dec) AS a, log2(u64) AS b, log(2, u) AS c, log(f, u) AS e FROM t",
    "SELECT power(f, 2) AS a, pow(2, k1) AS b, power(i, 0.5) AS c FROM t",
    "SELECT sin(f) AS a, cos(g) AS b, tan(i) AS c, asin(f / 100) AS e, acos(f / 100) AS h, atan(dec) AS j FROM t",
    "SELECT atan2(f, g) AS a, radians(i) AS b, degrees(f) AS c, pi() * k1 AS e FROM t",
    "SELECT sqrt(fn) AS a, ln(fn) AS b, exp(fn) AS c FROM t",
    "SELECT sign(i) AS a, sign(f) AS b, sign(dec) AS c, sign(fn) AS e, sign(u) AS h FROM t",
    "SELECT trunc(f) AS a, trunc(dec) AS b, trunc(i) AS c, trunc(g) AS e FROM t",
    "SELECT isnan(fn) AS a, isinf(fn) AS b, isfinite(fn) AS c, isnan(i) AS e, isinf(dec) AS h FROM t",
    "SELECT greatest(i, u, i16) AS a, least(i, u, i16) AS b FROM t",
    "SELECT greatest(f, dec, i) AS a, least(f, dec, 3) AS b, greatest(fn, f) AS c, least(fn, f) AS e FROM t",
    "SELECT greatest(k2, s) AS a, least(k2, s, 'b') AS b, greatest(s, NULL) AS c FROM t",
    "SELECT greatest(ts, d) AS a, least(d, DATE '2023-12-15') AS b FROM t",
    "SELECT i // 7 AS a, u // 3 AS b, f // 2 AS c, dec // 3 AS e, (-i) // 7 AS h FROM t",
])
def test_row_functions(query, backend):
    run_both(query, T, backend=backend)


@pytest.mark.parametrize("query", [
    "SELECT k1, sqrt(SUM(ABS(f))) AS a, ln(COUNT(*)) AS b, log2(COUNT(*)) AS c FROM t GROUP BY k1",
    "SELECT k1, greatest(MAX(i), 0) AS a, least(MIN(i), 0) AS b, SUM(i) // 3 AS c FROM t GROUP BY k1",
    "SELECT k1, SUM(sqrt(ABS(f))) AS a, MAX(greatest(i, u)) AS b, SUM(i // 10) AS c FROM t GROUP BY k1",
    "SELECT i // 100 AS bucket, COUNT(*) AS n FROM t GROUP BY bucket ORDER BY bucket",
    "SELECT sign(i) AS sg, trunc(f / 10) AS tf, COUNT(*) AS n FROM t GROUP BY sg, tf",
    "SELECT k1, COUNT(*) AS n FROM t WHERE sqrt(ABS(f)) > 5 AND greatest(i, 0) < 500 GROUP BY k1",
])
def test_in_aggregate_queries(query, backend):
    run_both(query, T, backend=backend)
    run_both(query, T, backend=backend, batch_size=7)


def test_integer_division_by_zero_is_null():
    out = gpuvelo.sql("SELECT i // z AS q FROM t", t={"i": [7, -7, 7], "z": [2, 2, 0]})
    assert out.column("q").to_pylist() == [3, -3, None]


@pytest.mark.parametrize("query, error", [
    ("SELECT sqrt(s) FROM t", TypeMismatchError),
    ("SELECT power(i) FROM t", SqlError),
    ("SELECT greatest(i, s) FROM t", TypeMismatchError),
    ("SELECT trunc(f, i) FROM t", PlanError),
])
def test_bad_calls_are_plan_errors(query, error):
    with pytest.raises(error) as info:
        gpuvelo.sql(query, t=T["t"])
    assert "line 1" in str(info.value)
