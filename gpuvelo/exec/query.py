"""A planned query compiled for one backend: the per-batch row stage and the result stage.

Row stage (on the backend, vectorised): decode the referenced columns, WHERE, the GROUP BY key
expressions and the aggregate arguments. Result stage (on the host, over finalized groups):
HAVING, the SELECT list, ORDER BY and LIMIT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..columns import Col, ColPair, ListArg
from ..errors import SchemaMismatchError
from ..expr import compile_expr, compile_predicate
from ..sql import plan as P
from ..backends.protocol import AggSlot, StateSpec
from ..arrowcol import arrow_to_col, col_to_arrow
from ..backends.partials import agg_name, key_name


def column_at(batch: pa.RecordBatch, name: str, by_lower: dict[str, str]) -> pa.Array:
    """The column ``name`` of ``batch`` (``by_lower``: its names by lower case); a name the
    batch does not have is a STRUCT field read as a column (``user.country``, the planner's
    ``struct_field``): the field of the struct column, NULL where the struct is."""
    if name.lower() in by_lower or "." not in name:
        return batch.column(by_lower.get(name.lower(), name))
    head, *fields = name.split(".")
    col = batch.column(by_lower.get(head.lower(), head))
    for field in fields:
        col = pc.struct_field(col, field)
    return col


def needed_columns(columns) -> list[str]:
    """The source columns to read for the query's ``columns``: STRUCT fields need their
    struct (``user.country`` -> ``user``)."""
    out = list(columns)
    out += [n.split(".")[0] for n in columns if "." in n]
    return out


def referenced_columns(plan: P.QueryPlan) -> list[str]:
    """Input columns the query reads, in schema order."""
    names: set[str] = set()

    def walk(e):
        if isinstance(e, P.ColumnRef):
            names.add(e.name)
        elif isinstance(e, P.Call):
            for a in e.args:
                walk(a)
        elif isinstance(e, P.Case):
            for c, v in e.whens:
                walk(c)
                walk(v)
            walk(e.else_)
        elif isinstance(e, P.Cast):
            walk(e.arg)

    for e in [plan.where, *plan.group_keys, *(a.arg for a in plan.aggregates),
              *(a.arg2 for a in plan.aggregates), *(a.filter for a in plan.aggregates)]:
        if e is not None:
            walk(e)
    if not plan.is_aggregate:
        for o in plan.outputs:
            walk(o.expr)
        for k in plan.order_by:
            walk(k.expr)
    if plan.window is not None and plan.window.time_column:
        names.add(plan.window.time_column)
    return [n for n in plan.schema if n in names]


def _direct_columns(plan: P.QueryPlan) -> tuple[list[str], list[str]] | None:
    """(result names, finalized columns) when an aggregate query's result columns (ORDER BY
    keys too) are all plain group keys or aggregates and there is no HAVING: the result is
    then the finalized table's columns, renamed, with nothing to evaluate."""
    if not plan.is_aggregate or plan.having is not None:
        return None
    names = [o.name for o in plan.outputs] + [f"__order{i}" for i in range(len(plan.order_by))]
    picked = []
    for e in [o.expr for o in plan.outputs] + [k.expr for k in plan.order_by]:
        if isinstance(e, P.KeyRef):
            picked.append(key_name(e.index))
        elif isinstance(e, P.AggRef):
            picked.append(agg_name(e.index))
        else:
            return None
    return names, picked


def _compile_args(a: P.AggCall, xp):
    """The compiled argument of an aggregate: None (COUNT(*)), ``f(cols, n) -> Col``, or for
    two-argument aggregates ``f(cols, n) -> ColPair``, for LIST ``f(cols, n) -> ListArg``."""
    if a.arg is None:
        return None
    f = compile_expr(a.arg, xp)
    if a.func == "list":
        g = None if a.arg2 is None else compile_expr(a.arg2, xp)
        keep = None if a.filter is None else compile_predicate(a.filter, xp)
        return lambda cols, n=None: ListArg(f(cols, n), None if g is None else g(cols, n),
                                            None if keep is None else keep(cols, n))
    if a.arg2 is None:
        return f
    g = compile_expr(a.arg2, xp)
    return lambda cols, n=None: ColPair(f(cols, n), g(cols, n))


@dataclass
class RowBatch:
    """One input batch after the row stage: the rows that passed WHERE."""

    keys: list[Col]
    args: list[Col | None]
    positions: Any            # int64 arrival positions (backend namespace)
    rows_in: int
    rows_out: int
    extra: dict[str, Col] | None = None   # columns a window assigner or stateless query needs


