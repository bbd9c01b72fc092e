"""Plan structure for representative queries, window clauses and the typing rules."""

import datetime as dt
from decimal import Decimal

import pytest

from gpuvelo import types as T
from gpuvelo.errors import PlanError, TypeMismatchError
from gpuvelo.sql import explain, parse_query, plan_query, result_type
from gpuvelo.sql.plan import (AggRef, Call, Case, Cast, ColumnRef, KeyRef, Literal, WindowRef,
                              WindowSpec)

S = {"symbol": T.STRING, "price": T.FLOAT64, "qty": T.INT64, "ts": T.timestamp("ms"),
     "amt": T.decimal(12, 2), "flag": T.BOOL, "n8": T.UINT8, "epoch": T.INT64, "day": T.DATE}


def plan(sql):
    return plan_query(sql, S)


def test_parse_query_fields():
    p = parse_query("CREATE STREAM Out1 AS SELECT qty FROM Trades EMIT CHANGES")
    assert (p.source, p.output_name, p.emit, p.window) == ("trades", "Out1", "changes", None)
    assert parse_query("CREATE TABLE t2 AS SELECT qty FROM x").output_name == "t2"
    assert plan("CREATE TABLE t2 AS SELECT qty FROM x").output_name == "t2"


def test_group_by_plan_structure_and_dedupe():
    p = plan("SELECT symbol, COUNT(*), SUM(price * qty) AS notional, sum(qty) / count(*) r "
             "FROM trades WHERE price > 10 GROUP BY symbol HAVING MAX(price) > 5 "
             "ORDER BY notional DESC LIMIT 5 OFFSET 2")
    assert p.is_aggregate and p.source == "trades"
    assert p.group_keys == (ColumnRef(T.STRING, "symbol"),) and p.key_names == ("symbol",)
    assert [a.func for a in p.aggregates] == ["count_star", "sum", "sum", "max"]
    assert p.aggregates[1].arg == Call(T.FLOAT64, "mul", (ColumnRef(T.FLOAT64, "price"), ColumnRef(T.INT64, "qty")))
    assert [o.name for o in p.outputs] == ["symbol", "count_star()", "notional", "r"]
    assert p.outputs[0].expr == KeyRef(T.STRING, 0)
    assert p.outputs[1].expr == AggRef(T.INT64, 0)
    # COUNT(*) planned once, referenced twice
    assert p.outputs[3].expr == Call(T.FLOAT64, "div", (AggRef(T.INT64, 2), AggRef(T.INT64, 0)))
    assert p.having == Call(T.BOOL, "gt", (AggRef(T.FLOAT64, 3), Literal(T.INT64, 5)))
    assert p.where.op == "gt" and p.where.dtype == T.BOOL
    assert p.order_by[0].expr == AggRef(T.FLOAT64, 1) and p.order_by[0].descending
    assert p.order_by[0].nulls_first is False
    assert (p.limit, p.offset, p.emit, p.emit_explicit) == (5, 2, "final", False)


def test_group_by_position_alias_and_expression():
    p = plan("SELECT upper(Symbol) AS u, qty % 2, COUNT(qty) FROM t GROUP BY u, 2")
    assert p.group_keys[0] == Call(T.STRING, "upper", (ColumnRef(T.STRING, "symbol"),))
    assert p.key_names[0] == "u"
    assert p.group_keys[1] == Call(T.INT64, "mod", (ColumnRef(T.INT64, "qty"), Literal(T.INT64, 2)))
    assert [o.expr for o in p.outputs[:2]] == [KeyRef(T.STRING, 0), KeyRef(T.INT64, 1)]
    assert p.aggregates[0].func == "count"
    q = plan("SELECT qty + 1 AS q1, SUM(price) FROM t GROUP BY qty")
    assert q.outputs[0].expr == Call(T.INT64, "add", (KeyRef(T.INT64, 0), Literal(T.INT64, 1)))


def test_global_and_stateless():
    g = plan("SELECT COUNT(*), MIN(symbol), MAX(ts), FIRST(price), LAST(day), count(DISTINCT symbol) FROM t")
    assert g.is_aggregate and g.group_keys == ()
    assert [a.func for a in g.aggregates] == ["count_star", "min", "max", "first", "last", "count_distinct"]
    assert [a.dtype for a in g.aggregates] == [T.INT64, T.STRING, T.timestamp("ms"), T.FLOAT64, T.DATE, T.INT64]
    s = plan("SELECT *, qty * 2 AS q2 FROM t WHERE symbol = 'A' ORDER BY q2 LIMIT 3")
    assert not s.is_aggregate and [o.name for o in s.outputs] == list(S) + ["q2"]
    assert s.outputs[-1].expr == Call(T.INT64, "mul", (ColumnRef(T.INT64, "qty"), Literal(T.INT64, 2)))
    assert s.order_by[0].expr == s.outputs[-1].expr


