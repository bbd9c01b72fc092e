"""Sources, sinks and the synthetic trades stream."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from gpuvelo.errors import DataError, SchemaMismatchError, SinkError, SourceError
from gpuvelo.io import (CallbackSink, CsvSink, CsvSource, IterableSource, JsonLinesSink,
                        JsonLinesSource, MemorySink, ParquetSink, ParquetSource, Source,
                        TableSource, TradesSource, as_sink, as_source, rechunk, trades_batches)


def sample(n: int = 1000) -> pa.Table:
    return pa.table({"k": [f"g{i % 7}" for i in range(n)], "v": list(range(n)),
                     "x": [i / 4 for i in range(n)]})


def read_all(source: Source) -> pa.Table:
    batches = list(source.batches())
    return pa.Table.from_batches(batches, schema=source.schema())


def sizes(source: Source) -> list[int]:
    return [b.num_rows for b in source.batches()]


# --------------------------------------------------------------------------- rechunking
@pytest.mark.parametrize("chunks", [[1000], [1, 999], [333, 333, 334], [10] * 100,
                                    [0, 500, 0, 500]])
def test_rechunk_independent_of_input_chunking(chunks):
    table = sample().combine_chunks()
    whole = table.to_batches()[0]
    batches, start = [], 0
    for n in chunks:
        batches.append(whole.slice(start, n))
        start += n
    out = list(rechunk(batches, 128))
    assert [b.num_rows for b in out] == [128] * 7 + [104]
    assert pa.Table.from_batches(out).equals(table)


def test_rechunk_without_size_passes_batches_and_drops_empty():
    t = sample(10)
    b = t.to_batches()[0]
    out = list(rechunk([b.slice(0, 3), b.slice(3, 0), b.slice(3)], None))
    assert [x.num_rows for x in out] == [3, 7]


def test_rechunk_rejects_changing_schema():
    a = pa.record_batch({"v": [1, 2]})
    b = pa.record_batch({"v": ["x"]})
    with pytest.raises(SchemaMismatchError, match="here: .* column v is string, was int64"):
        list(rechunk([a, b], 10, "here"))
    c = pa.record_batch({"w": [1]})
    with pytest.raises(SchemaMismatchError, match="column v is missing; extra column w"):
        list(as_source([a, c], name="orders").batches())


# --------------------------------------------------------------------------- in memory
def test_table_source_rereadable_with_progress():
    src = as_source(sample(), batch_size=300)
    assert isinstance(src, TableSource)
    assert sizes(src) == [300, 300, 300, 100]
    assert src.progress() == (1000, 1000)
    assert read_all(src).equals(sample())


def test_record_batch_and_reader_sources():
    t = sample(50)
    assert read_all(as_source(t.to_batches()[0])).equals(t)
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches(max_chunksize=7))
    src = as_source(reader, batch_size=20)
    assert src.schema() == t.schema
    assert sizes(src) == [20, 20, 10]


def test_generator_source_peeks_schema_and_reads_once():
    t = sample(100)
    src = as_source(b for b in t.to_batches(max_chunksize=30))
    assert isinstance(src, IterableSource)
    assert src.schema() == t.schema          # peeks the first batch ...
    assert read_all(src).equals(t)           # ... and still yields it
    with pytest.raises(SourceError, match="already read"):
        list(src.batches())


def test_list_of_tables_source():
    t = sample(100)
    src = as_source([t.slice(0, 40), t.slice(40)], batch_size=50)
    assert sizes(src) == [50, 50]
    assert sizes(src) == [50, 50]


def test_iterable_of_wrong_items():
    with pytest.raises(DataError, match="item 1 is a int"):
        list(as_source([sample(3).to_batches()[0], 5]).batches())


def test_pandas_and_polars_dataframes():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    expected = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
    pdf = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    got = read_all(as_source(pdf))
    assert got.select(["a", "b"]).cast(expected.schema).equals(expected)
    src = as_source(pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]}), batch_size=2)
    assert sizes(src) == [2, 1]
    assert read_all(src).cast(expected.schema).equals(expected)


def test_dict_source():
    src = as_source({"a": [1, 2, 3], "b": pa.array(["x", "y", "z"])})
    assert read_all(src).equals(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}))


def test_dict_unequal_lengths_names_columns():
    with pytest.raises(DataError, match=r"a=3, b=2"):
        as_source({"a": [1, 2, 3], "b": [1, 2]})


def test_dict_unconvertible_column_named():
    with pytest.raises(DataError, match="column b"):
        as_source({"a": [1, 2], "b": [1, "x"]})


@pytest.mark.parametrize("obj", [42, 3.5, b"bytes", object()])
def test_as_source_rejects_other_types(obj):
    with pytest.raises(DataError, match="gpuvelo accepts"):
        as_source(obj)


def test_as_source_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "data.xlsx").write_text("hi")
    with pytest.raises(DataError, match="unknown file type .xlsx"):
        as_source(tmp_path / "data.xlsx")
    with pytest.raises(DataError, match="no such file"):
        as_source(str(tmp_path / "nope.csv"))


def test_as_source_keeps_source_and_sets_name():
    src = TableSource(sample(3))
    assert as_source(src, name="trades", batch_size=2) is src
    assert src.name == "trades" and sizes(src) == [2, 1]


def test_bad_batch_size():
    with pytest.raises(DataError, match="batch_size"):
        as_source(sample(3), batch_size=0)


# --------------------------------------------------------------------------- files
def test_parquet_file_streaming_and_rechunked(tmp_path):
    t = sample(1000)
    path = tmp_path / "t.parquet"
    pq.write_table(t, path, row_group_size=170)
    src = as_source(path, batch_size=256)
    assert isinstance(src, ParquetSource)
    assert sizes(src) == [256, 256, 256, 232]
    assert read_all(src).equals(t)
    assert src.progress() == (1000, 1000)
    assert read_all(ParquetSource(path, columns=["v"])).equals(t.select(["v"]))


def test_parquet_directory_one_partition_per_file(tmp_path):
    t = sample(300)
    for i in range(3):
        pq.write_table(t.slice(i * 100, 100), tmp_path / f"part-{i}.parquet")
    src = as_source(str(tmp_path), batch_size=64)
    assert src.source_partitions == 3
    parts = list(src.batches_with_partition())
    assert [p for p, _ in parts] == [0, 0, 1, 1, 2, 2]
    assert [b.num_rows for _, b in parts] == [64, 36] * 3
    assert pa.Table.from_batches([b for _, b in parts]).equals(t)


def test_parquet_directory_schema_mismatch(tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": ["x"]}), tmp_path / "b.parquet")
    with pytest.raises(SchemaMismatchError, match=r"b\.parquet: .*column a is string, was int64"):
        list(as_source(tmp_path).batches())


def test_csv_source(tmp_path):
    t = sample(5000)
    path = tmp_path / "t.csv"
    pcsv.write_csv(t, path)
    src = CsvSource(path, batch_size=1000, block_size=4096)
    assert sizes(src) == [1000] * 5
    assert read_all(src).equals(t)
    done, total = src.progress()
    assert total == path.stat().st_size and done == total


def test_csv_options(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1;a\n2;\n")
    schema = pa.schema([("n", pa.int32()), ("s", pa.string())])
    src = CsvSource(path, delimiter=";", header=False, schema=schema)
    assert read_all(src).equals(pa.table({"n": pa.array([1, 2], pa.int32()),
                                          "s": ["a", None]}))


def test_csv_malformed_row_names_line(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(20000)]
    lines[15001] = "oops"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv\W*: malformed CSV row at line 15002"):
        list(CsvSource(path, block_size=8192).batches())


def test_csv_bad_value_names_rows(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(20000)]
    lines[15001] = "x,1"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv\W*: bad CSV data at line 15002: .*'x'"):
        list(CsvSource(path, block_size=8192).batches())


def test_json_lines_source(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"k": f"g{i % 3}", "v": i, "x": i / 2} for i in range(3000)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    src = as_source(path, batch_size=1000)
    assert isinstance(src, JsonLinesSource)
    src.block_size = 4096
    assert sizes(src) == [1000] * 3
    assert read_all(src).to_pylist() == rows
    assert src.progress() == (path.stat().st_size, path.stat().st_size)


@pytest.mark.parametrize("bad, reason", [('{"v": "text"}', "changed from number to string"),
                                         ('{"v": 1', "Missing a comma"),
                                         ("nope", "Invalid value"),
                                         ('{"w": 1}', "unexpected field")])
def test_json_malformed_line_named(tmp_path, bad, reason):
    lines = [json.dumps({"v": i}) for i in range(5000)]
    lines[4000] = bad
    lines.insert(10, "")   # blank lines count as lines
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(lines) + "\n")
    src = JsonLinesSource(path, block_size=4096, name="bad")
    where = r"source 'bad' \(.*bad\.ndjson\)"
    with pytest.raises(DataError, match=rf"{where}: malformed JSON at line 4002: .*{reason}"):
        list(src.batches())


def test_json_no_trailing_newline(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"a": 1}\n{"a": 2}')
    assert read_all(as_source(path)).to_pylist() == [{"a": 1}, {"a": 2}]


# --------------------------------------------------------------------------- sinks
RESULT = pa.table({
    "k": ["a", 'q"uote', None],
    "n": pa.array([1, None, 3], pa.int64()),
    "f": [1.5, None, float("inf")],
    "d": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-7.00")], pa.decimal128(10, 2)),
    "t": pa.array([dt.datetime(2026, 1, 1, 9, 30), None, dt.datetime(2026, 1, 2, 0, 0, 0, 250000)],
                  pa.timestamp("ms")),
    "b": [True, None, False],
})


def test_memory_sink():
    sink = MemorySink()
    sink.set_schema(RESULT.schema)
    assert sink.table().equals(RESULT.schema.empty_table())
    sink.write(RESULT.slice(0, 2))
    sink.write(RESULT.slice(2))
    assert sink.table().equals(RESULT) and sink.rows_written == 3
    sink.close()
    sink.close()
    with pytest.raises(SinkError, match="after close"):
        sink.write(RESULT)


def test_parquet_sink_round_trip(tmp_path):
    path = tmp_path / "out.parquet"
    sink = as_sink(str(path))
    assert isinstance(sink, ParquetSink)
    sink.set_schema(RESULT.schema)
    sink.write(RESULT.slice(0, 1))
    sink.write(RESULT.slice(1))
    sink.close()
    sink.close()
    assert pq.read_table(path).equals(RESULT)


def test_empty_parquet_and_csv_sinks_keep_schema(tmp_path):
    for name in ("e.parquet", "e.csv"):
        sink = as_sink(tmp_path / name)
        sink.set_schema(RESULT.schema)
        sink.close()
    assert pq.read_table(tmp_path / "e.parquet").schema == RESULT.schema
    assert (tmp_path / "e.csv").read_text().strip() == '"k","n","f","d","t","b"'


def test_csv_sink_round_trip(tmp_path):
    path = tmp_path / "out.csv"
    sink = as_sink(path)
    assert isinstance(sink, CsvSink)
    sink.write(RESULT)
    sink.close()
    back = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=RESULT.schema,
                                                                strings_can_be_null=True))
    assert back.equals(RESULT)


def test_json_lines_sink_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    sink = as_sink(path)
    assert isinstance(sink, JsonLinesSink)
    sink.write(RESULT.slice(0, 2))
    sink.write(RESULT.slice(2))
    sink.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [
        {"k": "a", "n": 1, "f": 1.5, "d": "1.25", "t": "2026-01-01T09:30:00.000", "b": True},
        {"k": 'q"uote', "n": None, "f": None, "d": None, "t": None, "b": None},
        {"k": None, "n": 3, "f": None, "d": "-7.00", "t": "2026-01-02T00:00:00.250", "b": False},
    ]


def test_json_lines_sink_escapes_and_utc(tmp_path):
    path = tmp_path / "out.ndjson"
    strings = ["tab\there", "back\\slash", "nl\nx", "bell\x07", "ünï"]
    table = pa.table({"s": strings,
                      "t": pa.array([dt.datetime(2026, 1, 1)] * 5, pa.timestamp("s", "UTC"))})
    with JsonLinesSink(path) as sink:
        sink.write(table)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["s"] for r in rows] == strings
    assert rows[0]["t"] == "2026-01-01T00:00:00Z"


def test_json_lines_sink_to_open_file(tmp_path):
    path = tmp_path / "x.jsonl"
    with open(path, "wb") as f:
        sink = JsonLinesSink(f)
        sink.write(pa.table({"a": [1, 2]}))
        sink.close()
        assert not f.closed
    assert path.read_text() == '{"a":1}\n{"a":2}\n'


def test_callback_sink_and_schema_cast():
    seen = []
    sink = as_sink(seen.append)
    assert isinstance(sink, CallbackSink)
    sink.set_schema(pa.schema([("a", pa.int64())]))
    sink.write(pa.table({"a": pa.array([1], pa.int32())}))
    assert seen[0].schema.field("a").type == pa.int64()
    with pytest.raises(SinkError, match="does not match"):
        sink.write(pa.table({"b": ["x"]}))


@pytest.mark.parametrize("obj, match", [("out.txt", "unknown output file type"),
                                        (42, "cannot write results to a int")])
def test_as_sink_dispatch_errors(obj, match):
    with pytest.raises(SinkError, match=match):
        as_sink(obj)


# --------------------------------------------------------------------------- synthetic
def test_trades_schema_values_and_determinism():
    t = pa.Table.from_batches(trades_batches(150_000, symbols=50, traders=100, seed=3,
                                             batch_size=40_000))
    assert t.num_rows == 150_000
    assert t.column_names == ["ts", "symbol", "trader_id", "price", "qty", "side"]
    d = t.to_pydict()
    assert min(d["price"]) > 0
    assert 1 <= min(d["qty"]) and max(d["qty"]) <= 1000
    assert set(d["side"]) == {"B", "S"}
    assert set(d["symbol"]) <= {f"SYM{i:04d}" for i in range(50)}
    assert 0 <= min(d["trader_id"]) and max(d["trader_id"]) < 100
    assert d["ts"] == sorted(d["ts"])
    assert d["ts"][0] == dt.datetime(2026, 1, 1)
    counts = t.group_by("symbol").aggregate([("qty", "count")]).to_pydict()
    by = dict(zip(counts["symbol"], counts["qty_count"]))
    assert by["SYM0000"] > 5 * by["SYM0049"]   # Zipf-like popularity
    again = pa.Table.from_batches(trades_batches(150_000, symbols=50, traders=100, seed=3,
                                                 batch_size=7_000))
    assert again.equals(t)
    other = pa.Table.from_batches(trades_batches(150_000, symbols=50, traders=100, seed=4))
    assert not other.equals(t)


def test_trades_disorder_bounded():
    t = pa.Table.from_batches(trades_batches(100_000, disorder_ms=5_000, span_ms=60_000))
    ts = t.column("ts").cast(pa.int64()).to_pylist()
    assert ts != sorted(ts)
    running_max = ts[0]
    worst = 0
    for v in ts:
        running_max = max(running_max, v)
        worst = max(worst, running_max - v)
    assert 0 < worst <= 5_000


def test_trades_source_progress():
    src = TradesSource(1000, batch_size=300, symbols=10)
    assert src.progress() == (0, 1000)
    assert sizes(src) == [300, 300, 300, 100]
    assert src.progress() == (1000, 1000)
    assert src.schema() == read_all(src).schema


def test_user_source_subclass_defaults():
    class Counter(Source):
        def schema(self):
            return pa.schema([("n", pa.int64())])

        def batches(self):
            yield pa.record_batch({"n": [1, 2]})

    src = Counter(name="c")
    assert [(p, b.num_rows) for p, b in src.batches_with_partition()] == [(0, 2)]
    assert src.source_partitions == 1 and src.partition_key is None
    with pytest.raises(NotImplementedError):
        list(Source().batches())
