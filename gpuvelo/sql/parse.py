"""Parsing a query into a :class:`ParsedQuery`: the sqlglot tree plus what the planner and
the job need before a schema is known (source, output name, window, emit mode)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from ..errors import NotSupportedError, SqlSyntaxError
from . import rewrite
from .analytic import ANALYTIC_INPUT, AnalyticSpec, split_analytic, uses_analytic
from .dialect import Gpuvelo
from .files import FileRead, file_reads
from .columns_expr import expand_columns
from .pivot import expand_pivots
from .functions import tables as function_tables
from .functions.strings import MANY
from .plan import JoinSpec, WindowSpec
from .windows import where, window_spec


@dataclass(frozen=True)
class ParsedQuery:
    """A parsed query. ``tree`` is the sqlglot ``Select``; ``statement`` the whole statement
    (a ``Create`` for CREATE STREAM/TABLE ... AS); ``emit`` is 'changes', 'final' or None
    when the query has no EMIT clause."""

    sql: str
    tree: exp.Select
    statement: exp.Expression
    source: str
    output_name: str | None
    window: WindowSpec | None
    emit: str | None
    # aggregating subqueries that run first, each as a query of its own: (name, SQL text);
    # the query then reads their final results as tables of those names
    stages: tuple[tuple[str, str], ...] = ()
    # uncorrelated subqueries used as values, run first too: (name, 'scalar' | 'in', SQL text)
    value_stages: tuple[tuple[str, str, str], ...] = ()
    # FROM s JOIN a ... JOIN b ...: the finite sources joined to the stream, in order
    joins: tuple[JoinSpec, ...] = ()
    source_alias: str = ""        # the stream's name in the query (alias or name)
    # GROUP BY ROLLUP / CUBE / GROUPING SETS (one query per key set) and set operations (one
    # per branch) run first, as SQL texts; their results, combined as ``combine`` says
    # ('union all': stacked; 'union', 'intersect', 'except' [' all']: as DuckDB's set
    # operations), are the table rewrite.UNION_TABLE that the query (ORDER BY / LIMIT) reads
    stacked: tuple[str, ...] = ()
    combine: str = "union all"
    # stages whose result columns take these names, left to right (a column alias list over
    # ``*``: ``FROM t AS u(a, b)``): (stage name, names)
    renamed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # window functions (OVER) / QUALIFY: the query was split (see gpuvelo.sql.analytic); its
    # inner query is the stage ANALYTIC_INPUT, this step computes the analytic columns on
    # that stage's result, and ``tree`` is the outer query over the table it makes
    analytic: AnalyticSpec | None = None
    # files named in FROM / JOIN ('trades.csv', read_csv(...)): tables the job opens itself
    files: tuple[FileRead, ...] = ()
    # VALUES lists of plain literals: (table name, column names, SQL types, columns of values)
    literals: tuple = ()


def _syntax_error(err: Exception, sql: str) -> SqlSyntaxError:
    """A SqlSyntaxError for sqlglot's parse or token error, in the query's terms."""
    info = (getattr(err, "errors", None) or [{}])[0]
    line, col = info.get("line"), info.get("col")
    highlight = info.get("highlight") or ""
    if col is not None and highlight and "\n" not in highlight:
        col = max(1, col - len(highlight) + 1)     # sqlglot points at a token's last character
    desc = info.get("description") or str(err).split("\n")[0]
    arity = _arity_error(desc, sql, info.get("line"), info.get("col"))
    if arity is not None:
        return SqlSyntaxError(f"wrong number of arguments: {arity}", line=line, column=col, sql=sql)
    missing = _MISSING.match(desc)
    if missing:       # "Required keyword: 'this' missing for <class '...Where'>"
        desc = f"incomplete {missing.group(2).upper()}"
    near = f" near '{highlight}'" if highlight else ""
    return SqlSyntaxError(f"syntax error: {desc}{near}", line=line, column=col, sql=sql)


_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_TOO_MANY = re.compile(r"The number of provided arguments \((\d+)\) is greater than the "
                       r"maximum number of supported arguments \((\d+)\)")


def _arity_error(desc: str, sql: str, line, col) -> str | None:
    """For sqlglot's errors about a call's arguments (too few: a required keyword missing;
    too many), ``"name() takes ..., got n"``: the function as the query spells it, and the
    number of arguments it takes -- the catalogue's, else what sqlglot's class requires."""
    missing, too_many = _MISSING.match(desc), _TOO_MANY.match(desc)
    node = getattr(exp, missing.group(2), None) if missing else None
    if not (too_many or isinstance(node, type) and issubclass(node, exp.Func)):
        return None
    call = _call_at(sql, line, col)
    if call is None:
        return None
    name, got = call
    functions, nodes, aliases, _ = function_tables()
    known = (nodes.get(node) or (None,))[0] or aliases.get(name.lower(), name.lower())
    if known in functions:
        low, high = functions[known].min_args, functions[known].max_args
    elif too_many:
        low, high = None, int(too_many.group(2))
    else:       # exactly the required arguments when the class has no optional ones
        low = sum(1 for v in node.arg_types.values() if v)
        high = low if len(node.arg_types) == low and not node.is_var_len_args else None
    return f"{name}() takes {_how_many(low, high)}, got {got}"


def _how_many(low: int | None, high: int | None) -> str:
    """``"2 to 3 arguments"``, ``"1 argument"``, ``"at least 1 argument"``, ... (None: no bound)."""
    if high is not None and high >= MANY:
        high = None
    if low is not None and high is not None:
        count = f"{low}" if low == high else f"{low} to {high}"
    else:
        count = f"at least {low}" if low is not None else f"at most {high}"
    return f"{count} argument" + ("" if count.endswith(" 1") or count == "1" else "s")


def _call_at(sql: str, line, col) -> tuple[str, int] | None:
    """(function name, number of arguments) of the call whose closing parenthesis is at
    ``line``/``col`` (sqlglot's position of a token's last character), else None."""
    try:
        tokens = Gpuvelo().tokenize(sql)
    except TokenError:
        return None
    end = next((i for i, t in enumerate(tokens) if t.line == line and t.col == col
                and t.token_type == TokenType.R_PAREN), None)
    if end is None:
        return None
    depth, commas = 0, 0
    for i in range(end, -1, -1):
        kind = tokens[i].token_type
        depth += {TokenType.R_PAREN: 1, TokenType.L_PAREN: -1}.get(kind, 0)
        commas += kind == TokenType.COMMA and depth == 1
        if depth == 0:
            if i == 0:
                return None
            return tokens[i - 1].text, (commas + 1 if end - i > 1 else 0)
    return None


def _no_sampling(statement: exp.Expression, sql: str) -> None:
    """TABLESAMPLE / USING SAMPLE anywhere in the statement: a NotSupportedError (a random
    sample has no one answer, even with REPEATABLE: DuckDB's seeds are its own)."""
    sample = statement.find(exp.TableSample)
    if sample is not None:
        raise NotSupportedError(f"sampling ({sample.sql(dialect=Gpuvelo)}) is not supported: a "
                                "random sample has no one answer to match; filter the rows "
                                "instead (WHERE ...)", **where(sample, sql))


def _check_shape(select: exp.Expression, sql: str) -> exp.Table:
    """Reject what gpuvelo cannot run (no FROM, a FROM that is not a source)."""
    if not isinstance(select, exp.Select):
        raise SqlSyntaxError("expected a SELECT statement (or CREATE STREAM|TABLE name AS SELECT ...)",
                             line=1, column=1, sql=sql)
    if select.args.get("with_"):
        raise NotSupportedError("WITH (common table expressions) is not supported", sql=sql)
    source = select.args.get("from_")
    if source is None:
        raise NotSupportedError("a query needs FROM <source>; SELECT without FROM is not supported",
                                line=1, column=1, sql=sql)
    table = source.this
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise NotSupportedError(f"FROM must name one source, not {table.sql(dialect=Gpuvelo)} "
                                "(subqueries and table functions are not supported)", **where(table, sql))
    return table


def _join_specs(select: exp.Select, left: exp.Table, sql: str) -> tuple[JoinSpec, ...]:
    """The query's chain of joins, in order (after rewrite.explicit_joins): each an INNER,
    LEFT, RIGHT, FULL, SEMI, ANTI or CROSS join of the rows so far with a named finite source."""
    seen = [(left.alias or left.name).lower()]
    specs = []
    star = next((c for i in select.expressions for c in i.find_all(exp.Column)
                 if isinstance(c.this, exp.Star)), None)
    if star is not None and select.args.get("joins"):
        raise NotSupportedError(f"{star.sql(dialect=Gpuvelo)} with a JOIN is not supported: name the "
                                "columns (or SELECT *)", **where(star, sql))
    read = {(c.table.lower(), c.name.lower()) for c in select.find_all(exp.Column) if c.table}
    for join in select.args.get("joins") or []:
        spec = _join_spec(join, seen, sql)
        _check_outer_kind(spec, select, join, seen, read, sql)
        if spec.using and any((spec.alias, k.lower()) in read for k in spec.right_keys):
            spec = _using_keys_kept(spec, select, join, sql)
        if spec.alias in seen:
            raise NotSupportedError(f"the name '{spec.alias}' is used by two tables of FROM; give "
                                    f"each its own alias (JOIN {spec.table} AS {spec.alias}2 ...)",
                                    **where(join, sql))
        seen.append(spec.alias)
        specs.append(spec)
    return tuple(specs)


def _check_outer_kind(spec: JoinSpec, select: exp.Select, join: exp.Join, seen: list[str],
                      read: set, sql: str) -> None:
    """NotSupportedError for what a RIGHT / FULL / SEMI / ANTI join cannot do here: RIGHT and
    FULL beside a stream WINDOW (the unmatched right rows have no event time) or with a
    USING key read qualified by table (only the merged key, unqualified, is kept); the
    columns of a SEMI / ANTI join's table (it only filters: they are not visible)."""
    word = f"{spec.kind.upper()} JOIN"
    if spec.kind in ("right", "full") and select.args.get("stream_window") is not None:
        raise NotSupportedError(f"{word} with a WINDOW clause is not supported: the right rows no "
                                "stream row matched come after the stream ends, without an event "
                                "time", **where(join, sql))
    if spec.kind in ("right", "full") and spec.using:
        named = next((f"{a}.{k}" for a in seen + [spec.alias] for k in spec.right_keys
                      if (a, k.lower()) in read), None)
        if named is not None:
            raise NotSupportedError(f"{named}: a USING key of a {word} is read unqualified (the "
                                    f"merged key, as SELECT * shows it); to read each side's key, "
                                    f"join ON", **where(join, sql))
    if spec.kind in ("semi", "anti"):
        col = next((c for c in select.find_all(exp.Column) if c.table.lower() == spec.alias
                    and c.find_ancestor(exp.Join) is not join), None)
        if col is not None:
            raise NotSupportedError(f"{col.sql(dialect=Gpuvelo)}: a {word} only filters the rows "
                                    f"before it, so its table's columns are not visible",
                                    **where(col, sql))


def _using_keys_kept(spec: JoinSpec, select: exp.Select, join: exp.Join, sql: str) -> JoinSpec:
    """A USING join whose right keys the query reads as ``alias.key`` (the right side's
    value: NULL where a LEFT JOIN found no match): the joined rows keep those columns."""
    if any(isinstance(i, exp.Star) for i in select.expressions):
        raise NotSupportedError(f"SELECT * beside {spec.alias}.<key> of a JOIN ... USING is not "
                                "supported: name the columns, or join ON", **where(join, sql))
    return dataclasses.replace(spec, using=False)


def _join_spec(join: exp.Join, seen: list[str], sql: str) -> JoinSpec:
    """One join of the chain; ``seen`` are the aliases of the sides before it."""
    text = join.sql(dialect=Gpuvelo)
    right = join.this
    side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
    method = (join.args.get("method") or "").upper()
    if not isinstance(right, exp.Table) or not isinstance(right.this, exp.Identifier) \
            or right.args.get("joins"):
        raise NotSupportedError(f"JOIN must name a source or a subquery, not {right.sql(dialect=Gpuvelo)}",
                                **where(join, sql))
    if method == "ASOF" and side in ("", "LEFT") and not kind:
        return _asof_spec(join, seen, sql)
    if method or side not in ("", "LEFT", "RIGHT", "FULL") or join.args.get("match_condition") \
            or kind not in ("", "INNER", "OUTER", "CROSS", "SEMI", "ANTI") \
            or (kind in ("SEMI", "ANTI", "CROSS", "INNER") and side):
        raise NotSupportedError(f"only INNER, LEFT and CROSS joins, RIGHT / FULL [OUTER], SEMI / "
                                f"ANTI and ASOF [LEFT] joins are supported: {text}", **where(join, sql))
    table, alias = right.name.lower(), (right.alias or right.name).lower()
    using, on = join.args.get("using"), join.args.get("on")
    if kind == "CROSS":
        if using or on is not None:
            raise NotSupportedError(f"a CROSS JOIN takes no ON or USING: {text}", **where(join, sql))
        return JoinSpec(table, alias, "cross")
    kind = side.lower() if side else kind.lower() if kind in ("SEMI", "ANTI") else "inner"
    if using:
        keys = tuple(i.name for i in using)
        return JoinSpec(table, alias, kind, tuple(("", k) for k in keys), keys, True)
    if on is None:
        raise NotSupportedError(f"a JOIN needs ON a.x = b.y or USING (x) (or write CROSS JOIN): "
                                f"{text.lstrip(', ')}",
                                **where(join, sql))
    pairs = []
    for cond in on.flatten() if isinstance(on, exp.And) else [on]:
        if not rewrite.join_key_pair(cond, seen, alias):
            article = "an" if kind == "anti" else "a"
            hint = ("qualify both columns by table" if kind == "inner" else
                    f"{article} {kind.upper()} JOIN's conditions on the joined table alone filter "
                    "that table, its other conditions are not supported" if kind in ("semi", "anti")
                    else f"a {kind.upper()} JOIN's other conditions are not supported; an INNER "
                    "JOIN's are applied as a filter")
            raise NotSupportedError(f"a JOIN condition must be equalities of a column of the joined "
                                    f"table and one of an earlier table, qualified by table (a.x = "
                                    f"b.y AND ...); {hint}: {cond.sql(dialect=Gpuvelo)}",
                                    **where(cond, sql))
        mine, other = (cond.this, cond.expression) if cond.this.table.lower() == alias \
            else (cond.expression, cond.this)
        pairs.append(((other.table.lower(), other.name), mine.name))
    return JoinSpec(table, alias, kind, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


_FLIPPED = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}
_INEQUALITIES = {exp.GTE: ">=", exp.GT: ">", exp.LTE: "<=", exp.LT: "<"}


def _asof_spec(join: exp.Join, seen: list[str], sql: str) -> JoinSpec:
    """``ASOF [LEFT] JOIN q ON t.k = q.k AND t.ts >= q.ts`` (or ``USING (k, ts)``: the last
    column is the inequality, ``>=``): the equality pairs, then the inequality's pair last,
    with its operator read as ``left op right``."""
    right = join.this
    table, alias = right.name.lower(), (right.alias or right.name).lower()
    kind = "asof_left" if join.args.get("side") else "asof"
    using, on = join.args.get("using"), join.args.get("on")
    if using:
        keys = tuple(i.name for i in using)
        return JoinSpec(table, alias, kind, tuple(("", k) for k in keys), keys, True, asof_op=">=")
    pairs, inequality = [], None
    for cond in (on.flatten() if isinstance(on, exp.And) else [on]) if on is not None else []:
        op = _INEQUALITIES.get(type(cond))
        if op is not None and inequality is None and rewrite.join_key_pair(exp.EQ(
                this=cond.this.copy(), expression=cond.expression.copy()), seen, alias):
            mine_first = cond.this.table.lower() == alias
            mine, other = (cond.this, cond.expression) if mine_first else (cond.expression, cond.this)
            inequality = (((other.table.lower(), other.name), mine.name), _FLIPPED[op] if mine_first else op)
        elif rewrite.join_key_pair(cond, seen, alias):
            mine, other = (cond.this, cond.expression) if cond.this.table.lower() == alias \
                else (cond.expression, cond.this)
            pairs.append(((other.table.lower(), other.name), mine.name))
        else:
            raise NotSupportedError(f"an ASOF JOIN's condition is equalities of a column of the joined "
                                    f"table and one of an earlier table and one inequality (>=, >, <=, <)"
                                    f" between two such columns, qualified by table: "
                                    f"{cond.sql(dialect=Gpuvelo)}", **where(cond, sql))
    if inequality is None:
        raise NotSupportedError(f"an ASOF JOIN needs one inequality between its tables (t.ts >= q.ts): "
                                f"{join.sql(dialect=Gpuvelo)}", **where(join, sql))
    pairs.append(inequality[0])
    return JoinSpec(table, alias, kind, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs),
                    asof_op=inequality[1])


