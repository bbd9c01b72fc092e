"""A streaming user's checks: windowed jobs against DuckDB on out-of-order trades (late rows
sent to the late sink exactly as the watermark rule says), sinks that round-trip types and
empty results, and the command line's streaming options and error paths."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from differential import assert_same_rows, rows
from gpuvelo.cli import duration_arg, main
from gpuvelo.errors import SinkError

T0 = 1_767_225_600_000          # 2026-01-01 in epoch ms
AGGS = "COUNT(*) AS n, COUNT(qty) AS nq, SUM(qty) AS sq, MAX(px) AS mx"


def trades(seed: int, n: int = 400, unit: str = "ms", t0: int = T0) -> pa.Table:
    """Trades over an hour, up to 2 minutes out of order, some much later, a few NULL times."""
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, 3_600_000, n)) - rng.integers(0, 120_000, n)
    very = rng.choice(n, n // 40, replace=False)
    t[very] -= rng.integers(120_000, 480_000, very.size)
    mult = {"ms": 1, "us": 1000}[unit]
    return pa.table({
        "sym": pa.array(np.array(["AAPL", "MSFT", "Ωmega"])[rng.integers(0, 3, n)],
                        mask=rng.random(n) < 0.05),
        "qty": pa.array(rng.integers(1, 1000, n), mask=rng.random(n) < 0.05),
        "px": pa.array(np.round(rng.uniform(1, 500, n), 2)),
        "ts": pa.array(t * mult, pa.timestamp(unit), mask=rng.random(n) < 0.03),
        "e": pa.array(t, pa.int64()),
    })


def late_rows(table: pa.Table, delay: int, size: int) -> np.ndarray:
    """Tumbling lateness by the README's rule, row by row in arrival order: late when the
    row's window ends at or before (highest earlier event time - delay)."""
    e = table["e"].to_numpy()
    valid = ~np.asarray(table["ts"].is_null())
    late, high = np.zeros(e.size, bool), None
    for i in range(e.size):
        if not valid[i]:
            continue
        if high is not None and (e[i] // size) * size + size <= high - delay:
            late[i] = True
        high = int(e[i]) if high is None else max(high, int(e[i]))
    return late


@pytest.mark.parametrize("unit, batch_size, partitions", [("ms", 1, 1), ("us", 7, 3), ("ms", None, 3)])
def test_tumbling_late_rows_go_to_late_sink_and_rest_match_duckdb(backend, unit, batch_size, partitions):
    table, size, delay = trades(1, unit=unit), 300_000, 60_000
    late = late_rows(table, delay, size)
    assert 5 < late.sum() < 100
    sink, late_sink = gpuvelo.io.MemorySink(), gpuvelo.io.MemorySink()
    stats = gpuvelo.Job(f"SELECT sym, window_start, window_end, {AGGS} FROM t GROUP BY sym "
                        "WINDOW TUMBLING(ts, 5m)", sources={"t": table}, sink=sink, backend=backend,
                        batch_size=batch_size, partitions=partitions, max_out_of_orderness=delay,
                        late_policy="sink", late_sink=late_sink).run()
    assert stats.balanced and stats.records_late == late.sum()
    assert stats.rejected_reasons == {"NullEventTime": table["ts"].null_count}
    assert sorted(late_sink.table()["e"].to_pylist()) == sorted(table["e"].filter(pa.array(late)).to_pylist())
    on_time = table.filter(pa.array(~late & ~np.asarray(table["ts"].is_null())))  # noqa: F841 -- read by DuckDB by name
    ref = duckdb.sql(f"SELECT sym, time_bucket(INTERVAL 5 minute, ts) w, w + INTERVAL 5 minute, {AGGS} "
                     "FROM on_time GROUP BY sym, w").to_arrow_table()
    assert_same_rows(rows(sink.table()), rows(ref), ordered=False)


def test_windows_before_1970_match_duckdb(backend):
    early = trades(2, unit="us", t0=-3 * 86_400_000)
    got = gpuvelo.sql("SELECT sym, window_start, COUNT(*) AS n FROM t GROUP BY sym "
                      "WINDOW TUMBLING(ts, 15m, GRACE PERIOD 1 DAY)", t=early, backend=backend, batch_size=7)
    ref = duckdb.sql("SELECT sym, time_bucket(INTERVAL 15 minute, ts) w, COUNT(*) FROM early "
                     "WHERE ts IS NOT NULL GROUP BY sym, w").to_arrow_table()
    assert_same_rows(rows(got), rows(ref), ordered=False)


# ------------------------------------------------------------------ sinks
RESULT = pa.table({
    "k": pa.array(["a", "ü€😀", None, 'q"\n\\']),
    "ts": pa.array([0, -1_000_123, None, 1_767_225_600_123_456], pa.timestamp("us")),
    "dec": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-0.01"), decimal.Decimal("0")],
                    pa.decimal128(12, 2)),
})


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_empty_windowed_result_writes_a_valid_file(tmp_path, ext):
    path = tmp_path / f"out.{ext}"
    stats = gpuvelo.Job("SELECT k, window_start, COUNT(*) AS n, SUM(dec) AS s FROM t WHERE dec > 100 "
                        "GROUP BY k WINDOW TUMBLING(ts, 1h)", sources={"t": RESULT}, sink=str(path)).run()
    assert stats.records_emitted == 0
    if ext == "parquet":
        assert pq.read_table(path).column_names == ["k", "window_start", "n", "s"]
    elif ext == "csv":
        assert path.read_text() == '"k","window_start","n","s"\n'
    else:
        assert path.read_text() == ""


