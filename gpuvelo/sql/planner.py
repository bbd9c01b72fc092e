"""Validating a parsed query against its source schema and building the :class:`QueryPlan`.

Output column names: the alias; else, for a plain column, its schema spelling; else the
expression's text as sqlglot prints it with lower-case function names (``sum(price * qty)``),
except ``COUNT(*)``, which is named ``count_star()`` as in DuckDB.

ORDER BY keys always carry an explicit ``nulls_first`` (DuckDB's rule: NULLS LAST unless
the query says NULLS FIRST), so later stages never guess the default.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

from sqlglot import exp

from ..errors import NotSupportedError, PlanError, TypeMismatchError, UnknownColumnError
from ..types import (BOOL, DATE, FLOAT32, FLOAT64, INT8, INT16, INT32, INT64, NULL, STRING, TIME,
                     UINT8, UINT16, UINT32, UINT64, DType, decimal, interval, list_of, timestamp)
from . import functions
from .functions.temporal import interval_value, parse_time
from .dialect import Gpuvelo
from .parse import ParsedQuery, parse_query
from .windows import where
from .rewrite import STAGE_VALUE, WINDOW_BOUNDS
from .plan import (AggCall, AggRef, Call, Case, Cast, ColumnRef, Expr, KeyRef, Literal,
                   OrderKey, OutputColumn, QueryPlan, WindowRef)
from .sqltypes import MAX_DECIMAL_PRECISION, comparable, common_type, result_type

_BINARY = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Div: "div", exp.Mod: "mod",
           exp.EQ: "eq", exp.NEQ: "ne", exp.LT: "lt", exp.LTE: "le", exp.GT: "gt", exp.GTE: "ge",
           exp.And: "and", exp.Or: "or"}
_UNARY = {exp.Abs: "abs", exp.Floor: "floor", exp.Ceil: "ceil", exp.Lower: "lower",
          exp.Upper: "upper", exp.Length: "length"}
_AGGS = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
         exp.Stddev: "stddev_samp", exp.StddevSamp: "stddev_samp", exp.StddevPop: "stddev_pop",
         exp.Variance: "var_samp", exp.VariancePop: "var_pop", exp.First: "first",
         exp.Last: "last", exp.FirstValue: "first", exp.LastValue: "last",
         exp.AnyValue: "any_value"}
_CASTS = {"BOOLEAN": BOOL, "TINYINT": INT8, "SMALLINT": INT16, "INT": INT32, "BIGINT": INT64,
          "UTINYINT": UINT8, "USMALLINT": UINT16, "UINT": UINT32, "UBIGINT": UINT64,
          "FLOAT": FLOAT32, "DOUBLE": FLOAT64, "VARCHAR": STRING, "TEXT": STRING,
          "CHAR": STRING, "DATE": DATE, "TIMESTAMP": timestamp("us"),
          "TIMESTAMPNTZ": timestamp("us"), "DATETIME": timestamp("us"),
          "TIMESTAMP_S": timestamp("s"), "TIMESTAMP_MS": timestamp("ms"),
          "TIMESTAMP_NS": timestamp("ns"),
          "TIMESTAMPTZ": timestamp("us", "UTC"),   # DuckDB's session time zone here: UTC
          "INTERVAL": interval(None), "TIME": TIME}
_NUMERIC_AGGS = ("sum", "avg", "stddev_samp", "stddev_pop", "var_samp", "var_pop", "sum_distinct",
                 "avg_distinct")
_QUANTILES = (exp.Median, exp.PercentileCont, exp.PercentileDisc, exp.Quantile)
_AGG_HINTS = {"ApproxDistinct": " (COUNT(DISTINCT x) gives the exact count)",
              "ApproxQuantile": " (QUANTILE_CONT / QUANTILE_DISC give exact quantiles)"}
_LIST_USE = ("a LIST result can only be returned as a column of the result, not used in an "
             "expression, HAVING or ORDER BY (COUNT(*) counts a group's rows, COUNT(x) its "
             "non-NULL values, STRING_AGG joins strings)")
# aggregates of INTERVAL values: computed on their microseconds (BIGINT), the result typed back
_INTERVAL_AGGS = ("min", "max", "first", "last", "any_value", "arg_max", "arg_min", "count",
                  "count_distinct", "avg")
# aggregates of TIME values: computed on their microseconds (BIGINT), the result typed back
_TIME_AGGS = ("min", "max", "first", "last", "any_value", "arg_max", "arg_min", "count",
              "count_distinct")
_COMOMENTS = {exp.Corr: "corr", exp.CovarPop: "covar_pop", exp.CovarSamp: "covar_samp",
              exp.RegrSlope: "regr_slope", exp.RegrIntercept: "regr_intercept", exp.RegrR2: "regr_r2",
              exp.RegrCount: "regr_count", exp.RegrAvgx: "regr_avgx", exp.RegrAvgy: "regr_avgy",
              exp.RegrSxx: "regr_sxx", exp.RegrSyy: "regr_syy", exp.RegrSxy: "regr_sxy"}


def _text(node) -> str:
    return node.sql(dialect=Gpuvelo)


def _display_name(node) -> str:
    if isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
        return "count_star()"
    return node.sql(dialect=Gpuvelo, normalize_functions="lower")


def _decimal_literal(text: str) -> Literal:
    """A numeric literal with a decimal point, typed as DuckDB does: an exact DECIMAL(p, s)
    (p = digits written, s = digits after the point); FLOAT64 beyond DECIMAL(18, 18)."""
    whole, _, frac = text.partition(".")
    precision, scale = max(len(whole) + len(frac), 1), len(frac)
    if precision > MAX_DECIMAL_PRECISION:
        return Literal(FLOAT64, float(text))
    return Literal(decimal(precision, scale), Decimal(text))


def _contains(node, *types) -> exp.Expression | None:
    return next(iter(node.find_all(*types)), None)


def _is_agg(node) -> bool:
    return isinstance(node, exp.AggFunc) or (isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc))


def _table_names(tree) -> set[str]:
    """The lower-case names and aliases of the tables a query's FROM / JOIN clauses read."""
    names = set()
    parts = [tree.args.get("from_")] + list(tree.args.get("joins") or [])
    for part in parts:
        table = part.this if part is not None else None
        if isinstance(table, exp.Table):
            names.update(n.lower() for n in (table.name, table.alias) if n)
    return names


def _as_micros(e: Expr) -> Expr:
    """An INTERVAL or TIME expression as its BIGINT microseconds (what aggregates keep)."""
    if e.dtype.is_interval:
        return Call(INT64, "interval_micros", (e,))
    if e.dtype.is_time:
        return Call(INT64, "time_micros", (e,))
    return e


def _find_agg(node):
    return next((n for n in node.walk() if _is_agg(n)), None)


