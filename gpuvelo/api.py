"""The public Python API: :func:`sql`, :class:`Job` and :func:`explain`."""

from __future__ import annotations

import dataclasses
import decimal
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import io as gio
from . import types as T
from .backends import select_backend
from .errors import DataError, GpuveloError, NotSupportedError, PlanError
from .exec.analytic import apply_analytic
from .exec.coordinator import Coordinator
from .exec.processor import SET_ASIDE_REASON, RunOptions, SingleProcessor, output_schema
from .exec.routing import choose_routing
from .exec.query import CompiledQuery, needed_columns
from .exec.stats import JobStats
from .exec.windows import UNBOUNDED_MS, duration_ms, resolve_time_column
from .io.join import JoinedSource
from .sql import explain as explain_plan
from .sql import parse_query, plan_query
from .sql.analytic import ANALYTIC_TABLE
from .sql.files import looks_like_file
from .sql.rewrite import ROW_COLUMN, UNION_TABLE, rows_table_size


def default_partitions(backend) -> int:
    """Partitions when the caller names none: 4 on a GPU (streams overlap), 1 on the CPU.

    CPU partitions are threads, and the per-batch kernels of the CPU backend (NumPy's
    ``bincount`` and ``ufunc.at``) hold the GIL: measured on 2 cores (``benchmarks/
    bench_scaling.py`` and 2M-row int, float and string key streams of 1,000 to 1,000,000
    keys), one partition beat two in every case, by 1.2x to 2x. Ask for more with
    ``partitions=N`` (or run partitions on Dask workers) when the work is Arrow-bound."""
    return 4 if backend.name != "cpu" else 1


def _find_source(sources: dict[str, Any], name: str):
    for key, value in sources.items():
        if key.lower() == name.lower():
            return key, value
    known = ", ".join(sources) or "none"
    raise DataError(f"the query reads from '{name}', but no source of that name was given "
                    f"(sources: {known})")


def _columns_of(sources: dict[str, Any]):
    """``columns_of(name)`` for parse_query (a PIVOT of a plain table): the column names of
    the source of that name, or of the file a quoted name is -- when they can be known
    without reading the data (never a one-shot stream's first batch); None otherwise."""
    def columns_of(name: str):
        obj = next((v for k, v in sources.items() if k.lower() == name.lower()), None)
        if obj is None and looks_like_file(name):
            obj = name
        if isinstance(obj, (pa.Table, pa.RecordBatch)):
            return obj.schema.names
        if isinstance(obj, dict):
            return [str(k) for k in obj]
        if isinstance(obj, (str, Path, gio.sources.FileSource, gio.ParquetSource)):
            return gio.as_source(obj).schema().names
        columns = getattr(obj, "columns", None)          # pandas / polars DataFrames
        return [str(c) for c in columns] if columns is not None and not callable(columns) else None
    return columns_of


def _with_files(files, sources: dict[str, Any], batch_size) -> dict[str, Any]:
    """``sources`` and a source for each file the query names (``FROM 'x.csv'``,
    ``read_csv(...)``) that no given source of that name stands for."""
    given = {k.lower() for k in sources}
    opened = {f.name: gio.path_source(f.path, batch_size=batch_size, kind=f.kind,
                                      csv_options=dict(f.options))
              for f in files if f.name.lower() not in given}
    return {**sources, **opened} if opened else sources


def _schema_of(source) -> dict[str, T.DType]:
    schema = source.schema()
    out = {}
    for f in schema:
        try:
            out[f.name] = T.from_arrow(f.type)
        except GpuveloError as e:
            raise type(e)(f"source '{source.name}', column '{f.name}': {e}") from e
    return out


