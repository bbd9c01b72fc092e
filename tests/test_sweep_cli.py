"""The command line and the sinks as a new user meets them, each behaviour checked against
DuckDB where DuckDB has one: output text of every result type (lists, structs, intervals,
timestamps with time zones, NULLs, unicode) on stdout and in CSV / JSON-lines files,
messages for common mistakes, a graceful stop, set-aside rows, explain, and windows."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpuvelo.cli import _broken_pipe, format_table, main, read_query, report_stop
from gpuvelo.errors import SinkError
from gpuvelo.exec.stats import JobStats
from gpuvelo.io import CsvSink, JsonLinesSink
from gpuvelo.io.sinks import duckdb_text

ROOT = Path(__file__).resolve().parent.parent
STATIONS = ROOT.parent / "shared" / "data" / "weather_stations.csv"


def duck_text(table: pa.Table, column: str) -> list:
    """DuckDB's VARCHAR text of one column (UTC session time zone)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table)
    return [r[0] for r in con.execute(f'SELECT "{column}"::VARCHAR FROM t').fetchall()]


NESTED = pa.table({
    "ls": pa.array([["a", "b c", " x", "", "NULL", "null", "a\\b", "it's", 'a"b', "[x]", "{y}",
                     "k:v", "ü", "a,b", None, "x ", "a=b", "a;b"], None, []]),
    "lf": pa.array([[1.5, None, 2.0], [1e20, 0.1, 1 / 3], [float("inf"), float("nan"), -2.0]]),
    "li": pa.array([[1, None], None, [3]]),
    "st": pa.array([{"name": "b", "geo": {"country": None}, "l": [1, 2]}, None,
                    {"name": "a,b", "geo": None, "l": None}]),
    "sk": pa.array([{"a b": 1, "c'd": "x y"}] * 3),
    "ld": pa.array([[dt.date(2024, 1, 1)], [None], []]),
    "lt": pa.array([[dt.datetime(2024, 1, 1, 1, 2, 3)], [dt.datetime(2024, 1, 1, 1, 2, 3, 500000)],
                    [None]]),
    "ltz": pa.array([[dt.datetime(2024, 1, 1, 1, 2, 3)], [dt.datetime(2024, 1, 1, 1, 2, 3, 120000)],
                     None], pa.list_(pa.timestamp("ms", "UTC"))),
    "ldec": pa.array([[Decimal("1.50")], [Decimal("-0.05")], None], pa.list_(pa.decimal128(5, 2))),
    "lb": pa.array([[True, False, None], None, []]),
    "ldur": pa.array([[108061000000, -1500000], None, [None]], pa.list_(pa.duration("us"))),
    "ll": pa.array([[[1, 2], [3]], [[], None], None]),
    "dur": pa.array([108061000000, -1500000, None], pa.duration("us")),
    "dur_ns": pa.array([1500, -1, 123456789012], pa.duration("ns")),
    "dur_s": pa.array([1, -90061, 0], pa.duration("s")),
    "ts": pa.array([dt.datetime(2024, 1, 1, 1, 2, 3, 100)] * 2 + [None], pa.timestamp("us")),
    "tstz": pa.array([dt.datetime(2024, 1, 1, 1, 2, 3, 120000)] * 2 + [None], pa.timestamp("ns", "UTC")),
    "b": pa.array([True, None, False]),
    "dict": pa.array([["a,b"], ["x"], None], pa.list_(pa.dictionary(pa.int32(), pa.string()))),
})


# --------------------------------------------------------------------------- DuckDB's text
@pytest.mark.parametrize("column", NESTED.column_names)
def test_duckdb_text_matches_duckdb(column):
    assert duckdb_text(NESTED[column].combine_chunks()).to_pylist() == duck_text(NESTED, column)


def test_csv_sink_writes_lists_structs_intervals_as_duckdb_does(tmp_path):
    """CSV has no LIST / STRUCT / INTERVAL: the values go as DuckDB's COPY TO writes them
    (was: lists refused, structs refused as 'LIST', intervals as raw microseconds)."""
    cols = ["ls", "li", "st", "ldur", "dur", "lt", "ltz"]
    table = NESTED.select(cols)
    ours = tmp_path / "ours.csv"
    with CsvSink(ours) as sink:
        sink.write(table)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table)
    theirs = tmp_path / "theirs.csv"
    con.execute(f"COPY t TO '{theirs}' (HEADER)")

    def read(path):   # read back as text: the two files must hold the same values
        return con.execute(f"SELECT * FROM read_csv('{path}', all_varchar = true)").fetchall()

    assert read(ours) == read(theirs)
    typed = con.execute(f"SELECT * FROM read_csv('{ours}', types = {{'dur': 'INTERVAL'}})").fetchall()
    assert [r[cols.index("dur")] for r in typed] == [r[0] for r in con.execute("SELECT dur FROM t").fetchall()]


