"""The logical plan: plain, typed dataclasses (no arrays) that every later stage reads.

A query becomes one :class:`QueryPlan`. Expressions are trees of :class:`Expr` nodes, each
carrying its result :class:`~gpuvelo.types.DType`. Two families of expressions exist:

* *row expressions* (WHERE, GROUP BY keys, aggregate arguments, stateless projections)
  reference input columns with :class:`ColumnRef`;
* *result expressions* (the SELECT list, HAVING and ORDER BY of an aggregate query)
  reference the group keys with :class:`KeyRef` and aggregate results with :class:`AggRef`
  (and window bounds with :class:`WindowRef`), never input columns.

Function names used in :class:`Call` (``op``) -- the complete list the expression compiler
implements, with SQL semantics (NULL in, NULL out unless stated):

arithmetic  ``add sub mul div mod neg``  (``div`` of two integers is float division, as DuckDB)
comparison  ``eq ne lt le gt ge``  (strings compare by code point)
logic       ``and or not``  (three-valued: FALSE AND NULL = FALSE, TRUE OR NULL = TRUE)
null tests  ``is_null is_not_null`` (never NULL)
membership  ``in`` (args[0] IN args[1:]; NULL if no match and any NULL in the list),
            ``between`` (args: value, low, high; inclusive)
strings     ``like``  (args: value, pattern literal; ``%`` and ``_``), ``lower upper length``
functions   ``coalesce nullif abs round floor ceil`` (``round`` takes an optional digits literal)
conditional :class:`Case`; conversion :class:`Cast`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import DType


# --------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Expr:
    """Base class of plan expressions; ``dtype`` is the result type."""

    dtype: DType


@dataclass(frozen=True)
class ColumnRef(Expr):
    """An input column, by name (as in the source schema)."""

    name: str


@dataclass(frozen=True)
class Literal(Expr):
    """A constant. ``value`` is a Python value: None, bool, int, float, str, decimal.Decimal,
    datetime.datetime / datetime.date for temporal literals."""

    value: Any


@dataclass(frozen=True)
class Call(Expr):
    """A scalar function or operator applied to arguments; see the module docstring for ``op``."""

    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Case(Expr):
    """``CASE WHEN c1 THEN v1 ... ELSE e END``; ``else_`` is a NULL Literal when absent."""

    whens: tuple[tuple[Expr, Expr], ...]
    else_: Expr


@dataclass(frozen=True)
class Cast(Expr):
    """``CAST(arg AS dtype)``; ``safe``: ``TRY_CAST``, NULL where the value does not convert."""

    arg: Expr
    safe: bool = False


@dataclass(frozen=True)
class KeyRef(Expr):
    """In result expressions: the i-th GROUP BY key of the group."""

    index: int


@dataclass(frozen=True)
class AggRef(Expr):
    """In result expressions: the final value of the j-th aggregate of the group."""

    index: int


@dataclass(frozen=True)
class WindowRef(Expr):
    """In result expressions: the window bound, ``which`` is 'start' or 'end'."""

    which: str


# --------------------------------------------------------------------------- aggregates
AGG_FUNCS = ("count_star", "count", "count_distinct", "sum_distinct", "avg_distinct", "sum", "avg", "min", "max",
             "stddev_samp", "stddev_pop", "var_samp", "var_pop", "first", "last", "any_value",
             "quantile_cont", "quantile_disc", "arg_max", "arg_min", "string_agg", "mode", "list",
             "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2",
             "regr_count", "regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy")


@dataclass(frozen=True)
class AggCall:
    """One aggregate of the query. ``func`` is one of :data:`AGG_FUNCS`; ``arg`` is a row
    expression (None for count_star); ``dtype`` the SQL result type:

    count_star/count/count_distinct -> INT64; sum (and sum_distinct) of ints -> INT64, of
    decimals -> DECIMAL(38, s),
    of floats -> FLOAT64; avg/stddev/var -> FLOAT64; min/max/first/last/any_value -> the
    argument's type. ``any_value`` is the first non-NULL value in arrival order (DuckDB's).
    ``quantile_cont`` / ``quantile_disc`` (MEDIAN is quantile_cont at 1/2) take the fraction
    ``param`` (exact); see ``backends/quantiles.py`` for their rules and result types.
    ``arg_max(arg, arg2)`` / ``arg_min``: ``arg`` of the row with the largest / smallest
    ``arg2`` among rows where both are non-NULL (ties: the earliest row), ``arg``'s type.
    ``string_agg``: the non-NULL strings joined, ``param`` = (separator, order: None for
    arrival order or 'asc'/'desc' by value, distinct: bool) -> STRING. ``mode``: the most
    frequent non-NULL value (ties: the one seen first), ``arg``'s type. ``corr``, ``covar_*``
    and ``regr_*`` of (``arg``, ``arg2``) -- ``regr_*(y, x)`` -- over rows where both are
    non-NULL -> FLOAT64 (``regr_count`` -> INT64); see ``backends/comoments.py``.
    ``list`` (LIST / ARRAY_AGG): every value of the group's rows that ``filter`` (FILTER
    (WHERE ...); None: every row) keeps, NULLs included -> ``types.list_of(arg's type)``, an
    output-only type; ``param`` = (order: None for arrival order, or 'asc'/'desc' by
    ``arg2`` -- the ORDER BY expression -- or by the value itself when ``arg2`` is None,
    nulls_first: bool, distinct: bool); see ``backends/list_aggs.py``.
    """

    func: str
    arg: Expr | None
    dtype: DType
    sql: str = ""   # the aggregate's text in the query, for messages and default names
    param: Any = None   # quantile_cont / quantile_disc: the quantile (Fraction); string_agg: see above
    arg2: Expr | None = None        # the ordering argument of arg_max / arg_min / list
    filter: Expr | None = None      # list: FILTER (WHERE ...), the rows it keeps


# --------------------------------------------------------------------------- joins
@dataclass(frozen=True)
class JoinSpec:
    """One join of FROM's chain ``FROM s [AS a] [INNER | LEFT | RIGHT | FULL | SEMI | ANTI]
    JOIN table [AS b] ON a.x = b.y [AND ...]`` (or ``USING (x, ...)``, or ``CROSS JOIN``): the
    rows so far (the stream, enriched by the joins before this one) joined with the rows of
    a finite source ``table``, read whole first (RIGHT / FULL: its rows no left row matched
    come after the stream ends; SEMI / ANTI only keep or drop the rows so far). Keys come
    in pairs: ``left_keys`` are (alias, column) of the stream or an earlier join -- alias
    '' for a USING key, the rows' column of that name -- and ``right_keys`` the right
    side's columns; with ``using`` the right side's key columns are not repeated in the
    joined rows. A cross join has no keys."""

    table: str
    alias: str                 # the right side's name in the query (its alias or table name)
    kind: str                  # 'inner', 'left', 'right', 'full', 'semi', 'anti' or 'cross'
    left_keys: tuple[tuple[str, str], ...] = ()
    right_keys: tuple[str, ...] = ()
    using: bool = False
    # ASOF joins ('asof', 'asof_left'): the last key pair is the inequality ``left op right``
    asof_op: str | None = None


# --------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class WindowSpec:
    """A window clause. Durations are in milliseconds.

    kind: 'tumbling' | 'hopping' | 'session'; ``advance_ms`` only for hopping, ``gap_ms`` only
    for session; ``time_column`` may be None when the job names the event-time column;
    ``grace_ms`` from ksqlDB's GRACE PERIOD (None when not given).
    """

    kind: str
    time_column: str | None
    size_ms: int | None = None
    advance_ms: int | None = None
    gap_ms: int | None = None
    grace_ms: int | None = None


# --------------------------------------------------------------------------- the query
@dataclass(frozen=True)
class OutputColumn:
    """One column of the query's result: its name and its (row or result) expression."""

    name: str
    expr: Expr


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY item, as an expression over the query's *output* columns' expressions
    (result expressions for aggregate queries, row expressions for stateless ones)."""

    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None   # None: DuckDB's default, NULLS LAST for ASC and DESC alike


@dataclass(frozen=True)
class QueryPlan:
    """A planned query.

    * ``source``: the FROM table name; ``schema``: its columns, name -> DType, in order.
    * ``where``: row expression of type BOOL, or None.
    * ``group_keys``: row expressions; ``key_names``: a display name for each.
    * ``aggregates``: the distinct aggregate calls; result expressions refer to them by index.
    * ``outputs``: the SELECT list (result expressions when ``is_aggregate``, else row
      expressions). ``having`` is a result expression.
    * ``is_aggregate``: the query has GROUP BY or aggregates; otherwise it is stateless
      (filter/project) and emits every input row that passes WHERE.
    * ``emit``: 'changes' or 'final'; ``emit_explicit`` tells whether the query said so.
    * ``output_name``: the name of CREATE STREAM/TABLE, else None.
    """

    sql: str
    source: str
    schema: dict[str, DType]
    where: Expr | None
    group_keys: tuple[Expr, ...]
    key_names: tuple[str, ...]
    aggregates: tuple[AggCall, ...]
    outputs: tuple[OutputColumn, ...]
    having: Expr | None
    order_by: tuple[OrderKey, ...]
    limit: int | None
    is_aggregate: bool
    emit: str
    emit_explicit: bool = False
    window: WindowSpec | None = None
    output_name: str | None = None
    offset: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)   # for EXPLAIN
    limit_percent: float | None = None   # LIMIT p PERCENT: floor(rows * p / 100) of all rows