class Job:
    """A streaming query over named sources, writing to a sink.

    ``Job(query, sources={"trades": ...}, sink=gpuvelo.io.MemorySink())``; ``run()`` blocks
    until the input ends (or :meth:`stop` is called from another thread) and returns the
    :class:`~gpuvelo.exec.stats.JobStats`. Sources may be anything ``gpuvelo.io.as_source``
    accepts; the sink anything ``gpuvelo.io.as_sink`` accepts.

    Options: ``backend`` ('auto', 'cpu', 'gpu', 'cudf'); ``batch_size`` (re-chunk the input);
    ``partitions`` (default: usable cores; 1 = the single-partition V1 path) and ``strategy``
    ('hash', 'round_robin', 'sticky', 'smart'; default chosen from the query and source);
    ``queue_size`` (batches each bounded queue holds: backpressure, not buffering);
    ``emit`` ('changes'/'final', overrides the query's EMIT); ``error_policy`` ('fail' --
    the first error fails the job -- or 'skip': a batch that fails is counted as rejected
    and written with its reason to ``dead_letter``); ``on_progress`` (called after each batch).

    Windows and event time (see ``gpuvelo.exec.windows``): ``event_time`` names the
    event-time column (a timestamp, or integer epoch milliseconds) when the WINDOW clause
    does not; ``max_out_of_orderness`` (milliseconds or a ``timedelta``; default: the
    window's GRACE PERIOD, else 0) is how far behind the highest event time seen a row may
    be and still count; ``late_policy`` is 'drop' (count late rows in
    ``stats.records_late``) or 'sink' (also write them, with the reason, to ``late_sink``).
    The default emit mode is FINAL, with or without a window: a windowed query emits each
    window's rows once, when the watermark passes its end, and every open window when the
    input ends.
    """

    def __init__(self, query: str, *, sources: dict[str, Any], sink: Any, backend: str = "auto",
                 batch_size: int | None = None, partitions: int | None = None,
                 strategy: str | None = None, emit: str | None = None,
                 error_policy: str = "fail", dead_letter: Any = None,
                 on_progress: Callable[[], None] | None = None, name: str | None = None,
                 queue_size: int = 4, event_time: str | None = None,
                 max_out_of_orderness: Any = None, late_policy: str = "drop",
                 late_sink: Any = None):
        if emit is not None and emit not in ("changes", "final"):
            raise GpuveloError(f"emit must be 'changes' or 'final', not {emit!r}")
        if error_policy not in ("fail", "skip"):
            raise GpuveloError(f"error_policy must be 'fail' or 'skip', not {error_policy!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise DataError(f"batch_size must be a positive integer, not {batch_size!r}")
        self.query = query
        if late_policy not in ("drop", "sink"):
            raise GpuveloError(f"late_policy must be 'drop' or 'sink', not {late_policy!r}")
        if (late_policy == "sink") != (late_sink is not None):
            raise GpuveloError("late_policy='sink' and late_sink= go together: give both or neither")
        ooo = None if max_out_of_orderness is None else duration_ms(max_out_of_orderness,
                                                                    "max_out_of_orderness")
        self.parsed = parse_query(query, columns_of=_columns_of(sources))
        if emit == "changes" and self.parsed.analytic is not None:
            raise NotSupportedError("window functions (OVER) and QUALIFY need the whole result: "
                                    "emit='changes' is not supported with them")
        self._stage_options = {"backend": backend, "batch_size": batch_size, "partitions": partitions,
                               "strategy": strategy}
        sources = _with_files(self.parsed.files, sources, batch_size)
        if self.parsed.stages or self.parsed.value_stages or self.parsed.stacked:   # one Source per input
            sources = {k: gio.as_source(v, batch_size=batch_size) for k, v in sources.items()}
        self._sources = dict(sources)
        sources = {**sources, **_stage_placeholders(self.parsed, sources, self._stage_options)}
        if self.parsed.window is not None:
            self.parsed = dataclasses.replace(
                self.parsed, window=resolve_time_column(self.parsed.window, event_time))
        key, obj = _find_source(dict(sources), self.parsed.source)
        self.source = gio.as_source(obj, batch_size=batch_size)
        self.source.name = key
        self.source, self._qualified = _joined(self.parsed, self.source, sources, batch_size)
        self.sink = gio.as_sink(sink)
        self._schema = _schema_of(self.source)
        self._stage_values = _value_stage_types(self.parsed, sources, self._stage_options)
        self.plan = plan_query(self.parsed, self._schema, self._stage_values, self._qualified)
        if self.plan.window is not None and not self.plan.is_aggregate:
            raise NotSupportedError("a WINDOW clause needs GROUP BY or aggregates: windows group "
                                    "rows, and this query has nothing to aggregate")
        self.backend = select_backend(backend)
        if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
            raise GpuveloError(f"partitions must be a positive integer, not {partitions!r}")
        self.partitions = partitions
        self.strategy = strategy
        self.queue_size = queue_size
        self.name = name or self.plan.output_name or "gpuvelo-job"
        self.stats = JobStats(backend=self.backend.name)
        if (emit or self.plan.emit) == "changes" and self.plan.is_aggregate and \
                (self.plan.limit is not None or self.plan.offset or self.plan.limit_percent is not None):
            raise NotSupportedError("LIMIT / OFFSET need the whole result, and EMIT CHANGES emits "
                                    "each batch's changed groups as they happen: drop LIMIT/OFFSET, "
                                    "or use EMIT FINAL (ORDER BY orders the rows of each emit)")
        self._opts = RunOptions(emit=emit or self.plan.emit, error_policy=error_policy,
                                dead_letter=gio.as_sink(dead_letter) if dead_letter is not None else None,
                                on_progress=on_progress, out_of_orderness_ms=ooo,
                                late_sink=gio.as_sink(late_sink) if late_sink is not None else None)
        self._ran = False

    def run(self) -> JobStats:
        """Run to the end of the input (or until stopped); returns the stats."""
        if self._ran:
            raise GpuveloError("a Job runs once; create a new Job to run the query again")
        self._ran = True
        t0 = time.perf_counter()
        try:
            self._run_stages()
            cq = CompiledQuery(self.plan, self.backend)
            self.source.narrow(needed_columns(cq.columns))   # only the columns the query reads
            self._announce_set_aside_schema()
            self._runner(cq).run()
            self.stats.stopped = ("abort" if self._opts.abort.is_set()
                                  else "graceful" if self._opts.stop.is_set() else "")
        except BaseException as e:
            self.stats.stopped, self.stats.error = "error", str(e)
            self.stats.elapsed_s = time.perf_counter() - t0
            self._close_all(failed=True)
            raise
        self.stats.elapsed_s = time.perf_counter() - t0
        self._close_all(failed=False)
        return self.stats

    def _close_all(self, failed: bool) -> None:
        """Close the source and the sinks, each even when another fails to close. After a
        failed run, sinks are aborted (a file sink that wrote no rows leaves no file) and
        errors while closing are dropped: the job's own error is the one to report. After
        a good run, the first error while closing is raised (the output may be incomplete)."""
        first = None
        for closer in (self.source, self.sink, self._opts.dead_letter, self._opts.late_sink):
            close = getattr(closer, "abort" if failed and closer is not self.source else "close", None) \
                or getattr(closer, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as e:  # noqa: BLE001 -- every closer gets its turn
                first = first or e
        if first is not None and not failed:
            self.stats.stopped, self.stats.error = "error", str(first)
            raise first

    def _announce_set_aside_schema(self) -> None:
        """Dead-letter and late-row sinks get their schema (the source's rows plus the
        reason) before the run, so a file sink writes a valid, empty file when no row is
        set aside, and a path that cannot be written fails at once."""
        schema = self.source.schema().append(pa.field(SET_ASIDE_REASON, pa.string()))
        for sink in (self._opts.dead_letter, self._opts.late_sink):
            if sink is not None and hasattr(sink, "set_schema") and getattr(sink, "schema", None) is None:
                sink.set_schema(schema)

    def _run_stages(self) -> None:
        """Aggregating subqueries first, each a Job of its own to the end of its input; the
        query then reads the last one's result (see ``ParsedQuery.stages``). Then the
        subqueries used as values, whose results the query is planned again with."""
        self._run_value_stages()
        if not (self.parsed.stages or self.parsed.stacked):
            return
        tables = {**self._sources, **_literal_rows(self.parsed)}
        renamed = dict(self.parsed.renamed)
        for name, text in self.parsed.stages:
            tables[name] = _with_names(self._run_stage(text, tables), renamed.get(name), name)
        if self.parsed.stacked:      # one query per key set or set operation branch, combined
            parts = [self._run_stage(text, tables) for text in self.parsed.stacked]
            tables[UNION_TABLE] = _combined(parts, self.parsed.combine)
        if self.parsed.analytic is not None:
            spec = self.parsed.analytic
            tables[ANALYTIC_TABLE] = apply_analytic(tables[spec.input], spec)
        self._current = None
        key, obj = _find_source(tables, self.parsed.source)
        if self._opts.stop.is_set() and not self._opts.abort.is_set() and key not in self._sources:
            # stopped gracefully during the stages: the query still reads what they made (in
            # memory, finite), so the result covers the rows read before the stop
            self._opts.stop.clear()
        batch_size = self._stage_options["batch_size"]
        self.source = gio.as_source(obj, batch_size=batch_size)
        self.source.name = key
        self.source, _ = _joined(self.parsed, self.source, tables, batch_size)

    def _run_stage(self, text: str, tables: dict) -> pa.Table:
        """Run one stage query to the end of its input; its final result."""
        sink = gio.MemorySink()
        stage = Job(text, sources=tables, sink=sink, emit="final", **self._stage_options)
        self._current = stage
        if self._opts.stop.is_set():       # stopped during an earlier stage: read nothing more
            stage.stop(graceful=not self._opts.abort.is_set())
        self.stats.stages.append(stage.run())
        return sink.table()

    def _run_value_stages(self) -> None:
        if not self.parsed.value_stages:
            return
        values = {}
        for name, kind, text in self.parsed.value_stages:
            column = self._run_stage(text, self._sources).column(0)
            if kind == "in":
                column = column.unique()
            values[name] = (self._stage_values[name][0], column.to_pylist())
        self._current = None
        self.plan = plan_query(self.parsed, self._schema, values, self._qualified)

    def _runner(self, cq: CompiledQuery):
        """V1 (one partition, on this thread) or the V2 coordinator, with the routing chosen."""
        n = self.partitions if self.partitions is not None else default_partitions(self.backend)
        if not self.plan.is_aggregate or (n == 1 and self.strategy is None):
            why = ("stateless query: rows are projected in order on one partition"
                   if not self.plan.is_aggregate else "one partition (V1)")
            self.stats.partitions, self.stats.strategy, self.stats.strategy_reason = 1, "single", why
            return SingleProcessor(cq, self.source, self.sink, self.stats, self._opts)
        strategy = self.strategy
        if self.plan.window is not None and strategy not in (None, "hash", "smart"):
            strategy = "hash"     # a key's windows (sessions!) must meet in one partition
        routing, why = choose_routing(self.plan, self.source, strategy, n, self.backend)
        if self.plan.window is not None and routing.name != "hash":
            routing, why = choose_routing(self.plan, self.source, "hash", n, self.backend)
            why = "windows: rows routed by the hash of the GROUP BY key (a key's windows meet in one partition)"
        self.stats.strategy_reason = why
        return Coordinator(cq, self.source, self.sink, self.stats, self._opts, routing,
                           queue_size=self.queue_size)

    def stop(self, graceful: bool = True) -> None:
        """Stop reading. Graceful: drain accepted batches and emit final results; else abort
        without a final emit. Safe to call from another thread or a signal handler."""
        (self._opts.stop if graceful else self._opts.abort).set()
        stage = getattr(self, "_current", None)
        if stage is not None:
            stage.stop(graceful)


def _joined(parsed, source, sources: dict, batch_size):
    """(the source, {}) -- or for a query with JOINs, the stream joined with each joined
    source in turn, and the planner's names of the columns qualified by table (``t.x``)."""
    if not parsed.joins:
        return source, {}
    qualified = {(parsed.source_alias, f.name.lower()): f.name for f in source.schema()}
    last = len(parsed.joins) - 1
    for i, spec in enumerate(parsed.joins):
        key, obj = _find_source(dict(sources), spec.table)
        right = gio.as_source(obj)
        right.name = key
        left_keys = [qualified.get((owner, name.lower()), name) if owner else _named(source, name)
                     for owner, name in spec.left_keys]
        source = JoinedSource(source, right, left_keys=left_keys, right_keys=spec.right_keys,
                              kind=spec.kind, alias=spec.alias, using=spec.using,
                              asof_op=spec.asof_op,
                              batch_size=batch_size if i == last else None)
        qualified.update({(spec.alias, n.lower()): out for n, out in source.renames.items()})
    return source, qualified


def _named(source, name: str) -> str:
    """The source's column called ``name`` (any case), or ``name`` when it has none."""
    return next((n for n in source.schema().names if n.lower() == name.lower()), name)


def _result_schema(text: str, sources: dict, options: dict, window_aliases=()) -> pa.Schema:
    """The result schema of a stage's query, planned (and checked) without running it.
    ``window_aliases``: names the query's analytic step reads as aliases of window
    functions (``AnalyticSpec.window_aliases``); none may be a column of the stage's source."""
    stage = Job(text, sources=sources, sink=gio.MemorySink(), emit="final", **options)
    clash = [a for a in window_aliases if a.lower() in {c.lower() for c in stage._schema}]
    if clash:
        raise NotSupportedError(f"'{clash[0]}' names both a source column and a window function's "
                                "alias in the select list; DuckDB would read the column, gpuvelo "
                                "does not guess: rename the alias")
    return output_schema(CompiledQuery(stage.plan, stage.backend))


def _value_stage_types(parsed, sources: dict, options: dict) -> dict:
    """name -> (result type, no values yet) of each value stage: enough to plan the query
    (and report its errors) before anything runs."""
    out = {}
    for name, kind, text in parsed.value_stages:
        schema = _result_schema(text, sources, options)
        if len(schema) != 1:
            raise PlanError(f"a subquery used as a value must return one column, not {len(schema)}: "
                            f"{text}")
        out[name] = (T.from_arrow(schema.field(0).type), [])
    return out


def _stage_placeholders(parsed, sources: dict, options: dict) -> dict[str, pa.Table]:
    """An empty table of each stage's result schema, so that the query plans (and reports
    its errors) before anything runs."""
    tables: dict[str, pa.Table] = _literal_rows(parsed)

    def empty(text, window_aliases=()):
        return _result_schema(text, {**sources, **tables}, options, window_aliases).empty_table()

    analytic = parsed.analytic
    renamed = dict(parsed.renamed)
    for name, text in parsed.stages:
        tables[name] = _with_names(empty(text, analytic.window_aliases if analytic and
                                         name == analytic.input else ()), renamed.get(name), name)
    if parsed.stacked:
        tables[UNION_TABLE] = _combined([empty(text) for text in parsed.stacked], parsed.combine)
    if analytic is not None:      # also checks the analytic functions' argument types
        tables[ANALYTIC_TABLE] = apply_analytic(tables[analytic.input], analytic)
    return tables


def _stacked(parts: list[pa.Table]) -> pa.Table:
    """The parts' results (grouping sets, set operation branches) one after the other, named
    as the first names its columns; types promote (a NULL column or INTEGER with DOUBLE)."""
    names = parts[0].column_names
    for p in parts[1:]:
        if p.num_columns != len(names):
            raise PlanError(f"the branches of a set operation (UNION / INTERSECT / EXCEPT) return "
                            f"{len(names)} and {p.num_columns} columns; each must return as many")
    for i in range(len(names)):
        common = _common_decimal([p.schema.field(i).type for p in parts])
        if common is not None:
            parts = [p.set_column(i, names[i], p.column(i).cast(common)) for p in parts]
    try:
        return pa.concat_tables([p.rename_columns(names) for p in parts], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise PlanError(f"the column types of a set operation's branches do not combine: {e}") from e


def _common_decimal(types: list[pa.DataType]) -> pa.DataType | None:
    """DuckDB's common type of decimals and integers (INTEGER and DECIMAL(2, 1): DECIMAL(11,
    1): the most integer digits -- an integer type's widest value's -- and the most decimal
    places); None when the types are not such a mix (Arrow's promotion is then used)."""
    if not any(pa.types.is_decimal(t) for t in types) or \
            not all(pa.types.is_decimal(t) or pa.types.is_integer(t) or pa.types.is_null(t) for t in types):
        return None
    scale = max(t.scale for t in types if pa.types.is_decimal(t))
    digits = max(t.precision - t.scale if pa.types.is_decimal(t) else
                 len(str(np.iinfo(t.to_pandas_dtype()).max)) for t in types if not pa.types.is_null(t))
    return pa.decimal128(digits + scale, scale) if digits + scale <= 38 else None


def _combined(parts: list[pa.Table], how: str) -> pa.Table:
    """The branches' results combined as ``how`` says (``ParsedQuery.combine``): 'union all'
    stacks them (:func:`_stacked`); 'union', 'intersect' and 'except' [' all'] are DuckDB's
    set operations over the stacked rows, where NULLs, NaNs and 0.0 / -0.0 compare equal:
    each distinct row is kept as many times as its counts in the branches say. INTERSECT:
    the least count; EXCEPT: the first branch's count when no other branch has the row, and
    EXCEPT ALL that count less the others', at least 0; the DISTINCT forms keep one copy."""
    table = _stacked(parts)
    if how == "union all":
        return table
    op, every = how.split(" ")[0], how.endswith(" all")
    keys = [f"c{i}" for i in range(table.num_columns)]
    side = np.repeat(np.arange(len(parts)), [p.num_rows for p in parts])
    counts = [f"n{i}" for i in range(len(parts))]
    work = pa.table([_comparable(c) for c in table.columns] +
                    [pa.array((side == i).astype(np.int64)) for i in range(len(parts))],
                    names=keys + counts)
    grouped = work.group_by(keys, use_threads=False).aggregate([(n, "sum") for n in counts])
    n = np.stack([grouped.column(f"{c}_sum").to_numpy() for c in counts])
    if op == "union":
        copies = np.ones(grouped.num_rows, dtype=np.int64)
    elif op == "intersect":
        copies = n.min(axis=0)
    elif every:
        copies = np.maximum(n[0] - n[1:].sum(axis=0), 0)
    else:
        copies = np.where(n[1:].sum(axis=0) > 0, 0, n[0])
    if not every:
        copies = np.minimum(copies, 1)
    rows = grouped.select(keys).take(pa.array(np.repeat(np.arange(grouped.num_rows), copies)))
    return rows.rename_columns(table.column_names)


def _comparable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A float column with one NaN and one zero (``-0.0`` is ``0.0``), so that grouping
    compares them as DuckDB's set operations do; other columns as they are."""
    if not pa.types.is_floating(column.type):
        return column
    zero, nan = pa.scalar(0.0, column.type), pa.scalar(float("nan"), column.type)
    return pc.if_else(pc.is_nan(column), nan, pc.add(column, zero))


def _literal_rows(parsed) -> dict[str, pa.Table]:
    """The tables of literals the query reads (see ``rewrite.literal_tables``): the table of
    n rows of a query without FROM (or of VALUES written out as SQL), and the VALUES lists
    of plain literals, built from their values."""
    tables = {name: _values_table(names, types, columns)
              for name, names, types, columns in parsed.literals}
    n = rows_table_size(parsed.source)
    if n is not None:
        tables[parsed.source] = pa.table({ROW_COLUMN: pa.array(np.arange(n, dtype=np.int32))})
    return tables


_LITERAL_TYPES = {"INTEGER": pa.int32(), "BIGINT": pa.int64(), "VARCHAR": pa.string(),
                  "BOOLEAN": pa.bool_()}


def _values_table(names, types, columns) -> pa.Table:
    """A VALUES list's table: each column's literals (numbers as text) in its SQL type."""
    arrays = []
    for sql_type, values in zip(types, columns):
        if sql_type.startswith("DECIMAL("):
            precision, scale = (int(x) for x in sql_type[8:-1].split(","))
            arrays.append(pa.array([None if v is None else decimal.Decimal(v) for v in values],
                                   pa.decimal128(precision, scale)))
        elif sql_type in ("INTEGER", "BIGINT"):
            arrays.append(pa.array([None if v is None else int(v) for v in values], _LITERAL_TYPES[sql_type]))
        else:
            arrays.append(pa.array(list(values), _LITERAL_TYPES[sql_type]))
    return pa.Table.from_arrays(arrays, names=list(names))


def _with_names(table: pa.Table, names: tuple[str, ...] | None, stage: str) -> pa.Table:
    """``table`` with its first columns renamed by a column alias list (``t AS u(a, b)``)."""
    if not names:
        return table
    if len(names) > table.num_columns:
        raise PlanError(f"table '{stage}' has {table.num_columns} columns available but "
                        f"{len(names)} columns specified")
    return table.rename_columns(list(names) + table.column_names[len(names):])


def sql(query: str, /, *, backend: str = "auto", batch_size: int | None = None,
        partitions: int | None = None, strategy: str | None = None,
        event_time: str | None = None, max_out_of_orderness=None, **tables) -> pa.Table:
    """Run ``query`` over the given tables and return its final result as a pyarrow Table.

    Each table may be a pyarrow Table / RecordBatchReader, anything with
    ``__arrow_c_stream__`` (pandas, polars), a dict of equal-length arrays or lists, or an
    iterable of RecordBatches. The input is processed as a stream of ``batch_size``-row
    batches; the result does not depend on the batch size. EMIT CHANGES queries return
    their final result too. ``event_time`` and ``max_out_of_orderness`` are as for
    :class:`Job` (windows: the time column, and the disorder allowed before rows are late);
    unlike a Job, a windowed query here treats no row as late unless its GRACE PERIOD or
    ``max_out_of_orderness`` says otherwise: tables are finite, so the result is the whole
    input's, in any row order.
    """
    if max_out_of_orderness is None and "window" in query.lower():
        window = parse_query(query, columns_of=_columns_of(tables)).window
        if window is not None and window.grace_ms is None:
            # finite tables: no row is late, windows close at the end of the input, so the
            # result is the whole table's whatever its order (as DuckDB's time_bucket)
            max_out_of_orderness = UNBOUNDED_MS
    sink = gio.MemorySink()
    job = Job(query, sources=tables, sink=sink, backend=backend, batch_size=batch_size,
              partitions=partitions, strategy=strategy, emit="final", event_time=event_time,
              max_out_of_orderness=max_out_of_orderness)
    job.run()
    return sink.table()


def explain(query: str, *, sources: dict[str, Any] | None = None,
            schemas: dict[str, Any] | None = None, backend: str = "auto",
            partitions: int | None = None, strategy: str | None = None) -> str:
    """A readable description of how ``query`` would run: the plan, the backend, the
    partitions and the routing strategy with the reason it was chosen. Needs the source's
    schema: pass ``sources`` like :class:`Job` takes, or ``schemas`` mapping the table name
    to a ``pyarrow.Schema``."""
    parsed = parse_query(query, columns_of=_columns_of(
        sources or {n: s.empty_table() for n, s in (schemas or {}).items()}))
    src, values, qualified = None, None, {}
    if parsed.files and not schemas:
        sources = _with_files(parsed.files, dict(sources or {}), None)
    literal = {} if schemas else _literal_rows(parsed)
    if literal:                          # SELECT 1, VALUES: no source needed
        sources = {**(sources or {}), **literal}
    if parsed.stages or parsed.value_stages or parsed.stacked:
        if not sources and schemas:      # plan the stages over empty tables of those schemas
            sources = {name: schema.empty_table() for name, schema in schemas.items()}
        sources = dict(sources or {})    # the placeholders add the literal tables
        sources = {**sources, **_stage_placeholders(parsed, sources, {"backend": backend})}
        values = _value_stage_types(parsed, sources, {"backend": backend})
        schemas = None
    if schemas:
        _, schema = _find_source(schemas, parsed.source)
        dschema = {f.name: T.from_arrow(f.type) for f in schema}
    elif sources:
        key, obj = _find_source(sources, parsed.source)
        src = gio.as_source(obj)
        src.name = key
        src, qualified = _joined(parsed, src, sources, None)
        dschema = _schema_of(src)
    else:
        raise DataError("explain needs the source's schema: pass sources= or schemas=")
    plan = plan_query(parsed, dschema, values, qualified)
    chosen = select_backend(backend)
    n = partitions if partitions is not None else default_partitions(chosen)
    if not plan.is_aggregate or (n == 1 and strategy is None):
        route = "single partition (V1): " + ("stateless query, rows projected in order"
                                             if not plan.is_aggregate else "one partition")
    elif plan.window is not None:        # as Job._runner: a key's windows meet in one partition
        route = f"hash over {n} partitions (V2): windows: rows routed by the hash of the GROUP BY key"
    else:
        routing, why = choose_routing(plan, src, strategy, n, chosen)
        route = f"{routing.name} over {n} partitions (V2): {why}"
    stages = "".join(f"stage {name} (runs first, to the end of its input): {text}\n"
                     for name, text in parsed.stages)
    stages += "".join(f"value stage {name} ({kind}; runs first): {text}\n"
                      for name, kind, text in parsed.value_stages)
    if parsed.stacked:
        stages += "".join(f"branch {i + 1} (runs first): {text}\n" for i, text in enumerate(parsed.stacked))
        stages += f"then the branches' results combined ({parsed.combine}) -> table {UNION_TABLE}\n"
    if parsed.analytic is not None:
        spec = parsed.analytic
        stages += (f"analytic step (window functions, on the host, over the whole result of "
                   f"stage {spec.input}) -> table {ANALYTIC_TABLE}:\n")
        stages += "".join(f"  {c.text()}   -- {c.sql}\n" for c in spec.calls)
    for j in parsed.joins:
        ops = ["="] * len(j.right_keys)
        if j.asof_op is not None:            # ASOF: the last pair is the inequality
            ops[-1] = j.asof_op
        on = ", ".join(f"{a or parsed.source_alias}.{b} {op} {j.alias}.{c}"
                       for (a, b), c, op in zip(j.left_keys, j.right_keys, ops))
        stages += (f"join: {j.kind} join of each batch with {j.table} (read whole first)"
                   + (f" on {on}" if on else "")
                   + ("; then its rows no stream row matched, when the stream ends"
                      if j.kind in ("right", "full") else "") + "\n")
    return stages + explain_plan(plan) + f"\nbackend: {chosen.name}\nstrategy: {route}"