class _Planner:
    """Compiles sqlglot expressions of one query into plan expressions."""

    def __init__(self, parsed: ParsedQuery, schema: dict[str, DType], stage_values: dict | None = None,
                 qualified: dict | None = None):
        self.parsed, self.sql, self.schema = parsed, parsed.sql, dict(schema)
        self.stage_values = stage_values or {}
        self.qualified = qualified or {}     # (table alias, column) -> column, for joins
        self.tables = _table_names(parsed.tree) | {alias for alias, _ in self.qualified}
        self.by_lower = {name.lower(): name for name in schema}
        self.virtual: set[str] = set()       # STRUCT fields read as columns (see struct_field)
        self.limit_percent: float | None = None   # LIMIT p PERCENT (see count_clause)
        self.window = parsed.window
        self.group_keys: list[Expr] = []
        self.aggregates: list[AggCall] = []
        self.aliases: dict[str, Expr] = {}   # select alias (lower) -> compiled expression
        self.lateral = False                 # planning the SELECT list: see lateral_alias

    # ------------------------------------------------------------------ errors
    def fail(self, cls, message: str, node=None):
        raise cls(message, **(where(node, self.sql) if node is not None else {"sql": self.sql}))

    # ------------------------------------------------------------------ columns
    def column(self, node: exp.Column) -> ColumnRef:
        path = self.struct_path(node)
        if path is not None:
            return self.struct_field(path[0], path[1], node)
        if node.table and node.table.lower() not in self.tables:
            self.fail(UnknownColumnError, f"'{_text(node)}' names table '{node.table}', which this "
                      f"query does not read (it reads {', '.join(sorted(self.tables))}); "
                      "correlated subqueries (referring to an outer query's table) are not "
                      "supported", node)
        name = self.qualified.get((node.table.lower(), node.name.lower())) if node.table else None
        name = name or self.by_lower.get(node.name.lower())
        if name is None:
            self.fail(UnknownColumnError, f"unknown column '{node.name}'; available: "
                      + ", ".join(self.schema), node)
        self.check_readable(name, node)
        return ColumnRef(self.schema[name], name)

    def struct_path(self, node: exp.Column) -> tuple[str, list[str]] | None:
        """(struct column, field names) when ``node`` reads a field of a STRUCT column --
        ``user.country``, ``t.user.geo.lat`` -- as DuckDB resolves dotted names: a first
        part that names a table of the query is the table, else a column; None for a plain
        (or table-qualified) column."""
        parts = [p.name for p in (node.args.get(k) for k in ("catalog", "db", "table")) if p is not None]
        parts.append(node.name)
        if len(parts) > 1 and parts[0].lower() in self.tables and \
                (len(parts) == 2 or parts[1].lower() not in self.tables):
            parts = parts[1:]
        if len(parts) < 2 or parts[0].lower() not in self.by_lower:
            return None
        return self.by_lower[parts[0].lower()], parts[1:]

    def struct_field(self, column: str, fields: list[str], node) -> ColumnRef:
        """A field of a STRUCT column (nested fields by a path) as a column of its own, named
        ``column.field...``; the job reads it from the struct (see exec.query.column_at)."""
        dtype = self.schema[column]
        names = [column]
        for field in fields:
            if dtype.fields is None:
                self.fail(UnknownColumnError, f"'{'.'.join(names)}' is not a STRUCT, so it has no "
                          f"field '{field}': {_text(node)}", node)
            found = next(((n, t) for n, t in dtype.fields if n.lower() == field.lower()), None)
            if found is None:
                self.fail(UnknownColumnError, f"STRUCT '{'.'.join(names)}' has no field '{field}'; "
                          f"it has {', '.join(n for n, _ in dtype.fields)}", node)
            names.append(found[0])
            dtype = found[1]
        name = ".".join(names)
        if name not in self.schema:
            self.schema[name] = dtype
            self.by_lower.setdefault(name.lower(), name)
            self.virtual.add(name)
        self.check_readable(name, node)
        return ColumnRef(self.schema[name], name)

    def subscript(self, node) -> tuple[str, list[str]] | None:
        """(struct column, field names) of ``user['country']`` / ``struct_extract(user,
        'country')`` (nested too) for :meth:`struct_field`; None when ``node`` is no such thing."""
        base, key = node.this, (node.expressions[0] if isinstance(node, exp.Bracket) and
                                len(node.expressions) == 1 else node.args.get("expression"))
        if not (isinstance(key, exp.Literal) and key.is_string):
            return None
        if isinstance(base, exp.Column):
            path = self.struct_path(base) or ((self.by_lower[base.name.lower()], [])
                                              if not base.table and base.name.lower() in self.by_lower else None)
        elif isinstance(base, (exp.Bracket, exp.StructExtract)):
            path = self.subscript(base)
        else:
            path = None
        return None if path is None else (path[0], [*path[1], key.this])

    def check_readable(self, name: str, node) -> None:
        """NotSupportedError when source column ``name`` has a type gpuvelo cannot read."""
        t = self.schema[name]
        if t.is_unsupported:
            self.fail(NotSupportedError, f"column '{name}': type {t.arrow} is not supported by "
                      "gpuvelo; leave the column out of the query (SELECT * EXCLUDE (...) drops "
                      "it from a star), or convert it before gpuvelo reads it", node)

    def window_bound(self, node) -> WindowRef | None:
        if not isinstance(node, exp.Column) or node.name.lower() in self.by_lower:
            return None
        which = WINDOW_BOUNDS.get(node.name.lower())
        if which is None:
            return None
        if self.window is None:
            self.fail(PlanError, f"'{node.name}' needs a WINDOW clause", node)
        col = self.window.time_column
        t = self.schema[col] if col and self.schema[col].kind == "timestamp" else timestamp("ms")
        return WindowRef(t, which)

    # ------------------------------------------------------------------ generic compile
    def compile(self, node, leaf) -> Expr:
        """Compile ``node``; ``leaf(node)`` is asked first at every node and may return an
        Expr (KeyRef, AggRef, ColumnRef, ...) that replaces the whole subtree."""
        got = leaf(node)
        if got is not None:
            return got
        sub = lambda n: self.compile(n, leaf)   # noqa: E731
        if isinstance(node, exp.Paren):
            return sub(node.this)
        if isinstance(node, (exp.Window, exp.WindowSpec)):
            self.fail(NotSupportedError, f"window functions (OVER) are not supported: {_text(node)}", node)
        if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)) or _contains(node, exp.Select):
            self.fail(NotSupportedError, f"subqueries are not supported: {_text(node)}", node)
        if isinstance(node, exp.Literal):
            return self.literal(node)
        if isinstance(node, exp.Interval):
            return self.interval(node, sub)
        if isinstance(node, (exp.Bracket, exp.StructExtract)):
            path = self.subscript(node)
            if path is not None:
                return self.struct_field(*path, node)
        if isinstance(node, exp.Boolean):
            return Literal(BOOL, node.this)
        if isinstance(node, exp.Null):
            return Literal(NULL, None)
        if type(node) in _BINARY:
            return self.call(_BINARY[type(node)], (sub(node.this), sub(node.expression)), node)
        if isinstance(node, exp.Neg):
            arg = sub(node.this)
            if isinstance(arg, Literal) and isinstance(arg.value, (int, float, Decimal)) and not isinstance(arg.value, bool):
                if arg.dtype.is_integer:     # -9223372036854775808 is a BIGINT
                    return self.integer_literal(-arg.value, node)
                return Literal(arg.dtype, -arg.value)
            return self.call("neg", (arg,), node)
        if isinstance(node, exp.Not):
            if isinstance(node.this, exp.Is):
                return self.is_null(node.this, sub, negate=True)
            return self.call("not", (sub(node.this),), node)
        if isinstance(node, exp.Is):
            return self.is_null(node, sub)
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest"):
                self.fail(NotSupportedError, f"IN with a subquery is not supported: {_text(node)}", node)
            stage = self.stage_of(node.expressions[0]) if len(node.expressions) == 1 else None
            if stage is not None:
                dtype, values = stage
                if not values:      # x IN (empty set) is FALSE, even for a NULL x
                    return self.negated(Literal(BOOL, False), node)
                items = tuple(Literal(dtype, v) for v in values)
            else:
                items = tuple(sub(e) for e in node.expressions)
            return self.negated(self.call("in", (sub(node.this), *items), node), node)
        stage = self.stage_of(node)
        if stage is not None:
            dtype, values = stage
            if len(values) > 1:
                self.fail(PlanError, f"a subquery used as a value returned {len(values)} rows "
                          "(at most one is allowed; use IN (SELECT ...) to test membership, or "
                          "aggregate it to one row)", node)
            return Literal(dtype, values[0] if values else None)
        if isinstance(node, exp.Between):
            args = (sub(node.this), sub(node.args["low"]), sub(node.args["high"]))
            return self.negated(self.call("between", args, node), node)
        if isinstance(node, exp.Like):
            return self.negated(self.like(node, sub), node)
        if isinstance(node, exp.Escape):
            return self.like_escape(node, sub)
        if type(node) in _UNARY:
            return self.call(_UNARY[type(node)], (sub(node.this),), node)
        if isinstance(node, exp.Round):
            return self.round(node, sub)
        if isinstance(node, exp.Coalesce):
            return self.call("coalesce", (sub(node.this), *(sub(e) for e in node.expressions)), node)
        if isinstance(node, exp.Nullif):
            return self.call("nullif", (sub(node.this), sub(node.expression)), node)
        if isinstance(node, exp.Case):
            return self.case(node, sub)
        if isinstance(node, exp.If):    # IF(cond, a, b) / IIF
            false = node.args.get("false")
            case = exp.Case(ifs=[exp.If(this=node.this.copy(), true=node.args["true"].copy())],
                            default=false.copy() if false is not None else None)
            return self.case(case, sub, node)
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return self.cast(node, sub)
        bound = functions.bind(node)
        if bound is not None:
            return self.function(*bound, node, sub)
        if isinstance(node, exp.Anonymous):
            self.fail(PlanError, f"unknown function '{node.name}' in {_text(node)}", node)
        if isinstance(node, exp.Star):
            self.fail(PlanError, "'*' is only allowed alone in the SELECT list", node)
        if isinstance(node, exp.Func):
            self.fail(NotSupportedError, f"function '{_display_name(node).split('(')[0]}' is not "
                      f"supported: {_text(node)}", node)
        self.fail(NotSupportedError, f"expression not supported: {_text(node)}", node)

    def function(self, name: str, arg_nodes: list, node, sub) -> Call:
        """A call of a catalogue function (``gpuvelo.sql.functions``), typed and checked."""
        args = tuple(self.function_arg(a, sub) for a in arg_nodes)
        values = [a.value if isinstance(a, Literal) else functions.NOT_LITERAL for a in args]
        try:
            dtype = functions.check(name, [a.dtype for a in args], values)
        except PlanError as err:
            self.fail(type(err), f"{err.args[0]} in {_text(node)}", node)
        return Call(dtype, name, args)

    def function_arg(self, node, sub) -> Expr:
        """A function argument; bare words (``hour`` in ``EXTRACT(hour FROM ts)``) become
        lower-case string literals."""
        if isinstance(node, exp.Var):
            return Literal(STRING, node.name.lower())
        return sub(node)

    def stage_of(self, node):
        """(type, values) of a value stage placeholder (``rewrite.STAGE_VALUE``), else None."""
        if not (isinstance(node, exp.Anonymous) and node.name == STAGE_VALUE):
            return None
        name = node.expressions[0].this
        if name not in self.stage_values:
            self.fail(NotSupportedError, "subqueries used as values run as stages of a Job: "
                      "plan them with their values (gpuvelo.sql / gpuvelo.Job do)", node)
        return self.stage_values[name]

    def negated(self, e: Expr, node) -> Expr:
        return Call(BOOL, "not", (e,)) if node.args.get("negate") else e

    def call(self, op: str, args: tuple[Expr, ...], node, **kw) -> Call:
        """A typed Call; checks comparability and coerces string literals to temporal types."""
        if op in ("eq", "ne", "lt", "le", "gt", "ge", "in", "between", "nullif"):
            args = self.coerce_temporal(args, node)
            for a in args[1:]:
                if not comparable(args[0].dtype, a.dtype):
                    self.fail(TypeMismatchError, f"cannot compare {args[0].dtype} with {a.dtype} "
                              f"in {_text(node)}", node)
        if op in ("and", "or", "not"):
            for a in args:
                if not (a.dtype.is_bool or a.dtype.is_null):
                    self.fail(TypeMismatchError, f"{op.upper()} needs booleans, got {a.dtype} in "
                              f"{_text(node)}", node)
        try:
            return Call(result_type(op, [a.dtype for a in args], **kw), op, args)
        except PlanError as err:
            self.fail(type(err), f"{err.args[0]} in {_text(node)}", node)

    def coerce_temporal(self, args, node):
        target = next((a.dtype for a in args if a.dtype.is_temporal or a.dtype.is_interval
                       or a.dtype.is_time), None)
        if target is None:
            return args
        if target.is_interval:
            return tuple(self.interval_literal(exp.cast(exp.Literal.string(a.value), "INTERVAL"), node)
                         if isinstance(a, Literal) and a.dtype.is_string and a.value is not None
                         else a for a in args)
        return tuple(self.temporal_literal(a.value, target, node)
                     if isinstance(a, Literal) and a.dtype.is_string else a for a in args)

    def temporal_literal(self, text: str, t: DType, node) -> Literal:
        """A text literal read as a DATE, TIMESTAMP or TIME (``'10:00'``, ``'10:00:00.5'``)."""
        if t.is_time:
            micros = parse_time(text)
            if micros is None:
                self.fail(NotSupportedError, f"'{text}' is not a TIME gpuvelo reads "
                          "(HH:MM[:SS[.fraction]], before 24:00:00, no time zone)", node)
            return Literal(t, _dt.time(micros // 3_600_000_000, micros // 60_000_000 % 60,
                                       micros // 1_000_000 % 60, micros % 1_000_000))
        try:
            if t.kind == "date":
                return Literal(t, _dt.date.fromisoformat(text.strip()))
            return Literal(t, _dt.datetime.fromisoformat(text.strip()))
        except ValueError:
            self.fail(TypeMismatchError, f"'{text}' is not a valid {t}", node)

    def interval(self, node: exp.Interval, sub) -> Expr:
        """``INTERVAL 90 MINUTE`` / ``INTERVAL '1 day 2 hours'`` as a value; ``INTERVAL (n)
        HOUR`` of a computed integer as ``interval_quantity(n, 'hour')``."""
        if interval_value(node) is not None or not isinstance(node.args.get("unit"), exp.Var):
            return self.interval_literal(node, node)
        q = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
        unit = Literal(STRING, node.args["unit"].name.lower())
        try:
            dtype = functions.check("interval_quantity", [sub(q).dtype, STRING], [None, unit.value])
        except PlanError as err:
            self.fail(type(err), f"{err.args[0]} in {_text(node)}", node)
        return Call(dtype, "interval_quantity", (sub(q), unit))

    def interval_literal(self, node, shown) -> Literal:
        """A literal interval (no months: gpuvelo's INTERVAL values have none) as a Literal
        holding a ``datetime.timedelta``, typed with the split its value has in DuckDB."""
        try:
            found = interval_value(node)
        except PlanError as err:
            self.fail(type(err), f"{err.args[0]} in {_text(shown)}", shown)
        if found is None:
            self.fail(NotSupportedError, f"interval not supported: {_text(shown)}", shown)
        text, months, micros, split = found
        if months:
            self.fail(NotSupportedError, f"INTERVAL '{text}' has months, which have no fixed length: "
                      "gpuvelo's INTERVAL values have none (add months to a DATE or TIMESTAMP: "
                      "ts + INTERVAL 1 MONTH)", shown)
        return Literal(interval(split), _dt.timedelta(microseconds=micros))

    def literal(self, node: exp.Literal) -> Literal:
        if node.is_string:
            return Literal(STRING, node.this)
        text = node.this
        if "e" in text.lower():          # scientific notation is DOUBLE, as in DuckDB
            return Literal(FLOAT64, float(text))
        if "." in text:
            return _decimal_literal(text)
        return self.integer_literal(int(text), node)

    def integer_literal(self, value: int, node) -> Literal:
        """An integer literal: BIGINT, UBIGINT beyond it; NotSupportedError beyond 64 bits."""
        if not -2**63 <= value < 2**64:
            self.fail(NotSupportedError, f"the integer {value} does not fit 64 bits (gpuvelo has no "
                      "HUGEINT); write it as a DOUBLE (e.g. 1.5e23) or a DECIMAL", node)
        return Literal(INT64 if value < 2**63 else UINT64, value)

    def is_null(self, node: exp.Is, sub, negate: bool = False) -> Expr:
        """``x IS [NOT] NULL``, and ``x IS [NOT] TRUE / FALSE`` (never NULL: a NULL ``x`` is
        neither TRUE nor FALSE)."""
        if isinstance(node.expression, exp.Boolean):
            return self.is_boolean(node, sub(node.this), node.expression.this, negate)
        if not isinstance(node.expression, exp.Null):
            self.fail(NotSupportedError, f"only IS [NOT] NULL / TRUE / FALSE is supported: "
                      f"{_text(node)}", node)
        return self.call("is_not_null" if negate else "is_null", (sub(node.this),), node)

    def is_boolean(self, node, arg: Expr, value: bool, negate: bool) -> Expr:
        """``arg IS [NOT] TRUE / FALSE`` as ``arg IS NOT NULL AND [NOT] arg`` (negated)."""
        if not (arg.dtype.is_bool or arg.dtype.is_null):
            self.fail(TypeMismatchError, f"IS {'TRUE' if value else 'FALSE'} needs a boolean, got "
                      f"{arg.dtype} in {_text(node)}", node)
        truth = arg if value else self.call("not", (arg,), node)
        e = self.call("and", (self.call("is_not_null", (arg,), node), truth), node)
        return self.call("not", (e,), node) if negate else e

    def like(self, node: exp.Like, sub, escape=None) -> Expr:
        """``s LIKE pattern [ESCAPE 'c']``: Call('like', (s, pattern[, escape character]))."""
        value, pattern = sub(node.this), sub(node.expression)
        if not (value.dtype.is_string or value.dtype.is_null):
            self.fail(TypeMismatchError, f"LIKE needs a string, got {value.dtype} in {_text(node)}", node)
        if not (isinstance(pattern, Literal) and pattern.dtype.is_string):
            self.fail(PlanError, f"the LIKE pattern must be a string literal in {_text(node)}", node)
        if escape is None:
            return Call(BOOL, "like", (value, pattern))
        esc = sub(escape)
        if not (isinstance(esc, Literal) and (esc.value is None or isinstance(esc.value, str)
                                              and len(esc.value) <= 1)):
            self.fail(PlanError, f"the LIKE escape must be one character, as a string literal, in "
                      f"{_text(node)}", node)
        if pattern.value is not None and esc.value and pattern.value.replace(esc.value * 2, "").endswith(esc.value):
            self.fail(PlanError, f"a LIKE pattern must not end with its escape character in "
                      f"{_text(node)}", node)
        return Call(BOOL, "like", (value, pattern, esc))

    def like_escape(self, node: exp.Escape, sub) -> Expr:
        """``s [NOT] LIKE pattern ESCAPE 'c'`` (sqlglot wraps the LIKE in an Escape node)."""
        inner = node.this
        if not isinstance(inner, exp.Like):
            self.fail(NotSupportedError, f"ESCAPE is supported with LIKE only (for ILIKE, compare "
                      f"lower(x) LIKE a lower-case pattern): {_text(node)}", node)
        return self.negated(self.like(inner, sub, node.expression), inner)

    def round(self, node: exp.Round, sub) -> Expr:
        arg = sub(node.this)
        digits_node = node.args.get("decimals")
        if digits_node is None:
            return self.call("round", (arg,), node)
        digits = sub(digits_node)
        if not (isinstance(digits, Literal) and digits.dtype.is_integer):
            self.fail(PlanError, f"ROUND digits must be an integer literal in {_text(node)}", node)
        return self.call("round", (arg, digits), node, digits=digits.value)

    def case(self, node: exp.Case, sub, shown=None) -> Case:
        """CASE [subject] WHEN ... THEN ... [ELSE ...] END; ``shown``: the node errors name."""
        shown = node if shown is None else shown
        subject = sub(node.this) if node.this is not None else None
        whens = []
        for branch in node.args.get("ifs") or []:
            cond = sub(branch.this)
            if subject is not None:
                cond = self.call("eq", (subject, cond), shown)
            elif not (cond.dtype.is_bool or cond.dtype.is_null):
                self.fail(TypeMismatchError, f"CASE WHEN needs a boolean condition, got "
                          f"{cond.dtype} in {_text(shown)}", shown)
            whens.append((cond, sub(branch.args["true"])))
        default = node.args.get("default")
        else_ = sub(default) if default is not None else Literal(NULL, None)
        try:
            t = common_type([v.dtype for _, v in whens] + [else_.dtype])
        except TypeMismatchError as err:
            self.fail(TypeMismatchError, f"CASE branches: {err.args[0]} in {_text(shown)}", shown)
        return Case(t, tuple(whens), else_)

    def cast(self, node, sub) -> Expr:
        target = self.cast_type(node.to, node)
        arg = sub(node.this)
        safe = isinstance(node, exp.TryCast)
        if target.is_interval or arg.dtype.is_interval:
            return self.interval_cast(node, arg, target)
        if target.is_time or arg.dtype.is_time:
            return self.time_cast(node, arg, target, safe)
        if isinstance(arg, Literal) and arg.dtype.is_string and (target.is_temporal or target.is_decimal):
            try:
                if target.is_temporal:
                    return self.temporal_literal(arg.value, target, node)
                return Literal(target, Decimal(arg.value.strip()))
            except (PlanError, ArithmeticError, ValueError):
                if not safe:
                    if target.is_temporal:
                        raise
                    self.fail(TypeMismatchError, f"'{arg.value}' is not a valid {target}", node)
                return Literal(target, None)
        return Cast(target, arg, safe)

    def interval_cast(self, node, arg: Expr, target: DType) -> Expr:
        """CAST to or from INTERVAL: a text literal to an INTERVAL literal, an INTERVAL to
        VARCHAR (DuckDB's text, which needs its split) or to INTERVAL; nothing else."""
        t = arg.dtype
        if target.is_interval and isinstance(arg, Literal) and t.is_string:
            return self.interval_literal(node, node) if arg.value is not None else Literal(target, None)
        if target.is_interval and (t.is_interval or t.is_null):
            return arg if t.is_interval else Literal(interval("short"), None)
        if t.is_interval and target.is_string and t.split is not None:
            return Cast(target, arg)
        if t.is_interval and target.is_string:
            self.fail(NotSupportedError, f"the text of this INTERVAL depends on how DuckDB would "
                      "hold it as days and time, which gpuvelo does not know for sums, multiples "
                      "or averages of day intervals; epoch(x) gives its length in seconds: "
                      f"{_text(node)}", node)
        self.fail(NotSupportedError if t.is_string else TypeMismatchError,
                  f"cannot cast {t} to {target}" + (" (only text literals are read as "
                  "intervals)" if t.is_string else "") + f": {_text(node)}", node)

    def time_cast(self, node, arg: Expr, target: DType, safe: bool) -> Expr:
        """CAST to or from TIME, as DuckDB: a text literal to a TIME literal, a TIMESTAMP
        (without a time zone: DuckDB has no TIMESTAMPTZ -> TIME) to its time of day, a TIME
        to VARCHAR or TIME; nothing else."""
        t = arg.dtype
        if target.is_time and isinstance(arg, Literal) and t.is_string:
            if arg.value is None:
                return Literal(TIME, None)
            return self.temporal_literal(arg.value, TIME, node)   # unread text: refused
        if target.is_time and (t.is_time or t.is_null):
            return arg if t.is_time else Literal(TIME, None)
        if target.is_time and t.kind == "timestamp" and t.tz is None:
            return Cast(target, arg, safe)
        if t.is_time and target.is_string:
            return Cast(target, arg, safe)
        self.fail(NotSupportedError if t.is_string else TypeMismatchError,
                  f"cannot cast {t} to {target}" + (" (only text literals are read as times)"
                  if t.is_string else "") + f": {_text(node)}", node)

    def cast_type(self, to: exp.DataType, node) -> DType:
        name = to.this.name
        if name == "DECIMAL":
            params = [int(p.name) for p in to.expressions] or [18, 3]
            precision, scale = (params + [0])[:2]
            if precision > 18 or not 0 <= scale <= precision:
                self.fail(NotSupportedError, f"DECIMAL({precision},{scale}) is not supported "
                          "(precision at most 18)", node)
            return decimal(precision, scale)
        if name not in _CASTS:
            self.fail(NotSupportedError, f"CAST to {to.sql(dialect=Gpuvelo)} is not supported", node)
        return _CASTS[name]

    # ------------------------------------------------------------------ row expressions
    def row(self, node, context: str) -> Expr:
        """A row expression; aggregates are an error ``context`` names (e.g. 'WHERE')."""
        def leaf(n):
            if _is_agg(n):
                self.fail(PlanError, f"aggregate functions are not allowed in {context}: {_text(n)}", n)
            if isinstance(n, exp.Column):
                bound = self.window_bound(n)
                if bound is not None:
                    self.fail(PlanError, f"'{n.name}' is only allowed in SELECT, HAVING and ORDER BY "
                              "of a windowed aggregate query", n)
                return self.lateral_alias(n) or self.column(n)
            return None
        return self.compile(node, leaf)

    def lateral_alias(self, node: exp.Column) -> Expr | None:
        """While planning the SELECT list, a name that is no source column but the alias of
        an earlier select item stands for that item's expression (as in DuckDB)."""
        if not self.lateral or node.table or node.name.lower() in self.by_lower:
            return None
        return self.aliases.get(node.name.lower())

    # ------------------------------------------------------------------ aggregates
    def aggregate(self, node) -> AggRef:
        """Plan one aggregate call (deduplicated) and return its reference."""
        if isinstance(node, exp.Filter) and not isinstance(node.this, exp.ArrayAgg):
            self.fail(NotSupportedError, f"aggregate FILTER is not supported (except in LIST / "
                      f"ARRAY_AGG): {_text(node)}", node)
        call = node.this if isinstance(node, exp.Filter) else node
        inner = next((n for n in node.walk() if n is not node and n is not call and _is_agg(n)), None)
        if inner is not None:
            self.fail(PlanError, f"nested aggregate functions are not allowed: {_text(node)}", node)
        if isinstance(node, (exp.ArrayAgg, exp.Filter)):
            return self.list_aggregate(node)
        arg_node, param, arg2 = node.this, None, None
        if isinstance(node, exp.Count):
            if isinstance(arg_node, exp.Star):
                func, arg_node = "count_star", None
            elif isinstance(arg_node, exp.Distinct):
                if len(arg_node.expressions) != 1:
                    self.fail(NotSupportedError, "COUNT(DISTINCT ...) takes one argument (for "
                              "several columns, count the distinct rows of a GROUP BY subquery)", node)
                func, arg_node = "count_distinct", arg_node.expressions[0]
            else:
                func = "count"
        elif isinstance(node, _QUANTILES) and not isinstance(node, exp.ApproxQuantile):
            func, param, arg_node = self.quantile(node)
        elif isinstance(node, exp.GroupConcat):
            func, param, arg_node = "string_agg", *self.string_agg(node)
        elif isinstance(node, exp.Mode):
            func = "mode"
        elif type(node) in _COMOMENTS:
            func = _COMOMENTS[type(node)]
            arg2 = self.row(node.expression, "an aggregate's argument")
            if arg2.dtype.is_null:
                arg2 = Cast(INT32, arg2)
            for a in (node.this, node.expression):
                t = self.row(a, "an aggregate's argument").dtype
                if not (t.is_numeric or t.is_null):
                    self.fail(TypeMismatchError, f"{func.upper()} needs numbers, got {t} in "
                              f"{_text(node)}", node)
        elif isinstance(node, (exp.ArgMax, exp.ArgMin)):
            func = "arg_max" if isinstance(node, exp.ArgMax) else "arg_min"
            if node.args.get("count") is not None:
                self.fail(NotSupportedError, f"{func.upper()} with a count (a list result) is not "
                          f"supported: {_text(node)}", node)
            arg2 = self.row(node.expression, "an aggregate's argument")
            if arg2.dtype.is_null:
                arg2 = Cast(INT32, arg2)
            if not (arg2.dtype.is_numeric or arg2.dtype.is_temporal or arg2.dtype.is_bool
                    or arg2.dtype.is_interval or arg2.dtype.is_time):
                self.fail(NotSupportedError, f"{func.upper()} orders by numbers, times or booleans, "
                          f"not {arg2.dtype}: {_text(node)}", node)
        elif type(node) in _AGGS:
            func = _AGGS[type(node)]
            if isinstance(arg_node, exp.Distinct):
                if len(arg_node.expressions) != 1 or func not in ("sum", "avg", "min", "max"):
                    self.fail(NotSupportedError, f"DISTINCT is supported in COUNT, SUM, AVG, MIN "
                              f"and MAX of one argument: {_text(node)}", node)
                arg_node = arg_node.expressions[0]
                if func in ("sum", "avg"):       # MIN/MAX of the distinct values: the same
                    func += "_distinct"
            extra = [v for k, v in node.args.items() if k != "this" and v and k != "big_int"]
            if extra:
                self.fail(NotSupportedError, f"{_display_name(node)} takes one argument", node)
        else:
            hint = _AGG_HINTS.get(type(node).__name__, "")
            self.fail(NotSupportedError, f"aggregate function '{node.key}' is not supported{hint}: "
                      f"{_text(node)}", node)
        arg = self.row(arg_node, "an aggregate's argument") if arg_node is not None else None
        if arg is not None and arg.dtype.is_null and func != "count":
            arg = Cast(STRING if func == "string_agg" else INT32, arg)   # DuckDB's typed NULL
        if arg is not None and arg.dtype.is_time:
            return self.time_aggregate(func, arg, arg2, node)
        if any(e is not None and (e.dtype.is_interval or e.dtype.is_time) for e in (arg, arg2)):
            return self.interval_aggregate(func, arg, arg2, node)
        return self.add_aggregate(func, arg, self.agg_type(func, arg, node), node, param, arg2)

    def add_aggregate(self, func: str, arg: Expr | None, dtype: DType, node, param=None,
                      arg2: Expr | None = None, filter_: Expr | None = None) -> AggRef:
        """The reference to aggregate ``func(arg[, arg2])``, planned once per query."""
        for i, have in enumerate(self.aggregates):
            if have.func == func and have.arg == arg and have.param == param and have.arg2 == arg2 \
                    and have.filter == filter_ and have.dtype == dtype:
                return AggRef(have.dtype, i)
        self.aggregates.append(AggCall(func, arg, dtype, _text(node), param, arg2, filter_))
        return AggRef(dtype, len(self.aggregates) - 1)

    def list_aggregate(self, node) -> AggRef:
        """LIST / ARRAY_AGG(x [ORDER BY y [DESC] [NULLS FIRST|LAST]]) [FILTER (WHERE c)], and
        with DISTINCT x (ordered by x only, as DuckDB requires); see ``AggCall``."""
        call = node.this if isinstance(node, exp.Filter) else node
        self.check_list_place(node)
        if any(v for k, v in call.args.items() if k != "this"):
            self.fail(NotSupportedError, f"LIST takes one argument: {_text(node)}", node)
        arg_node, keys = call.this, None
        if isinstance(arg_node, exp.Order):
            arg_node, keys = arg_node.this, arg_node.expressions
        distinct = isinstance(arg_node, exp.Distinct)
        if distinct:
            if len(arg_node.expressions) != 1:
                self.fail(NotSupportedError, f"LIST(DISTINCT ...) takes one argument: {_text(node)}", node)
            arg_node = arg_node.expressions[0]
        arg = self.row(arg_node, "an aggregate's argument")
        if arg.dtype.is_null:
            arg = Cast(INT32, arg)      # DuckDB's typed NULL
        order, nulls_first, arg2 = None, False, None
        if keys:
            if len(keys) != 1:
                self.fail(NotSupportedError, f"LIST ... ORDER BY takes one expression (gpuvelo keeps "
                          f"rows with equal values in arrival order): {_text(node)}", node)
            key = keys[0]
            e = self.row(key.this, "an aggregate's ORDER BY")
            order, nulls_first = ("desc" if key.args.get("desc") else "asc"), bool(key.args.get("nulls_first"))
            if distinct and e != arg:
                self.fail(PlanError, f"in a DISTINCT aggregate, ORDER BY expressions must appear in the "
                          f"argument list: {_text(node)}", node)
            if isinstance(e, Literal):    # a constant: every row ties, arrival order
                order = None
            elif e != arg:
                arg2 = e
        flt = None
        if isinstance(node, exp.Filter):
            flt = self.row(node.expression.this, "FILTER")
            if not (flt.dtype.is_bool or flt.dtype.is_null):
                self.fail(TypeMismatchError, f"FILTER needs a boolean, got {flt.dtype}: "
                          f"{_text(node.expression.this)}", node)
        return self.add_aggregate("list", arg, list_of(arg.dtype), node, (order, nulls_first, distinct),
                                  arg2, flt)

    def check_list_uses(self, outputs, having: Expr | None, order_by) -> None:
        """NotSupportedError for a LIST result used other than as an output column itself
        (through an alias or an ORDER BY position: the direct uses fail in ``check_list_place``)."""
        def lists_in(e: Expr, top: bool) -> bool:
            if e.dtype.is_list and not top:
                return True
            parts = e.args if isinstance(e, Call) else (e.arg,) if isinstance(e, Cast) else \
                [x for pair in e.whens for x in pair] + [e.else_] if isinstance(e, Case) else ()
            return any(lists_in(p, False) for p in parts)

        exprs = [(o.expr, True) for o in outputs] + [(k.expr, False) for k in order_by] + \
            ([(having, False)] if having is not None else [])
        if any(lists_in(e, top) for e, top in exprs):
            self.fail(NotSupportedError, _LIST_USE)

    def check_list_place(self, node) -> None:
        """NotSupportedError unless the LIST aggregate ``node`` is a select item itself."""
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if not isinstance(parent, (exp.Alias, exp.Select)) or \
                (isinstance(parent, exp.Select) and node.arg_key != "expressions"):
            self.fail(NotSupportedError, f"{_LIST_USE}: {_text(parent if parent is not None else node)}",
                      node)

    def interval_aggregate(self, func: str, arg: Expr, arg2: Expr | None, node) -> Expr:
        """An aggregate of INTERVAL values, computed on their microseconds (BIGINT) and typed
        back: MIN MAX FIRST LAST ANY_VALUE ARG_MIN ARG_MAX COUNT and AVG (DuckDB's: the days
        and the time averaged apart, see ``expr.intervals.average``). DuckDB has no SUM of
        intervals."""
        if func not in _INTERVAL_AGGS:
            self.fail(NotSupportedError if func != "sum" else TypeMismatchError,
                      f"{func.upper()} of an INTERVAL is not supported" + (
                          " (DuckDB has no SUM of intervals; SUM(epoch(x)) adds their seconds)"
                          if func == "sum" else "") + f": {_text(node)}", node)
        micros = _as_micros
        if func == "avg":
            if arg.dtype.split is None:
                self.fail(NotSupportedError, "AVG of this INTERVAL depends on how DuckDB would hold "
                          "it as days and time, which gpuvelo does not know for sums or multiples "
                          f"of day intervals: {_text(node)}", node)
            parts = [self.add_aggregate("sum", Call(INT64, op, (arg,)), INT64, node)
                     for op in ("interval_days", "interval_time")]
            count = self.add_aggregate("count", micros(arg), INT64, node)
            split = "time" if arg.dtype.split in ("time", "short") else None
            return Call(interval(split), "interval_avg", (*parts, count))
        value = micros(arg)
        ref = self.add_aggregate(func, value, self.agg_type(func, value, node), node, None,
                                 None if arg2 is None else micros(arg2))
        if not arg.dtype.is_interval or func.startswith("count"):
            return ref
        return Call(arg.dtype, "micros_interval", (ref,))

    def time_aggregate(self, func: str, arg: Expr, arg2: Expr | None, node) -> Expr:
        """An aggregate of TIME values, computed on their microseconds (BIGINT) and typed
        back: MIN MAX FIRST LAST ANY_VALUE ARG_MIN ARG_MAX COUNT COUNT(DISTINCT). DuckDB has
        no SUM of times; its AVG, MEDIAN, ... of times are not supported here."""
        if func not in _TIME_AGGS:
            summed = func in ("sum", "sum_distinct")
            self.fail(TypeMismatchError if summed else NotSupportedError,
                      f"{func.upper()} of a TIME is not supported" + (
                          " (DuckDB has no SUM of times; SUM(epoch(x)) adds their seconds)"
                          if summed else "") + f": {_text(node)}", node)
        value = _as_micros(arg)
        ref = self.add_aggregate(func, value, self.agg_type(func, value, node), node, None,
                                 None if arg2 is None else _as_micros(arg2))
        return ref if func.startswith("count") else Call(TIME, "micros_time", (ref,))

    def string_agg(self, node: exp.GroupConcat) -> tuple[tuple, object]:
        """((separator, order, distinct), argument node) of STRING_AGG / LISTAGG / GROUP_CONCAT."""
        sep_node = node.args.get("separator")
        sep = ","
        if sep_node is not None:
            if not (isinstance(sep_node, exp.Literal) and sep_node.is_string):
                self.fail(NotSupportedError, f"STRING_AGG's separator must be a string literal: "
                          f"{_text(node)}", node)
            sep = sep_node.this
        arg, keys = node.this, None
        if isinstance(arg, exp.Order):
            arg, keys = arg.this, arg.expressions
        distinct = isinstance(arg, exp.Distinct)
        if distinct:
            arg = arg.expressions[0]
        order = None
        if keys is not None:
            if len(keys) != 1 or keys[0].this != arg:
                self.fail(NotSupportedError, f"STRING_AGG ... ORDER BY is supported by the "
                          f"aggregated value only: {_text(node)}", node)
            order = "desc" if keys[0].args.get("desc") else "asc"
        return (sep, order, distinct), arg

    def quantile(self, node) -> tuple[str, Fraction, object]:
        """(func, fraction, argument node) of MEDIAN / QUANTILE_CONT / QUANTILE_DISC / QUANTILE."""
        if isinstance(node, exp.Median):
            return "quantile_cont", Fraction(1, 2), node.this
        func = "quantile_cont" if isinstance(node, exp.PercentileCont) else "quantile_disc"
        q_node = node.args.get("quantile") or node.args.get("expression")
        try:
            q = self.compile(q_node, lambda n: None) if q_node is not None else None
        except PlanError:       # a column, a list, ...: reported below
            q = None
        if not (isinstance(q, Literal) and (q.dtype.is_numeric) and 0 <= q.value <= 1):
            self.fail(NotSupportedError, f"{func.upper()} needs one quantile: a number literal "
                      f"between 0 and 1 (lists of quantiles are not supported): {_text(node)}", node)
        return func, Fraction(q.value), node.this

    def agg_type(self, func: str, arg: Expr | None, node) -> DType:
        if func.startswith("count"):
            return INT64
        t = arg.dtype
        if func in _COMOMENTS.values():
            return INT64 if func == "regr_count" else FLOAT64
        if func == "string_agg":
            if not (t.is_string or t.is_null):
                self.fail(TypeMismatchError, f"STRING_AGG needs strings, got {t} (cast it to "
                          f"VARCHAR) in {_text(node)}", node)
            return STRING
        if func.startswith("quantile"):
            if not (t.is_numeric or t.is_temporal or t.is_string or t.is_bool):
                self.fail(TypeMismatchError, f"{func.upper()} needs numbers, times or strings, got "
                          f"{t} in {_text(node)}", node)
            if func == "quantile_cont" and (t.is_integer or t.is_null):
                return FLOAT64
            if func == "quantile_cont" and t.is_temporal:   # DuckDB: MEDIAN keeps the unit,
                keep = t.kind == "timestamp" and (t.unit == "us" or isinstance(node, exp.Median))
                return t if keep else timestamp("us", t.tz)   # QUANTILE_CONT gives microseconds
            return t
        if func in _NUMERIC_AGGS and not (t.is_numeric or t.is_null or (func == "sum" and t.is_bool)):
            self.fail(TypeMismatchError, f"{func.upper()} needs a number, got {t} in {_text(node)}", node)
        if func in ("sum", "sum_distinct"):
            if t.is_decimal:
                return decimal(38, t.scale)
            return FLOAT64 if t.is_float else INT64
        if func in _NUMERIC_AGGS:
            return FLOAT64
        return t

    # ------------------------------------------------------------------ result expressions
    def result(self, node, aliases: bool = False) -> Expr:
        """A result expression over keys, aggregates and window bounds. With ``aliases``,
        a name that is a select alias (and not a grouped column) refers to that output."""
        def leaf(n):
            if _is_agg(n):
                return self.aggregate(n)
            bound = self.window_bound(n)
            if bound is not None:
                return bound
            if aliases and isinstance(n, exp.Column) and not n.table and n.name.lower() in self.aliases:
                key = self.key_of(n) if n.name.lower() in self.by_lower else None
                return key if key is not None else self.aliases[n.name.lower()]
            if _find_agg(n) is not None or any(self.window_bound(c) for c in n.find_all(exp.Column)):
                return None
            key = self.key_of(n)
            if key is not None:
                return key
            if isinstance(n, exp.Column):
                alias = self.lateral_alias(n)
                if alias is not None:
                    return alias
                self.column(n)    # unknown column first
                self.fail(PlanError, f"column '{n.name}' must appear in GROUP BY or be used in an "
                          "aggregate function", n)
            return None
        return self.compile(node, leaf)

    def key_of(self, node) -> KeyRef | None:
        if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)) or not self.group_keys:
            return None
        if _contains(node, exp.Column) is None and not isinstance(node, exp.Column):
            return None
        try:
            e = self.row(node, "GROUP BY")
        except PlanError:       # not a key; the caller reports real errors when it recurses
            return None
        return next((KeyRef(k.dtype, i) for i, k in enumerate(self.group_keys) if k == e), None)

    # ------------------------------------------------------------------ the query
    def plan(self) -> QueryPlan:
        analytic = getattr(self.parsed, "analytic", None)
        if analytic is not None and analytic.calls and analytic.calls[0].output not in self.schema:
            raise NotSupportedError("window functions (OVER) run as a step of a Job, over the result "
                                    "of the query without them: plan them through gpuvelo.sql, "
                                    "gpuvelo.Job or gpuvelo.explain", sql=self.parsed.sql)
        sel = functions.rewrite(self.parsed.tree)
        self.check_window()
        items = sel.expressions
        where_node = sel.args.get("where")
        where_expr = None
        if where_node is not None:
            where_expr = self.row(where_node.this, "WHERE")
            if not (where_expr.dtype.is_bool or where_expr.dtype.is_null):
                self.fail(TypeMismatchError, f"WHERE needs a boolean, got {where_expr.dtype}: "
                          f"{_text(where_node.this)}", where_node.this)
        group = sel.args.get("group")
        group_nodes = list(group.expressions) if group is not None else []
        for key in ("rollup", "cube", "grouping_sets"):
            if group is not None and group.args.get(key):
                self.fail(NotSupportedError, f"GROUP BY {key.upper()} is not supported", group)
        having = sel.args.get("having")
        order = sel.args.get("order")
        has_star = any(isinstance(i, exp.Star) for i in items)
        is_aggregate = bool(group_nodes) or having is not None or any(
            _find_agg(i) is not None for i in items) or (
            order is not None and any(_find_agg(o) is not None for o in order.expressions))
        if has_star and is_aggregate:
            self.fail(PlanError, "SELECT * cannot be used with GROUP BY or aggregates; list the columns",
                      next(i for i in items if isinstance(i, exp.Star)))
        if sel.args.get("distinct"):
            self.fail(NotSupportedError, "SELECT DISTINCT is not supported; use GROUP BY", sel)
        key_names = self.plan_group(group_nodes, items)
        self.lateral = True
        outputs = self.plan_outputs(items, is_aggregate)
        self.lateral = False
        having_expr = None
        if having is not None:
            having_expr = self.result(having.this, aliases=True)
            if not (having_expr.dtype.is_bool or having_expr.dtype.is_null):
                self.fail(TypeMismatchError, f"HAVING needs a boolean, got {having_expr.dtype}", having.this)
        order_by = self.plan_order(order, outputs, is_aggregate)
        self.check_list_uses(outputs, having_expr, order_by)
        limit, offset = self.count_clause(sel, "limit"), self.count_clause(sel, "offset")
        notes = ()
        if self.window is not None and not is_aggregate:
            notes = ("WINDOW on a query without aggregates: rows are only assigned windows",)
        return QueryPlan(
            sql=self.sql, source=self.parsed.source, schema=self.schema, where=where_expr,
            group_keys=tuple(self.group_keys), key_names=tuple(key_names),
            aggregates=tuple(self.aggregates), outputs=tuple(outputs), having=having_expr,
            order_by=order_by, limit=limit, is_aggregate=is_aggregate,
            emit=self.parsed.emit or "final", emit_explicit=self.parsed.emit is not None,
            window=self.window, output_name=self.parsed.output_name, offset=offset, notes=notes,
            limit_percent=self.limit_percent)

    def check_window(self) -> None:
        """Check the WINDOW clause: its time column, and no source column read by a window
        bound's name."""
        w = self.window
        if w is not None:
            self.check_bound_names()
        if w is None or w.time_column is None:
            return
        name = self.by_lower.get(w.time_column.lower())
        if name is None:
            self.fail(UnknownColumnError, f"unknown window time column '{w.time_column}'; available: "
                      + ", ".join(self.schema), self.parsed.tree.args.get("stream_window"))
        t = self.schema[name]
        if not (t.kind == "timestamp" or t.is_integer):
            self.fail(PlanError, f"window time column '{name}' must be a timestamp or an integer "
                      f"(epoch milliseconds), not {t}")
        self.window = replace(w, time_column=name)

    def check_bound_names(self) -> None:
        """PlanError for a source column read by a window bound's name (``window_start``,
        ``window_end``, ...) in a windowed query: the name is taken by the bound."""
        for node in self.parsed.tree.find_all(exp.Column):
            name = node.name.lower()
            if node.table or name not in WINDOW_BOUNDS or name not in self.by_lower:
                continue
            which = WINDOW_BOUNDS[name]
            self.fail(PlanError, f"'{node.name}' is a column of the source, but in a query with a "
                      f"WINDOW clause that name is taken by the window's {which} bound: qualify "
                      f"the column ({self.parsed.source_alias}.{node.name}) or rename it in the "
                      f"source (the bound is also _window_{which})", node)

    def plan_group(self, group_nodes, items) -> list[str]:
        names = []
        aliased = {i.alias.lower(): i for i in items if isinstance(i, exp.Alias)}
        for g in group_nodes:
            name = None
            if isinstance(g, exp.Literal) and not g.is_string:
                pos = int(g.this)
                if not 1 <= pos <= len(items):
                    self.fail(PlanError, f"GROUP BY position {pos} is not in the select list "
                              f"(1..{len(items)})", g)
                g = items[pos - 1]
            elif isinstance(g, exp.Column) and not g.table and g.name.lower() not in self.by_lower \
                    and g.name.lower() in aliased:
                g = aliased[g.name.lower()]
            if isinstance(g, exp.Alias):
                name, g = g.alias, g.this
            agg = _find_agg(g)
            if agg is not None:
                self.fail(PlanError, f"aggregate functions are not allowed in GROUP BY: {_text(agg)}", agg)
            key = self.row(g, "GROUP BY")
            if key not in self.group_keys:
                self.group_keys.append(key)
                names.append(name or (key.name if isinstance(key, ColumnRef) else _display_name(g)))
        return names

    def plan_outputs(self, items, is_aggregate: bool) -> list[OutputColumn]:
        outputs = []
        for item in items:
            if isinstance(item, exp.Star):
                outputs.extend(self.star_outputs(item))
                continue
            node = item.this if isinstance(item, exp.Alias) else item
            if is_aggregate:
                e = self.result(node)
            else:
                bound = self.window_bound(node)
                e = self.row(node, "a query without GROUP BY") if bound is None else bound
            if isinstance(item, exp.Alias):
                name = item.alias
            elif isinstance(node, exp.Column):
                name = self.by_lower.get(node.name.lower(), node.name)
            else:
                name = _display_name(node)
            outputs.append(OutputColumn(name, e))
            self.aliases.setdefault(name.lower(), e)
        return outputs

    def star_outputs(self, star: exp.Star) -> list[OutputColumn]:
        """``*`` with DuckDB's modifiers: ``EXCLUDE (a, b)`` drops columns, ``REPLACE (expr
        AS a)`` computes ``a`` in place, ``RENAME (a AS b)`` renames it."""
        def names(nodes, what):
            out = {}
            for n in nodes or []:
                col = n.this if isinstance(n, exp.Alias) else n
                if isinstance(n, exp.Alias) and what == "REPLACE":
                    col = exp.column(n.alias)
                if not isinstance(col, exp.Column) or col.name.lower() not in self.by_lower:
                    self.fail(UnknownColumnError, f"unknown column in * {what}: {_text(n)}; "
                              "available: " + ", ".join(self.schema), n)
                out[col.name.lower()] = n
            return out

        excluded = names(star.args.get("except_"), "EXCLUDE")
        replaced = names(star.args.get("replace"), "REPLACE")
        renamed = names(star.args.get("rename"), "RENAME")
        outputs = []
        for n, t in self.schema.items():
            if n in self.virtual:
                continue
            key = n.lower()
            if key in excluded:
                continue
            if key in replaced:
                e = self.row(replaced[key].this, "a query without GROUP BY")
            else:
                self.check_readable(n, star)
                e = ColumnRef(t, n)
            outputs.append(OutputColumn(renamed[key].alias if key in renamed else n, e))
        return outputs

    def plan_order(self, order, outputs, is_aggregate: bool) -> tuple[OrderKey, ...]:
        if order is None:
            return ()
        keys = []
        for o in order.expressions:
            if not isinstance(o, exp.Ordered):   # a bare expression: ascending, NULLs last
                o = exp.Ordered(this=o.copy(), nulls_first=False)
            node = o.this
            if isinstance(node, exp.Literal) and not node.is_string:
                pos = int(node.this)
                if not 1 <= pos <= len(outputs):
                    self.fail(PlanError, f"ORDER BY position {pos} is not in the select list "
                              f"(1..{len(outputs)})", node)
                e = outputs[pos - 1].expr
            elif is_aggregate:
                e = self.result(node, aliases=True)
            elif isinstance(node, exp.Column) and not node.table and node.name.lower() in self.aliases:
                e = self.aliases[node.name.lower()]      # an output name before a column (DuckDB)
            else:
                e = self.row(node, "ORDER BY of a query without GROUP BY")
            keys.append(OrderKey(e, bool(o.args.get("desc")), bool(o.args.get("nulls_first"))))
        return tuple(keys)

    def count_clause(self, sel, key: str) -> int | None:
        """LIMIT / OFFSET n (also ``FETCH FIRST n ROWS ONLY``) as a number of rows; LIMIT p
        PERCENT as ``None`` with the percentage in ``self.limit_percent``."""
        clause = sel.args.get(key)
        if clause is None:
            return None
        value = clause.args.get("count") if isinstance(clause, exp.Fetch) else clause.expression
        options = clause.args.get("limit_options")
        if options is not None and options.args.get("with_ties"):
            self.fail(NotSupportedError, f"{key.upper()} ... WITH TIES is not supported: {_text(clause)}", clause)
        if options is not None and options.args.get("percent"):
            if not (isinstance(value, exp.Literal) and not value.is_string
                    and 0 <= float(value.this) <= 100):
                self.fail(PlanError, f"LIMIT ... PERCENT needs a number from 0 to 100: {_text(clause)}", clause)
            self.limit_percent = float(value.this)
            return None
        if value is None:            # FETCH FIRST ROW ONLY
            return 1
        if key == "limit" and (isinstance(value, exp.Null) or
                               (isinstance(value, exp.Var) and value.name.upper() == "ALL")):
            return None              # LIMIT ALL / LIMIT NULL: no limit, as DuckDB
        if not (isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit()):
            self.fail(PlanError, f"{key.upper()} must be a non-negative integer literal: {_text(clause)}", clause)
        return int(value.this)


def plan_query(parsed_or_sql: ParsedQuery | str, schema: dict[str, DType],
               stage_values: dict | None = None, qualified: dict | None = None) -> QueryPlan:
    """Validate a query against its source ``schema`` (name -> DType, in column order) and
    build its :class:`QueryPlan`. Raises PlanError (or a subclass) saying what and where.
    ``stage_values``: name -> (DType, list of Python values) of the query's value stages
    (``ParsedQuery.value_stages``; the values may be empty while only validating).
    ``qualified``: (table alias, column) -> the schema's column, for a joined source's
    renamed columns (``t.x`` where both sides have an ``x``)."""
    parsed = parse_query(parsed_or_sql) if isinstance(parsed_or_sql, str) else parsed_or_sql
    return _Planner(parsed, schema, stage_values, qualified).plan()
