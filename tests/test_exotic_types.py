"""Unusual column types and file quirks of real users' data, against DuckDB.

A query that does not read an exotic column (struct, list, map, binary, time, duration,
interval, decimals of scale > 18) runs as if the column were absent; one that reads it gets
a NotSupportedError naming the column and its type. Parquet directories, CSV and JSON-lines
quirks follow DuckDB's reading where gpuvelo can.
"""

from __future__ import annotations

import datetime as dt
import decimal as D
import re

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpuvelo
from gpuvelo import types as T
from gpuvelo.errors import DataError, NotSupportedError, SchemaMismatchError
from gpuvelo.io.sources import CsvSource, JsonLinesSource, ParquetSource, sniff_csv
from differential import assert_same_rows, has_order_by, rows, run_both

N = 12
STRS = [None if i % 4 == 0 else f"s{i % 5}" for i in range(N)]
EXOTIC = {
    "struct": pa.array([None if i % 4 == 0 else {"a": i, "b": str(i)} for i in range(N)]),
    "list": pa.array([None if i % 4 == 0 else list(range(i % 3)) for i in range(N)]),
    "map": pa.array([None if i % 4 == 0 else [("a", i)] for i in range(N)],
                    pa.map_(pa.string(), pa.int64())),
    "binary": pa.array([None if s is None else s.encode() for s in STRS], pa.binary()),
    "bigscale": pa.array([None if i % 4 == 0 else D.Decimal(i).scaleb(-20) for i in range(N)],
                         pa.decimal128(38, 20)),
}
SUPPORTED = {
    "dictstr": pa.array(STRS).dictionary_encode(),
    "largestr": pa.array(STRS, pa.large_string()),
    "f16": pa.array([None if i % 4 == 0 else i / 4 for i in range(N)], pa.float16()),
    "dec38": pa.array([None if i % 4 == 0 else D.Decimal(i * 37 - 100).scaleb(-10)
                       for i in range(N)], pa.decimal128(38, 10)),
    "tstz_ms": pa.array([None if i % 4 == 0 else dt.datetime(2024, 3, 10, i, tzinfo=dt.timezone.utc)
                         for i in range(N)], pa.timestamp("ms", "America/New_York")),
    "date64": pa.array([None if i % 4 == 0 else dt.date(2024, 1, 1) + dt.timedelta(days=40 * i)
                        for i in range(N)], pa.date64()),
    "u64": pa.array([None if i % 4 == 0 else 2**64 - 1 - i for i in range(N)], pa.uint64()),
    "nulltype": pa.nulls(N),
    "time64": pa.array([None if i % 4 == 0 else dt.time(i, i) for i in range(N)], pa.time64("us")),
}
# duration columns are INTERVALs (tests/test_intervals.py); DuckDB reads them from Parquet
# as plain BIGINT microseconds, so they are not compared through Parquet files here
PLAIN = ["SELECT COUNT(*) FROM t", "SELECT k, COUNT(*), SUM(v) FROM t GROUP BY k"]
READS_X = ["SELECT x, COUNT(*) FROM t GROUP BY x", "SELECT MIN(x), MAX(x), COUNT(DISTINCT x) FROM t",
           "SELECT k, COUNT(*) FROM t WHERE x IS NOT NULL GROUP BY k", "SELECT x FROM t"]


def table(x) -> pa.Table:
    return pa.table({"k": pa.array([i % 3 for i in range(N)], pa.int32()),
                     "v": pa.array([float(i) if i % 5 else None for i in range(N)]), "x": x})


def against_duckdb(query: str, path, reader: str, **opts):
    """Run ``query`` over the file in gpuvelo and (through ``reader``) in DuckDB; compare."""
    expected = rows(duckdb.sql(query.replace("FROM t", f"FROM {reader}('{path}')")).to_arrow_table())
    got = rows(gpuvelo.sql(query, t=str(path), **opts))
    assert_same_rows(got, expected, ordered=has_order_by(query), context=query)


