"""The expression compiler against DuckDB on the same data (gpuvelo.expr)."""

import datetime as dt
import math
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from gpuvelo import types as T
from gpuvelo.arrowcol import batch_to_cols, col_to_arrow
from gpuvelo.errors import ArithmeticOverflowError, DataError
from gpuvelo.expr import compile_expr, compile_predicate
from gpuvelo.sql.plan import AggRef, Call, Case, Cast, ColumnRef, KeyRef, Literal, WindowRef

D2, D1, D3 = T.decimal(18, 2), T.decimal(18, 1), T.decimal(18, 3)
SCHEMA = {"i": T.INT64, "j": T.INT64, "x": T.FLOAT64, "y": T.FLOAT64, "s": T.STRING,
          "t": T.STRING, "d": D2, "e": D1, "b": T.BOOL, "c": T.BOOL, "i32": T.INT32,
          "ts": T.timestamp("us"), "ts_ms": T.timestamp("ms"), "dt": T.DATE, "u": T.UINT64}
TABLE = pa.table({
    "i": pa.array([1, None, -7, 7, 0, 9223372036854775807, -5], pa.int64()),
    "j": pa.array([2, 3, 3, -3, 0, None, 0], pa.int64()),
    "x": pa.array([0.5, 1.5, -2.5, 2.675, None, -0.0, 1e300]),
    "y": pa.array([2.0, 0.0, None, -3.0, 0.0, 1.0, 1e300]),
    "s": pa.array(["héllo", None, "abc", "b", "", "Ünïcode", "a_c"]),
    "t": pa.array(["abc", "x", None, "b", "", "Ünïcode", "abd"]),
    "d": pa.array([Decimal("1.25"), Decimal("-2.50"), None, Decimal("0.05"), Decimal("-0.05"),
                   Decimal("2.675"[:4]), Decimal("99999999.99")], pa.decimal128(18, 2)),
    "e": pa.array([Decimal("0.5"), Decimal("1.5"), Decimal("-2.5"), None, Decimal("0.0"),
                   Decimal("-0.5"), Decimal("3.0")], pa.decimal128(18, 1)),
    "b": pa.array([True, True, True, False, False, False, None]),
    "c": pa.array([True, False, None, True, False, None, None]),
    "i32": pa.array([1, 2, None, -4, 5, 6, 7], pa.int32()),
    "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(1969, 12, 31, 23, 59, 59, 500000),
                    dt.datetime(2024, 1, 2), dt.datetime(2000, 2, 29, 12), dt.datetime(2024, 1, 2, 3, 4, 5),
                    dt.datetime(1970, 1, 1)], pa.timestamp("us")),
    "ts_ms": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2), None,
                       dt.datetime(2024, 1, 2), dt.datetime(2000, 1, 1), dt.datetime(2024, 1, 2, 3, 4, 6),
                       dt.datetime(1970, 1, 1)], pa.timestamp("ms")),
    "dt": pa.array([dt.date(2024, 1, 2), dt.date(2024, 1, 3), None, dt.date(2024, 1, 2),
                    dt.date(2000, 2, 29), dt.date(1969, 12, 31), dt.date(1970, 1, 1)]),
    "u": pa.array([1, 2, 3, 18446744073709551615, 0, 5, None], pa.uint64()),
})


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET error_on_division_by_zero=false")
    c.register("t", TABLE)
    return c


def col(name):
    return ColumnRef(SCHEMA[name], name)


def lit(v, dtype):
    return Literal(dtype, v)


def f(op, dtype, *args):
    return Call(dtype, op, tuple(args))


def ours(expr, table=TABLE, schema=SCHEMA):
    out = compile_expr(expr)(batch_to_cols(table, schema))
    assert out.dtype == expr.dtype
    return col_to_arrow(out).to_pylist()


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=1e-12)
    return a == b and type(a) is type(b)