def test_aggregate_names_and_types():
    p = plan("SELECT stddev(price), stddev_samp(qty), stddev_pop(qty), variance(qty), var_samp(qty), "
             "var_pop(qty), avg(amt), sum(amt), sum(flag), sum(n8) FROM t")
    assert [a.func for a in p.aggregates] == ["stddev_samp", "stddev_samp", "stddev_pop", "var_samp",
                                            "var_pop", "avg", "sum", "sum", "sum"]
    assert [a.dtype for a in p.aggregates][-4:] == [T.FLOAT64, T.decimal(38, 2), T.INT64, T.INT64]


def test_having_alias_and_order_by_position():
    p = plan("SELECT symbol, COUNT(*) AS c FROM t GROUP BY symbol HAVING c > 1 AND AVG(qty) > 2 ORDER BY 2")
    assert p.having.args[0] == Call(T.BOOL, "gt", (AggRef(T.INT64, 0), Literal(T.INT64, 1)))
    assert p.aggregates[1].func == "avg" and len(p.outputs) == 2
    assert p.order_by[0].expr == AggRef(T.INT64, 0)


def test_expression_surface():
    p = plan("SELECT CASE qty WHEN 1 THEN 'one' ELSE 'many' END, CAST(qty AS DOUBLE), price::INTEGER, "
             "COALESCE(price, 0), NULLIF(qty, 0), ABS(-qty), ROUND(price, 2), ROUND(amt, 1), FLOOR(amt), "
             "CEILING(price), CEIL(qty), LENGTH(lower(symbol)), qty IN (1, 2), qty NOT IN (3), "
             "qty BETWEEN 1 AND 5, price NOT BETWEEN 1 AND 2, symbol IS NULL, symbol IS NOT NULL, "
             "symbol NOT LIKE 'A%', NOT flag OR TRUE, NULL, 1.5, DATE '2024-01-02', "
             "TIMESTAMP '2024-01-02 03:04:05', CAST(amt AS DECIMAL(10, 4)) FROM t")
    e = [o.expr for o in p.outputs]
    assert isinstance(e[0], Case) and e[0].dtype == T.STRING and e[0].whens[0][0].op == "eq"
    assert e[1] == Cast(T.FLOAT64, ColumnRef(T.INT64, "qty")) and e[2].dtype == T.INT32
    assert e[3].dtype == T.FLOAT64 and e[4].dtype == T.INT64
    assert e[5] == Call(T.INT64, "abs", (Call(T.INT64, "neg", (ColumnRef(T.INT64, "qty"),)),))
    assert [x.dtype for x in e[6:11]] == [T.FLOAT64, T.decimal(18, 1), T.decimal(18, 0), T.FLOAT64, T.INT64]
    assert e[7].args[1] == Literal(T.INT64, 1)
    assert e[11].dtype == T.INT64
    assert e[12].op == "in" and len(e[12].args) == 3 and e[13].op == "not" and e[13].args[0].op == "in"
    assert e[14].op == "between" and e[15].op == "not"
    assert (e[16].op, e[17].op) == ("is_null", "is_not_null")
    assert e[18] == Call(T.BOOL, "not", (Call(T.BOOL, "like", (ColumnRef(T.STRING, "symbol"), Literal(T.STRING, "A%"))),))
    assert e[19].op == "or"
    assert e[20] == Literal(T.NULL, None) and e[21] == Literal(T.decimal(2, 1), Decimal("1.5"))
    assert e[22] == Literal(T.DATE, dt.date(2024, 1, 2))
    assert e[23].value == dt.datetime(2024, 1, 2, 3, 4, 5) and e[23].dtype.kind == "timestamp"
    assert e[24].dtype == T.decimal(10, 4)


