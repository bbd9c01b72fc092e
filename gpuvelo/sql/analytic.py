"""Analytic (SQL window) functions -- ``f(...) OVER (PARTITION BY ... ORDER BY ... frame)``
and ``QUALIFY`` -- over the finite result of a query.

Not to be confused with the *stream* windows (``WINDOW TUMBLING/HOPPING/SESSION``,
:mod:`gpuvelo.sql.windows`). Analytic functions need the query's whole result (after WHERE,
GROUP BY and HAVING), so a query that uses them is split in three (:func:`split_analytic`):

1. the INNER query: the same SELECT without the analytic functions, QUALIFY, ORDER BY,
   LIMIT/OFFSET and DISTINCT. It outputs the user's other select items (as written, so
   aliases, GROUP BY aliases and HAVING keep working) and, under hidden names
   ``__gv_a<j>``, every expression the analytic functions and the rest of the query need
   (arguments, PARTITION BY and ORDER BY expressions, the parts of QUALIFY / ORDER BY /
   select items around an analytic function: ``SUM(x)`` in ``SUM(x) / SUM(SUM(x)) OVER ()``).
   It runs as a *stage* (``ParsedQuery.stages``) to the end of its input;
2. the ANALYTIC step (:class:`AnalyticSpec`, computed by :mod:`gpuvelo.exec.analytic` on
   the host): names the inner result's columns (user item ``i`` becomes ``__gv_c<i>``, an
   unaliased plain column keeps its name) and appends one column ``__gv_w<k>`` per
   distinct analytic call; the result is the table ANALYTIC_TABLE;
3. the OUTER query over ANALYTIC_TABLE, an ordinary stateless query: QUALIFY as its
   WHERE, the user's select list (analytic calls replaced by their columns), DISTINCT,
   ORDER BY, LIMIT/OFFSET, the output names as the user wrote them.

Supported: ROW_NUMBER, RANK, DENSE_RANK, PERCENT_RANK, CUME_DIST, NTILE(n), LAG/LEAD(x
[, offset [, default]]), FIRST_VALUE, LAST_VALUE, NTH_VALUE(x, n) (those five also with
IGNORE NULLS), and the aggregates COUNT(*), COUNT, SUM, AVG, MIN, MAX, STDDEV/VARIANCE (and
their _SAMP/_POP forms), BOOL_AND/BOOL_OR, ARG_MAX/ARG_MIN, COUNT(DISTINCT), MEDIAN /
QUANTILE_CONT / QUANTILE_DISC and STRING_AGG over a frame: the defaults, ``ROWS`` and
``GROUPS`` with ``UNBOUNDED PRECEDING`` / ``n PRECEDING`` / ``CURRENT ROW`` / ``n FOLLOWING``
/ ``UNBOUNDED FOLLOWING`` bounds, ``RANGE`` with those and value offsets (numbers, or
INTERVAL literals over DATE / TIMESTAMP / INTERVAL keys), and ``EXCLUDE CURRENT ROW | GROUP
| TIES | NO OTHERS``. Named windows (``WINDOW w AS (...)``, ``OVER w``, ``OVER (w ORDER BY
...)``) too.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from sqlglot import exp

from ..errors import NotSupportedError, PlanError, TypeMismatchError
from .dialect import Gpuvelo
from .functions.temporal import interval_value
from .rewrite import _is_all, _output_name, _plain_call
from .windows import where as _where

ANALYTIC_INPUT = "__gv_analytic_in"   # the stage running the inner query
ANALYTIC_TABLE = "__gv_analytic"      # the inner result with the analytic columns: the outer's source
HIDDEN_PREFIX = "__gv_"

RANKING = {exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank",
           exp.PercentRank: "percent_rank", exp.CumeDist: "cume_dist"}
VALUE = {exp.FirstValue: "first_value", exp.LastValue: "last_value", exp.NthValue: "nth_value",
         exp.Lag: "lag", exp.Lead: "lead"}
AGGREGATES = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
              exp.Stddev: "stddev_samp", exp.StddevSamp: "stddev_samp", exp.StddevPop: "stddev_pop",
              exp.Variance: "var_samp", exp.VariancePop: "var_pop"}   # BOOL_AND/OR: MIN/MAX (rewrite)
QUANTILES = (exp.Median, exp.PercentileCont, exp.PercentileDisc, exp.Quantile)
SUPPORTED = ("ROW_NUMBER, RANK, DENSE_RANK, PERCENT_RANK, CUME_DIST, NTILE, LAG, LEAD, "
             "FIRST_VALUE, LAST_VALUE, NTH_VALUE, COUNT, SUM, AVG, MIN, MAX, STDDEV, VARIANCE, "
             "BOOL_AND, BOOL_OR, ARG_MAX, ARG_MIN, MEDIAN, QUANTILE_CONT, QUANTILE_DISC, STRING_AGG")
FRAMED = ("first_value", "last_value", "nth_value", "count_star", "count", "sum", "avg", "min", "max",
          "stddev_samp", "stddev_pop", "var_samp", "var_pop", "arg_max",
          "arg_min", "count_distinct", "quantile_cont", "quantile_disc", "string_agg")
# framed functions that take one contiguous frame: no EXCLUDE
ONE_RANGE = ("count_distinct", "quantile_cont", "quantile_disc", "string_agg")


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class AnalyticOrder:
    """One ORDER BY key of an OVER clause: a column of the inner result."""

    column: str
    descending: bool = False
    nulls_first: bool = False


@dataclass(frozen=True)
class Frame:
    """A window frame. ``unit`` 'rows', 'groups' or 'range'; ``start``/``end`` are offsets
    from the current row (negative: PRECEDING, 0: CURRENT ROW, positive: FOLLOWING), None
    for UNBOUNDED (PRECEDING for the start, FOLLOWING for the end). ROWS and GROUPS offsets
    are ints (rows, peer groups); RANGE offsets are values added to the row's ORDER BY
    value: an int, a Decimal or a float (a number literal) or a ``datetime.timedelta`` (an
    INTERVAL literal); the int 0 is CURRENT ROW (the row's peers). ``exclude``: None (NO
    OTHERS), 'current row', 'group' or 'ties'."""

    unit: str = "rows"
    start: object = None
    end: object = None
    exclude: str | None = None

    def text(self) -> str:
        """The frame as SQL."""
        def bound(v, unbounded):
            if v is None:
                return unbounded
            if isinstance(v, int) and v == 0:
                return "CURRENT ROW"
            size = abs(v)
            size = f"INTERVAL '{size.total_seconds():g} seconds'" if isinstance(size, _dt.timedelta) else size
            return f"{size} {'PRECEDING' if offset_sign(v) < 0 else 'FOLLOWING'}"
        exclude = f" EXCLUDE {self.exclude.upper()}" if self.exclude else ""
        return (f"{self.unit.upper()} BETWEEN {bound(self.start, 'UNBOUNDED PRECEDING')} "
                f"AND {bound(self.end, 'UNBOUNDED FOLLOWING')}{exclude}")


def offset_sign(v) -> int:
    """-1, 0 or 1: the direction of a frame offset (PRECEDING, CURRENT ROW, FOLLOWING)."""
    zero = _dt.timedelta(0) if isinstance(v, _dt.timedelta) else 0
    return (v > zero) - (v < zero)


WHOLE_PARTITION = Frame("rows", None, None)
UP_TO_PEERS = Frame("range", None, 0)


@dataclass(frozen=True)
class AnalyticCall:
    """One analytic function call over the inner result.

    ``func``: row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
    last_value nth_value count_star count sum avg min max stddev_samp stddev_pop var_samp
    var_pop arg_max arg_min count_distinct quantile_cont quantile_disc
    string_agg. ``arg``: the column of its value argument; ``default``: the column of
    LAG/LEAD's default, or ARG_MAX/ARG_MIN's ordering argument; ``param``: LAG/LEAD's
    offset, NTILE's bucket count, NTH_VALUE's n (None: a NULL literal, so the result is
    NULL), a quantile's fraction (a Fraction), STRING_AGG's separator. ``frame`` applies to
    the functions in FRAMED. ``output``: the column it adds."""

    func: str
    output: str
    sql: str
    arg: str | None = None
    default: str | None = None
    param: object = None
    partition_by: tuple[str, ...] = ()
    order_by: tuple[AnalyticOrder, ...] = ()
    frame: Frame = WHOLE_PARTITION
    ignore_nulls: bool = False
    median: bool = False   # MEDIAN (quantile_cont at 1/2 that keeps a timestamp's unit)

    def text(self) -> str:
        """A readable one-line description (for EXPLAIN)."""
        args = ["*"] if self.func == "count_star" else [self.arg] if self.arg else []
        if self.func in ("lag", "lead", "ntile", "nth_value", "quantile_cont", "quantile_disc"):
            args.append("NULL" if self.param is None else str(self.param))
        if self.func == "string_agg":
            args.append(repr(self.param))
        if self.default:
            args.append(self.default)
        over = []
        if self.partition_by:
            over.append("PARTITION BY " + ", ".join(self.partition_by))
        if self.order_by:
            over.append("ORDER BY " + ", ".join(
                f"{o.column} {'DESC' if o.descending else 'ASC'} "
                f"NULLS {'FIRST' if o.nulls_first else 'LAST'}" for o in self.order_by))
        if self.func in FRAMED:
            over.append(self.frame.text())
        nulls = " IGNORE NULLS" if self.ignore_nulls else ""
        return f"{self.output} = {self.func}({', '.join(args)}{nulls}) OVER ({' '.join(over)})"


@dataclass(frozen=True)
class AnalyticSpec:
    """The analytic step between the inner query (stage ``input``) and the outer query.

    ``columns``: one entry per select item the inner query outputs first (in order): the
    name that item's column gets, or None to keep the inner result's name (an unaliased
    plain column, or all the columns of a ``*``); ``star``: the index of the ``*`` item,
    if any. ``hidden``: how many ``__gv_a<j>`` columns follow them. ``calls``: the
    analytic functions, each appending its ``output`` column. ``window_aliases``: see below."""

    input: str
    columns: tuple[str | None, ...]
    star: int | None
    hidden: int
    calls: tuple[AnalyticCall, ...]
    # names read as the alias of an analytic select item (QUALIFY r <= 3); DuckDB reads a
    # source column of that name instead, so the job rejects a query whose source has one
    window_aliases: tuple[str, ...] = ()


# --------------------------------------------------------------------------- the split
def uses_analytic(select: exp.Select) -> bool:
    """Whether ``select`` (not its subqueries) calls analytic functions or has QUALIFY."""
    parts = list(select.expressions) + [select.args.get(k) for k in ("qualify", "order", "where",
                                                                   "group", "having")]
    return any(p is not None and (isinstance(p, exp.Qualify) or _find_window(p) is not None)
               for p in parts)


def _find_window(node) -> exp.Window | None:
    """The first OVER call in ``node``, not looking into subqueries."""
    for n in node.walk(prune=lambda n: isinstance(n, (exp.Select, exp.Subquery)) and n is not node):
        if isinstance(n, exp.Window):
            return n
    return None


def _hidden_column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


class _Split:
    """The state of one split: the hidden inner outputs and the analytic calls so far."""

    def __init__(self, select: exp.Select, sql: str):
        self.sql = sql
        self.hidden: dict[str, str] = {}          # expression SQL -> hidden name
        self.hidden_items: list[exp.Expression] = []
        self.calls: dict[str, AnalyticCall] = {}  # OVER call SQL -> its call
        self.named = {w.this.name.lower(): w for w in select.args.get("windows") or []}
        self.window_aliases = {i.alias.lower(): i.this for i in select.expressions
                               if isinstance(i, exp.Alias) and _find_window(i.this) is not None}
        self.aliases_used: set[str] = set()      # window aliases read as such (not as columns)

    def fail(self, cls, message: str, node):
        raise cls(message, **_where(node, self.sql))

    # -------------------------------------------------------------- inner outputs
    def hide(self, node) -> str:
        """The hidden inner output computing ``node`` (one per distinct expression)."""
        window = _find_window(node)
        if window is not None:
            self.fail(NotSupportedError, "window functions inside window functions, their "
                      f"arguments or OVER clauses are not supported: {window.sql(dialect=Gpuvelo)}", window)
        key = node.sql(dialect=Gpuvelo)
        if key not in self.hidden:
            name = f"{HIDDEN_PREFIX}a{len(self.hidden)}"
            self.hidden[key] = name
            self.hidden_items.append(exp.alias_(node.copy(), name, quoted=True))
        return self.hidden[key]

    def with_window_aliases(self, node):
        """``node`` with names of select items that are analytic (``QUALIFY r <= 3``)
        replaced by those items' expressions (not inside OVER calls and subqueries)."""
        node = node.copy()
        stop = (exp.Window, exp.Select, exp.Subquery)
        names = [n for n in node.walk(prune=lambda n: isinstance(n, stop))
                 if isinstance(n, exp.Column) and not n.table and n.name.lower() in self.window_aliases]
        for n in names:
            self.aliases_used.add(n.name)
            window = self.window_aliases[n.name.lower()].copy()
            if n is node:
                return window
            n.replace(window)
        return node

    def outer(self, node) -> exp.Expression:
        """``node`` for the outer query: OVER calls become their analytic columns, and the
        largest parts around them that read data become hidden inner outputs."""
        def swap(n):
            if isinstance(n, exp.Window):
                return _hidden_column(self.call(n))
            if _reads_data(n) and _find_window(n) is None and not isinstance(n, _STRUCTURAL):
                return _hidden_column(self.hide(n))
            return n
        return self.with_window_aliases(node).transform(swap)

    # -------------------------------------------------------------- OVER calls
    def call(self, node: exp.Window) -> str:
        """The analytic column of one OVER call (one per distinct call)."""
        key = node.sql(dialect=Gpuvelo)
        if key in self.calls:
            return self.calls[key].output
        if node.args.get("within_group") or node.args.get("first"):
            self.fail(NotSupportedError, f"this OVER form is not supported: {key}", node)
        fn, ignore_nulls = node.this, False
        if isinstance(fn, (exp.IgnoreNulls, exp.RespectNulls)):
            ignore_nulls, fn = isinstance(fn, exp.IgnoreNulls), fn.this
        fn = fn.transform(_plain_call)
        partition, order, spec = self.over(node)
        order_by = tuple(self.order_key(o) for o in order)
        call = self.function(fn, node, ignore_nulls)
        # ranking and offset functions ignore the frame, as in DuckDB
        frame = self.frame(spec, len(order_by), node) if call["func"] in FRAMED else WHOLE_PARTITION
        if frame.exclude and call["func"] in ONE_RANGE:
            self.fail(NotSupportedError, f"EXCLUDE is not supported with {call['func'].upper()} "
                      f"over a window: {key}", node)
        out = AnalyticCall(**call, output=f"{HIDDEN_PREFIX}w{len(self.calls)}", sql=key,
                           partition_by=tuple(self.hide(p) for p in partition),
                           order_by=order_by, frame=frame)
        self.calls[key] = out
        return out.output

    def over(self, node: exp.Window) -> tuple[list, list, exp.WindowSpec | None]:
        """(PARTITION BY expressions, ORDER BY keys, frame spec) of an OVER clause, a
        named window's merged in (``OVER w`` / ``OVER (w ORDER BY ...)``)."""
        partition = list(node.args.get("partition_by") or [])
        order = list(node.args["order"].expressions) if node.args.get("order") else []
        spec = node.args.get("spec")
        alias = node.args.get("alias")
        if alias is None:
            return partition, order, spec
        base = self.named.get(alias.name.lower())
        if base is None:
            self.fail(PlanError, f"window '{alias.name}' is not defined (WINDOW {alias.name} AS (...))", node)
        base_order = list(base.args["order"].expressions) if base.args.get("order") else []
        if partition:
            self.fail(PlanError, f"cannot override the PARTITION BY of window '{alias.name}'", node)
        if order and base_order:
            self.fail(PlanError, f"cannot override the ORDER BY of window '{alias.name}'", node)
        if base.args.get("spec") is not None:
            # OVER w takes w's frame; OVER (w ...) cannot copy a window with a frame (DuckDB)
            if any(k in node.args for k in ("partition_by", "order", "spec")):
                self.fail(PlanError, f"cannot copy window '{alias.name}' because it has a frame "
                          f"clause: write OVER {alias.name}, or move the frame out of the WINDOW "
                          f"clause", node)
            spec = base.args["spec"]
        return list(base.args.get("partition_by") or []), order or base_order, spec

    def order_key(self, o: exp.Ordered) -> AnalyticOrder:
        return AnalyticOrder(self.hide(o.this), bool(o.args.get("desc")),
                             bool(o.args.get("nulls_first")))

    def function(self, fn, node, ignore_nulls: bool) -> dict:
        """func / arg / default / param / ignore_nulls of the function called OVER."""
        text = node.sql(dialect=Gpuvelo)
        kind = type(fn)
        if kind in VALUE:
            return {**self.value_function(fn, node), "ignore_nulls": ignore_nulls}
        if ignore_nulls:
            self.fail(NotSupportedError, "IGNORE NULLS is supported with LAG, LEAD, FIRST_VALUE, "
                      f"LAST_VALUE and NTH_VALUE: {text}", node)
        if kind is exp.Ntile:
            if fn.this is None:
                self.fail(PlanError, f"NTILE needs the number of buckets: {text}", node)
            return {"func": "ntile", "param": self.int_param(fn.this, "NTILE's bucket count", node, 1)}
        if kind in RANKING:
            if any(fn.args.values()):
                self.fail(PlanError, f"{RANKING[kind].upper()} takes no arguments: {text}", node)
            return {"func": RANKING[kind]}
        if kind in AGGREGATES:
            return self.aggregate(fn, node)
        if kind in (exp.ArgMax, exp.ArgMin):
            if fn.expression is None or fn.args.get("count") is not None:
                self.fail(NotSupportedError, f"ARG_MAX / ARG_MIN over a window take two arguments "
                          f"(value, ordering): {text}", node)
            return {"func": "arg_max" if kind is exp.ArgMax else "arg_min", "arg": self.hide(fn.this),
                    "default": self.hide(fn.expression)}
        if isinstance(fn, QUANTILES) and not isinstance(fn, exp.ApproxQuantile):
            return self.quantile(fn, node)
        if kind is exp.GroupConcat:
            return self.string_agg(fn, node)
        name = fn.sql(dialect=Gpuvelo, normalize_functions="upper").split("(")[0]
        self.fail(NotSupportedError, f"{name} is not supported over a window (OVER works with "
                  f"{SUPPORTED}): {text}", node)

    def value_function(self, fn, node) -> dict:
        """LAG / LEAD (value, offset, default), FIRST_VALUE / LAST_VALUE, NTH_VALUE (value, n)."""
        kind = type(fn)
        if fn.this is None:
            self.fail(PlanError, f"{VALUE[kind].upper()} needs an argument: "
                      f"{node.sql(dialect=Gpuvelo)}", node)
        out = {"func": VALUE[kind], "arg": self.hide(fn.this)}
        if kind in (exp.Lag, exp.Lead):
            offset = fn.args.get("offset")
            out["param"] = 1 if offset is None else self.int_param(offset, "the offset", node)
            if fn.args.get("default") is not None:
                out["default"] = self.hide(fn.args["default"])
        elif kind is exp.NthValue:
            out["param"] = self.int_param(fn.args.get("offset"), "NTH_VALUE's n", node)
        return out

    def aggregate(self, fn, node) -> dict:
        """COUNT(*) / COUNT / SUM / AVG / MIN / MAX / STDDEV / VARIANCE of one argument (BOOL_AND /
        BOOL_OR arrive as MIN / MAX); DISTINCT in COUNT (and MIN / MAX: it changes nothing)."""
        text, arg = node.sql(dialect=Gpuvelo), fn.this
        if isinstance(arg, exp.Distinct):
            func = AGGREGATES[type(fn)]
            if len(arg.expressions) != 1 or func not in ("count", "min", "max"):
                self.fail(NotSupportedError, f"DISTINCT in an aggregate over a window is supported "
                          f"in COUNT, MIN and MAX of one argument: {text}", node)
            return {"func": "count_distinct" if func == "count" else func,
                    "arg": self.hide(arg.expressions[0])}
        if isinstance(fn, exp.Count) and (arg is None or isinstance(arg, exp.Star)):
            return {"func": "count_star"}       # COUNT() is COUNT(*) in DuckDB
        extra = [k for k, v in fn.args.items() if v and k not in ("this", "big_int")]
        if extra or arg is None:
            self.fail(PlanError, f"{AGGREGATES[type(fn)].upper()} over a window takes one "
                      f"argument: {text}", node)
        return {"func": AGGREGATES[type(fn)], "arg": self.hide(arg)}

    def quantile(self, fn, node) -> dict:
        """MEDIAN(x) / QUANTILE_CONT(x, q) / QUANTILE_DISC(x, q) / QUANTILE(x, q) (discrete)."""
        if isinstance(fn, exp.Median):
            return {"func": "quantile_cont", "arg": self.hide(fn.this), "param": Fraction(1, 2),
                    "median": True}
        q_node = fn.args.get("quantile") or fn.args.get("expression")
        q = _number_literal(q_node) if q_node is not None else None
        if not isinstance(q, (int, Decimal)) or not 0 <= q <= 1:
            self.fail(NotSupportedError, "a quantile over a window needs one fraction: a number "
                      f"literal between 0 and 1: {node.sql(dialect=Gpuvelo)}", node)
        func = "quantile_cont" if isinstance(fn, exp.PercentileCont) else "quantile_disc"
        return {"func": func, "arg": self.hide(fn.this), "param": Fraction(q)}

    def string_agg(self, fn, node) -> dict:
        """STRING_AGG(x[, separator]) (no DISTINCT or ORDER BY inside)."""
        sep = fn.args.get("separator")
        if isinstance(fn.this, (exp.Order, exp.Distinct)) or not (
                sep is None or isinstance(sep, exp.Literal) and sep.is_string):
            self.fail(NotSupportedError, "STRING_AGG over a window takes a value and a string "
                      "literal separator (no DISTINCT or ORDER BY inside): "
                      f"{node.sql(dialect=Gpuvelo)}", node)
        return {"func": "string_agg", "arg": self.hide(fn.this), "param": "," if sep is None else sep.this}

    def int_param(self, node, what: str, where_node, least: int | None = None) -> int | None:
        """An integer literal argument (None for NULL); ``least``: its smallest allowed value."""
        value = _int_literal(node)
        if value is _NOT_INT:
            self.fail(NotSupportedError, f"{what} must be an integer literal: "
                      f"{where_node.sql(dialect=Gpuvelo)}", where_node)
        if value is not None and least is not None and value < least:
            self.fail(PlanError, f"{what} must be at least {least}: {where_node.sql(dialect=Gpuvelo)}",
                      where_node)
        return value

    def frame(self, spec, order_keys: int, node) -> Frame:
        """The frame of an OVER clause (the default when it names none)."""
        if spec is None:
            return UP_TO_PEERS if order_keys else WHOLE_PARTITION
        text = node.sql(dialect=Gpuvelo)
        unit = (spec.args.get("kind") or "").upper()
        if unit not in ("ROWS", "RANGE", "GROUPS"):
            self.fail(NotSupportedError, f"{unit} frames are not supported (ROWS, RANGE and GROUPS "
                      f"are): {text}", node)
        exclude = spec.args.get("exclude")
        exclude = None if exclude is None or exclude.name.upper() == "NO OTHERS" else exclude.name.lower()
        if exclude not in (None, "current row", "group", "ties"):
            self.fail(NotSupportedError, f"EXCLUDE {exclude.upper()} is not supported: {text}", node)
        end_node = spec.args.get("end")
        sides = [self.side(spec.args.get("start"), spec.args.get("start_side")),
                 "CURRENT" if end_node is None else self.side(end_node, spec.args.get("end_side"))]
        if sides[0] == "UNBOUNDED FOLLOWING":
            self.fail(PlanError, f"a frame cannot start at UNBOUNDED FOLLOWING: {text}", node)
        if sides[1] == "UNBOUNDED PRECEDING":
            self.fail(PlanError, f"a frame cannot end at UNBOUNDED PRECEDING: {text}", node)
        if sides[0] in ("CURRENT", "FOLLOWING") and sides[1] == "PRECEDING" or \
                sides[0] == "FOLLOWING" and sides[1] == "CURRENT":
            self.fail(PlanError, f"a frame starting at the current or a following row cannot end "
                      f"before it: {text}", node)
        start = self.bound(spec.args.get("start"), sides[0], unit, node)
        end = 0 if end_node is None else self.bound(end_node, sides[1], unit, node)
        offsets = [b for b in (start, end) if b is not None and not (isinstance(b, int) and b == 0)]
        if unit == "RANGE" and offsets and order_keys != 1:
            self.fail(PlanError, f"a RANGE frame with an offset needs exactly one ORDER BY "
                      f"expression: {text}", node)
        return Frame(unit.lower(), start, end, exclude)

    @staticmethod
    def side(value, side) -> str:
        """PRECEDING, FOLLOWING, CURRENT, UNBOUNDED PRECEDING or UNBOUNDED FOLLOWING."""
        side = (side or "").upper()
        if isinstance(value, str) and value.upper() == "CURRENT ROW":
            return "CURRENT"
        if isinstance(value, str) and value.upper() == "UNBOUNDED":
            return f"UNBOUNDED {side}"
        return side

    def bound(self, value, side: str, unit: str, node):
        """One frame bound: a signed offset (see :class:`Frame`), None for UNBOUNDED."""
        if side.startswith("UNBOUNDED"):
            return None
        if side == "CURRENT":
            return 0
        size = self.offset(value, unit, node)
        return -size if side == "PRECEDING" else size

    def offset(self, value, unit: str, node):
        """The size of an offset: a non-negative literal (ROWS / GROUPS: an integer, a
        decimal rounded as DuckDB rounds it; RANGE: a number or an INTERVAL)."""
        text = node.sql(dialect=Gpuvelo)
        if isinstance(value, exp.Null):
            self.fail(PlanError, f"a frame offset cannot be NULL: {text}", node)
        found = interval_value(value) if isinstance(value, (exp.Interval, exp.Cast, exp.Add)) else None
        if found is not None:
            if unit != "RANGE":
                self.fail(TypeMismatchError, f"a {unit} frame offset is a number of "
                          f"{'rows' if unit == 'ROWS' else 'peer groups'}, not an INTERVAL: {text}", node)
            if found[1]:
                self.fail(NotSupportedError, f"a RANGE offset with months is not supported (months "
                          f"have no fixed length): {text}", node)
            return _dt.timedelta(microseconds=found[2])
        n = _number_literal(value)
        if n is None or n < 0:
            self.fail(NotSupportedError, "a frame offset must be a non-negative number or INTERVAL "
                      f"literal: {text}", node)
        if unit == "RANGE":
            return n
        if isinstance(n, float):
            self.fail(NotSupportedError, f"a {unit} frame offset must be an integer or decimal "
                      f"literal: {text}", node)
        return int(Decimal(n).to_integral_value(ROUND_HALF_UP))   # DuckDB's cast rounds


