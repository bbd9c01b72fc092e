"""gpuvelo's SQL dialect: DuckDB plus the streaming clauses.

Added to DuckDB's grammar, and nothing else:

* ``CREATE STREAM name AS SELECT ...`` (``CREATE TABLE name AS SELECT`` is DuckDB's own);
* ``WINDOW TUMBLING|HOPPING|SLIDING|SESSION ( ... )`` anywhere among the query modifiers
  (before or after GROUP BY).  The parser keeps the clause's tokens raw, split at top-level
  commas, in a :class:`StreamWindow` node under the select's ``stream_window`` key;
  :mod:`gpuvelo.sql.windows` turns them into a :class:`~gpuvelo.sql.plan.WindowSpec`.
  ``WINDOW name AS (...)`` (a named window) still parses as in DuckDB;
* a trailing ``EMIT CHANGES`` / ``EMIT FINAL``, stored as an :class:`Emit` node under the
  select's ``emit`` key.

It also corrects sqlglot's reading of interval text: sqlglot turns a string holding one
``number unit`` anywhere (``INTERVAL '2 hours ago'``, ``'1 hour and a bit'``) into
``INTERVAL '2' HOURS``, losing the rest. Here only a string that is exactly one ``number unit``
is split; any other text stays whole (no unit) for :func:`gpuvelo.timeparts.parse_interval`.
The unit after a quantity must be one of DuckDB's unit keywords (:data:`INTERVAL_KEYWORDS`):
after a string another word is an alias, as in DuckDB (``INTERVAL '1' d`` is one second,
not a day), after a number or an expression it is an error. A unit keyword after a string
that names its own unit (``INTERVAL '1 day' HOUR``) is an error, as in DuckDB (sqlglot
would read the keyword as an alias), and so is sqlglot's sum without ``+ INTERVAL``
(``INTERVAL 1 DAY + 5`` would become ``+ INTERVAL '5'``, 5 seconds).
"""

from __future__ import annotations

import re
from decimal import Decimal

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator
from sqlglot.parsers.duckdb import DuckDBParser
from sqlglot.tokens import TokenType

WINDOW_KINDS = ("TUMBLING", "HOPPING", "SLIDING", "SESSION")
EMIT_MODES = ("CHANGES", "FINAL")
# the interval text sqlglot splits into a quantity and a unit: exactly one `number unit`
_ONE_INTERVAL_PART = re.compile(r"\s*-?\d+(?:\.\d+)?\s*[a-zA-Z]+\s*")
_EXPONENT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+\s*")
# the unit keywords of DuckDB's INTERVAL grammar (other words after INTERVAL '...' are aliases)
INTERVAL_KEYWORDS = frozenset(
    f"{unit}{plural}" for unit in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND",
                                   "MILLISECOND", "MICROSECOND", "WEEK", "QUARTER", "DECADE")
    for plural in ("", "S")) | {"CENTURY", "CENTURIES", "MILLENNIUM", "MILLENNIA"}


class StreamWindow(exp.Expression):
    """``WINDOW <kind> (...)``; ``meta['args']`` holds the tokens of each top-level argument."""

    arg_types = {"this": True}   # the kind, upper-case, as an exp.Var


class Emit(exp.Expression):
    """``EMIT CHANGES`` / ``EMIT FINAL``; ``this`` is the mode as an exp.Var (upper-case)."""

    arg_types = {"this": True}


def _text_is(token, *words: str) -> bool:
    return bool(token) and token.token_type != TokenType.STRING and token.text.upper() in words