def check(con, expr, sql):
    theirs = [r[0] for r in con.sql(f"SELECT {sql} FROM t").fetchall()]
    got = ours(expr)
    assert len(got) == len(theirs)
    bad = [(k, g, w) for k, (g, w) in enumerate(zip(got, theirs)) if not same(g, w)]
    assert not bad, f"{sql}: (row, ours, duckdb) {bad}"


I, J, X, Y, S, TT = col("i"), col("j"), col("x"), col("y"), col("s"), col("t")
F64, I64, B = T.FLOAT64, T.INT64, T.BOOL

CASES = [
    # arithmetic
    (f("add", I64, col("i32"), J), "i32 + j"),
    (f("sub", I64, col("i32"), J), "i32 - j"),
    (f("mul", I64, col("i32"), J), "i32 * j"),
    (f("div", F64, I, J), "i / j"),
    (f("div", F64, X, Y), "x / y"),
    (f("mod", I64, I, J), "i % j"),
    (f("mod", F64, X, Y), "x % y"),
    (f("neg", I64, col("i32")), "-i32"),
    (f("abs", F64, X), "abs(x)"),
    (f("add", F64, col("i32"), X), "i32 + x"),
    (f("mul", F64, X, Y), "x * y"),
    # decimals (exact)
    (f("add", D2, col("d"), col("e")), "d + e"),
    (f("sub", D2, col("d"), col("i32")), "d - i32"),
    (f("mul", D3, col("d"), col("e")), "d * e"),
    (f("mul", D2, col("d"), col("i32")), "d * i32"),
    (f("mod", D2, col("d"), col("e")), "d % e"),
    (f("div", F64, col("d"), col("e")), "d / e"),
    (f("add", F64, col("d"), X), "d + x"),
    (f("neg", D2, col("d")), "-d"),
    (f("abs", D2, col("d")), "abs(d)"),
    # rounding
    (f("round", F64, X), "round(x)"),
    (f("round", F64, X, lit(2, I64)), "round(x, 2)"),
    (f("round", F64, X, lit(-1, I64)), "round(x, -1)"),
    (f("round", I64, col("i32"), lit(-1, I64)), "round(i32::BIGINT, -1)"),
    (f("round", T.decimal(18, 0), col("e")), "round(e)"),
    (f("round", D1, col("d"), lit(1, I64)), "round(d, 1)"),
    (f("round", T.decimal(18, 0), col("d"), lit(-1, I64)), "round(d, -1)"),
    (f("floor", F64, X), "floor(x)"),
    (f("ceil", F64, X), "ceil(x)"),
    (f("floor", T.decimal(18, 0), col("d")), "floor(d)"),
    (f("ceil", T.decimal(18, 0), col("d")), "ceil(d)"),
    # comparisons across types
    (f("lt", B, I, J), "i < j"),
    (f("ge", B, col("i32"), X), "i32 >= x"),
    (f("eq", B, col("d"), col("e")), "d = e"),
    (f("gt", B, col("d"), lit(0, I64)), "d > 0"),
    (f("lt", B, S, TT), "s < t"),
    (f("eq", B, S, TT), "s = t"),
    (f("ge", B, S, lit("b", T.STRING)), "s >= 'b'"),
    (f("ne", B, S, lit("héllo", T.STRING)), "s <> 'héllo'"),
    (f("lt", B, col("ts"), col("ts_ms")), "ts < ts_ms"),
    (f("eq", B, col("ts"), col("dt")), "ts = dt"),
    (f("gt", B, col("u"), I), "u > i"),
    (f("le", B, col("u"), col("i32")), "u <= i32"),
    # logic, null tests, membership
    (f("and", B, col("b"), col("c")), "b AND c"),
    (f("or", B, col("b"), col("c")), "b OR c"),
    (f("not", B, col("c")), "NOT c"),
    (f("is_null", B, col("c")), "c IS NULL"),
    (f("is_not_null", B, S), "s IS NOT NULL"),
    (f("in", B, I, lit(1, I64), lit(7, I64)), "i IN (1, 7)"),
    (f("in", B, I, lit(1, I64), lit(None, T.NULL)), "i IN (1, NULL)"),
    (f("in", B, S, lit("abc", T.STRING), lit("", T.STRING)), "s IN ('abc', '')"),
    (f("between", B, X, lit(0, I64), Y), "x BETWEEN 0 AND y"),
    # strings
    (f("like", B, S, lit("%l_o", T.STRING)), "s LIKE '%l_o'"),
    (f("like", B, S, lit("a_c", T.STRING)), "s LIKE 'a_c'"),
    (f("like", B, S, lit("%ni%", T.STRING)), "s LIKE '%ni%'"),
    (f("lower", T.STRING, S), "lower(s)"),
    (f("upper", T.STRING, S), "upper(s)"),
    (f("length", I64, S), "length(s)"),
    (f("coalesce", T.STRING, S, TT, lit("none", T.STRING)), "coalesce(s, t, 'none')"),
    (f("coalesce", I64, I, J, lit(-1, I64)), "coalesce(i, j, -1)"),
    (f("nullif", I64, I, J), "nullif(i, j)"),
    (f("nullif", T.STRING, S, TT), "nullif(s, t)"),
    # CASE (first true WHEN wins; NULL condition is not taken)
    (Case(T.STRING, ((f("gt", B, I, J), S), (col("c"), TT)), lit("else", T.STRING)),
     "CASE WHEN i > j THEN s WHEN c THEN t ELSE 'else' END"),
    (Case(I64, ((col("b"), I),), lit(None, T.NULL)), "CASE WHEN b THEN i END"),
    (Case(I64, ((f("lt", B, f("abs", I64, I), lit(10, I64)), f("mul", I64, I, lit(10, I64))),),
          lit(0, I64)), "CASE WHEN abs(i) < 10 THEN i * 10 ELSE 0 END"),
    # casts
    (Cast(T.INT32, col("e")), "CAST(e AS INT)"),
    (Cast(T.INT64, f("div", F64, col("i32"), lit(2, I64))), "CAST(i32 / 2 AS BIGINT)"),
    (Cast(T.STRING, I), "CAST(i AS VARCHAR)"),
    (Cast(T.STRING, X), "CAST(x AS VARCHAR)"),
    (Cast(T.STRING, col("d")), "CAST(d AS VARCHAR)"),
    (Cast(T.STRING, col("b")), "CAST(b AS VARCHAR)"),
    (Cast(T.STRING, col("ts")), "CAST(ts AS VARCHAR)"),
    (Cast(T.STRING, col("dt")), "CAST(dt AS VARCHAR)"),
    (Cast(T.INT64, col("b")), "CAST(b AS BIGINT)"),
    (Cast(F64, col("d")), "CAST(d AS DOUBLE)"),
    (Cast(D1, col("d")), "CAST(d AS DECIMAL(18,1))"),
    (Cast(T.decimal(18, 4), col("i32")), "CAST(i32 AS DECIMAL(18,4))"),
    (Cast(F64, col("i32")), "CAST(i32 AS DOUBLE)"),
    (Cast(T.DATE, col("ts")), "CAST(ts AS DATE)"),
    (Cast(T.timestamp("us"), col("dt")), "CAST(dt AS TIMESTAMP)"),
    (Cast(T.INT64, lit("42", T.STRING)), "CAST('42' AS BIGINT)"),
    (Cast(D2, lit(" 1.5 ", T.STRING)), "CAST(' 1.5 ' AS DECIMAL(18,2))"),
    (Cast(T.DATE, lit("2024-02-29", T.STRING)), "CAST('2024-02-29' AS DATE)"),
    (Cast(T.timestamp("us"), lit("2024-02-29 10:11:12", T.STRING)), "CAST('2024-02-29 10:11:12' AS TIMESTAMP)"),
    (f("lt", B, col("ts"), lit(dt.datetime(2024, 1, 1), T.timestamp("us"))), "ts < TIMESTAMP '2024-01-01'"),
    (f("add", D2, col("d"), lit(Decimal("0.01"), D2)), "d + 0.01"),
    # integers and decimals compare exactly, even where a common DECIMAL(18, s) would overflow
    (f("ge", B, I, col("d")), "i >= d"),
    (f("lt", B, I, lit(Decimal("0.5"), T.decimal(2, 1))), "i < 0.5"),
    (f("gt", B, lit(Decimal("-7.5"), T.decimal(2, 1)), col("i32")), "-7.5 > i32"),
    (f("eq", B, col("d"), col("e")), "d = e"),
    (f("le", B, col("e"), col("d")), "e <= d"),
    (f("ne", B, col("e"), I), "e <> i"),
    (f("between", B, I, col("e"), col("d")), "i BETWEEN e AND d"),
    (f("in", B, col("e"), I, lit(Decimal("-0.50"), D2)), "e IN (i, -0.50)"),
]