# --------------------------------------------------------------------------- types
@pytest.mark.parametrize("name", sorted(EXOTIC))
def test_unread_exotic_column_is_as_if_absent(backend, name):
    t = table(EXOTIC[name])
    for q in PLAIN:
        run_both(q, {"t": t}, backend=backend)
        run_both(q, {"t": t}, backend=backend, batch_size=5)


@pytest.mark.parametrize("name", sorted(EXOTIC))
def test_reading_exotic_column_names_it_and_its_type(backend, name):
    t = table(EXOTIC[name])
    arrow_type = str(EXOTIC[name].type)
    for q in ["SELECT x FROM t", "SELECT k, COUNT(x) FROM t GROUP BY k",
              "SELECT COUNT(*) FROM t WHERE x IS NULL", "SELECT * FROM t"]:
        with pytest.raises(NotSupportedError, match=rf"column 'x': type {re.escape(arrow_type)}"):
            gpuvelo.sql(q, t=t, backend=backend)


def test_from_arrow_keeps_unsupported_types_opaque():
    d = T.from_arrow(pa.struct([("a", pa.int64())]))
    assert d.is_unsupported and not d.is_numeric and not d.is_string
    assert str(d) == "unsupported type struct<a: int64>"
    assert T.from_arrow(pa.decimal128(38, 20)).is_unsupported
    assert T.from_arrow(pa.decimal256(40, 3)) == T.decimal(38, 3)


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_unusual_supported_types_match_duckdb(backend, name, tmp_path):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(table(SUPPORTED[name]), path, row_group_size=5)
    queries = PLAIN + READS_X[:-1] + (["SELECT k, SUM(x) FROM t GROUP BY k"]
                                      if name in ("dec38", "f16") else [])
    for q in queries:
        against_duckdb(q, path, "read_parquet", backend=backend)
        against_duckdb(q, path, "read_parquet", backend=backend, batch_size=7)


def test_all_null_row_groups_and_zero_row_file(backend, tmp_path):
    x = pa.array([None] * 6 + [f"z{i % 2}" for i in range(6)])
    pq.write_table(table(x), tmp_path / "nulls.parquet", row_group_size=3)
    pq.write_table(table(x).slice(0, 0), tmp_path / "empty.parquet")
    for q in PLAIN + READS_X:
        against_duckdb(q, tmp_path / "nulls.parquet", "read_parquet", backend=backend, batch_size=2)
        against_duckdb(q, tmp_path / "empty.parquet", "read_parquet", backend=backend)


# --------------------------------------------------------------------------- Parquet directories
def test_directory_of_compatible_schemas_is_cast_to_the_first(backend, tmp_path):
    pq.write_table(pa.table({"k": pa.array([1, 2], pa.int64()), "x": ["a", "b"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": pa.array(["c", "a"], pa.large_string()),       # other order
                             "k": pa.array([3, 2], pa.int32()), "extra": [1, 2]}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"k": pa.array([], pa.int64()), "x": pa.array([], pa.string())}),
                   tmp_path / "c.parquet")
    for q in ["SELECT COUNT(*) FROM t", "SELECT x, SUM(k) FROM t GROUP BY x", "SELECT * FROM t"]:
        against_duckdb(q, f"{tmp_path}", "read_parquet", backend=backend)


def test_directory_value_that_does_not_convert_names_file_and_column(tmp_path):
    pq.write_table(pa.table({"k": pa.array([1], pa.int32())}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"k": pa.array([2**40], pa.int64())}), tmp_path / "b.parquet")
    with pytest.raises(SchemaMismatchError, match=r"b\.parquet: column k is int64, was int32"):
        list(ParquetSource(tmp_path).batches())


