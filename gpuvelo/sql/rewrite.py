"""Rewrites of the parsed query into the smaller SQL the planner knows (sqlglot tree -> tree).

Each rewrite turns a convenience into its plain equivalent, so that no later stage needs to
know the convenience existed:

* derived tables -- ``FROM (SELECT ... FROM src WHERE ...)`` and ``WITH x AS (...)`` -- whose
  query only filters and projects one source are inlined: the outer query reads ``src``
  with the inner WHERE added and the inner expressions substituted for their names; those
  that aggregate (or call window functions, or QUALIFY) become *stages* that run first
  (see :func:`inline_derived_tables`); a column alias list (``AS s(a, b)``) renames their
  columns; SELECT without FROM and ``VALUES`` read a small table of literal rows
  (:func:`literal_tables`);
* set operations (UNION / INTERSECT / EXCEPT [ALL]): each branch a query of its own, the
  results combined on the host (:func:`split_set_operation`);
* ``t.*`` -> ``*`` (one source); ``SELECT DISTINCT a, b`` -> ``GROUP BY a, b``; ``GROUP BY ALL`` -> every select item
  without an aggregate; ``ORDER BY ALL`` -> every output column, left to right;
* ``agg(x) FILTER (WHERE c)`` -> ``agg(CASE WHEN c THEN x END)`` (``COUNT(*)`` counts
  ``CASE WHEN c THEN 1 END``), ``count_if(c)`` -> ``SUM(c)`` (of the booleans, as DuckDB),
  ``bool_and`` / ``bool_or`` -> ``MIN`` / ``MAX`` of the boolean; DuckDB's other
  spellings (``mean``, ``fsum``, ``arbitrary``, ``count_star()``, ...) and the aggregates that
  are formulas of others (``geomean``, ``sem``, ``product``: see ``_AGG_SPELLINGS``);
* ``a IS [NOT] DISTINCT FROM b`` -> ``COALESCE(a = b, FALSE) OR (a IS NULL AND b IS NULL)``
  (negated for IS DISTINCT FROM);
* ``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)`` -> ``PERCENTILE_CONT(x, q)`` (likewise
  PERCENTILE_DISC); ``IGNORE NULLS`` around ANY_VALUE is dropped (it skips NULLs anyway);
* ``x SIMILAR TO p`` -> ``regexp_full_match(x, p)`` (as DuckDB).
"""

from __future__ import annotations

import re
from decimal import Decimal

import sqlglot
from sqlglot import exp

from ..errors import NotSupportedError, PlanError, UnknownColumnError
from .dialect import Gpuvelo
from .windows import where as _where

# the names that read a stream window's bounds (``SELECT window_start, ...``)
WINDOW_BOUNDS = {"window_start": "start", "_window_start": "start", "windowstart": "start",
                 "window_end": "end", "_window_end": "end", "windowend": "end"}
_INLINE_BLOCKERS = ("group", "having", "order", "limit", "offset", "distinct", "stream_window",
                    "emit", "joins", "qualify", "windows")


# --------------------------------------------------------------------------- derived tables
def inline_derived_tables(select: exp.Select, sql: str, ctes: dict | None = None,
                          stages: list | None = None) -> exp.Select:
    """``select`` with a FROM subquery or CTE reference replaced by the source it reads.

    A derived table that aggregates (GROUP BY, aggregates, DISTINCT, ORDER BY/LIMIT) cannot
    be inlined: with a ``stages`` list it becomes a *stage* -- appended as (name, its query)
    -- and ``select`` reads a table of that name (the stage's final result); without one it
    is a NotSupportedError."""
    if isinstance(select, exp.SetOperation):
        return select         # runs as a stage; its branches are rewritten when it is parsed
    ctes = dict(ctes or {})
    with_ = select.args.get("with_")
    if with_ is not None:
        if with_.args.get("recursive"):
            raise NotSupportedError("WITH RECURSIVE is not supported", **_where(with_, sql))
        for cte in with_.expressions:
            body = cte.this
            if isinstance(body, exp.SetOperation) and ctes:    # its branches may read earlier CTEs
                body = _with_ctes(body, _ctes_with(ctes))
            ctes[cte.alias.lower()] = _named(inline_derived_tables(body, sql, ctes, stages), cte, sql)
        select = select.copy()
        select.set("with_", None)
    source = select.args.get("from_")
    if source is None:
        return select
    if select.args.get("joins"):
        return _stage_join_sides(select, sql, ctes, stages)
    table = source.this
    derived = _derived_table(table, sql, ctes, stages)
    if derived is None:
        return select
    inner, alias = derived
    blocker = _check_inlinable(inner, table, sql, stages is not None)
    if blocker is not None:
        return _stage(select, inner, alias, stages, sql)
    return _inline(select, inner, alias.lower() if alias else None, sql)


def _derived_table(table, sql: str, ctes: dict, stages: list | None):
    """(its query, its alias) when the FROM / JOIN item ``table`` is a subquery, names a
    CTE or renames a source's columns (``t AS u(a, b)``), else None."""
    if isinstance(table, exp.Subquery):
        inner = table.this
        if isinstance(inner, exp.SetOperation) and ctes:      # its branches may read the CTEs
            inner = _with_ctes(inner, _ctes_with(ctes))
        return _named(inline_derived_tables(inner, sql, ctes, stages), table, sql), table.alias
    if isinstance(table, exp.Table) and not table.db and table.name.lower() in ctes:
        return _named(ctes[table.name.lower()], table, sql), table.alias or table.name
    alias = table.args.get("alias") if isinstance(table, exp.Table) else None
    if isinstance(alias, exp.TableAlias) and alias.columns and isinstance(table.this, exp.Identifier):
        plain = table.copy()
        plain.set("alias", None)
        return _named(exp.select("*").from_(plain), table, sql), table.alias
    return None


# the meta key of a query whose result columns take these names, left to right, once it
# has run (a column alias list over ``*``: ``FROM t AS u(a, b)``; see _named)
COLUMN_NAMES = "gpuvelo_column_names"


def _named(inner, node, sql: str):
    """``inner`` with its first columns renamed by the column alias list of ``node``
    (``(SELECT ...) AS s(a, b)``, ``WITH x(a, b) AS``, ``t AS u(a, b)``), as DuckDB: fewer
    names than columns rename the first ones. Where the select list is known (no ``*``),
    its items are renamed; otherwise the names ride on ``inner.meta[COLUMN_NAMES]`` and the
    query runs as a stage whose result is renamed."""
    alias = node.args.get("alias")
    if not (isinstance(alias, exp.TableAlias) and alias.columns):
        return inner
    names = [c.copy() for c in alias.columns]
    out = inner.copy()
    leaf = out
    while isinstance(leaf, (exp.SetOperation, exp.Subquery)):   # a set operation: its first branch names
        leaf = leaf.this
    if not isinstance(leaf, exp.Select) or any(_star_of(i, None) for i in leaf.expressions):
        out.meta[COLUMN_NAMES] = [n.name for n in names]
        return out
    items = leaf.expressions
    if len(names) > len(items):
        raise PlanError(f"table '{alias.name}' has {len(items)} columns available but "
                        f"{len(names)} columns specified", **_where(node, sql))
    leaf.set("expressions", [exp.alias_(i.this if isinstance(i, exp.Alias) else i, n)
                             for i, n in zip(items, names)] + items[len(names):])
    return out


def _ctes_with(ctes: dict) -> exp.With:
    """A WITH of the CTEs seen so far (their rewritten queries), for a set operation whose
    branches run as queries of their own."""
    return exp.With(expressions=[
        exp.CTE(this=body.copy(), alias=exp.TableAlias(
            this=exp.to_identifier(name),
            columns=[exp.to_identifier(n) for n in body.meta.get(COLUMN_NAMES, [])] or None))
        for name, body in ctes.items()])


# ROWS_TABLE + n names a table of n rows whose one column ROW_COLUMN counts 0 .. n-1
# (int32): what SELECT without FROM and VALUES read (see literal_tables)
ROWS_TABLE, ROW_COLUMN = "__rows", "__row"


def rows_table_size(name: str) -> int | None:
    """n when ``name`` is that of a table of n rows (ROWS_TABLE + n), else None."""
    digits = name[len(ROWS_TABLE):] if name.startswith(ROWS_TABLE) else ""
    return int(digits) if digits.isdigit() else None


def literal_tables(node: exp.Expression, sql: str, data: list | None = None) -> exp.Expression:
    """Every SELECT without FROM reads a table of one row (``SELECT 1 AS a`` -> ``SELECT 1
    AS a FROM __rows1``). ``(VALUES (1, 'a'), (2, 'b')) AS v(id, name)`` of plain literals is
    a table the job builds from them (``data`` collects them: see :func:`_values_table`);
    one with expressions is the derived table ``(SELECT CASE __row WHEN 0 THEN 1 WHEN 1
    THEN 2 END AS id, ... FROM __rows2) AS v`` (columns typed as DuckDB types them; unnamed
    columns are col0, col1, ...), meant for short lists: the CASE makes planning grow with
    the square of the rows."""
    def swap(n):
        if isinstance(n, exp.Values):
            table = _values_table(n, sql, data) if data is not None else None
            return table if table is not None else _values_query(n, sql)
        if isinstance(n, exp.Table) and isinstance(n.this, exp.GenerateSeries):
            return _series_query(n, sql)
        if isinstance(n, exp.Select) and n.args.get("from_") is None:
            star = next((i for i in n.expressions if _star_of(i, None)), None)
            if star is not None:
                raise PlanError("SELECT * with no tables specified is not valid", **_where(star, sql))
            n.set("from_", exp.From(this=exp.to_table(f"{ROWS_TABLE}1")))
        return n
    return node.transform(swap)