def _number_literal(node):
    """The value of a number literal: int, Decimal, or float (scientific notation, DOUBLE in
    DuckDB); None when ``node`` is none."""
    sign, node = (-1, node.this) if isinstance(node, exp.Neg) else (1, node)
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    text = node.this
    try:
        value = float(text) if "e" in text.lower() else int(text) if text.isdigit() else Decimal(text)
    except (ValueError, InvalidOperation):
        return None
    return sign * value


_NOT_INT = object()
# nodes that read data but are not values of their own (CASE's WHEN branches)
_STRUCTURAL = (exp.If, exp.Ordered, exp.Order, exp.Where, exp.Distinct)


def _int_literal(node):
    """The integer value of an integer literal node (``-1`` too), None for NULL, else _NOT_INT."""
    if isinstance(node, exp.Null):
        return None
    sign = 1
    if isinstance(node, exp.Neg):
        sign, node = -1, node.this
    if isinstance(node, exp.Paren):
        return _int_literal(node.this)
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return sign * int(node.this)
    return _NOT_INT


def _reads_data(node) -> bool:
    """Whether ``node`` reads rows (a column, an aggregate, a subquery): the parts of an
    expression that the inner query must compute; constants stay in the outer query."""
    return any(isinstance(n, (exp.Column, exp.AggFunc, exp.Star, exp.Subquery, exp.Select))
               for n in node.walk())


