"""INTERVAL values: timestamp differences, interval literals and to_* functions, their
arithmetic, parts, text and aggregates, differentially against DuckDB; and the errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from differential import random_table, run_both
from gpuvelo.errors import NotSupportedError, PlanError

US = 1_000_000
DAY = 86_400 * US


def _clicks() -> pa.Table:
    """Timestamps of several units with NULLs, per user, plus edge moments."""
    rng = np.random.default_rng(7)
    n = 120
    base = 1_704_067_200 * US
    us = base + rng.integers(-3 * DAY, 3 * DAY, n)
    us[:4] = [base, base + 1, base - 1, base + 25 * 3_600 * US]
    mask = rng.random(n) < 0.15
    return pa.table({
        "user": pa.array(rng.choice(["a", "b", "c", "d"], n)),
        "ts": pa.array(us, pa.timestamp("us"), mask=mask),
        "ts_s": pa.array(us // US, pa.timestamp("s"), mask=rng.random(n) < 0.1),
        "ts_ms": pa.array(us // 1000, pa.timestamp("ms")),
        "ts_ns": pa.array(us * 1000 + rng.integers(0, 1000, n), pa.timestamp("ns")),
        "d": pa.array((us // DAY).astype(np.int32), pa.date32()),
        "n": pa.array(rng.integers(-5, 6, n), pa.int64(), mask=rng.random(n) < 0.1),
        "f": pa.array(rng.normal(0, 3, n).round(3)),
        "dur": pa.array(rng.integers(-2 * DAY, 2 * DAY, n), pa.duration("us"), mask=mask),
        "dur_s": pa.array(rng.integers(-200_000, 200_000, n), pa.duration("s")),
        "dur_ns": pa.array(rng.integers(-10**12, 10**12, n), pa.duration("ns")),
    })


CLICKS = _clicks()
TABLES = {"t": CLICKS}

QUERIES = [
    # the staple: per-user session lengths
    "SELECT user, MAX(ts) - MIN(ts) AS session_length FROM t GROUP BY user",
    "SELECT user, CAST(MAX(ts) - MIN(ts) AS VARCHAR) AS s FROM t GROUP BY user",
    "SELECT user, MAX(ts_s) - MIN(ts_ns) AS a, MAX(ts_ms) - MIN(d) AS b FROM t GROUP BY user",
    "SELECT user FROM t GROUP BY user HAVING MAX(ts) - MIN(ts) > INTERVAL 5 MINUTE",
    "SELECT user, MAX(ts) - MIN(ts) > INTERVAL '5 days' FROM t GROUP BY user",
    "SELECT user, AVG(ts - TIMESTAMP '2024-01-01'), MIN(ts - ts_s), MAX(ts_ns - ts) FROM t GROUP BY user",
    "SELECT user, CAST(AVG(to_microseconds(n)) AS VARCHAR), AVG(dur) FROM t GROUP BY user",
    "SELECT user, COUNT(ts - ts_s), COUNT(DISTINCT ts - ts_ms), ARG_MAX(user, ts - ts_s) FROM t GROUP BY user",
    # row-level producers and text
    "SELECT ts - ts_s, CAST(ts - TIMESTAMP '2024-01-02' AS VARCHAR), CAST(ts_ns - ts AS VARCHAR) FROM t",
    "SELECT CAST(dur AS VARCHAR), CAST(dur_s AS VARCHAR), dur_ns, CAST(-dur AS VARCHAR) FROM t",
    "SELECT to_seconds(f), CAST(to_milliseconds(f) AS VARCHAR), to_minutes(n), CAST(to_hours(n) AS VARCHAR), "
    "CAST(to_days(n) AS VARCHAR), to_weeks(n), to_microseconds(n) FROM t",
    "SELECT CAST(INTERVAL (n) HOUR AS VARCHAR), INTERVAL 90 MINUTE, CAST(INTERVAL '1 day 2 hours' AS VARCHAR), "
    "CAST(-INTERVAL 25 HOUR AS VARCHAR), CAST('1 day' AS INTERVAL) FROM t",
    # consumers
    "SELECT ts + (ts - ts_s), ts_ns - to_seconds(f), d + to_hours(n), to_minutes(n) + ts_ms FROM t",
    "SELECT (ts - ts_s) + dur, CAST(to_hours(n) - to_minutes(n) AS VARCHAR), dur * n, n * to_hours(1) FROM t",
    "SELECT CAST(to_seconds(f) * 2.5 AS VARCHAR), dur * f, dur / 3, (ts - TIMESTAMP '2024-01-01') / 7, "
    "(ts - TIMESTAMP '2024-01-01') * 1.5 FROM t WHERE f <> 0",
    "SELECT epoch(dur), extract(epoch FROM ts - ts_s), date_part('hour', dur), extract(minute FROM dur), "
    "second(dur), millisecond(dur), microsecond(ts_ns - ts), day(ts - TIMESTAMP '2024-01-01'), "
    "hour(ts - TIMESTAMP '2024-01-01'), year(dur), quarter(dur), epoch_ms(dur), epoch_us(dur) FROM t",
    "SELECT COALESCE(ts - ts_s, INTERVAL 0 SECOND), CASE WHEN n > 0 THEN dur ELSE to_hours(n) END FROM t",
    "SELECT dur FROM t WHERE dur BETWEEN INTERVAL '-1 day' AND INTERVAL 12 HOUR AND dur <> to_hours(1)",
    "SELECT dur > '1 hour', dur = dur_s FROM t",
    # keys and order
    "SELECT ts - ts_s AS k, COUNT(*) FROM t GROUP BY k",
    "SELECT dur_s, COUNT(*), MIN(ts) FROM t GROUP BY dur_s ORDER BY dur_s DESC NULLS FIRST LIMIT 10",
    "SELECT user, dur FROM t ORDER BY dur, user",
]


@pytest.mark.parametrize("query", QUERIES)
def test_against_duckdb(query, backend):
    run_both(query, TABLES, backend=backend)


@pytest.mark.parametrize("query", QUERIES[:8] + QUERIES[19:21])
def test_small_batches(query, backend):
    run_both(query, TABLES, backend=backend, batch_size=7)


def test_random_table_ts(backend):
    table = random_table(np.random.default_rng(5), 300)
    run_both("SELECT k1, k2, MAX(ts) - MIN(ts) AS len, CAST(MAX(ts) - MIN(ts) AS VARCHAR) FROM t "
             "GROUP BY k1, k2 HAVING MAX(ts) - MIN(ts) >= INTERVAL 1 SECOND", {"t": table},
             backend=backend, batch_size=7)


def test_result_type_is_duration():
    out = gpuvelo.sql("SELECT MAX(ts) - MIN(ts) AS x FROM t", t=CLICKS)
    assert out.schema.field("x").type == pa.duration("us")
    assert isinstance(out.column("x")[0].as_py(), dt.timedelta)


@pytest.mark.parametrize("query, error, words", [
    ("SELECT SUM(ts - ts_s) FROM t", PlanError, "SUM"),
    ("SELECT abs(dur) FROM t", PlanError, "abs"),
    ("SELECT INTERVAL 1 MONTH FROM t", NotSupportedError, "months"),
    ("SELECT to_months(1) FROM t", NotSupportedError, "months"),
    ("SELECT dur + INTERVAL 1 MONTH FROM t", NotSupportedError, "months"),
    ("SELECT dur + 1 FROM t", PlanError, "INTERVAL"),
    ("SELECT dur - ts FROM t", PlanError, "not defined"),
    ("SELECT CAST(dur AS BIGINT) FROM t", PlanError, "cannot cast"),
    ("SELECT CAST(user AS INTERVAL) FROM t", NotSupportedError, "literals"),
    ("SELECT extract(dow FROM dur) FROM t", PlanError, "not a part"),
    ("SELECT CAST((ts - ts_s) * 2 AS VARCHAR) FROM t", NotSupportedError, "days and time"),
    ("SELECT hour((ts - ts_s) + (ts - ts_ms)) FROM t", NotSupportedError, "days and time"),
    ("SELECT ((ts - ts_s) * 2) * 1.5 FROM t", NotSupportedError, "fraction"),
    ("SELECT MEDIAN(dur) FROM t", NotSupportedError, "INTERVAL"),
    ("SELECT strftime(dur, '%H') FROM t", PlanError, "INTERVAL"),
])
def test_errors(query, error, words):
    with pytest.raises(error, match=words):
        gpuvelo.sql(query, t=CLICKS)


def test_division_by_zero():
    with pytest.raises(Exception, match="division by zero"):
        gpuvelo.sql("SELECT dur / 0 FROM t", t=CLICKS)