def test_json_lines_sink_intervals_and_structs(tmp_path):
    path = tmp_path / "o.jsonl"
    with JsonLinesSink(path) as sink:
        sink.write(NESTED.select(["dur", "st"]))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["dur"] for r in rows] == ["30:01:01", "-00:00:01.5", None]
    assert rows[0]["st"] == {"name": "b", "geo": {"country": None}, "l": [1, 2]}
    assert rows[1]["st"] is None and rows[2]["st"] == {"name": "a,b", "geo": None, "l": None}


def test_sink_on_a_file_object_names_it(tmp_path):
    """Messages name the file ('<stdout>' for stdout), not '<_io.FileIO name=...>'."""
    with open(tmp_path / "x.csv", "wb") as f:
        assert CsvSink(f).describe() == str(tmp_path / "x.csv")
    assert CsvSink(open(sys.__stdout__.fileno(), "wb", closefd=False)).describe() != ""


# --------------------------------------------------------------------------- printing
def test_table_shows_values_as_duckdb_prints_them():
    table = pa.table({"iv": NESTED["dur"], "tz": NESTED["tstz"], "b": NESTED["b"],
                      "st": NESTED["st"], "u": ["ünï", None, "x"]})
    lines = format_table(table).splitlines()
    assert "30:01:01" in lines[2] and "2024-01-01 01:02:03.12+00" in lines[2]
    assert "true" in lines[2] and "{'name': b, 'geo': {'country': NULL}, 'l': [1, 2]}" in lines[2]
    assert "-00:00:01.5" in lines[3] and lines[3].split()[1:3] == ["2024-01-01", "01:02:03.12+00"]
    assert lines[3].split()[-2:] == ["NULL", "NULL"] and "ünï" in lines[2]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def parts(tmp_path):
    """Parquet files of a directory: string keys with NULLs, tz-aware timestamps, decimals."""
    d = tmp_path / "pq"
    d.mkdir()
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for p in range(2):
        n = 50
        pq.write_table(pa.table({
            "k": pa.array([["x", "y", None, "ü"][(i + p) % 4] for i in range(n)]),
            "v": pa.array([float(i % 7) for i in range(n)]),
            "ts": pa.array([base + dt.timedelta(seconds=97 * i + 13 * p) for i in range(n)],
                           pa.timestamp("us", "UTC")),
            "dec": pa.array([Decimal(i) / 4 for i in range(n)], pa.decimal128(12, 2))}),
            d / f"part{p}.parquet")
    return d


