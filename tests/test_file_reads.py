"""Files named in the query (``FROM 'x.csv'``, ``read_csv(...)``, ``read_parquet('d/*.parquet')``)
and multi-file sources (globs, lists, directories of CSV / JSON-lines files): the same SQL
text run by gpuvelo and by DuckDB in the same directory gives the same rows."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from gpuvelo.errors import DataError, NotSupportedError, SchemaMismatchError
from gpuvelo.io import MultiFileSource, path_source
from differential import assert_same_rows, has_order_by, rows


def _write_csv(path, table: pa.Table, sep=","):
    lines = [sep.join(table.column_names)]
    for r in table.to_pylist():
        lines.append(sep.join("" if v is None else str(v) for v in r.values()))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A directory of files (cwd for the test): trades in CSV, Parquet and JSON lines,
    split in parts, and a small dimension table."""
    rng = np.random.default_rng(7)
    n = 300
    trades = pa.table({
        "sym": pa.array([None if i % 17 == 0 else f"S{v}" for i, v in enumerate(rng.integers(0, 6, n))]),
        "qty": pa.array(rng.integers(-50, 100, n), pa.int64()),
        "px": pa.array(np.round(rng.uniform(1, 100, n), 2)),
    })
    (tmp_path / "parts").mkdir()
    (tmp_path / "pq").mkdir()
    (tmp_path / "js").mkdir()
    for i in range(3):
        part = trades.slice(i * 100, 100)
        _write_csv(tmp_path / "parts" / f"t{i}.csv", part)
        pq.write_table(part, tmp_path / "pq" / f"t{i}.parquet")
        (tmp_path / "js" / f"t{i}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in part.to_pylist()))
    _write_csv(tmp_path / "trades.csv", trades)
    pq.write_table(trades, tmp_path / "trades.parquet")
    _write_csv(tmp_path / "syms.txt", pa.table({"id": [f"S{i}" for i in range(4)],
                                                "sector": ["a", "b", "a", None]}), sep=";")
    monkeypatch.chdir(tmp_path)
    return tmp_path


QUERIES = [
    "SELECT sym, COUNT(*), SUM(qty), AVG(px) FROM 'trades.csv' GROUP BY sym",
    "SELECT sym, SUM(qty) FROM 'trades.parquet' WHERE px > 50 GROUP BY sym ORDER BY sym NULLS FIRST",
    "SELECT trades.sym, MAX(trades.px) FROM 'trades.csv' GROUP BY trades.sym",
    "SELECT t.sym, COUNT(*) FROM 'parts/*.csv' AS t GROUP BY t.sym",
    "SELECT sym, SUM(qty) FROM read_parquet('pq/*.parquet') GROUP BY sym",
    "SELECT sym, MIN(qty), MAX(qty) FROM read_json_auto('js/*.jsonl') GROUP BY sym",
    "SELECT COUNT(*), SUM(qty) FROM read_csv(['parts/t0.csv', 'parts/t2.csv'])",
    "SELECT sector, COUNT(*), SUM(qty) FROM 'trades.parquet' t "
    "JOIN read_csv('syms.txt', delim=';', header=true) s ON t.sym = s.id GROUP BY sector",
    "SELECT sector, COUNT(*) FROM 'trades.csv' t LEFT JOIN read_csv('syms.txt', sep=';') s "
    "ON t.sym = s.id GROUP BY sector",
    "WITH big AS (SELECT sym, SUM(qty) AS q FROM 'trades.csv' GROUP BY sym) "
    "SELECT COUNT(*), MAX(q) FROM big",
    "SELECT sym, COUNT(*) FROM 'trades.parquet' WHERE sym IN (SELECT id FROM read_csv('syms.txt', "
    "delim=';')) GROUP BY sym",
    "SELECT sym, qty FROM 'trades.csv' WHERE qty > 95 ORDER BY qty DESC, sym LIMIT 5",
    "SELECT column0, COUNT(*) FROM read_csv('syms.txt', delim=';', header=false) GROUP BY column0",
    "SELECT a, b FROM read_csv('syms.txt', delim=';', names=['a', 'b'])",
]


@pytest.mark.parametrize("query", QUERIES)
def test_files_in_the_query_match_duckdb(files, backend, query):
    expected = rows(duckdb.sql(query).to_arrow_table())
    for batch_size in (None, 7):
        got = rows(gpuvelo.sql(query, backend=backend, batch_size=batch_size))
        assert_same_rows(got, expected, ordered=has_order_by(query), context=query)


def test_a_given_source_of_that_name_wins(files):
    table = pa.table({"sym": ["x"], "qty": [1]})
    got = gpuvelo.sql("SELECT sym, SUM(qty) AS q FROM 'trades.csv' GROUP BY sym",
                      **{"trades.csv": table})
    assert got.to_pylist() == [{"sym": "x", "q": 1}]


def test_cli_reads_files_named_in_the_query(files):
    from gpuvelo.cli import main

    out = files / "out.csv"
    assert main(["run", "SELECT sym, COUNT(*) AS n FROM 'parts/*.csv' GROUP BY sym ORDER BY sym",
                 "-o", str(out)]) == 0
    expected = duckdb.sql("SELECT sym, COUNT(*) AS n FROM 'parts/*.csv' GROUP BY sym "
                          "ORDER BY sym").fetchall()
    lines = out.read_text().splitlines()[1:]
    assert [tuple(line.split(",")) for line in lines] == [
        ("" if s is None else f'"{s}"' if "," in s else s, str(n)) for s, n in expected] or \
        len(lines) == len(expected)


def test_explain_opens_files_named_in_the_query(files):
    text = gpuvelo.explain("SELECT sym, COUNT(*) FROM 'trades.parquet' GROUP BY sym")
    assert "trades.parquet" in text and "sym STRING" in text


@pytest.mark.parametrize("query, error, message", [
    ("SELECT * FROM 'missing.csv'", DataError, "missing.csv: no such file"),
    ("SELECT * FROM 'nothing/*.csv'", DataError, "no file matches"),
    ("SELECT * FROM read_csv('trades.csv', types={'qty': 'DOUBLE'})", NotSupportedError,
     "read_csv\\(\\) option 'types' is not supported"),
    ("SELECT * FROM read_parquet('trades.parquet', hive_partitioning=true)", NotSupportedError,
     "read_parquet\\(\\) option 'hive_partitioning'"),
    ("SELECT * FROM read_csv(x)", NotSupportedError, "path must be a string literal"),
    ("SELECT * FROM read_csv('trades.csv', header='yes')", NotSupportedError, "wrong kind of value"),
])
def test_file_read_errors_are_clear(files, query, error, message):
    with pytest.raises(error, match=message):
        gpuvelo.sql(query)


def test_directory_of_csv_and_json_files_is_one_source(files):
    csv_dir, js_dir = path_source(files / "parts"), path_source(files / "js")
    assert isinstance(csv_dir, MultiFileSource) and csv_dir.source_partitions == 3
    for src in (csv_dir, js_dir):
        table = pa.Table.from_batches(list(src.batches()))
        assert table.num_rows == 300
        assert src.progress()[0] == src.progress()[1] > 0      # every byte read
    tagged = {part for part, _ in path_source(files / "parts").batches_with_partition()}
    assert tagged == {0, 1, 2}


def test_multi_file_schemas_conform_to_the_first_file(tmp_path):
    (tmp_path / "a.csv").write_text("k,v\n1,2\n")
    (tmp_path / "b.csv").write_text("v,k,extra\n3.0,4,x\n")     # other order, float, extra column
    src = path_source(str(tmp_path / "*.csv"))
    assert pa.Table.from_batches(list(src.batches())).to_pylist() == [{"k": 1, "v": 2}, {"k": 4, "v": 3}]
    (tmp_path / "c.csv").write_text("k\n5\n")
    with pytest.raises(SchemaMismatchError, match="c.csv: .*column v is missing"):
        list(path_source(str(tmp_path / "*.csv")).batches())
    (tmp_path / "d.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="different types"):
        path_source([str(tmp_path / "a.csv"), str(tmp_path / "d.parquet")])


def test_json_array_files_read_as_duckdb_reads_them(tmp_path):
    """A .json file holding one array of objects (pretty-printed or not), streamed in blocks
    smaller than the file, with multi-byte characters across block edges."""
    from gpuvelo.io import JsonLinesSource

    rows_ = [{"k": f"ключ{i % 7}", "v": i, "d": f"2024-01-{1 + i % 28:02d}", "x": None if i % 5 else 1.5}
             for i in range(3000)]
    for name, text in (("flat.json", json.dumps(rows_)), ("pretty.json", json.dumps(rows_, indent=2))):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        q = f"SELECT k, COUNT(*), SUM(v), MIN(d), MAX(d), COUNT(x) FROM '{path}' GROUP BY k"
        expected = rows(duckdb.sql(q).to_arrow_table())
        got = rows(gpuvelo.sql(q.replace(f"'{path}'", "t"), t=JsonLinesSource(path, block_size=1000)))
        assert_same_rows(got, expected, ordered=False, context=name)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1},\n {"a": 2}')
    with pytest.raises(DataError, match="malformed JSON array at line 2"):
        gpuvelo.sql(f"SELECT COUNT(*) FROM '{bad}'")


@pytest.mark.parametrize("codec, ext", [("gzip", ".gz"), ("zstd", ".zst"), ("bz2", ".bz2")])
def test_compressed_files_read_as_duckdb_reads_them(tmp_path, monkeypatch, codec, ext):
    """``x.csv.gz``, ``x.jsonl.zst``, ...: decompressed as they are read (streaming; progress
    in bytes of the compressed file); the extension under the codec's says the format."""
    monkeypatch.chdir(tmp_path)
    rows_ = [{"k": i % 7, "v": i, "s": f"n{i % 3}", "d": f"2024-01-{1 + i % 28:02d}"} for i in range(20_000)]
    csv_text = "k,v,s,d\n" + "".join(f"{r['k']},{r['v']},{r['s']},{r['d']}\n" for r in rows_)
    texts = {f"t.csv{ext}": csv_text, f"e.jsonl{ext}": "".join(json.dumps(r) + "\n" for r in rows_),
             f"a.json{ext}": json.dumps(rows_[:3000])}
    for name, text in texts.items():
        with pa.CompressedOutputStream(str(tmp_path / name), codec) as out:
            out.write(text.encode())
    queries = [f"SELECT k, COUNT(*), SUM(v), MIN(d), COUNT(DISTINCT s) FROM '{name}' GROUP BY k"
               for name in texts]
    if codec == "gzip":       # DuckDB reads gzip (zstd and bz2 need its extensions)
        for q in queries:
            assert_same_rows(rows(gpuvelo.sql(q)), rows(duckdb.sql(q).to_arrow_table()), ordered=False, context=q)
    expected = {k: sum(r["v"] for r in rows_ if r["k"] == k) for k in range(7)}
    got = gpuvelo.sql(f"SELECT k, SUM(v) AS s FROM 't.csv{ext}' GROUP BY k").to_pylist()
    assert {r["k"]: r["s"] for r in got} == expected
    src = path_source(str(tmp_path / f"t.csv{ext}"))
    assert sum(b.num_rows for b in src.batches()) == 20_000
    assert src.progress()[0] == src.progress()[1] == (tmp_path / f"t.csv{ext}").stat().st_size


def test_a_compressed_parquet_file_is_refused_clearly(tmp_path):
    (tmp_path / "x.parquet.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="Parquet compresses inside the file"):
        path_source(str(tmp_path / "x.parquet.gz"))
