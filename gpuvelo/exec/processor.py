"""The single-partition processor (V1): read, row stage, fold into one GroupState, emit.

Sources and sinks are duck-typed (``gpuvelo.io`` implements them): a source has ``name``,
``batches()`` and ``close()``; a sink has ``write(table)``, ``close()`` and ``set_schema()``.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

from .. import types as T
from ..errors import GpuveloError, JobError, SinkError, SourceError
from .query import CompiledQuery
from .stats import JobStats
from .windows import WindowedState, event_clock


@dataclass
class RunOptions:
    """Knobs of a run that are not part of the query."""

    emit: str = "final"                      # 'final' or 'changes'
    error_policy: str = "fail"               # 'fail' or 'skip'
    dead_letter: object | None = None        # a sink for rejected batches (with a reason)
    on_progress: Callable[[], None] | None = None
    out_of_orderness_ms: int | None = None   # windows: None = the GRACE PERIOD, else 0
    late_sink: object | None = None          # windows: a sink for late rows (with a reason)
    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)


def output_schema(cq: CompiledQuery) -> pa.Schema:
    """The Arrow schema of the query's result rows."""
    return pa.schema([pa.field(o.name, T.to_arrow(o.expr.dtype)) for o in cq.plan.outputs])


def with_context(err: Exception, context: str) -> Exception:
    """The same gpuvelo error with ``context`` (partition/source/batch) prefixed, or a
    JobError wrapping a foreign exception."""
    if isinstance(err, GpuveloError):
        msg = str(err)
        if context in msg:
            return err
        new = type(err).__new__(type(err))
        new.__dict__.update(err.__dict__)
        new.args = (f"{context}: {msg}",)
        return new
    return JobError(f"{context}: {type(err).__name__}: {err}")


SET_ASIDE_REASON = "_gpuvelo_error"      # the reason column of dead-letter and late rows


def dead_letter_table(batch: pa.RecordBatch, reason: str) -> pa.Table:
    """A rejected batch with its reason, as written to a dead-letter sink."""
    t = pa.Table.from_batches([batch])
    return t.append_column(SET_ASIDE_REASON, pa.array([reason] * batch.num_rows, pa.string()))


def set_aside(opts: RunOptions, stats: JobStats, clock, batch: pa.RecordBatch, position: int,
              late, null_time) -> None:
    """Count (and write, where a sink is given) late rows and rows without event time."""
    if null_time.size:
        stats.reject("NullEventTime", int(null_time.size))
        if opts.dead_letter is not None:
            opts.dead_letter.write(dead_letter_table(
                batch.take(pa.array(null_time - position)),
                f"NULL event time in column '{clock.shape.time_column}'"))
    if late.size and opts.late_sink is not None:
        opts.late_sink.write(dead_letter_table(
            batch.take(pa.array(late - position)),
            f"late: the row's window had closed (event time behind the watermark, "
            f"'{clock.shape.time_column}' allowing {clock.delay_ms} ms of disorder)"))


def emit_windows(ws, cq: CompiledQuery, emit: str, watermark: int | None, write, hold) -> None:
    """Windows of one GroupState: under EMIT CHANGES ``write`` the changed windows' rows; then
    close the windows ``watermark`` has passed (all when None) and, under EMIT FINAL, ``write``
    their rows -- or ``hold`` them when ORDER BY/LIMIT must see every window first."""
    if emit == "changes":
        changed = ws.changes()
        if changed is not None:
            write(cq.changes(changed))
    closed = ws.close(watermark) if watermark is not None else ws.close_all()
    if closed is None or emit != "final":
        return
    rows = cq.results(closed)
    plan = cq.plan
    (hold if plan.order_by or plan.limit is not None or plan.offset or plan.limit_percent is not None
     else write)(rows)