def _series_query(table: exp.Table, sql: str) -> exp.Subquery:
    """``range(a, b[, s])`` / ``generate_series(a, b[, s])`` of integer literals in FROM as the
    derived table ``(SELECT a + __row * s AS range FROM __rows<n>)`` (``generate_series``
    includes b, ``range`` does not; the column is named after the function, as DuckDB)."""
    series = table.this
    exclusive = bool(series.args.get("is_end_exclusive"))
    name = "range" if exclusive else "generate_series"

    def number(key, default):
        node = series.args.get(key)
        if node is None:
            return default
        value = node.this if isinstance(node, exp.Neg) else node
        if not (isinstance(value, exp.Literal) and value.is_int):
            raise NotSupportedError(f"{name}() in FROM takes integer literals (dates and "
                                    f"timestamps are not supported): {series.sql(dialect=Gpuvelo)}",
                                    **_where(series, sql))
        return -int(value.this) if isinstance(node, exp.Neg) else int(value.this)

    start, end, step = number("start", 0), number("end", None), number("step", 1)
    if step == 0:
        raise PlanError(f"{name}() needs a step other than 0", **_where(series, sql))
    span = end - start + (0 if exclusive else (1 if step > 0 else -1))
    count = max(0, -(-span // step))                   # ceil(span / step), at least 0
    if count > 50_000_000:
        raise NotSupportedError(f"{name}() of {count:,} rows is more than gpuvelo builds in memory "
                                "(50,000,000)", **_where(series, sql))
    value = exp.Add(this=exp.Literal.number(start), expression=exp.Mul(
        this=exp.column(ROW_COLUMN), expression=exp.Literal.number(step)))
    select = exp.select(exp.alias_(exp.cast(value, "BIGINT"), name, quoted=True)) \
        .from_(f"{ROWS_TABLE}{count}")
    alias = table.args.get("alias")
    return exp.Subquery(this=select, alias=alias.copy() if alias is not None else
                        exp.TableAlias(this=exp.to_identifier(name)))


VALUES_TABLE = "__values"     # a VALUES list of plain literals, as data: __values1, __values2, ...


def _values_table(values: exp.Values, sql: str, data: list) -> exp.Table | None:
    """A VALUES list of plain literals (numbers, strings, booleans, NULL) as a table the job
    builds from the values: appended to ``data`` as (name, column names, SQL types, rows),
    and read by that name. None when a column is not such literals of one kind (then
    :func:`_values_query` writes it out as SQL)."""
    rows = [list(r.expressions) if isinstance(r, exp.Tuple) else [r] for r in values.expressions]
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        return None                     # _values_query reports it
    alias = values.args.get("alias")
    names = [c.name for c in (alias.columns if alias is not None else [])]
    if len(names) > width:
        return None
    names += [f"col{i}" for i in range(len(names), width)]
    types = []
    for i in range(width):
        kind = _literal_kind([r[i] for r in rows])
        if kind is None:
            return None
        types.append(kind)
    values_of = [[_literal_value(r[i]) for r in rows] for i in range(width)]
    name = f"{VALUES_TABLE}{len(data) + 1}"
    data.append((name, tuple(names), tuple(types), tuple(tuple(v) for v in values_of)))
    table = exp.Table(this=exp.to_identifier(name))
    if alias is not None and alias.this:
        table.set("alias", exp.TableAlias(this=alias.this.copy()))
    return table


def _literal_kind(cells: list) -> str | None:
    """The SQL type of a VALUES column of plain literals (as DuckDB types it), or None."""
    plain = [c for c in cells if not isinstance(c, exp.Null)]
    if not plain:
        return None
    if all(isinstance(c, exp.Literal) and c.is_string for c in plain):
        return "VARCHAR"
    if all(isinstance(c, exp.Boolean) for c in plain):
        return "BOOLEAN"
    return _values_type(cells)


def _literal_value(cell):
    """A plain literal's Python value (numbers as their text: the job types them)."""
    if isinstance(cell, exp.Null):
        return None
    if isinstance(cell, exp.Boolean):
        return bool(cell.this)
    if isinstance(cell, exp.Neg):
        return "-" + cell.this.this
    return cell.this


def _values_query(values: exp.Values, sql: str) -> exp.Subquery:
    """``(VALUES ...) AS v(a, b)`` as a derived table over a table of as many rows."""
    rows = [list(r.expressions) if isinstance(r, exp.Tuple) else [r] for r in values.expressions]
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise PlanError(f"VALUES lists must all be the same length, expected {width} entries",
                        **_where(values, sql))
    alias = values.args.get("alias")
    names = [c.copy() for c in (alias.columns if alias is not None else [])]
    if len(names) > width:
        raise PlanError(f"table '{alias.name}' has {width} columns available but {len(names)} "
                        "columns specified", **_where(values, sql))
    names += [exp.to_identifier(f"col{i}") for i in range(len(names), width)]
    items = []
    for i, name in enumerate(names):
        cast = _values_type([r[i] for r in rows])
        cells = [exp.cast(r[i].copy(), cast) if cast else r[i].copy() for r in rows]
        value = cells[0] if len(cells) == 1 else exp.Case(
            this=exp.column(ROW_COLUMN), ifs=[exp.If(this=exp.Literal.number(j), true=c)
                                              for j, c in enumerate(cells)])
        items.append(exp.alias_(value, name))
    select = exp.select(*items).from_(f"{ROWS_TABLE}{len(rows)}")
    return exp.Subquery(this=select, alias=exp.TableAlias(this=alias.this.copy())
                        if alias is not None and alias.this else None)


def _values_type(cells: list) -> str | None:
    """DuckDB's type of a VALUES column of number literals (and NULLs): INTEGER or BIGINT,
    or DECIMAL(p, s) (a literal's digits as written; an integer takes 10 (19) digits beside
    decimals); None for other columns (the CASE's common type) and over 18 digits."""
    texts = []
    for c in cells:
        c = c.this if isinstance(c, exp.Neg) else c
        if isinstance(c, exp.Null):
            continue
        if not (isinstance(c, exp.Literal) and c.is_number) or not c.this.replace(".", "").isdigit():
            return None
        texts.append(c.this)
    ints = [int(t) for t in texts if "." not in t]
    if not texts or any(abs(v) >= 2 ** 63 for v in ints):
        return None
    wide = any(abs(v) >= 2 ** 31 for v in ints)
    decimals = [t.split(".") for t in texts if "." in t]
    if not decimals:
        return "BIGINT" if wide else "INTEGER"
    scale = max(len(f) for _, f in decimals)
    digits = max([len(w) for w, _ in decimals] + ([19 if wide else 10] if ints else []))
    return f"DECIMAL({digits + scale}, {scale})" if digits + scale <= 18 else None


def _with_ctes(node, with_: exp.With):
    """``node`` (a SELECT or set operation) with the CTEs of ``with_`` before its own."""
    out = node.copy()
    own = out.args.get("with_")
    out.set("with_", exp.With(expressions=[c.copy() for c in with_.expressions] +
                              (list(own.expressions) if own is not None else []),
                              recursive=with_.args.get("recursive")))
    return out


_STAGEABLE = ("group", "having", "order", "limit", "offset", "distinct", "aggregates",
              "qualify", "windows", "over", "set operation", "column names", "joins")


def _stage(select: exp.Select, inner: exp.Select, alias: str | None, stages: list, sql: str):
    """``select`` reading the final result of ``inner`` as a table (see inline_derived_tables)."""
    if select.args.get("stream_window") or inner.args.get("stream_window"):
        raise NotSupportedError("a WINDOW clause in or over an aggregating subquery is not "
                                "supported", **_where(select, sql))
    name = (alias or f"__stage{len(stages) + 1}").lower()
    stages.append(_stage_entry(name, inner))
    out = select.copy()
    out.set("from_", exp.From(this=exp.to_table(name)))
    return out


def _stage_entry(name: str, inner) -> tuple:
    """A stage: (name, its query), and the names its result's columns take when the query's
    column alias list is pending (see _named)."""
    names = inner.meta.get(COLUMN_NAMES)
    return (name, inner, tuple(names)) if names else (name, inner)


def _check_inlinable(inner, table, sql: str, staging: bool = False) -> str | None:
    """None when ``inner`` only filters and projects one source; with ``staging``, the
    clause that makes it a stage of its own; otherwise a NotSupportedError."""
    if staging and isinstance(inner, exp.SetOperation):
        return "set operation"
    if staging and inner.meta.get(COLUMN_NAMES):
        return "column names"
    if not isinstance(inner, exp.Select):
        raise NotSupportedError(f"FROM must read one source; {type(inner).__name__.upper()} in a "
                                "subquery is not supported", **_where(table, sql))
    blocker = next((k for k in _INLINE_BLOCKERS if inner.args.get(k)), None)
    if blocker is None and any(_has_aggregate(e) for e in inner.expressions):
        blocker = "aggregates"
    if blocker is None and any(e.find(exp.Window) for e in inner.expressions):
        blocker = "over"      # window functions: the subquery runs first (gpuvelo.sql.analytic)
    if blocker in _STAGEABLE and staging:
        return blocker
    if blocker is not None:
        raise NotSupportedError(
            f"a subquery in FROM must read one source and may filter, project and aggregate "
            f"it (this one uses {blocker.upper().replace('_', ' ')}, which is not supported): "
            f"{table.sql(dialect=Gpuvelo)[:80]}", **_where(table, sql))


def _has_aggregate(node) -> bool:
    return any(isinstance(n, exp.AggFunc) for n in node.walk())


def _inline(outer: exp.Select, inner: exp.Select, alias: str | None, sql: str) -> exp.Select:
    """``outer`` reading ``inner``'s source: the inner WHERE added, the inner select items
    substituted for the names they expose (``alias``: the derived table's name, or None)."""
    inner_items = [_star_of(i, None) or i for i in inner.expressions]
    names: dict[str, exp.Expression] = {}     # exposed name (lower case) -> its expression
    spelled: dict[str, str] = {}              # exposed name (lower case) -> as written
    for item in inner_items:
        if not isinstance(item, exp.Star):
            name = _output_name(item)
            names[name.lower()] = item.this if isinstance(item, exp.Alias) else item
            spelled[name.lower()] = name
    inner_star = next((i for i in inner_items if isinstance(i, exp.Star)), None)
    star = inner_star is not None
    for n in (inner_star.args.get("rename") or []) if star else []:    # * RENAME (a AS b)
        names.setdefault(n.alias.lower(), n.this)
        spelled.setdefault(n.alias.lower(), n.alias)
    _check_exposed(outer, spelled, inner_star, alias, sql)

    def substitute(node):
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            return node
        if node.table and node.table.lower() != alias:
            return node
        found = names.get(node.name.lower())
        if found is not None:
            return found.copy()
        return exp.column(node.this.copy()) if node.table else node

    out = outer.copy()
    items = []
    for item in out.expressions:
        outer_star = _star_of(item, alias)
        if outer_star is not None and star:
            items.extend(_star_over_star(outer_star, inner_items, names, spelled, substitute))
        elif outer_star is not None:
            items.extend(_expand_star(outer_star, names, spelled, substitute))
        elif isinstance(item, exp.Column) and item.name.lower() in names:
            replaced = substitute(item)
            items.append(replaced if isinstance(replaced, exp.Column) and replaced.name == item.name
                         else exp.alias_(replaced, item.name, quoted=False))
        else:
            replaced = item.transform(substitute)
            if replaced != item and not isinstance(item, exp.Alias):
                # named as written over the derived table (sum(x)), not after what x stands for
                replaced = exp.alias_(replaced, _output_name(item), quoted=True)
            items.append(replaced)
    out.set("expressions", items)
    for key in ("where", "group", "having", "order", "stream_window"):
        part = out.args.get(key)
        if part is not None:
            out.set(key, part.transform(substitute))
    inner_where = inner.args.get("where")
    if inner_where is not None:
        outer_where = out.args.get("where")
        cond = inner_where.this.copy() if outer_where is None else exp.and_(
            exp.paren(inner_where.this.copy()), exp.paren(outer_where.this))
        out.set("where", exp.Where(this=cond))
    out.set("from_", inner.args["from_"].copy())
    return out


def _star_of(item, alias: str | None) -> exp.Star | None:
    """The ``*`` that a select item is: ``*`` itself, or ``alias.*`` (any ``x.*`` when
    ``alias`` is None: inside the derived table, whose one source it names)."""
    if isinstance(item, exp.Star):
        return item
    if isinstance(item, exp.Column) and isinstance(item.this, exp.Star) and \
            (alias is None or item.table.lower() == alias):
        return item.this
    return None


def _star_over_star(outer_star: exp.Star, inner_items: list, names: dict, spelled: dict,
                    substitute) -> list[exp.Expression]:
    """The outer query's ``*`` over a derived table with a ``*``: the inner ``*`` with both
    queries' modifiers (the outer ones that name the inner's other items aside), and the
    inner's other items in their places, with those outer modifiers applied."""
    def target(key, n) -> str:      # the column a modifier names
        return (n.alias if key == "replace" else n.this.name if key == "rename" else n.name).lower()

    own = {_output_name(i).lower() for i in inner_items if not isinstance(i, exp.Star)}
    mods = {key: outer_star.args.get(key) or [] for key in ("except_", "replace", "rename")}
    items = []
    for item in inner_items:
        if isinstance(item, exp.Star):
            merged = item.copy()
            for key, nodes in mods.items():
                both = (merged.args.get(key) or []) + [n.copy() for n in nodes if target(key, n) not in own]
                merged.set(key, both or None)
            items.append(merged)
            continue
        name = _output_name(item).lower()
        mine = exp.Star(**{key: [n.copy() for n in nodes if target(key, n) == name] or None
                           for key, nodes in mods.items()})
        items.extend(_expand_star(mine, {name: names[name]}, spelled, substitute))
    return items


def _expand_star(star: exp.Star, names: dict, spelled: dict, substitute) -> list[exp.Expression]:
    """The outer query's ``*`` (with its EXCLUDE / REPLACE / RENAME) over a derived table
    without ``*``: its named items, each under the name it exposes."""
    excluded = {n.name.lower() for n in star.args.get("except_") or []}
    replaced = {n.alias.lower(): n.this for n in star.args.get("replace") or []}
    renamed = {n.this.name.lower(): n.alias for n in star.args.get("rename") or []}
    items = []
    for name, e in names.items():
        if name in excluded:
            continue
        e = replaced[name].transform(substitute) if name in replaced else e.copy()
        out = renamed.get(name, spelled[name])
        plain = isinstance(e, exp.Column) and e.name == out
        items.append(e if plain else exp.alias_(e, out, quoted=False))
    return items


def _check_exposed(outer: exp.Select, names: dict, inner_star, alias: str | None,
                   sql: str) -> None:
    """UnknownColumnError for a column the outer query reads that the derived table
    ``alias`` does not expose (as DuckDB's binder): not among its select items -- when it
    has a ``*``, one its EXCLUDE or RENAME takes away -- nor an alias of the outer select
    list, nor (in a windowed query) a window bound; or a column of another table."""
    hidden: set[str] = set()
    if inner_star is not None:
        hidden = {n.name.lower() for n in inner_star.args.get("except_") or []} | \
            {n.this.name.lower() for n in inner_star.args.get("rename") or []}
        hidden -= names.keys()
    allowed = {i.alias.lower() for i in outer.expressions if isinstance(i, exp.Alias)}
    if outer.args.get("stream_window") is not None:
        allowed |= set(WINDOW_BOUNDS)
    what = f"the subquery '{alias}'" if alias else "the subquery in FROM"
    available = ", ".join(names.values()) if inner_star is None else \
        "its source's columns" + (f" except {', '.join(sorted(hidden))}" if hidden else "")
    for col in _own_columns(outer):
        if col.table and col.table.lower() != alias:
            raise UnknownColumnError(
                f"'{col.sql(dialect=Gpuvelo)}' names table '{col.table}', which this query does not "
                f"read: it reads {what}" + ("" if alias else " (give it an alias to qualify "
                                            "its columns)"), **_where(col, sql))
        if isinstance(col.this, exp.Star):
            continue
        name = col.name.lower()
        exposed = name not in hidden if inner_star is not None else name in names
        if not exposed and (col.table or name not in allowed):
            raise UnknownColumnError(f"column '{col.name}' is not a column of {what}; "
                                     f"available: {available}", **_where(col, sql))


def _own_columns(select: exp.Select):
    """The columns ``select`` reads in its own clauses (not those of its subqueries)."""
    parts = list(select.expressions) + [select.args.get(k) for k in
                                        ("where", "group", "having", "order", "qualify")]
    for part in parts:
        if part is None:
            continue
        for n in part.walk(prune=lambda n: isinstance(n, (exp.Select, exp.Subquery))):
            if isinstance(n, exp.Column):
                yield n


def _stage_join_sides(select: exp.Select, sql: str, ctes: dict, stages: list | None) -> exp.Select:
    """``select`` with each derived table or CTE reference of its FROM and JOINs made a
    stage (see inline_derived_tables) that the join reads as a table of the alias' name:
    beside a JOIN, even a subquery that only filters runs first, to the end of its input."""
    out = select.copy()
    for part in [out.args["from_"]] + list(out.args.get("joins") or []):
        table = part.this
        derived = _derived_table(table, sql, ctes, stages)
        if derived is None:
            continue
        inner, alias = derived
        if stages is None:
            raise NotSupportedError("a subquery or CTE beside a JOIN is not supported here",
                                    **_where(table, sql))
        _check_inlinable(inner, table, sql, staging=True)
        if inner.args.get("stream_window"):
            raise NotSupportedError("a WINDOW clause in a joined subquery is not supported",
                                    **_where(table, sql))
        name = (alias or f"__stage{len(stages) + 1}").lower()
        stages.append(_stage_entry(name, inner))
        part.set("this", exp.to_table(name))
    return out


# --------------------------------------------------------------------------- joins
def _side_name(table) -> str:
    """The name a FROM / JOIN side is known by in the query: its alias, else its name."""
    return (table.alias or table.name).lower()


def _and_terms(node) -> list:
    """The top-level AND terms of ``node`` (none for None)."""
    if node is None:
        return []
    return list(node.flatten()) if isinstance(node, exp.And) else [node]


def _and_all(terms: list):
    """``terms`` joined by AND (each OR parenthesised), or None when there are none: one flat
    chain of ANDs (``exp.and_`` would parenthesise an inner AND, hiding its terms from
    ``flatten``)."""
    if not terms:
        return None
    terms = [exp.paren(t, copy=False) if isinstance(t, exp.Connector) else t for t in terms]
    out = terms[0]
    for term in terms[1:]:
        out = exp.And(this=out, expression=term)
    return out


def join_key_pair(term, earlier, alias: str) -> bool:
    """Whether ``term`` is ``a.x = b.y`` with one column of the side ``alias`` and the
    other of one of the ``earlier`` sides (aliases): a key pair of an equi-join."""
    if not isinstance(term, exp.EQ):
        return False
    owners = [c.table.lower() if isinstance(c, exp.Column) and c.table else None
              for c in (term.this, term.expression)]
    return alias in owners and any(o in earlier and o != alias for o in owners)


def _unqualified_equality(term) -> bool:
    """``x = y`` of two columns not both qualified by table (left for the JOIN's error)."""
    return isinstance(term, exp.EQ) and all(isinstance(c, exp.Column) for c in (term.this, term.expression)) \
        and not all(c.table for c in (term.this, term.expression))


def _check_before_outer(join: exp.Join, moved: list, comma, sql: str) -> None:
    """NotSupportedError for a RIGHT / FULL ``join`` after a comma join or after INNER JOIN
    conditions that explicit_joins moves to WHERE (see there)."""
    side = (join.args.get("side") or "").upper()
    if side not in ("RIGHT", "FULL"):
        return
    if comma is not None:
        raise NotSupportedError(f"a {side} JOIN after a comma join is not supported (the comma "
                                f"binds last: FROM a, b {side} JOIN c joins b and c first); write "
                                f"JOIN ... ON for the comma", **_where(join, sql))
    if moved:
        raise NotSupportedError(f"an INNER JOIN condition that is not an equality of two tables' "
                                f"columns ({moved[0].sql(dialect=Gpuvelo)}) before a {side} JOIN is "
                                f"not supported: it would filter the {side} JOIN's rows too",
                                **_where(join, sql))


def explicit_joins(select: exp.Select, sql: str) -> exp.Select:
    """Comma joins and INNER JOIN conditions in the equi-join form the engine runs.

    ``FROM t, d WHERE t.k = d.k AND c`` -> ``FROM t JOIN d ON t.k = d.k WHERE c`` (the
    WHERE's top-level equalities between a column of the new side and one of an earlier
    side become its keys), and without such an equality ``CROSS JOIN d``. An INNER JOIN's
    ON terms that are not such key pairs (``t.x < d.y``, ``d.w > 1``) move to WHERE -- the
    same rows for an inner join -- and an INNER JOIN left without keys is a CROSS JOIN.
    Neither is the same before a RIGHT or FULL JOIN (whose unmatched rows the moved terms
    would filter; ``FROM a, b RIGHT JOIN c`` joins b and c first): a NotSupportedError."""
    joins = select.args.get("joins")
    if not joins:
        return select
    out = select.copy()
    seen = {_side_name(out.args["from_"].this)}
    where_terms = _and_terms(out.args["where"].this if out.args.get("where") else None)
    moved, comma = [], None
    for join in out.args["joins"]:
        if not isinstance(join.this, exp.Table):
            continue                  # _join_spec reports it
        alias = _side_name(join.this)
        args = {k: v for k, v in join.args.items() if k not in ("this", "pivots") and v}
        _check_before_outer(join, moved, comma, sql)
        if not args and "pivots" not in join.args:   # a comma join (sqlglot: no JOIN keyword parsed)
            comma = join
            keys = [t for t in where_terms if join_key_pair(t, seen, alias)]
            where_terms = [t for t in where_terms if t not in keys]
            join.set("on", _and_all(keys))
            join.set("kind", None if keys else "CROSS")
        elif set(args) == {"on"} or (set(args) == {"on", "kind"} and args["kind"].upper() == "INNER"):
            terms = _and_terms(join.args["on"])
            keys = [t for t in terms if join_key_pair(t, seen, alias) or _unqualified_equality(t)]
            moved += [t for t in terms if t not in keys]
            join.set("on", _and_all(keys))
            join.set("kind", None if keys else "CROSS")
        seen.add(alias)
    cond = _and_all([t.copy() for t in moved + where_terms])
    out.set("where", exp.Where(this=cond) if cond is not None else None)
    return out


# --------------------------------------------------------------------------- EXISTS, SEMI / ANTI
EXISTS_ALIAS = "__exists"      # the SEMI / ANTI join an EXISTS becomes: __exists1, __exists2, ...


def exists_joins(select: exp.Select, sql: str) -> exp.Select:
    """Correlated ``[NOT] EXISTS`` in WHERE as SEMI (ANTI) joins, and the conditions of a
    SEMI / ANTI JOIN's ON on the joined table alone as a filter of that table.

    ``WHERE c AND [NOT] EXISTS (SELECT ... FROM d WHERE d.id = t.k AND d.x > 0)`` (a term of
    WHERE's top-level AND, correlated by equalities of a column of ``d`` and one of an
    outer table) -> ``... [SEMI | ANTI] JOIN (SELECT * FROM d WHERE d.x > 0) AS __exists1
    ON t.k = __exists1.id WHERE c``: the joined side a derived table -- run first, as a stage
    -- when the subquery has conditions on ``d`` alone; for EXISTS, its conditions on the
    outer tables alone join WHERE. ``FROM t SEMI JOIN d ON t.k = d.id AND d.x > 0`` likewise
    joins ``(SELECT * FROM d WHERE d.x > 0) AS d``. A correlated ``x IN (SELECT d.y FROM d
    WHERE ...)`` term is the EXISTS with ``d.y = x`` added (not NOT IN: its NULLs differ).
    Other EXISTS are left to :func:`extract_value_subqueries` (uncorrelated: a value;
    correlated: an error), as are uncorrelated IN."""
    if not isinstance(select, exp.Select) or select.args.get("from_") is None:
        return select
    out = select.copy()
    joins = list(out.args.get("joins") or [])
    for join in joins:
        if (join.args.get("kind") or "").upper() in ("SEMI", "ANTI") and not join.args.get("side") \
                and join.args.get("on") is not None:
            _filter_joined_side(join)
    outer = _outer_names(out)
    where, kept = out.args.get("where"), []
    for term in _and_terms(where.this if where is not None else None):
        node = term.unnest()
        negated = isinstance(node, exp.Not)
        node = node.this.unnest() if negated else node
        inner = _exists_body(node.this) if isinstance(node, exp.Exists) else \
            None if negated else _in_as_exists(node, out)
        if inner is None or not _outer_references(inner, outer):
            kept.append(term)
            continue
        alias = f"{EXISTS_ALIAS}{sum(1 for j in joins if _side_name(j.this).startswith(EXISTS_ALIAS)) + 1}"
        join, outer_terms = _exists_join(inner, negated, outer, alias, node, sql)
        joins.append(join)
        kept += outer_terms
    out.set("joins", joins or None)
    cond = _and_all(kept)
    out.set("where", exp.Where(this=cond) if cond is not None else None)
    return out


def _in_as_exists(node, select: exp.Select):
    """The EXISTS query that a correlated ``x IN (SELECT d.y FROM d WHERE ...)`` is as a
    term of WHERE (``SELECT 1 FROM d WHERE ... AND d.y = x``; an unqualified ``x`` of a query
    without joins is the stream's), or None when ``node`` is not such an IN."""
    query = node.args.get("query") if isinstance(node, exp.In) else None
    inner = query.this if isinstance(query, exp.Subquery) else query
    if not isinstance(inner, exp.Select) or len(inner.expressions) != 1 \
            or not isinstance(node.this, exp.Column) or not isinstance(inner.expressions[0], exp.Column) \
            or not _outer_references(inner, _outer_names(select)):
        return None
    outer = node.this.copy()
    if not outer.table and not select.args.get("joins"):
        outer.set("table", exp.to_identifier(_side_name(select.args["from_"].this)))
    body = _exists_body(inner)
    if body is inner:       # it aggregates: the value of each group matters
        return None
    terms = _and_terms(body.args["where"].this if body.args.get("where") else None)
    body.set("where", exp.Where(this=_and_all([t.copy() for t in terms] + [
        exp.EQ(this=inner.expressions[0].copy(), expression=outer)])))
    return body


def _outer_names(select: exp.Select) -> set[str]:
    """The names (aliases, else table names) of the sides of ``select``'s FROM and JOINs."""
    sides = [select.args["from_"].this] + [j.this for j in select.args.get("joins") or []]
    return {_side_name(t) for t in sides if t.alias_or_name}


def _own_names(query) -> set[str]:
    """The names a subquery's own tables, derived tables and CTEs are known by in it."""
    names = {t.alias_or_name.lower() for t in query.find_all(exp.Table)}
    names |= {s.alias.lower() for s in query.find_all(exp.Subquery, exp.CTE) if s.alias}
    return names


def _outer_references(query, outer: set[str]) -> list[exp.Column]:
    """The columns of the subquery ``query`` qualified by one of the ``outer`` names that
    none of its own tables has (DuckDB binds a name to the innermost table first)."""
    free = outer - _own_names(query)
    return [c for c in query.find_all(exp.Column) if c.table and c.table.lower() in free]


def _exists_body(inner):
    """The query of an EXISTS with its select list ``1`` (the list never matters unless the
    query aggregates); None when it is not a SELECT."""
    inner = inner.this if isinstance(inner, exp.Subquery) else inner
    if not isinstance(inner, exp.Select):
        return None
    if inner.args.get("group") or inner.args.get("having") or \
            any(_has_aggregate(i) or i.find(exp.Window) for i in inner.expressions):
        return inner
    out = inner.copy()
    out.set("expressions", [exp.Literal.number(1)])
    return out


def _exists_join(inner: exp.Select, negated: bool, outer: set[str], alias: str, node,
                 sql: str) -> tuple[exp.Join, list]:
    """(the SEMI / ANTI join that the correlated ``[NOT] EXISTS (inner)`` is, the inner
    conditions on outer tables alone, for WHERE); see :func:`exists_joins`."""
    word = "NOT EXISTS" if negated else "IN (SELECT ...)" if isinstance(node, exp.In) else "EXISTS"
    blocker = next((k for k in ("joins", "group", "having", "offset", "qualify", "windows", "with_",
                                "stream_window") if inner.args.get(k)), None)
    limit = inner.args.get("limit")
    if limit is not None and not (isinstance(limit.expression, exp.Literal)
                                  and limit.expression.is_int and int(limit.expression.this) > 0):
        blocker = "limit"
    source = inner.args["from_"].this if inner.args.get("from_") else None
    if blocker is None and source is None:
        blocker = "no FROM"
    if blocker is None and any(_has_aggregate(i) for i in inner.expressions):
        blocker = "aggregates"
    if blocker is not None:
        raise NotSupportedError(f"a correlated {word} must read one table and may filter it (this "
                                f"one has {blocker.replace('_', ' ').strip().upper()}): "
                                f"{node.sql(dialect=Gpuvelo)[:80]}", **_where(node, sql))
    mine = _side_name(source)

    def is_outer(col) -> bool:
        return bool(col.table) and col.table.lower() in outer and col.table.lower() != mine

    keys, own, outside = [], [], []
    for term in _and_terms(inner.args["where"].this if inner.args.get("where") else None):
        refs = _outer_references(term, outer - {mine})
        cols = list(term.find_all(exp.Column))
        if not refs:
            own.append(term.copy())
        elif _correlating_pair(term, is_outer, mine):
            theirs, ours = (term.this, term.expression) if is_outer(term.this) else (term.expression, term.this)
            keys.append(exp.EQ(this=theirs.copy(), expression=exp.Column(
                this=ours.this.copy(), table=exp.to_identifier(alias))))
        elif not negated and len(refs) == len(cols) and not term.find(exp.Subquery, exp.Select):
            outside.append(term.copy())
        else:
            raise NotSupportedError(f"a correlated {word} is supported when it is correlated by "
                                    f"equalities of an inner and an outer column (d.id = t.k), not by "
                                    f"{term.sql(dialect=Gpuvelo)}", **_where(term, sql))
    if not keys:      # correlated only through conditions on the outer tables
        raise NotSupportedError(f"a correlated {word} needs an equality of an inner and an outer "
                                f"column (d.id = t.k): {node.sql(dialect=Gpuvelo)[:80]}", **_where(node, sql))
    side = _filtered_side(source, own, alias)
    return exp.Join(this=side, kind="ANTI" if negated else "SEMI", on=_and_all(keys)), outside


def _correlating_pair(term, is_outer, mine: str) -> bool:
    """Whether ``term`` is ``inner.x = outer.y``: one column of the outer tables, the other
    of the subquery's table ``mine`` (qualified by it, or not at all)."""
    if not isinstance(term, exp.EQ) or not all(isinstance(c, exp.Column) for c in (term.this, term.expression)):
        return False
    outer = [c for c in (term.this, term.expression) if is_outer(c)]
    inner = [c for c in (term.this, term.expression) if not is_outer(c)]
    return len(outer) == 1 and inner[0].table.lower() in ("", mine)


def _filtered_side(source, terms: list, alias: str):
    """The joined side ``source`` (a table or a derived table) named ``alias``: as it is
    without ``terms``, else ``(SELECT * FROM source WHERE terms) AS alias``."""
    if not terms:
        side = source.copy()
        side.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return side
    return exp.select("*").from_(source.copy()).where(_and_all(terms)).subquery(alias)


def _filter_joined_side(join: exp.Join) -> None:
    """A SEMI / ANTI ``join`` whose ON has conditions on the joined table alone: those
    filter the table (``(SELECT * FROM d WHERE ...) AS d``); the rest stay in ON."""
    alias = _side_name(join.this)
    terms = _and_terms(join.args["on"])
    own = [t for t in terms if not t.find(exp.Subquery, exp.Select)
           and all(c.table and c.table.lower() == alias for c in t.find_all(exp.Column))]
    if not own:
        return
    join.set("this", _filtered_side(join.this, [t.copy() for t in own], alias))
    join.set("on", _and_all([t.copy() for t in terms if t not in own]))


# --------------------------------------------------------------------------- grouping sets
UNION_TABLE = "__stacked"


def _grouping_sets(group: exp.Group) -> list[list[exp.Expression]] | None:
    """The key sets of ``GROUP BY a, ROLLUP (b, c), CUBE (...), GROUPING SETS (...)`` (the
    cross product of each element's sets), or None for a plain GROUP BY."""
    parts = list(group.expressions) + [group.args[k] for k in ("rollup", "cube", "grouping_sets")
                                       if isinstance(group.args.get(k), exp.Expression)]
    if not any(isinstance(p, (exp.Rollup, exp.Cube, exp.GroupingSets)) for p in parts):
        return None
    sets: list[list] = [[]]
    for part in parts:
        if isinstance(part, exp.Rollup):
            keys = list(part.expressions)
            options = [keys[:i] for i in range(len(keys), -1, -1)]
        elif isinstance(part, exp.Cube):
            keys = list(part.expressions)
            options = [[k for bit, k in enumerate(keys) if mask >> (len(keys) - 1 - bit) & 1]
                       for mask in range(2 ** len(keys) - 1, -1, -1)]
        elif isinstance(part, exp.GroupingSets):
            options = [list(s.expressions) if isinstance(s, exp.Tuple) else
                       [s.this] if isinstance(s, exp.Paren) else [s] for s in part.expressions]
        else:
            options = [[part]]
        sets = [have + more for have in sets for more in options]
    return sets


def _output_name(item) -> str:
    if isinstance(item, exp.Alias):
        return item.alias
    if isinstance(item, exp.Column):
        return item.name
    if isinstance(item, exp.Count) and isinstance(item.this, exp.Star):
        return "count_star()"
    return item.sql(dialect=Gpuvelo, normalize_functions="lower")


def _key_matcher(keys: list[exp.Expression]):
    """``key_of(node)``: the text of the grouping key ``node`` is (None if none). A column
    matches a key column of its name with or without a table (``k`` is ``t.k``) when only
    one key column has that name (``s.name`` and ``x.name`` stay apart)."""
    texts = {k.sql(dialect=Gpuvelo) for k in keys}
    by_name: dict[str, set] = {}
    for k in keys:
        if isinstance(k, exp.Column):
            by_name.setdefault(k.name.lower(), set()).add(k.sql(dialect=Gpuvelo))

    def key_of(node) -> str | None:
        text = node.sql(dialect=Gpuvelo)
        if text in texts:
            return text
        same = by_name.get(node.name.lower()) if isinstance(node, exp.Column) else None
        return next(iter(same)) if same is not None and len(same) == 1 else None
    return key_of


def split_grouping_sets(select: exp.Select, sql: str) -> tuple[exp.Select, tuple[str, ...]]:
    """``GROUP BY ROLLUP / CUBE / GROUPING SETS``: one plain query per key set (keys outside
    the set are NULL there, ``GROUPING(a, b)`` the bitmask of absent keys, as DuckDB),
    whose results are stacked into the
    table UNION_TABLE; returned is the query that orders and limits that table, and the
    parts' SQL. A plain GROUP BY returns ``(select, ())``."""
    group = select.args.get("group")
    sets = _grouping_sets(group) if group is not None else None
    if sets is None:
        return select, ()
    if select.args.get("stream_window") or select.args.get("distinct"):
        raise NotSupportedError("ROLLUP / CUBE / GROUPING SETS with a WINDOW clause or DISTINCT is "
                                "not supported", **_where(group, sql))
    key_of = _key_matcher([k for s in sets for k in s])
    names = [_output_name(i) for i in select.expressions]
    parts = []
    for keys in sets:
        present = {k.sql(dialect=Gpuvelo) for k in keys}

        def blank(node, present=present):
            if isinstance(node, exp.Grouping):    # bit i (from the left) set: key i is absent
                args = node.expressions
                return exp.Literal.number(sum(1 << (len(args) - 1 - i) for i, e in enumerate(args)
                                              if key_of(e) not in present))
            text = key_of(node) if isinstance(node, exp.Expression) else None
            if text is not None and text not in present and not isinstance(node, exp.Alias):
                return exp.Null()
            return node

        part = select.copy()
        part.set("expressions", [exp.alias_((i.this if isinstance(i, exp.Alias) else i).transform(blank),
                                            n, quoted=True) for i, n in zip(select.expressions, names)])
        part.set("group", exp.Group(expressions=[k.copy() for k in keys]) if keys else None)
        if part.args.get("having") is not None:
            part.set("having", part.args["having"].transform(blank))
        for key in ("order", "limit", "offset"):
            part.set(key, None)
        parts.append(part.sql(dialect=Gpuvelo))
    texts = {(i.this if isinstance(i, exp.Alias) else i).sql(dialect=Gpuvelo): n
             for i, n in zip(select.expressions, names)}

    def by_name(node):
        if isinstance(node, exp.Ordered):      # keep ASC/DESC/NULLS: only its key is renamed
            return node
        name = texts.get(node.sql(dialect=Gpuvelo)) if isinstance(node, exp.Expression) else None
        return exp.column(name, quoted=True) if name is not None and not isinstance(node, exp.Literal) else node

    outer = exp.select("*").from_(UNION_TABLE)
    for key in ("order", "limit", "offset"):
        part = select.args.get(key)
        if part is not None:
            outer.set(key, part.transform(by_name) if key == "order" else part.copy())
    return outer, tuple(parts)


def split_set_operation(node: exp.SetOperation, sql: str,
                        stages: list) -> tuple[exp.Select, tuple[str, ...], str]:
    """``A UNION | INTERSECT | EXCEPT [ALL] B ...``: each branch a query of its own, whose
    results are combined into UNION_TABLE (named as the first branch names its columns;
    see ``gpuvelo.api._combined``). Returned: the query over that table with the set
    operation's ORDER BY / LIMIT, the branches' SQL, and the combination ('union all',
    'union', 'intersect', 'intersect all', 'except', 'except all').

    A chain of one kind (left-deep, as sqlglot nests it) is one combination of its
    branches (``(A EXCEPT B) EXCEPT C`` is A less the rows of B and of C); a branch that is
    a set operation of another kind -- ``A UNION B INTERSECT C`` is ``A UNION (B INTERSECT
    C)`` -- runs first as a stage (appended to ``stages``) that the branch reads."""
    kind = type(node).__name__.lower() + ("" if node.args.get("distinct") else " all")
    if node.args.get("by_name"):
        raise NotSupportedError(f"{kind.upper()} BY NAME is not supported: list the columns in "
                                f"the same order in each branch", **_where(node, sql))
    branches, inner = [], node
    while isinstance(inner, type(node)) and bool(inner.args.get("distinct")) == \
            bool(node.args.get("distinct")) and (inner is node or not _set_modifiers(inner)):
        branches.append(inner.expression)
        inner = inner.this
    branches.append(inner)
    with_ = node.args.get("with_")
    texts = []
    for branch in reversed(branches):
        while isinstance(branch, exp.Subquery) and not branch.alias:
            branch = branch.this
        if with_ is not None:
            branch = _with_ctes(branch, with_)
        if isinstance(branch, exp.SetOperation):
            name = f"__set{len(stages) + 1}"
            stages.append((name, branch))
            branch = exp.select("*").from_(name)
        if not isinstance(branch, exp.Select):
            raise NotSupportedError(f"a {kind.upper()} branch must be a SELECT: "
                                    f"{branch.sql(dialect=Gpuvelo)[:80]}", **_where(branch, sql))
        texts.append(branch.sql(dialect=Gpuvelo))
    outer = exp.select("*").from_(UNION_TABLE)
    for key in ("order", "limit", "offset"):
        part = node.args.get(key)
        if part is not None:
            outer.set(key, part.copy())
    return outer, tuple(texts), kind


def _set_modifiers(node) -> bool:
    """Whether a set operation has its own ORDER BY / LIMIT / OFFSET (``(A UNION B LIMIT 3)``)."""
    return any(node.args.get(k) for k in ("order", "limit", "offset"))


# --------------------------------------------------------------------------- value subqueries
STAGE_VALUE = "__stage_value"   # placeholder call: the result of a value stage, by name


def extract_value_subqueries(select: exp.Select, sql: str, stages: list) -> exp.Select:
    """Uncorrelated subqueries used as values -- ``x > (SELECT AVG(x) FROM t)`` (scalar),
    ``x IN (SELECT y FROM u ...)`` and ``EXISTS (SELECT ...)`` (a scalar: ``SELECT COUNT(*) >
    0 FROM (...)``) -- become value stages: appended to ``stages`` as (name, 'scalar' |
    'in', the subquery's SQL), and replaced by a ``__stage_value('name')`` call the
    planner reads the stage's values through (see ``plan_query``'s ``stage_values``)."""
    def placeholder(name):
        return exp.Anonymous(this=STAGE_VALUE, expressions=[exp.Literal.string(name)])

    def swap(node):
        if isinstance(node, (exp.EQ, exp.NEQ)) and isinstance(node.expression, (exp.Any, exp.All)):
            quantified = _quantified(node, sql)      # x = ANY (q): x IN (q); x <> ALL (q): NOT IN
            if isinstance(quantified, exp.Not):
                return exp.Not(this=swap(quantified.this))
            return swap(quantified)
        if isinstance(node, (exp.Any, exp.All)):
            raise NotSupportedError(f"{type(node).__name__.upper()} (subquery) is supported as "
                                    f"x = ANY (...) and x <> ALL (...) (IN and NOT IN): "
                                    f"{node.parent.sql(dialect=Gpuvelo)[:80]}", **_where(node, sql))
        if isinstance(node, exp.In) and isinstance(node.args.get("query"), (exp.Subquery, exp.Select)):
            name = f"__value{len(stages) + 1}"
            stages.append((name, "in", _subquery_select(node.args["query"]).sql(dialect=Gpuvelo)))
            out = node.copy()
            out.set("query", None)
            out.set("expressions", [placeholder(name)])
            return out
        if isinstance(node, exp.Subquery) and not isinstance(node.parent, (exp.From, exp.Join)):
            name = f"__value{len(stages) + 1}"
            stages.append((name, "scalar", _subquery_select(node).sql(dialect=Gpuvelo)))
            return placeholder(name)
        if isinstance(node, exp.Exists):
            name = f"__value{len(stages) + 1}"
            stages.append((name, "scalar", _exists_value(node, outer, sql)))
            return placeholder(name)
        return node

    outer = _outer_names(select) if select.args.get("from_") is not None else set()
    return _transform_values(select.copy(), swap)


def _transform_values(select: exp.Select, fn) -> exp.Select:
    """``select`` (changed in place) with ``fn`` applied over the parts where subqueries are
    values: the select list, WHERE and HAVING."""
    for key in ("expressions", "where", "having"):
        part = select.args.get(key)
        if isinstance(part, list):
            select.set(key, [e.transform(fn) for e in part])
        elif part is not None:
            select.set(key, part.transform(fn))
    return select


def ctes_into_value_subqueries(select: exp.Select) -> exp.Select:
    """``select`` with the CTEs of its WITH copied into each subquery used as a value that
    reads one (``WITH x AS (...) SELECT ... WHERE k IN (SELECT k FROM x)``; a CTE body's,
    the CTEs before it): value subqueries run as queries of their own (see
    extract_value_subqueries), which must define what they read."""
    with_ = select.args.get("with_") if isinstance(select, exp.Select) else None
    if with_ is None:
        return select
    out = select.copy()
    ctes = list(out.args["with_"].expressions)
    for i, cte in enumerate(ctes[1:], start=1):
        if isinstance(cte.this, exp.Select):
            cte.set("this", _ctes_into(cte.this, ctes[:i]))
    return _ctes_into(out, ctes)


def _ctes_into(select: exp.Select, ctes: list) -> exp.Select:
    names = {c.alias.lower() for c in ctes}

    def reads_cte(query) -> bool:
        return any(not t.db and t.name.lower() in names for t in query.find_all(exp.Table))

    def swap(node):
        if isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join)):
            return node
        query = node.args.get("query") if isinstance(node, exp.In) else \
            node.this if isinstance(node, (exp.Subquery, exp.Exists)) else None
        while isinstance(query, exp.Subquery):
            query = query.this
        if not isinstance(query, (exp.Select, exp.SetOperation)) or not reads_cte(query):
            return node
        body = _with_ctes(query, exp.With(expressions=ctes))
        out = node.copy()
        if isinstance(node, exp.In):
            out.set("query", exp.Subquery(this=body))
        else:
            out.set("this", body)
        return out

    return _transform_values(select, swap)


