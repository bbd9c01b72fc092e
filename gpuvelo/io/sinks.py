"""Sinks: where results go, all taking Arrow tables.

The job calls ``set_schema(schema)`` once before any write (a file sink opens its file
then), then ``write(table)`` any number of times, then ``close()`` -- or, when the job
failed, ``abort()``: a file sink that wrote no rows then leaves no file (not a valid empty
result that looks like a real one); one that wrote rows keeps them. Closing twice is
harmless; writing after close raises :class:`~gpuvelo.errors.SinkError`. File sinks take a
path or an open binary file object (which they flush but do not close).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import SinkError


class Sink:
    """Base class of sinks; subclasses implement ``_write`` and optionally ``_open``/``_close``."""

    def __init__(self):
        self.rows_written = 0
        self.schema: pa.Schema | None = None
        self._closed = False

    def describe(self) -> str:
        """A human description of where results go."""
        return type(self).__name__

    def set_schema(self, schema: pa.Schema) -> None:
        """Tell the sink the schema of every table it will be given (before any write)."""
        self.schema = schema

    def write(self, table: pa.Table) -> None:
        """Accept a table of results."""
        if self._closed:
            raise SinkError(f"{self.describe()}: write after close")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if self.schema is None:
            self.schema = table.schema
        elif not table.schema.equals(self.schema):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowException, ValueError) as e:
                raise SinkError(f"{self.describe()}: table schema {table.schema} does not match "
                                f"the sink's schema {self.schema}") from e
        try:
            self._write(table)
        except BrokenPipeError:
            raise
        except (OSError, pa.ArrowException) as e:
            raise SinkError(f"{self.describe()}: cannot write: {e}") from e
        self.rows_written += table.num_rows

    def close(self) -> None:
        """Finish writing and release resources; harmless to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close()
        except (OSError, pa.ArrowException) as e:
            raise SinkError(f"{self.describe()}: cannot close: {e}") from e

    def abort(self) -> None:
        """Close after a failed job (see the module docstring); like :meth:`close` here."""
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} rows_written={self.rows_written}>"


class MemorySink(Sink):
    """Keeps every table written; :meth:`table` concatenates them."""

    def __init__(self):
        super().__init__()
        self._tables: list[pa.Table] = []

    def describe(self) -> str:
        return "memory"

    def _write(self, table: pa.Table) -> None:
        self._tables.append(table)

    def table(self) -> pa.Table:
        """Everything written so far, as one table (empty, with the schema, if nothing was)."""
        if self._tables:
            return pa.concat_tables(self._tables)
        return (self.schema or pa.schema([])).empty_table()


class CallbackSink(Sink):
    """Calls ``fn(table)`` for every write."""

    def __init__(self, fn: Callable[[pa.Table], object]):
        super().__init__()
        self.fn = fn

    def describe(self) -> str:
        return f"callback {getattr(self.fn, '__name__', repr(self.fn))}"

    def _write(self, table: pa.Table) -> None:
        self.fn(table)