@pytest.mark.parametrize("expr,sql", CASES, ids=[c[1] for c in CASES])
def test_against_duckdb(con, expr, sql):
    check(con, expr, sql)


@pytest.mark.parametrize("op,sql", [("and", "AND"), ("or", "OR")])
def test_three_valued_truth_tables(op, sql):
    vals = [True, False, None]
    a = pa.array([p for p in vals for _ in vals], pa.bool_())
    b = pa.array([q for _ in vals for q in vals], pa.bool_())
    tab = pa.table({"p": a, "q": b})
    want = [r[0] for r in duckdb.sql(f"SELECT p {sql} q FROM tab").fetchall()]
    expr = f(op, B, ColumnRef(B, "p"), ColumnRef(B, "q"))
    assert ours(expr, tab, {"p": B, "q": B}) == want
    pred = compile_predicate(expr)(batch_to_cols(tab, {"p": B, "q": B}))
    assert pred.tolist() == [w is True for w in want]
    nots = ours(f("not", B, ColumnRef(B, "p")), tab, {"p": B})
    assert nots == [None if v is None else not v for v in a.to_pylist()]


def test_round_half_cases(con):
    tab = pa.table({"v": [0.5, 1.5, -2.5, 2.5, -0.5, 2.675, 1.005]})
    got = ours(f("round", F64, ColumnRef(F64, "v")), tab, {"v": F64})
    assert got == [1.0, 2.0, -3.0, 3.0, -1.0, 3.0, 1.0]
    got2 = ours(f("round", F64, ColumnRef(F64, "v"), lit(2, I64)), tab, {"v": F64})
    assert got2 == [r[0] for r in duckdb.sql("SELECT round(v, 2) FROM tab").fetchall()]
    assert got2[5] == 2.67    # 2.675 is 2.67499999... in binary, as in DuckDB
    dec = pa.table({"v": pa.array([Decimal(s) for s in ("0.5", "1.5", "-2.5", "2.675", "-2.675")],
                                  pa.decimal128(18, 3))})
    got3 = ours(f("round", D2, ColumnRef(D3, "v"), lit(2, I64)), dec, {"v": D3})
    assert got3 == [Decimal("0.50"), Decimal("1.50"), Decimal("-2.50"), Decimal("2.68"), Decimal("-2.68")]
    got4 = ours(f("round", T.decimal(18, 0), ColumnRef(D3, "v")), dec, {"v": D3})
    assert got4 == [Decimal(1), Decimal(2), Decimal(-3), Decimal(3), Decimal(-3)]
    cast = ours(Cast(T.INT64, ColumnRef(F64, "v")), tab, {"v": F64})
    assert cast == [r[0] for r in duckdb.sql("SELECT CAST(v AS BIGINT) FROM tab").fetchall()]


