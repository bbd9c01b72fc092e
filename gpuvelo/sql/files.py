"""Files named in the query, as DuckDB reads them: ``FROM 'trades.csv'``,
``FROM read_csv('m.txt', delim=';', header=false)``, ``read_parquet('data/*.parquet')``,
``read_json_auto('events.jsonl')``, also as a JOIN's side or inside subqueries and CTEs.

:func:`file_reads` turns each into an ordinary table whose name is the path as written
(quoted), and lists what to open (:class:`FileRead`); the job opens the files it was not
given a source of that name for. A quoted name counts as a file when it ends in a known
extension (``.csv``, ``.parquet``, ...) or is a glob pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..errors import NotSupportedError
from .dialect import Gpuvelo
from .windows import where

_EXTS = (".parquet", ".pq", ".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json")
_READERS = {"read_csv": "csv", "read_csv_auto": "csv",
            "read_parquet": "parquet", "parquet_scan": "parquet",
            "read_json": "json", "read_json_auto": "json", "read_ndjson": "json",
            "read_ndjson_auto": "json"}
# DuckDB's read_csv options gpuvelo takes -> CsvSource keyword
_CSV_OPTIONS = {"delim": "delimiter", "sep": "delimiter", "delimiter": "delimiter",
                "header": "header", "names": "column_names", "column_names": "column_names",
                "nullstr": "null_values"}
_IGNORED = {"auto_detect"}          # options that say what gpuvelo does anyway


@dataclass(frozen=True)
class FileRead:
    """A file (or files) the query reads: ``name`` is the table name the query reads it
    by (the path as written); ``path`` one path or glob, or a tuple of them; ``kind``
    'parquet' | 'csv' | 'json', or None to go by the extension; ``options`` CsvSource
    keyword arguments as (name, value) pairs."""

    name: str
    path: str | tuple[str, ...]
    kind: str | None = None
    options: tuple[tuple[str, object], ...] = ()


def looks_like_file(name: str) -> bool:
    """Whether a quoted table name is a file path: a known extension, or a glob pattern."""
    low = name.lower()
    for packed in (".gz", ".gzip", ".zst", ".zstd", ".bz2"):     # x.csv.gz
        if low.endswith(packed):
            low = low[: -len(packed)]
    return low.endswith(_EXTS) or any(c in name for c in "*?[")


def file_reads(statement: exp.Expression, sql: str) -> tuple[exp.Expression, tuple[FileRead, ...]]:
    """``statement`` with every file in FROM / JOIN replaced by a table named by its path,
    and the files to open (see the module docstring)."""
    if not any(isinstance(t.this, exp.Func) or (isinstance(t.this, exp.Identifier) and
                                                 (t.this.quoted or t.db))
               for t in statement.find_all(exp.Table)):
        return statement, ()             # no file named: no copy of a large tree
    found: dict[str, FileRead] = {}

    def swap(node):
        if not isinstance(node, exp.Table):
            return node
        inner = node.this
        if isinstance(inner, exp.Identifier) and inner.quoted and not node.db \
                and looks_like_file(inner.this):
            read = FileRead(inner.this, inner.this)
            alias = _stem(inner.this)
        elif isinstance(inner, exp.Identifier) and node.db and not node.catalog \
                and looks_like_file(f"{node.db}.{inner.this}") and not any(c in inner.this for c in "*?["):
            path = f"{node.db}.{inner.this}"         # FROM trades.csv, unquoted (DuckDB's replacement scan)
            read, alias = FileRead(path, path), _stem(path)
        elif isinstance(inner, exp.Func) and _reader_name(inner) in _READERS:
            read = _reader_call(inner, sql)
            alias = None
        else:
            return node
        found.setdefault(read.name.lower(), read)
        out = exp.Table(this=exp.Identifier(this=read.name, quoted=True))
        given = node.args.get("alias")
        if given is not None:
            out.set("alias", given.copy())
        elif alias:
            out.set("alias", exp.TableAlias(this=exp.Identifier(this=alias, quoted=True)))
        return out

    if isinstance(statement, exp.Create):       # CREATE STREAM name AS SELECT: not its name
        out = statement.copy()
        out.set("expression", statement.expression.transform(swap))
        return out, tuple(found.values())
    return statement.transform(swap), tuple(found.values())


def _stem(path: str) -> str | None:
    """DuckDB's name for ``FROM 'dir/trades.csv'``: ``trades`` (none for a glob)."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    if any(c in base for c in "*?["):
        return None
    return base.split(".", 1)[0] or None


