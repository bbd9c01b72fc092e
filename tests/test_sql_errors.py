"""Every user mistake in SQL raises gpuvelo's own error type, saying what and where."""

import re

import pytest

from gpuvelo import types as T
from gpuvelo.errors import (NotSupportedError, PlanError, SqlSyntaxError, TypeMismatchError,
                            UnknownColumnError)
from gpuvelo.sql import parse_query, plan_query

S = {"symbol": T.STRING, "price": T.FLOAT64, "qty": T.INT64, "ts": T.timestamp("ms"),
     "flag": T.BOOL, "epoch": T.INT64, "price_f": T.FLOAT64}


def plan(sql):
    return plan_query(sql, S)


@pytest.mark.parametrize("sql, line, column", [
    ("SELECT a\nFROM t WHERE (a", 2, 15),
    ("SELECT qty FROM t EMIT SOMETIMES", 1, 24),
    ("SELECT qty FROM t EMIT", 1, 19),
    ("SELECT qty FROM t WINDOW TUMBLING(1m", 1, 26),
    ("SELECT qty FROM", 1, 12),
])
def test_syntax_errors_have_line_and_column(sql, line, column):
    with pytest.raises(SqlSyntaxError) as info:
        parse_query(sql)
    assert (info.value.line, info.value.column) == (line, column)
    assert f"line {line}, column {column}" in str(info.value)


def test_syntax_error_is_raised_by_plan_query_too():
    with pytest.raises(SqlSyntaxError):
        plan("SELECT qty FROM t WHERE")
    with pytest.raises(SqlSyntaxError, match="expected a SELECT"):
        parse_query("DROP TABLE t")


def test_unknown_column_names_it_and_lists_available():
    with pytest.raises(UnknownColumnError) as info:
        plan("SELECT symbol,\n  pricee FROM t")
    msg = str(info.value)
    assert "unknown column 'pricee'; available: symbol, price, qty, ts, flag, epoch, price_f" in msg
    assert (info.value.line, info.value.column) == (2, 3)
    for sql in ("SELECT qty FROM t WHERE nope > 1", "SELECT SUM(nope) FROM t",
                "SELECT qty FROM t GROUP BY nope", "SELECT qty FROM t ORDER BY nope"):
        with pytest.raises(UnknownColumnError, match="'nope'"):
            plan(sql)


def test_case_insensitive_columns_keep_schema_spelling():
    p = plan_query("SELECT SYMBOL, Qty FROM t", {"Symbol": T.STRING, "qty": T.INT64})
    assert [o.name for o in p.outputs] == ["Symbol", "qty"]


@pytest.mark.parametrize("sql, cls, fragment", [
    ("SELECT symbol, qty FROM t GROUP BY symbol", PlanError, "column 'qty' must appear in GROUP BY"),
    ("SELECT symbol, COUNT(*) FROM t", PlanError, "column 'symbol' must appear in GROUP BY"),
    ("SELECT symbol FROM t GROUP BY symbol HAVING qty > 1", PlanError, "column 'qty'"),
    ("SELECT qty FROM t WHERE SUM(qty) > 1", PlanError, "not allowed in WHERE: SUM(qty)"),
    ("SELECT COUNT(*) FROM t GROUP BY SUM(qty)", PlanError, "not allowed in GROUP BY: SUM(qty)"),
    ("SELECT SUM(MAX(qty)) FROM t", PlanError, "nested aggregate functions are not allowed: SUM(MAX(qty))"),
    ("SELECT frobnicate(qty) FROM t", PlanError, "unknown function 'frobnicate'"),
    ("SELECT * FROM t GROUP BY symbol", PlanError, "SELECT * cannot be used with GROUP BY"),
    ("SELECT *, COUNT(*) FROM t", PlanError, "SELECT * cannot be used with GROUP BY or aggregates"),
    ("SELECT symbol, COUNT(*) FROM t GROUP BY 3", PlanError, "GROUP BY position 3"),
    ("SELECT qty FROM t ORDER BY 2", PlanError, "ORDER BY position 2"),
    ("SELECT qty FROM t WHERE symbol LIKE symbol", PlanError, "pattern must be a string literal"),
    ("SELECT window_start, COUNT(*) FROM t", PlanError, "'window_start' needs a WINDOW clause"),
])
def test_plan_errors(sql, cls, fragment):
    with pytest.raises(cls) as info:
        plan(sql)
    assert fragment in str(info.value)


@pytest.mark.parametrize("sql, fragment", [
    ("SELECT SUM(symbol) FROM t", "SUM needs a number, got STRING in SUM(symbol)"),
    ("SELECT AVG(symbol) FROM t", "AVG needs a number, got STRING in AVG(symbol)"),
    ("SELECT STDDEV(symbol) FROM t", "STDDEV_SAMP needs a number, got STRING in STDDEV(symbol)"),
    ("SELECT qty FROM t WHERE qty LIKE 'a%'", "LIKE needs a string, got INT64 in qty LIKE 'a%'"),
    ("SELECT symbol + 1 FROM t", "in symbol + 1"),
    ("SELECT qty FROM t WHERE symbol = 3", "cannot compare STRING with INT64 in symbol = 3"),
    ("SELECT qty FROM t WHERE qty IN ('a', 'b')", "cannot compare INT64 with STRING"),
    ("SELECT qty FROM t WHERE qty", "WHERE needs a boolean, got INT64"),
    ("SELECT CASE WHEN flag THEN 'x' ELSE 1 END FROM t", "no common type"),
    ("SELECT qty FROM t WHERE ts > 'yesterday'", "'yesterday' is not a valid TIMESTAMP(ms)"),
])
def test_type_mismatch_errors(sql, fragment):
    with pytest.raises(TypeMismatchError) as info:
        plan(sql)
    assert fragment in str(info.value)
    assert info.value.line == 1 and info.value.column is not None