class FileSink(Sink):
    """Common part of file sinks: a path (created on first use) or an open binary file."""

    def __init__(self, target):
        super().__init__()
        self._own = isinstance(target, (str, os.PathLike))
        self.path = Path(target) if self._own else None
        self._target = target
        self._out = None
        self._started = False

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        name = getattr(self._target, "name", None)     # '<stdout>' for sys.stdout.buffer
        return name if isinstance(name, str) else repr(self._target)

    def set_schema(self, schema: pa.Schema) -> None:
        """Take the schema and open the output now, so that a path that cannot be written
        fails before the job reads its input (and not silently when nothing is written)."""
        super().set_schema(schema)
        try:
            self._stream()
        except OSError as e:
            raise SinkError(f"{self.describe()}: cannot open for writing: {e}") from e

    def _stream(self):
        if self._out is None:
            self._out = open(self.path, "wb") if self._own else self._target
        return self._out

    def _write(self, table: pa.Table) -> None:
        if not self._started:
            self._start(self.schema)
            self._started = True
        self._write_rows(table)

    def abort(self) -> None:
        """Close after a failed job: with no rows written, nothing is finished -- a path
        the sink opened is removed, a file object is left as it was; else as :meth:`close`."""
        if self._closed or self.rows_written:
            self.close()
            return
        self._closed = True
        out, self._out = self._out, None
        try:
            if out is not None and self._own:
                out.close()
                self.path.unlink(missing_ok=True)
        except OSError as e:
            raise SinkError(f"{self.describe()}: cannot remove the unfinished file: {e}") from e

    def _close(self) -> None:
        if not self._started:
            self._start(self.schema)
        self._finish()
        if self._out is not None:
            if self._own:
                self._out.close()
            else:
                self._out.flush()

    def _start(self, schema: pa.Schema | None) -> None:
        """Write whatever comes before the rows (header, file metadata)."""

    def _write_rows(self, table: pa.Table) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Write whatever comes after the rows."""


class ParquetSink(FileSink):
    """Writes one Parquet file."""

    def _start(self, schema):
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self._stream(), schema or pa.schema([]))

    def _write_rows(self, table):
        self._writer.write_table(table)

    def _finish(self):
        self._writer.close()


class CsvSink(FileSink):
    """Writes CSV with a header line (pyarrow's CSV writer; NULL is an empty field). Values
    CSV has no type for are written as DuckDB's ``COPY ... TO 'x.csv'`` writes them (its
    VARCHAR text, :func:`duckdb_text`): LIST ``[1, NULL, 'a,b']``, STRUCT ``{'k': v}``,
    INTERVAL (an Arrow duration) ``30:01:01``, TIME ``10:00:00.5``."""

    def _start(self, schema):
        import pyarrow.csv as csv

        self._writer = (csv.CSVWriter(self._stream(), _csv_schema(schema))
                        if schema is not None else None)

    def _write_rows(self, table):
        self._writer.write_table(_csv_table(table))

    def _finish(self):
        if self._writer is not None:
            self._writer.close()
        else:
            self._stream()


def _as_text_in_csv(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` goes to CSV as DuckDB's text (see :class:`CsvSink`)."""
    return pa.types.is_nested(t) or pa.types.is_duration(t) or pa.types.is_time(t)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the columns written as text typed VARCHAR."""
    return pa.schema([f.with_type(pa.string()) if _as_text_in_csv(f.type) else f for f in schema])


def _csv_table(table: pa.Table) -> pa.Table:
    """``table`` with its nested and duration columns turned into DuckDB's text."""
    if not any(_as_text_in_csv(t) for t in table.schema.types):
        return table
    cols = [duckdb_text(c.combine_chunks()) if _as_text_in_csv(c.type) else c
            for c in table.columns]
    return pa.table(cols, schema=_csv_schema(table.schema))


class JsonLinesSink(FileSink):
    """Writes one JSON object per line: timestamps as ISO-8601 strings (UTC ones end in Z),
    dates as ``YYYY-MM-DD``, decimals as strings, INTERVALs (Arrow durations) as DuckDB's
    text (``"30:01:01"``), NaN and infinities and NULL as ``null``, lists as JSON arrays and
    structs as JSON objects of such values."""

    _CHUNK = 1 << 16

    def _write_rows(self, table):
        out = self._stream()
        for batch in table.to_batches(max_chunksize=self._CHUNK):
            out.write(json_lines(batch))

    def _finish(self):
        self._stream()


def json_lines(batch: pa.RecordBatch) -> bytes:
    """The rows of ``batch`` as JSON lines (UTF-8, each ending in a newline), vectorised."""
    if batch.num_rows == 0:
        return b""
    if batch.num_columns == 0:
        return b"{}\n" * batch.num_rows
    parts: list = []
    for i, (name, col) in enumerate(zip(batch.schema.names, batch.columns)):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        parts.append(_json_values(col))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    # the values of a string array lie end to end in its data buffer: hand that out
    offsets = pa.Array.from_buffers(pa.int32(), len(lines) + 1, [None, lines.buffers()[1]],
                                    offset=lines.offset)
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return lines.buffers()[2].slice(start, end - start).to_pybytes()