def _check_clause(select: exp.Select, sql: str) -> None:
    """OVER is not allowed in WHERE, GROUP BY and HAVING, nor inside an aggregate (as in DuckDB)."""
    for key, what in (("where", "WHERE"), ("group", "GROUP BY"), ("having", "HAVING")):
        part = select.args.get(key)
        window = _find_window(part) if part is not None else None
        if window is not None:
            raise PlanError(f"window functions are not allowed in {what}: {window.sql(dialect=Gpuvelo)}",
                            **_where(window, sql))
    parts = list(select.expressions) + [select.args[k] for k in ("qualify", "order") if select.args.get(k)]
    for part in parts:
        for agg in part.find_all(exp.AggFunc):
            if not isinstance(agg.parent, exp.Window) and _find_window(agg) is not None:
                raise PlanError(f"aggregate functions cannot contain window functions: "
                                f"{agg.sql(dialect=Gpuvelo)}", **_where(agg, sql))


def _plain_group(select: exp.Select, sql: str) -> exp.Group | None:
    """The GROUP BY for the inner query: positions and ALL replaced by the select items
    they name (the inner query's select list differs from the user's)."""
    group = select.args.get("group")
    if group is None:
        return None
    items = select.expressions
    plain = [i for i in items if _find_window(i) is None and not isinstance(i, exp.Star)]
    group = group.copy()
    if group.args.get("all"):
        keys = [(i.this if isinstance(i, exp.Alias) else i).copy() for i in plain
                if not any(isinstance(n, exp.AggFunc) for n in i.walk())]
        return exp.Group(expressions=keys) if keys else None
    keys = []
    for g in group.expressions:
        if isinstance(g, exp.Literal) and not g.is_string and g.this.isdigit() \
                and 1 <= int(g.this) <= len(items):
            item = items[int(g.this) - 1]
            if _find_window(item) is not None:
                raise PlanError(f"window functions are not allowed in GROUP BY: "
                                f"{item.sql(dialect=Gpuvelo)}", **_where(g, sql))
            g = (item.this if isinstance(item, exp.Alias) else item).copy()
        keys.append(g)
    group.set("expressions", keys)
    return group


