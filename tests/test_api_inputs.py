"""Every input form gpuvelo.sql accepts gives the same answer as a pyarrow Table (and DuckDB)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pl = pytest.importorskip("polars")

from differential import assert_same_rows, engine_table, rows, run_both

DATA = {
    "k": [1, 2, 1, None, 2, 3, 1],
    "name": ["a", "é", "", "b", None, "a", "c"],
    "price": [1.5, 2.0, -3.25, 4.0, None, 0.0, 10.0],
    "qty": [1, 2, 3, 4, 5, 6, 7],
}
TABLE = pa.table(DATA)
QUERIES = [
    "SELECT k, COUNT(*), SUM(qty), MIN(name), AVG(price), FIRST(name), LAST(qty) FROM t GROUP BY k",
    "SELECT name, qty * 2 FROM t WHERE qty > 2",
]


class ArrowStreamOnly:
    """Anything with ``__arrow_c_stream__`` (the Arrow PyCapsule interface) and nothing else."""

    def __init__(self, table: pa.Table):
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


def _inputs() -> dict:
    """Each accepted input form, as a zero-argument factory (streams can be read once)."""
    batches = TABLE.to_batches(max_chunksize=3)
    return {
        "table": lambda: TABLE,
        "chunked_table": lambda: pa.Table.from_batches(batches),
        "record_batch_reader": lambda: pa.RecordBatchReader.from_batches(TABLE.schema, batches),
        "pandas": lambda: TABLE.to_pandas(types_mapper=pd.ArrowDtype),
        "pandas_numpy_dtypes": lambda: TABLE.to_pandas(),   # k becomes float64 with NaN for NULL
        "polars": lambda: pl.from_arrow(TABLE),
        "arrow_c_stream": lambda: ArrowStreamOnly(TABLE),
        "dict_of_lists": lambda: dict(DATA),
        "dict_of_arrow_arrays": lambda: {c: TABLE[c].combine_chunks() for c in TABLE.column_names},
        "list_of_batches": lambda: list(batches),
        "generator_of_batches": lambda: (b for b in batches),
    }


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("form", list(_inputs()))
def test_every_input_form_gives_the_same_answer(form, query, backend):
    expected = run_both(query, {"t": TABLE}, backend=backend)
    got = rows(engine_table(query, {"t": _inputs()[form]()}, backend=backend))
    assert_same_rows(got, expected, ordered=False, context=f"{form}: {query}")


def test_dict_of_numpy_arrays(backend):
    data = {"k": np.array([1, 2, 1, 3, 2], np.int64), "x": np.array([0.5, 1.5, 2.5, -1.0, 0.0]),
            "u": np.array([1, 2, 3, 4, 5], np.uint16), "b": np.array([True, False, True, True, False])}
    query = "SELECT k, SUM(x), MAX(u), COUNT(*) FROM t WHERE b GROUP BY k"
    got = rows(engine_table(query, {"t": data}, backend=backend))
    expected = run_both(query, {"t": pa.table(data)}, backend=backend)
    assert_same_rows(got, expected, ordered=False, context=query)


def test_pandas_with_nulls_and_timestamps(backend):
    df = pd.DataFrame({
        "k": pd.array([1, None, 1, 2], dtype="Int64"),
        "x": [1.0, 2.0, np.nan, 4.0],
        "ts": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-02 00:00:00", None, "2024-01-03 12:30:00"]),
        "s": pd.array(["a", None, "b", "a"], dtype="string"),
    })
    query = "SELECT k, COUNT(*), COUNT(x), MAX(ts), MIN(s) FROM t GROUP BY k"
    got = rows(engine_table(query, {"t": df}, backend=backend))
    expected = run_both(query, {"t": pa.Table.from_pandas(df, preserve_index=False)}, backend=backend)
    assert_same_rows(got, expected, ordered=False, context=query)


def test_polars_with_strings_and_dates(backend):
    df = pl.DataFrame({"k": ["x", "y", "x", None], "d": [dt.date(2024, 1, 1), None, dt.date(2024, 2, 1), dt.date(2023, 1, 1)],
                       "v": [1, 2, 3, 4]})
    query = "SELECT k, MIN(d), MAX(d), SUM(v) FROM t GROUP BY k"
    got = rows(engine_table(query, {"t": df}, backend=backend))
    expected = run_both(query, {"t": df.to_arrow()}, backend=backend)
    assert_same_rows(got, expected, ordered=False, context=query)


def test_result_is_a_pyarrow_table_with_the_select_names(backend):
    result = engine_table("SELECT k AS key, SUM(qty) AS total FROM t GROUP BY k", {"t": TABLE}, backend=backend)
    assert result.column_names == ["key", "total"]


def test_several_named_tables_only_the_one_queried_is_used(backend):
    other = pa.table({"z": [1, 2, 3]})
    query = "SELECT k, COUNT(*) FROM t GROUP BY k"
    got = rows(engine_table(query, {"t": TABLE, "other": other}, backend=backend))
    expected = run_both(query, {"t": TABLE}, backend=backend)
    assert_same_rows(got, expected, ordered=False, context=query)