def _check_commas(sql: str) -> None:
    """sqlglot silently accepts an empty list item (``SELECT a,, b``); we do not."""
    tokens = Gpuvelo().tokenize(sql)
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.token_type == TokenType.COMMA and nxt.token_type in (
                TokenType.COMMA, TokenType.FROM, TokenType.R_PAREN):
            raise SqlSyntaxError(f"unexpected {nxt.text!r} after ','", line=nxt.line,
                                 column=max(1, nxt.col - len(nxt.text) + 1), sql=sql)


def parse_query(sql: str, columns_of=None) -> ParsedQuery:
    """Parse ``sql`` with the gpuvelo dialect; SqlSyntaxError (with line/column) if it does not
    parse. ``columns_of(table name)``: a table's column names (None when unknown), which a
    PIVOT of a plain table needs."""
    try:
        _check_commas(sql)
        statements = sqlglot.parse(sql, read=Gpuvelo)
    except (ParseError, TokenError) as err:
        raise _syntax_error(err, sql) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise SqlSyntaxError(f"expected one statement, got {len(statements)}", line=1, column=1, sql=sql)
    statement, files = file_reads(statements[0], sql)
    statement = expand_pivots(statement, sql, columns_of)
    statement = expand_columns(statement, sql, columns_of)
    output_name = None
    select = statement
    if isinstance(statement, exp.Create):
        if statement.args.get("kind") not in ("STREAM", "TABLE") or statement.expression is None:
            raise NotSupportedError("only CREATE STREAM|TABLE name AS SELECT ... is supported", sql=sql)
        output_name = statement.this.name
        select = statement.expression
    if isinstance(select, exp.Command):
        raise SqlSyntaxError(f"cannot parse statement: {select.sql(dialect=Gpuvelo)[:60]}",
                             line=1, column=1, sql=sql)
    _no_sampling(statement, sql)
    while isinstance(select, exp.Subquery) and not select.alias:     # (SELECT ...)
        select = select.this
    literals: list = []
    select = rewrite.literal_tables(select, sql, literals)
    if isinstance(select, (exp.Subquery, exp.Table)):    # VALUES (...), (...)
        select = exp.select("*").from_(select)
    stages: list = []
    stacked: tuple[str, ...] = ()
    combine = "union all"
    analytic = None
    select = rewrite.distinct_on(select, sql)      # -> QUALIFY ROW_NUMBER() ... = 1
    if isinstance(select, exp.Select) and uses_analytic(select):
        select, inner, analytic = split_analytic(select, sql)
        stages.append((ANALYTIC_INPUT, inner))
    if isinstance(select, exp.SetOperation):
        select, stacked, combine = rewrite.split_set_operation(select, sql, stages)
    elif isinstance(select, exp.Select):
        select = rewrite.exists_joins(select, sql)     # [NOT] EXISTS -> SEMI / ANTI JOIN
        select = rewrite.ctes_into_value_subqueries(select)
        select = rewrite.inline_derived_tables(select, sql, stages=stages)
        select, stacked = rewrite.split_grouping_sets(select, sql)
    select = rewrite.explicit_joins(select, sql)
    table = _check_shape(select, sql)
    joins = _join_specs(select, table, sql)
    select = rewrite.expand_conveniences(select, sql)
    value_stages: list = []
    select = rewrite.extract_value_subqueries(select, sql, value_stages)
    node = select.args.get("stream_window")
    emit = select.args.get("emit")
    return ParsedQuery(sql=sql, tree=select, statement=statement, source=table.name.lower(),
                       output_name=output_name,
                       window=window_spec(node, sql) if node is not None else None,
                       emit=emit.this.name.lower() if emit is not None else None,
                       stages=tuple((name, inner if isinstance(inner, str) else inner.sql(dialect=Gpuvelo))
                                    for name, inner, *_ in stages),
                       renamed=tuple((stage[0], stage[2]) for stage in stages if len(stage) > 2),
                       value_stages=tuple(value_stages), joins=joins, stacked=stacked,
                       combine=combine,
                       source_alias=(table.alias or table.name).lower(),
                       analytic=analytic, files=files, literals=tuple(literals))