def test_overflow_raises_on_valid_rows_only():
    tab = pa.table({"a": pa.array([9223372036854775807, 1], pa.int64()), "b": pa.array([1, 1], pa.int64())})
    sch = {"a": I64, "b": I64}
    with pytest.raises(ArithmeticOverflowError, match="9223372036854775807"):
        ours(f("add", I64, ColumnRef(I64, "a"), ColumnRef(I64, "b")), tab, sch)
    with pytest.raises(ArithmeticOverflowError):
        ours(f("mul", I64, ColumnRef(I64, "a"), lit(2, I64)), tab, sch)
    with pytest.raises(ArithmeticOverflowError):
        ours(f("sub", I64, f("neg", I64, ColumnRef(I64, "a")), lit(2, I64)), tab, sch)
    with pytest.raises(ArithmeticOverflowError):
        ours(Cast(T.INT32, ColumnRef(I64, "a")), tab, sch)
    with pytest.raises(ArithmeticOverflowError):
        ours(f("mul", T.decimal(18, 4), ColumnRef(I64, "a"), lit(Decimal("1.0000"), T.decimal(18, 4))), tab, sch)
    # the overflowing value is NULL: no error
    masked = pa.table({"a": pa.array([None, 1], pa.int64()), "b": pa.array([1, 1], pa.int64())})
    assert ours(f("add", I64, ColumnRef(I64, "a"), ColumnRef(I64, "b")), masked, sch) == [None, 2]
    # CASE does not evaluate a branch on rows it does not take
    guarded = Case(I64, ((f("lt", B, ColumnRef(I64, "a"), lit(100, I64)),
                          f("mul", I64, ColumnRef(I64, "a"), lit(2, I64))),), lit(0, I64))
    assert ours(guarded, tab, sch) == [0, 2]


