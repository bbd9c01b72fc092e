"""Shared helpers of the expression compiler: validity masks, host/device moves, messages."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..columns import Col
from ..errors import ArithmeticOverflowError
from ..sql import plan as P
from ..types import DType

PHYSICAL = {"bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32",
            "int64": "int64", "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
            "uint64": "uint64", "float32": "float32", "float64": "float64",
            "decimal": "int64", "string": "int32", "timestamp": "int64", "date": "int32",
            "interval": "int64", "time": "int64", "null": "bool"}


def phys(xp, d: DType):
    """The ``xp`` dtype of the data array of a column of type ``d``."""
    return getattr(xp, PHYSICAL[d.kind])


def and_valid(*valids):
    """Combine validity masks (None = all valid) with AND."""
    out = None
    for v in valids:
        if v is not None:
            out = v if out is None else out & v
    return out


def to_host(xp, arr) -> np.ndarray:
    """Copy an ``xp`` array to a host NumPy array (no copy for NumPy)."""
    return getattr(xp, "asnumpy", np.asarray)(arr)


def gather(xp, table: np.ndarray, codes):
    """``table[codes]`` on the device, for a small host ``table`` indexed by row codes."""
    table = np.asarray(table)
    if len(table) == 0:   # only NULL rows can point into an empty dictionary
        return xp.zeros(codes.shape[0], dtype=table.dtype)
    if codes.dtype == xp.bool_:   # a bare NULL's (all-False) data: every row at entry 0
        codes = codes.astype(xp.int32)
    return xp.asarray(table)[codes]


def null_col(xp, n: int, dtype: DType) -> Col:
    """An all-NULL column of ``dtype`` with ``n`` rows (a bare NULL also gets a one-entry
    string dictionary, so string functions that take it as an argument can run)."""
    dictionary = pa.array([""], pa.string()) if dtype.is_string or dtype.is_null else None
    return Col(xp.zeros(n, dtype=phys(xp, dtype)), xp.zeros(n, dtype=xp.bool_), dtype, dictionary)


def truth(xp, col: Col):
    """Rows where a boolean column is TRUE (NULL counts as not TRUE)."""
    data = col.data.astype(xp.bool_)
    return data if col.valid is None else data & col.valid


def overflow(xp, bad, what: str, values) -> None:
    """Raise ArithmeticOverflowError if any ``bad`` row; names the first row's operand values."""
    if not bool(bad.any()):
        return
    i = int(to_host(xp, xp.nonzero(bad)[0][:1])[0])
    shown = ", ".join(str(to_host(xp, v[i:i + 1])[0]) for v in values)
    raise ArithmeticOverflowError(f"overflow in {what} at row {i} (operands: {shown})")


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "eq": "=", "ne": "<>",
            "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "AND", "or": "OR"}


def describe(e: P.Expr) -> str:
    """A short SQL-like rendering of an expression, for error messages."""
    if isinstance(e, P.ColumnRef):
        return e.name
    if isinstance(e, P.Literal):
        return "NULL" if e.value is None else repr(e.value) if isinstance(e.value, str) else str(e.value)
    if isinstance(e, (P.KeyRef, P.AggRef)):
        return f"{'k' if isinstance(e, P.KeyRef) else 'a'}{e.index}"
    if isinstance(e, P.WindowRef):
        return f"window_{e.which}"
    if isinstance(e, P.Cast):
        return f"{'TRY_CAST' if e.safe else 'CAST'}({describe(e.arg)} AS {e.dtype})"
    if isinstance(e, P.Case):
        return "CASE ... END"
    if isinstance(e, P.Call):
        if e.op in _SYMBOLS and len(e.args) == 2:
            return f"({describe(e.args[0])} {_SYMBOLS[e.op]} {describe(e.args[1])})"
        return f"{e.op.upper()}({', '.join(describe(a) for a in e.args)})"
    return type(e).__name__