def _json_values(col: pa.Array) -> pa.Array:
    """JSON text for each value of an Arrow column; NULL becomes ``null``."""
    t = col.type
    if pa.types.is_null(t):
        text = pa.repeat("null", len(col))
    elif pa.types.is_boolean(t):
        text = pc.if_else(col, "true", "false")
    elif pa.types.is_integer(t):
        text = col.cast(pa.string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(col)
        text = pc.if_else(finite, col.cast(pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_decimal(t) or pa.types.is_date(t):
        text = _quote(col.cast(pa.string()))
    elif pa.types.is_duration(t):
        text = _quote(_interval_text(col))
    elif pa.types.is_time(t):
        text = _quote(duckdb_text(col))
    elif pa.types.is_timestamp(t):
        if t.tz is not None:   # the stored values are UTC: print them so, with a Z
            naive = col.cast(pa.timestamp(t.unit)).cast(pa.string())
            text = pc.binary_join_element_wise(naive, "Z", "")
        else:
            text = col.cast(pa.string())
        text = _quote(pc.replace_substring(text, " ", "T", max_replacements=1))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        text = _quote(_escape(col.cast(pa.string())))
    elif pa.types.is_list(t) or pa.types.is_large_list(t):   # the elements' text, joined
        items = type(col).from_arrays(col.offsets, _json_values(col.values))
        text = pc.binary_join_element_wise("[", pc.binary_join(items, ","), "]", "")
        text = pc.if_else(col.is_valid(), text, pa.scalar(None, pa.string()))
    elif pa.types.is_struct(t):   # {"field":value,...}
        parts = [("{" if i == 0 else ",") + json.dumps(t.field(i).name) + ":"
                 for i in range(t.num_fields)]
        values = [_json_values(f) for f in col.flatten()]
        text = pc.binary_join_element_wise(*[x for pair in zip(parts, values) for x in pair],
                                           "}", "") if values else pa.repeat("{}", len(col))
        text = pc.if_else(col.is_valid(), text, pa.scalar(None, pa.string()))
    else:  # rare nested types: per value, through the json module
        text = pa.array([json.dumps(v, default=str) for v in col.to_pylist()], pa.string())
    return pc.fill_null(text, "null")


def _quote(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', text, '"', "")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}


def _escape(text: pa.Array) -> pa.Array:
    """JSON string escaping: backslash, quote and control characters."""
    if not pc.any(pc.match_substring_regex(text, r'[\\"\x00-\x1f]')).as_py():
        return text
    for ch, esc in _ESCAPES.items():
        text = pc.replace_substring(text, ch, esc)
    for code in range(0x20):
        if chr(code) not in _ESCAPES:
            text = pc.replace_substring(text, chr(code), f"\\u{code:04x}")
    return text


# --------------------------------------------------------------------------- DuckDB's text
_NULL_TEXT = pa.scalar(None, pa.string())
# a string inside a LIST / STRUCT is quoted when DuckDB quotes it: empty, NULL-like, edged
# with white space, or holding one of the characters its list syntax uses
_NEEDS_QUOTES = r"""^$|^\s|\s$|^(?i:null)$|[,'"\[\]{}:=\\]"""


def duckdb_text(col: pa.Array, *, nested: bool = False,
                float_text: Callable[[pa.Array], pa.Array] | None = None) -> pa.Array:
    """DuckDB's VARCHAR text of each value of ``col``, vectorised (NULL stays NULL; inside a
    LIST or STRUCT it is written ``NULL``): booleans ``true``, timestamps
    ``2024-01-01 01:02:03.5`` (``+00`` for UTC ones), INTERVALs (Arrow durations: DuckDB
    reads them as microseconds) ``-30:01:01.5``, lists ``[1, NULL, 'a,b']``, structs
    ``{'k': v}``; strings inside lists and structs are quoted as DuckDB quotes them.
    ``nested``: ``col`` holds the elements of a list or struct; ``float_text`` formats
    floating-point values (default: the shortest text that reads back, ``2.0``)."""
    t = col.type
    if pa.types.is_dictionary(t):
        return duckdb_text(col.cast(t.value_type), nested=nested, float_text=float_text)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        text = _list_text(col, float_text)
    elif pa.types.is_struct(t):
        text = _struct_text(col, float_text)
    elif pa.types.is_null(t):
        text = pa.nulls(len(col), pa.string())
    elif pa.types.is_boolean(t):
        text = pc.if_else(col, "true", "false")
    elif pa.types.is_floating(t):
        text = float_text(col) if float_text is not None else _float_text(col)
    elif pa.types.is_timestamp(t):
        text = _timestamp_text(col)
    elif pa.types.is_duration(t):
        text = _interval_text(col)
    elif pa.types.is_time(t):          # ``10:00:00``, ``10:00:00.5``
        text = _drop_fraction_zeros(col.cast(pa.string()))
    else:
        try:
            text = col.cast(pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
    if nested and not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
                       or pa.types.is_boolean(t) or pa.types.is_nested(t)):
        text = _quoted_element(text)     # strings, and times (their ':')
    if nested:
        text = pc.fill_null(text, "NULL")
    return text


def _float_text(col: pa.Array) -> pa.Array:
    """Floats as DuckDB writes them: the shortest round-trip text, integers with ``.0``."""
    text = col.cast(pa.float64()).cast(pa.string())
    whole = pc.match_substring_regex(text, r"^-?\d+$")
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


def _timestamp_text(col: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS[.fraction without trailing zeros]``, ``+00`` after UTC ones."""
    t = col.type
    text = (col.cast(pa.timestamp(t.unit)) if t.tz is not None else col).cast(pa.string())
    text = _drop_fraction_zeros(text)
    return pc.binary_join_element_wise(text, "+00", "") if t.tz is not None else text


def _drop_fraction_zeros(text: pa.Array) -> pa.Array:
    """Times' text without the trailing zeros of the fraction (nor a bare ``.``)."""
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", "")


_PER_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


def _interval_text(col: pa.Array) -> pa.Array:
    """Durations as DuckDB prints an interval of microseconds: ``[-]HH:MM:SS[.ffffff]``,
    hours unbounded, trailing zeros of the fraction dropped (``-00:00:01.5``)."""
    ticks = col.cast(pa.int64())
    factor = _PER_US[col.type.unit]
    us = pc.divide(ticks, 1000) if factor is None else pc.multiply(ticks, factor)
    mag = pc.abs(us)
    secs = pc.divide(mag, 1_000_000)        # integer division (truncates, as DuckDB)
    hours, minutes, seconds = (pc.divide(secs, 3600), pc.divide(pc.subtract(secs, pc.multiply(
        pc.divide(secs, 3600), 3600)), 60), pc.subtract(secs, pc.multiply(pc.divide(secs, 60), 60)))
    micros = pc.subtract(mag, pc.multiply(secs, 1_000_000))
    frac = pc.binary_join_element_wise(".", pc.utf8_lpad(micros.cast(pa.string()), 6, "0"), "")
    frac = pc.replace_substring_regex(frac, r"\.?0+$", "")
    sign = pc.if_else(pc.less(us, 0), "-", "")
    return pc.binary_join_element_wise(sign, _two_digits(hours), ":", _two_digits(minutes), ":",
                                       _two_digits(seconds), frac, "")


def _two_digits(x: pa.Array) -> pa.Array:
    return pc.utf8_lpad(x.cast(pa.string()), 2, "0")


def _quoted_element(text: pa.Array) -> pa.Array:
    """A string inside a list or struct, quoted (``'it\\'s'``) where DuckDB quotes it."""
    quoted = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), "'", "\\'")
    quoted = pc.binary_join_element_wise("'", quoted, "'", "")
    return pc.if_else(pc.match_substring_regex(text, _NEEDS_QUOTES), quoted, text)


def _list_text(col: pa.Array, float_text) -> pa.Array:
    """``[a, b, ...]`` of each list (NULL for a NULL list)."""
    if pa.types.is_fixed_size_list(col.type):
        col = col.cast(pa.list_(col.type.value_type))
    values = col.flatten()
    items = duckdb_text(values, nested=True, float_text=float_text)
    counts = pc.fill_null(pc.list_value_length(col), 0)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts.to_numpy(zero_copy_only=False))]),
                       pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, items), ", ")
    text = pc.binary_join_element_wise("[", pc.fill_null(joined, ""), "]", "")
    return pc.if_else(col.is_valid(), text, _NULL_TEXT)