@pytest.mark.parametrize("sql, fragment", [
    ("SELECT qty FROM t FULL JOIN u ON t.qty < u.qty", "FULL JOIN's other conditions are not supported"),
    ("SELECT qty FROM read_blob('x.bin')", "subqueries and table functions are not supported"),
    ("SELECT qty FROM t WHERE qty > 0 OR EXISTS (SELECT 1 FROM u WHERE u.a = t.qty)", "correlated EXISTS"),
    ("SELECT (SELECT 1) FROM t", "subqueries used as values run as stages of a Job"),
    ("SELECT SUM(qty) OVER (ORDER BY qty RANGE BETWEEN qty PRECEDING AND CURRENT ROW) FROM t",
     "a frame offset must be a non-negative number or INTERVAL literal"),
    ("SELECT DISTINCT qty, COUNT(*) FROM t GROUP BY qty", "SELECT DISTINCT together with GROUP BY"),
    ("SELECT DISTINCT ON (qty) qty, COUNT(*) FROM t GROUP BY qty", "DISTINCT ON together with GROUP BY"),
    ("SELECT qty FROM t WHERE qty > ANY (SELECT qty FROM t)", "supported as x = ANY"),
    ("SELECT qty FROM t ORDER BY qty LIMIT 2 WITH TIES", "WITH TIES is not supported"),
    ("SELECT symbol, FIRST(qty) FILTER (WHERE qty > 1) FROM t GROUP BY symbol", "aggregate FILTER is not supported"),
    ("SELECT BIT_OR(qty) FROM t", "is not supported"),
])
def test_not_supported(sql, fragment):
    with pytest.raises(NotSupportedError) as info:
        plan(sql)
    assert fragment in str(info.value)


@pytest.mark.parametrize("clause, fragment", [
    ("WINDOW TUMBLING(ts, INTERVAL '0' MINUTE)", "size must be positive"),
    ("WINDOW TUMBLING(ts, INTERVAL '-1' MINUTE)", "size must be positive"),
    ("WINDOW TUMBLING (SIZE 0 SECONDS)", "size must be positive"),
    ("WINDOW SESSION (0 SECONDS)", "gap must be positive"),
    ("WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 20 SECONDS)", "advance must be positive and at most the size"),
    ("WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 0 SECONDS)", "advance must be positive"),
    ("WINDOW SLIDING(ts, 1m, 2m)", "advance must be positive and at most the size"),
    ("WINDOW TUMBLING(ts, 5 FORTNIGHTS)", "unknown time unit 'FORTNIGHTS'"),
    ("WINDOW TUMBLING(ts, 5x)", "unknown time unit 'x'"),
    ("WINDOW TUMBLING(nope, 1m)", "unknown window time column 'nope'"),
    ("WINDOW TUMBLING(symbol, 1m)", "must be a timestamp or an integer"),
    ("WINDOW TUMBLING(price, 1m)", "must be a timestamp or an integer"),
    ("WINDOW TUMBLING(ts)", "needs a size"),
    ("WINDOW TUMBLING(ts, 1m, 2m)", "takes 1 duration"),
    ("WINDOW HOPPING (SIZE 10 SECONDS)", "needs a advance"),
    ("WINDOW TUMBLING (SIZE 1 MINUTE, ADVANCE BY 1 SECOND)", "does not take ADVANCE"),
])
def test_bad_window_specs(clause, fragment):
    with pytest.raises(PlanError) as info:
        plan(f"SELECT symbol, COUNT(*) FROM t GROUP BY symbol {clause}")
    assert fragment in str(info.value)


@pytest.mark.parametrize("sql, hint", [
    ("SELECT approx_quantile(qty, 0.5) FROM t", "give exact quantiles"),
])
def test_approximate_and_list_aggregates_point_to_exact_ones(sql, hint):
    """Approximate quantiles differ from DuckDB's sketches even on small data: refused, with
    the exact alternative named."""
    with pytest.raises(NotSupportedError, match=re.escape(hint)):
        plan(sql)


def test_approx_count_distinct_is_the_exact_count():
    """The exact count is within any error bound; on few distinct values DuckDB's
    HyperLogLog estimate is exact too, so the answers agree there."""
    import duckdb
    import pyarrow as pa

    import gpuvelo

    t = pa.table({"k": [1, 1, 2, 2, 2, 3], "v": ["a", "a", "b", "c", None, None]})
    q = "SELECT k, approx_count_distinct(v) AS n FROM t GROUP BY k ORDER BY k"
    assert [tuple(r.values()) for r in gpuvelo.sql(q, t=t).to_pylist()] == \
        duckdb.sql(q).fetchall() == [(1, 1), (2, 2), (3, 0)]
