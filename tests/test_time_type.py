"""TIME (time of day) values, differential against DuckDB: reading Arrow / Parquet / CSV time
columns, comparisons, keys, aggregates, casts, parts, and TIME arithmetic; what gpuvelo
refuses is refused with a clear error."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from gpuvelo import types as T
from gpuvelo.errors import NotSupportedError, PlanError, TypeMismatchError
from gpuvelo.io.sinks import duckdb_text, json_lines
from differential import assert_same_rows, rows, run_both

N = 60


def _table() -> pa.Table:
    rng = np.random.default_rng(7)
    sec = rng.integers(0, 86_400, N)
    sec[:4] = [0, 86_399, 36_000, 36_000]          # midnight, the last second, a tie
    mask = rng.random(N) < 0.2
    frac = rng.integers(0, 4, N) * 250_000
    frac[1] = 999_999
    return pa.table({
        "k": pa.array(rng.integers(0, 4, N), pa.int32()),
        "t": pa.array(sec * 1_000_000 + frac, pa.time64("us"), mask=mask),
        "t32": pa.array(sec.astype(np.int32), pa.time32("s"), mask=rng.random(N) < 0.2),
        "tms": pa.array((sec * 1000 + 5).astype(np.int32), pa.time32("ms")),
        "ts": pa.array(1_704_067_200_000_000 + rng.integers(-10**13, 10**13, N),
                       pa.timestamp("us"), mask=rng.random(N) < 0.2),
        "tsns": pa.array(1_704_067_200_000_000_000 + rng.integers(-10**16, 10**16, N),
                         pa.timestamp("ns")),
        "d": pa.array(rng.integers(-1000, 20_000, N).astype(np.int32), pa.date32(),
                      mask=rng.random(N) < 0.2),
        "iv": pa.array(rng.integers(-10**12, 10**12, N), pa.duration("us"), mask=rng.random(N) < 0.2),
    })


T_TABLE = _table()

QUERIES = [
    "SELECT t, t32, tms FROM t",
    "SELECT k, t FROM t WHERE t < TIME '12:00' ORDER BY t, k",
    "SELECT k, t FROM t WHERE t >= '06:30' AND t32 <> '10:00:00' ORDER BY t DESC NULLS FIRST, k",
    "SELECT t IN ('10:00', TIME '00:00:00'), t BETWEEN '09:00' AND '17:00:00.5', t = t32 FROM t",
    "SELECT k, MIN(t), MAX(t), FIRST(t), LAST(t), ANY_VALUE(t) IS NULL, COUNT(t), "
    "COUNT(DISTINCT t32) FROM t GROUP BY k",
    "SELECT t32, COUNT(*), MAX(tms) FROM t GROUP BY t32",
    "SELECT ARG_MAX(k, t), ARG_MIN(t, k), MIN(DISTINCT t) FROM t",
    "SELECT COALESCE(t, TIME '00:00:01'), CASE WHEN k > 1 THEN t ELSE tms END, t IS NULL, "
    "NULLIF(t, t32), GREATEST(t, t32), LEAST(t, tms) FROM t",
    "SELECT CAST(ts AS TIME), CAST(tsns AS TIME), ts::TIME::VARCHAR, t::VARCHAR, tms::VARCHAR, "
    "'10:00'::TIME, CAST(TIME '10:00:00.5' AS VARCHAR), CAST('1:2:3.1234567' AS TIME) FROM t",
    "SELECT HOUR(t), MINUTE(t), SECOND(t), MICROSECOND(t), MILLISECOND(t), EPOCH(t), "
    "EXTRACT(hour FROM t32), DATE_PART('minute', tms), DATE_PART('epoch', t) FROM t",
    "SELECT d + t, t + d, t + INTERVAL 90 MINUTE, t - INTERVAL '25 hours', t + iv, iv + t, "
    "t - iv, t + INTERVAL 1 DAY, t + INTERVAL 1 MONTH, t - INTERVAL '1 day 2 hours' FROM t",
    "SELECT t + INTERVAL (k) HOUR, t - INTERVAL (k - 2) MINUTE, t + INTERVAL (k) DAY FROM t",
    "SELECT k, MAX(t + INTERVAL 1 HOUR), HOUR(MIN(t)) FROM t GROUP BY k "
    "HAVING MIN(t) > '00:00:10' ORDER BY k",
    "SELECT HOUR(t) AS h, COUNT(*), MIN(t) FROM t GROUP BY HOUR(t)",
    "SELECT t, COUNT(*) FROM t GROUP BY t ORDER BY t NULLS LAST",
    "SELECT k, LIST(t) FROM t WHERE k = 1 GROUP BY k",
    "SELECT t IN ('01:00', '02:00', '03:00', '04:00', '10:00', NULL), "
    "t NOT IN ('00:00:00', '10:00', '11:00', '12:00', '13:00') FROM t",
    "SELECT CAST(NULL AS TIME), COALESCE(CAST(NULL AS TIME), t32) FROM t",
    "SELECT DISTINCT t32 FROM t",
]


@pytest.mark.parametrize("query", QUERIES)
def test_time_queries_match_duckdb(backend, query):
    run_both(query, {"t": T_TABLE}, backend=backend)
    run_both(query, {"t": T_TABLE}, backend=backend, batch_size=7)


def test_arrow_time_types():
    assert T.from_arrow(pa.time32("s")) == T.TIME == T.from_arrow(pa.time64("us"))
    assert T.from_arrow(pa.time32("ms")).is_time
    assert T.from_arrow(pa.time64("ns")).is_unsupported   # DuckDB's TIME_NS keeps nanoseconds
    assert T.to_arrow(T.TIME) == pa.time64("us")
    out = gpuvelo.sql("SELECT MIN(t32) AS m FROM t", t=T_TABLE)
    assert out.schema.field("m").type == pa.time64("us")


def test_time_ns_column_is_refused_by_name(backend):
    t = pa.table({"x": pa.array([1, None], pa.time64("ns"))})
    with pytest.raises(NotSupportedError, match=r"column 'x': type time64\[ns\]"):
        gpuvelo.sql("SELECT x FROM t", t=t, backend=backend)


def test_parquet_time_column_matches_duckdb(backend, tmp_path):
    path = tmp_path / "times.parquet"
    pq.write_table(T_TABLE.select(["k", "t", "t32", "tms"]), path, row_group_size=9)
    for q in ["SELECT k, MIN(t), MAX(t32), COUNT(DISTINCT tms) FROM t GROUP BY k",
              "SELECT t32, COUNT(*) FROM t WHERE t32 > '08:00' GROUP BY t32"]:
        expected = rows(duckdb.sql(q.replace("FROM t", f"FROM read_parquet('{path}')")).to_arrow_table())
        got = rows(gpuvelo.sql(q, t=str(path), backend=backend, batch_size=7))
        assert_same_rows(got, expected, ordered=False, context=q)


def test_csv_time_column_matches_duckdb(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("k,t\n1,10:00:00\n2,\n1,23:59:59\n3,00:00:01\n2,12:30:00\n1,10:00:00\n")
    for q in [f"SELECT k, MIN(t), MAX(t), COUNT(t), COUNT(DISTINCT t) FROM '{path}' GROUP BY k ORDER BY k",
              f"SELECT t, hour(t), CAST(t AS VARCHAR) FROM '{path}' WHERE t > '01:00' ORDER BY t",
              f"SELECT k, t + INTERVAL 1 HOUR FROM '{path}' ORDER BY k, t"]:
        assert_same_rows(rows(gpuvelo.sql(q)), duckdb.sql(q).fetchall(), ordered=True, context=q)


def test_time_text_as_duckdb_prints_it():
    col = pa.array([0, 36_000_500_000, 86_399_999_999, None], pa.time64("us"))
    assert duckdb_text(col).to_pylist() == ["00:00:00", "10:00:00.5", "23:59:59.999999", None]
    assert json_lines(pa.record_batch([col], ["t"])).decode().splitlines() == [
        '{"t":"00:00:00"}', '{"t":"10:00:00.5"}', '{"t":"23:59:59.999999"}', '{"t":null}']
    got = gpuvelo.sql("SELECT CAST(t AS VARCHAR) AS s FROM t", t=T_TABLE).column("s").to_pylist()
    want = duckdb.sql("SELECT CAST(t AS VARCHAR) AS s FROM T_TABLE").fetchall()
    assert got == [r[0] for r in want]


@pytest.mark.parametrize("query, error", [
    ("SELECT SUM(t) FROM t", TypeMismatchError),            # DuckDB has no SUM of TIME
    ("SELECT AVG(t) FROM t", NotSupportedError),
    ("SELECT MEDIAN(t) FROM t", NotSupportedError),
    ("SELECT STRING_AGG(t, ',') FROM t", NotSupportedError),
    ("SELECT t - t FROM t", TypeMismatchError),             # as DuckDB: no TIME - TIME
    ("SELECT t + 1 FROM t", TypeMismatchError),
    ("SELECT t + NULL FROM t", TypeMismatchError),          # ambiguous in DuckDB
    ("SELECT d - t FROM t", TypeMismatchError),
    ("SELECT -t FROM t", TypeMismatchError),
    ("SELECT t < ts FROM t", TypeMismatchError),
    ("SELECT YEAR(t) FROM t", PlanError),
    ("SELECT CAST(t AS TIMESTAMP) FROM t", TypeMismatchError),
    ("SELECT CAST(CAST(ts AS TIMESTAMPTZ) AS TIME) FROM t", TypeMismatchError),   # as DuckDB
    ("SELECT CAST(CAST(ts AS VARCHAR) AS TIME) FROM t", NotSupportedError),
    ("SELECT TIME '24:00:00'", NotSupportedError),
    ("SELECT TRY_CAST('10:00+02' AS TIME)", NotSupportedError),
    ("SELECT DATE_TRUNC('hour', t) FROM t", TypeMismatchError),
])
def test_unsupported_time_operations_are_refused(query, error):
    with pytest.raises(error):
        gpuvelo.sql(query, t=T_TABLE)
