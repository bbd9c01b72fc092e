"""A readable, multi-line description of a :class:`~gpuvelo.sql.plan.QueryPlan`."""

from __future__ import annotations

import datetime as _dt

from .plan import (AggRef, Call, Case, Cast, ColumnRef, Expr, KeyRef, Literal, QueryPlan,
                   WindowRef)

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "eq": "=", "ne": "<>",
          "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "AND", "or": "OR"}

# The partial accumulators each aggregate keeps (the state model in DESIGN.md).
ACCUMULATORS = {"count_star": "n", "count": "n", "count_distinct": "distinct set",
                "sum_distinct": "distinct set", "avg_distinct": "distinct set", "sum": "sum",
                "avg": "sum, n", "min": "min", "max": "max", "stddev_samp": "n, mean, M2",
                "stddev_pop": "n, mean, M2", "var_samp": "n, mean, M2", "var_pop": "n, mean, M2",
                "first": "value, arrival position", "last": "value, arrival position",
                "any_value": "value, arrival position", "quantile_cont": "every value",
                "quantile_disc": "every value", "arg_max": "value, order key, arrival position",
                "arg_min": "value, order key, arrival position",
                "string_agg": "every value and its arrival position",
                "mode": "every value and its arrival position",
                "list": "every kept value, its arrival position (and ORDER BY value)",
                **{f: "n, means, M2s, co-moment" for f in ("corr", "covar_pop", "covar_samp",
                   "regr_slope", "regr_intercept", "regr_r2", "regr_count", "regr_avgx",
                   "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy")}}


def _agg_args(a) -> str:
    """An aggregate's arguments as text: ``*``, ``x``, ``x, by``, ``x, 1/2`` (quantiles),
    ``DISTINCT x ORDER BY y DESC`` (LIST), ``x, '-' ORDER BY x`` (STRING_AGG)."""
    if a.arg is None:
        return "*"
    if a.func in ("list", "string_agg") and isinstance(a.param, tuple):
        return _ordered_agg_args(a)
    extra = [expr_text(a.arg2)] if a.arg2 is not None else [str(a.param)] if a.param is not None else []
    return ", ".join([expr_text(a.arg)] + extra)


def _ordered_agg_args(a) -> str:
    """LIST / STRING_AGG arguments with their DISTINCT, separator, ORDER BY and FILTER."""
    if a.func == "list":
        order, nulls_first, distinct = a.param
        separator = ""
    else:
        sep, order, distinct = a.param
        separator, nulls_first = f", {sep!r}", None
    text = ("DISTINCT " if distinct else "") + expr_text(a.arg) + separator
    if order is not None:
        by = expr_text(a.arg2) if a.arg2 is not None else expr_text(a.arg)
        text += f" ORDER BY {by} {order.upper()}"
        if nulls_first is not None:
            text += " NULLS FIRST" if nulls_first else " NULLS LAST"
    if a.filter is not None:
        text += f") FILTER (WHERE {expr_text(a.filter)}"
    return text


def _literal_text(value) -> str:
    """A constant as SQL: NULL, 'text', DATE '...', TIMESTAMP '...', numbers."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, _dt.datetime):
        return f"TIMESTAMP '{value}'"
    if isinstance(value, _dt.date):
        return f"DATE '{value}'"
    return str(value)


def expr_text(e: Expr, plan: QueryPlan | None = None) -> str:
    """One expression as text: columns by name, keys/aggregates by their names when known."""
    t = lambda x: expr_text(x, plan)   # noqa: E731
    if isinstance(e, ColumnRef):
        return e.name
    if isinstance(e, Literal):
        return _literal_text(e.value)
    if isinstance(e, KeyRef):
        return f"key#{e.index}" + (f"({plan.key_names[e.index]})" if plan else "")
    if isinstance(e, AggRef):
        return f"agg#{e.index}" + (f"({plan.aggregates[e.index].sql})" if plan else "")
    if isinstance(e, WindowRef):
        return f"window_{e.which}"
    if isinstance(e, Cast):
        return f"CAST({t(e.arg)} AS {e.dtype})"
    if isinstance(e, Case):
        whens = " ".join(f"WHEN {t(c)} THEN {t(v)}" for c, v in e.whens)
        return f"CASE {whens} ELSE {t(e.else_)} END"
    if isinstance(e, Call):
        if e.op in _INFIX:
            return f"({t(e.args[0])} {_INFIX[e.op]} {t(e.args[1])})"
        return f"{e.op}({', '.join(t(a) for a in e.args)})"
    return repr(e)


def explain(plan: QueryPlan) -> str:
    """A readable multi-line description of ``plan`` (for EXPLAIN and logs)."""
    lines = [f"source: {plan.source} ({', '.join(f'{n} {t}' for n, t in plan.schema.items())})"]
    if plan.output_name:
        lines.append(f"output: {plan.output_name}")
    lines.append(f"kind: {'aggregate' if plan.is_aggregate else 'stateless (filter/project)'}")
    if plan.where is not None:
        lines.append(f"filter: {expr_text(plan.where)}")
    if plan.window is not None:
        w = plan.window
        parts = [f"{k}={getattr(w, k + '_ms')}ms" for k in ("size", "advance", "gap", "grace")
                 if getattr(w, k + "_ms") is not None]
        lines.append(f"window: {w.kind} on {w.time_column or '(job event time)'} {' '.join(parts)}")
    if plan.group_keys:
        lines.append("group keys:")
        lines += [f"  #{i} {n} = {expr_text(k)} : {k.dtype}"
                  for i, (n, k) in enumerate(zip(plan.key_names, plan.group_keys))]
    if plan.aggregates:
        lines.append("aggregates:")
        lines += [f"  #{i} {a.func}({_agg_args(a)}) : {a.dtype}"
                  f"  [accumulators: {ACCUMULATORS[a.func]}]" for i, a in enumerate(plan.aggregates)]
    lines.append("outputs:")
    lines += [f"  {o.name} = {expr_text(o.expr, plan)} : {o.expr.dtype}" for o in plan.outputs]
    if plan.having is not None:
        lines.append(f"having: {expr_text(plan.having, plan)}")
    if plan.order_by:
        keys = ", ".join(f"{expr_text(k.expr, plan)} {'DESC' if k.descending else 'ASC'}"
                         f"{' NULLS FIRST' if k.nulls_first else ' NULLS LAST'}" for k in plan.order_by)
        lines.append(f"order by: {keys}")
    if plan.limit is not None or plan.offset is not None:
        lines.append(f"limit: {plan.limit}" + (f" offset {plan.offset}" if plan.offset else ""))
    lines.append(f"emit: {plan.emit}{'' if plan.emit_explicit else ' (default)'}")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)
