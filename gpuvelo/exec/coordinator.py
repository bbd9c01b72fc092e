"""The partitioned job coordinator (V2): route rows by GROUP BY key, aggregate partitions in
parallel, merge, write, shut down cleanly.

Threads and bounded queues::

    reader (caller's thread): read -> row stage -> route ──► partition queue p (bounded)
    partition worker p: GroupState.update ──► (EMIT CHANGES) writer queue (bounded)
    writer: results -> sink

A slow sink fills the writer queue, which blocks the partitions, whose queues fill and block
the reader: backpressure, not buffering. NumPy and Arrow release the GIL in their kernels, so
partition threads run in parallel.

With ``hash`` routing each key lives in one partition, so each partition finalizes its own
groups. With ``round_robin``/``sticky`` a key may be in several partitions: partitions keep
partial accumulators and the coordinator merges them (``GroupState.merge``) before HAVING,
ORDER BY and LIMIT, which are always global. For EMIT CHANGES under those strategies each
partition pre-aggregates every piece into a delta and the writer merges the deltas into one
global state before emitting the changed groups.
"""

from __future__ import annotations

import queue
import threading
import time

import pyarrow as pa

from ..backends import select_backend
from ..errors import GpuveloError
from .processor import Emitter, RunOptions, dead_letter_table, emit_windows, output_schema, \
    read_batches, set_aside, with_context
from .query import CompiledQuery, RowBatch
from .routing import Routing
from .windows import WindowedState, event_clock
from .stats import JobStats

_DONE = object()


class _BoundedQueue(queue.Queue):
    """A queue.Queue that remembers its high-water mark and gives up waiting on abort."""

    def __init__(self, maxsize: int, name: str, stats: JobStats, abort: threading.Event):
        super().__init__(maxsize)
        self.name, self.stats, self.abort = name, stats, abort
        self.high_water = 0

    def put_checked(self, item) -> bool:
        """Put, waiting for room; False when the job aborted while waiting."""
        while True:
            try:
                self.put(item, timeout=0.05)
                break
            except queue.Full:
                if self.abort.is_set():
                    return False
        size = self.qsize()
        if size > self.high_water:
            self.high_water = size
            self.stats.queue_high_water[self.name] = size
        return True

    def get_checked(self):
        """Get, waiting; ``_DONE`` when the job aborted while waiting."""
        while True:
            try:
                return self.get(timeout=0.05)
            except queue.Empty:
                if self.abort.is_set():
                    return _DONE


class _Partition(threading.Thread):
    """One partition: owns a GroupState and folds the pieces routed to it."""

    def __init__(self, coord: "Coordinator", index: int):
        super().__init__(name=f"gpuvelo-partition-{index}", daemon=True)
        self.coord, self.index = coord, index
        self.queue = _BoundedQueue(coord.queue_size, f"partition-{index}", coord.stats, coord.opts.abort)
        self.windowed = None
        if coord.clock is not None:
            self.windowed = WindowedState(coord.cq.backend, coord.cq.spec, coord.clock.shape)
            self.state = self.windowed.state
        else:
            self.state = coord.cq.backend.group_state(coord.cq.spec)
        self.error: BaseException | None = None

    def run(self) -> None:
        c = self.coord
        while True:
            item = self.queue.get_checked()
            if item is _DONE or c.opts.abort.is_set():
                return
            if item[0] == "tick":
                try:
                    self._tick(item[1])
                except Exception as e:  # noqa: BLE001
                    self.error = with_context(e, f"partition {self.index}, closing windows")
                    c.fail(self.error)
                    return
                continue
            piece, batch, batch_no, position = item
            rb = piece.batch
            try:
                if rb is None:      # whole batch: this partition runs the row stage
                    t0 = time.perf_counter()
                    rb = c.cq.row_stage(batch, position)
                    c.stats.add(records_filtered=rb.rows_in - rb.rows_out,
                                records_aggregated=rb.rows_out,
                                time_aggregating_s=time.perf_counter() - t0)
                self._fold(rb)
            except Exception as e:  # noqa: BLE001
                err = with_context(e, f"partition {self.index}, " + c.context(batch_no, position, batch))
                if c.opts.error_policy != "skip":
                    self.error = err
                    c.fail(err)
                    return
                if rb is None:
                    rejected, rows = batch, batch.num_rows
                else:
                    rows = rb.rows_out
                    rejected = batch.take(pa.array(c.cq.backend.to_host(rb.positions) - position))
                    c.stats.add(records_aggregated=-rows)
                c.stats.reject(type(e).__name__, rows)
                if c.opts.dead_letter is not None:
                    c.opts.dead_letter.write(dead_letter_table(rejected, str(err)))

    def _tick(self, watermark: int | None) -> None:
        """Windows: emit changed and closed windows with the job's watermark (None: all)."""
        c = self.coord

        def hold(rows: pa.Table) -> None:
            with c.held_lock:
                c.held.append(rows)

        emit_windows(self.windowed, c.cq, c.opts.emit, watermark,
                     lambda t: c.writer_queue.put_checked(("table", t)), hold)

    def _fold(self, rb: RowBatch) -> None:
        c = self.coord
        t0 = time.perf_counter()
        if self.windowed is not None:
            self.windowed.update(rb)
            c.stats.add(time_aggregating_s=time.perf_counter() - t0)
            return
        if c.delta_mode:
            local = getattr(self.state, "local_partials", None)
            if local is not None:     # the batch's partials without touching any state
                partials = local(rb.keys, rb.args, c.cq.backend.to_host(rb.positions))
            else:
                delta = c.cq.backend.group_state(c.cq.spec)
                delta.update(rb.keys, rb.args, rb.positions)
                partials = delta.partials()
            c.stats.add(time_aggregating_s=time.perf_counter() - t0)
            c.writer_queue.put_checked(("partials", partials))
            return
        self.state.update(rb.keys, rb.args, rb.positions)
        c.stats.add(time_aggregating_s=time.perf_counter() - t0)
        if c.opts.emit == "changes":
            gids = self.state.changed()
            if gids.size:
                table = c.cq.changes(self.state.finalize(gids))
                self.state.clear_changed()
                c.writer_queue.put_checked(("table", table))


