"""Host-side conversion between pyarrow arrays and :class:`~gpuvelo.columns.Col` (NumPy only).

The physical layouts are the ones ``gpuvelo.types`` documents. Fixed-width values are read
straight from the Arrow buffers (honouring the array offset); the data of NULL slots is set to
0 so that arithmetic on them is harmless. Arrays without NULLs may be returned as read-only
views of the Arrow buffers (no copy).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import Col
from .errors import ArithmeticOverflowError, DataError, NotSupportedError
from .types import DType, to_arrow

_NP = {"bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32,
       "int64": np.int64, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
       "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
       "decimal": np.int64, "string": np.int32, "timestamp": np.int64, "date": np.int32,
       "interval": np.int64, "time": np.int64, "null": np.bool_, "list": np.int32}
_MS_PER_DAY = 86_400_000


def numpy_dtype(d: DType):
    """The NumPy dtype of ``d``'s physical data array."""
    return _NP[d.kind]


# --------------------------------------------------------------------------- Arrow -> Col
def _bits(buf, offset: int, n: int) -> np.ndarray:
    """Unpack ``n`` bits of an Arrow bitmap starting at bit ``offset`` into a bool array."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little", count=offset + n)[offset:].astype(np.bool_)


def _validity(arr: pa.Array) -> np.ndarray | None:
    if arr.null_count == 0:
        return None
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), np.bool_)
    return _bits(arr.buffers()[0], arr.offset, len(arr))


def _fixed(arr: pa.Array, np_dtype) -> np.ndarray:
    """The values buffer of a fixed-width array as NumPy, offset applied (zero-copy)."""
    n, off = len(arr), arr.offset
    return np.frombuffer(arr.buffers()[1], dtype=np_dtype, count=off + n)[off:]


def _flatten(array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        if pa.types.is_dictionary(array.type):
            array = array.unify_dictionaries()
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _cast(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if arr.type == target:
        return arr
    try:
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataError(f"cannot convert values of type {arr.type} to {target}: {e}") from e


def _decimal_words(arr: pa.Array, valid: np.ndarray | None) -> np.ndarray:
    """Unscaled int64 values of a decimal128 array; raises when one does not fit in 64 bits."""
    words = np.frombuffer(arr.buffers()[1], dtype="<i8", count=2 * (arr.offset + len(arr)))
    words = words.reshape(-1, 2)[arr.offset:]
    low, high = words[:, 0], words[:, 1]
    bad = high != (low >> np.int64(63))
    if valid is not None:
        bad &= valid
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ArithmeticOverflowError(
            f"decimal value {arr[i].as_py()} (row {i}) does not fit in 64 bits "
            f"(gpuvelo computes decimals as int64 scaled by 10**{arr.type.scale})")
    return low


def _strings(arr: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray | None]:
    """(int32 codes, string dictionary, valid) of a string or dictionary array."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(_cast(arr, pa.string()))
    codes = arr.indices
    valid = _validity(codes)
    dictionary = _cast(arr.dictionary, pa.string())
    data = _cast(codes, pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
    if dictionary.null_count:   # a valid index may point at a NULL dictionary entry
        dict_valid = _bits(dictionary.buffers()[0], dictionary.offset, len(dictionary))
        entry_valid = dict_valid[data] if len(dictionary) else np.zeros(len(data), np.bool_)
        valid = entry_valid if valid is None else valid & entry_valid
    return data, dictionary, valid


def _duration_us(arr: pa.Array) -> pa.Array:
    """A duration array (any unit) as microseconds: nanoseconds truncated toward zero, as
    DuckDB reads them; coarser units exactly (DataError beyond int64)."""
    if pa.types.is_duration(arr.type) and arr.type.unit == "ns":
        return arr.cast(pa.duration("us"), safe=False)
    return _cast(arr, pa.duration("us"))


def arrow_to_col(array, dtype: DType) -> Col:
    """Convert a pyarrow Array or ChunkedArray to a host :class:`Col` of type ``dtype``."""
    if dtype.is_unsupported:
        why = " (decimal scales 0..18 are)" if dtype.arrow.startswith("decimal") else ""
        raise NotSupportedError(f"type {dtype.arrow} is not supported by gpuvelo{why}; leave the "
                                "column out of the query, or convert it before gpuvelo reads it")
    arr = _flatten(array)
    kind = dtype.kind
    if kind == "string":
        data, dictionary, valid = _strings(arr)
        return Col(data, valid, dtype, dictionary)
    if kind == "list":     # results only: row codes into the array itself
        arr = _cast(arr, to_arrow(dtype))
        return Col(np.arange(len(arr), dtype=np.int32), _validity(arr), dtype, arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if kind == "null":
        return Col(np.zeros(len(arr), np.bool_), np.zeros(len(arr), np.bool_), dtype)
    if kind == "date" and pa.types.is_date64(arr.type):
        valid = _validity(arr)
        data = (_fixed(arr, np.int64) // _MS_PER_DAY).astype(np.int32)
    elif kind == "interval":
        valid = _validity(arr)
        data = _fixed(_duration_us(arr), np.int64)
    elif kind == "decimal":
        if not (pa.types.is_decimal128(arr.type) and arr.type.scale == dtype.scale):
            arr = _cast(arr, pa.decimal128(38, dtype.scale))
        valid = _validity(arr)
        data = _decimal_words(arr, valid)
    else:
        arr = _cast(arr, to_arrow(dtype))
        valid = _validity(arr)
        if kind == "bool":
            data = _bits(arr.buffers()[1], arr.offset, len(arr))
        else:
            data = _fixed(arr, _NP[kind])
    if valid is not None:
        data = np.where(valid, data, data.dtype.type(0))
    return Col(data, valid, dtype)


def batch_to_cols(batch: pa.RecordBatch, schema: dict[str, DType]) -> dict[str, Col]:
    """Convert the columns ``schema`` names of a RecordBatch (or Table) to host Cols."""
    out = {}
    for name, dtype in schema.items():
        if name not in batch.schema.names:
            raise DataError(f"batch has no column {name!r} (it has {batch.schema.names})")
        try:
            out[name] = arrow_to_col(batch.column(name), dtype)
        except (DataError, NotSupportedError) as e:
            raise type(e)(f"column {name!r}: {e}") from e
    return out


# --------------------------------------------------------------------------- Col -> Arrow
def _bitmap(mask: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(mask, bitorder="little"))


def col_to_arrow(col: Col) -> pa.Array:
    """Convert a host :class:`Col` to a pyarrow Array of type ``types.to_arrow(col.dtype)``."""
    d = col.dtype
    n = len(col)
    valid = None if col.valid is None else np.asarray(col.valid, np.bool_)
    if d.kind == "null":
        return pa.nulls(n)
    if d.is_string or d.is_list:
        mask = None if valid is None else ~valid
        codes = pa.array(np.asarray(col.data, np.int32), pa.int32(), mask=mask)
        if len(col.dictionary) == 0:
            return pa.nulls(n, to_arrow(d))
        return _cast(col.dictionary.take(codes), to_arrow(d))
    nulls = 0 if valid is None else int(n - valid.sum())
    vbuf = None if nulls == 0 else _bitmap(valid)
    if d.is_bool:
        dbuf = _bitmap(np.asarray(col.data, np.bool_))
    elif d.is_decimal:
        low = np.asarray(col.data, np.int64)
        words = np.stack([low, low >> np.int64(63)], axis=1)
        dbuf = pa.py_buffer(np.ascontiguousarray(words))
    else:
        dbuf = pa.py_buffer(np.ascontiguousarray(col.data, _NP[d.kind]))
    return pa.Array.from_buffers(to_arrow(d), n, [vbuf, dbuf], null_count=nulls)


def cols_to_table(cols: dict[str, Col]) -> pa.Table:
    """Convert a mapping name -> host Col to a pyarrow Table (columns in mapping order)."""
    return pa.table({name: col_to_arrow(c) for name, c in cols.items()})
