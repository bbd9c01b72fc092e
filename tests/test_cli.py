"""The command line: argument parsing, output formatting, and the commands end to end."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from gpuvelo.cli import (ProgressBar, build_parser, format_table, positive_int, read_query,
                         source_arg)
from gpuvelo.io import TableSource

ROOT = Path(__file__).resolve().parent.parent
QUERY = "SELECT k, COUNT(*) AS n, SUM(v) AS total FROM t GROUP BY k ORDER BY k"


def gpuvelo(*args, check_rc: int | None = 0, timeout: float = 60):
    """Run ``python -m gpuvelo ARGS`` from the source tree; return the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "gpuvelo", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


@pytest.fixture
def data_csv(tmp_path):
    path = tmp_path / "t.csv"
    pcsv.write_csv(pa.table({"k": ["b", "a", "b", "c", "a", "b"], "v": [1, 2, 3, 4, 5, 6]}), path)
    return path


EXPECTED = {"k": ["a", "b", "c"], "n": [2, 3, 1], "total": [7, 10, 4]}


# --------------------------------------------------------------------------- parsing
def test_parse_run_arguments():
    args = build_parser().parse_args(
        ["run", "SELECT 1", "--source", "t=a.csv", "--source", "u=dir/", "--sink", "o.parquet",
         "--backend", "cpu", "--batch-size", "10_000", "--partitions", "4", "--format", "csv"])
    assert args.command == "run" and args.query == "SELECT 1"
    assert args.source == [("t", "a.csv"), ("u", "dir/")]
    assert (args.sink, args.backend, args.batch_size, args.partitions, args.format) == \
        ("o.parquet", "cpu", 10_000, 4, "csv")
    assert args.debug is False


def test_parse_debug_before_or_after_command():
    assert build_parser().parse_args(["--debug", "version"]).debug is True
    assert build_parser().parse_args(["version", "--debug"]).debug is True


def test_parse_demo_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.rows, args.backend, args.batch_size, args.partitions) == \
        (2_000_000, "auto", None, None)
    assert build_parser().parse_args(["demo", "--rows", "2,500"]).rows == 2500


@pytest.mark.parametrize("argv", [["run", "q", "--source", "nodelimiter"],
                                  ["run", "q", "--backend", "tpu"],
                                  ["demo", "--rows", "-3"],
                                  ["demo", "--batch-size", "many"],
                                  ["frobnicate"], []])
def test_parse_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "usage: gpuvelo" in capsys.readouterr().err


def test_argument_types():
    assert positive_int("1_000") == 1000
    assert source_arg("trades=data/x=1.csv") == ("trades", "data/x=1.csv")
    with pytest.raises(Exception, match="NAME=PATH"):
        source_arg("=x.csv")


def test_read_query_from_file_or_text(tmp_path):
    path = tmp_path / "q.sql"
    path.write_text(QUERY)
    assert read_query(str(path)) == QUERY
    assert read_query(QUERY) == QUERY
    with pytest.raises(Exception, match="no such query file"):
        read_query(str(tmp_path / "missing.sql"))