RESULT_QUERY = ("SELECT k, COUNT(*) AS n, SUM(dec) AS sd, MAX(ts) AS mts, MAX(ts) - MIN(ts) AS span, "
                "LIST(v ORDER BY v) AS l, NULL::INT AS nn FROM t GROUP BY k ORDER BY k")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_every_result_type_on_stdout_and_in_files(parts, tmp_path, capsys, fmt):
    """--format csv / json and -o .csv / .jsonl / .parquet for a result with a LIST, an
    INTERVAL, a timestamp with a time zone, decimals, NULLs and unicode (CSV used to
    refuse the LIST; intervals were '1 day, 6:01:01' or raw microseconds)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ref = con.sql(RESULT_QUERY.replace("FROM t", f"FROM read_parquet('{parts}/*.parquet')")).arrow()
    ref = ref.read_all() if hasattr(ref, "read_all") else ref
    rc, out, _ = run_cli(capsys, "run", RESULT_QUERY, "--source", f"t={parts}", "--format", fmt,
                         "--backend", "cpu")
    assert rc == 0
    path = tmp_path / ("o.csv" if fmt == "csv" else "o.jsonl")
    rc, _, err = run_cli(capsys, "run", RESULT_QUERY, "--source", f"t={parts}", "-o", path)
    assert rc == 0 and f"wrote {ref.num_rows} rows" in err
    assert path.read_text(encoding="utf-8") == out       # the same text, printed or written
    if fmt == "json":
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["k"] for r in rows] == ref.column("k").to_pylist()
        assert [r["span"] for r in rows] == duck_text(ref, "span")
        assert [r["l"] for r in rows] == ref.column("l").to_pylist()
        assert all(r["nn"] is None for r in rows)
    else:
        con.register("ref", ref)
        theirs = tmp_path / "theirs.csv"
        con.execute(f"COPY (SELECT * FROM ref) TO '{theirs}' (HEADER)")
        text = "SELECT * EXCLUDE (mts) FROM read_csv('{}', all_varchar = true) ORDER BY k NULLS LAST"
        assert con.execute(text.format(path)).fetchall() == con.execute(text.format(theirs)).fetchall()
        typed = "SELECT mts FROM read_csv('{}') ORDER BY k NULLS LAST"   # timestamps: as values
        assert con.execute(typed.format(path)).fetchall() == con.execute(typed.format(theirs)).fetchall()
    out_pq = tmp_path / "o.parquet"
    assert run_cli(capsys, "run", RESULT_QUERY, "--source", f"t={parts}", "-o", out_pq)[0] == 0
    back = pq.read_table(out_pq)
    assert back.column("span").type == pa.duration("us")
    assert back.column("l").to_pylist() == ref.column("l").to_pylist()


def test_printing_stops_quietly_when_the_reader_goes_away(tmp_path):
    """`gpuvelo run ... --format json | head -1`: exit 0, nothing on stderr (was an error
    line, and then an endless loop over the error's cause chain)."""
    path = tmp_path / "big.csv"
    path.write_text("k,v\n" + "".join(f"k{i % 50},{i}\n" for i in range(200_000)))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "gpuvelo", "run", "SELECT * FROM t", "--source",
                             f"t={path}", "--format", "json", "--batch-size", "1000"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert json.loads(first) == {"k": "k0", "v": 0}
    assert rc == 0 and "error" not in err, err


def test_broken_pipe_is_found_through_a_cyclic_cause_chain():
    e = SinkError("sink failed")
    e.__cause__ = BrokenPipeError(32, "Broken pipe")
    assert _broken_pipe(e)
    loop = SinkError("x")
    loop.__cause__ = loop           # `raise e from e` makes such a chain: must not hang
    assert not _broken_pipe(loop)


# --------------------------------------------------------------------------- mistakes
def test_a_long_one_line_query_is_not_taken_for_a_file_name():
    query = "SELECT " + ", ".join(f"SUM(x{i}) AS total_of_column_{i}" for i in range(20)) + " FROM t"
    assert len(query) > 300
    assert read_query(query) == query       # was: OSError 'File name too long', a traceback


def test_wrong_delimiter_hint(tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text("id,customer,amount\n1,alice,2.5\n2,bob,3\n")
    rc, _, err = run_cli(capsys, "run", "SELECT customer, COUNT(*) FROM t GROUP BY customer",
                         "--source", f"t={path}", "--delimiter", ";")
    assert rc == 2 and "unknown column 'customer'" in err
    assert "read as one column named 'id,customer,amount': is its delimiter right?" in err


def test_missing_source_hint(capsys):
    rc, _, err = run_cli(capsys, "run", "SELECT COUNT(*) FROM trades")
    assert rc == 2 and "give it with --source trades=PATH" in err and "FROM 'data.csv'" in err
    rc, _, err = run_cli(capsys, "run", "SELECT COUNT(*) FROM 'orders.xlsx'")
    assert rc == 2 and "read by their extension" in err and "--source orders.xlsx" not in err


def test_window_without_time_column_names_the_flag(tmp_path, capsys):
    path = tmp_path / "e.csv"
    path.write_text("k,ts\na,2024-01-01 00:00:00\n")
    rc, _, err = run_cli(capsys, "run", "SELECT k, COUNT(*) FROM t GROUP BY k "
                         "WINDOW TUMBLING (SIZE 1 MINUTE)", "--source", f"t={path}")
    assert rc == 2 and "--event-time COLUMN" in err


def test_gpu_backend_without_a_gpu_is_refused_before_the_demo_generates(capsys, monkeypatch):
    import gpuvelo.backends as backends

    monkeypatch.setattr(backends, "gpu_usable", lambda: False)
    rc, _, err = run_cli(capsys, "demo", "--rows", "1000", "--backend", "gpu")
    assert rc == 2 and "--backend gpu needs a usable CUDA GPU" in err
    assert "generating" not in err


def test_graceful_stop_says_the_result_is_partial(capsys):
    stats = JobStats(records_read=1234, stopped="graceful")
    report_stop(stats)
    assert "stopped before the end of the input: the result covers the 1,234 rows read" in \
        capsys.readouterr().err
    report_stop(JobStats(records_read=5))
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- windows
EVENTS = "k,ts,v\na,2024-01-01 00:00:10,1\nb,,2\na,2024-01-01 00:01:10,3\na,2024-01-01 00:00:20,4\n" \
         "b,2024-01-01 00:02:00,5\n"


def test_late_sink_and_dead_letter(tmp_path, capsys):
    """Late rows go to --late-sink, rows without an event time to --dead-letter (they were
    counted but could not be written anywhere from the command line); the notes say where."""
    src = tmp_path / "e.csv"
    src.write_text(EVENTS)
    late, dead = tmp_path / "late.csv", tmp_path / "dead.jsonl"
    q = "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)"
    rc, out, err = run_cli(capsys, "run", q, "--source", f"t={src}", "--late-sink", late,
                           "--dead-letter", dead, "--format", "csv")
    assert rc == 0
    assert [line.split(",")[::2] for line in out.splitlines()[1:]] == \
        [['"a"', "1"], ['"a"', "1"], ['"b"', "1"]]
    assert late.read_text().splitlines()[1].startswith('"a",2024-01-01 00:00:20')
    assert ',4,"late:' in late.read_text().splitlines()[1]
    assert [json.loads(x)["v"] for x in dead.read_text().splitlines()] == [2]
    assert f"written to {late}" in err and f"written to {dead}" in err
    rc, _, err = run_cli(capsys, "run", q, "--source", f"t={src}", "--format", "csv")
    assert "--late-sink PATH writes them" in err and "--dead-letter PATH writes them" in err


def test_cli_tumbling_emit_changes_ends_at_duckdbs_answer(tmp_path, capsys):
    """EMIT CHANGES through the CLI: the last change of each (key, window) is DuckDB's
    time_bucket GROUP BY over all rows (disorder allowed, so no row is late)."""
    src = Path(tmp_path / "m.csv")
    lines = [f"s{(i * 7) % 5},2024-01-01 00:{(i * 13) % 60:02d}:{i % 60:02d},{i % 11}.5"
             for i in range(600)]
    src.write_text("station,ts,t\n" + "\n".join(lines) + "\n")
    out = tmp_path / "changes.jsonl"
    q = ("SELECT station, window_start, COUNT(*) AS n, SUM(t) AS s FROM m GROUP BY station "
         "WINDOW TUMBLING(ts, INTERVAL '5' MINUTE) EMIT CHANGES")
    rc, _, err = run_cli(capsys, "run", q, "--source", f"m={src}", "-o", out, "--batch-size", "37",
                         "--partitions", "2", "--max-out-of-orderness", "1h")
    assert rc == 0 and "late" not in err
    last = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        last[(r["station"], r["window_start"].replace("T", " ").split(".")[0])] = (r["n"], r["s"])
    ref = duckdb.sql(f"SELECT station, strftime(time_bucket(INTERVAL 5 MINUTE, ts), '%Y-%m-%d %H:%M:%S'), "
                     f"COUNT(*), SUM(t) FROM read_csv('{src}') GROUP BY ALL").fetchall()
    assert len(last) == len(ref) and len(ref) > 20
    for station, start, n, s in ref:
        assert last[(station, start)] == (n, pytest.approx(s))


# --------------------------------------------------------------------------- explain, 1BRC
def test_explain_shows_ordered_aggregates_and_typed_literals(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("k,v,d\na,1.5,2024-01-02\n")
    q = ("SELECT k, STRING_AGG(k, '-' ORDER BY k DESC), LIST(v ORDER BY d DESC), "
         "LIST(DISTINCT k) FILTER (WHERE v > 1) FROM t WHERE d > DATE '2024-01-01' GROUP BY k")
    rc, out, _ = run_cli(capsys, "explain", q, "--source", f"t={path}")
    assert rc == 0
    assert "string_agg(k, '-' ORDER BY k DESC)" in out      # was string_agg(k, ('-', 'desc', False))
    assert "list(v ORDER BY d DESC NULLS LAST)" in out        # was list(v, d)
    assert "list(DISTINCT k) FILTER (WHERE (v > 1))" in out  # was list(k, (None, False, True))
    assert "filter: (d > DATE '2024-01-01')" in out


@pytest.mark.skipif(not STATIONS.exists(), reason="../shared/data is not beside this checkout")
def test_one_billion_row_challenge_file_from_the_stations(tmp_path, capsys):
    """A 1BRC measurement file (station;temperature, no header) made from the project's
    weather_stations.csv: the CLI's answer is DuckDB's."""
    names = [line.split(";")[0] for line in STATIONS.read_text(encoding="utf-8").splitlines()
             if not line.startswith("#")][:300]
    path = tmp_path / "measurements.txt"
    path.write_text("".join(f"{names[(i * 31) % len(names)]};{((i * 7919) % 1999 - 999) / 10}\n"
                            for i in range(20_000)), encoding="utf-8")
    q = ("SELECT station, MIN(t) AS lo, AVG(t) AS mean, MAX(t) AS hi, COUNT(*) AS n FROM m "
         "GROUP BY station ORDER BY station")
    rc, out, _ = run_cli(capsys, "run", q, "--source", f"m={path}", "--delimiter", ";", "--no-header",
                         "--columns", "station,t", "--format", "json", "--partitions", "2")
    assert rc == 0
    got = [tuple(json.loads(line).values()) for line in out.splitlines()]
    ref = duckdb.sql(f"SELECT column0, MIN(column1), AVG(column1), MAX(column1), COUNT(*) FROM "
                     f"read_csv('{path}', delim=';', header=false) GROUP BY ALL ORDER BY column0").fetchall()
    assert len(got) == len(ref) > 200
    for g, r in zip(got, ref):
        assert g[0] == r[0] and g[1] == r[1] and g[3] == r[3] and g[4] == r[4]
        assert g[2] == pytest.approx(r[2])


# --------------------------------------------------------------------------- table, progress
def test_table_aligns_names_with_combining_marks_and_wide_characters():
    """weather_stations.csv holds 'Naz̧arābād' (a combining cedilla): cells are padded by
    the columns they take on a terminal, not by code points."""
    from gpuvelo.cli import display_width

    lines = format_table(pa.table({"name": ["Naz̧arābād", "Tokyo", "東京"], "n": [1, 22, 3]})).splitlines()
    assert display_width("Naz̧arābād") == 9 and display_width("東京") == 4
    assert len({display_width(line) for line in lines}) == 1


def test_progress_bar_follows_files_named_in_the_query(tmp_path, capsys):
    """FROM 'file.csv' (no --source): the bar counted nothing ('[????] 0 rows')."""
    path = tmp_path / "f.csv"
    path.write_text("k,v\n" + "".join(f"k{i % 3},{i}\n" for i in range(5000)))
    rc, _, err = run_cli(capsys, "run", f"SELECT COUNT(*) FROM '{path}'", "--progress",
                         "--batch-size", "500")
    assert rc == 0 and "100.0%" in err and "5,000 rows" in err


def test_progress_bar_ticks_on_its_own_thread():
    """The bar also redraws from a thread (stages run first without the job's callback)."""
    import io
    import time

    from gpuvelo.cli import ProgressBar
    from gpuvelo.io import TableSource

    src = TableSource(pa.table({"a": list(range(100))}), batch_size=25)
    out = io.StringIO()
    bar = ProgressBar(lambda: {"t": src}, enabled=True, stream=out)
    bar.tick(every=0.01)
    time.sleep(0.3)
    bar.finish()
    assert out.getvalue().count("\r") >= 3 and out.getvalue().endswith("\n")


def test_explain_without_a_source_speaks_the_command_line(capsys):
    rc, _, err = run_cli(capsys, "explain", "SELECT k, COUNT(*) FROM t GROUP BY k")
    assert rc == 2 and "--source NAME=PATH" in err and "sources=" not in err


def test_table_cells_with_line_breaks_stay_on_their_row():
    """A quoted CSV field may hold a line break: shown as \\n, as the rows would tear apart."""
    lines = format_table(pa.table({"txt": ["line one\nline two", "tab\there", None],
                                   "n": [1, 2, 3]})).splitlines()
    assert len(lines) == 5
    assert lines[2].split() == ["line", "one\\nline", "two", "1"] and "tab\\there" in lines[3]


def test_two_outputs_on_one_file_are_refused(tmp_path, capsys):
    out = tmp_path / "o.csv"
    rc, _, err = run_cli(capsys, "run", "SELECT 1 AS x", "-o", out, "--late-sink", out)
    assert rc == 2 and "--sink and --late-sink both name" in err and not out.exists()
