"""Computing analytic (SQL window) functions over a finite table, on the host.

The step between a query's inner and outer parts (see :mod:`gpuvelo.sql.analytic`): the
inner query's result comes in as a pyarrow Table, and :func:`apply_analytic` returns it
with one column appended per :class:`~gpuvelo.sql.analytic.AnalyticCall`.

Everything is vectorised with NumPy and pyarrow.compute, no loop over rows. Per distinct
(PARTITION BY, ORDER BY), the rows are sorted once (``np.lexsort`` over dense ranks of the
keys, which encode ASC/DESC and NULLS FIRST/LAST the way DuckDB orders: NaN above every
number, -0.0 equal to 0.0); each sorted position then knows the bounds of its partition
and of its peers (rows with equal ORDER BY values). From those:

* ranking functions are arithmetic on the bounds; LAG/LEAD/FIRST_VALUE/LAST_VALUE/
  NTH_VALUE pick a source position (IGNORE NULLS: through the running count of non-NULL
  values) and gather;
* every frame is a range ``[start, end)`` of sorted positions; COUNT and integer/decimal
  SUM are differences of prefix sums (exact: int64 wraps around and back); float SUM and
  MIN/MAX fold each range from power-of-two pieces (:func:`_range_fold`, O(n log n),
  pairwise float sums); MIN/MAX fold dense ranks, so they work for every orderable type.

Results go back to the input's row order. Ties in ORDER BY keep the input order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..arrowcol import arrow_to_col, col_to_arrow
from ..columns import Col
from ..errors import ArithmeticOverflowError, DataError, TypeMismatchError
from ..sql.analytic import AnalyticCall, AnalyticOrder, AnalyticSpec


def apply_analytic(table: pa.Table, spec: AnalyticSpec) -> pa.Table:
    """``table`` (the inner query's result) with its columns named as ``spec`` says and
    one column appended per analytic call."""
    table = _named(table, spec)
    layouts: dict = {}
    for call in spec.calls:
        key = (call.partition_by, call.order_by)
        if key not in layouts:
            layouts[key] = _layout(table, call.partition_by, call.order_by)
        table = table.append_column(call.output, _compute(table, call, layouts[key]))
    return table


def _named(table: pa.Table, spec: AnalyticSpec) -> pa.Table:
    """Name the inner result's columns: the select items' as ``spec.columns`` says (None:
    keep the name, unless an earlier column took it), the hidden ones as they are."""
    names = table.column_names
    user = len(names) - spec.hidden
    widths = [1] * len(spec.columns)
    if spec.star is not None:
        widths[spec.star] = user - len(spec.columns) + 1
    out, pos, taken = [], 0, set()
    for i, (name, width) in enumerate(zip(spec.columns, widths)):
        for have in names[pos:pos + width]:
            new = name or (have if have.lower() not in taken or spec.star is not None
                           else f"__gv_c{i}")
            taken.add(new.lower())
            out.append(new)
        pos += width
    return table.rename_columns(out + names[user:])


# --------------------------------------------------------------------------- sorting
@dataclass
class _Layout:
    """Rows sorted by (partition, order); per sorted position, the bounds ``[start, end)``
    of its partition and of its peers, and a running peer-group number."""

    perm: np.ndarray          # sorted position -> row
    part_start: np.ndarray
    part_end: np.ndarray
    peer_start: np.ndarray
    peer_end: np.ndarray
    peer_id: np.ndarray


def _flat(column) -> pa.Array:
    """One plain (not chunked, not dictionary-encoded) array."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _dense_rank(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
    """(ascending dense ranks 1..m of the values, validity, m); -0.0 equals 0.0 and NaN
    ranks above every number, as DuckDB orders them."""
    valid = np.asarray(arr.is_valid(), dtype=bool)
    if pa.types.is_null(arr.type) or len(arr) == 0:
        return np.zeros(len(arr), np.int64), valid, 0
    rank = np.asarray(pc.rank(arr, sort_keys="ascending", tiebreaker="dense"), dtype=np.int64)
    m = int(rank[valid].max()) if valid.any() else 0
    return rank, valid, m


def _sort_codes(arr: pa.Array, descending: bool = False, nulls_first: bool = False) -> np.ndarray:
    """Integers whose ascending order is the SQL order of the values (NULLs included)."""
    rank, valid, m = _dense_rank(arr)
    if descending:
        rank = m + 1 - rank
    return np.where(valid, rank, 0 if nulls_first else m + 1)


def _segments(new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position, [start, end) of the run it belongs to (``new`` marks each run's start)."""
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(new))
    run = np.cumsum(new) - 1
    return starts[run], ends[run]


def _changes(codes: list[np.ndarray], perm: np.ndarray) -> np.ndarray:
    """Where, in sorted order, any of ``codes`` differs from the previous position."""
    new = np.zeros(len(perm), bool)
    if len(perm):
        new[0] = True
    for c in codes:
        s = c[perm]
        new[1:] |= s[1:] != s[:-1]
    return new


def _layout(table: pa.Table, partition: tuple[str, ...], order: tuple[AnalyticOrder, ...]) -> _Layout:
    """Sort the rows by partition and order keys (ties: input order) and find the bounds."""
    n = table.num_rows
    parts = [_sort_codes(_flat(table.column(c))) for c in partition]
    keys = [_sort_codes(_flat(table.column(o.column)), o.descending, o.nulls_first) for o in order]
    perm = np.lexsort([np.arange(n)] + keys[::-1] + parts[::-1])
    new_part = _changes(parts, perm)
    new_peer = new_part | _changes(keys, perm)
    part_start, part_end = _segments(new_part)
    peer_start, peer_end = _segments(new_peer)
    return _Layout(perm, part_start, part_end, peer_start, peer_end, np.cumsum(new_peer))


# --------------------------------------------------------------------------- one call
def _compute(table: pa.Table, call: AnalyticCall, lay: _Layout) -> pa.Array:
    """The call's column, in the table's row order."""
    arg = _sorted(table, call.arg, lay)
    if call.func in _RANKING:
        out = _RANKING[call.func](lay, call.param)
    elif call.func in ("lag", "lead"):
        out = _lag_lead(call, lay, arg, _sorted(table, call.default, lay))
    elif call.func in ("first_value", "last_value", "nth_value"):
        out = _gather(arg, _frame_value(call, lay, _frame(call, lay), np.asarray(arg.is_valid(), bool)))
    else:
        out = _aggregate(call, arg, *_frame(call, lay))
    inverse = np.empty_like(lay.perm)
    inverse[lay.perm] = np.arange(len(lay.perm))
    return out.take(pa.array(inverse))


def _sorted(table: pa.Table, name: str | None, lay: _Layout) -> pa.Array | None:
    """Column ``name`` in sorted order (None for no column)."""
    return None if name is None else _flat(table.column(name)).take(pa.array(lay.perm))


def _positions(lay: _Layout) -> np.ndarray:
    return np.arange(len(lay.perm))


def _int64(values) -> pa.Array:
    return pa.array(values, pa.int64())


def _row_number(lay, _param):
    return _int64(_positions(lay) - lay.part_start + 1)


def _rank(lay, _param):
    return _int64(lay.peer_start - lay.part_start + 1)


def _dense_rank_of(lay, _param):
    return _int64(lay.peer_id - lay.peer_id[lay.part_start] + 1)


def _percent_rank(lay, _param):
    size = lay.part_end - lay.part_start
    rank = lay.peer_start - lay.part_start
    return pa.array(np.where(size > 1, rank / np.maximum(size - 1, 1), 0.0), pa.float64())


def _cume_dist(lay, _param):
    size = lay.part_end - lay.part_start
    return pa.array((lay.peer_end - lay.part_start) / np.maximum(size, 1), pa.float64())


def _ntile(lay, buckets):
    """NTILE as DuckDB (and PostgreSQL) computes it: the first ``size % n`` buckets get
    one row more."""
    n = len(lay.perm)
    if buckets is None:
        return pa.nulls(n, pa.int64())
    size = lay.part_end - lay.part_start
    k = np.minimum(buckets, np.maximum(size, 1))
    small = size // k
    large = size - k * small
    first_small = large * (small + 1)
    row = _positions(lay) - lay.part_start
    tile = np.where(row < first_small, 1 + row // (small + 1),
                    1 + large + (row - first_small) // np.maximum(small, 1))
    return _int64(tile)


_RANKING = {"row_number": _row_number, "rank": _rank, "dense_rank": _dense_rank_of,
            "percent_rank": _percent_rank, "cume_dist": _cume_dist, "ntile": _ntile}


def _gather(values: pa.Array, src: np.ndarray) -> pa.Array:
    """``values[src]``, NULL where ``src`` is -1."""
    return values.take(pa.array(np.maximum(src, 0), mask=src < 0))


def _valid_before(valid: np.ndarray) -> np.ndarray:
    """How many non-NULL values precede each position (length n + 1)."""
    return np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])


def _pick(vpos: np.ndarray, j: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The position of the j-th non-NULL value where ``ok`` (and j is in range), else -1."""
    ok = ok & (j >= 0) & (j < len(vpos))
    return np.where(ok, vpos[np.clip(j, 0, max(len(vpos) - 1, 0))] if len(vpos) else -1, -1)


def _lag_lead(call: AnalyticCall, lay: _Layout, arg: pa.Array, default: pa.Array | None) -> pa.Array:
    """LAG / LEAD (a negative offset looks the other way), with the default where the
    source row is outside the partition."""
    n = len(lay.perm)
    if call.param is None:
        return pa.nulls(n, arg.type)
    step = call.param if call.func == "lag" else -call.param      # rows back
    if call.ignore_nulls and step != 0:       # the step-th non-NULL value back (or ahead)
        valid = np.asarray(arg.is_valid(), bool)
        vpos, before = np.flatnonzero(valid), _valid_before(valid)
        j = before[:-1] - step if step > 0 else before[1:] - step - 1
        src = _pick(vpos, j, np.ones(n, bool))
    else:
        src = _positions(lay) - step
    src = np.where((src >= lay.part_start) & (src < lay.part_end), src, -1)
    out = _gather(arg, src)
    if default is None:
        return out
    return pc.if_else(pa.array(src >= 0), out, _cast_like(default, arg.type, call))


def _cast_like(values: pa.Array, target: pa.DataType, call: AnalyticCall) -> pa.Array:
    """LAG/LEAD's default cast to the argument's type, rounding as DuckDB does (a double
    half to even, a decimal half away from zero) when the target is an integer or a decimal
    of fewer places."""
    if values.type == target:
        return values
    if pa.types.is_integer(target) and pa.types.is_floating(values.type):
        values = pc.round(values, round_mode="half_to_even")
    elif pa.types.is_integer(target) and pa.types.is_decimal(values.type):
        values = pc.round(values, round_mode="half_towards_infinity")
    elif pa.types.is_decimal(target) and pa.types.is_integer(values.type):
        values = values.cast(pa.decimal128(38, target.scale))   # widest first; range checked below
    elif pa.types.is_decimal(target) and pa.types.is_decimal(values.type) and values.type.scale > target.scale:
        values = pc.round(values, target.scale, round_mode="half_towards_infinity")
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataError(f"{call.sql}: the default cannot be converted to {target}: {e}") from e


# --------------------------------------------------------------------------- frames
def _frame(call: AnalyticCall, lay: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each sorted position's frame (empty: end == start)."""
    frame, part = call.frame, (lay.part_start, lay.part_end)
    if frame.unit == "range":
        start = lay.part_start if frame.start is None else lay.peer_start
        end = lay.part_end if frame.end is None else lay.peer_end
    else:
        pos = _positions(lay)
        start = lay.part_start if frame.start is None else np.clip(pos + frame.start, *part)
        end = lay.part_end if frame.end is None else np.clip(pos + frame.end + 1, *part)
    return start, np.maximum(end, start)


def _frame_value(call: AnalyticCall, lay: _Layout, frame, valid: np.ndarray) -> np.ndarray:
    """The source position of FIRST_VALUE / LAST_VALUE / NTH_VALUE, -1 for NULL."""
    start, end = frame
    n = len(lay.perm)
    if call.func == "nth_value" and (call.param is None or call.param < 1):
        return np.full(n, -1)
    k = 1 if call.func != "nth_value" else call.param
    if call.ignore_nulls:
        vpos, before = np.flatnonzero(valid), _valid_before(valid)
        if call.func == "last_value":
            src = _pick(vpos, before[end] - 1, end > start)
            return np.where(src >= start, src, -1)
        src = _pick(vpos, before[start] + k - 1, end > start)
        return np.where(src < end, src, -1)
    if call.func == "last_value":
        return np.where(end > start, end - 1, -1)
    return np.where(start + k - 1 < end, start + k - 1, -1)


def _range_fold(values: np.ndarray, start: np.ndarray, end: np.ndarray, ufunc, identity) -> np.ndarray:
    """``ufunc.reduce(values[start[i]:end[i]])`` for every i (``identity`` for an empty
    range), from power-of-two pieces: level k holds the fold of every 2**k consecutive
    values, and each range takes the piece of each bit set in its length."""
    out = np.full(len(start), identity, dtype=values.dtype)
    length, cur = end - start, start.copy()
    level, width = values, 1
    while len(length) and width <= length.max():
        take = (length & width) != 0
        idx = cur[take]
        out[take] = ufunc(out[take], level[idx])
        cur[take] += width
        level = ufunc(level[:-width], level[width:]) if len(level) > width else level[:0]
        width *= 2
    return out


def _aggregate(call: AnalyticCall, arg: pa.Array | None, start: np.ndarray, end: np.ndarray) -> pa.Array:
    """COUNT(*), COUNT, SUM, AVG, MIN, MAX over each row's frame."""
    if call.func == "count_star":
        return _int64(end - start)
    valid = np.asarray(arg.is_valid(), bool)
    before = _valid_before(valid)
    count = before[end] - before[start]
    if call.func == "count":
        return _int64(count)
    empty = count == 0
    if call.func in ("min", "max"):
        rank, _, m = _dense_rank(arg)
        sentinel = m + 1 if call.func == "min" else 0
        codes = np.where(valid, rank, sentinel)
        best = _range_fold(codes, start, end, np.minimum if call.func == "min" else np.maximum, sentinel)
        rep = np.zeros(m + 2, np.int64)
        rep[codes[valid]] = np.flatnonzero(valid)       # a position holding each rank
        return _gather(arg, np.where(empty, -1, rep[best]))
    return _sum_avg(call, arg, valid, count, start, end)


def _sum_avg(call, arg: pa.Array, valid, count, start, end) -> pa.Array:
    """SUM (integers and booleans: BIGINT, exact; decimals: DECIMAL(38, s); floats: DOUBLE)
    and AVG (DOUBLE) of each frame; NULL for a frame without values."""
    dtype = T.from_arrow(arg.type)
    if not (dtype.is_numeric or dtype.is_null or (dtype.is_bool and call.func == "sum")):
        raise TypeMismatchError(f"{call.func.upper()} over a window needs numbers, got {dtype}: {call.sql}")
    data = arrow_to_col(arg, dtype).data          # NULLs read as 0
    empty = count == 0
    mask = empty if empty.any() else None
    if dtype.is_float or dtype.is_null:
        total = _range_fold(data.astype(np.float64), start, end, np.add, 0.0)
        if call.func == "avg":
            total = total / np.maximum(count, 1)
        return pa.array(total, pa.float64(), mask=mask)
    if dtype.kind == "uint64" and data.max(initial=0) >= 2**63:
        raise ArithmeticOverflowError(f"{call.sql}: a UBIGINT value does not fit in BIGINT")
    data = data.astype(np.int64)
    prefix = np.concatenate([[0], np.cumsum(data, dtype=np.int64)])   # wraps; differences do not
    total = prefix[end] - prefix[start]
    _check_overflow(data, start, end, call)
    scale = dtype.scale if dtype.is_decimal else 0
    if call.func == "avg":
        return pa.array(total / np.maximum(count, 1) / 10 ** scale, pa.float64(), mask=mask)
    if dtype.is_decimal:
        return col_to_arrow(Col(total, ~empty, T.decimal(38, scale)))
    return pa.array(total, pa.int64(), mask=mask)


def _check_overflow(values: np.ndarray, start, end, call: AnalyticCall) -> None:
    """Raise when an exact sum may not fit in 64 bits (checked in floating point, only
    when the values' magnitudes could add up that far)."""
    magnitude = np.abs(values.astype(np.float64))
    if magnitude.sum() < 2.0**62:
        return
    approx = _range_fold(values.astype(np.float64), start, end, np.add, 0.0)
    if np.abs(approx).max(initial=0) >= 2.0**63 * (1 - 1e-9):
        raise ArithmeticOverflowError(f"{call.sql}: a sum does not fit in 64 bits")