def split_analytic(select: exp.Select, sql: str) -> tuple[exp.Select, str, AnalyticSpec]:
    """(outer query, inner query's SQL, analytic step) of a query with analytic functions
    or QUALIFY; see the module docstring."""
    emit = select.args.get("emit")
    if emit is not None and emit.this.name.upper() == "CHANGES":
        raise NotSupportedError("window functions (OVER) and QUALIFY need the whole result: "
                                "EMIT CHANGES is not supported with them (EMIT FINAL is)",
                                **_where(emit, sql))
    _check_clause(select, sql)
    split = _Split(select, sql)
    outer_items, inner_items, columns, star = _split_items(select, split, sql)
    qualify = select.args.get("qualify")
    where = split.outer(qualify.this) if qualify is not None else None
    if not split.calls:
        raise PlanError("QUALIFY needs a window function in the SELECT list or in QUALIFY",
                        **_where(qualify, sql))
    names = {i.alias.lower() for i in select.expressions if isinstance(i, exp.Alias)} | \
        {o.name.lower() for o in outer_items if isinstance(o, exp.Column)}
    order = _outer_order(select.args.get("order"), split, names)
    if star is not None:     # * stands for the inner result's columns, less those added here
        hidden = [c for c in columns if c] + list(split.hidden.values()) + \
            [c.output for c in split.calls.values()]
        at = outer_items.index(None)
        outer_items[at] = exp.Star(except_=[_hidden_column(h) for h in hidden]) if hidden else exp.Star()
    outer = exp.select(*outer_items).from_(ANALYTIC_TABLE)
    if where is not None:
        outer.set("where", exp.Where(this=where))
    if order is not None:
        outer.set("order", order)
    for key in ("limit", "offset", "distinct", "emit"):
        if select.args.get(key) is not None:
            outer.set(key, select.args[key].copy())
    inner = select.copy()
    inner.set("expressions", inner_items + split.hidden_items)
    inner.set("group", _plain_group(select, sql))
    for key in ("qualify", "order", "limit", "offset", "distinct", "emit", "windows"):
        inner.set(key, None)
    if not inner.expressions:
        inner.set("expressions", [exp.alias_(exp.Literal.number(1), f"{HIDDEN_PREFIX}one", quoted=True)])
    spec = AnalyticSpec(ANALYTIC_INPUT, tuple(columns), star,
                        len(inner.expressions) - len(inner_items), tuple(split.calls.values()),
                        tuple(sorted(split.aliases_used)))
    return outer, _inner_text(inner, select, sql), spec