def test_bad_string_cast_is_data_error():
    tab = pa.table({"s": ["1", "x"]})
    with pytest.raises(DataError, match="BIGINT|INT64"):
        ours(Cast(I64, ColumnRef(T.STRING, "s")), tab, {"s": T.STRING})
    # unparsable entries of rows that are not valid are never parsed
    ok = ours(Cast(I64, f("nullif", T.STRING, ColumnRef(T.STRING, "s"), lit("x", T.STRING))),
              tab, {"s": T.STRING})
    assert ok == [1, None]


def test_result_refs_and_literals_only():
    cols = batch_to_cols(pa.table({"k0": [1, 2], "a0": [10.0, 20.0], "window_start": [5, 6]}),
                         {"k0": I64, "a0": F64, "window_start": I64})
    e = f("add", F64, f("mul", F64, KeyRef(I64, 0), AggRef(F64, 0)), WindowRef(I64, "start"))
    assert col_to_arrow(compile_expr(e)(cols)).to_pylist() == [15.0, 46.0]
    one = compile_expr(f("add", I64, lit(1, I64), lit(2, I64)))({}, n=3)
    assert col_to_arrow(one).to_pylist() == [3, 3, 3]
    assert one.data.flags.c_contiguous
    assert compile_predicate(lit(None, T.NULL))({}, n=2).tolist() == [False, False]


def test_string_results_are_codes_into_a_dictionary():
    out = compile_expr(f("coalesce", T.STRING, S, TT))(batch_to_cols(TABLE, SCHEMA))
    assert out.data.dtype == np.int32 and isinstance(out.dictionary, pa.Array)
    assert out.dictionary.type == pa.string()