def _exists_value(node: exp.Exists, outer: set[str], sql: str) -> str:
    """The query of an uncorrelated ``EXISTS (q)`` as a value: ``SELECT COUNT(*) > 0 FROM
    (q)``. NotSupportedError for a correlated one (those exists_joins makes joins of are
    gone: this one is under OR, NOT of more, or outside WHERE)."""
    inner = _exists_body(node.this)
    if inner is None:
        raise NotSupportedError(f"EXISTS needs a SELECT: {node.sql(dialect=Gpuvelo)[:80]}", **_where(node, sql))
    refs = _outer_references(inner, outer)
    if refs:
        raise NotSupportedError(
            f"a correlated EXISTS (it reads {refs[0].sql(dialect=Gpuvelo)}) is supported only as a "
            f"condition of WHERE, [NOT] EXISTS joined to the others by AND (not under OR, nor in "
            f"the select list or HAVING): {node.sql(dialect=Gpuvelo)[:80]}", **_where(node, sql))
    return f"SELECT COUNT(*) > 0 FROM ({inner.sql(dialect=Gpuvelo)}) AS {EXISTS_ALIAS}"


def glob_regex(pattern: str) -> str:
    """A GLOB pattern as a regular expression: ``*`` any text, ``?`` one character,
    ``[abc]`` / ``[a-z]`` / ``[!a]`` a class (a ``]`` right after ``[`` or ``[!`` is one of
    its characters; an unclosed ``[`` matches nothing), ``\\x`` the character x; everything
    else literally (as DuckDB's GLOB)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        close = -1
        if ch == "[":
            first = i + 1 + (pattern[i + 1:i + 2] == "!")
            close = pattern.find("]", first + 1)
        if ch == "*":
            out.append("(?s:.*)")
        elif ch == "?":
            out.append("(?s:.)")
        elif ch == "\\" and i + 1 < len(pattern):      # escapes the next character
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[" and close < 0:                 # an unclosed class matches nothing
            return "[^\\s\\S]"
        elif close > 0:
            body = pattern[i + 1:close]
            negate = body.startswith("!")
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("[", "\\[")
            out.append("[" + ("^" if negate else "") + body + "]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _quantified(node, sql: str):
    """``x = ANY (q)`` as ``x IN (q)``, ``x <> ALL (q)`` as ``NOT x IN (q)`` (the same three-valued
    answers); the other quantified comparisons are a NotSupportedError."""
    q = node.expression
    if isinstance(node, exp.EQ) == isinstance(q, exp.Any):
        query = q.this if isinstance(q.this, (exp.Subquery, exp.Select)) else None
        if query is not None:
            found = exp.In(this=node.this.copy(), query=query.copy())
            return found if isinstance(node, exp.EQ) else exp.Not(this=found)
    raise NotSupportedError(f"{node.sql(dialect=Gpuvelo)[:80]}: ANY / ALL over a subquery is "
                            "supported as x = ANY (...) and x <> ALL (...) (IN and NOT IN)",
                            **_where(node, sql))


def _subquery_select(node):
    """The query of a subquery used as a value: a SELECT or a set operation (run as a query
    of its own)."""
    inner = node.this if isinstance(node, exp.Subquery) else node
    while isinstance(inner, exp.Subquery) and not inner.alias:
        inner = inner.this
    if not isinstance(inner, (exp.Select, exp.SetOperation)):
        raise NotSupportedError(f"a subquery must be one SELECT: {node.sql(dialect=Gpuvelo)[:80]}")
    return inner


# --------------------------------------------------------------------------- conveniences
def expand_conveniences(select: exp.Select, sql: str) -> exp.Select:
    """DISTINCT, GROUP BY ALL, ORDER BY ALL, aggregate FILTER, count_if, bool_and/bool_or
    IS [NOT] DISTINCT FROM and SIMILAR TO in their plain forms (see the module docstring)."""
    items = []
    for item in select.expressions:
        plain = item.transform(_plain)
        if plain is not item and plain != item and not isinstance(item, exp.Alias) \
                and not isinstance(plain, exp.Star):
            plain = exp.alias_(plain, item.sql(dialect=Gpuvelo, normalize_functions="lower"), quoted=True)
        items.append(plain)
    select = select.transform(_plain)
    select.set("expressions", items)
    if select.args.get("distinct"):
        select = _distinct_to_group_by(select, sql)
    group = select.args.get("group")
    if group is not None and group.args.get("all"):
        keys = [(i.this if isinstance(i, exp.Alias) else i).copy() for i in select.expressions
                if not _has_aggregate(i) and not isinstance(i, exp.Star)]
        select.set("group", exp.Group(expressions=keys) if keys else None)
    order = select.args.get("order")
    if order is not None and len(order.expressions) == 1 and _is_all(order.expressions[0].this):
        o = order.expressions[0]
        select.set("order", exp.Order(expressions=[
            exp.Ordered(this=exp.Literal.number(i + 1), desc=o.args.get("desc"),
                        nulls_first=o.args.get("nulls_first"))
            for i in range(len(select.expressions))]))
    return select


def _is_all(node) -> bool:
    return isinstance(node, (exp.Var, exp.Column)) and node.name.upper() == "ALL" \
        and not (isinstance(node, exp.Column) and node.this.quoted)


def distinct_on(select, sql: str):
    """``SELECT DISTINCT ON (k, ...) items FROM ... [ORDER BY o]`` as ``SELECT items FROM ...
    QUALIFY ROW_NUMBER() OVER (PARTITION BY k, ... ORDER BY o) = 1 [ORDER BY o]``: the first
    row of each k in ORDER BY order (arrival order without one), as DuckDB. Keys and ORDER
    BY terms may name select items by alias or position."""
    if not isinstance(select, exp.Select):
        return select
    distinct = select.args.get("distinct")
    if distinct is None or distinct.args.get("on") is None:
        return select
    if select.args.get("group") is not None or select.args.get("qualify") is not None or \
            any(_has_aggregate(i) for i in select.expressions):
        raise NotSupportedError("SELECT DISTINCT ON together with GROUP BY, aggregates or QUALIFY "
                                "is not supported", **_where(distinct, sql))
    items = select.expressions
    by_alias = {i.alias.lower(): i.this for i in items if isinstance(i, exp.Alias)}

    def resolved(node):
        if isinstance(node, exp.Literal) and node.is_int and 1 <= int(node.this) <= len(items):
            item = items[int(node.this) - 1]
            return (item.this if isinstance(item, exp.Alias) else item).copy()
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in by_alias:
            return by_alias[node.name.lower()].copy()
        return node.copy()

    on = distinct.args["on"]
    keys = [resolved(k) for k in (on.expressions if isinstance(on, exp.Tuple) else [on])]
    order = select.args.get("order")
    ordered = [exp.Ordered(this=resolved(o.this), desc=o.args.get("desc"),
                           nulls_first=o.args.get("nulls_first"))
               for o in (order.expressions if order is not None else [])]
    spec = exp.Window(this=exp.RowNumber(), partition_by=keys,
                      order=exp.Order(expressions=ordered) if ordered else None)
    out = select.copy()
    out.set("distinct", None)
    out.set("qualify", exp.Qualify(this=exp.EQ(this=spec, expression=exp.Literal.number(1))))
    return out


def _distinct_to_group_by(select: exp.Select, sql: str) -> exp.Select:
    distinct = select.args["distinct"]
    if distinct.args.get("on") is not None:
        raise NotSupportedError("SELECT DISTINCT ON is not supported", **_where(distinct, sql))
    if select.args.get("group") is not None or any(_has_aggregate(i) for i in select.expressions):
        raise NotSupportedError("SELECT DISTINCT together with GROUP BY or aggregates is not "
                                "supported", **_where(distinct, sql))
    if any(isinstance(i, exp.Star) for i in select.expressions):
        raise NotSupportedError("SELECT DISTINCT * is not supported; list the columns",
                                **_where(distinct, sql))
    select = select.copy()
    select.set("distinct", None)
    select.set("group", exp.Group(expressions=[exp.Literal.number(i + 1)
                                               for i in range(len(select.expressions))]))
    return select


def _case_when(cond, value) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=value)])


def _within_group(node: exp.WithinGroup):
    """``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x [DESC])`` -> ``PERCENTILE_CONT(x, q)``
    (DESC: the quantile 1 - q)."""
    order = node.expression.expressions if isinstance(node.expression, exp.Order) else []
    if len(order) != 1:
        return node
    q = node.this.this.copy()
    if order[0].args.get("desc"):
        if isinstance(node.this, exp.PercentileDisc):
            raise NotSupportedError("PERCENTILE_DISC ... WITHIN GROUP (ORDER BY ... DESC) is not "
                                    f"supported; order ascending: {node.sql(dialect=Gpuvelo)}")
        if isinstance(q, exp.Literal) and not q.is_string:   # continuous: symmetric
            q = exp.Literal.number(str(1 - Decimal(q.this)))
    return type(node.this)(this=order[0].this.copy(), expression=q)


def _fn(name: str, *args) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _product(x) -> exp.Expression:
    """PRODUCT(x) from sums: zero if a factor is zero, else the sign from the count of
    negative factors times exp(sum of ln|x|) (relative error ~1e-15 per factor's log)."""
    count = lambda cond: exp.Sum(this=_case_when(cond, exp.Literal.number(1)))   # noqa: E731
    zero = exp.GT(this=count(exp.EQ(this=x.copy(), expression=exp.Literal.number(0))),
                  expression=exp.Literal.number(0))
    odd = exp.EQ(this=exp.Mod(this=exp.Coalesce(this=count(exp.LT(this=x.copy(), expression=exp.Literal.number(0))),
                                                  expressions=[exp.Literal.number(0)]),
                              expression=exp.Literal.number(2)), expression=exp.Literal.number(1))
    magnitude = _fn("exp", exp.Sum(this=_fn("ln", exp.Abs(this=x.copy()))))
    # with a zero factor: 0, or NaN when another factor is NaN or infinite (0 * inf), as DuckDB
    others = exp.Sum(this=_case_when(exp.NEQ(this=x.copy(), expression=exp.Literal.number(0)),
                                     _fn("ln", exp.Abs(this=x.copy()))))
    zeroed = exp.Mul(this=exp.cast(exp.Literal.number(0), "DOUBLE"),
                     expression=exp.Coalesce(this=others, expressions=[exp.Literal.number(0)]))
    signed = exp.Mul(this=exp.Case(ifs=[exp.If(this=odd, true=exp.Literal.number(-1))],
                                   default=exp.Literal.number(1)), expression=magnitude)
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Count(this=x.copy()), expression=exp.Literal.number(0)),
                                true=exp.Null()),
                         exp.If(this=zero, true=zeroed)],
                    default=signed)


