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
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator
from sqlglot.parsers.duckdb import DuckDBParser
from sqlglot.tokens import TokenType

WINDOW_KINDS = ("TUMBLING", "HOPPING", "SLIDING", "SESSION")
EMIT_MODES = ("CHANGES", "FINAL")


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