# --------------------------------------------------------------------------- NaN ordering
NAN, INF = float("nan"), float("inf")
F32 = T.FLOAT32
NAN_SCHEMA = {"x": F64, "y": F64, "g": F32}
NAN_TABLE = pa.table({
    "x": pa.array([NAN, 1.0, -0.0, None, INF, -INF, NAN, 0.0, NAN]),
    "y": pa.array([NAN, NAN, 0.0, 1.0, NAN, -INF, 1.0, None, INF]),
    "g": pa.array([NAN, 1.0, 0.0, None, INF, NAN, -INF, -0.0, 2.0], pa.float32()),
})
NX, NY, NG = (ColumnRef(NAN_SCHEMA[n], n) for n in ("x", "y", "g"))
HALF = lit(Decimal("0.5"), T.decimal(2, 1))
NAN_CASES = [
    *((f(op, B, NX, NY), f"x {s} y") for op, s in
      (("eq", "="), ("ne", "<>"), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="))),
    *((f(op, B, NG, NX), f"g {s} x") for op, s in (("eq", "="), ("lt", "<"), ("ge", ">="))),
    *((f(op, B, NX, HALF), f"x {s} 0.5") for op, s in (("eq", "="), ("gt", ">"), ("le", "<="))),
    (f("between", B, NX, NY, lit(INF, F64)), "x BETWEEN y AND 'inf'::DOUBLE"),
    (f("between", B, NX, HALF, NY), "x BETWEEN 0.5 AND y"),
    (f("in", B, NX, NY, lit(1.0, F64)), "x IN (y, 1.0::DOUBLE)"),
    (f("nullif", F64, NX, NY), "NULLIF(x, y)"),
    (Case(I64, ((f("eq", B, NX, NY), lit(1, I64)), (f("eq", B, NX, lit(0.0, F64)), lit(2, I64))),
          lit(3, I64)), "CASE x WHEN y THEN 1 WHEN 0.0::DOUBLE THEN 2 ELSE 3 END"),
]


@pytest.mark.parametrize("expr,sql", NAN_CASES, ids=[c[1] for c in NAN_CASES])
def test_float_comparisons_use_duckdbs_total_order(expr, sql):
    """NaN = NaN and NaN sorts above +inf; -0.0 = 0.0 (DuckDB is the referee)."""
    tab = NAN_TABLE   # noqa: F841 (read by DuckDB)
    want = [r[0] for r in duckdb.sql(f"SELECT {sql} FROM tab").fetchall()]
    got = ours(expr, NAN_TABLE, NAN_SCHEMA)
    assert all(same(g, w) for g, w in zip(got, want)) and len(got) == len(want), (got, want)


def test_nan_predicate_keeps_nan_rows():
    pred = compile_predicate(f("ge", B, NX, lit(0.0, F64)))(batch_to_cols(NAN_TABLE, NAN_SCHEMA))
    assert pred.tolist() == [True, True, True, False, True, False, True, True, True]


# --------------------------------------------------------------------------- decimal literals
LIT_SCHEMA = {"k": I64, "x": F64}
LIT_TABLE = pa.table({"k": pa.array([1, 2, 3, -3, None], pa.int64()),
                      "x": pa.array([0.5, 0.4, NAN, -0.5, 1.0])})
LIT_SQL = ["ROUND(k * 1.005, 2)", "CAST(k * 0.5 AS INTEGER)", "CAST(0.5 AS INTEGER)",
           "CAST(-2.5 AS BIGINT)", "k * 1.5 + 0.25", "x > 0.5", "x = 0.5", "k >= 1.5", "k * 1e3",
           "x * 0.1", "k + 123456789012345678901.5", "COALESCE(k, 0.5)", "k % 1.5"]


@pytest.mark.parametrize("sql", LIT_SQL)
def test_planned_numeric_literals_agree_with_duckdb(sql):
    """Literals typed by the planner (exact DECIMAL, or DOUBLE) compile and give DuckDB's values."""
    from gpuvelo.sql import plan_query
    expr = plan_query(f"SELECT {sql} FROM tab", LIT_SCHEMA).outputs[0].expr
    tab = LIT_TABLE   # noqa: F841 (read by DuckDB)
    want = [r[0] for r in duckdb.sql(f"SELECT {sql} FROM tab").fetchall()]
    got = ours(expr, LIT_TABLE, LIT_SCHEMA)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g is None and w is None) or (isinstance(g, float) and same(g, float(w))) or g == w, (got, want)