def _moment_formula(x, which: str) -> exp.Expression:
    """SKEWNESS / KURTOSIS / KURTOSIS_POP from COUNT and power sums, the way DuckDB computes
    them (raw sums; sample corrections; NULL for too few rows or no spread)."""
    v = f"CAST(({x.sql(dialect=Gpuvelo)}) AS DOUBLE)"
    n, s1 = f"COUNT({v})", f"SUM({v})"
    s2, s3, s4 = f"SUM({v} * {v})", f"SUM({v} * {v} * {v})", f"SUM({v} * {v} * {v} * {v})"
    mean = f"({s1} / {n})"
    m2 = f"({s2} / {n} - {mean} * {mean})"
    m3 = f"({s3} / {n} - 3 * {mean} * {s2} / {n} + 2 * {mean} * {mean} * {mean})"
    m4 = (f"({s4} / {n} - 4 * {mean} * {s3} / {n} + 6 * {mean} * {mean} * {s2} / {n}"
          f" - 3 * {mean} * {mean} * {mean} * {mean})")
    body, least = {
        "skewness": (f"SQRT({n} * ({n} - 1)) / ({n} - 2) * {m3} / POWER({m2}, 1.5)", 3),
        "kurtosis": (f"({n} - 1) / (({n} - 2) * ({n} - 3)) * (({n} + 1) * {m4} / ({m2} * {m2}) - 3 * ({n} - 1))", 4),
        "kurtosis_pop": (f"{m4} / ({m2} * {m2}) - 3", 1),
    }[which]
    return sqlglot.parse_one(f"CASE WHEN {n} < {least} OR {m2} = 0 THEN NULL ELSE {body} END", read=Gpuvelo)