def test_format_table_aligns_and_shows_null():
    table = pa.table({"name": ["a", "long name", None], "n": [1, 22, None], "x": [0.5, 2.0, 1e20]})
    lines = format_table(table).splitlines()
    assert lines[0].split() == ["name", "n", "x"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["a", "1", "0.5"]
    assert lines[3].split() == ["long", "name", "22", "2"]
    assert lines[4].split() == ["NULL", "NULL", "1e+20"]
    assert len({len(line) for line in lines[:2]}) == 1   # header and rule line up


def test_progress_bar_percentage_and_rows():
    src = TableSource(pa.table({"a": list(range(100))}), batch_size=25)
    out = io.StringIO()
    bar = ProgressBar({"t": src}, enabled=True, stream=out)
    it = iter(src.batches())
    next(it)
    bar.draw()
    assert " 25.0%" in out.getvalue() and "25 rows" in out.getvalue()
    list(it)
    bar.finish()
    text = out.getvalue()
    assert text.startswith("\r[") and "100.0%" in text and text.endswith("\n")


def test_progress_bar_disabled_draws_nothing():
    out = io.StringIO()
    bar = ProgressBar({"t": TableSource(pa.table({"a": [1]}))}, enabled=False, stream=out)
    bar()
    bar.finish()
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- end to end
def test_version():
    proc = gpuvelo("version")
    assert proc.stdout.strip() == "gpuvelo 0.1.0"


def test_run_prints_table(data_csv):
    proc = gpuvelo("run", QUERY, "--source", f"t={data_csv}", "--backend", "cpu")
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["k", "n", "total"]
    assert [line.split() for line in lines[2:5]] == [["a", "2", "7"], ["b", "3", "10"],
                                                      ["c", "1", "4"]]
    assert lines[5] == "(3 rows)"


def test_run_query_file_csv_format(data_csv, tmp_path):
    qfile = tmp_path / "q.sql"
    qfile.write_text(QUERY + "\n")
    proc = gpuvelo("run", qfile, "--source", f"t={data_csv}", "--format", "csv",
                   "--batch-size", "2")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [(r["k"], int(r["n"]), int(r["total"])) for r in rows] == \
        list(zip(*EXPECTED.values()))


def test_run_json_format(data_csv):
    proc = gpuvelo("run", QUERY, "--source", f"t={data_csv}", "--format", "json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows == [dict(zip(EXPECTED, vals)) for vals in zip(*EXPECTED.values())]


@pytest.mark.parametrize("flag", ["--sink", "--output", "-o"])
def test_run_to_parquet_sink(data_csv, tmp_path, flag):
    out = tmp_path / "out.parquet"
    proc = gpuvelo("run", QUERY, "--source", f"t={data_csv}", flag, out)
    assert proc.stdout == ""
    assert pq.read_table(out).to_pydict() == EXPECTED


def test_run_error_is_one_line_exit_2(data_csv):
    proc = gpuvelo("run", "SELECT nope, COUNT(*) FROM t GROUP BY nope",
                   "--source", f"t={data_csv}", check_rc=2)
    assert proc.stderr.startswith("gpuvelo: error: ")
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_run_missing_source_file_and_debug(tmp_path):
    missing = tmp_path / "missing.csv"
    proc = gpuvelo("run", QUERY, "--source", f"t={missing}", check_rc=2)
    assert proc.stderr.strip() == f"gpuvelo: error: {missing}: no such file or directory"
    proc = gpuvelo("--debug", "run", QUERY, "--source", f"t={missing}", check_rc=1)
    assert "Traceback" in proc.stderr and "DataError" in proc.stderr


def test_explain(data_csv):
    proc = gpuvelo("explain", QUERY, "--source", f"t={data_csv}")
    assert proc.stdout.strip()
    assert "t" in proc.stdout


def test_demo():
    proc = gpuvelo("demo", "--rows", "200000", "--backend", "cpu", "--batch-size", "50000")
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["symbol", "trades", "volume", "avg_price", "min_price",
                                "max_price"]
    assert len(lines) == 2 + 10 + 1
    assert all(line.split()[0].startswith("SYM") for line in lines[2:12])
    volumes = [int(line.split()[2]) for line in lines[2:12]]
    assert volumes == sorted(volumes, reverse=True)
    assert lines[-1].startswith("200,000 rows in ") and lines[-1].endswith("on backend cpu")


def test_sigint_stops_gracefully_with_results():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gpuvelo", "demo", "--rows", "200_000_000",
                             "--backend", "cpu", "--progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"rows/s" not in seen and time.monotonic() < deadline:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert b"rows/s" in seen, "the progress bar never appeared"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    last = out.decode().splitlines()[-1]
    read = int(last.split(" rows in ")[0].replace(",", ""))
    assert 0 < read < 200_000_000


def test_run_headerless_semicolon_file_with_column_names(tmp_path):
    """A 1BRC-style ``station;temperature`` file: --delimiter, --no-header, --columns."""
    path = tmp_path / "measurements.txt"
    path.write_text("Tokyo;12.5\nOslo;-3.0\nTokyo;14.5\nOslo;-1.0\nLima;20.0\n", encoding="utf-8")
    proc = gpuvelo("run", "SELECT station, MIN(t) AS lo, MAX(t) AS hi, AVG(t) AS mean FROM m "
                   "GROUP BY station ORDER BY station", "--source", f"m={path}",
                   "--delimiter", ";", "--no-header", "--columns", "station,t", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [(r["station"], float(r["lo"]), float(r["hi"]), float(r["mean"])) for r in rows] == [
        ("Lima", 20.0, 20.0, 20.0), ("Oslo", -3.0, -1.0, -2.0), ("Tokyo", 12.5, 14.5, 13.5)]


def test_run_tsv_and_generated_column_names(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\t1\nb\t2\na\t3\n", encoding="utf-8")
    for flags in (["--no-header"], []):       # without the flag: no header found (as DuckDB)
        proc = gpuvelo("run", "SELECT column0, SUM(column1) AS s FROM m GROUP BY column0 ORDER BY 1",
                       "--source", f"m={path}", *flags, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        assert [(r["column0"], int(r["s"])) for r in rows] == [("a", 4), ("b", 2)]
    proc = gpuvelo("run", "SELECT COUNT(*) AS n FROM m", "--source", f"m={path}", "--header",
                   "--format", "csv")
    assert proc.stdout.splitlines()[1] == "2"      # the first line was taken as the header


def test_columns_without_no_header_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    proc = gpuvelo("run", "SELECT a FROM m", "--source", f"m={path}", "--columns", "x,y",
                   check_rc=2)
    assert "--no-header" in proc.stderr