class GpuveloParser(DuckDBParser):
    """DuckDB's parser with the streaming clauses (see the module docstring)."""

    QUERY_MODIFIER_PARSERS = {
        **DuckDBParser.QUERY_MODIFIER_PARSERS,
        TokenType.WINDOW: lambda self: self._parse_any_window(),
    }
    STATEMENT_PARSERS = {
        **DuckDBParser.STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_stream_or_create(),
    }

    def _parse_any_window(self):
        if not _text_is(self._next, *WINDOW_KINDS):
            return "windows", self._parse_window_clause()
        self._advance()                       # WINDOW
        kind_token = self._curr
        self._advance()                       # the kind
        if not self._match(TokenType.L_PAREN):
            self.raise_error(f"expected '(' after WINDOW {kind_token.text.upper()}")
        args, current, depth = [], [], 0
        while True:
            token = self._curr
            if not token:
                self.raise_error("unclosed WINDOW clause: expected ')'", kind_token)
            self._advance()
            if token.token_type == TokenType.R_PAREN and depth == 0:
                break
            if token.token_type == TokenType.COMMA and depth == 0:
                args.append(current)
                current = []
                continue
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
            current.append(token)
        args.append(current)
        node = StreamWindow(this=exp.var(kind_token.text.upper()))
        node.meta["args"] = [a for a in args if a] if any(args) else []
        node.meta["token"] = kind_token
        return "stream_window", node

    def _parse_query_modifiers(self, this):
        this = super()._parse_query_modifiers(this)
        if isinstance(this, exp.Select) and _text_is(self._curr, "EMIT"):
            emit_token = self._curr
            self._advance()
            if not _text_is(self._curr, *EMIT_MODES):
                self.raise_error("expected CHANGES or FINAL after EMIT", self._curr or emit_token)
            this.set("emit", Emit(this=exp.var(self._curr.text.upper())))
            self._advance()
        return this

    def _parse_interval(self, require_interval=True, parse_function_unit=True):
        start = self._curr
        interval = super()._parse_interval(require_interval, parse_function_unit)
        if isinstance(interval, exp.Add):   # sqlglot's `INTERVAL '1' DAY + '2' HOUR`
            self.raise_error("an INTERVAL plus a number or a string is not defined; "
                             "write INTERVAL before each part", start)
        return interval

    def _parse_interval_span(self, this, parse_function_unit=True):
        unit_token, index = self._curr, self._index
        keyword = (_text_is(unit_token, *INTERVAL_KEYWORDS)
                   and unit_token.token_type != TokenType.IDENTIFIER)   # "day" is a name
        if this is not None and this.is_string and keyword and _EXPONENT.fullmatch(this.name):
            this = exp.Literal.string(f"{Decimal(this.name.strip()):f}")   # '1e2' DAY: 100 days
        interval = super()._parse_interval_span(this, parse_function_unit=parse_function_unit)
        if this is not None and this.is_string and exp.INTERVAL_STRING_RE.search(this.name):
            if keyword:                # the string names its unit: DuckDB rejects another
                self.raise_error(f"INTERVAL '{this.name}' names its unit already; "
                                 f"remove {unit_token.text.upper()}", unit_token)
            if _ONE_INTERVAL_PART.fullmatch(this.name):
                return interval
            return self.expression(exp.Interval(this=this))   # the whole text, for gpuvelo
        if not isinstance(interval.args.get("unit"), exp.Var) or keyword:
            return interval
        # a word that is no DuckDB unit keyword: an alias after a string, an error otherwise
        if not this.is_string:
            self.raise_error(f"unknown INTERVAL unit {unit_token.text} (DuckDB's are "
                             "YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, ...)", unit_token)
        self._retreat(index)
        return self.expression(exp.Interval(this=this))

    def _parse_table_alias(self, alias_tokens=None):
        # `FROM t EMIT CHANGES`: EMIT is a clause here, not the table's alias.
        if _text_is(self._curr, "EMIT") and (not self._next or _text_is(self._next, *EMIT_MODES)):
            return None
        return super()._parse_table_alias(alias_tokens)

    def _parse_create_stream_or_create(self):
        if not _text_is(self._curr, "STREAM"):   # CREATE is already consumed
            return self._parse_create()
        self._advance()
        table = self._parse_table_parts()
        if not self._match(TokenType.ALIAS):
            self.raise_error("expected AS after CREATE STREAM <name>")
        query = self._parse_statement()
        return exp.Create(this=table, kind="STREAM", expression=query)


def _window_sql(self, node: StreamWindow) -> str:
    args = ", ".join(" ".join(t.text for t in arg) for arg in node.meta.get("args", []))
    return f"WINDOW {node.this.name}({args})"


class GpuveloGenerator(DuckDBGenerator):
    """DuckDB's generator, able to print the streaming clause nodes (for messages)."""

    TRANSFORMS = {
        **DuckDBGenerator.TRANSFORMS,
        StreamWindow: _window_sql,
        Emit: lambda self, e: f"EMIT {e.this.name}",
    }


class Gpuvelo(DuckDB):
    """The gpuvelo dialect: pass ``read=Gpuvelo`` to sqlglot."""

    Parser = GpuveloParser
    Generator = GpuveloGenerator