# DuckDB's other spellings of aggregates, as the plain ones (x: the one argument)
_AGG_SPELLINGS = {
    "mean": lambda x: exp.Avg(this=x), "favg": lambda x: exp.Avg(this=x),
    "fsum": lambda x: exp.Sum(this=x), "sumkahan": lambda x: exp.Sum(this=x),
    "kahan_sum": lambda x: exp.Sum(this=x), "arbitrary": lambda x: exp.First(this=x),
    "geomean": lambda x: _fn("exp", exp.Avg(this=_fn("ln", x))),
    "geometric_mean": lambda x: _fn("exp", exp.Avg(this=_fn("ln", x))),
    "sem": lambda x: exp.Div(this=exp.StddevPop(this=x),
                             expression=_fn("sqrt", exp.Count(this=x.copy()))),
    "product": _product,
    "skewness": lambda x: _moment_formula(x, "skewness"),
    "kurtosis": lambda x: _moment_formula(x, "kurtosis"),
    "kurtosis_pop": lambda x: _moment_formula(x, "kurtosis_pop"),
}


def _plain(node):
    """``node`` in its plain form (:func:`_plain_call`), and so the nodes inside the form
    (``COUNT_IF(x SIMILAR TO p)``: sqlglot's transform does not descend into a replacement)."""
    out = _plain_call(node)
    return node if out is node else out.transform(_plain)


