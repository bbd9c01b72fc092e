"""Queries a new user wrote against realistic data (trades, clicks, sensor readings) that
once gave a wrong answer, a crash or an unclear error: each is compared with DuckDB."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from differential import run_both
from gpuvelo.errors import ArithmeticOverflowError, NotSupportedError, PlanError, UnknownColumnError
from gpuvelo.io import JsonLinesSource


def _trades(n: int = 240) -> pa.Table:
    rng = np.random.default_rng(7)
    px = [decimal.Decimal(int(c)).scaleb(-4) for c in rng.integers(-2_000_000, 5_000_000, n)]
    return pa.table({
        "symbol": pa.array(rng.choice(["AAPL", "MSFT", "ÉDF", ""], n), mask=rng.random(n) < 0.1),
        "side": pa.array(rng.choice(["B", "S"], n), mask=rng.random(n) < 0.1),
        "qty": pa.array(rng.integers(1, 1000, n), mask=rng.random(n) < 0.1),
        "px": pa.array(px, pa.decimal128(18, 4), mask=rng.random(n) < 0.1),
        "score": pa.array(rng.normal(50, 20, n).astype(np.float32), mask=rng.random(n) < 0.1),
        "counter": pa.array(rng.integers(0, 2**32 - 1, n, dtype=np.uint64).astype(np.uint32),
                            mask=rng.random(n) < 0.1),
        "url": pa.array(rng.choice(["/products/42", "/home", "/a_b?x=1", "", "/p/7/x"], n),
                        mask=rng.random(n) < 0.1),
        "ok": pa.array(rng.random(n) < 0.7, mask=rng.random(n) < 0.2),
    })


TRADES = _trades()
EDGE = pa.table({
    "k": ["a", "a", "b", None],
    "big": pa.array([2**63 - 1, -2**63, 0, None], pa.int64()),
    "f": [-0.0, 1e308, 5e-324, None],
    "u8": pa.array([255, 0, 7, None], pa.uint8()),
})


@pytest.mark.parametrize("query", [
    # ORDER BY ascending (no NULLS clause) after ROLLUP / CUBE used to fail to plan
    "SELECT symbol, side, SUM(qty) AS v FROM t GROUP BY ROLLUP (symbol, side) ORDER BY symbol, side, v",
    "SELECT side, COUNT(*) AS n FROM t GROUP BY CUBE (side) ORDER BY side NULLS FIRST",
    # IF(cond, a, b) and IS [NOT] TRUE / FALSE
    "SELECT IF(side = 'B', 'buy', 'sell') AS s, COUNT(*) FROM t GROUP BY s",
    "SELECT symbol, SUM(IF(ok, qty, 0)) FROM t GROUP BY symbol",
    "SELECT ok IS TRUE AS a, ok IS NOT TRUE AS b, ok IS FALSE AS c, ok IS NOT FALSE AS d, COUNT(*) "
    "FROM t GROUP BY ALL",
    "SELECT COUNT(*) FROM t WHERE ok IS NOT FALSE",
    # FLOAT (float32) arithmetic stays single precision, as DuckDB computes it
    "SELECT score / 3, score * 1.1, ROUND(score, 1), -score, score + qty, trunc(score, 2) FROM t",
    "SELECT symbol, SUM(score / 3), MAX(ROUND(score / 7, 2)) FROM t GROUP BY symbol",
    "SELECT COALESCE(score, 0), GREATEST(score, 10), CASE WHEN ok THEN score ELSE 1 END FROM t",
    # ROUND of an unsigned integer to tens, hundreds...: DuckDB's BIGINT, rounded
    "SELECT round(counter, -9) AS r, COUNT(*) FROM t GROUP BY r",
    "SELECT round(counter, -1), round(counter) FROM t",
    # TRUNC(x, digits)
    "SELECT trunc(px, 2), trunc(px, -1), trunc(-px, 1), trunc(px, 6), trunc(qty, -1), trunc(qty, 2) FROM t",
    "SELECT symbol, trunc(AVG(score), 1) FROM t GROUP BY symbol",
    # regexp_extract
    "SELECT regexp_extract(url, '/([a-z]+)', 1) AS seg, COUNT(*) FROM t GROUP BY seg",
    "SELECT regexp_extract(url, '(\\d+)/(x)?', 2), regexp_extract(url, 'H(OM)', 1, 'i'), "
    "regexp_extract(url, '[0-9]+'), regexp_extract(url, '(a)', 3), "
    "regexp_extract(url, '(?P<w>[a-z]+)[(]?', 1) FROM t",
    # LIKE ... ESCAPE
    "SELECT url, url LIKE '%!_%' ESCAPE '!', url NOT LIKE '%$?%' ESCAPE '$', url LIKE '/p%' ESCAPE '' FROM t",
    # CAST of DuckDB's boolean spellings
    "SELECT 't'::BOOLEAN, 'F'::BOOLEAN, 'yes'::BOOLEAN, CAST('n' AS BOOLEAN), TRY_CAST(url AS BOOLEAN) FROM t",
])
@pytest.mark.parametrize("opts", [{}, {"batch_size": 7, "partitions": 3}], ids=["whole", "batch7"])
def test_user_queries_match_duckdb(query, opts, backend):
    run_both(query, {"t": TRADES}, backend=backend, **opts)


@pytest.mark.parametrize("query", [
    "SELECT -9223372036854775808 AS m, 18446744073709551615 AS u FROM t",
    "SELECT big // -1 FROM t WHERE big > -9223372036854775808",
    "SELECT TRY_CAST(f AS FLOAT), f::FLOAT FROM t WHERE abs(f) < 1e30",
    "SELECT round(u8, -1), round(u8, -3), trunc(f, 2), trunc(f, -2) FROM t",
])
def test_edge_values_match_duckdb(query, backend):
    run_both(query, {"t": EDGE}, backend=backend)


EVENTS = pa.table({
    "k": ["a", "b", "a", None],
    "t_tz": pa.array([1_700_000_000_000_000 + i * 3_600_000_000 for i in range(3)] + [None],
                     pa.timestamp("us", tz="UTC")),
    "t_s": pa.array([1_700_000_000 + i * 86_400 for i in range(4)], pa.timestamp("s")),
})


@pytest.mark.parametrize("query", [
    "SELECT COUNT(*) FROM t WHERE t_tz > TIMESTAMPTZ '2023-11-14 23:00:00+00'",
    "SELECT COUNT(*) FROM t WHERE t_tz >= TIMESTAMPTZ '2023-11-15 01:13:20+02'",
    "SELECT k, t_s::TIMESTAMPTZ, t_tz::TIMESTAMP, CAST('2023-11-18 00:00:00+05:30' AS TIMESTAMPTZ) FROM t",
    # qualified columns of the query's own table (alias or name) still resolve
    "SELECT x.k, COUNT(*) FROM t AS x WHERE x.t_s > '2023-11-15' GROUP BY x.k",
    "SELECT t.k, COUNT(*) FROM t GROUP BY ROLLUP (t.k) ORDER BY t.k NULLS FIRST",
])
def test_time_zones_and_qualified_names_match_duckdb(query, backend):
    run_both(query, {"t": EVENTS}, backend=backend)


def test_float32_result_types():
    got = gpuvelo.sql("SELECT score * 2 AS a, ROUND(score, 1) AS b, score / 3 AS c, score + 1.5 AS d, "
                      "score + 1.5::DOUBLE AS e, sqrt(score) AS f FROM t", t=TRADES)
    assert got.schema.types == [pa.float32()] * 4 + [pa.float64()] * 2


@pytest.mark.parametrize("query, error, match", [
    ("SELECT 123456789012345678901234 FROM t", NotSupportedError, "does not fit 64 bits"),
    ("SELECT big // -1 FROM t", ArithmeticOverflowError, "overflow"),
    ("SELECT f::FLOAT FROM t", ArithmeticOverflowError, "out of range for FLOAT32"),
    # a correlated subquery used to run as if uncorrelated
    ("SELECT COUNT(*) FROM t a WHERE big > (SELECT AVG(big) FROM t b WHERE b.k = a.k)",
     UnknownColumnError, "correlated subqueries"),
    ("SELECT x.k FROM t", UnknownColumnError, "names table 'x'"),
    ("SELECT k FROM t WHERE k LIKE '%!' ESCAPE '!'", PlanError, "escape character"),
    ("SELECT regexp_extract(k, 'a', 12) FROM t", PlanError, "between 0 and 9"),
    ("SELECT (SELECT k FROM t) FROM t", PlanError, "at most one is allowed"),
])
def test_clear_errors(query, error, match):
    with pytest.raises(error, match=match) as info:
        gpuvelo.sql(query, t=EDGE)
    assert "__" not in str(info.value)     # no internal names in the message


def test_json_lines_dates_and_timestamps_are_inferred(tmp_path):
    """DuckDB's read_json reads 'YYYY-MM-DD' strings as DATE and one timestamp format as
    TIMESTAMP; a column mixing formats stays VARCHAR."""
    rows = [{"d": "2024-01-0%d" % (i % 9 + 1), "ts": f"2024-01-01 10:00:0{i % 10}.25{i}",
             "mixed": "2024-01-01 10:00:00" if i % 2 else "2024-01-01 10:00:00.5", "v": i}
            for i in range(20)] + [{"d": None, "ts": None, "mixed": None, "v": 99}]
    path = tmp_path / "e.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    src = JsonLinesSource(path)
    schema = src.schema()
    assert schema.field("d").type == pa.date32()
    assert schema.field("ts").type == pa.timestamp("us")
    assert schema.field("mixed").type == pa.string()
    got = gpuvelo.sql("SELECT MIN(d) AS d0, MAX(ts) AS t1, date_trunc('hour', MIN(ts)) AS h, "
                      "COUNT(mixed) AS n FROM e", e=JsonLinesSource(path, block_size=64))
    assert got.to_pylist() == [{"d0": dt.date(2024, 1, 1), "t1": dt.datetime(2024, 1, 1, 10, 0, 9, 259000),
                                "h": dt.datetime(2024, 1, 1, 10), "n": 20}]