class CompiledQuery:
    """The plan compiled for ``backend``; see the module docstring."""

    def __init__(self, plan: P.QueryPlan, backend):
        self.plan = plan
        self.backend = backend
        xp = backend.xp
        self.columns = referenced_columns(plan)
        self.read_schema = {n: plan.schema[n] for n in self.columns}
        self.where = compile_predicate(plan.where, xp) if plan.where is not None else None
        self.keys = [compile_expr(k, xp) for k in plan.group_keys]
        self.args = [_compile_args(a, xp) for a in plan.aggregates]
        first_of: dict = {}
        self._arg_first = [first_of.setdefault((a.arg, a.arg2, a.func == "list", a.filter), i)
                           if a.arg is not None else i for i, a in enumerate(plan.aggregates)]
        self.spec = StateSpec(tuple(k.dtype for k in plan.group_keys),
                              tuple(AggSlot(a.func, a.arg.dtype if a.arg is not None else None, a.dtype,
                                            a.param, a.arg2.dtype if a.arg2 is not None else None)
                                    for a in plan.aggregates))
        # result stage, always on the host
        row_xp = xp if not plan.is_aggregate else np
        self.outputs = [compile_expr(o.expr, row_xp) for o in plan.outputs]
        self.having = compile_predicate(plan.having, np) if plan.having is not None else None
        self.order = [compile_expr(k.expr, row_xp) for k in plan.order_by]
        self._direct = _direct_columns(plan)
        self._schema_seen: pa.Schema | None = None

    # ------------------------------------------------------------------ row stage
    def check_schema(self, batch: pa.RecordBatch, source: str, batch_no: int) -> None:
        """Raise SchemaMismatchError when ``batch`` does not match the source's schema."""
        if self._schema_seen is None:
            self._schema_seen = batch.schema
            return
        if batch.schema.equals(self._schema_seen):
            return
        have = {f.name: f.type for f in batch.schema}
        for f in self._schema_seen:
            if f.name not in have:
                raise SchemaMismatchError(
                    f"source '{source}', batch {batch_no}: column '{f.name}' is missing "
                    f"(the first batch had it as {f.type})")
            if have[f.name] != f.type:
                raise SchemaMismatchError(
                    f"source '{source}', batch {batch_no}: column '{f.name}' has type "
                    f"{have[f.name]}, but the first batch had {f.type}")
        extra = [n for n in have if n not in {f.name for f in self._schema_seen}]
        if extra:
            raise SchemaMismatchError(
                f"source '{source}', batch {batch_no}: unexpected column '{extra[0]}' "
                f"(not in the first batch)")

    def decode(self, batch: pa.RecordBatch) -> dict[str, Col]:
        """The referenced columns of ``batch`` on the backend (case-insensitive lookup)."""
        by_lower = {n.lower(): n for n in batch.schema.names}
        picked = pa.RecordBatch.from_arrays(
            [column_at(batch, n, by_lower) for n in self.columns], names=self.columns) \
            if self.columns else batch
        return self.backend.to_device(picked, self.read_schema)

    def row_stage(self, batch: pa.RecordBatch, first_position: int) -> RowBatch:
        """WHERE, keys and aggregate arguments of one batch."""
        xp = self.backend.xp
        n = batch.num_rows
        cols = self.decode(batch)
        positions = xp.arange(first_position, first_position + n, dtype=xp.int64)
        if self.where is not None:
            mask = self.where(cols, n)
            keep = int(mask.sum())
            if keep < n:
                cols = {k: c.take(mask) for k, c in cols.items()}
                positions = positions[mask]
        else:
            keep = n
        if not self.plan.is_aggregate:
            return RowBatch([], [], positions, n, keep, extra=cols)
        keys = [f(cols, keep) for f in self.keys]
        values: dict[int, Col] = {}     # per call: row_stage runs on several threads
        args = [self._arg(f, cols, keep, i, values) for i, f in enumerate(self.args)]
        window = self.plan.window
        extra = {window.time_column: cols[window.time_column]} \
            if window is not None and window.time_column in cols else None
        return RowBatch(keys, args, positions, n, keep, extra=extra)

    def _arg(self, f, cols, n: int, i, values: dict):
        """Evaluate aggregate argument i, once per distinct argument expression, so
        aggregates over the same expression share one Col (and its Arrow arrays)."""
        if f is None:
            return None
        first = self._arg_first[i]
        if first not in values:
            values[first] = f(cols, n)
        return values[first]

    # ------------------------------------------------------------------ result stage
    def result_columns(self, finalized: pa.Table) -> dict[str, Col]:
        """Finalized groups (k0.., a0..) as host Cols for the result expressions."""
        cols: dict[str, Col] = {}
        for i, d in enumerate(self.spec.key_dtypes):
            cols[key_name(i)] = arrow_to_col(finalized.column(key_name(i)), d)
        for j, a in enumerate(self.plan.aggregates):
            cols[agg_name(j)] = arrow_to_col(finalized.column(agg_name(j)), a.dtype)
        for name in ("window_start", "window_end"):
            if name in finalized.column_names:
                cols[name] = arrow_to_col(finalized.column(name),
                                          T.from_arrow(finalized.schema.field(name).type))
        return cols

    def project(self, cols: dict[str, Col], n: int, *, with_order: bool = False) -> pa.Table:
        """Evaluate the SELECT list (and, with ``with_order``, hidden ORDER BY columns)."""
        arrays = [self._to_arrow(f(cols, n), n) for f in self.outputs]
        names = [o.name for o in self.plan.outputs]
        if with_order:
            arrays += [self._to_arrow(f(cols, n), n) for f in self.order]
            names += [f"__order{i}" for i in range(len(self.order))]
        return pa.Table.from_arrays(arrays, names=names)

    def _to_arrow(self, col: Col, n: int) -> pa.Array:
        if self.backend.xp is not np and not isinstance(col.data, np.ndarray):
            col = Col(self.backend.to_host(col.data),
                      None if col.valid is None else self.backend.to_host(col.valid),
                      col.dtype, col.dictionary)
        if col.data.ndim == 0 or len(col) != n:          # a constant
            data = np.broadcast_to(np.asarray(col.data), (n,)).copy()
            valid = None if col.valid is None else np.broadcast_to(np.asarray(col.valid), (n,)).copy()
            col = Col(data, valid, col.dtype, col.dictionary)
        return col_to_arrow(col)

    def results(self, finalized: pa.Table) -> pa.Table:
        """HAVING and the SELECT list over finalized groups (ORDER BY columns kept hidden)."""
        if self._direct is not None:      # every column is a key or an aggregate, as it is
            names, picked = self._direct
            return pa.Table.from_arrays([finalized.column(c) for c in picked], names=names)
        n = finalized.num_rows
        cols = self.result_columns(finalized)
        if self.having is not None and n:
            mask = self.having(cols, n)
            if not mask.all():
                cols = {k: c.take(mask) for k, c in cols.items()}
                n = int(mask.sum())
        return self.project(cols, n, with_order=True)

    def changes(self, finalized: pa.Table) -> pa.Table:
        """The rows of one EMIT CHANGES emit: HAVING, the SELECT list, then ORDER BY over
        just these rows (LIMIT and OFFSET need the whole result: a Job refuses them)."""
        return self._ordered(self.results(finalized))

    def _ordered(self, table: pa.Table) -> pa.Table:
        """``table`` in ORDER BY order (its hidden ORDER BY columns still in it)."""
        if self.plan.order_by and table.num_rows > 1:
            table = table.take(order_indices(table, self.plan.order_by))
        return table

    def finish(self, table: pa.Table) -> pa.Table:
        """ORDER BY, OFFSET and LIMIT over the complete result, then drop hidden columns."""
        plan = self.plan
        table = self._ordered(table)
        start = plan.offset or 0
        limit = plan.limit
        if plan.limit_percent is not None:      # DuckDB: of all rows, rounded down
            limit = int(table.num_rows * plan.limit_percent // 100)
        if start or limit is not None:
            stop = table.num_rows if limit is None else start + limit
            table = table.slice(start, max(0, stop - start))
        hidden = [n for n in table.column_names if n.startswith("__order")]
        return table.drop_columns(hidden) if hidden else table


def order_indices(table: pa.Table, keys: tuple[P.OrderKey, ...]) -> pa.Array:
    """Stable sort indices for ORDER BY over the hidden ``__order{i}`` columns.

    NULLs sort last unless NULLS FIRST is given (DuckDB's default); NaN sorts above every
    number (DuckDB's rule)."""
    cols, sort_keys = {}, []
    for i, k in enumerate(keys):
        col = table.column(f"__order{i}")
        order = "descending" if k.descending else "ascending"
        nulls_first = bool(k.nulls_first)
        cols[f"n{i}"] = pc.is_null(col)
        sort_keys.append((f"n{i}", "descending" if nulls_first else "ascending"))
        if pa.types.is_floating(col.type):
            cols[f"nan{i}"] = pc.fill_null(pc.is_nan(col), False)
            sort_keys.append((f"nan{i}", order))
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols[f"v{i}"] = col
        sort_keys.append((f"v{i}", order))
    return pc.sort_indices(pa.table(cols), sort_keys=sort_keys)