class _Writer(threading.Thread):
    """Writes EMIT CHANGES output; in delta mode, first merges deltas into the global state."""

    def __init__(self, coord: "Coordinator"):
        super().__init__(name="gpuvelo-writer", daemon=True)
        self.coord = coord
        self.error: BaseException | None = None

    def run(self) -> None:
        c = self.coord
        while True:
            item = c.writer_queue.get_checked()
            if item is _DONE:
                return
            kind, payload = item
            try:
                if kind == "partials":
                    t0 = time.perf_counter()
                    c.merged.merge(payload)
                    gids = c.merged.changed()
                    table = c.cq.changes(c.merged.finalize(gids))
                    c.merged.clear_changed()
                    c.stats.add(time_merging_s=time.perf_counter() - t0)
                else:
                    table = payload
                c.emitter.write(table)
            except Exception as e:  # noqa: BLE001
                self.error = e
                c.fail(e)
                return


class Coordinator:
    """Runs an aggregate query on ``num_partitions`` partitions (see the module docstring)."""

    def __init__(self, cq: CompiledQuery, source, sink, stats: JobStats, opts: RunOptions,
                 routing: Routing, *, queue_size: int = 4):
        self.cq, self.source, self.stats, self.opts = cq, source, stats, opts
        self.routing = routing
        self.queue_size = max(1, queue_size)
        self.emitter = Emitter(sink, output_schema(cq), stats)
        # each key in exactly one partition: partitions finalize their own groups
        # (a windowed query's window start is a key too: without GROUP BY keys every row
        # hashes to partition 0, which then owns every window)
        self.keys_local = routing.keys_local and (bool(cq.plan.group_keys) or cq.plan.window is not None)
        self.delta_mode = opts.emit == "changes" and not self.keys_local
        self.merged = select_backend("cpu").group_state(cq.spec) if not self.keys_local else None
        self.writer_queue = _BoundedQueue(self.queue_size, "writer", stats, opts.abort)
        # windows: one watermark for the whole job, moved by the reader, ticked to every
        # partition after each batch (so a partition without rows still closes its windows)
        self.clock = event_clock(cq.plan, opts.out_of_orderness_ms) if cq.plan.window else None
        if self.clock is not None and not self.keys_local:
            raise GpuveloError("windowed queries need hash routing on several partitions")
        self.held: list[pa.Table] = []
        self.held_lock = threading.Lock()
        self.partitions = [_Partition(self, p) for p in range(routing.n)]
        self._first_error: BaseException | None = None
        self._error_lock = threading.Lock()
        stats.partitions = routing.n
        stats.strategy = routing.name
        stats.records_routed = [0] * routing.n

    def context(self, batch_no: int, position: int, batch: pa.RecordBatch) -> str:
        """Where a batch came from, for error messages."""
        return (f"source '{self.source.name}', batch {batch_no} "
                f"(rows {position}..{position + batch.num_rows - 1})")

    def fail(self, err: BaseException) -> None:
        """Record the first error and abort the job."""
        with self._error_lock:
            if self._first_error is None:
                self._first_error = err
        self.opts.abort.set()

    def run(self) -> None:
        """Read, route and dispatch until the input ends or the job stops; then drain and emit."""
        for p in self.partitions:
            p.start()
        writer = _Writer(self)
        writer.start()
        try:
            self._read_loop()
        except BaseException as e:
            self.fail(e)
        finally:
            for p in self.partitions:
                p.queue.put_checked(_DONE)
            for p in self.partitions:
                p.join()
            self.writer_queue.put_checked(_DONE)
            writer.join()
        if self._first_error is not None:
            raise self._first_error
        if self.opts.abort.is_set():
            return
        self._emit_end()

    def _read_loop(self) -> None:
        cq, stats, opts = self.cq, self.stats, self.opts
        sticky = self.routing.name == "sticky" and hasattr(self.source, "batches_with_partition")
        batch_no = 0
        for position, batch, source_partition in read_batches(self.source, stats, opts,
                                                               with_partition=sticky):
            try:
                cq.check_schema(batch, self.source.name, batch_no)
                t0 = time.perf_counter()
                rb = None if self.routing.whole_batches else cq.row_stage(batch, position)
                late = None
                if self.clock is not None:
                    passed = rb.rows_out
                    rb, late, null_time = self.clock.split(rb)
                t1 = time.perf_counter()
                pieces = self.routing.route(rb, source_partition)
                stats.add(time_aggregating_s=t1 - t0, time_routing_s=time.perf_counter() - t1)
            except Exception as e:  # noqa: BLE001
                err = with_context(e, self.context(batch_no, position, batch))
                if opts.error_policy != "skip":
                    raise err from e
                stats.reject(type(e).__name__, batch.num_rows)
                stats.add(batches_rejected=1)
                if opts.dead_letter is not None:
                    opts.dead_letter.write(dead_letter_table(batch, str(err)))
                batch_no += 1
                continue
            if late is not None:
                stats.add(records_filtered=rb.rows_in - passed, records_aggregated=rb.rows_out,
                          records_late=int(late.size))
                set_aside(opts, stats, self.clock, batch, position, late, null_time)
            elif rb is not None:
                stats.add(records_filtered=rb.rows_in - rb.rows_out, records_aggregated=rb.rows_out)
            for piece in pieces:
                stats.records_routed[piece.partition] += \
                    batch.num_rows if piece.batch is None else piece.batch.rows_out
                if not self.partitions[piece.partition].queue.put_checked(
                        (piece, batch, batch_no, position)):
                    return
            if self.clock is not None and not self._tick_all(self.clock.watermark):
                return
            batch_no += 1
        if self.clock is not None and not self.opts.abort.is_set():
            self._tick_all(None)

    def _tick_all(self, watermark: int | None) -> bool:
        """Send the job's watermark (None: end of input) to every partition."""
        return all(p.queue.put_checked(("tick", watermark)) for p in self.partitions)

    def _emit_end(self) -> None:
        cq = self.cq
        t0 = time.perf_counter()
        if self.clock is not None:
            self.stats.groups = sum(p.windowed.peak_groups for p in self.partitions)
            if self.held:
                self.emitter.write(cq.finish(pa.concat_tables(self.held)))
            return
        if self.keys_local:
            groups = sum(p.state.num_groups for p in self.partitions)
            if self.opts.emit == "changes":
                self.stats.groups = groups
                return
            tables = [cq.results(p.state.finalize()) for p in self.partitions]
            final = cq.finish(pa.concat_tables(tables))
        else:
            if not self.delta_mode:
                for p in self.partitions:
                    self.merged.merge(p.state.partials())
            groups = self.merged.num_groups
            if self.opts.emit == "changes":
                self.stats.groups = groups
                return
            final = cq.finish(cq.results(self.merged.finalize()))
        self.stats.groups = groups
        self.stats.add(time_merging_s=time.perf_counter() - t0)
        self.emitter.write(final)