def test_numeric_literals_are_typed_as_duckdb_types_them():
    """A literal with a decimal point is an exact DECIMAL(digits, digits after the point);
    scientific notation, and decimals beyond 18 digits, are FLOAT64."""
    e = [o.expr for o in plan("SELECT 1.005, -0.5, 00.5, 1., 1e3, 1.5E-2, 123456789012345678901.5, "
                              "123456789012345678.5, 12345678901234567.5, 7 FROM t").outputs]
    assert e[0] == Literal(T.decimal(4, 3), Decimal("1.005"))
    assert e[1] == Literal(T.decimal(2, 1), Decimal("-0.5"))
    assert e[2] == Literal(T.decimal(3, 1), Decimal("0.5"))
    assert e[3] == Literal(T.decimal(1, 0), Decimal("1"))
    assert e[4] == Literal(T.FLOAT64, 1000.0) and e[5] == Literal(T.FLOAT64, 0.015)
    assert e[6] == Literal(T.FLOAT64, 123456789012345678901.5)
    assert e[7].dtype == T.FLOAT64 and e[8] == Literal(T.decimal(18, 1), Decimal("12345678901234567.5"))
    assert e[9] == Literal(T.INT64, 7)


def test_decimal_literals_in_arithmetic_and_comparisons():
    p = plan("SELECT qty * 1.5, price * 1.5, ROUND(qty * 1.005, 2), amt - 0.125 "
             "FROM t WHERE price > 0.5 AND amt < 10.125")
    e = [o.expr for o in p.outputs]
    assert [x.dtype for x in e] == [T.decimal(18, 1), T.FLOAT64, T.decimal(18, 2), T.decimal(18, 3)]
    g = plan("SELECT SUM(qty * 1.5), AVG(qty * 0.1), SUM(price * 0.5) FROM t")
    assert [a.dtype for a in g.aggregates] == [T.decimal(38, 1), T.FLOAT64, T.FLOAT64]
    assert p.where.args[0] == Call(T.BOOL, "gt", (ColumnRef(T.FLOAT64, "price"),
                                                  Literal(T.decimal(2, 1), Decimal("0.5"))))


def test_timestamp_comparisons_coerce_strings():
    p = plan("SELECT qty FROM t WHERE ts >= '2024-01-01' AND ts < TIMESTAMP '2024-02-01' AND day = '2024-01-05'")
    lits = [c.args[1] for c in (p.where.args[0].args[0], p.where.args[0].args[1], p.where.args[1])]
    assert lits[0] == Literal(T.timestamp("ms"), dt.datetime(2024, 1, 1))
    assert lits[2] == Literal(T.DATE, dt.date(2024, 1, 5))


def test_emit_clause():
    assert plan("SELECT qty FROM t EMIT CHANGES").emit == "changes"
    p = plan("SELECT symbol, count(*) FROM t GROUP BY symbol EMIT FINAL")
    assert (p.emit, p.emit_explicit) == ("final", True)


def test_result_type_rules():
    assert result_type("add", [T.INT8, T.INT32]) == T.INT64
    assert result_type("mul", [T.UINT8, T.UINT32]) == T.UINT64
    assert result_type("div", [T.INT64, T.INT64]) == T.FLOAT64
    assert result_type("sub", [T.INT64, T.FLOAT32]) == T.FLOAT32     # as DuckDB: BIGINT - FLOAT is FLOAT
    assert result_type("add", [T.decimal(10, 2), T.decimal(10, 3)]) == T.decimal(18, 3)
    assert result_type("mul", [T.decimal(10, 2), T.INT64]) == T.decimal(18, 2)
    assert result_type("mul", [T.decimal(10, 2), T.decimal(10, 3)]) == T.decimal(18, 5)
    assert result_type("add", [T.decimal(10, 2), T.FLOAT64]) == T.FLOAT64
    assert result_type("neg", [T.INT8]) == T.INT8 and result_type("abs", [T.decimal(9, 2)]) == T.decimal(9, 2)
    assert result_type("round", [T.decimal(9, 4)], digits=2) == T.decimal(18, 2)
    assert result_type("floor", [T.INT16]) == T.INT16
    assert result_type("coalesce", [T.NULL, T.INT64, T.FLOAT32]) == T.FLOAT32
    assert result_type("coalesce", [T.INT64, T.decimal(10, 2)]) == T.decimal(18, 2)
    assert result_type("eq", [T.STRING, T.STRING]) == T.BOOL
    with pytest.raises(PlanError, match="scale 20"):
        result_type("mul", [T.decimal(18, 10), T.decimal(18, 10)])
    with pytest.raises(TypeMismatchError):
        result_type("coalesce", [T.STRING, T.INT64])


