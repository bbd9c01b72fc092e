"""Running a query's aggregation on Dask workers (``pip install gpuvelo[dask]``).

:func:`run_on_dask` splits the stream -- files (a glob, a directory, a list of paths) or a
list of Arrow tables -- into parts; each Dask task aggregates its part into partials (the
Arrow currency of ``gpuvelo.backends.partials``, the same that partitions on one machine
merge) on the worker's backend (a GPU where the worker has one); the client merges them
into one state and finishes the query: HAVING, the select list, ORDER BY and LIMIT. It is
the two-phase aggregation the coordinator does across partitions on one machine, with
workers for partitions. Joined tables travel to every worker and are read whole there.

Arrival order (FIRST, LAST, ARG_MAX ties, LIST without ORDER BY) follows the parts' order:
part i's rows come after part i-1's, as if one stream read them one after the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from ..errors import DataError, NotSupportedError

PART_STRIDE = 1 << 40    # arrival positions of part i start at i * PART_STRIDE


def run_on_dask(query: str, client, *, backend: str = "auto", batch_size: int | None = None,
                files_per_task: int = 1, on_progress: Callable[[int, int], None] | None = None,
                **tables) -> pa.Table:
    """Run the aggregate ``query`` with its stream split across the workers of the Dask
    ``client``; the result as a pyarrow Table. ``tables`` name the query's tables as
    :func:`gpuvelo.sql` takes them; the stream (FROM's first table) must be files -- a
    path, glob, directory or list of paths -- or a list of Arrow tables, one part each
    (files: ``files_per_task`` per task). ``backend`` is each worker's (and the client's
    merge). ``on_progress(done, total)`` is called as tasks finish. Queries with
    subqueries that run first, set operations, window functions or a stream WINDOW are a
    NotSupportedError (run them with :func:`gpuvelo.sql`)."""
    from distributed import as_completed

    from ..api import Job
    from ..exec.query import CompiledQuery
    from ..io import MemorySink
    from ..sql import parse_query

    parsed = parse_query(query)
    _check_shape(parsed)
    stream_name, stream = _stream(tables, parsed.source)
    parts = _parts(stream, files_per_task)
    others = {k: v for k, v in tables.items() if k != stream_name}
    plan_job = Job(query, sources={**others, stream_name: _source(parts[0])},
                   sink=MemorySink(), backend=backend)
    _check_runnable(plan_job)
    futures = [client.submit(partials_of, query, stream_name, part, others, backend, batch_size,
                             i * PART_STRIDE, pure=False)
               for i, part in enumerate(parts)]
    results: list = [None] * len(parts)
    index = {f.key: i for i, f in enumerate(futures)}
    for done, future in enumerate(as_completed(futures), 1):
        results[index[future.key]] = future.result()
        if on_progress is not None:
            on_progress(done, len(parts))
    cq = CompiledQuery(plan_job.plan, plan_job.backend)
    state = plan_job.backend.group_state(cq.spec)
    for partials in results:
        state.merge(partials)
    return cq.finish(cq.results(state.finalize()))


def partials_of(query: str, stream_name: str, part, others: dict, backend: str,
                batch_size: int | None, first_position: int) -> pa.Table:
    """The aggregation partials of ``query`` over one part of its stream (a worker's task):
    the rows that pass WHERE, folded into one state, handed out as its partials table.
    Arrival positions start at ``first_position``."""
    from ..api import Job
    from ..exec.query import CompiledQuery, needed_columns
    from ..io import MemorySink

    job = Job(query, sources={**others, stream_name: _source(part)}, sink=MemorySink(),
              backend=backend, batch_size=batch_size)
    _check_runnable(job)
    cq = CompiledQuery(job.plan, job.backend)
    job.source.narrow(needed_columns(cq.columns))
    state = job.backend.group_state(cq.spec)
    position = first_position
    try:
        for batch_no, batch in enumerate(job.source.batches()):
            cq.check_schema(batch, stream_name, batch_no)
            rb = cq.row_stage(batch, position)
            state.update(rb.keys, rb.args, rb.positions)
            position += batch.num_rows
    finally:
        job.source.close()
    return state.partials()


def _check_shape(parsed) -> None:
    if parsed.stages or parsed.value_stages or parsed.stacked or parsed.analytic is not None:
        raise NotSupportedError("run_on_dask runs one aggregation: subqueries that run first, set "
                                "operations, grouping sets and window functions are not supported "
                                "there (gpuvelo.sql runs them)")


def _check_runnable(job) -> None:
    _check_shape(job.parsed)
    plan = job.plan
    if not plan.is_aggregate or plan.window is not None:
        raise NotSupportedError("run_on_dask runs aggregate queries without a stream WINDOW "
                                "(GROUP BY or aggregates); gpuvelo.sql runs the others")


def _stream(tables: dict, name: str) -> tuple[str, Any]:
    for key, value in tables.items():
        if key.lower() == name.lower():
            return key, value
    raise DataError(f"the query reads from '{name}', but no table of that name was given "
                    f"(tables: {', '.join(tables) or 'none'})")


def _parts(stream, files_per_task: int) -> list:
    """The stream's parts: lists of file paths (``files_per_task`` each), or Arrow tables."""
    from ..io.sources import files_of

    if isinstance(stream, (list, tuple)) and stream and all(
            isinstance(s, (pa.Table, pa.RecordBatch)) for s in stream):
        return list(stream)
    if isinstance(stream, (str, Path, list, tuple)):
        files = files_of(stream if isinstance(stream, (list, tuple)) else str(stream))
    else:
        raise DataError("run_on_dask splits its stream into parts: pass files (a path, glob, "
                        f"directory or list of paths) or a list of Arrow tables, not a "
                        f"{type(stream).__name__}")
    if not files:
        raise DataError(f"{stream}: no files to read")
    step = max(1, int(files_per_task))
    return [[str(f) for f in files[i:i + step]] for i in range(0, len(files), step)]


def _source(part):
    """A gpuvelo source for one part (files: read one after the other)."""
    from ..io import path_source

    if isinstance(part, (pa.Table, pa.RecordBatch)):
        return part
    return path_source(part if len(part) > 1 else part[0])


__all__ = ["run_on_dask", "partials_of"]