def test_jsonl_sink_round_trips_types(tmp_path):
    path = tmp_path / "out.jsonl"
    gpuvelo.Job("SELECT k, ts, dec FROM t", sources={"t": RESULT}, sink=str(path)).run()
    back = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["k"] for r in back] == RESULT["k"].to_pylist()
    assert [r["ts"] and dt.datetime.fromisoformat(r["ts"]) for r in back] == RESULT["ts"].to_pylist()
    assert [r["dec"] and decimal.Decimal(r["dec"]) for r in back] == RESULT["dec"].to_pylist()


@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_unwritable_sink_path_fails_even_for_an_empty_result(tmp_path, ext):
    """Regression: an empty result to a path in a missing directory used to 'succeed' and
    write nothing (the error came at close, where the job swallows it)."""
    path = tmp_path / "missing" / f"out.{ext}"
    job = gpuvelo.Job("SELECT k, COUNT(*) AS n FROM t WHERE dec > 100 GROUP BY k",
                      sources={"t": RESULT}, sink=str(path))
    with pytest.raises(SinkError, match="cannot open for writing"):
        job.run()


# ------------------------------------------------------------------ command line
@pytest.fixture
def trades_file(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(trades(3), path)
    return path


def test_cli_event_time_out_of_orderness_and_late_sink(trades_file, tmp_path, capsys):
    late = tmp_path / "late.jsonl"
    q = "SELECT sym, window_start, COUNT(*) AS n FROM t GROUP BY sym WINDOW TUMBLING (SIZE 5 MINUTES)"
    assert main(["run", q, "--source", f"t={trades_file}", "--event-time", "ts",
                 "--late-sink", str(late), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    n_late = len(late.read_text().splitlines())
    assert n_late > 0 and f"note: {n_late} late row(s) dropped" in err
    assert "rejected (NullEventTime:" in err
    assert main(["run", q, "--source", f"t={trades_file}", "--event-time", "ts",
                 "--max-out-of-orderness", "1d", "--format", "csv"]) == 0
    out2, err2 = capsys.readouterr()
    assert "late row" not in err2
    assert sum(int(line.rsplit(",", 1)[1]) for line in out2.splitlines()[1:]) == \
        pq.read_table(trades_file)["ts"].drop_null().length()


def test_cli_emit_changes_option(trades_file, capsys):
    q = "SELECT sym, COUNT(*) AS n FROM t GROUP BY sym"
    assert main(["run", q, "--source", f"t={trades_file}", "--batch-size", "100",
                 "--emit", "changes", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) - 1 > 4     # a row per group per batch


def test_duration_arg():
    assert [duration_arg(x) for x in ("1500", "500ms", "30s", "5m", "1h", "1d")] == \
        [1500, 500, 30_000, 300_000, 3_600_000, 86_400_000]
    with pytest.raises(Exception, match="not a duration"):
        duration_arg("5x")


def test_cli_failing_query_leaves_no_file_and_keeps_its_error(trades_file, tmp_path, capsys):
    """Regression: a query that fails to plan left an empty 0-byte output file, and with an
    unwritable path the sink's close error hid the query's own error."""
    out = tmp_path / "out.csv"
    assert main(["run", "SELECT SUM(sym) FROM t", "--source", f"t={trades_file}", "-o", str(out)]) == 2
    assert "SUM needs a number" in capsys.readouterr().err and not out.exists()
    assert main(["run", "SELECT SUM(sym) FROM t", "--source", f"t={trades_file}",
                 "-o", str(tmp_path / "missing" / "out.csv")]) == 2
    assert "SUM needs a number" in capsys.readouterr().err


def test_cli_empty_result_to_unwritable_path_is_an_error(trades_file, tmp_path, capsys):
    code = main(["run", "SELECT sym, COUNT(*) n FROM t WHERE qty > 10000 GROUP BY sym",
                 "--source", f"t={trades_file}", "-o", str(tmp_path / "missing" / "e.csv")])
    assert code == 2 and "cannot open for writing" in capsys.readouterr().err


@pytest.mark.parametrize("partitions", [1, 3])
def test_emit_changes_orders_each_emit_and_refuses_limit(partitions):
    """EMIT CHANGES: ORDER BY orders the rows of every emit; LIMIT/OFFSET (which need the
    whole result) are refused instead of being ignored."""
    t = pa.table({"k": [3, 1, 2, 1, 5, 4, 2, 9] * 5, "v": list(range(40))})
    emits = []
    gpuvelo.Job("SELECT k, SUM(v) AS s FROM t GROUP BY k ORDER BY s DESC", sources={"t": t},
                sink=gpuvelo.io.CallbackSink(emits.append), emit="changes", batch_size=8,
                backend="cpu", partitions=partitions).run()
    assert len(emits) >= 5
    for table in emits:
        s = table.column("s").to_pylist()
        assert s == sorted(s, reverse=True)
    for clause in ("LIMIT 2", "LIMIT 2 OFFSET 1", "OFFSET 1"):
        with pytest.raises(gpuvelo.errors.NotSupportedError, match="EMIT CHANGES"):
            gpuvelo.Job(f"SELECT k, SUM(v) AS s FROM t GROUP BY k ORDER BY s {clause}",
                        sources={"t": t}, sink=gpuvelo.io.MemorySink(), emit="changes")


def test_set_aside_sinks_are_valid_files_when_nothing_is_set_aside(tmp_path):
    """Dead-letter and late-row file sinks get the source's columns plus the reason before
    the run: with no late or rejected row they still hold a valid, empty table."""
    t = pa.table({"ts": pa.array([1000, 2000, 3000], pa.timestamp("ms")), "k": [1, 2, 1]})
    late, dead = tmp_path / "late.csv", tmp_path / "dead.parquet"
    gpuvelo.Job("SELECT k, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1s)",
                sources={"t": t}, sink=gpuvelo.io.MemorySink(), late_policy="sink",
                late_sink=str(late), dead_letter=str(dead)).run()
    assert late.read_text().splitlines() == ['"ts","k","_gpuvelo_error"']
    got = pq.read_table(dead)
    assert got.num_rows == 0 and got.schema.names == ["ts", "k", "_gpuvelo_error"]


def test_sql_windows_see_the_whole_table_in_any_order():
    """gpuvelo.sql over a finite, unsorted table: no row is late unless asked (as DuckDB's
    time_bucket); a Job (a stream) keeps its watermark rule."""
    rng = np.random.default_rng(4)
    n = 500
    t = pa.table({"ts": pa.array(rng.integers(0, 60_000, n), pa.timestamp("ms")),
                  "k": rng.integers(0, 3, n), "v": rng.integers(0, 100, n)})
    q = "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING(ts, 10s)"
    want = duckdb.sql("SELECT k, time_bucket(INTERVAL '10 seconds', ts) AS window_start, COUNT(*) AS n, "
                      "SUM(v) AS s FROM t GROUP BY ALL").to_arrow_table()
    for bs in (None, 7):
        assert_same_rows(rows(gpuvelo.sql(q, t=t, batch_size=bs, backend="cpu")), rows(want),
                         ordered=False, context=q)
    strict = gpuvelo.sql(q, t=t, batch_size=7, backend="cpu", max_out_of_orderness="0s")
    assert sum(strict.column("n").to_pylist()) < n          # the same rows as a stream: late ones dropped
    stats = gpuvelo.Job(q, sources={"t": t}, sink=gpuvelo.io.MemorySink(), batch_size=7,
                        backend="cpu").run()
    assert stats.records_late > 0
