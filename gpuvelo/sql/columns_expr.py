"""DuckDB's ``COLUMNS(...)`` star expressions in the select list, written out (tree -> tree).

``SELECT MAX(COLUMNS(*)) FROM t`` -> ``SELECT MAX(a) AS a, MAX(b) AS b, ... FROM t``: an item
that holds ``COLUMNS(*)``, ``COLUMNS('regex')`` (the columns whose name the regular
expression finds) or ``COLUMNS(['a', 'b'])`` becomes one item per matching column of the
query's input, named after the column (or all by the item's alias, as DuckDB names them).
The input's columns come from the subquery or CTE that lists them, or from the job
(``columns_of``: a table's or file's column names); otherwise, and for COLUMNS with a
lambda, a NotSupportedError says so.
"""

from __future__ import annotations

import re

from sqlglot import exp

from ..errors import NotSupportedError, UnknownColumnError
from .pivot import known_columns, visible_ctes
from .windows import where


def expand_columns(statement: exp.Expression, sql: str, columns_of=None) -> exp.Expression:
    """``statement`` with every select item holding ``COLUMNS(...)`` written out."""
    if not any(True for _ in statement.find_all(exp.Columns)):
        return statement

    def swap(node):
        if isinstance(node, exp.Select) and any(_spec(i) is not None for i in node.expressions):
            return _expanded(node, sql, columns_of)
        return node
    return statement.transform(swap)


def _spec(item):
    """The one COLUMNS(...) call in a select item, or None."""
    return next(iter(item.find_all(exp.Columns)), None)


def _input_columns(select: exp.Select, columns_of) -> list[str] | None:
    source = select.args.get("from_")
    if source is None or select.args.get("joins"):
        return None
    return known_columns(source.this, visible_ctes(source.this), columns_of)


def _expanded(select: exp.Select, sql: str, columns_of) -> exp.Select:
    columns = _input_columns(select, columns_of)
    items = []
    for item in select.expressions:
        spec = _spec(item)
        if spec is None:
            items.append(item)
            continue
        if columns is None:
            raise NotSupportedError("COLUMNS(...) needs the names of the query's input columns: one "
                                    "table, file, or subquery that lists them (not a join or SELECT *)",
                                    **where(spec, sql))
        matched = _matching(spec, columns, sql)
        alias = item.alias if isinstance(item, exp.Alias) else None
        body = item.this if isinstance(item, exp.Alias) else item
        for name in matched:
            def put(node, name=name):
                return exp.column(name, quoted=True) if isinstance(node, exp.Columns) else node
            items.append(exp.alias_(body.copy().transform(put), alias or name, quoted=True))
    out = select.copy()
    out.set("expressions", items)
    return out


def _matching(spec: exp.Columns, columns: list[str], sql: str) -> list[str]:
    """The input columns a COLUMNS(...) selects, in input order."""
    arg = spec.this
    if isinstance(arg, exp.Star):
        return list(columns)
    if isinstance(arg, exp.Literal) and arg.is_string:
        try:
            pattern = re.compile(arg.this)
        except re.error as e:
            raise NotSupportedError(f"COLUMNS('{arg.this}'): not a regular expression: {e}",
                                    **where(spec, sql)) from None
        found = [c for c in columns if pattern.search(c)]
        if not found:
            raise UnknownColumnError(f"COLUMNS('{arg.this}') matches no column; the columns are "
                                     + ", ".join(columns), **where(spec, sql))
        return found
    if isinstance(arg, exp.Array) and all(isinstance(e, exp.Literal) and e.is_string
                                          for e in arg.expressions):
        by_lower = {c.lower(): c for c in columns}
        missing = [e.this for e in arg.expressions if e.this.lower() not in by_lower]
        if missing:
            raise UnknownColumnError(f"COLUMNS([...]) names unknown column '{missing[0]}'; the "
                                     "columns are " + ", ".join(columns), **where(spec, sql))
        return [by_lower[e.this.lower()] for e in arg.expressions]
    raise NotSupportedError("COLUMNS(*), COLUMNS('regex') and COLUMNS(['a', 'b']) are supported "
                            f"(not lambdas): {spec.sql()}", **where(spec, sql))