def _split_items(select: exp.Select, split: _Split, sql: str):
    """The select list split: (outer items -- None for a ``*``, filled in later --, inner
    items, the analytic step's column names of the inner items, the index of ``*`` among
    the inner items or None). An item with an analytic call is computed in the outer query;
    any other is an inner output the outer one names: an unaliased plain column by its name
    (unless a ``*`` is there too), others as ``__gv_c<i>``."""
    items = select.expressions
    stars = [i for i, item in enumerate(items) if isinstance(item, exp.Star)]
    if len(stars) > 1:
        raise NotSupportedError("more than one * with window functions is not supported",
                                **_where(items[stars[1]], sql))
    outer_items, inner_items, columns, star = [], [], [], None
    for i, item in enumerate(items):
        node = item.this if isinstance(item, exp.Alias) else item
        if _find_window(split.with_window_aliases(node)) is not None:
            outer_items.append(exp.alias_(split.outer(node), _output_name(item), quoted=True))
            continue
        if isinstance(item, exp.Star):
            star = len(inner_items)
            columns.append(None)
            outer_items.append(None)
        elif isinstance(item, exp.Column) and not item.table and not stars:
            columns.append(None)
            outer_items.append(exp.column(item.this.copy()))
        else:
            columns.append(f"{HIDDEN_PREFIX}c{i}")
            outer_items.append(exp.alias_(_hidden_column(columns[-1]), _output_name(item), quoted=True))
        inner_items.append(item.copy())
    return outer_items, inner_items, columns, star


def _inner_text(inner: exp.Select, select: exp.Select, sql: str) -> str:
    """The inner query as SQL. sqlglot does not print a stream WINDOW clause (TUMBLING,
    ...), so that clause is appended as the query wrote it."""
    node = select.args.get("stream_window")
    if node is None:
        return inner.sql(dialect=Gpuvelo)
    args = node.meta.get("args") or []
    plain = inner.copy()
    plain.set("stream_window", None)
    text = sql[args[0][0].start:args[-1][-1].end + 1] if args else ""
    return f"{plain.sql(dialect=Gpuvelo)} WINDOW {node.this.name}({text})"


def _outer_order(order: exp.Order | None, split: _Split, names: set[str]) -> exp.Order | None:
    """The ORDER BY of the outer query: positions and output names as they are (they name
    the outer's outputs), other expressions through :meth:`_Split.outer`."""
    if order is None:
        return None
    keys = []
    for o in order.expressions:
        key = o.this
        by_output = (isinstance(key, exp.Literal) and not key.is_string) or _is_all(key) or (
            isinstance(key, exp.Column) and not key.table and key.name.lower() in names)
        out = o.copy()
        out.set("this", key.copy() if by_output else split.outer(key))
        keys.append(out)
    return exp.Order(expressions=keys)
