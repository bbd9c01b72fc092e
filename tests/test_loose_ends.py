"""Loose ends a new user trips over, each checked against DuckDB where DuckDB has a say:
QUALIFY without a window function, derived tables that do not expose a column, calls with
the wrong number of arguments, file sinks of a failed job, source columns named like the
window bounds, and uint64 epoch-ms times beyond int64."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from differential import random_table, run_both
from gpuvelo.errors import (DataError, GpuveloError, PlanError, SinkError,
                            SqlSyntaxError, UnknownColumnError)
from gpuvelo.io import CsvSink, MemorySink

T = random_table(np.random.default_rng(11), 60)
CLICKS = pa.table({"country": ["fr", "de", "fr", None], "url": ["x", "y", "x", "z"],
                   "n": pa.array([1, 2, 3, None], pa.int64())})


def duckdb_rejects(query: str, tables: dict) -> str:
    """DuckDB's error message for ``query`` (the test fails if DuckDB accepts it)."""
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    with pytest.raises(duckdb.Error) as info:
        con.sql(query).fetchall()
    return str(info.value)


# --------------------------------------------------------------------------- 1. QUALIFY
@pytest.mark.parametrize("query", [
    "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 QUALIFY n > 1",
    "SELECT k1, i FROM t QUALIFY i > 1",
])
def test_qualify_without_a_window_function_is_rejected_as_duckdb_does(query, backend):
    assert "window function" in duckdb_rejects(query, {"t": T})
    with pytest.raises(PlanError, match="QUALIFY needs a window function"):
        gpuvelo.sql(query, t=T, backend=backend)


def test_qualify_with_a_window_function_still_runs(backend):
    query = "SELECT k1, COUNT(*) AS n FROM t GROUP BY k1 QUALIFY ROW_NUMBER() OVER (ORDER BY k1) <= 2"
    run_both(query, {"t": T}, backend=backend)


# --------------------------------------------------------------------------- 2. derived tables
@pytest.mark.parametrize("query,missing,available", [
    ("SELECT * FROM (SELECT country FROM clicks) WHERE url = 'x'", "url", "country"),
    ("SELECT * FROM (SELECT country FROM clicks) s WHERE s.url = 'x'", "url", "country"),
    ("SELECT url FROM (SELECT country AS c, n FROM clicks) s", "url", "c, n"),
    ("SELECT country FROM (SELECT country AS c FROM clicks)", "country", "c"),
    ("SELECT c, COUNT(*) FROM (SELECT country AS c FROM clicks) GROUP BY c, url", "url", "c"),
    ("SELECT c FROM (SELECT country AS c FROM clicks) ORDER BY n", "n", "c"),
    ("SELECT c, SUM(n) FROM (SELECT country AS c FROM clicks) GROUP BY c", "n", "c"),
    ("SELECT * FROM (SELECT * FROM (SELECT country, n FROM clicks) WHERE url = 'x')", "url", "country, n"),
    ("WITH a AS (SELECT country, url FROM clicks), b AS (SELECT country FROM a) "
     "SELECT url FROM b", "url", "country"),
    ("SELECT url FROM (SELECT * EXCLUDE (url) FROM clicks)", "url", "except url"),
    ("SELECT url FROM (SELECT * RENAME (url AS u) FROM clicks)", "url", "except url"),
    ("SELECT * EXCLUDE (url) FROM (SELECT country FROM clicks)", "url", "country"),
])
def test_a_column_the_derived_table_does_not_expose_is_unknown(query, missing, available, backend):
    duckdb_rejects(query, {"clicks": CLICKS})
    with pytest.raises(UnknownColumnError) as info:
        gpuvelo.sql(query, clicks=CLICKS, backend=backend)
    message = str(info.value)
    assert f"'{missing}'" in message and available in message, message


@pytest.mark.parametrize("query", [
    "SELECT * FROM (SELECT country FROM clicks) s WHERE clicks.url = 'x'",
    "SELECT * FROM (SELECT country FROM clicks) WHERE clicks.url = 'x'",
])
def test_the_derived_tables_source_is_not_a_table_of_the_outer_query(query, backend):
    duckdb_rejects(query, {"clicks": CLICKS})
    with pytest.raises(UnknownColumnError, match="names table 'clicks'"):
        gpuvelo.sql(query, clicks=CLICKS, backend=backend)


