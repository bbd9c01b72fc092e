"""PIVOT and UNPIVOT on a FROM item, in plain SQL (sqlglot tree -> tree), as DuckDB runs them.

``FROM (SELECT g, k, v FROM t) PIVOT (SUM(v) [AS s], ... FOR k IN ('a', 'b' [AS bee]) [k2 IN (...)])``
-> ``FROM (SELECT g, SUM(v) FILTER (WHERE k IS NOT DISTINCT FROM 'a') AS a, ... FROM (...)
GROUP BY g)``: the group columns are the input's columns that are neither pivoted nor
aggregated, one output column per IN value (per combination of the IN lists) and
aggregate, named as DuckDB names them (``a``; ``a_s`` with an alias or several aggregates).

``FROM (SELECT g, a, b FROM t) UNPIVOT (val FOR name IN (a, b))`` -> the UNION ALL of
``SELECT g, 'a' AS name, a AS val FROM (...) WHERE a IS NOT NULL`` per IN column.

Both need the input's column names: a subquery or CTE that lists its columns (no ``*``).
Over a plain table (whose columns are known only when the job opens it) they are a
NotSupportedError that says how to write it.
"""

from __future__ import annotations

import itertools

from sqlglot import exp

from ..errors import NotSupportedError
from .dialect import Gpuvelo
from .windows import where


def expand_pivots(statement: exp.Expression, sql: str, columns_of=None) -> exp.Expression:
    """``statement`` with every PIVOT / UNPIVOT of a FROM or JOIN item written out.
    ``columns_of(table name)``: the column names of a table the query reads (None when
    unknown), for a PIVOT of a plain table."""
    def swap(node):
        if isinstance(node, (exp.Table, exp.Subquery)) and node.args.get("pivots"):
            return _expanded(node, sql, visible_ctes(node), columns_of)
        return node
    if not isinstance(statement, exp.Pivot) and next(statement.find_all(exp.Pivot), None) is None:
        return statement                 # nothing to do: no copy of a large tree
    if isinstance(statement, exp.Pivot):
        raise NotSupportedError("the PIVOT statement (PIVOT t ON ... USING ...) is not supported: "
                                "write SELECT * FROM (SELECT ...) PIVOT (agg FOR col IN (values))",
                                **where(statement, sql))
    return statement.transform(swap)


def visible_ctes(node) -> dict[str, exp.Expression]:
    """The CTEs visible at ``node``: name -> its query."""
    out: dict[str, exp.Expression] = {}
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") if isinstance(parent, exp.Expression) else None
        if isinstance(with_, exp.With):
            for cte in with_.expressions:
                out.setdefault(cte.alias.lower(), cte.this)
        parent = parent.parent
    return out


def _expanded(node, sql: str, ctes: dict, columns_of=None) -> exp.Subquery:
    pivots = node.args["pivots"]
    if len(pivots) != 1:
        raise NotSupportedError("one PIVOT / UNPIVOT per FROM item is supported", **where(node, sql))
    pivot = pivots[0]
    kind = "UNPIVOT" if pivot.args.get("unpivot") else "PIVOT"
    inner = node.copy()
    inner.set("pivots", None)
    alias = pivot.args.get("alias") or node.args.get("alias")
    inner.set("alias", None)
    columns = known_columns(inner, ctes, columns_of)
    if columns is None:
        raise NotSupportedError(
            f"{kind} needs the names of its input's columns: {kind} a subquery that lists them "
            f"(FROM (SELECT g, k, v FROM t) {kind} (...)), not a table or SELECT *",
            **where(node, sql))
    source = inner if isinstance(inner, exp.Subquery) else exp.Subquery(this=exp.select("*").from_(inner))
    body = _unpivot(pivot, columns, source, sql) if kind == "UNPIVOT" else _pivot(pivot, columns, source, sql)
    name = alias.this if isinstance(alias, exp.TableAlias) else alias
    return exp.Subquery(this=body, alias=exp.TableAlias(this=name.copy()) if name is not None else None)


def known_columns(item, ctes: dict, columns_of=None) -> list[str] | None:
    """The column names of a FROM item when they are known before the job runs: a subquery
    or CTE that lists them, or (through the job's ``columns_of``) a table or file."""
    columns = _columns(item, ctes)
    if columns is None and columns_of is not None and isinstance(item, exp.Table) \
            and isinstance(item.this, exp.Identifier) and item.name.lower() not in ctes:
        columns = columns_of(item.name)
    return columns


def _columns(item, ctes: dict) -> list[str] | None:
    """The output column names of a FROM item whose query lists them; None if unknown."""
    query = item.this if isinstance(item, exp.Subquery) else \
        ctes.get(item.name.lower()) if isinstance(item, exp.Table) and not item.db else None
    while isinstance(query, exp.Subquery):
        query = query.this
    if isinstance(query, exp.SetOperation):
        query = query.this
        while isinstance(query, exp.SetOperation):
            query = query.this
    if not isinstance(query, exp.Select) or any(
            isinstance(i, exp.Star) or (isinstance(i, exp.Column) and isinstance(i.this, exp.Star))
            for i in query.expressions):
        return None
    return [_name(i) for i in query.expressions]


def _name(item) -> str:
    if isinstance(item, exp.Alias):
        return item.alias
    if isinstance(item, exp.Column):
        return item.name
    return item.sql(dialect=Gpuvelo, normalize_functions="lower")