def test_narrowed_directory_reads_only_the_needed_columns(tmp_path):
    pq.write_table(pa.table({"k": [1, 2], "x": ["a", "b"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"k": [3]}), tmp_path / "b.parquet")     # x missing: unread
    src = ParquetSource(tmp_path)
    src.narrow(["K"])
    assert src.schema().names == ["k"]
    assert pa.Table.from_batches(list(src.batches())).column("k").to_pylist() == [1, 2, 3]
    assert src.schema().names == ["k", "x"]            # the hint held for that read only
    src.narrow([])                                     # COUNT(*): rows, no columns
    assert sum(b.num_rows for b in src.batches()) == 3
    with pytest.raises(SchemaMismatchError, match=r"b\.parquet: .*column x is missing"):
        list(src.batches())


# --------------------------------------------------------------------------- CSV
CSV_FILES = {
    "bom": "\ufeffk,v,x\n1,1.5,a\n2,2.5,b\n1,3.5,a\n",
    "crlf": "k,v,x\r\n1,1.5,a\r\n2,2.5,b\r\n1,,\r\n",
    "quoted": 'k,v,x\n1,1.5,"a,b"\n2,2.5,"line1\nline2"\n1,3.5,"say ""hi"""\n2,4.5,plain\n',
    "empty_vs_null": 'k,v,x\n1,1.5,""\n2,2.5,\n1,3.5,a\n2,,"b"\n',
    "na_strings": "k,v,x\n1,1,NA\n2,2,null\n1,3.5,NULL\n2,4,N/A\n1,NaN,nan\n2,4.5,x\n",
    "trailing_delimiter": "k,v,x,\n1,1.5,a,\n2,2.5,b,\n",
    "semicolons": "k;v;x\n1;1.5;a\n2;2.5;b\n",
    "only_header": "k,v,x\n",
    "no_final_newline": "k,v,x\n1,1.5,a\n2,2.5,b",
}


@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_csv_quirks_match_duckdb(backend, name, tmp_path):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(CSV_FILES[name].encode())
    queries = ["SELECT COUNT(*) FROM t", "SELECT x, COUNT(*) FROM t GROUP BY x",
               "SELECT MIN(x), MAX(x), COUNT(DISTINCT x) FROM t", "SELECT COUNT(*) FROM t WHERE x IS NULL",
               "SELECT * FROM t"]
    if name != "only_header":   # DuckDB types its columns VARCHAR: no SUM
        queries.append("SELECT k, COUNT(*), SUM(v), COUNT(x) FROM t GROUP BY k")
    for q in queries:
        against_duckdb(q, path, "read_csv", backend=backend, batch_size=2)


# dates with slashes (the first of Y/m/d, d/m/Y, m/d/Y that reads every value) and times with
# fractional seconds, which pyarrow leaves as text, read as DuckDB reads them
TEMPORAL_TEXT_FILES = {
    "slash_ymd": "d,t,v\n2024/01/05,10:00:00.5,1\n2024/12/31,23:59:59.25,2\n,,3\n",
    "slash_dmy": "d,v\n05/01/2024,1\n31/12/2024,2\n",
    "slash_mdy": "d,v\n01/05/2024,1\n12/31/2024,2\n",
    "slash_ambiguous": "d,v\n01/02/2024,1\n01/03/2024,2\n",
}


@pytest.mark.parametrize("name", sorted(TEMPORAL_TEXT_FILES))
def test_csv_slash_dates_and_fractional_times_as_duckdb(name, tmp_path):
    path = tmp_path / f"{name}.csv"
    path.write_text(TEMPORAL_TEXT_FILES[name])
    for q in ["SELECT * FROM t", "SELECT MIN(d), MAX(d), COUNT(*) FROM t"]:
        against_duckdb(q, path, "read_csv", batch_size=2)


# header detection and leading comment lines, as DuckDB's sniffer sees them
SNIFFED_FILES = {
    "no_header_mixed": "a,1\nb,2\nc,3\na,4\n",
    "no_header_numbers": "1,2\n3,4\n1,5\n",
    "header_all_strings": "a,b\nx,y\nz,w\nx,q\n",
    "header_names_over_numbers": "name,val\nb,2\nc,3\nb,4\n",
    "header_that_is_a_number": "1.5,x\n2,y\n3,y\n",
    "header_over_dates": "d,n\n2024-01-02,2\n2024-01-03,3\n",
    "no_header_dates": "2024-01-01,1\n2024-01-02,2\n",
    "no_header_bools": "true,1\nfalse,2\ntrue,3\n",
    "first_field_empty": ",1\nb,2\nb,3\n",
    "single_data_line": "1,2\n",
    "single_header_line": "a,b\n",
    "comments_then_data": "# made by hand\n# CC BY 4.0\nTokyo;35.6\nDelhi;28.6\nTokyo;1.5\n",
    "comments_then_header": "# source: x\nname;v\na;1\nb;2\na;3\n",
    "hash_in_header": "#,name\n1,a\n2,b\n",
    "hash_in_data": "name;v\n#x;1\nb;2\n",
}


@pytest.mark.parametrize("name", sorted(SNIFFED_FILES))
def test_csv_header_and_comments_sniffed_as_duckdb(backend, name, tmp_path):
    path = tmp_path / f"{name}.csv"
    path.write_text(SNIFFED_FILES[name])
    names = duckdb.sql(f"SELECT * FROM read_csv('{path}')").columns
    first = f'"{names[0]}"'
    for q in ["SELECT * FROM t", "SELECT COUNT(*) FROM t",
              f"SELECT {first}, COUNT(*) FROM t GROUP BY {first}"]:
        against_duckdb(q, path, "read_csv", backend=backend, batch_size=2)
    assert gpuvelo.sql("SELECT * FROM t", t=str(path)).column_names == names


def test_weather_stations_file_reads_as_duckdb_reads_it():
    """The project's own data file: two '#' licence lines, then ``name;lat`` rows, no header."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "weather_stations.csv"
    if not path.exists():
        pytest.skip("../shared/data is not beside this checkout")
    q = "SELECT COUNT(*), COUNT(DISTINCT column0), MIN(column1), MAX(column1) FROM t"
    against_duckdb(q, path, "read_csv", backend="cpu")


def test_csv_header_can_be_forced_either_way(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("a,b\nx,y\n")
    assert CsvSource(path, header=False).schema().names == ["column0", "column1"]
    path.write_text("1,2\n3,4\n")
    assert CsvSource(path, header=True).schema().names == ["1", "2"]
    assert CsvSource(path).schema().names == ["column0", "column1"]


def test_csv_null_values_option_and_sniffing(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("k|x\n1|NA\n2|b\n")
    assert sniff_csv(path).delimiter == "|"
    src = CsvSource(path, null_values=["NA"])
    assert pa.Table.from_batches(list(src.batches())).column("x").to_pylist() == [None, "b"]


@pytest.mark.parametrize("text, message", [
    ("k,v,x\n1,1.5,a\n2,2.5\n", r"malformed CSV row at line 3: expected 3 columns, got 2"),
    ("k,v,x\n1,1.5,a\n2,2.5,b,c\n", r"malformed CSV row at line 3: expected 3 columns, got 4"),
    ("k,x\n1," + "y" * 5000 + "\n", r"longer than the block size \(1024 bytes\)"),
])
def test_csv_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        list(CsvSource(path, block_size=1024).batches())


def test_empty_csv_file_has_no_rows_as_in_duckdb(tmp_path):
    """A zero-byte CSV file reads as zero rows (DuckDB: one VARCHAR column ``column0``), so
    COUNT(*) is 0; given names or a schema name its columns."""
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert duckdb.sql(f"SELECT COUNT(*) FROM read_csv('{path}')").fetchall() == [(0,)]
    assert gpuvelo.sql("SELECT COUNT(*) AS n FROM t", t=CsvSource(path), backend="cpu").to_pylist() == [{"n": 0}]
    with pytest.raises(gpuvelo.errors.UnknownColumnError, match="available: column0"):
        gpuvelo.sql("SELECT a FROM t", t=CsvSource(path), backend="cpu")
    named = CsvSource(path, header=False, column_names=["a", "b"])
    assert gpuvelo.sql("SELECT a, COUNT(*) AS n FROM t GROUP BY a", t=named, backend="cpu").num_rows == 0


def test_csv_thousands_of_columns(backend, tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(2000)) + ",k\n"
    path.write_text(header + "".join(",".join(str(i * j % 7) for i in range(2000)) + f",{j % 2}\n"
                                     for j in range(5)))
    against_duckdb("SELECT k, SUM(c1999), COUNT(*) FROM t GROUP BY k", path, "read_csv", backend=backend)


# --------------------------------------------------------------------------- JSON lines
JSON_FILES = {
    "nested": ['{"k":1,"v":1.5,"x":"a","obj":{"a":1},"arr":[1,2]}',
               '{"k":2,"v":2.5,"x":"b","obj":{"a":2},"arr":[]}'],
    "missing_keys": ['{"k":1,"v":1.5,"x":"a"}', '{"k":2,"x":"b"}', '{"k":1,"v":2.5}'],
    "unicode": ['{"k":1,"v":1.0,"x":"caf\\u00e9"}', '{"k":2,"v":2.0,"x":"\\ud83d\\ude00"}',
                '{"k":1,"v":3.0,"x":"café"}', '{"k":2,"v":4.0,"x":"tab\\there"}'],
}


@pytest.mark.parametrize("name", sorted(JSON_FILES))
def test_json_quirks_match_duckdb(backend, name, tmp_path):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(JSON_FILES[name]) + "\n", encoding="utf-8")
    for q in ["SELECT COUNT(*) FROM t", "SELECT k, COUNT(*), SUM(v), COUNT(x) FROM t GROUP BY k",
              "SELECT x, COUNT(*) FROM t GROUP BY x", "SELECT MIN(x), MAX(x) FROM t WHERE x > 'a'"]:
        against_duckdb(q, path, "read_json", backend=backend, batch_size=1)


def test_json_nested_value_read_is_refused(tmp_path):
    path = tmp_path / "nested.jsonl"
    path.write_text("\n".join(JSON_FILES["nested"]) + "\n")
    with pytest.raises(NotSupportedError, match=r"column 'obj': type struct<a: int64>"):
        gpuvelo.sql("SELECT k, COUNT(obj) FROM t GROUP BY k", t=str(path))


def test_json_key_changing_type_is_explained(tmp_path):
    path = tmp_path / "change.jsonl"
    path.write_text('{"k":1,"x":"a"}\n{"k":2,"x":3}\n')
    with pytest.raises(DataError, match=r"line 2: .*changed from string to number; .*one JSON type"):
        list(JsonLinesSource(path).batches())


@pytest.mark.parametrize("query", ["SELECT MIN(x) FROM t", "SELECT COUNT(DISTINCT x) FROM t",
                                   "SELECT * FROM t", "SELECT k FROM t WHERE x IS NULL"])
def test_reading_an_unsupported_column_is_refused_at_plan_time(query):
    """Any use of an unreadable column is a NotSupportedError naming it and its type, before
    a row is read (MIN/MAX/COUNT DISTINCT used to crash inside the state)."""
    t = pa.table({"k": [1, 2, 1], "x": pa.array([{"a": 1}, {"a": 2}, None]), "v": [1.0, 2.0, 3.0]})
    with pytest.raises(gpuvelo.errors.NotSupportedError, match=r"column 'x': type struct<a: int64>"):
        gpuvelo.sql(query, t=t, backend="cpu")
    assert gpuvelo.sql("SELECT * EXCLUDE (x) FROM t", t=t, backend="cpu").column_names == ["k", "v"]
