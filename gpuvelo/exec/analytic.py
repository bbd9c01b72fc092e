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

import datetime as _dt
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..arrowcol import arrow_to_col, col_to_arrow
from ..columns import Col
from ..errors import ArithmeticOverflowError, DataError, NotSupportedError, TypeMismatchError
from ..expr.cast import cast_col
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
    peer_id: np.ndarray       # 1, 2, ...: the peer group's number over all partitions
    part_id: np.ndarray       # 0, 1, ...: the partition's number


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
    return _Layout(perm, part_start, part_end, peer_start, peer_end, np.cumsum(new_peer),
                   np.cumsum(new_part) - 1)


# --------------------------------------------------------------------------- one call
def _compute(table: pa.Table, call: AnalyticCall, lay: _Layout) -> pa.Array:
    """The call's column, in the table's row order."""
    arg = _sorted(table, call.arg, lay)
    if call.func in _RANKING:
        out = _RANKING[call.func](lay, call.param)
    elif call.func in ("lag", "lead"):
        out = _lag_lead(call, lay, arg, _sorted(table, call.default, lay))
    else:
        pieces = _pieces(call, lay, _frame(call, lay, table))
        if call.func in ("first_value", "last_value", "nth_value"):
            out = _gather(arg, _frame_value(call, pieces, np.asarray(arg.is_valid(), bool)))
        else:
            out = _aggregate(call, arg, _sorted(table, call.default, lay), pieces)
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
def _frame(call: AnalyticCall, lay: _Layout, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each sorted position's frame, before EXCLUDE (empty: end == start)."""
    frame, part = call.frame, (lay.part_start, lay.part_end)
    if frame.unit == "rows":
        pos = _positions(lay)
        start = lay.part_start if frame.start is None else np.clip(pos + frame.start, *part)
        end = lay.part_end if frame.end is None else np.clip(pos + frame.end + 1, *part)
    elif frame.unit == "groups":
        start, end = (_groups_bound(lay, v, first) for v, first in ((frame.start, True), (frame.end, False)))
    else:
        keys = _RangeKeys(table, call, lay) if any(
            not _is_current_row(v) for v in (frame.start, frame.end) if v is not None) else None
        start, end = (_range_bound(lay, keys, v, first) for v, first in ((frame.start, True), (frame.end, False)))
    return start, np.maximum(end, start)


def _is_current_row(v) -> bool:
    return isinstance(v, int) and v == 0


def _groups_bound(lay: _Layout, offset: int | None, first: bool) -> np.ndarray:
    """A GROUPS frame bound: the start (``first``) or the end of the peer group ``offset``
    groups away, clipped to the partition."""
    if offset is None:
        return lay.part_start if first else lay.part_end
    n = len(lay.perm)
    if n == 0:
        return np.zeros(0, np.int64)
    group = lay.peer_id - 1
    starts = np.empty(group[-1] + 2, np.int64)
    starts[group] = lay.peer_start
    starts[-1] = n
    target = group + offset
    lo, hi = group[lay.part_start], group[lay.part_end - 1]
    inside = starts[np.clip(target, lo, hi) + (0 if first else 1)]
    return np.where(target < lo, lay.part_start, np.where(target > hi, lay.part_end, inside))


def _range_bound(lay: _Layout, keys, offset, first: bool) -> np.ndarray:
    """A RANGE frame bound: the partition's edge (UNBOUNDED), the row's peers' (CURRENT
    ROW, and any offset of a row whose ORDER BY value is NULL or NaN, as in DuckDB), else
    the first row (``first``) / past the last row whose value is within the offset."""
    if offset is None:
        return lay.part_start if first else lay.part_end
    peer = lay.peer_start if first else lay.peer_end
    if _is_current_row(offset):
        return peer
    return np.where(keys.searchable, keys.bound(offset, first), peer)


_TICKS_PER_US = {"s": Fraction(1, 10**6), "ms": Fraction(1, 1000), "us": Fraction(1), "ns": Fraction(1000)}
_US_PER_DAY = 86_400_000_000


class _RangeKeys:
    """The ORDER BY values of a RANGE frame with offsets, in sorted order, searchable per
    partition: ``w`` is the value made ascending (DESC: ``~x`` for integers, ``-x`` for
    floats), so a PRECEDING offset always looks at smaller ``w``. The rows whose value is
    not NULL (nor NaN) are contiguous in each partition; ``comp`` numbers them by
    (partition, rank of ``w``), so one ``np.searchsorted`` finds every row's bound."""

    def __init__(self, table: pa.Table, call: AnalyticCall, lay: _Layout):
        order = call.order_by[0]
        arr = _flat(table.column(order.column)).take(pa.array(lay.perm))
        self.dtype, self.call, self.lay = T.from_arrow(arr.type), call, lay
        dtype = self.dtype
        if not (dtype.is_numeric or dtype.kind in ("date", "timestamp", "interval")):
            raise TypeMismatchError(f"a RANGE frame with an offset needs a number, DATE, TIMESTAMP "
                                    f"or INTERVAL to order by, got {dtype}: {call.sql}")
        data = np.asarray(arrow_to_col(arr, dtype).data)
        valid = np.asarray(arr.is_valid(), bool)
        if dtype.is_float:
            self.searchable = valid & ~np.isnan(data)
            self.w = (-data if order.descending else data) + data.dtype.type(0)   # -0.0 is 0.0
        else:
            if dtype.kind == "uint64" and data.max(initial=0) >= 2**63:
                raise NotSupportedError(f"RANGE offsets over UBIGINT values above 2**63 are not "
                                        f"supported: {call.sql}")
            data = data.astype(np.int64)
            self.searchable = valid
            self.w = ~data if order.descending else data
        rows = np.flatnonzero(self.searchable)
        self.rows = rows
        values = np.sort(self.w[rows])          # (np.unique hashes: slower)
        self.values = values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values
        self.width = len(self.values) + 1
        self.comp = lay.part_id[rows] * self.width + np.searchsorted(self.values, self.w[rows])
        # per row: where its partition's searchable rows end in ``rows``
        self.stop = np.searchsorted(self.comp, (lay.part_id + 1) * self.width)

    def units(self, offset):
        """The offset in the ORDER BY value's units: an exact Fraction (a float for float
        values: DuckDB adds it in the value's type); TypeMismatchError where DuckDB has no
        ``x + offset``."""
        dtype, interval = self.dtype, isinstance(offset, _dt.timedelta)
        if interval:
            if dtype.kind not in ("date", "timestamp", "interval"):
                raise TypeMismatchError(f"an INTERVAL offset needs a DATE, TIMESTAMP or INTERVAL to "
                                        f"order by, got {dtype}: {self.call.sql}")
            micros = Fraction(offset // _dt.timedelta(microseconds=1))
            return micros / _US_PER_DAY if dtype.kind == "date" else \
                micros * _TICKS_PER_US[dtype.unit] if dtype.kind == "timestamp" else micros
        if dtype.kind in ("timestamp", "interval") or (dtype.kind == "date" and not isinstance(offset, int)):
            raise TypeMismatchError(f"a RANGE offset over a {dtype} must be "
                                    f"{'an integer (days) or ' if dtype.kind == 'date' else ''}"
                                    f"an INTERVAL: {self.call.sql}")
        if dtype.is_float:
            return self.w.dtype.type(offset)
        value = Fraction(offset)
        return value * 10**dtype.scale if dtype.is_decimal else value

    def bound(self, offset, first: bool) -> np.ndarray:
        """Per row: the first position whose value is >= value + offset (``first``), or past
        the last one <= value + offset, within the row's partition (rows that are not
        searchable get garbage, replaced by the caller)."""
        step = self.units(offset)
        side = "left" if first else "right"
        if isinstance(step, Fraction):           # integers: round the offset inwards
            step = math.ceil(step) if first else math.floor(step)
            w = self.w if abs(step) < 2**62 and np.abs(self.w).max(initial=0) < 2**62 else \
                self.w.astype(object)             # no wrap-around far from zero
            rank = np.searchsorted(self.values.astype(w.dtype), w + step, side).astype(np.int64)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                rank = np.searchsorted(self.values, self.w + step, side)
        at = np.searchsorted(self.comp, self.lay.part_id * self.width + rank)
        if not len(self.rows):
            return np.zeros(len(at), np.int64)
        past = self.rows[np.clip(self.stop - 1, 0, None)] + 1
        return np.where(at < self.stop, self.rows[np.minimum(at, len(self.rows) - 1)], past)


def _pieces(call: AnalyticCall, lay: _Layout, frame) -> list[tuple[np.ndarray, np.ndarray]]:
    """The frame as ordered, disjoint ranges ``[start, end)``: one, or up to three once
    EXCLUDE takes out the current row, its peers, or its peers but itself."""
    start, end = frame
    exclude = call.frame.exclude
    if exclude is None:
        return [frame]
    pos = _positions(lay)
    if exclude == "ties":
        cuts = [(start, np.minimum(end, lay.peer_start)), (np.maximum(start, pos), np.minimum(end, pos + 1)),
                (np.maximum(start, lay.peer_end), end)]
    else:
        lo, hi = (pos, pos + 1) if exclude == "current row" else (lay.peer_start, lay.peer_end)
        cuts = [(start, np.minimum(end, lo)), (np.maximum(start, hi), end)]
    return [(s, np.maximum(e, s)) for s, e in cuts]


def _frame_value(call: AnalyticCall, pieces, valid: np.ndarray) -> np.ndarray:
    """The source position of FIRST_VALUE / LAST_VALUE / NTH_VALUE, -1 for NULL: the
    n-th (non-NULL, with IGNORE NULLS) row counted through the frame's pieces."""
    n = len(valid)
    if call.func == "nth_value" and (call.param is None or call.param < 1):
        return np.full(n, -1)
    vpos, before = np.flatnonzero(valid), _valid_before(valid)
    last = call.func == "last_value"
    need = np.full(n, 1 if call.func != "nth_value" else call.param, np.int64)
    src = np.full(n, -1, np.int64)
    for start, end in (pieces[::-1] if last else pieces):
        count = before[end] - before[start] if call.ignore_nulls else end - start
        hit = (src < 0) & (need <= count)
        if call.ignore_nulls:
            at = _pick(vpos, before[end] - need if last else before[start] + need - 1, hit)
        else:
            at = np.where(hit, end - need if last else start + need - 1, -1)
        src = np.where(hit, at, src)
        need = np.where(src < 0, need - count, need)
    return src


def _range_fold(values, start: np.ndarray, end: np.ndarray, combine, identity):
    """``combine``-fold of ``values[start[i]:end[i]]`` for every i, in order (``identity``
    for an empty range), from power-of-two pieces: level k holds the fold of every 2**k
    consecutive values, and each range takes the piece of each bit set in its length.
    ``values`` may be a tuple of arrays folded together (``combine`` then takes and returns
    tuples, ``identity`` is a tuple)."""
    many = isinstance(values, tuple)
    level = values if many else (values,)
    both = combine if many else (lambda a, b: (combine(a[0], b[0]),))
    out = tuple(np.full(len(start), i, dtype=v.dtype) for i, v in zip(identity if many else (identity,), level))
    length, cur, width = end - start, start.copy(), 1
    while len(length) and width <= length.max():
        take = (length & width) != 0
        idx = cur[take]
        for o, got in zip(out, both(tuple(o[take] for o in out), tuple(v[idx] for v in level))):
            o[take] = got
        cur[take] += width
        level = both(tuple(v[:-width] for v in level), tuple(v[width:] for v in level)) \
            if len(level[0]) > width else tuple(v[:0] for v in level)
        width *= 2
    return out if many else out[0]


def _fold(values, pieces, combine, identity):
    """:func:`_range_fold` over every piece of the frames, the pieces combined in order."""
    out = None
    for start, end in pieces:
        got = _range_fold(values, start, end, combine, identity)
        out = got if out is None else combine(out, got)
    return out


def _span(pieces, prefix: np.ndarray) -> np.ndarray:
    """The sum over the pieces of ``prefix[end] - prefix[start]`` (a prefix sum's span)."""
    return sum(prefix[end] - prefix[start] for start, end in pieces)


def _one_range(call: AnalyticCall, pieces):
    start, end = pieces[0]
    assert len(pieces) == 1, f"{call.func} takes one range"
    return start, end


def _aggregate(call: AnalyticCall, arg: pa.Array | None, by: pa.Array | None, pieces) -> pa.Array:
    """COUNT(*) and the aggregates of ``arg`` over each row's frame (its pieces)."""
    if call.func == "count_star":
        return _int64(sum(end - start for start, end in pieces))
    valid = np.asarray(arg.is_valid(), bool)
    if by is not None:
        valid &= np.asarray(by.is_valid(), bool)
    count = _span(pieces, _valid_before(valid))
    if call.func == "count":
        return _int64(count)
    if call.func in ("min", "max"):
        return _min_max(call, arg, valid, count, pieces)
    if call.func in ("arg_max", "arg_min"):
        return _arg_best(call, arg, by, valid, count, pieces)
    if call.func in _MOMENTS:
        return _moments(call, arg, valid, count, pieces)
    if call.func == "count_distinct":
        return _count_distinct(arg, valid, *_one_range(call, pieces))
    if call.func in ("quantile_cont", "quantile_disc"):
        return _quantile(call, arg, valid, count, *_one_range(call, pieces))
    if call.func == "string_agg":
        return _string_agg(call, arg, valid, count, *_one_range(call, pieces))
    return _sum_avg(call, arg, valid, count, pieces)


def _min_max(call: AnalyticCall, arg: pa.Array, valid, count, pieces) -> pa.Array:
    """MIN / MAX (and BOOL_AND / BOOL_OR, rewritten to them): folded over dense ranks, so
    every orderable type works."""
    low = call.func == "min"
    rank, _, m = _dense_rank(arg)
    sentinel = m + 1 if low else 0
    codes = np.where(valid, rank, sentinel)
    best = _fold(codes, pieces, np.minimum if low else np.maximum, sentinel)
    rep = np.zeros(m + 2, np.int64)
    rep[codes[valid]] = np.flatnonzero(valid)       # a position holding each rank
    return _gather(arg, np.where(count == 0, -1, rep[best]))


def _arg_best(call: AnalyticCall, arg: pa.Array, by: pa.Array, valid, count, pieces) -> pa.Array:
    """ARG_MAX / ARG_MIN: ``arg`` of the row with the largest / smallest ``by`` (rows with
    a NULL in either skipped; ties: the first in the frame)."""
    n = len(valid)
    rank, _, m = _dense_rank(by)
    pos = np.arange(n, dtype=np.int64)
    if call.func == "arg_max":
        key = np.where(valid, rank * n + (n - 1 - pos), -1)
        best = _fold(key, pieces, np.maximum, -1)
        src = n - 1 - best % max(n, 1)
    else:
        key = np.where(valid, rank * n + pos, (m + 2) * n)
        src = _fold(key, pieces, np.minimum, (m + 2) * n) % max(n, 1)
    return _gather(arg, np.where(count == 0, -1, src))


_MOMENTS = ("stddev_samp", "stddev_pop", "var_samp", "var_pop")


def _merge_moments(a, b):
    """(count, mean, M2) of two runs of values merged (Chan et al.)."""
    (na, ma, qa), (nb, mb, qb) = a, b
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        delta = mb - ma
        mean = np.where(nb == 0, ma, np.where(na == 0, mb, ma + delta * (nb / np.maximum(n, 1))))
        m2 = qa + qb + np.where((na == 0) | (nb == 0), 0.0, delta * delta * (na * nb / np.maximum(n, 1)))
    return n, mean, m2


def _moments(call: AnalyticCall, arg: pa.Array, valid, count, pieces) -> pa.Array:
    """STDDEV_SAMP / STDDEV_POP / VAR_SAMP / VAR_POP (DOUBLE) of each frame, from the
    merged (count, mean, M2) of its power-of-two pieces; NaN once a frame holds an
    infinity or a NaN (as DuckDB's running update gives)."""
    x = _doubles(call, arg)
    finite = np.isfinite(x) | ~valid
    leaf = (valid.astype(np.float64), np.where(valid & finite, x, 0.0), np.zeros(len(x)))
    _, _, m2 = _fold(leaf, pieces, _merge_moments, (0.0, 0.0, 0.0))
    bad = _span(pieces, _valid_before(~finite)) > 0
    sample = call.func.endswith("_samp")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = m2 / np.maximum(count - 1 if sample else count, 1)
        out = np.where(bad, np.nan, np.maximum(out, 0.0))
        if call.func.startswith("stddev"):
            out = np.sqrt(out)
    empty = count <= (1 if sample else 0)
    return pa.array(out, pa.float64(), mask=empty if empty.any() else None)


def _doubles(call: AnalyticCall, arg: pa.Array) -> np.ndarray:
    """A numeric argument as float64 (decimals unscaled; NULLs as 0)."""
    dtype = T.from_arrow(arg.type)
    if not (dtype.is_numeric or dtype.is_null):
        raise TypeMismatchError(f"{call.func.upper()} over a window needs numbers, got {dtype}: {call.sql}")
    data = np.asarray(arrow_to_col(arg, dtype).data).astype(np.float64)
    return data / 10**dtype.scale if dtype.is_decimal else data


class _Wavelet:
    """A wavelet matrix over small non-negative integers: for many ranges ``[s, e)`` at
    once, the k-th smallest value and how many values are below a bound, in one vectorised
    step per bit (O(n log n) in all)."""

    def __init__(self, values: np.ndarray, top: int):
        self.bits = max(int(top).bit_length(), 1)
        self.zeros = []               # per level, top bit first: prefix counts of zero bits
        cur = values
        for level in reversed(range(self.bits)):
            one = (cur >> level) & 1 == 1
            self.zeros.append(np.concatenate([[0], np.cumsum(~one)]))
            cur = np.concatenate([cur[~one], cur[one]])

    def _levels(self):
        return zip(reversed(range(self.bits)), self.zeros)

    def count_less(self, s: np.ndarray, e: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """How many values of each ``[s, e)`` are below ``bound`` (< 2**bits)."""
        out = np.zeros(len(s), np.int64)
        for level, z in self._levels():
            zs, ze = z[s], z[e]
            one = (bound >> level) & 1 == 1
            out += np.where(one, ze - zs, 0)
            s, e = np.where(one, z[-1] + s - zs, zs), np.where(one, z[-1] + e - ze, ze)
        return out

    def kth(self, s: np.ndarray, e: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The k-th smallest value (from 0) of each ``[s, e)``; k must be below e - s."""
        out = np.zeros(len(s), np.int64)
        for level, z in self._levels():
            zs, ze = z[s], z[e]
            one = k >= ze - zs
            k = np.where(one, k - (ze - zs), k)
            s, e = np.where(one, z[-1] + s - zs, zs), np.where(one, z[-1] + e - ze, ze)
            out |= one.astype(np.int64) << level
        return out


def _count_distinct(arg: pa.Array, valid, start, end) -> pa.Array:
    """COUNT(DISTINCT x): the rows of the frame whose previous equal value (in the
    partition, which holds every frame) lies before the frame."""
    n = len(valid)
    rank, _, _ = _dense_rank(arg)
    pos = np.arange(n, dtype=np.int64)
    order = np.lexsort([pos, rank, ~valid])
    same = np.zeros(n, bool)
    same[1:] = (rank[order][1:] == rank[order][:-1]) & valid[order][1:]
    prev = np.zeros(n, np.int64)           # previous equal value's position + 1; 0: none
    prev[order[1:]] = np.where(same[1:], order[:-1] + 1, 0)
    prev = np.where(valid, prev, n + 1)
    return _int64(_Wavelet(prev, n + 1).count_less(start, end, start + 1) if n else prev)


def _quantile(call: AnalyticCall, arg: pa.Array, valid, count, start, end) -> pa.Array:
    """QUANTILE_DISC / QUANTILE_CONT (MEDIAN) of each frame, picking order statistics with
    a wavelet matrix over the values' dense ranks; the rules are DuckDB's (as in
    :mod:`gpuvelo.backends.quantiles`): DISC takes the value at ``ceil(n q) - 1``; CONT
    interpolates between ``floor(r)`` and ``ceil(r)``, r = (n - 1) q (a DECIMAL of more
    than 18 digits -- a window over SUM(x) -- rounds down, as DuckDB's HUGEINT decimals)."""
    dtype = T.from_arrow(arg.type)
    if not (dtype.is_numeric or dtype.is_temporal or dtype.is_string or dtype.is_bool or dtype.is_interval):
        raise TypeMismatchError(f"{call.func.upper()} needs numbers, times or strings, got {dtype}: {call.sql}")
    n, q = len(valid), call.param
    rank, _, m = _dense_rank(arg)
    codes = np.where(valid, rank, m + 1)
    rep = np.zeros(m + 2, np.int64)
    rep[codes[valid]] = np.flatnonzero(valid)
    wavelet = _Wavelet(codes, m + 1) if n else None
    empty = count == 0
    last = np.maximum(count - 1, 0)

    s, e = np.where(empty, 0, start), np.where(empty, 1, end)

    def value_at(k):                        # the position of the k-th smallest value
        return np.where(empty, -1, rep[wavelet.kth(s, e, k)]) if n else np.zeros(0, np.int64)
    if call.func == "quantile_disc":
        at = np.maximum(1, -((-count * q.numerator) // q.denominator)) - 1
        return _gather(arg, value_at(np.minimum(at, last)))
    r = last * float(q)
    lo_k, hi_k = np.floor(r).astype(np.int64), np.ceil(r).astype(np.int64)
    lo, hi = _gather(arg, value_at(lo_k)), _gather(arg, value_at(hi_k))
    if not (dtype.is_numeric or dtype.is_temporal or dtype.is_interval):
        return lo
    d = r - lo_k
    if dtype.is_decimal or dtype.is_temporal or dtype.is_interval:
        a, b = (np.asarray(arrow_to_col(v, dtype).data).astype(np.int64) for v in (lo, hi))
        out = T.timestamp("us") if dtype.kind == "date" else dtype
        if dtype.kind == "date":
            a, b = a * _US_PER_DAY, b * _US_PER_DAY
        elif dtype.kind == "timestamp" and dtype.unit != "us" and not call.median:
            out = T.timestamp("us", dtype.tz)   # QUANTILE_CONT (not MEDIAN) gives microseconds
            a, b = (cast_col(np, Col(x, None, dtype), out).data for x in (a, b))
        with np.errstate(invalid="ignore", over="ignore"):
            step = (b - a).astype(np.float64) * d
            # decimals: DuckDB truncates toward zero, or floors those held as HUGEINT (precision > 18)
            v = (np.floor if dtype.precision > 18 else np.trunc)(a + step).astype(np.int64) \
                if dtype.is_decimal else a + (np.sign(step) * np.floor(np.abs(step) + 0.5)).astype(np.int64)
        return col_to_arrow(Col(v, ~empty, out))
    a, b = (np.asarray(pc.cast(v, pa.float64()).fill_null(0)) for v in (lo, hi))
    with np.errstate(invalid="ignore", over="ignore"):
        v = np.where(lo_k == hi_k, a, a * (1.0 - d) + b * d)
    kind = pa.float32() if pa.types.is_float32(arg.type) else pa.float64()
    return pa.array(v, pa.float64(), mask=empty if empty.any() else None).cast(kind)


_STRING_AGG_LIMIT = 50_000_000


def _string_agg(call: AnalyticCall, arg: pa.Array, valid, count, start, end) -> pa.Array:
    """STRING_AGG: each frame's non-NULL strings joined in frame order (NULL for none)."""
    if not (pa.types.is_string(arg.type) or pa.types.is_large_string(arg.type) or pa.types.is_null(arg.type)):
        raise TypeMismatchError(f"STRING_AGG needs strings, got {T.from_arrow(arg.type)} (cast it to "
                                f"VARCHAR): {call.sql}")
    total = int(count.sum())
    if total > _STRING_AGG_LIMIT:
        raise NotSupportedError(f"STRING_AGG over these frames would join {total} strings (more than "
                                f"{_STRING_AGG_LIMIT}): {call.sql}")
    before, vpos = _valid_before(valid), np.flatnonzero(valid)
    offsets = np.concatenate([[0], np.cumsum(count)])
    first = np.repeat(before[start] - offsets[:-1], count)
    values = arg.cast(pa.string()).take(pa.array(vpos[first + np.arange(total)] if total else
                                                 np.zeros(0, np.int64)))
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    joined = pc.binary_join(lists, call.param)
    return pc.if_else(pa.array(count > 0), joined, pa.scalar(None, pa.string()))


def _sum_avg(call, arg: pa.Array, valid, count, pieces) -> pa.Array:
    """SUM (integers and booleans: BIGINT, exact; decimals: DECIMAL(38, s); floats: DOUBLE)
    and AVG (DOUBLE) of each frame; NULL for a frame without values."""
    dtype = T.from_arrow(arg.type)
    if not (dtype.is_numeric or dtype.is_null or (dtype.is_bool and call.func == "sum")):
        raise TypeMismatchError(f"{call.func.upper()} over a window needs numbers, got {dtype}: {call.sql}")
    data = arrow_to_col(arg, dtype).data          # NULLs read as 0
    empty = count == 0
    mask = empty if empty.any() else None
    if dtype.is_float or dtype.is_null:
        total = _fold(data.astype(np.float64), pieces, np.add, 0.0)
        if call.func == "avg":
            total = total / np.maximum(count, 1)
        return pa.array(total, pa.float64(), mask=mask)
    if dtype.kind == "uint64" and data.max(initial=0) >= 2**63:
        raise ArithmeticOverflowError(f"{call.sql}: a UBIGINT value does not fit in BIGINT")
    data = data.astype(np.int64)
    prefix = np.concatenate([[0], np.cumsum(data, dtype=np.int64)])   # wraps; differences do not
    total = _span(pieces, prefix)
    _check_overflow(data, pieces, call)
    scale = dtype.scale if dtype.is_decimal else 0
    if call.func == "avg":
        return pa.array(total / np.maximum(count, 1) / 10 ** scale, pa.float64(), mask=mask)
    if dtype.is_decimal:
        return col_to_arrow(Col(total, ~empty, T.decimal(38, scale)))
    return pa.array(total, pa.int64(), mask=mask)


def _check_overflow(values: np.ndarray, pieces, call: AnalyticCall) -> None:
    """Raise when an exact sum may not fit in 64 bits (checked in floating point, only
    when the values' magnitudes could add up that far)."""
    magnitude = np.abs(values.astype(np.float64))
    if magnitude.sum() < 2.0**62:
        return
    approx = _fold(values.astype(np.float64), pieces, np.add, 0.0)
    if np.abs(approx).max(initial=0) >= 2.0**63 * (1 - 1e-9):
        raise ArithmeticOverflowError(f"{call.sql}: a sum does not fit in 64 bits")