def _struct_text(col: pa.Array, float_text) -> pa.Array:
    """``{'field': value, ...}`` of each struct (NULL for a NULL struct)."""
    t = col.type
    parts = []
    for i, child in enumerate(col.flatten()):
        name = t.field(i).name.replace("\\", "\\\\").replace("'", "\\'")
        parts += [("{" if i == 0 else ", ") + f"'{name}': ",
                  duckdb_text(child, nested=True, float_text=float_text)]
    text = (pc.binary_join_element_wise(*parts, "}", "") if parts
            else pa.repeat("{}", len(col)))
    return pc.if_else(col.is_valid(), text, _NULL_TEXT)


# --------------------------------------------------------------------------- dispatch
def as_sink(obj) -> Sink:
    """A :class:`Sink` from a Sink, a path (by extension: .parquet/.pq, .csv,
    .jsonl/.ndjson/.json) or a callable taking a table."""
    if isinstance(obj, Sink):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        ext = Path(obj).suffix.lower()
        if ext in (".parquet", ".pq"):
            return ParquetSink(obj)
        if ext == ".csv":
            return CsvSink(obj)
        if ext in (".jsonl", ".ndjson", ".json"):
            return JsonLinesSink(obj)
        raise SinkError(f"{obj}: unknown output file type {ext or '(no extension)'}; use "
                        ".parquet/.pq, .csv or .jsonl/.ndjson/.json")
    if callable(obj):
        return CallbackSink(obj)
    raise SinkError(f"cannot write results to a {type(obj).__name__}; gpuvelo accepts a Sink, "
                    "a path (.parquet, .csv, .jsonl) or a callable taking a pyarrow Table")
