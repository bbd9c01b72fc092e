"""Window frames beyond ROWS -- RANGE with value offsets (numbers, INTERVALs over times),
GROUPS, EXCLUDE -- and the aggregates added over windows (STDDEV/VARIANCE, BOOL_AND/OR,
ARG_MAX/MIN, COUNT(DISTINCT), MEDIAN/QUANTILE, STRING_AGG), with DuckDB as the referee.

``rid`` is a unique row id: results that depend on the order of ties (ROWS frames,
FIRST_VALUE, ARG_MAX ties, STRING_AGG's order) order by it; RANGE and GROUPS frames are
deterministic with ties and are tested on tied keys.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from differential import random_table, run_both

import gpuvelo
from gpuvelo.errors import NotSupportedError, PlanError, TypeMismatchError

CONFIGS = [pytest.param({}, id="whole"), pytest.param({"batch_size": 7, "partitions": 3}, id="b7-3p")]


@pytest.fixture(scope="module")
def table() -> pa.Table:
    t = random_table(np.random.default_rng(20240611), 150)
    return t.append_column("rid", pa.array(np.arange(t.num_rows, dtype=np.int64)))


@pytest.fixture(scope="module")
def events() -> pa.Table:
    """Trades: duplicate timestamps (peers), NULL timestamps, three symbols."""
    rng = np.random.default_rng(3)
    n = 80
    minutes = rng.integers(0, 400, n)
    minutes[::5] = minutes[1::5][:len(minutes[::5])]          # duplicate timestamps
    base = dt.datetime(2024, 3, 1, 9)
    ts = [base + dt.timedelta(minutes=int(m), seconds=int(m % 7) * 10) for m in minutes]
    return pa.table({
        "rid": np.arange(n),
        "sym": pa.array(rng.choice(["AAA", "BBB", "CCC"], n), mask=rng.random(n) < 0.05),
        "ts": pa.array(ts, pa.timestamp("us"), mask=rng.random(n) < 0.1),
        "px": pa.array(np.round(rng.normal(100, 5, n), 2), mask=rng.random(n) < 0.1),
        "qty": pa.array(rng.integers(1, 10, n), mask=rng.random(n) < 0.1),
        "x": pa.array(rng.integers(0, 30, n), pa.int32(), mask=rng.random(n) < 0.15),
    })


# --------------------------------------------------------------------------- RANGE offsets
EVENT_QUERIES = [
    # the moving window over time, per symbol
    "SELECT rid, AVG(px) OVER (PARTITION BY sym ORDER BY ts RANGE BETWEEN INTERVAL 1 HOUR PRECEDING "
    "AND CURRENT ROW) AS ma, COUNT(*) OVER (PARTITION BY sym ORDER BY ts RANGE BETWEEN INTERVAL "
    "'30 minutes' PRECEDING AND CURRENT ROW) AS n30 FROM t",
    "SELECT rid, SUM(qty) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 10 MINUTE PRECEDING AND "
    "INTERVAL 10 MINUTE FOLLOWING), MAX(px) OVER (PARTITION BY sym ORDER BY ts RANGE BETWEEN "
    "INTERVAL 90 MINUTE FOLLOWING AND INTERVAL '2 hours' FOLLOWING) FROM t",
    # DESC: offsets go the other way; NULL timestamps are their own peer group
    "SELECT rid, SUM(qty) OVER (PARTITION BY sym ORDER BY ts DESC RANGE BETWEEN INTERVAL 1 HOUR "
    "PRECEDING AND CURRENT ROW), COUNT(px) OVER (ORDER BY ts DESC NULLS LAST RANGE BETWEEN "
    "CURRENT ROW AND INTERVAL 20 MINUTE FOLLOWING) FROM t",
    "SELECT rid, COUNT(*) OVER (ORDER BY ts NULLS FIRST RANGE BETWEEN UNBOUNDED PRECEDING AND "
    "INTERVAL 1 HOUR PRECEDING), MIN(px) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 1 HOUR "
    "FOLLOWING AND UNBOUNDED FOLLOWING), SUM(qty) OVER (ORDER BY ts DESC NULLS FIRST RANGE "
    "BETWEEN INTERVAL 5 MINUTE PRECEDING AND UNBOUNDED FOLLOWING) FROM t",
    "SELECT rid, COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 2 HOUR FOLLOWING AND INTERVAL "
    "1 HOUR FOLLOWING) AS empty_unless_null, FIRST_VALUE(px) OVER (PARTITION BY sym ORDER BY ts "
    "RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND CURRENT ROW) IS NULL AS f FROM t",
    # numbers, ascending and descending, with NULL keys
    "SELECT rid, SUM(qty) OVER (ORDER BY x RANGE BETWEEN 5 PRECEDING AND 5 FOLLOWING), MAX(px) "
    "OVER (PARTITION BY sym ORDER BY x DESC RANGE BETWEEN 2 PRECEDING AND 1 PRECEDING), COUNT(*) "
    "OVER (ORDER BY x NULLS FIRST RANGE 3 PRECEDING), AVG(qty) OVER (ORDER BY x DESC NULLS FIRST "
    "RANGE BETWEEN 1 FOLLOWING AND 4 FOLLOWING) FROM t",
    "SELECT rid, SUM(qty) OVER (ORDER BY x RANGE BETWEEN 2.5 PRECEDING AND 0.5 FOLLOWING), "
    "COUNT(*) OVER (ORDER BY x RANGE BETWEEN 0 PRECEDING AND 0 FOLLOWING) FROM t",
    # GROUPS: peer groups (NULLs one of them) as units
    "SELECT rid, SUM(qty) OVER (PARTITION BY sym ORDER BY ts GROUPS BETWEEN 1 PRECEDING AND "
    "CURRENT ROW), COUNT(*) OVER (ORDER BY x DESC GROUPS BETWEEN 2 PRECEDING AND 1 FOLLOWING), "
    "MIN(px) OVER (ORDER BY ts NULLS FIRST GROUPS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), "
    "MAX(qty) OVER (ORDER BY x GROUPS BETWEEN 2 FOLLOWING AND UNBOUNDED FOLLOWING) FROM t",
    # over groups: a 2-hour moving volume of per-minute sums
    "SELECT DATE_TRUNC('minute', ts) AS m, SUM(qty) AS v, SUM(SUM(qty)) OVER (ORDER BY "
    "DATE_TRUNC('minute', ts) RANGE BETWEEN INTERVAL 2 HOUR PRECEDING AND CURRENT ROW) AS v2h, "
    "RANK() OVER (ORDER BY COUNT(*) DESC) AS r FROM t GROUP BY m",
]


@pytest.mark.parametrize("opts", CONFIGS)
@pytest.mark.parametrize("query", EVENT_QUERIES)
def test_frames_over_events(query, opts, events, backend):
    run_both(query, {"t": events}, backend=backend, **opts)


TABLE_QUERIES = [
    # every orderable number type, DATE with days and intervals, ties and NULLs
    "SELECT rid, SUM(i) OVER (ORDER BY d RANGE BETWEEN 30 PRECEDING AND CURRENT ROW), COUNT(*) "
    "OVER (ORDER BY d DESC RANGE BETWEEN INTERVAL 36 HOURS PRECEDING AND INTERVAL 2 DAYS "
    "FOLLOWING), AVG(f) OVER (PARTITION BY k1 ORDER BY d RANGE BETWEEN 100 PRECEDING AND 10 "
    "PRECEDING) FROM t",
    "SELECT rid, SUM(i) OVER (ORDER BY f RANGE BETWEEN 0.5 PRECEDING AND 0.5 FOLLOWING), COUNT(*) "
    "OVER (ORDER BY g DESC RANGE BETWEEN 0.25 PRECEDING AND CURRENT ROW), AVG(f) OVER (PARTITION "
    "BY k1 ORDER BY dec RANGE BETWEEN 1000.5 PRECEDING AND 100 FOLLOWING) FROM t",
    "SELECT rid, COUNT(*) OVER (ORDER BY fn RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING), SUM(i16) "
    "OVER (ORDER BY i16 DESC NULLS FIRST RANGE BETWEEN 100 PRECEDING AND 50 PRECEDING), MAX(s) "
    "OVER (PARTITION BY k3 ORDER BY i RANGE BETWEEN 1000000 PRECEDING AND 1000000 FOLLOWING) FROM t",
    "SELECT rid, COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 3 DAY PRECEDING AND CURRENT "
    "ROW), MIN(dec) OVER (PARTITION BY k2 ORDER BY ts DESC RANGE BETWEEN INTERVAL '1 day 2 hours' "
    "PRECEDING AND INTERVAL 0 SECOND FOLLOWING) FROM t",
    "SELECT rid, SUM(i) OVER (ORDER BY dec RANGE BETWEEN 0.005 PRECEDING AND 0.01 FOLLOWING), "
    "COUNT(*) OVER (ORDER BY k1 RANGE BETWEEN 1e0 PRECEDING AND 1.5 FOLLOWING) FROM t",
    # GROUPS
    "SELECT rid, SUM(i) OVER (PARTITION BY k1 ORDER BY k2 GROUPS BETWEEN 1 PRECEDING AND CURRENT "
    "ROW), COUNT(*) OVER (ORDER BY d DESC GROUPS BETWEEN 2 PRECEDING AND 3 FOLLOWING), MIN(s) OVER "
    "(ORDER BY k3 GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING), COUNT(*) OVER (PARTITION BY k1 "
    "GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW), SUM(i) OVER (ORDER BY rid GROUPS 2 PRECEDING) FROM t",
    # EXCLUDE, over ROWS (total order), RANGE and GROUPS (ties)
    "SELECT rid, SUM(i) OVER (ORDER BY rid ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING EXCLUDE "
    "CURRENT ROW), COUNT(*) OVER (ORDER BY k1 RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE "
    "GROUP), SUM(f) OVER (ORDER BY k1 GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE TIES), "
    "MAX(i) OVER (PARTITION BY k2 ORDER BY k1 RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
    "FOLLOWING EXCLUDE GROUP), AVG(dec) OVER (ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND "
    "UNBOUNDED FOLLOWING EXCLUDE NO OTHERS) FROM t",
    "SELECT rid, FIRST_VALUE(i) OVER (ORDER BY rid ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING EXCLUDE "
    "CURRENT ROW), LAST_VALUE(i IGNORE NULLS) OVER (ORDER BY rid ROWS BETWEEN 3 PRECEDING AND 3 "
    "FOLLOWING EXCLUDE CURRENT ROW), NTH_VALUE(s, 3) OVER (ORDER BY rid ROWS BETWEEN 3 PRECEDING "
    "AND 3 FOLLOWING EXCLUDE CURRENT ROW), MIN(ts) OVER (ORDER BY k1 GROUPS BETWEEN CURRENT ROW AND "
    "2 FOLLOWING EXCLUDE TIES), COUNT(s) OVER (ORDER BY k2 RANGE BETWEEN CURRENT ROW AND CURRENT "
    "ROW EXCLUDE TIES) FROM t",
    # the aggregates added over windows
    "SELECT rid, STDDEV(f) OVER (PARTITION BY k1 ORDER BY rid ROWS 5 PRECEDING), VAR_POP(i) OVER "
    "(ORDER BY k1), STDDEV_POP(dec) OVER (PARTITION BY k2), VARIANCE(g) OVER (ORDER BY rid ROWS "
    "BETWEEN 3 PRECEDING AND 3 FOLLOWING EXCLUDE CURRENT ROW), VAR_SAMP(i16) OVER (ORDER BY d "
    "RANGE BETWEEN 20 PRECEDING AND CURRENT ROW), STDDEV_SAMP(fn) OVER (PARTITION BY k1) FROM t",
    "SELECT rid, BOOL_AND(k3) OVER (PARTITION BY k1 ORDER BY rid), BOOL_OR(k3) OVER (ORDER BY rid "
    "ROWS 3 PRECEDING), ARG_MAX(s, rid) OVER (PARTITION BY k1 ORDER BY rid), ARG_MIN(i, f) OVER "
    "(ORDER BY rid ROWS BETWEEN 5 PRECEDING AND 5 FOLLOWING), ARG_MAX(ts, dec) OVER (PARTITION BY "
    "k2), ARG_MIN(k2, rid) OVER (ORDER BY d RANGE BETWEEN 10 PRECEDING AND CURRENT ROW) FROM t",
    "SELECT rid, COUNT(DISTINCT k2) OVER (ORDER BY rid ROWS BETWEEN 5 PRECEDING AND CURRENT ROW), "
    "COUNT(DISTINCT k1) OVER (PARTITION BY k3 ORDER BY rid), COUNT(DISTINCT s) OVER (), COUNT("
    "DISTINCT d) OVER (ORDER BY d RANGE BETWEEN 30 PRECEDING AND 30 FOLLOWING), MAX(DISTINCT i) "
    "OVER (PARTITION BY k1) FROM t",
    "SELECT rid, MEDIAN(i) OVER (ORDER BY rid ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING), "
    "QUANTILE_CONT(f, 0.25) OVER (PARTITION BY k1 ORDER BY rid), QUANTILE_DISC(s, 0.5) OVER "
    "(PARTITION BY k2), MEDIAN(dec) OVER (ORDER BY rid ROWS 4 PRECEDING), MEDIAN(ts) OVER (ORDER "
    "BY rid ROWS 4 PRECEDING), MEDIAN(d) OVER (ORDER BY rid ROWS 3 PRECEDING), QUANTILE_DISC(g, "
    "0.9) OVER (ORDER BY k1 GROUPS 1 PRECEDING), MEDIAN(g) OVER (PARTITION BY k3) FROM t",
    "SELECT rid, STRING_AGG(s, '-') OVER (ORDER BY rid ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING), "
    "STRING_AGG(k2) OVER (PARTITION BY k1 ORDER BY rid), STRING_AGG(s, '') OVER (ORDER BY rid "
    "ROWS BETWEEN 3 FOLLOWING AND 2 FOLLOWING) FROM t",
    # FILTER, and window functions over aggregates with the new frames
    "SELECT rid, SUM(i) FILTER (WHERE i > 0) OVER (ORDER BY d RANGE BETWEEN 10 PRECEDING AND "
    "CURRENT ROW), COUNT(*) FILTER (WHERE k3) OVER (ORDER BY k1 GROUPS 1 PRECEDING) FROM t",
    "SELECT d, SUM(SUM(i)) OVER (ORDER BY d RANGE BETWEEN 7 PRECEDING AND CURRENT ROW) AS s7, "
    "RANK() OVER (ORDER BY COUNT(*) DESC) AS r, STDDEV(SUM(f)) OVER (ORDER BY d ROWS 3 PRECEDING) "
    "AS sd, MEDIAN(COUNT(*)) OVER () AS med, MEDIAN(SUM(dec)) OVER (ORDER BY d ROWS BETWEEN 1 "
    "PRECEDING AND CURRENT ROW) AS md FROM t GROUP BY d",
    "SELECT k1, SUM(dec) AS s, AVG(SUM(dec)) OVER (ORDER BY k1 RANGE BETWEEN 2 PRECEDING AND 2 "
    "FOLLOWING) AS a FROM t GROUP BY k1 QUALIFY COUNT(*) OVER (ORDER BY k1 GROUPS BETWEEN 1 "
    "PRECEDING AND 1 FOLLOWING) >= 2",
]


@pytest.mark.parametrize("opts", CONFIGS)
@pytest.mark.parametrize("query", TABLE_QUERIES)
def test_frames_over_random_table(query, opts, table, backend):
    run_both(query, {"t": table}, backend=backend, **opts)


@pytest.mark.parametrize("unit", ["s", "ms", "ns"])
def test_interval_offsets_in_every_timestamp_unit(unit, events, backend):
    """An INTERVAL offset shifts the ticks of the timestamp's own unit (1 microsecond over
    seconds is less than one tick: the bound rounds inwards)."""
    t = events.set_column(2, "ts", events.column("ts").cast(pa.timestamp(unit)))
    run_both("SELECT rid, COUNT(*) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND "
             "INTERVAL 1 MICROSECOND FOLLOWING), SUM(qty) OVER (PARTITION BY sym ORDER BY ts DESC "
             "RANGE BETWEEN INTERVAL 1500 MILLISECOND PRECEDING AND INTERVAL 10 MINUTE FOLLOWING) "
             "FROM t", {"t": t}, backend=backend)


def test_interval_column_order(backend):
    t = pa.table({"rid": range(6), "iv": pa.array([dt.timedelta(hours=h) for h in (1, 2, 2, 5, 7, 0)]
                                                  [:5] + [None], pa.duration("us")),
                  "x": [1, 2, 3, 4, 5, 6]})
    run_both("SELECT rid, SUM(x) OVER (ORDER BY iv RANGE BETWEEN INTERVAL 1 HOUR PRECEDING AND "
             "INTERVAL 2 HOUR FOLLOWING) FROM t", {"t": t}, backend=backend)


def test_partition_edges_and_extremes(backend):
    """Frames stop at partition edges; values at the ends of BIGINT do not wrap around."""
    big = 2**63 - 10
    t = pa.table({"rid": range(8), "k": [1, 1, 1, 2, 2, 2, 3, 3],
                  "x": pa.array([-big, 0, big, 5, 6, None, 7, 7], pa.int64())})
    for q in ["SELECT rid, COUNT(*) OVER (PARTITION BY k ORDER BY x RANGE BETWEEN 5 PRECEDING AND "
              "5 FOLLOWING) FROM t",
              "SELECT rid, COUNT(*) OVER (PARTITION BY k ORDER BY x GROUPS BETWEEN 1 FOLLOWING AND 5 "
              "FOLLOWING), MIN(x) OVER (PARTITION BY k ORDER BY x DESC GROUPS 1 PRECEDING) FROM t"]:
        run_both(q, {"t": t}, backend=backend, batch_size=7)
    got = gpuvelo.sql("SELECT rid, COUNT(*) OVER (PARTITION BY k ORDER BY x RANGE BETWEEN "
                      "9223372036854775807 PRECEDING AND 1 PRECEDING) AS n FROM t ORDER BY rid", t=t)
    assert got.column("n").to_pylist() == [0, 1, 1, 0, 1, 1, 0, 0]   # big - (2**63 - 1) = -9


def test_null_and_nan_keys_are_peer_groups():
    """A row whose ORDER BY value is NULL (or NaN) takes its peers for an offset bound; other
    rows never reach it through an offset (UNBOUNDED does), as in DuckDB."""
    t = pa.table({"rid": range(6), "x": pa.array([1.0, 2.0, 2.0, None, None, float("nan")])})
    got = gpuvelo.sql("SELECT rid, COUNT(*) OVER (ORDER BY x RANGE BETWEEN 1 PRECEDING AND 10 "
                      "FOLLOWING) AS a, COUNT(*) OVER (ORDER BY x RANGE BETWEEN UNBOUNDED PRECEDING "
                      "AND 5 FOLLOWING) AS b FROM t ORDER BY rid", t=t)
    assert got.to_pydict() == {"rid": [0, 1, 2, 3, 4, 5], "a": [3, 3, 3, 2, 2, 1], "b": [3, 3, 3, 6, 6, 4]}
    run_both("SELECT rid, COUNT(*) OVER (ORDER BY x RANGE BETWEEN 1 PRECEDING AND 10 FOLLOWING), "
             "COUNT(*) OVER (ORDER BY x DESC NULLS FIRST RANGE BETWEEN UNBOUNDED PRECEDING AND 5 "
             "FOLLOWING) FROM t", {"t": t})


def test_long_moving_windows(backend):
    """Thousands of rows: a one-minute moving window over millisecond ticks, a running
    median and a distinct count over long frames."""
    rng = np.random.default_rng(11)
    n = 4000
    ms = np.sort(rng.integers(0, 3_600_000, n))
    t = pa.table({"rid": np.arange(n), "k": rng.integers(0, 4, n),
                  "ts": pa.array(ms, pa.timestamp("ms")),
                  "v": pa.array(rng.integers(-1000, 1000, n), mask=rng.random(n) < 0.1),
                  "f": rng.normal(size=n)})
    run_both("SELECT rid, SUM(v) OVER w, AVG(f) OVER w, MAX(v) OVER w, STDDEV(f) OVER w, COUNT(*) "
             "OVER w, MEDIAN(v) OVER (PARTITION BY k ORDER BY rid ROWS BETWEEN 300 PRECEDING AND 300 "
             "FOLLOWING), COUNT(DISTINCT v) OVER (PARTITION BY k ORDER BY ts) FROM t WINDOW w AS "
             "(PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL 1 MINUTE PRECEDING AND CURRENT ROW)",
             {"t": t}, backend=backend, batch_size=1000)


def test_result_types_follow_duckdb(table, backend):
    q = ("SELECT STDDEV(i) OVER () AS a, VAR_POP(dec) OVER () AS b, BOOL_AND(k3) OVER () AS c, "
         "ARG_MAX(s, rid) OVER () AS d, COUNT(DISTINCT s) OVER () AS e, MEDIAN(i) OVER () AS f, "
         "MEDIAN(dec) OVER () AS g, MEDIAN(d) OVER () AS h, QUANTILE_DISC(i16, 0.5) OVER () AS i2, "
         "MEDIAN(g) OVER () AS j, STRING_AGG(s) OVER () AS k FROM t")
    got = gpuvelo.sql(q, t=table, backend=backend).schema
    assert [str(f.type) for f in got] == [
        "double", "double", "bool", "string", "int64", "double", "decimal128(12, 2)",
        "timestamp[us]", "int16", "float", "string"]


def test_explain_shows_the_frame():
    schema = pa.schema([("ts", pa.timestamp("us")), ("x", pa.int64())])
    text = gpuvelo.explain("SELECT SUM(x) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 1 HOUR PRECEDING "
                           "AND CURRENT ROW EXCLUDE TIES) FROM t", schemas={"t": schema})
    assert "RANGE BETWEEN INTERVAL '3600 seconds' PRECEDING AND CURRENT ROW EXCLUDE TIES" in text


# --------------------------------------------------------------------------- errors
ERRORS = [
    ("SELECT SUM(i) OVER (ORDER BY ts RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
     TypeMismatchError, "must be an INTERVAL"),
    ("SELECT SUM(i) OVER (ORDER BY i RANGE BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW) FROM t",
     TypeMismatchError, "INTERVAL offset needs a DATE"),
    ("SELECT SUM(i) OVER (ORDER BY d RANGE BETWEEN 1.5 PRECEDING AND CURRENT ROW) FROM t",
     TypeMismatchError, "integer \\(days\\) or an INTERVAL"),
    ("SELECT SUM(i) OVER (ORDER BY s RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
     TypeMismatchError, "needs a number, DATE, TIMESTAMP or INTERVAL"),
    ("SELECT SUM(i) OVER (ORDER BY ts RANGE BETWEEN INTERVAL 1 MONTH PRECEDING AND CURRENT ROW) FROM t",
     NotSupportedError, "months"),
    ("SELECT SUM(i) OVER (ORDER BY i RANGE BETWEEN NULL PRECEDING AND CURRENT ROW) FROM t",
     PlanError, "cannot be NULL"),
    ("SELECT SUM(i) OVER (ORDER BY i RANGE BETWEEN -1 PRECEDING AND CURRENT ROW) FROM t",
     NotSupportedError, "non-negative"),
    ("SELECT SUM(i) OVER (ORDER BY i ROWS BETWEEN INTERVAL 1 DAY PRECEDING AND CURRENT ROW) FROM t",
     TypeMismatchError, "number of rows"),
    ("SELECT SUM(i) OVER (ORDER BY i GROUPS BETWEEN 1 FOLLOWING AND CURRENT ROW) FROM t",
     PlanError, "cannot end before"),
    ("SELECT MEDIAN(i) OVER (ORDER BY rid ROWS 2 PRECEDING EXCLUDE CURRENT ROW) FROM t",
     NotSupportedError, "EXCLUDE is not supported with QUANTILE_CONT"),
    ("SELECT STRING_AGG(i) OVER () FROM t", TypeMismatchError, "STRING_AGG needs strings"),
    ("SELECT STRING_AGG(s, ',' ORDER BY s) OVER () FROM t", NotSupportedError, "no DISTINCT or ORDER BY"),
    ("SELECT STDDEV(s) OVER () FROM t", TypeMismatchError, "needs numbers"),
    ("SELECT QUANTILE_CONT(i, 2) OVER () FROM t", NotSupportedError, "between 0 and 1"),
    ("SELECT SUM(DISTINCT i) OVER () FROM t", NotSupportedError, "COUNT, MIN and MAX"),
]


@pytest.mark.parametrize("query, error, message", ERRORS)
def test_errors(query, error, message, table):
    with pytest.raises(error, match=message):
        gpuvelo.sql(query, t=table)