def _value_name(value) -> str:
    """DuckDB's column name part for an IN value: its alias, or its text."""
    if isinstance(value, exp.PivotAlias):
        return value.alias
    if isinstance(value, exp.Literal):
        return value.this
    if isinstance(value, exp.Boolean):
        return "true" if value.this else "false"
    if isinstance(value, exp.Null):
        return "NULL"
    return value.sql(dialect=Gpuvelo)


def _agg_name(agg) -> str:
    """DuckDB's name part for an unaliased pivot aggregate: ``count_star()``, ``sum(v)``."""
    if isinstance(agg, exp.Count) and isinstance(agg.this, exp.Star):
        return "count_star()"
    return agg.sql(dialect=Gpuvelo, normalize_functions="lower")


def _pivot(pivot: exp.Pivot, columns: list[str], source, sql: str) -> exp.Select:
    fields = pivot.args.get("fields") or []
    aggs = list(pivot.expressions)
    if not fields or not aggs or any(not isinstance(f, exp.In) or not f.expressions for f in fields):
        raise NotSupportedError("PIVOT needs aggregates and FOR column IN (values, ...): "
                                f"{pivot.sql(dialect=Gpuvelo)}", **where(pivot, sql))
    pivoted = {f.this.name.lower() for f in fields}
    used = {c.name.lower() for a in aggs for c in a.find_all(exp.Column)}
    keys = [c for c in columns if c.lower() not in pivoted | used]
    group = pivot.args.get("group")
    if group is not None:         # PIVOT (... GROUP BY g): only these columns group
        if not all(isinstance(g, exp.Column) for g in group.expressions):
            raise NotSupportedError("PIVOT's GROUP BY takes column names: "
                                    f"{group.sql(dialect=Gpuvelo)}", **where(group, sql))
        keys = [g.name for g in group.expressions]
    named = len(aggs) > 1 or isinstance(aggs[0], exp.Alias)
    items: list[exp.Expression] = [exp.column(k, quoted=True) for k in keys]
    for combo in itertools.product(*[f.expressions for f in fields]):
        cond = exp.and_(*[exp.NullSafeEQ(this=f.this.copy(), expression=(
            v.this if isinstance(v, exp.PivotAlias) else v).copy()) for f, v in zip(fields, combo)])
        prefix = "_".join(_value_name(v) for v in combo)
        for agg in aggs:
            call = agg.this if isinstance(agg, exp.Alias) else agg
            suffix = agg.alias if isinstance(agg, exp.Alias) else _agg_name(agg)
            filtered = exp.Filter(this=call.copy(), expression=exp.Where(this=cond.copy()))
            items.append(exp.alias_(filtered, f"{prefix}_{suffix}" if named else prefix, quoted=True))
    out = exp.select(*items).from_(source.copy())
    if keys:
        out.set("group", exp.Group(expressions=[exp.column(k, quoted=True) for k in keys]))
    return out


def _unpivot(pivot: exp.Pivot, columns: list[str], source, sql: str) -> exp.Expression:
    fields = pivot.args.get("fields") or []
    values = list(pivot.expressions)
    if len(fields) != 1 or len(values) != 1 or not isinstance(fields[0], exp.In):
        raise NotSupportedError("UNPIVOT (value FOR name IN (columns)) or ((v1, v2) FOR name IN "
                                f"((a, b), ...)) is supported: {pivot.sql(dialect=Gpuvelo)}",
                                **where(pivot, sql))
    name_col = fields[0].this.name
    value_cols = [v.name for v in values[0].expressions] if isinstance(values[0], exp.Tuple) \
        else [values[0].name]
    entries = [_unpivot_entry(e, len(value_cols), sql) for e in fields[0].expressions]
    unpivoted = {c.lower() for _, cols in entries for c in cols}
    keys = [c for c in columns if c.lower() not in unpivoted]
    branches = []
    for label, cols in entries:
        items = [exp.column(k, quoted=True) for k in keys] + \
            [exp.alias_(exp.Literal.string(label), name_col, quoted=True)] + \
            [exp.alias_(exp.column(c, quoted=True), v, quoted=True) for c, v in zip(cols, value_cols)]
        branch = exp.select(*items).from_(source.copy())
        if not pivot.args.get("include_nulls"):     # a row with a NULL value is left out
            branch = branch.where(exp.and_(*[exp.Not(this=exp.Is(
                this=exp.column(c, quoted=True), expression=exp.Null())) for c in cols]))
        branches.append(branch)
    body = branches[0]
    for b in branches[1:]:
        body = exp.Union(this=body, expression=b, distinct=False)
    return body


def _unpivot_entry(entry, width: int, sql: str) -> tuple[str, list[str]]:
    """(the name column's value, the columns) of one UNPIVOT IN entry: ``jan``, ``jan AS
    'j'``, ``(jan, feb)`` (named ``jan_feb``, as DuckDB) or ``(jan, feb) AS x``."""
    label = entry.alias if isinstance(entry, exp.PivotAlias) else None
    inner = entry.this if isinstance(entry, exp.PivotAlias) else entry
    parts = inner.expressions if isinstance(inner, exp.Tuple) else [inner]
    cols = [c.name if isinstance(c, exp.Column) else _value_name(c) for c in parts]
    if len(cols) != width:
        raise NotSupportedError(f"UNPIVOT names {width} value column(s), but this IN entry has "
                                f"{len(cols)}: {entry.sql(dialect=Gpuvelo)}", **where(entry, sql))
    return (label or "_".join(cols)), cols
