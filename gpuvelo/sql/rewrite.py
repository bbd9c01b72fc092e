"""Rewrites of the parsed query into the smaller SQL the planner knows (sqlglot tree -> tree).

Each rewrite turns a convenience into its plain equivalent, so that no later stage needs to
know the convenience existed:

* derived tables -- ``FROM (SELECT ... FROM src WHERE ...)`` and ``WITH x AS (...)`` -- whose
  query only filters and projects one source are inlined: the outer query reads ``src``
  with the inner WHERE added and the inner expressions substituted for their names; those
  that aggregate (or call window functions, or QUALIFY) become *stages* that run first
  (see :func:`inline_derived_tables`);
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
  PERCENTILE_DISC); ``IGNORE NULLS`` around ANY_VALUE is dropped (it skips NULLs anyway).
"""

from __future__ import annotations

from decimal import Decimal

import sqlglot
from sqlglot import exp

from ..errors import NotSupportedError, UnknownColumnError
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
    ctes = dict(ctes or {})
    with_ = select.args.get("with_")
    if with_ is not None:
        if with_.args.get("recursive"):
            raise NotSupportedError("WITH RECURSIVE is not supported", **_where(with_, sql))
        for cte in with_.expressions:
            _no_column_aliases(cte, sql)
            ctes[cte.alias.lower()] = inline_derived_tables(cte.this, sql, ctes, stages)
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
    """(its query, its alias) when the FROM / JOIN item ``table`` is a subquery or names a
    CTE, else None."""
    if isinstance(table, exp.Subquery):
        _no_column_aliases(table, sql)
        return inline_derived_tables(table.this, sql, ctes, stages), table.alias
    if isinstance(table, exp.Table) and not table.db and table.name.lower() in ctes:
        _no_column_aliases(table, sql)
        return ctes[table.name.lower()], table.alias or table.name
    return None


def _no_column_aliases(node, sql: str) -> None:
    """NotSupportedError for a column alias list: ``(SELECT ...) AS s(a, b)``, ``WITH x(a) AS``."""
    alias = node.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        raise NotSupportedError(f"column aliases after a table name ({alias.sql(dialect=Gpuvelo)}) "
                                "are not supported: alias the columns in the subquery's SELECT "
                                "list instead", **_where(node, sql))


_STAGEABLE = ("group", "having", "order", "limit", "offset", "distinct", "aggregates",
              "qualify", "windows", "over")


def _stage(select: exp.Select, inner: exp.Select, alias: str | None, stages: list, sql: str):
    """``select`` reading the final result of ``inner`` as a table (see inline_derived_tables)."""
    if select.args.get("stream_window") or inner.args.get("stream_window"):
        raise NotSupportedError("a WINDOW clause in or over an aggregating subquery is not "
                                "supported", **_where(select, sql))
    name = (alias or f"__stage{len(stages) + 1}").lower()
    stages.append((name, inner))
    out = select.copy()
    out.set("from_", exp.From(this=exp.to_table(name)))
    return out


def _check_inlinable(inner, table, sql: str, staging: bool = False) -> str | None:
    """None when ``inner`` only filters and projects one source; with ``staging``, the
    clause that makes it a stage of its own; otherwise a NotSupportedError."""
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
            items.append(item.transform(substitute))
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
        stages.append((name, inner))
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


def explicit_joins(select: exp.Select, sql: str) -> exp.Select:
    """Comma joins and INNER JOIN conditions in the equi-join form the engine runs.

    ``FROM t, d WHERE t.k = d.k AND c`` -> ``FROM t JOIN d ON t.k = d.k WHERE c`` (the
    WHERE's top-level equalities between a column of the new side and one of an earlier
    side become its keys), and without such an equality ``CROSS JOIN d``. An INNER JOIN's
    ON terms that are not such key pairs (``t.x < d.y``, ``d.w > 1``) move to WHERE -- the
    same rows for an inner join -- and an INNER JOIN left without keys is a CROSS JOIN."""
    joins = select.args.get("joins")
    if not joins:
        return select
    out = select.copy()
    seen = {_side_name(out.args["from_"].this)}
    where_terms = _and_terms(out.args["where"].this if out.args.get("where") else None)
    moved = []
    for join in out.args["joins"]:
        if not isinstance(join.this, exp.Table):
            continue                  # _join_spec reports it
        alias = _side_name(join.this)
        args = {k: v for k, v in join.args.items() if k not in ("this", "pivots") and v}
        if not args and "pivots" not in join.args:   # a comma join (sqlglot: no JOIN keyword parsed)
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


