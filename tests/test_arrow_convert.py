"""Round trips between Arrow arrays and host Cols (gpuvelo.arrowcol)."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from gpuvelo import types as T
from gpuvelo.arrowcol import (arrow_to_col, batch_to_cols, col_to_arrow,
                                            cols_to_table)
from gpuvelo.errors import ArithmeticOverflowError, DataError

CASES = [
    (pa.array([True, None, False, True]), T.BOOL),
    (pa.array([1, None, -128, 127], pa.int8()), T.INT8),
    (pa.array([1, None, -(2**31), 2**31 - 1], pa.int32()), T.INT32),
    (pa.array([1, None, -(2**63), 2**63 - 1], pa.int64()), T.INT64),
    (pa.array([0, None, 2**64 - 1], pa.uint64()), T.UINT64),
    (pa.array([1.5, None, -0.0, float("inf")], pa.float32()), T.FLOAT32),
    (pa.array([1.5, None, float("nan"), 1e300]), T.FLOAT64),
    (pa.array(["a", None, "héllo", "a", "👍"]), T.STRING),
    (pa.array([dt.date(2024, 1, 2), None, dt.date(1969, 12, 31)]), T.DATE),
    (pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6), None], pa.timestamp("us")), T.timestamp("us")),
    (pa.array([0, None, -1], pa.timestamp("ns", "UTC")), T.timestamp("ns", "UTC")),
    (pa.array([Decimal("1.25"), None, Decimal("-9999999999999999.99")], pa.decimal128(20, 2)),
     T.decimal(20, 2)),
    (pa.array([Decimal("999999999999999999"), Decimal("-999999999999999999"), None],
              pa.decimal128(18, 0)), T.decimal(18, 0)),
]


@pytest.mark.parametrize("arr,dtype", CASES, ids=[str(c[1]) for c in CASES])
def test_round_trip(arr, dtype):
    col = arrow_to_col(arr, dtype)
    assert len(col) == len(arr)
    back = col_to_arrow(col)
    assert back.type == T.to_arrow(dtype)
    assert back.to_pylist() == arr.to_pylist() or (
        dtype.is_float and np.allclose(back.to_numpy(zero_copy_only=False),
                                       arr.to_numpy(zero_copy_only=False), equal_nan=True))
    if arr.null_count:
        assert col.valid.tolist() == arr.is_valid().to_pylist()
    else:
        assert col.valid is None


@pytest.mark.parametrize("arr,dtype", CASES, ids=[str(c[1]) for c in CASES])
def test_sliced_and_chunked(arr, dtype):
    sliced = arr.slice(1)
    assert col_to_arrow(arrow_to_col(sliced, dtype)).to_pylist() == sliced.to_pylist() or dtype.is_float
    chunked = pa.chunked_array([arr.slice(0, 2), arr.slice(2)])
    assert col_to_arrow(arrow_to_col(chunked, dtype)).to_pylist() == arr.to_pylist() or dtype.is_float


def test_physical_layouts():
    assert arrow_to_col(pa.array([1, None, 3]), T.INT64).data.tolist() == [1, 0, 3]
    d = arrow_to_col(pa.array([Decimal("-1.05"), None], pa.decimal128(10, 2)), T.decimal(10, 2))
    assert d.data.dtype == np.int64 and d.data.tolist() == [-105, 0]
    ts = arrow_to_col(pa.array([dt.datetime(1970, 1, 1, 0, 0, 1)], pa.timestamp("ms")), T.timestamp("ms"))
    assert ts.data.tolist() == [1000]
    d64 = arrow_to_col(pa.array([dt.date(1970, 1, 3), dt.date(1969, 12, 31)], pa.date64()), T.DATE)
    assert d64.data.dtype == np.int32 and d64.data.tolist() == [2, -1]
    f16 = arrow_to_col(pa.array(np.array([1.5, 2], np.float16)), T.FLOAT32)
    assert f16.data.dtype == np.float32 and f16.data.tolist() == [1.5, 2.0]
    s = arrow_to_col(pa.array(["x", "y", None, "x"]), T.STRING)
    assert s.data.dtype == np.int32
    assert [s.dictionary[c].as_py() for c in s.data[[0, 1, 3]]] == ["x", "y", "x"]
    assert s.valid.tolist() == [True, True, False, True]


def test_dictionary_arrays_keep_their_dictionary():
    arr = pa.DictionaryArray.from_arrays(pa.array([2, 0, None, 2], pa.int8()), pa.array(["a", "b", "c"]))
    col = arrow_to_col(arr.slice(1), T.STRING)
    assert col.dictionary.to_pylist() == ["a", "b", "c"]
    assert col.data.tolist() == [0, 0, 2]
    assert col_to_arrow(col).to_pylist() == ["a", None, "c"]
    # chunks with different dictionaries are unified
    other = pa.array(["z", "a"]).dictionary_encode()
    chunked = pa.chunked_array([arr.cast(other.type), other])
    assert col_to_arrow(arrow_to_col(chunked, T.STRING)).to_pylist() == ["c", "a", None, "c", "z", "a"]


def test_large_string_and_empty():
    col = arrow_to_col(pa.array(["ä", None], pa.large_string()), T.STRING)
    assert col_to_arrow(col).to_pylist() == ["ä", None]
    empty = arrow_to_col(pa.array([None, None], pa.string()), T.STRING)
    assert col_to_arrow(empty).to_pylist() == [None, None]
    nul = arrow_to_col(pa.nulls(3), T.NULL)
    assert nul.valid.tolist() == [False] * 3 and col_to_arrow(nul).to_pylist() == [None] * 3


def test_decimal_extremes_and_overflow():
    big = Decimal(2**63 - 1)
    arr = pa.array([big, -big - 1, None], pa.decimal128(38, 0))
    col = arrow_to_col(arr, T.decimal(38, 0))
    assert col.data.tolist() == [2**63 - 1, -(2**63), 0]
    assert col_to_arrow(col).to_pylist() == arr.to_pylist()
    with pytest.raises(ArithmeticOverflowError, match="9223372036854775808"):
        arrow_to_col(pa.array([Decimal(1), big + 1], pa.decimal128(38, 0)), T.decimal(38, 0))
    with pytest.raises(ArithmeticOverflowError):
        arrow_to_col(pa.array([-big - 2], pa.decimal128(38, 0)), T.decimal(38, 0))


def test_batch_and_table():
    batch = pa.record_batch({"a": pa.array([1, None]), "s": pa.array(["x", "y"]), "extra": [0, 0]})
    cols = batch_to_cols(batch, {"a": T.INT64, "s": T.STRING})
    assert list(cols) == ["a", "s"]
    table = cols_to_table(cols)
    assert table.to_pydict() == {"a": [1, None], "s": ["x", "y"]}
    with pytest.raises(DataError, match="'missing'"):
        batch_to_cols(batch, {"missing": T.INT64})
    bad = pa.record_batch({"d": pa.array([Decimal(2**64)], pa.decimal128(38, 0))})
    with pytest.raises(ArithmeticOverflowError, match="column 'd'"):
        batch_to_cols(bad, {"d": T.decimal(38, 0)})
