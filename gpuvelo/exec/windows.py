"""Windows and event time: window assignment, the watermark, late rows, closing windows.

A window is one more GROUP BY key (DESIGN.md, the state model): its start is appended to
the query's keys, so a windowed query's :class:`GroupState` is keyed by (keys..., start).
Two pieces cooperate, so that the V1 processor and the V2 coordinator drive windows alike:

* :class:`EventClock` -- one per **job**: reads the event time of each row, owns the one
  watermark, and splits a :class:`~gpuvelo.exec.query.RowBatch` into its on-time rows and
  its late rows *before* routing (so every partition sees the same watermark);
* :class:`WindowedState` -- one per **partition**: wraps one GroupState, assigns windows to
  the rows it is given (after routing), and finalizes + evicts the windows the watermark
  has passed when :meth:`WindowedState.close` is called with the job's watermark.

Time. Event times are int64 *ticks* of the time column (its timestamp unit, or
milliseconds for an integer epoch-ms column); window durations are converted to ticks
once. NULL event times cannot be placed in a window: those rows are rejected.

Watermark. ``highest event time seen - allowed out-of-orderness`` (the job's
``max_out_of_orderness``, else the window's GRACE PERIOD, else 0). It is applied per row in
arrival order: row i is judged against the watermark made by rows 0..i-1, so which rows are
late does not depend on how the input is cut into batches.

Late rows. Tumbling/hopping: a (row, window) pair is late when the window's end is at or
before the row's watermark (the window has closed); late pairs are dropped, and a row is
*late* (counted in ``records_late``, written to the late sink) when all its windows are.
Session: a row is late when its time is behind its watermark -- the only rows that could
touch a session already closed. A session closes when the watermark reaches
``last event + gap``; so the sessions emitted equal those of the whole on-time input, sorted.

Closing. ``close(watermark)`` finalizes and evicts every window whose end is at or before
the watermark and returns its rows; at the end of a bounded input ``close_all()`` closes
the rest. Finalized tables carry ``window_start`` / ``window_end`` (timestamps of the time
column's type, TIMESTAMP(ms) for integer columns) in place of the internal window key.

Emit modes: EMIT FINAL emits each window's rows once, when it closes; EMIT CHANGES emits
the changed (key, window) rows after every batch and evicts silently at close. The
default is FINAL for every query (Velostream's rule for windowed queries; gpuvelo keeps
FINAL for unwindowed queries too, since ``gpuvelo.sql`` returns final results). Session
EMIT CHANGES does not retract a session that a later row merged into an earlier one.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..arrowcol import arrow_to_col, col_to_arrow
from ..backends.partials import agg_name, key_name
from ..backends.protocol import AggSlot, StateSpec
from ..columns import Col
from ..errors import DataError, GpuveloError, NotSupportedError, PlanError
from ..expr.core import to_host
from ..sql.plan import WindowSpec
from ..sql.windows import unit_ms
from .query import RowBatch

EVENT_TIME = "__event_time"      # RowBatch.extra: the row's event time in ticks (INT64 Col)
ROW_MARK = "__watermark"         # RowBatch.extra: the watermark the row is judged against
NO_MARK = np.iinfo(np.int64).min  # the watermark before any row was seen
_TICKS_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}


UNBOUNDED_MS = 2**62      # an out-of-orderness no stream reaches: windows close at the end


def duration_ms(value, what: str) -> int:
    """A job option duration in ms: milliseconds as a number, a ``datetime.timedelta``, or
    text such as ``1500`` (ms), ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``."""
    if isinstance(value, _dt.timedelta):
        return value // _dt.timedelta(milliseconds=1)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        try:
            if m is not None:
                return round(float(m.group(1)) * (unit_ms(m.group(2)) if m.group(2) else 1))
        except GpuveloError:
            pass
    raise GpuveloError(f"{what} must be a duration: a non-negative number of milliseconds, a "
                       f"datetime.timedelta or text like 500ms, 30s, 5m, 1h, 1d; not {value!r}")


def resolve_time_column(window: WindowSpec, event_time: str | None) -> WindowSpec:
    """The window spec with its time column settled: the query's, else the job's
    ``event_time``; raises PlanError when neither names one or they disagree."""
    if window.time_column is None:
        if event_time is None:
            raise PlanError(f"WINDOW {window.kind.upper()} has no time column: name it in the "
                            "clause (e.g. TUMBLING(ts, 1m)) or pass event_time= to the job "
                            "(--event-time COLUMN on the command line)")
        return replace(window, time_column=event_time)
    if event_time is not None and event_time.lower() != window.time_column.lower():
        raise PlanError(f"the WINDOW clause uses time column '{window.time_column}' but the "
                        f"job names event_time='{event_time}'")
    return window


def namespace(a):
    """The array module of ``a``: NumPy, or the device library that made it (CuPy), found
    without importing any GPU library here."""
    if isinstance(a, np.ndarray):
        return np
    return sys.modules[type(a).__module__.split(".")[0]]


def host(a) -> np.ndarray:
    """``a`` as a host NumPy array (a device array is copied, synchronously)."""
    return to_host(namespace(a), a)


def host_col(col: Col) -> Col:
    """``col`` with its data and validity on the host."""
    return Col(host(col.data), None if col.valid is None else host(col.valid), col.dtype, col.dictionary)


def take_rows(rb: RowBatch, index) -> RowBatch:
    """The rows of ``rb`` selected by a boolean mask or an integer index array."""
    keys = [k.take(index) for k in rb.keys]
    args = [None if a is None else a.take(index) for a in rb.args]
    extra = None if rb.extra is None else {n: c.take(index) for n, c in rb.extra.items()}
    positions = rb.positions[index]
    return RowBatch(keys, args, positions, rb.rows_in, int(positions.shape[0]), extra)


def _ticks(window: WindowSpec, dtype: T.DType, ms: int | None) -> int | None:
    """``ms`` milliseconds in ticks of ``dtype``; NotSupportedError if not a whole number."""
    if ms is None:
        return None
    unit = dtype.unit if dtype.kind == "timestamp" else "ms"
    per_ms = _TICKS_PER_MS[unit]
    if per_ms is None:
        if ms % 1000:
            raise NotSupportedError(f"WINDOW durations over the TIMESTAMP(s) column "
                                    f"'{window.time_column}' must be whole seconds, got {ms} ms")
        return ms // 1000
    return ms * per_ms


@dataclass(frozen=True)
class WindowShape:
    """A window spec in ticks of its time column, plus the Arrow type of its bounds."""

    kind: str
    size: int | None
    advance: int | None
    gap: int | None
    time_column: str
    time_dtype: T.DType
    bound_type: pa.DataType

    @classmethod
    def of(cls, window: WindowSpec, schema: dict[str, T.DType]) -> "WindowShape":
        """The shape of ``window`` (whose time column is settled) over ``schema``."""
        dtype = schema[window.time_column]
        bound = dtype if dtype.kind == "timestamp" else T.timestamp("ms")
        size = _ticks(window, dtype, window.size_ms)
        advance = _ticks(window, dtype, window.advance_ms or window.size_ms)
        return cls(window.kind, size, advance, _ticks(window, dtype, window.gap_ms),
                   window.time_column, dtype, T.to_arrow(bound))

    def bounds(self, start: np.ndarray, end: np.ndarray) -> dict[str, pa.Array]:
        """``window_start`` / ``window_end`` Arrow columns from tick arrays."""
        return {"window_start": pa.array(start, pa.int64()).cast(self.bound_type),
                "window_end": pa.array(end, pa.int64()).cast(self.bound_type)}


# ------------------------------------------------------------------------ the job's clock
class EventClock:
    """The job's event time and watermark (one for all partitions); see the module docstring."""

    def __init__(self, shape: WindowShape, out_of_orderness_ms: int):
        self.shape = shape
        per_ms = _TICKS_PER_MS[shape.time_dtype.unit if shape.time_dtype.kind == "timestamp" else "ms"]
        delay = out_of_orderness_ms // 1000 if per_ms is None else out_of_orderness_ms * per_ms
        self.delay = min(delay, 2**62)     # any larger is unbounded, and keeps int64 safe
        self.delay_ms = out_of_orderness_ms
        self.max_seen = NO_MARK

    @property
    def watermark(self) -> int:
        """The current watermark in ticks (NO_MARK before any row)."""
        return NO_MARK if self.max_seen == NO_MARK else max(self.max_seen - self.delay, NO_MARK + 1)

    def split(self, rb: RowBatch) -> tuple[RowBatch, np.ndarray, np.ndarray]:
        """Judge one batch's rows (arrival order) and advance the watermark. The rows may be
        on a device: the event times are judged on the host, and the on-time rows stay in
        the batch's namespace.

        Returns ``(on_time, late, null_time)``: the on-time rows, with their event time and
        per-row watermark added to ``extra`` (:data:`EVENT_TIME`, :data:`ROW_MARK`, in the
        batch's namespace), and the host arrival positions of the late rows and of the rows
        with a NULL event time."""
        col = rb.extra[self.shape.time_column]
        xp = namespace(col.data)
        t = host(col.data)
        valid = np.ones(t.shape[0], bool) if col.valid is None else host(col.valid)
        t = self.ticks(t, valid)
        seen = np.where(valid, t, NO_MARK)
        running = np.maximum.accumulate(seen) if seen.size else seen
        before = np.empty_like(running)
        before[:1] = self.max_seen
        np.maximum(running[:-1], self.max_seen, out=before[1:])
        marks = np.where(before == NO_MARK, NO_MARK,
                         np.maximum(before, NO_MARK + 1 + self.delay) - self.delay)
        if seen.size:
            self.max_seen = max(self.max_seen, int(running[-1]))
        late = valid & self.is_late(t, marks)
        keep = valid & ~late
        positions = host(rb.positions)
        if keep.all():
            out = RowBatch(rb.keys, rb.args, rb.positions, rb.rows_in, rb.rows_out, dict(rb.extra))
        else:
            out = take_rows(rb, xp.asarray(keep))
            t, marks = t[keep], marks[keep]
        out.extra[EVENT_TIME] = Col(xp.asarray(t), None, T.INT64)
        out.extra[ROW_MARK] = Col(xp.asarray(marks), None, T.INT64)
        return out, positions[late], positions[~valid]

    def ticks(self, t: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The event times as int64 ticks; DataError for a (valid) uint64 epoch-ms value
        beyond the int64 range, which would wrap around into a nonsense time."""
        if t.dtype == np.uint64:
            beyond = valid & (t > np.iinfo(np.int64).max)
            if beyond.any():
                raise DataError(f"window time column '{self.shape.time_column}': value "
                                f"{int(t[beyond][0])} (epoch milliseconds) is beyond the range of "
                                f"event times (at most 2**63 - 1)")
        return t.astype(np.int64, copy=False)

    def is_late(self, t: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """Rows whose every window had closed under their watermark (see the module docstring)."""
        s = self.shape
        if s.kind == "session":
            return t < marks
        last_start = np.floor_divide(t, s.advance) * s.advance
        return last_start + s.size <= marks


def event_clock(plan, out_of_orderness_ms: int | None) -> EventClock:
    """The job's clock for a windowed ``plan`` (time column settled): the allowed
    out-of-orderness is the job's option, else the window's GRACE PERIOD, else 0."""
    delay = out_of_orderness_ms if out_of_orderness_ms is not None else (plan.window.grace_ms or 0)
    return EventClock(WindowShape.of(plan.window, plan.schema), delay)


# ------------------------------------------------------------------------ one partition
class WindowedState:
    """One partition's windowed aggregation state: a GroupState keyed by (keys..., start)."""

    def __init__(self, backend, spec: StateSpec, shape: WindowShape):
        self.backend, self.shape = backend, shape
        self.nkeys = len(spec.key_dtypes)
        self.naggs = len(spec.aggs)
        extra_aggs = (AggSlot("max", T.INT64, T.INT64),) if shape.kind == "session" else ()
        self.state = backend.group_state(StateSpec(spec.key_dtypes + (T.INT64,),
                                                   spec.aggs + extra_aggs))
        self._op = _Sessions(self) if shape.kind == "session" else _Hopping(self)
        self.peak_groups = 0

    def update(self, rb: RowBatch) -> None:
        """Fold in on-time rows (as :meth:`EventClock.split` returned them, maybe routed)."""
        if rb.rows_out:
            self._op.update(rb)
            self.peak_groups = max(self.peak_groups, self.state.num_groups)

    def close(self, watermark: int) -> pa.Table | None:
        """Finalize and evict the windows the watermark has passed; their rows, or None."""
        return self._op.close(watermark)

    def close_all(self) -> pa.Table | None:
        """Finalize and evict every open window (the bounded input ended)."""
        return self._op.close(None)

    def changes(self) -> pa.Table | None:
        """Finalized rows of the windows changed since the last call (EMIT CHANGES), or None."""
        gids = self.state.changed()
        self.state.clear_changed()
        return self.finalize(gids) if gids.size else None

    def finalize(self, gids) -> pa.Table:
        """Finalized rows of ``gids`` with ``window_start``/``window_end`` in place of the
        internal window key (and, for sessions, of the hidden last-event aggregate)."""
        fin = self.state.finalize(gids)
        start = np.asarray(fin.column(key_name(self.nkeys)), dtype=np.int64)
        if self.shape.kind == "session":
            end = np.asarray(fin.column(agg_name(self.naggs)), dtype=np.int64) + self.shape.gap
            fin = fin.drop_columns([agg_name(self.naggs)])
        else:
            end = start + self.shape.size
        fin = fin.drop_columns([key_name(self.nkeys)])
        for name, arr in self.shape.bounds(start, end).items():
            fin = fin.append_column(name, arr)
        return fin

    def _close_gids(self, gids) -> pa.Table | None:
        if len(gids) == 0:
            return None
        fin = self.finalize(gids)
        self.state.evict(gids)
        return fin


class _Hopping:
    """Tumbling (advance = size) and hopping windows: rows expanded to (row, window) pairs."""

    def __init__(self, ws: WindowedState):
        self.ws = ws
        self.first_open: int | None = None    # the smallest start of an open window

    def update(self, rb: RowBatch) -> None:
        s = self.ws.shape
        xp = namespace(rb.extra[EVENT_TIME].data)
        t = host(rb.extra[EVENT_TIME].data)     # windows are assigned on the host
        last = np.floor_divide(t, s.advance) * s.advance
        if s.advance == s.size:
            starts, pairs = last, rb
        else:
            first = np.floor_divide(t - s.size, s.advance) * s.advance + s.advance
            count = (last - first) // s.advance + 1
            row = np.repeat(np.arange(t.shape[0]), count)
            step = np.arange(row.shape[0]) - np.repeat(np.cumsum(count) - count, count)
            starts = first[row] + step * s.advance
            on_time = starts + s.size > host(rb.extra[ROW_MARK].data)[row]
            row, starts = row[on_time], starts[on_time]
            pairs = take_rows(rb, xp.asarray(row))
        self.ws.state.update(pairs.keys + [Col(xp.asarray(starts), None, T.INT64)], pairs.args,
                             pairs.positions)
        if starts.size:
            low = int(starts.min())
            self.first_open = low if self.first_open is None else min(self.first_open, low)

    def close(self, watermark: int | None) -> pa.Table | None:
        size, state = self.ws.shape.size, self.ws.state
        if self.first_open is None or (watermark is not None and self.first_open + size > watermark):
            return None                          # no open window has ended: state untouched
        live = state.live_gids()
        if watermark is None:
            self.first_open = None
            return self.ws._close_gids(live)
        starts = np.asarray(state.keys(live).column(key_name(self.ws.nkeys)), dtype=np.int64)
        closing = starts + size <= watermark
        self.first_open = int(starts[~closing].min()) if not closing.all() else None
        return self.ws._close_gids(live[closing])


class _Sessions:
    """Session windows: per key, rows closer than the gap form one session.

    ``index`` (host Arrow table) lists the open sessions: ``h`` (key hash), k0.., ``start``
    and ``last`` (first and last event time). Each batch's rows are sorted together with
    the open sessions by (key, time); a new island starts where the key changes or the
    next time is at least ``gap`` after the running maximum of the island so far. Sessions
    whose island now starts earlier (a row before them, or a row bridging two sessions)
    are re-keyed: their partials move to the island's start and merge there.
    """

    def __init__(self, ws: WindowedState):
        self.ws = ws
        self.index: pa.Table | None = None

    def _key_arrays(self, keys: list[Col]) -> list[pa.Array]:
        out = []
        for col in keys:
            arr = col_to_arrow(col)
            if pa.types.is_dictionary(arr.type):
                arr = arr.cast(arr.type.value_type)
            if pa.types.is_floating(arr.type):      # -0.0 and 0.0 are one key
                arr = pc.if_else(pc.equal(arr, 0), pa.scalar(0.0, arr.type), arr)
            out.append(arr)
        return out

    def update(self, rb: RowBatch) -> None:
        ws, gap = self.ws, self.ws.shape.gap
        xp = namespace(rb.extra[EVENT_TIME].data)
        t = host(rb.extra[EVENT_TIME].data)     # sessions are found on the host
        n = t.shape[0]
        batch = {"h": pa.array(self.ws.backend.to_host(self.ws.backend.hash_keys(rb.keys))
                               if rb.keys else np.zeros(n, np.uint64))}
        for i, arr in enumerate(self._key_arrays([host_col(k) for k in rb.keys])):
            batch[key_name(i)] = arr
        batch.update(lo=pa.array(t), hi=pa.array(t), src=pa.array(np.arange(n, dtype=np.int64)))
        table = pa.table(batch)
        m = 0
        if self.index is not None and self.index.num_rows:
            m = self.index.num_rows
            old = self.index.rename_columns([*self.index.column_names[:-2], "lo", "hi"])
            old = old.append_column("src", pa.array(-1 - np.arange(m, dtype=np.int64)))
            table = pa.concat_tables([old, table.cast(old.schema)])
        knames = [key_name(i) for i in range(ws.nkeys)]
        order = pc.sort_indices(table, sort_keys=[("h", "ascending")] + [(k, "ascending") for k in knames]
                                + [("lo", "ascending")])
        table = table.take(order)
        lo = np.asarray(table.column("lo"), np.int64)
        hi = np.asarray(table.column("hi"), np.int64)
        src = np.asarray(table.column("src"), np.int64)
        seg_start = _run_starts([table.column("h")] + [table.column(k) for k in knames])
        reach = _segmented_cummax(hi, np.cumsum(seg_start))
        new_island = seg_start.copy()
        new_island[1:] |= lo[1:] - reach[:-1] >= gap
        island = np.cumsum(new_island) - 1
        heads = np.flatnonzero(new_island)
        first = lo[heads]                          # sorted by lo within a key: the island's start
        last = np.maximum.reduceat(hi, heads)
        # re-key open sessions whose island now starts earlier
        is_old = src < 0
        moved = np.flatnonzero(is_old & (lo != first[island]))
        if moved.size:
            self._rekey(table.take(pa.array(moved)), lo[moved], first[island[moved]], island[moved])
        # fold the batch's rows in at their island's start
        rows = np.flatnonzero(~is_old)
        row_start = np.empty(n, np.int64)
        row_start[src[rows]] = first[island[rows]]
        t_col = Col(xp.asarray(t), None, T.INT64)
        ws.state.update(rb.keys + [Col(xp.asarray(row_start), None, T.INT64)], rb.args + [t_col],
                        rb.positions)
        head_rows = table.take(pa.array(heads))
        self.index = pa.table({"h": head_rows.column("h"),
                               **{k: head_rows.column(k) for k in knames},
                               "start": pa.array(first), "last": pa.array(last)})

    def _rekey(self, rows: pa.Table, old_start, new_start, island) -> None:
        """Move the partials of open sessions ``rows`` from ``old_start`` to ``new_start``,
        merging sessions that land on the same key (one merge round per rank)."""
        state, k = self.ws.state, self.ws.nkeys
        gids = state.lookup(self._cols(rows, old_start))
        partials = state.partials(gids)
        partials = partials.set_column(k, key_name(k), pa.array(new_start, partials.schema.field(k).type))
        state.evict(gids)
        heads = np.r_[True, island[1:] != island[:-1]]
        rank = np.arange(island.size) - np.maximum.accumulate(np.where(heads, np.arange(island.size), 0))
        for r in range(int(rank.max()) + 1):
            state.merge(partials.filter(pa.array(rank == r)))

    def _cols(self, rows: pa.Table, starts) -> list[Col]:
        dtypes = self.ws.state.spec.key_dtypes
        cols = [arrow_to_col(rows.column(key_name(i)), dtypes[i]) for i in range(self.ws.nkeys)]
        return cols + [Col(np.asarray(starts, np.int64), None, T.INT64)]

    def close(self, watermark: int | None) -> pa.Table | None:
        if self.index is None or self.index.num_rows == 0:
            return None
        last = np.asarray(self.index.column("last"), np.int64)
        closing = np.ones(last.size, bool) if watermark is None else last + self.ws.shape.gap <= watermark
        if not closing.any():
            return None
        rows = self.index.filter(pa.array(closing))
        self.index = self.index.filter(pa.array(~closing))
        return self.ws._close_gids(self.ws.state.lookup(self._cols(rows, rows.column("start"))))


def _run_starts(columns: list) -> np.ndarray:
    """True where a row of the sorted ``columns`` differs from the row before (NULL equals
    NULL, NaN equals NaN); True for row 0."""
    n = len(columns[0])
    starts = np.zeros(n, bool)
    if n == 0:
        return starts
    starts[0] = True
    for col in columns:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        a, b = arr.slice(0, n - 1), arr.slice(1)
        same = pc.equal(a, b)
        if pa.types.is_floating(arr.type):
            same = pc.or_kleene(same, pc.and_(pc.is_nan(a), pc.is_nan(b)))
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        same = pc.or_kleene(pc.fill_null(same, False), both_null)
        starts[1:] |= ~np.asarray(same.to_numpy(zero_copy_only=False), bool)
    return starts


def _segmented_cummax(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` that restarts where ``segment`` (non-decreasing) grows."""
    if values.size == 0:
        return values
    rank = np.empty(values.size, np.int64)
    order = np.argsort(values, kind="stable")
    rank[order] = np.arange(values.size)
    combined = np.maximum.accumulate(segment.astype(np.int64) * values.size + rank)
    return values[order][combined % values.size]
