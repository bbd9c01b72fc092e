"""QUANTILE_CONT / QUANTILE_DISC (and MEDIAN) from each group's list of values, on the host.

Order statistics are not decomposable into fixed-size accumulators: a group keeps every
non-NULL value it has seen (the ``a{j}_vals`` list of ``partials.py``), so their memory grows
with the input. The rules are DuckDB's:

* values sort in SQL order (NaN above every number; strings by code point);
* ``quantile_disc(x, q)``: the value at index ``max(1, ceil(n * q)) - 1`` (computed exactly
  from the fraction ``q``), in the argument's type;
* ``quantile_cont(x, q)``: at ``r = (n - 1) * q`` the values ``lo = v[floor(r)]``,
  ``hi = v[ceil(r)]`` interpolate as ``lo * (1 - d) + hi * d`` (d = r - floor(r)) in double
  for numbers (integers give DOUBLE, FLOAT stays FLOAT); as ``lo + (hi - lo) * d`` for
  decimals (same type; the result truncated toward zero, or floored for a DECIMAL of more
  than 18 digits, which DuckDB holds as a HUGEINT -- SUM(x), DECIMAL(38, s) columns) and
  times (DATE becomes TIMESTAMP; the step rounded half away from zero); strings and
  booleans take ``lo``. (DuckDB's double steps for decimals of 16 to 18 significant digits
  are not reproduced: their last digit or two may differ.)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..arrowcol import col_to_arrow
from ..columns import Col

_US_PER_DAY = 86_400_000_000


def quantiles(lists: pa.Array, func: str, q: Fraction, arg: T.DType, out: T.DType) -> pa.Array:
    """One quantile per list of ``lists`` (NULL for an empty list); decimals in the lists are
    their scaled int64 values, as in partials."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    n = np.asarray(pc.fill_null(pc.list_value_length(lists), 0), dtype=np.int64)
    values = lists.flatten()
    parent = lists.value_parent_indices()
    order = pc.sort_indices(pa.table({"p": parent, "v": values}),
                            sort_keys=[("p", "ascending"), ("v", "ascending")])
    ordered = values.take(order)
    start = np.zeros(n.size, dtype=np.int64)
    np.cumsum(n[:-1], out=start[1:])
    empty = n == 0
    last = np.maximum(n - 1, 0)
    if func == "quantile_disc":
        num, den = q.numerator, q.denominator
        at = np.maximum(1, -((-n * num) // den)) - 1          # ceil(n q) - 1, exactly
        return pick_values(ordered, start + np.minimum(at, last), empty, arg)
    r = last.astype(np.float64) * float(q)
    lo_i, hi_i = np.floor(r).astype(np.int64), np.ceil(r).astype(np.int64)
    d = r - lo_i
    if not (arg.is_numeric or arg.is_temporal):
        return pick_values(ordered, start + lo_i, empty, arg)
    take = lambda at: ordered.take(pa.array(np.where(empty, 0, at)))   # noqa: E731
    if len(ordered) == 0:
        return pa.nulls(n.size, T.to_arrow(out))
    if arg.is_decimal or arg.is_temporal:
        lo, hi = (_ticks(take(start + i), arg, out) for i in (lo_i, hi_i))
        with np.errstate(invalid="ignore", over="ignore"):
            step = (hi - lo).astype(np.float64) * d
            if arg.is_decimal:     # truncated toward zero; floored when DuckDB holds it as
                rnd = np.floor if (arg.precision or 0) > 18 else np.trunc   # a HUGEINT (> 18 digits)
                v = rnd(lo.astype(np.float64) + step).astype(np.int64)
            else:                  # times: the step rounded half away from zero
                v = lo + (np.sign(step) * np.floor(np.abs(step) + 0.5)).astype(np.int64)
        return col_to_arrow(Col(v, ~empty, out))
    lo, hi = (np.asarray(pc.cast(take(start + i), pa.float64())) for i in (lo_i, hi_i))
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.where(lo_i == hi_i, lo, lo * (1.0 - d) + hi * d)
    return pa.array(v.astype(out.kind), mask=empty)


def pick_values(ordered: pa.Array, at: np.ndarray, empty: np.ndarray, arg: T.DType) -> pa.Array:
    """The values at positions ``at`` (NULL where ``empty``), in the argument's type."""
    if len(ordered) == 0:
        picked = pa.nulls(at.size, ordered.type)
    else:
        picked = ordered.take(pa.array(np.where(empty, 0, at)))
        picked = pc.if_else(pa.array(empty), pa.nulls(at.size, picked.type), picked) \
            if empty.any() else picked
    if arg.is_decimal:
        valid = ~empty
        return col_to_arrow(Col(np.asarray(pc.fill_null(picked, 0), dtype=np.int64), valid, arg))
    return picked


def _ticks(values: pa.Array, arg: T.DType, out: T.DType) -> np.ndarray:
    """Decimals as their scaled int64, dates as microseconds, timestamps as int64 ticks of
    ``out``'s unit (QUANTILE_CONT of seconds or milliseconds gives microseconds; of
    nanoseconds, microseconds rounded half away from zero, as DuckDB casts them)."""
    if arg.kind == "date":
        return np.asarray(pc.cast(values, pa.int32()), dtype=np.int64) * _US_PER_DAY
    if arg.is_temporal:
        return rescale_ticks(np.asarray(pc.cast(values, pa.int64()), dtype=np.int64), arg.unit, out.unit)
    return np.asarray(values, dtype=np.int64)


_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def rescale_ticks(ticks: np.ndarray, unit: str, to: str) -> np.ndarray:
    """Host int64 timestamp ticks of ``unit`` as ticks of ``to`` (to a coarser unit rounded
    half away from zero)."""
    shift = _DIGITS[to] - _DIGITS[unit]
    if shift >= 0:
        return ticks * 10 ** shift
    half, f = 10 ** -shift // 2, 10 ** -shift
    return np.sign(ticks) * ((np.abs(ticks) + half) // f)