def _reader_name(func: exp.Func) -> str:
    """The reader's name as DuckDB spells it (sqlglot's own classes drop the underscore)."""
    name = (func.name if isinstance(func, exp.Anonymous) else func.key).lower()
    return {"readcsv": "read_csv", "readparquet": "read_parquet"}.get(name, name)


def _reader_call(func: exp.Func, sql: str) -> FileRead:
    """The FileRead of ``read_csv('path', opt=value, ...)`` and its kin."""
    name = _reader_name(func)
    kind = _READERS[name]
    args = ([func.this] if func.args.get("this") is not None and not isinstance(func, exp.Anonymous)
            else []) + list(func.expressions)
    positional = [a for a in args if not isinstance(a, exp.EQ)]
    if len(positional) != 1:
        raise NotSupportedError(f"{name}() takes one path (a string, or a list of strings) and "
                                f"named options: {func.sql(dialect=Gpuvelo)}", **where(func, sql))
    path = _paths(positional[0], name, sql)
    options = []
    for opt in (a for a in args if isinstance(a, exp.EQ)):
        key = opt.this.name.lower() if isinstance(opt.this, exp.Column) else opt.this.sql().lower()
        if key in _IGNORED:
            continue
        if kind != "csv" or key not in _CSV_OPTIONS:
            takes = (f"; it takes {', '.join(sorted(_CSV_OPTIONS))}" if kind == "csv" else
                     "; it takes none")
            raise NotSupportedError(f"{name}() option '{key}' is not supported{takes}",
                                    **where(opt, sql))
        options.append((_CSV_OPTIONS[key], _option_value(opt.expression, key, name, sql)))
    text = path if isinstance(path, str) else ", ".join(path)
    label = text if not options else f"{name}({text}; {', '.join(f'{k}={v}' for k, v in options)})"
    return FileRead(label, path, kind, tuple(options))


def _paths(node, name: str, sql: str) -> str | tuple[str, ...]:
    """The path literal of a reader call: one string, or a tuple of them for a list."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if isinstance(node, exp.Array) and node.expressions and all(
            isinstance(e, exp.Literal) and e.is_string for e in node.expressions):
        return tuple(e.this for e in node.expressions)
    raise NotSupportedError(f"{name}()'s path must be a string literal or a list of them: "
                            f"{node.sql(dialect=Gpuvelo)}", **where(node, sql))


def _option_value(node, key: str, name: str, sql: str):
    """A literal option value: string, boolean, or a list of strings (names, nullstr)."""
    if isinstance(node, exp.Boolean):
        value = node.this
    elif isinstance(node, exp.Literal) and node.is_string:
        value = node.this
    elif isinstance(node, exp.Array) and all(isinstance(e, exp.Literal) and e.is_string
                                             for e in node.expressions):
        value = [e.this for e in node.expressions]
    else:
        raise NotSupportedError(f"{name}() option '{key}' needs a literal value: "
                                f"{node.sql(dialect=Gpuvelo)}", **where(node, sql))
    wanted = {"header": bool, "column_names": list}.get(_CSV_OPTIONS[key], (str, list))
    if _CSV_OPTIONS[key] == "null_values" and isinstance(value, str):
        value = [value]
    if not isinstance(value, wanted):
        raise NotSupportedError(f"{name}() option '{key}' has the wrong kind of value: "
                                f"{node.sql(dialect=Gpuvelo)}", **where(node, sql))
    if _CSV_OPTIONS[key] == "delimiter" and value == "\\t":
        value = "\t"
    return value if not isinstance(value, list) else tuple(value)
