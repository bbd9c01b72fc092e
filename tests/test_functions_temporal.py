"""Date and time functions, checked against DuckDB on the same data (``differential.py``).

Data: the shared random table (a few days of 2024) and a wide table whose moments span the
years 1100..9900 and straddle 1970 (negative ticks: floor, not truncation), with midnights,
month ends and leap days (month arithmetic clamps), TIMESTAMP(s|ms|ns) columns (the
nanosecond one with sub-microsecond parts near midnight, where DuckDB rounds for some
functions and not for others) and a UTC time-zone-aware column.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from differential import assert_same_rows, duckdb_table, engine_table, random_table, rows, run_both
from sqlglot import exp

import gpuvelo
from gpuvelo.errors import (ArithmeticOverflowError, DataError, NotSupportedError, PlanError,
                            SqlSyntaxError, TypeMismatchError)
from gpuvelo.expr.temporal import civil_from_days, days_from_civil
from gpuvelo.sql import parse_query
from gpuvelo.timeparts import parse_interval

US_DAY = 86_400_000_000
PARTS = ("year month day decade century millennium microseconds milliseconds second minute hour "
         "epoch dow isodow week doy quarter yearweek isoyear era julian").split()
TRUNC_UNITS = [p for p in PARTS if p != "era"]


def _wide_table(n: int = 400) -> pa.Table:
    rng = np.random.default_rng(20240917)
    us = rng.integers(-27_000_000_000_000_000, 250_000_000_000_000_000, n)   # 1114 .. 9892
    us[:80] = rng.integers(-10**12, 10**12, 80)                          # around 1970
    us[80:120] = us[80:120] // US_DAY * US_DAY                            # midnights
    month_ends = [dt.date(2024, 1, 31), dt.date(2023, 1, 31), dt.date(2024, 2, 29),
                  dt.date(1900, 2, 28), dt.date(2000, 2, 29), dt.date(1969, 12, 31),
                  dt.date(2024, 3, 31), dt.date(2024, 12, 31)]
    epoch = dt.date(1970, 1, 1)
    us[120:120 + len(month_ends)] = [((e - epoch).days * US_DAY) + 3_600_000_000 for e in month_ends]
    near = rng.integers(-2_000_000_000_000_000, 2_000_000_000_000_000, n)    # 1906 .. 2033
    ns = near * 1000 + rng.integers(-1000, 1000, n)
    ns[:60] = ns[:60] // (US_DAY * 1000) * (US_DAY * 1000) + rng.choice([-1, -500, -501, 499, 500, 0], 60)
    null = rng.random(n) < 0.1
    return pa.table({
        "ts": pa.array(us, pa.timestamp("us"), mask=null),
        "ts2": pa.array(us + rng.integers(-40 * US_DAY, 40 * US_DAY, n), pa.timestamp("us")),
        "d": pa.array((us // US_DAY).astype(np.int32), pa.date32(), mask=rng.random(n) < 0.1),
        "s": pa.array(near // 1_000_000, pa.timestamp("s")),
        "ms": pa.array(near // 1_000, pa.timestamp("ms"), mask=null),
        "ns": pa.array(ns, pa.timestamp("ns"), mask=rng.random(n) < 0.1),
        "tz": pa.array(near, pa.timestamp("us", "UTC"), mask=null),
        "q": pa.array(rng.integers(-40, 40, n), mask=rng.random(n) < 0.1),
        "f": pa.array(rng.normal(size=n) * 1e9, mask=null),
        "ims": pa.array(rng.integers(-10**12, 10**12, n)),
        "y": pa.array(rng.integers(1000, 3000, n)), "m": pa.array(rng.integers(1, 13, n)),
        "dd": pa.array(rng.integers(1, 29, n), mask=null),
        "k": pa.array(rng.integers(0, 3, n)),
    })


WIDE = {"t": _wide_table()}
SMALL = {"t": random_table(np.random.default_rng(7), 200)}


def check(query: str, backend: str, tables: dict = WIDE, **kw):
    """Run ``query`` in gpuvelo on ``backend`` and in DuckDB; assert they agree."""
    return run_both(query, tables, backend=backend, **kw)


def _select(template: str, items) -> str:
    return "SELECT " + ", ".join(template.format(x) for x in items) + " FROM t"


# --------------------------------------------------------------------------- calendar helpers
def _civil(days: int) -> tuple[int, int, int]:
    date = dt.date(1970, 1, 1) + dt.timedelta(days=days)
    return date.year, date.month, date.day


def test_civil_day_numbers_round_trip_against_python_dates():
    days = np.arange(-719_162, 2_932_896, 37, dtype=np.int64)   # 0001-01-01 .. 9999-12-31
    y, m, d = civil_from_days(np, days)
    want = [_civil(int(x)) for x in days[::50]]
    assert [(int(a), int(b), int(c)) for a, b, c in zip(y[::50], m[::50], d[::50])] == want
    assert np.array_equal(days_from_civil(np, y, m, d), days)


# --------------------------------------------------------------------------- extraction
@pytest.mark.parametrize("col", ["ts", "d", "s", "ms", "ns"])
def test_date_part_every_part(col, backend):
    check(_select(f"date_part('{{}}', {col})", PARTS), backend)


def test_extract_and_part_spellings(backend):
    check("SELECT EXTRACT(year FROM ts), EXTRACT(hour FROM ts), EXTRACT(epoch FROM ts), "
          "EXTRACT(dow FROM d), datepart('minute', ts), date_part('HOURS', ts), "
          "date_part('yrs', d), date_part('mon', ts), date_part('ms', ts), date_part('us', ts), "
          "date_part('w', d), date_part('jd', d), date_part('timezone', ts) FROM t", backend)


ONE_PART = ("year month day dayofmonth hour minute second millisecond microsecond nanosecond "
            "quarter week weekofyear dayofweek weekday isodow dayofyear epoch epoch_ms epoch_us "
            "yearweek isoyear era julian decade century millennium").split()


@pytest.mark.parametrize("col", ["ts", "d", "ns"])
def test_one_part_functions(col, backend):
    names = ONE_PART if col != "ns" else [f for f in ONE_PART if f != "epoch_ms"]
    check(_select(f"{{}}({col})", names), backend)


def test_epoch_ns_and_units_of_timestamps(backend):
    check("SELECT epoch_ns(s), epoch_us(d), epoch_ns(ns), epoch_us(ns), epoch_us(s), "
          "epoch_ns(ms), nanosecond(s), second(ms), epoch(ms), epoch_ms(d) FROM t", backend)


# --------------------------------------------------------------------------- date_trunc
@pytest.mark.parametrize("col", ["ts", "d", "s", "ms", "ns"])
def test_date_trunc_every_unit(col, backend):
    check(_select(f"date_trunc('{{}}', {col})", TRUNC_UNITS), backend)


def test_datetrunc_spelling_and_null_unit(backend):
    check("SELECT datetrunc('hour', ts), date_trunc('WEEK', d), date_trunc(NULL, ts) FROM t", backend)


# --------------------------------------------------------------------------- date_diff
@pytest.mark.parametrize("pair", [("ts", "ts2"), ("d", "ts2"), ("ns", "ts"), ("s", "d"), ("ts2", "ms")])
def test_date_diff_every_unit(pair, backend):
    a, b = pair
    check(_select(f"date_diff('{{}}', {a}, {b})", TRUNC_UNITS), backend)


def test_datediff_spelling(backend):
    check("SELECT datediff('day', d, ts2), date_diff('week', ts2, d), "
          "date_diff('hour', ts, ts + INTERVAL 90 MINUTE) FROM t", backend)


# --------------------------------------------------------------------------- intervals
@pytest.mark.parametrize("col", ["ts", "d", "s", "ms", "ns"])
def test_interval_arithmetic(col, backend):
    c = col
    check(f"SELECT {c} + INTERVAL 1 HOUR, {c} - INTERVAL '15 minutes', {c} + INTERVAL 1 DAY, "
          f"{c} + INTERVAL '1 month', {c} - INTERVAL 13 MONTH, INTERVAL 2 WEEK + {c}, "
          f"{c} + INTERVAL '1 year 2 months 3 days 04:05:06.789', {c} + INTERVAL '1.5 hours', "
          f"{c} + INTERVAL 1.5 HOUR, {c} + INTERVAL '1.9' SECOND, date_add({c}, INTERVAL 1 QUARTER), "
          f"{c} - INTERVAL '2 hours 3 minutes ago', "
          f"{c} + CAST('36 hours' AS INTERVAL), {c} + INTERVAL 1 DAY + INTERVAL 1 MONTH FROM t", backend)


@pytest.mark.parametrize("col", ["ts", "d", "ns"])
def test_interval_with_a_computed_quantity(col, backend):
    check(f"SELECT {col} + INTERVAL (q) DAY, {col} - INTERVAL (q) MONTH, "
          f"{col} + INTERVAL (q * 1000) MICROSECOND, {col} - INTERVAL (q) YEAR FROM t", backend)


def test_month_arithmetic_clamps_to_the_month_end(backend):
    rows_ = check("SELECT d, d + INTERVAL 1 MONTH, d - INTERVAL 1 MONTH, d + INTERVAL 1 YEAR "
                  "FROM t WHERE day(d) >= 28 ORDER BY d", backend)
    assert (dt.date(2024, 1, 31), dt.datetime(2024, 2, 29), dt.datetime(2023, 12, 31),
            dt.datetime(2025, 1, 31)) in rows_


# --------------------------------------------------------------------------- time_bucket
@pytest.mark.parametrize("col", ["ts", "d", "ns", "ms"])
def test_time_bucket(col, backend):
    c = col
    check(f"SELECT time_bucket(INTERVAL '15 minutes', {c}), time_bucket(INTERVAL 1 HOUR, {c}), "
          f"time_bucket(INTERVAL '7 days', {c}), time_bucket(INTERVAL '1 week', {c}), "
          f"time_bucket(INTERVAL '1 month', {c}), time_bucket(INTERVAL '7 months', {c}), "
          f"time_bucket(INTERVAL '1 year', {c}), time_bucket(INTERVAL '90 minutes', {c}) FROM t", backend)


@pytest.mark.parametrize("col", ["ts", "d"])
def test_time_bucket_origin_and_offset(col, backend):
    c = col
    check(f"SELECT time_bucket(INTERVAL '1 hour', {c}, TIMESTAMP '2000-01-01 00:30:00'), "
          f"time_bucket(INTERVAL '7 months', {c}, DATE '1990-05-17'), "
          f"time_bucket(INTERVAL '3 days', {c}, DATE '1990-05-17'), "
          f"time_bucket(INTERVAL '1 hour', {c}, INTERVAL '30 minutes'), "
          f"time_bucket(INTERVAL '1 month', {c}, INTERVAL '3 days'), "
          f"time_bucket(INTERVAL '2 days', {c}, INTERVAL '-36 hours'), "
          f"time_bucket(INTERVAL '3 days', {c}, ts2) FROM t", backend)


# --------------------------------------------------------------------------- strings
STRFTIME = ("%a %A %w %u %d %-d %b %h %B %m %-m %y %-y %Y %G %H %-H %I %-I %p %M %-M %S %-S "
            "%f %g %n %z %Z %j %-j %U %W %V %c %x %X %T %% text")


@pytest.mark.parametrize("col", ["ts", "d", "s", "ns"])
def test_strftime(col, backend):
    check(f"SELECT strftime({col}, '{STRFTIME}'), strftime('%Y/%m/%d', {col}), "
          f"strftime({col}, 'no specifiers'), strftime({col}, NULL) FROM t", backend)


def test_dayname_monthname_last_day(backend):
    check("SELECT dayname(ts), monthname(ts), last_day(ts), dayname(d), monthname(d), "
          "last_day(d), dayname(ns), last_day(ns), last_day(ms) FROM t", backend)


# --------------------------------------------------------------------------- constructors
def test_make_date_epoch_ms_make_timestamp(backend):
    check("SELECT make_date(y, m, dd), make_date(2024, 2, 29), epoch_ms(ims), make_timestamp(ims) "
          "FROM t", backend)


# --------------------------------------------------------------------------- in queries
@pytest.mark.parametrize("batch_size", [None, 7])
def test_group_by_date_trunc_the_streaming_query(batch_size, backend):
    check("SELECT date_trunc('hour', ts) AS h, COUNT(*) AS n, SUM(i) AS si, MAX(ts) AS last "
          "FROM t GROUP BY date_trunc('hour', ts)", backend, SMALL, batch_size=batch_size)
    check("SELECT time_bucket(INTERVAL '15 minutes', ts) AS b, k1, COUNT(*) FROM t "
          "GROUP BY 1, k1", backend, SMALL, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_string_keys_and_aggregates_of_temporal_functions(batch_size, backend):
    check("SELECT dayname(ts) AS day, strftime(ts, '%Y-%m-%d %H') AS hour, COUNT(*), "
          "SUM(hour(ts)), MIN(date_diff('minute', d, ts)), MAX(epoch(ts)) "
          "FROM t GROUP BY dayname(ts), strftime(ts, '%Y-%m-%d %H')", backend, SMALL,
          batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_functions_over_aggregates(batch_size, backend):
    check("SELECT k, MAX(ts) - INTERVAL 1 DAY, date_trunc('month', MIN(d)), "
          "strftime(MAX(ts), '%Y-%m-%d'), year(MAX(d)) + 1, "
          "date_diff('day', MIN(ts), MAX(ts)) FROM t GROUP BY k", backend, batch_size=batch_size)


def test_temporal_functions_in_where(backend):
    check("SELECT ts, d FROM t WHERE hour(ts) BETWEEN 9 AND 17 AND dayofweek(ts) IN (1, 2, 3) "
          "AND ts + INTERVAL 1 DAY > TIMESTAMP '2024-01-02 00:00:00' "
          "AND date_trunc('day', ts) <> DATE '2024-01-03'", backend, SMALL)
    check("SELECT ts FROM t WHERE time_bucket(INTERVAL 1 HOUR, ts) = TIMESTAMP '2024-01-02 10:00:00' "
          "OR strftime(ts, '%H') = '03'", backend, SMALL)


def test_time_zone_aware_timestamps_compute_in_utc(backend):
    """TIMESTAMP WITH TIME ZONE (also what to_timestamp returns): the same answers as DuckDB
    with ``SET TimeZone='UTC'``."""
    query = ("SELECT hour(tz), date_part('dow', tz), date_trunc('day', tz), tz + INTERVAL 1 MONTH, "
             "time_bucket(INTERVAL '1 hour', tz), strftime(tz, '%Y-%m-%d %H:%M %z %Z'), "
             "last_day(tz), date_diff('hour', tz, ts2), to_timestamp(q), to_timestamp(f), "
             "to_timestamp(ims // 1000), year(to_timestamp(f)) FROM t")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        con.register("t", WIDE["t"])
        expected = rows(con.sql(query).to_arrow_table())
    finally:
        con.close()
    actual = engine_table(query, WIDE, backend=backend)
    assert actual.schema.field(2).type == pa.timestamp("us", "UTC")
    assert_same_rows(rows(actual), expected, ordered=False, context=query)


# --------------------------------------------------------------------------- types and names
def test_result_types_follow_duckdb(backend):
    query = ("SELECT date_trunc('hour', ts), date_trunc('day', d), date_trunc('hour', ns), "
             "date_part('hour', ts), epoch(ts), julian(d), ns + INTERVAL 1 HOUR, d + INTERVAL 1 DAY, "
             "s - INTERVAL 1 DAY, time_bucket(INTERVAL 1 DAY, d), time_bucket(INTERVAL 1 DAY, ns), "
             "time_bucket(INTERVAL 1 HOUR, d, TIMESTAMP '2000-01-01'), strftime(d, '%Y'), "
             "make_date(2024, 1, 1), last_day(ts), date_diff('day', d, ts), epoch_ms(ims), "
             "dayname(d) FROM t")
    got = engine_table(query, WIDE, backend=backend).schema.types
    con = duckdb.connect()
    try:
        con.register("t", WIDE["t"])
        want = con.sql(query).to_arrow_table().schema.types
    finally:
        con.close()
    assert got == want


def test_interval_syntax_keeps_its_text_as_the_column_name(backend):
    out = gpuvelo.sql("SELECT ts + INTERVAL 1 HOUR, date_trunc('hour', ts) AS h FROM t",
                      backend=backend, **SMALL)
    assert out.column_names == ["ts + INTERVAL '1' HOUR", "h"]


def test_null_arguments(backend):
    out = gpuvelo.sql("SELECT year(NULL), date_trunc('day', NULL), make_date(2024, NULL, 1), "
                      "strftime(NULL, '%Y'), NULL + INTERVAL 1 DAY FROM t LIMIT 1",
                      backend=backend, **SMALL)
    assert rows(out) == [(None, None, None, None, None)]
    assert out.schema.types[:3] == [pa.int64(), pa.timestamp("us"), pa.date32()]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("query, error, words", [
    ("SELECT date_trunc('fortnight', ts) FROM t", PlanError, "unit"),
    ("SELECT date_part('era', s) FROM t WHERE date_trunc('era', ts) IS NULL", PlanError, "unit"),
    ("SELECT date_part(k2, ts) FROM t", PlanError, "literal"),
    ("SELECT year(s) FROM t", TypeMismatchError, "DATE or TIMESTAMP"),
    ("SELECT date_part('timezone', d) FROM t", TypeMismatchError, "TIMESTAMP"),
    ("SELECT ts + INTERVAL 1 FORTNIGHT FROM t", SqlSyntaxError, "FORTNIGHT"),
    ("SELECT ts + INTERVAL 'soon' FROM t", PlanError, "INTERVAL 'soon'"),
    ("SELECT ts + INTERVAL '1 hour 2 fortnights' FROM t", PlanError, "fortnights"),
    ("SELECT ts + INTERVAL '1.5 months' FROM t", NotSupportedError, "fractional"),
    ("SELECT ts + INTERVAL (f) HOUR FROM t", TypeMismatchError, "integer"),
    ("SELECT time_bucket(INTERVAL '0 minutes', ts) FROM t", PlanError, "greater than 0"),
    ("SELECT time_bucket(INTERVAL '1 month 1 day', ts) FROM t", NotSupportedError, "month"),
    ("SELECT strftime(ts, '%Q') FROM t", PlanError, "%Q"),
    ("SELECT strftime(ts, s) FROM t", PlanError, "literal"),
    ("SELECT make_date(2024, 1.5, 1) FROM t", TypeMismatchError, "integers"),
])
def test_plan_errors_say_what_and_where(query, error, words, backend):
    with pytest.raises(error) as info:
        gpuvelo.sql(query, backend=backend, **SMALL)
    assert words in str(info.value)
    assert info.value.line == 1 and info.value.column is not None


def test_data_errors(backend):
    with pytest.raises(DataError, match="2023-2-29"):
        gpuvelo.sql("SELECT make_date(y, 2, 29) FROM t", backend=backend,
                    t={"y": pa.array([2024, 2023])})
    with pytest.raises(ArithmeticOverflowError):
        gpuvelo.sql("SELECT ns + INTERVAL 1000 YEAR FROM t", backend=backend, **WIDE)
    with pytest.raises(DataError, match="out of range"):
        gpuvelo.sql("SELECT to_timestamp(f * 1e300) FROM t", backend=backend, **WIDE)


# --------------------------------------------------------------------------- interval text
@pytest.mark.parametrize("sql, text, unit", [
    ("INTERVAL '1' HOUR", "1", "HOUR"), ("INTERVAL 1 HOUR", "1", "HOUR"),
    ("INTERVAL '1 hour'", "1", "HOUR"), ("INTERVAL '-15 minutes'", "-15", "MINUTES"),
    ("INTERVAL '1e2' DAY", "100", "DAY"),
    ("INTERVAL '1 day 2 hours'", "1 day 2 hours", None),
    ("INTERVAL '2 hours ago'", "2 hours ago", None),           # sqlglot: '2' HOURS
    ("INTERVAL '1 hour and a bit'", "1 hour and a bit", None),  # sqlglot: '1' HOUR
    ("INTERVAL '+3 days'", "+3 days", None),
])
def test_the_dialect_keeps_interval_text_it_cannot_split_exactly(sql, text, unit):
    node = parse_query(f"SELECT {sql} FROM t").tree.expressions[0]
    assert isinstance(node, exp.Interval) and node.this.name == text
    assert (node.args.get("unit").name if node.args.get("unit") else None) == unit


def test_a_word_that_is_no_duckdb_unit_is_an_alias_after_a_string():
    node = parse_query("SELECT INTERVAL '1' d FROM t").tree.expressions[0]   # one second
    assert isinstance(node, exp.Alias) and node.alias == "d" and node.this.args.get("unit") is None
    node = parse_query("SELECT INTERVAL (q) DAY FROM t").tree.expressions[0]
    assert node.args["unit"].name == "DAY"


@pytest.mark.parametrize("text, want", [
    ("3", (0, 3_000_000)), ("-0.5", (0, -500_000)), ("5.", (0, 5_000_000)),
    ("@ 1 day", (0, 86_400_000_000)), ("@ -1 day ago", (0, 86_400_000_000)),
    ("2 hours ago", (0, -7_200_000_000)), ("-2 hours ago", (0, 7_200_000_000)),
    ("1 year 2 days ago", (-12, -172_800_000_000)), ("1 day -04:05", (0, 71_700_000_000)),
    ("3 hours 04:05", (0, 25_500_000_000)),
])
def test_parse_interval_reads_duckdb_interval_text(text, want):
    assert parse_interval(text) == want


@pytest.mark.parametrize("text", ["+3 days", ".5", "3 ago", "1 day 3", "04:05 1 day",
                                  "1 hour and a bit", "1 day ago ago", "@", "2:3:4:5"])
def test_parse_interval_rejects_what_duckdb_rejects(text):
    with pytest.raises(PlanError):
        parse_interval(text)


@pytest.mark.parametrize("col", ["ts", "d", "ns"])
def test_interval_text_forms(col, backend):
    c = col
    check(f"SELECT {c} + INTERVAL '2 hours ago', {c} - INTERVAL '1 day 2 hours ago', "
          f"{c} + INTERVAL '-2 hours ago', {c} + INTERVAL '@ 1 day', {c} + INTERVAL '3', "
          f"{c} - INTERVAL '-0.5', {c} + INTERVAL '1e2' DAY, {c} + INTERVAL '+1.5' SECOND, "
          f"{c} + (INTERVAL '1 day' + INTERVAL '2 hours ago'), {c} - (INTERVAL 1 MONTH), "
          f"INTERVAL '1 month' + INTERVAL '2 days ago' + {c}, {c} + INTERVAL '1day2hours', "
          f"{c} + INTERVAL 2 WEEKS FROM t", backend)


def test_interval_text_in_where_and_group_by(backend):
    check("SELECT ts - INTERVAL '30 minutes ago' AS later, COUNT(*) FROM t "
          "WHERE ts > TIMESTAMP '2024-01-03 00:00:00' + INTERVAL '12 hours ago' "
          "GROUP BY ts - INTERVAL '30 minutes ago'", backend, SMALL, batch_size=7)


@pytest.mark.parametrize("query, error, words", [
    ("SELECT ts + INTERVAL '1 hour and a bit' FROM t", PlanError, "1 hour and a bit"),
    ("SELECT ts + INTERVAL '+3 days' FROM t", PlanError, "+3 days"),
    ("SELECT ts + INTERVAL '1 day' HOUR FROM t", SqlSyntaxError, "names its unit"),
    ("SELECT ts + INTERVAL '1 day 2 hours' DAYS FROM t", SqlSyntaxError, "names its unit"),
    ("SELECT ts + INTERVAL 1 DAY + 5 FROM t", SqlSyntaxError, "INTERVAL before each part"),
    ("SELECT ts + INTERVAL 1 DAY + '2 hours' FROM t", SqlSyntaxError, "INTERVAL before each part"),
    ("SELECT ts + INTERVAL 1 h FROM t", SqlSyntaxError, "unit h"),
    ("SELECT ts + INTERVAL (q) hrs FROM t", SqlSyntaxError, "unit hrs"),
    ("SELECT ts + INTERVAL '04:05:06 ago' FROM t", NotSupportedError, "ago"),
    ("SELECT ts + INTERVAL '3 ago' FROM t", PlanError, "3 ago"),
])
def test_interval_text_errors(query, error, words, backend):
    with pytest.raises(error) as info:
        gpuvelo.sql(query, backend=backend, **WIDE)
    assert words in str(info.value)
    assert info.value.line == 1 and info.value.column is not None


# --------------------------------------------------------------------------- date arithmetic
DATE_ARITHMETIC = ("SELECT d - d, d + k1, k1 + d, d - k1, d + 1, d - 1, 1 + d, d + i16, d + -5, "
                   "d - DATE '2024-01-01', DATE '2024-01-01' - d, d + NULL, NULL + d, d - NULL, "
                   "NULL - d, ts + NULL, NULL + ts, ts - NULL, d - 1 - 1 FROM t")


def test_date_arithmetic_values_and_types(backend):
    check(DATE_ARITHMETIC, backend, SMALL)
    got = engine_table(DATE_ARITHMETIC, SMALL, backend=backend).schema.types
    assert got == duckdb_table(DATE_ARITHMETIC, SMALL).schema.types


@pytest.mark.parametrize("batch_size", [None, 7])
def test_date_arithmetic_in_where_group_by_and_aggregates(batch_size, backend):
    check("SELECT d + 1 AS next, COUNT(*), SUM(d - DATE '2023-12-01'), MIN(d + k1), "
          "MAX(d) - MIN(d), MAX(d) + 1 FROM t WHERE d - 1 >= DATE '2024-01-01' "
          "AND d + k1 <> DATE '2024-01-05' GROUP BY d + 1", backend, SMALL, batch_size=batch_size)
    check("SELECT k, MAX(d) - MIN(d), MIN(d) - MAX(d), MIN(d) + 30, SUM(d - d) FROM t GROUP BY k",
          backend, batch_size=batch_size)


def test_date_arithmetic_range(backend):
    days = pa.array([2_147_483_646, 7])
    one = {"t": pa.table({"d": pa.array([0, None], pa.date32()), "n": days})}
    assert engine_table("SELECT d + n - d FROM t", one, backend=backend).column(0).to_pylist() \
        == [2_147_483_646, None]
    with pytest.raises(ArithmeticOverflowError, match="date out of range"):
        gpuvelo.sql("SELECT d + (n + 1) FROM t", backend=backend, **one)
    with pytest.raises(ArithmeticOverflowError, match="date out of range"):
        gpuvelo.sql("SELECT d - (n + 1) FROM t", backend=backend, **one)


@pytest.mark.parametrize("query, error, words", [
    ("SELECT ts + 1 FROM t", TypeMismatchError, "INTERVAL"),
    ("SELECT d + d FROM t", TypeMismatchError, "DATE"),
    ("SELECT 1 - d FROM t", TypeMismatchError, "DATE"),
    ("SELECT d * 2 FROM t", TypeMismatchError, "mul"),
    ("SELECT d + f FROM t", TypeMismatchError, "integer"),
])
def test_date_arithmetic_errors(query, error, words, backend):
    with pytest.raises(error) as info:
        gpuvelo.sql(query, backend=backend, **WIDE)
    assert words in str(info.value)
    assert info.value.line == 1


# --------------------------------------------------------------------------- casts between units
def _halves() -> pa.Table:
    """Values at and around the rounding halves of every unit, both signs, around midnight."""
    base = np.array([0, 499, 500, 501, 999, 1_500, 2_500, 499_999, 500_000, 500_001, 1_500_000,
                     2_500_000, 499_999_999, 500_000_000, 1_500_000_000], dtype=np.int64)
    day = 86_400 * 10**9
    ticks = np.concatenate([base, -base, day - base, -day + base, -day - base])
    null = np.zeros(len(ticks), dtype=bool)
    null[-1] = True
    return pa.table({"ns": pa.array(ticks, pa.timestamp("ns"), mask=null),
                     "us": pa.array(ticks, pa.timestamp("us")),
                     "ms": pa.array(ticks // 1000, pa.timestamp("ms")),
                     "s": pa.array(ticks // 10**6, pa.timestamp("s"), mask=null),
                     "d": pa.array((ticks // 10**11).astype(np.int32), pa.date32())})


def _ticks(table: pa.Table):
    """Column types and int64 values (timestamps and dates as their raw integers)."""
    return ([str(t) for t in table.schema.types],
            [c.cast(pa.int64() if pa.types.is_timestamp(c.type) else pa.int32()).to_pylist()
             for c in table.columns])


def test_casts_between_timestamp_units_and_dates_round_like_duckdb(backend):
    """DuckDB rounds half away from zero to a coarser unit (ns -> ms directly, not through
    us), floors to DATE (TIMESTAMP_NS rounded to microseconds first), multiplies to a finer
    unit."""
    tables = {"t": _halves()}
    query = ("SELECT CAST(ns AS TIMESTAMP), CAST(ns AS TIMESTAMP_MS), CAST(ns AS DATE), "
             "CAST(us AS TIMESTAMP_MS), CAST(us AS TIMESTAMP_S), CAST(us AS DATE), "
             "CAST(us AS TIMESTAMP_NS), CAST(ms AS TIMESTAMP_S), CAST(ms AS TIMESTAMP), "
             "CAST(ms AS DATE), CAST(ms AS TIMESTAMP_NS), CAST(s AS TIMESTAMP_MS), "
             "CAST(s AS DATE), CAST(s AS TIMESTAMP_NS), CAST(d AS TIMESTAMP), CAST(d AS TIMESTAMP_S), "
             "CAST(d AS TIMESTAMP_MS), CAST(d AS TIMESTAMP_NS), "
             "CAST(CAST(ns AS TIMESTAMP) AS TIMESTAMP_S) FROM t")
    assert _ticks(engine_table(query, tables, backend=backend)) == \
        _ticks(duckdb_table(query, tables))


def test_casts_of_strings_to_coarse_timestamps_round(backend):
    text = {"t": pa.table({"s": ["2024-01-01 00:00:01.7", "1969-12-31 23:59:59.5",
                                  "2024-01-01 23:59:59.9", "2024-01-01 00:00:01.0015", None]})}
    query = "SELECT CAST(s AS TIMESTAMP_S), CAST(s AS TIMESTAMP_MS), CAST(s AS TIMESTAMP) FROM t"
    assert _ticks(engine_table(query, text, backend=backend)) == _ticks(duckdb_table(query, text))


def test_common_type_of_timestamps_is_the_finest_unit(backend):
    tables = {"t": _halves()}
    query = ("SELECT COALESCE(s, ns), COALESCE(s, ms), COALESCE(d, s), GREATEST(s, us), "
             "CASE WHEN s IS NULL THEN ms ELSE s END FROM t")
    assert _ticks(engine_table(query, tables, backend=backend)) == \
        _ticks(duckdb_table(query, tables))


def test_cast_timestamp_ns_to_seconds_is_refused_as_in_duckdb(backend):
    with pytest.raises(NotSupportedError, match="TIMESTAMP first"):
        gpuvelo.sql("SELECT CAST(ns AS TIMESTAMP_S) FROM t", backend=backend, t=_halves())


def test_second_and_millisecond_timestamp_literals_round_as_duckdb(backend):
    """A literal typed TIMESTAMP_S/_MS is made at microseconds and rounded, as DuckDB casts."""
    t = {"t": pa.table({"s": pa.array([dt.datetime(2024, 1, 1, 0, 0, 1), dt.datetime(2024, 1, 1, 0, 0, 2)],
                                      pa.timestamp("s"))})}
    run_both("SELECT CAST('2024-01-01 00:00:01.7' AS TIMESTAMP_S) AS x FROM t", t, backend=backend)
    run_both("SELECT MIN(s) AS m FROM t WHERE s = '2024-01-01 00:00:01.7'", t, backend=backend)