@pytest.mark.parametrize("query", [
    "SELECT * FROM (SELECT k1, i FROM t) WHERE i > 0",
    "SELECT s.* FROM (SELECT k1, i FROM t) s WHERE s.i > 0",
    "SELECT * FROM (SELECT t.* FROM t) WHERE i > 0",
    "SELECT x, i FROM (SELECT k1 AS x, i FROM t WHERE k3) WHERE x IS NOT NULL",
    "SELECT * FROM (SELECT * FROM t WHERE i > 0) WHERE f > 0",
    "SELECT * FROM (SELECT * FROM (SELECT k1, i AS j FROM t) WHERE j > 0) AS q WHERE q.k1 > 0",
    "WITH a AS (SELECT k1, s AS name FROM t) SELECT name, k1 FROM a WHERE k1 > 0",
    "SELECT * EXCLUDE (i) FROM (SELECT k1, i, s FROM t)",
    "SELECT * RENAME (i AS j) FROM (SELECT k1, i FROM t)",
    "SELECT * REPLACE (i + 1 AS i) FROM (SELECT k1, i FROM t)",
    "SELECT j FROM (SELECT * RENAME (i AS j) FROM t)",
    "SELECT * FROM (SELECT *, i + 1 AS j FROM t) WHERE j > 0",
    "SELECT * EXCLUDE (j, s) FROM (SELECT i * 10 AS j, * FROM t)",
    "SELECT * REPLACE (j * 2 AS j, i * 3 AS i) RENAME (k1 AS key) FROM (SELECT *, i + 1 AS j FROM t)",
    "SELECT x + 1 AS u FROM (SELECT i AS x FROM t) ORDER BY u NULLS FIRST",
    "SELECT x, COUNT(*) AS c, SUM(y) AS total FROM (SELECT k1 AS x, i AS y FROM t) GROUP BY x",
    "SELECT k1, SUM(i) FROM (SELECT k1, i FROM t) GROUP BY ALL HAVING SUM(i) > 0",
    "SELECT k1 FROM (SELECT k1, i FROM t) WHERE i IN (SELECT i FROM t WHERE f > 0)",
])
def test_derived_tables_that_expose_what_the_query_reads_still_run(query, backend):
    run_both(query, {"t": T}, backend=backend)
    run_both(query, {"t": T}, backend=backend, batch_size=7)


def test_order_by_an_output_name_that_is_also_a_source_column_sorts_by_the_output(backend):
    # the random table has a column u: DuckDB sorts by the output named u, not the column
    run_both("SELECT i + 1 AS u FROM t ORDER BY u NULLS FIRST", {"t": T}, backend=backend)
    run_both("SELECT -i AS u, s FROM t ORDER BY u DESC, s", {"t": T}, backend=backend, batch_size=7)


def test_a_derived_table_beside_a_join_exposes_only_its_columns(backend):
    d = pa.table({"k1": pa.array([1, 2, 3], pa.int32()), "label": ["a", "b", "c"]})
    good = "SELECT s.k1, d.label FROM (SELECT k1 FROM t) s JOIN d ON s.k1 = d.k1"
    run_both(good, {"t": T, "d": d}, backend=backend)
    bad = "SELECT s.i, d.label FROM (SELECT k1 FROM t) s JOIN d ON s.k1 = d.k1"
    duckdb_rejects(bad, {"t": T, "d": d})
    with pytest.raises(UnknownColumnError):
        gpuvelo.sql(bad, t=T, d=d, backend=backend)


# --------------------------------------------------------------------------- 3. arity
@pytest.mark.parametrize("query,message", [
    ("SELECT concat() FROM t", "concat() takes at least 1 argument, got 0"),
    ("SELECT abs() FROM t", "abs() takes 1 argument, got 0"),
    ("SELECT abs(i, 2) FROM t", "abs() takes at most 1 argument, got 2"),
    ("SELECT upper(lower(s, s)) FROM t", "lower() takes at most 1 argument, got 2"),
    ("SELECT substr() FROM t", "substr() takes 2 to 3 arguments, got 0"),
    ("SELECT nullif(i) FROM t", "nullif() takes 2 arguments, got 1"),
    ("SELECT k1 FROM t WHERE coalesce() > 1", "coalesce() takes at least 1 argument, got 0"),
    ("SELECT k1, SUM() FROM t GROUP BY k1", "SUM() takes 1 argument, got 0"),
])
def test_wrong_arity_names_the_function_and_what_it_takes(query, message):
    duckdb_rejects(query, {"t": T})
    with pytest.raises(SqlSyntaxError) as info:
        gpuvelo.sql(query, t=T, backend="cpu")
    text = str(info.value)
    assert message in text and "sqlglot" not in text and "<class" not in text, text
    assert info.value.line == 1 and info.value.column >= 1


def test_other_syntax_errors_do_not_quote_sqlglot_classes():
    with pytest.raises(SqlSyntaxError) as info:
        gpuvelo.sql("SELECT k1 FROM t WHERE", t=T, backend="cpu")
    assert "incomplete WHERE" in str(info.value) and "<class" not in str(info.value)