# ---------------------------------------------------------------- windows
@pytest.mark.parametrize("clause, spec", [
    ("WINDOW TUMBLING(ts, INTERVAL '1' MINUTE)", WindowSpec("tumbling", "ts", size_ms=60_000)),
    ("WINDOW TUMBLING(TS, INTERVAL 2 HOURS)", WindowSpec("tumbling", "ts", size_ms=7_200_000)),
    ("WINDOW TUMBLING(ts, INTERVAL '1 minute')", WindowSpec("tumbling", "ts", size_ms=60_000)),
    ("WINDOW SLIDING(ts, INTERVAL '10' MINUTE, INTERVAL '2' MINUTE)",
     WindowSpec("hopping", "ts", size_ms=600_000, advance_ms=120_000)),
    ("WINDOW SESSION(ts, INTERVAL '30' SECOND)", WindowSpec("session", "ts", gap_ms=30_000)),
    ("WINDOW TUMBLING(1m)", WindowSpec("tumbling", None, size_ms=60_000)),
    ("WINDOW TUMBLING(epoch, 30s)", WindowSpec("tumbling", "epoch", size_ms=30_000)),
    ("WINDOW TUMBLING(500ms)", WindowSpec("tumbling", None, size_ms=500)),
    ("WINDOW SLIDING(1h, 1h)", WindowSpec("hopping", None, size_ms=3_600_000, advance_ms=3_600_000)),
    ("WINDOW SESSION(1d)", WindowSpec("session", None, gap_ms=86_400_000)),
    ("WINDOW TUMBLING (SIZE 1 MINUTE)", WindowSpec("tumbling", None, size_ms=60_000)),
    ("WINDOW TUMBLING (SIZE 1 MINUTE, GRACE PERIOD 10 SECONDS)",
     WindowSpec("tumbling", None, size_ms=60_000, grace_ms=10_000)),
    ("WINDOW HOPPING (SIZE 20 SECONDS, ADVANCE BY 5 SECONDS)",
     WindowSpec("hopping", None, size_ms=20_000, advance_ms=5_000)),
    ("WINDOW SESSION (30 SECONDS)", WindowSpec("session", None, gap_ms=30_000)),
    ("WINDOW TUMBLING (SIZE 250 MILLISECONDS)", WindowSpec("tumbling", None, size_ms=250)),
    ("WINDOW TUMBLING (SIZE 1 DAY)", WindowSpec("tumbling", None, size_ms=86_400_000)),
])
def test_window_syntaxes(clause, spec):
    after = plan(f"SELECT symbol, COUNT(*) FROM t GROUP BY symbol {clause} HAVING COUNT(*) > 0 EMIT CHANGES")
    assert after.window == spec and after.having is not None and after.emit == "changes"
    if "SIZE" in clause or "SESSION (" in clause:   # ksqlDB style may also come before GROUP BY
        before = plan(f"SELECT symbol, COUNT(*) FROM t {clause} GROUP BY symbol")
        assert before.window == spec and before.group_keys == after.group_keys


def test_window_bounds_refs():
    p = plan("SELECT symbol, window_start, WINDOW_END AS we, _window_start, WINDOWSTART, windowend, COUNT(*) "
             "FROM t GROUP BY symbol WINDOW TUMBLING(ts, 1m) HAVING window_end > TIMESTAMP '2024-01-01' "
             "ORDER BY window_start")
    ts = T.timestamp("ms")
    assert [o.expr for o in p.outputs[1:6]] == [WindowRef(ts, "start"), WindowRef(ts, "end"),
                                                WindowRef(ts, "start"), WindowRef(ts, "start"),
                                                WindowRef(ts, "end")]
    assert p.having.args[0] == WindowRef(ts, "end") and p.order_by[0].expr == WindowRef(ts, "start")
    e = plan("SELECT window_start, COUNT(*) FROM t WINDOW TUMBLING(epoch, 1m)")
    assert e.outputs[0].expr == WindowRef(T.timestamp("ms"), "start")


def test_explain_mentions_every_part():
    text = explain(plan("CREATE STREAM o AS SELECT symbol, AVG(price) AS ap FROM t WHERE qty > 0 "
                        "GROUP BY symbol WINDOW HOPPING (SIZE 20 SECONDS, ADVANCE BY 5 SECONDS) "
                        "HAVING COUNT(*) > 1 ORDER BY ap LIMIT 10 EMIT CHANGES"))
    for part in ("source: t", "output: o", "filter: (qty > 0)", "window: hopping on (job event time) "
                 "size=20000ms advance=5000ms", "#0 symbol = symbol", "avg(price) : FLOAT64",
                 "accumulators: sum, n", "ap = agg#0", "having: (agg#1(COUNT(*)) > 1)",
                 "order by: agg#0(AVG(price)) ASC", "limit: 10", "emit: changes"):
        assert part in text, part