class Emitter:
    """Writes result tables to the sink and counts them."""

    def __init__(self, sink, schema: pa.Schema, stats: JobStats):
        self.sink, self.schema, self.stats = sink, schema, stats
        if hasattr(sink, "set_schema"):
            sink.set_schema(schema)

    def write(self, table: pa.Table) -> None:
        """Write ``table`` (hidden ORDER BY columns dropped, cast to the output schema)."""
        hidden = [n for n in table.column_names if n.startswith("__order")]
        if hidden:
            table = table.drop_columns(hidden)
        if table.num_rows == 0:
            return
        table = table.rename_columns(self.schema.names)
        if not table.schema.equals(self.schema):
            table = table.cast(self.schema)
        t0 = time.perf_counter()
        try:
            self.sink.write(table)
        except GpuveloError:
            raise
        except Exception as e:   # noqa: BLE001 -- a sink's own failure, reported as ours
            raise SinkError(f"sink {type(self.sink).__name__} failed: {type(e).__name__}: {e}") from e
        self.stats.add(records_emitted=table.num_rows, emits=1,
                       time_writing_s=time.perf_counter() - t0)


_END = object()


def read_ahead(items, depth: int = 2):
    """The items of the iterator ``items``, produced on a thread of their own up to ``depth``
    ahead of the consumer, so that reading the next batch (Arrow parses, decompresses and
    joins without the GIL) overlaps aggregating this one. The producer's exception is raised
    here, in order; when the consumer stops early, the producer stops and closes ``items``."""
    box: queue.Queue = queue.Queue(depth)
    quit_ = threading.Event()

    def put(entry) -> bool:
        while not quit_.is_set():
            try:
                box.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer as is
            put((_END, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="gpuvelo-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = box.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        quit_.set()
        worker.join()


def read_batches(source, stats: JobStats, opts: RunOptions, *, with_partition: bool = False):
    """``(position, batch, source partition)`` from ``source`` until it ends or the job stops;
    counts reads and time, and reports a source's own failure as SourceError naming it."""
    position = 0
    it = iter(source.batches_with_partition() if with_partition else source.batches())
    if getattr(source, "read_ahead", False):
        it = read_ahead(it)
    while not (opts.stop.is_set() or opts.abort.is_set()):
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            break
        except GpuveloError:
            raise
        except Exception as e:  # noqa: BLE001
            raise SourceError(f"source '{source.name}' failed after {stats.batches_read} batches: "
                              f"{type(e).__name__}: {e}") from e
        part, batch = item if with_partition else (0, item)
        if isinstance(batch, pa.Table):
            batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else None
            if batch is None:
                continue
        stats.add(records_read=batch.num_rows, batches_read=1,
                  time_reading_s=time.perf_counter() - t0)
        yield position, batch, part
        position += batch.num_rows
        if opts.on_progress is not None:
            opts.on_progress()


class SingleProcessor:
    """V1: every row of the query in one GroupState, on the calling thread."""

    def __init__(self, cq: CompiledQuery, source, sink, stats: JobStats, opts: RunOptions):
        self.cq, self.source, self.stats, self.opts = cq, source, stats, opts
        self.emitter = Emitter(sink, output_schema(cq), stats)
        self.windowed = self.clock = None
        if cq.plan.window is not None:
            self.clock = event_clock(cq.plan, opts.out_of_orderness_ms)
            self.windowed = WindowedState(cq.backend, cq.spec, self.clock.shape)
            self.state = self.windowed.state
        else:
            self.state = cq.backend.group_state(cq.spec) if cq.plan.is_aggregate else None
        self._stateless_rows: list[pa.Table] = []
        self._stateless_count = 0
        self._held: list[pa.Table] = []    # windowed EMIT FINAL with ORDER BY/LIMIT: held to the end

    def _context(self, batch_no: int, position: int, rows: int) -> str:
        return (f"source '{self.source.name}', batch {batch_no} "
                f"(rows {position}..{position + rows - 1})")

    def process(self, position: int, batch: pa.RecordBatch, batch_no: int) -> None:
        """Fold one batch in (or project it, for stateless queries); atomic per batch."""
        cq, stats = self.cq, self.stats
        t0 = time.perf_counter()
        try:
            cq.check_schema(batch, self.source.name, batch_no)
            rb = cq.row_stage(batch, position)
            late = null_time = None
            if self.windowed is not None:
                passed = rb.rows_out
                rb, late, null_time = self.clock.split(rb)
                self.windowed.update(rb)
                out = None
            elif self.state is not None:
                self.state.update(rb.keys, rb.args, rb.positions)
                out = None
            else:
                out = cq.project(rb.extra, rb.rows_out, with_order=True)
        except Exception as e:  # noqa: BLE001
            err = with_context(e, self._context(batch_no, position, batch.num_rows))
            if self.opts.error_policy != "skip":
                raise err from e
            stats.reject(type(e).__name__, batch.num_rows)
            stats.add(batches_rejected=1)
            if self.opts.dead_letter is not None:
                self.opts.dead_letter.write(dead_letter_table(batch, str(err)))
            return
        if self.windowed is not None:
            stats.add(records_filtered=rb.rows_in - passed, records_aggregated=rb.rows_out,
                      records_late=late.size, time_aggregating_s=time.perf_counter() - t0)
            self._set_aside(batch, position, late, null_time)
            self.emit_windows(self.clock.watermark)
            return
        stats.add(records_filtered=rb.rows_in - rb.rows_out, records_aggregated=rb.rows_out,
                  time_aggregating_s=time.perf_counter() - t0)
        if out is not None:
            self._emit_stateless(out)
        elif self.opts.emit == "changes":
            self.emit_changes()

    def _emit_stateless(self, out: pa.Table) -> None:
        plan = self.cq.plan
        if plan.order_by or plan.limit_percent is not None:    # known only at the end
            self._stateless_rows.append(out)
            return
        start, limit = plan.offset or 0, plan.limit
        seen = self._stateless_count
        self._stateless_count += out.num_rows
        lo = max(0, start - seen)
        hi = out.num_rows if limit is None else max(0, min(out.num_rows, start + limit - seen))
        if hi > lo:
            self.emitter.write(out.slice(lo, hi - lo))
        if limit is not None and self._stateless_count >= start + limit:
            self.opts.stop.set()      # nothing more can be emitted

    def _set_aside(self, batch: pa.RecordBatch, position: int, late, null_time) -> None:
        set_aside(self.opts, self.stats, self.clock, batch, position, late, null_time)

    def emit_windows(self, watermark: int | None) -> None:
        """Emit changed and closed windows (see :func:`emit_windows`)."""
        emit_windows(self.windowed, self.cq, self.opts.emit, watermark,
                     self.emitter.write, self._held.append)

    def emit_changes(self) -> None:
        """Emit the current value of every group changed since the last emit."""
        gids = self.state.changed()
        if gids.size:
            self.emitter.write(self.cq.changes(self.state.finalize(gids)))
        self.state.clear_changed()

    def emit_final(self) -> None:
        """Emit the final result (EMIT FINAL, or a stateless query with ORDER BY)."""
        cq = self.cq
        if self.state is None:
            if self._stateless_rows:
                self.emitter.write(cq.finish(pa.concat_tables(self._stateless_rows)))
            return
        t0 = time.perf_counter()
        final = cq.finish(cq.results(self.state.finalize()))
        self.stats.add(time_merging_s=time.perf_counter() - t0)
        self.emitter.write(final)

    def run(self) -> None:
        """Process the whole source, then emit what the emit mode asks for."""
        for batch_no, (position, batch, _) in enumerate(read_batches(self.source, self.stats, self.opts)):
            self.process(position, batch, batch_no)
        if self.opts.abort.is_set():
            return
        if self.windowed is not None:
            self.stats.groups = self.windowed.peak_groups
            self.emit_windows(None)
            if self._held:
                self.emitter.write(self.cq.finish(pa.concat_tables(self._held)))
        elif self.state is not None:
            self.stats.groups = self.state.num_groups
            if self.opts.emit == "final":
                self.emit_final()
            else:
                self.emit_changes()
        else:
            self.emit_final()