def _spelled(node):
    """(spelling, argument) when ``node`` is an aggregate of ``_AGG_SPELLINGS``, else None."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in _AGG_SPELLINGS \
            and len(node.expressions) == 1:
        return node.name.lower(), node.expressions[0]
    if isinstance(node, (exp.Skewness, exp.Kurtosis)):
        return node.key, node.this
    return None


# aggregates whose value does not depend on the order of their input: an ORDER BY inside
# them (``SUM(x ORDER BY t)``, DuckDB's ordered aggregates) changes nothing and is dropped
_ORDER_FREE = (exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Count, exp.LogicalAnd, exp.LogicalOr,
               exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop,
               exp.Median, exp.Quantile, exp.PercentileCont, exp.PercentileDisc, exp.ApproxDistinct,
               exp.CountIf)


def _plain_call(node):
    if isinstance(node, _ORDER_FREE) and isinstance(node.this, exp.Order):
        node = node.copy()
        node.set("this", node.this.this)
    elif isinstance(node, exp.AggFunc) and isinstance(node.this, exp.Order) \
            and not isinstance(node, (exp.ArrayAgg, exp.GroupConcat)):
        raise NotSupportedError(f"ORDER BY inside {node.key.upper()}(...) is not supported (only "
                                "LIST / ARRAY_AGG and STRING_AGG order their values; FIRST / LAST "
                                "follow arrival order, ARG_MIN / ARG_MAX pick by a value): "
                                f"{node.sql(dialect=Gpuvelo)[:80]}")
    spelled = _spelled(node)
    if spelled is not None:
        return _AGG_SPELLINGS[spelled[0]](spelled[1].copy())
    if isinstance(node, exp.ApproxDistinct) and not node.args.get("accuracy"):
        # the exact count is within any error bound; DuckDB's HyperLogLog estimate is not
        # reproducible, so gpuvelo answers exactly (README says so)
        return exp.Count(this=exp.Distinct(expressions=[node.this.copy()]))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "count_star" and not node.expressions:
        return exp.Count(this=exp.Star())
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        return node.this.copy()      # t.* over the one source is *
    if isinstance(node, exp.Filter) and _spelled(node.this) is not None:
        # formula aggregates (product, geomean, skewness, ...): the formula of the kept values
        name, arg = _spelled(node.this)
        return _AGG_SPELLINGS[name](_case_when(node.expression.this.copy(), arg.copy()))
    any_value = node.this.this if isinstance(node, exp.Filter) and isinstance(node.this, exp.IgnoreNulls) \
        else node.this if isinstance(node, exp.Filter) else None
    if isinstance(any_value, exp.AnyValue):
        # ANY_VALUE skips NULLs: the value of a kept row, NULL elsewhere
        return exp.AnyValue(this=_case_when(node.expression.this.copy(), any_value.this.copy()))
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc):
        agg, cond = node.this, node.expression.this
        if isinstance(agg, (exp.First, exp.Last, exp.FirstValue, exp.LastValue, exp.ArrayAgg)):
            return node     # they keep NULLs: LIST plans its FILTER itself, FIRST/LAST refuse it
        agg = agg.copy()
        arg = agg.this
        if isinstance(agg, exp.Count) and isinstance(arg, exp.Star):
            agg.set("this", _case_when(cond.copy(), exp.Literal.number(1)))
        elif isinstance(arg, exp.Distinct):
            arg.set("expressions", [_case_when(cond.copy(), e) for e in arg.expressions])
        elif isinstance(arg, exp.Order):     # STRING_AGG(x ORDER BY x): the value and its key
            value = arg.this.expressions[0] if isinstance(arg.this, exp.Distinct) else arg.this
            for key in arg.expressions:
                if key.this == value:
                    key.set("this", _case_when(cond.copy(), key.this))
            if isinstance(arg.this, exp.Distinct):
                arg.this.set("expressions", [_case_when(cond.copy(), value)])
            else:
                arg.set("this", _case_when(cond.copy(), value))
        else:
            agg.set("this", _case_when(cond.copy(), arg))
        return agg
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, (exp.PercentileCont, exp.PercentileDisc)):
        return _within_group(node)
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return node.this.copy()      # sqlglot wraps ANY_VALUE(x); it skips NULLs anyway
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.SimilarTo):
        raise NotSupportedError(f"SIMILAR TO ... ESCAPE is not supported (DuckDB's SIMILAR TO is "
                                f"a regular expression): {node.sql(dialect=Gpuvelo)}")
    if isinstance(node, exp.Glob):         # GLOB 'a*': a full match of the pattern as a regex
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise NotSupportedError(f"GLOB needs a string literal pattern: {node.sql(dialect=Gpuvelo)}")
        return exp.RegexpFullMatch(this=node.this.copy(),
                                   expression=exp.Literal.string(glob_regex(pattern.this)))
    if isinstance(node, exp.SimilarTo):    # DuckDB: a regular expression matching the whole string
        return exp.RegexpFullMatch(this=node.this.copy(), expression=node.expression.copy())
    if isinstance(node, exp.CountIf):      # DuckDB: a SUM, so NULL when every condition is NULL
        return exp.Sum(this=node.this.copy())
    if isinstance(node, exp.LogicalAnd):
        return exp.Min(this=node.this.copy())
    if isinstance(node, exp.LogicalOr):
        return exp.Max(this=node.this.copy())
    if isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
        a, b = node.this, node.expression
        same = exp.or_(
            exp.Coalesce(this=exp.paren(exp.EQ(this=a.copy(), expression=b.copy())),
                         expressions=[exp.false()]),
            exp.paren(exp.and_(exp.Is(this=a.copy(), expression=exp.null()),
                               exp.Is(this=b.copy(), expression=exp.null()))))
        return exp.paren(same) if isinstance(node, exp.NullSafeEQ) else exp.not_(exp.paren(same))
    return node