# --------------------------------------------------------------------------- 4. failed jobs
def _failing(rows: int):
    """A source of one batch of ``rows`` rows, then an error."""
    yield pa.record_batch({"k": pa.array(range(rows), pa.int64()), "x": [1.0] * rows})
    raise RuntimeError("the source broke")


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_a_failed_job_leaves_no_file_when_it_wrote_no_rows(tmp_path, ext):
    path = tmp_path / f"out.{ext}"
    job = gpuvelo.Job("SELECT k, SUM(x) AS s FROM t GROUP BY k", sources={"t": _failing(3)},
                      sink=str(path), backend="cpu")
    with pytest.raises(GpuveloError, match="the source broke"):
        job.run()
    assert not path.exists()


def test_a_failed_job_keeps_the_rows_it_wrote(tmp_path):
    path = tmp_path / "out.parquet"
    job = gpuvelo.Job("SELECT k, x FROM t", sources={"t": _failing(3)}, sink=str(path), backend="cpu")
    with pytest.raises(GpuveloError, match="the source broke"):
        job.run()
    assert pq.read_table(path).column("k").to_pylist() == [0, 1, 2]


def test_a_good_job_with_no_rows_still_writes_an_empty_file(tmp_path):
    path = tmp_path / "out.csv"
    gpuvelo.Job("SELECT k, x FROM t WHERE k < 0", sources={"t": CLICKS.select(["n"]).rename_columns(
        ["k"]).append_column("x", pa.array([1.0] * 4))}, sink=str(path), backend="cpu").run()
    assert path.read_text().strip() == '"k","x"'


class _BadClose(MemorySink):
    def close(self):
        super().close()
        raise SinkError("close failed")


def test_a_close_error_does_not_hide_the_jobs_error():
    job = gpuvelo.Job("SELECT k, SUM(x) AS s FROM t GROUP BY k", sources={"t": _failing(2)},
                      sink=_BadClose(), backend="cpu")
    with pytest.raises(GpuveloError, match="the source broke"):
        job.run()


def test_a_close_error_after_a_good_run_is_raised():
    job = gpuvelo.Job("SELECT k FROM t", sources={"t": {"k": [1, 2]}}, sink=_BadClose(), backend="cpu")
    with pytest.raises(SinkError, match="close failed"):
        job.run()
    assert job.stats.stopped == "error"


def test_a_file_object_sink_of_a_failed_job_gets_nothing(tmp_path):
    path = tmp_path / "out.csv"
    with open(path, "wb") as out:
        job = gpuvelo.Job("SELECT k, SUM(x) AS s FROM t GROUP BY k", sources={"t": _failing(2)},
                          sink=CsvSink(out), backend="cpu")
        with pytest.raises(GpuveloError):
            job.run()
    assert path.read_bytes() == b""


# --------------------------------------------------------------------------- 5. window bound names
EVENTS = pa.table({"k": pa.array([1, 1, 2], pa.int64()),
                   "ts": pa.array([0, 1_000, 61_000], pa.timestamp("ms")),
                   "window_start": pa.array([7, 8, 9], pa.int64())})


@pytest.mark.parametrize("query", [
    "SELECT k, window_start, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)",
    "SELECT k, COUNT(*) AS n FROM t WHERE window_start > 0 GROUP BY k WINDOW TUMBLING(ts, 1m)",
    "SELECT k, SUM(window_start) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)",
])
def test_a_source_column_named_like_a_window_bound_is_a_clear_error(query, backend):
    with pytest.raises(PlanError, match="taken by the window's start bound") as info:
        gpuvelo.sql(query, t=EVENTS, backend=backend)
    assert "t.window_start" in str(info.value)


def test_the_qualified_source_column_and_the_bound_can_both_be_read(backend):
    out = gpuvelo.sql("SELECT k, _window_start, SUM(t.window_start) AS s FROM t GROUP BY k "
                      "WINDOW TUMBLING(ts, 1m) ORDER BY k, _window_start", t=EVENTS, backend=backend)
    assert out.column("s").to_pylist() == [15, 9]
    assert [v.minute for v in out.column("_window_start").to_pylist()] == [0, 1]


def test_without_a_window_the_column_is_an_ordinary_column(backend):
    out = gpuvelo.sql("SELECT SUM(window_start) AS s FROM t", t=EVENTS, backend=backend)
    assert out.column("s").to_pylist() == [24]


# --------------------------------------------------------------------------- 6. uint64 times
def test_a_uint64_epoch_ms_time_beyond_int64_is_a_data_error(backend):
    t = pa.table({"k": [1, 1, 2], "ts": pa.array([1_000, 2**63 + 5, None], pa.uint64())})
    with pytest.raises(DataError, match=rf"'ts'.*{2**63 + 5}"):
        gpuvelo.sql("SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1s)",
                    t=t, backend=backend)


def test_uint64_epoch_ms_times_within_int64_still_window(backend):
    t = pa.table({"k": [1, 1, 2], "ts": pa.array([1_000, 1_500, None], pa.uint64())})
    out = gpuvelo.sql("SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1s)",
                      t=t, backend=backend)
    assert out.to_pylist() == [{"k": 1, "n": 2}]