def split_union(union: exp.Union, sql: str) -> tuple[exp.Select, tuple[str, ...]]:
    """``A UNION [ALL] B ...``: each branch a query of its own, their results stacked into
    UNION_TABLE (named as the first branch names its columns); returned is the query over
    that table -- DISTINCT for UNION -- with the union's ORDER BY / LIMIT."""
    branches, node = [], union
    distinct_all = bool(union.args.get("distinct"))
    while isinstance(node, exp.Union):
        branches.append(node.expression)
        inner = node.this
        if isinstance(inner, exp.Union) and inner.args.get("distinct") and not distinct_all:
            raise NotSupportedError("UNION inside UNION ALL is not supported; use one kind",
                                    **_where(inner, sql))
        node = inner
    branches.append(node)
    branches.reverse()
    for b in branches:
        if isinstance(b, exp.SetOperation) or not isinstance(b, exp.Select):
            raise NotSupportedError(f"{type(b).__name__.upper()} is not supported in a UNION",
                                    **_where(b, sql))
    first = branches[0]
    if any(isinstance(i, exp.Star) for i in first.expressions) and distinct_all:
        raise NotSupportedError("UNION (without ALL) of SELECT * is not supported; list the columns",
                                **_where(first, sql))
    names = [_output_name(i) for i in first.expressions]
    outer = exp.select(*[exp.column(n, quoted=True) for n in names]) if distinct_all else exp.select("*")
    outer = outer.from_(UNION_TABLE)
    if distinct_all:
        outer.set("distinct", exp.Distinct())
    for key in ("order", "limit", "offset"):
        part = union.args.get(key)
        if part is not None:
            outer.set(key, part.copy())
    return outer, tuple(b.sql(dialect=Gpuvelo) for b in branches)


# --------------------------------------------------------------------------- value subqueries
STAGE_VALUE = "__stage_value"   # placeholder call: the result of a value stage, by name


def extract_value_subqueries(select: exp.Select, sql: str, stages: list) -> exp.Select:
    """Uncorrelated subqueries used as values -- ``x > (SELECT AVG(x) FROM t)`` (scalar) and
    ``x IN (SELECT y FROM u ...)`` -- become value stages: appended to ``stages`` as (name,
    'scalar' | 'in', the subquery's SQL), and replaced by a ``__stage_value('name')`` call
    the planner reads the stage's values through (see ``plan_query``'s ``stage_values``)."""
    def placeholder(name):
        return exp.Anonymous(this=STAGE_VALUE, expressions=[exp.Literal.string(name)])

    def swap(node):
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
            raise NotSupportedError(f"EXISTS is not supported: {node.sql(dialect=Gpuvelo)[:80]}",
                                    **_where(node, sql))
        return node

    out = select.copy()
    for key in ("expressions", "where", "having"):
        part = out.args.get(key)
        if isinstance(part, list):
            out.set(key, [e.transform(swap) for e in part])
        elif part is not None:
            out.set(key, part.transform(swap))
    return out


def _subquery_select(node):
    inner = node.this if isinstance(node, exp.Subquery) else node
    if not isinstance(inner, exp.Select):
        raise NotSupportedError(f"a subquery must be one SELECT: {node.sql(dialect=Gpuvelo)[:80]}")
    return inner


# --------------------------------------------------------------------------- conveniences
def expand_conveniences(select: exp.Select, sql: str) -> exp.Select:
    """DISTINCT, GROUP BY ALL, ORDER BY ALL, aggregate FILTER, count_if, bool_and/bool_or
    and IS [NOT] DISTINCT FROM in their plain forms (see the module docstring)."""
    items = []
    for item in select.expressions:
        plain = item.transform(_plain_call)
        if plain is not item and plain != item and not isinstance(item, exp.Alias) \
                and not isinstance(plain, exp.Star):
            plain = exp.alias_(plain, item.sql(dialect=Gpuvelo, normalize_functions="lower"), quoted=True)
        items.append(plain)
    select = select.transform(_plain_call)
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


def _plain_call(node):
    if isinstance(node, exp.Anonymous) and node.name.lower() in _AGG_SPELLINGS \
            and len(node.expressions) == 1:
        return _AGG_SPELLINGS[node.name.lower()](node.expressions[0].copy())
    if isinstance(node, (exp.Skewness, exp.Kurtosis)):
        return _AGG_SPELLINGS[node.key](node.this.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() == "count_star" and not node.expressions:
        return exp.Count(this=exp.Star())
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        return node.this.copy()      # t.* over the one source is *
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.AggFunc):
        agg, cond = node.this, node.expression.this
        if isinstance(agg, (exp.First, exp.Last, exp.FirstValue, exp.LastValue)):
            return node     # FIRST/LAST keep NULLs: the planner reports FILTER unsupported
        agg = agg.copy()
        arg = agg.this
        if isinstance(agg, exp.Count) and isinstance(arg, exp.Star):
            agg.set("this", _case_when(cond.copy(), exp.Literal.number(1)))
        elif isinstance(arg, exp.Distinct):
            arg.set("expressions", [_case_when(cond.copy(), e) for e in arg.expressions])
        else:
            agg.set("this", _case_when(cond.copy(), arg))
        return agg
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, (exp.PercentileCont, exp.PercentileDisc)):
        return _within_group(node)
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return node.this.copy()      # sqlglot wraps ANY_VALUE(x); it skips NULLs anyway
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
