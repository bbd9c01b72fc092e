"""Sources: where record batches come from, all speaking Arrow.

A :class:`Source` yields ``pyarrow.RecordBatch`` objects, streaming (a file is never read
whole). :func:`as_source` turns anything a user may hand gpuvelo -- a Table, a DataFrame,
a dict of arrays, a generator of batches, a path -- into one.

With a ``batch_size`` every batch but the last of a source partition has exactly
``batch_size`` rows, whatever the chunking of the input (slices, no copy, where possible).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..errors import DataError, SchemaMismatchError, SourceError

PARQUET_EXTS = (".parquet", ".pq")
CSV_EXTS = (".csv", ".tsv", ".txt")   # .tsv: tab-separated by default
JSON_EXTS = (".jsonl", ".ndjson", ".json")
_BLOCK_BYTES = 1 << 20


# --------------------------------------------------------------------------- the protocol
class Source:
    """Base class of sources.

    ``name`` is set by the owner (the job sets it to the query's table name).
    ``source_partitions`` is how many source partitions :meth:`batches_with_partition`
    tags batches with (numbered from 0); ``partition_key`` names the columns the source
    is known to be partitioned by, or is None when unknown. ``read_ahead``: producing a
    batch is real work (parsing, decompressing, joining) that a job may do on a thread of
    its own while it aggregates the previous batch. Subclasses implement :meth:`schema`
    and either :meth:`batches` or :meth:`batches_with_partition`.
    """

    source_partitions: int = 1
    partition_key: tuple[str, ...] | None = None
    read_ahead: bool = False

    def __init__(self, *, name: str | None = None, batch_size: int | None = None):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.name = name if name is not None else self.describe()
        self.rows_read = 0

    def describe(self) -> str:
        """A human description of where the data comes from (e.g. the path)."""
        return type(self).__name__

    def where(self) -> str:
        """The source in error messages: its name, and where it reads from if that differs."""
        desc = self.describe()
        return f"source '{self.name}'" + (f" ({desc})" if desc != self.name else "")

    def schema(self) -> pa.Schema:
        """The Arrow schema of the batches (may peek at the data)."""
        raise NotImplementedError

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Yield the record batches, streaming."""
        if type(self).batches_with_partition is Source.batches_with_partition:
            raise NotImplementedError(f"{type(self).__name__} implements neither batches() "
                                      "nor batches_with_partition()")
        for _, batch in self.batches_with_partition():
            yield batch

    def batches_with_partition(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        """Yield ``(source_partition, batch)`` pairs; every batch is in partition 0 by default."""
        for batch in self.batches():
            yield 0, batch

    def progress(self) -> tuple[int, int | None]:
        """``(units done, total units or None)``; the base class counts rows with no total."""
        return self.rows_read, None

    def close(self) -> None:
        """Release any open resources; harmless to call twice."""

    def narrow(self, needed) -> None:
        """A hint before reading: the query reads only the columns named in ``needed`` (any
        case). A source may then hand out just those (and at least one, for row counts);
        the default hands out every column."""

    def _counted(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Re-chunk to ``batch_size`` and count the rows handed out."""
        for batch in rechunk(batches, self.batch_size, self.where()):
            self.rows_read += batch.num_rows
            yield batch

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def rechunk(batches: Iterable[pa.RecordBatch], batch_size: int | None,
            where: str = "source") -> Iterator[pa.RecordBatch]:
    """Yield ``batches`` re-cut to exactly ``batch_size`` rows (the last may be shorter).

    Empty batches are dropped; every batch must have the first batch's schema
    (:class:`SchemaMismatchError` otherwise). Without a batch size, batches pass through.
    """
    first: pa.Schema | None = None
    pending: list[pa.RecordBatch] = []
    n_pending = 0
    for batch in batches:
        if first is None:
            first = batch.schema
        elif not batch.schema.equals(first):
            raise SchemaMismatchError(f"{where}: a batch's schema differs from the first "
                                      f"batch's: {schema_diff(batch.schema, first)}")
        if batch.num_rows == 0:
            continue
        if batch_size is None:
            yield batch
            continue
        pending.append(batch)
        n_pending += batch.num_rows
        if n_pending < batch_size:
            continue
        whole = _concat(pending)
        start = 0
        while n_pending - start >= batch_size:
            yield whole.slice(start, batch_size)
            start += batch_size
        pending = [whole.slice(start)] if start < n_pending else []
        n_pending -= start
    if n_pending:
        yield _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch from several; no copy when there is only one."""
    if len(batches) == 1:
        return batches[0]
    if hasattr(pa, "concat_batches"):  # pyarrow >= 19
        return pa.concat_batches(batches)
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def schema_diff(got: pa.Schema, expected: pa.Schema) -> str:
    """What differs between two schemas, column by column, in words."""
    got_types = dict(zip(got.names, got.types))
    want_types = dict(zip(expected.names, expected.types))
    diffs = [f"column {n} is missing" for n in expected.names if n not in got_types]
    diffs += [f"column {n} is {got_types[n]}, was {t}" for n, t in want_types.items()
              if n in got_types and got_types[n] != t]
    diffs += [f"extra column {n}" for n in got.names if n not in want_types]
    if not diffs:
        diffs = [f"columns in a different order: {_schema_str(got)} vs {_schema_str(expected)}"]
    return "; ".join(diffs)


def _schema_str(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{f.name} {f.type}" for f in schema) + ")"


# --------------------------------------------------------------------------- in memory
class TableSource(Source):
    """A pyarrow Table (or RecordBatch) held in memory; can be read any number of times."""

    def __init__(self, table: pa.Table | pa.RecordBatch, *, name: str | None = None,
                 batch_size: int | None = None):
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self.table = table
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return f"table of {self.table.num_rows} rows"

    def schema(self) -> pa.Schema:
        return self.table.schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        yield from self._counted(self.table.to_batches())

    def progress(self) -> tuple[int, int | None]:
        return self.rows_read, self.table.num_rows


class StreamSource(Source):
    """Anything with ``__arrow_c_stream__`` (pandas or polars DataFrame, ...): a fresh Arrow
    stream is opened for every read."""

    def __init__(self, obj, *, name: str | None = None, batch_size: int | None = None):
        self.obj = obj
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return f"{type(self.obj).__module__}.{type(self.obj).__name__}"

    def _reader(self) -> pa.RecordBatchReader:
        try:
            return pa.RecordBatchReader.from_stream(self.obj)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise DataError(f"{self.where()}: cannot read it as an Arrow stream: {e}") from e

    def schema(self) -> pa.Schema:
        return self._reader().schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        yield from self._counted(iter(self._reader()))


class IterableSource(Source):
    """An iterable of RecordBatches or Tables (a generator, a RecordBatchReader, a list).

    A one-shot iterator can be read once; :meth:`schema` peeks at the first item and keeps it.
    """

    def __init__(self, items: Iterable, *, schema: pa.Schema | None = None,
                 name: str | None = None, batch_size: int | None = None):
        self._items = items
        self._schema = schema
        self._peeked: list[pa.RecordBatch] = []
        self._iter: Iterator | None = None
        self._reusable = isinstance(items, (list, tuple))
        self._started = False
        self._n_items = 0
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return f"iterable of record batches ({type(self._items).__name__})"

    def _raw(self) -> Iterator[pa.RecordBatch]:
        """The input's items as RecordBatches, in order, the peeked ones first."""
        if self._iter is None:
            self._iter = iter(self._items)
        while self._peeked:
            yield self._peeked.pop(0)
        for item in self._iter:
            i, self._n_items = self._n_items, self._n_items + 1
            if isinstance(item, pa.RecordBatch):
                yield item
            elif isinstance(item, pa.Table):
                yield from item.to_batches()
            else:
                raise DataError(f"{self.where()}: item {i} is a {type(item).__name__}; "
                                "expected pyarrow RecordBatch or Table")

    def schema(self) -> pa.Schema:
        if self._schema is None:
            for batch in self._raw():
                self._peeked.append(batch)
                self._schema = batch.schema
                break
            else:
                raise DataError(f"{self.where()}: no batches to take a schema from")
        return self._schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._reusable:
            self._iter, self._peeked, self._n_items = None, [], 0
        elif self._started:
            raise SourceError(f"{self.name}: this iterator source was already read; "
                              "pass a list, a Table or a path to read it again")
        self._started = True
        self.rows_read = 0
        yield from self._counted(self._raw())


# --------------------------------------------------------------------------- files
class FileSource(Source):
    """Common part of the file sources: a path, a file size, progress by bytes."""

    read_ahead = True

    def __init__(self, path, *, name: str | None = None, batch_size: int | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file or directory")
        self._file: pa.NativeFile | None = None
        self._raw: pa.NativeFile | None = None     # under a decompressing stream: for progress
        self._bytes_done = 0
        self.compression = compression_of(self.path)
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return str(self.path)

    def _size(self) -> int:
        return self.path.stat().st_size

    def progress(self) -> tuple[int, int | None]:
        raw = self._raw or self._file       # compressed: bytes of the file read so far
        done = raw.tell() if raw is not None and not raw.closed else self._bytes_done
        return done, self._size()

    def _open(self, track: bool = True) -> pa.NativeFile:
        """Open the file (decompressing a ``.gz`` / ``.zst`` / ``.bz2`` one as it reads); a
        tracked open (the streaming read) is the one progress reports."""
        raw = pa.OSFile(str(self.path), "r")
        stream = pa.CompressedInputStream(raw, self.compression) if self.compression else raw
        if not track:
            return stream
        self.close()
        self._bytes_done = 0
        self._file, self._raw = stream, raw if self.compression else None
        return self._file

    def close(self) -> None:
        raw = self._raw or self._file
        if raw is not None and not raw.closed:
            self._bytes_done = raw.tell()
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._raw is not None and not self._raw.closed:
            self._raw.close()


class ParquetSource(Source):
    """A Parquet file, or a directory of them (one source partition per file, sorted by
    name). Read in row groups / batches via ``ParquetFile.iter_batches``; progress in rows."""

    read_ahead = True

    def __init__(self, path, *, batch_size: int | None = None, columns: list[str] | None = None,
                 name: str | None = None, files: list[Path] | None = None):
        self.path = Path(path)
        if files is not None:      # a glob's or a list's files (see path_source)
            self.files = list(files)
        elif self.path.is_dir():
            self.files = _dir_files(self.path, PARQUET_EXTS)
            if not self.files:
                raise DataError(f"{self.path}: directory holds no .parquet files")
        elif self.path.exists():
            self.files = [self.path]
        else:
            raise DataError(f"{self.path}: no such file or directory")
        self.columns = columns
        self._needed: set[str] | None = None   # see narrow()
        self.source_partitions = len(self.files)
        self._total: int | None = None
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return str(self.path)

    def narrow(self, needed) -> None:
        """Let the next read hand out only the columns in ``needed`` (batches of no columns,
        just rows, when it names none): the others are never decoded, and need not exist in
        the later files of a directory, as in DuckDB. :meth:`schema` says so until that
        read starts."""
        self._needed = {n.lower() for n in needed}

    def _parquet_file(self, path: Path):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(str(path))
        except pa.ArrowException as e:
            raise DataError(f"{path}: not a readable Parquet file: {e}") from e

    def schema(self) -> pa.Schema:
        with self._parquet_file(self.files[0]) as pf:
            schema = pf.schema_arrow
        if self.columns is not None:
            missing = [c for c in self.columns if c not in schema.names]
            if missing:
                raise DataError(f"{self.files[0]}: no column(s) {', '.join(missing)}; "
                                f"the file has {', '.join(schema.names)}")
            schema = pa.schema([schema.field(c) for c in self.columns])
        if self._needed is not None:
            schema = pa.schema([f for f in schema if f.name.lower() in self._needed])
        return schema

    def batches_with_partition(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        self.rows_read = 0
        schema = self.schema()
        self._needed = None        # narrow() holds for this read only
        for part, path in enumerate(self.files):
            pf = self._parquet_file(path)
            try:
                for batch in self._counted(self._file_batches(pf, path, schema)):
                    yield part, batch
            except pa.ArrowException as e:
                raise DataError(f"{path}: cannot read Parquet data: {e}") from e
            finally:
                pf.close()

    def _file_batches(self, pf, path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """One file's batches with the first file's columns (see :func:`as_first_file`)."""
        kwargs = {"columns": schema.names}
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        yield from as_first_file(pf.iter_batches(**kwargs), pf.schema_arrow.names, schema,
                                 f"{self.where()}, file {path}")

    def progress(self) -> tuple[int, int | None]:
        if self._total is None:
            self._total = 0
            for path in self.files:
                with self._parquet_file(path) as pf:
                    self._total += pf.metadata.num_rows
        return self.rows_read, self._total


def as_first_file(batches, names, schema: pa.Schema, where: str) -> Iterator[pa.RecordBatch]:
    """The batches of a later file of a multi-file source (its columns ``names``) with the
    first file's ``schema``: as DuckDB reads several files, columns are matched by name
    (extra ones ignored) and cast to the first file's types; a missing column, or a value
    the cast cannot convert, raises SchemaMismatchError naming the file (``where``)."""
    missing = [n for n in schema.names if n not in names]
    if missing:
        raise SchemaMismatchError(f"{where}: the schema differs from the source's first "
                                  f"file's: column {', '.join(missing)} is missing")
    for batch in batches:
        yield batch if batch.schema.equals(schema) else _conform(batch, schema, where)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``batch``'s columns named by ``schema``, cast to its types (string to large_string,
    int32 to int64, ...); SchemaMismatchError naming the column when a cast fails."""
    arrays = []
    for field in schema:
        col = batch.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise SchemaMismatchError(
                    f"{where}: column {field.name} is {col.type}, was {field.type} in the "
                    f"source's first file, and its values do not convert: {e}") from e
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_SMALL_FILE = 1 << 20      # CsvSource._open: files up to this size may be read into memory


class CsvSource(FileSource):
    """A CSV file read with pyarrow's streaming CSV reader (types inferred from the first
    block unless ``schema`` is given). Progress in bytes. Sniffed as DuckDB sniffs a file
    (see :func:`sniff_csv`): ``delimiter`` defaults to a tab for ``.tsv`` files, else to
    what the first line suggests; leading ``#`` comment lines are skipped; ``header=None``
    (the default) finds out whether the first line is a header -- it is when every column
    is a string column or when one of its fields does not convert to its column's type.
    ``column_names`` names the columns (a header line, when there is one, is skipped; as
    DuckDB's ``names``); a file without a header and without names has columns column0,
    column1, .... As in DuckDB, only an empty field (quoted or not) is
    NULL unless ``null_values`` lists others (``["NA", "null"]``; strings like ``NA`` stay
    strings), and a column with no value in the first block is a string column."""

    def __init__(self, path, *, batch_size: int | None = None, delimiter: str | None = None,
                 schema: pa.Schema | None = None, header: bool | None = None,
                 block_size: int = _BLOCK_BYTES, null_values: list[str] | None = None,
                 column_names: list[str] | None = None, name: str | None = None):
        sniffed = sniff_csv(path, delimiter)
        if delimiter is None:
            delimiter = "\t" if _data_suffix(path) == ".tsv" else sniffed.delimiter
        if len(delimiter) != 1:
            raise DataError(f"{path}: the CSV delimiter must be one character, got {delimiter!r}")
        self.delimiter, self.explicit_schema = delimiter, schema
        self.skip_rows = sniffed.comment_lines
        self.column_names = list(column_names) if column_names is not None else None
        self.block_size = block_size
        self.null_values = list(null_values) if null_values is not None else [""]
        self._invalid: list = []
        self._column_types: dict | None = None   # see _types()
        self._temporal: dict = {}                 # text dates / times to convert: _text_temporal
        self._first_fields = sniffed.split(delimiter)
        super().__init__(path, name=name, batch_size=batch_size)
        self.header = header if header is not None else self._detect_header(sniffed.first_line)
        if self.column_names is not None:
            self.column_names = self._padded_names(sniffed, delimiter)
        elif self.header and schema is None and _header_names(self._first_fields) != self._first_fields:
            self.column_names = _header_names(self._first_fields)   # empty or repeated names
        self._rows_in_file = self._has_rows(sniffed)
        if self.header and self.column_names is not None:    # names replace the header's
            self.skip_rows += 1
            self.header = False
        if not self.header and self.column_names is None and schema is None:
            self.column_names = [f"column{i}" for i in range(sniffed.fields(delimiter))]

    def _open(self, track: bool = True) -> pa.NativeFile:
        """The file; a small one whose last line has no line break gets one (pyarrow
        cannot read a CSV of one such line: '1,2' without a newline is no row to it)."""
        size = self._size()
        if 0 < size <= _SMALL_FILE and not self.compression:
            with open(self.path, "rb") as f:
                data = f.read()
            if not data.endswith((b"\n", b"\r")):
                buf = pa.BufferReader(data + b"\n")
                if track:
                    self.close()
                    self._bytes_done, self._file = 0, buf
                return buf
        return super()._open(track)

    def _padded_names(self, sniffed, delimiter: str) -> list[str]:
        """``column_names`` for every column: as DuckDB's ``names``, fewer names than
        columns rename the first ones, the rest keep the header's names (or column<i>)."""
        names = self.column_names
        first = self._first_fields
        if len(names) >= len(first):
            return names
        return names + [first[i] if self.header else f"column{i}" for i in range(len(names), len(first))]

    def _has_rows(self, sniffed) -> bool:
        """Whether a line follows the comments and the header (a blank line is a row of a
        one-column file, as in DuckDB; of others it is skipped)."""
        if sniffed.first_line is None:
            return False
        with self._open(False) as f:
            head = f.read(1 << 16).decode("utf-8", errors="replace")
        lines = head.splitlines()[self.skip_rows + (1 if self.header else 0):]
        return any(lines) or (bool(lines) and len(self._first_fields) == 1 and self.header)

    def _parse_options(self, **more):
        """pyarrow's ParseOptions for this file: a blank line of a one-column file is a
        NULL row (DuckDB), of a wider one nothing."""
        import pyarrow.csv as csv

        return csv.ParseOptions(delimiter=self.delimiter,
                                ignore_empty_lines=len(self._first_fields) != 1, **more)

    def _detect_header(self, first_line: str | None) -> bool:
        """Whether the first (non-comment) line is a header, as DuckDB decides: the types
        of the lines after it (of the line itself when it is the only one) are all
        strings, or one of its fields does not convert to its column's type."""
        import pyarrow.csv as csv

        if first_line is None or self._size() == 0:
            return True
        try:
            types = self._sample_types(skip=self.skip_rows + 1) or \
                self._sample_types(skip=self.skip_rows)
        except pa.ArrowException:
            return True           # malformed: read it with a header and report it then
        if not types or all(pa.types.is_string(t) or pa.types.is_null(t) for t in types):
            return True
        names = [f"c{i}" for i in range(len(types))]
        try:
            csv.read_csv(io.BytesIO(first_line.encode("utf-8") + b"\n"),
                         read_options=csv.ReadOptions(column_names=names),
                         parse_options=csv.ParseOptions(delimiter=self.delimiter),
                         convert_options=csv.ConvertOptions(
                             column_types=dict(zip(names, types)), strings_can_be_null=True,
                             null_values=self.null_values))
        except pa.ArrowException:
            return True
        return False

    def _sample_types(self, skip: int, text: bool = False) -> list[pa.DataType] | pa.RecordBatch:
        """The column types of the first block after ``skip`` lines (none when no line is
        left), as :meth:`_types` gives them: pyarrow's, but numbers with a value like
        ``007`` or ``+5`` are strings. ``text``: that block, every column a string."""
        import pyarrow.compute as pc
        import pyarrow.csv as csv

        texts = {f"f{i}": pa.string() for i in range(len(self._first_fields))} if text else None
        with self._open(False) as f:
            try:
                reader = csv.open_csv(f, read_options=csv.ReadOptions(
                    block_size=self.block_size, use_threads=False, skip_rows=skip,
                    autogenerate_column_names=True),
                    parse_options=self._parse_options(),
                    convert_options=csv.ConvertOptions(strings_can_be_null=True, column_types=texts,
                                                       null_values=self.null_values))
            except pa.ArrowInvalid as e:
                if "Empty CSV file" in str(e) or "Could not skip initial" in str(e):
                    return []
                raise
            try:
                if text:
                    return reader.read_next_batch()
                types = list(reader.schema.types)
            finally:
                reader.close()
        numbers = [i for i, t in enumerate(types) if pa.types.is_integer(t) or pa.types.is_floating(t)]
        block = self._sample_types(skip, text=True) if numbers else None
        for i in numbers:
            if i < block.num_columns and pc.any(pc.match_substring_regex(
                    block.column(i), r"^(0[0-9]|\+)")).as_py():
                types[i] = pa.string()
        return types

    def _types(self):
        """The column types the reader is told: the explicit schema, else STRING for the
        columns that pyarrow would type NULL (no value in the first block) and for number
        columns with a value like ``007`` or ``+5`` in it (codes, not numbers), as DuckDB."""
        if self.explicit_schema is not None:
            return self.explicit_schema
        if self._column_types is None:
            reader = self._open_reader(False, None)
            try:
                schema = reader.schema
            finally:
                reader.close()
            self._column_types = {f.name: pa.string() for f in schema if pa.types.is_null(f.type)}
            self._column_types.update({f.name: pa.timestamp("us", f.type.tz) for f in schema   # DuckDB's TIMESTAMP
                                       if pa.types.is_timestamp(f.type) and f.type.unit != "us"})
            numbers = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
            texts = [f.name for f in schema if pa.types.is_string(f.type)]
            block = self._first_block_as_text(numbers + texts)   # one read for both checks
            if block is not None:
                self._column_types.update({name: pa.string() for name in _coded(block, numbers)})
                self._temporal = _text_temporal(block, texts)
        return self._column_types

    def _first_block_as_text(self, columns: list[str]) -> pa.RecordBatch | None:
        """The first block with ``columns`` read as text (None: no columns, or no rows)."""
        if not columns:
            return None
        reader = self._open_reader(False, {c: pa.string() for c in columns})
        try:
            return reader.read_next_batch()
        except StopIteration:
            return None
        finally:
            reader.close()

    def _converted(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with the text dates and times of :func:`_text_temporal` converted."""
        if not self._temporal:
            return batch
        arrays = []
        for name, col in zip(batch.schema.names, batch.columns):
            kind = self._temporal.get(name)
            if kind is not None:
                try:
                    col = _slash_date(col, kind[1]) if kind[0] == "date" else _time_text(col)
                except (pa.ArrowInvalid, ValueError) as e:
                    raise DataError(f"{self.where()}: column '{name}' holds "
                                    f"{kind[0].upper()}s, but a later value is not one: {e}") from e
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

    def _reader(self, track: bool = True):
        return self._open_reader(track, self._types())

    def _open_reader(self, track: bool, column_types):
        import pyarrow.csv as csv

        names = self.column_names
        if not self.header and names is None and self.explicit_schema is not None:
            names = self.explicit_schema.names
        # single-threaded so that pyarrow can number a malformed row
        read = csv.ReadOptions(block_size=self.block_size, use_threads=False, column_names=names,
                               autogenerate_column_names=not self.header and names is None,
                               skip_rows=self.skip_rows)
        self._invalid = []

        def on_invalid(row):  # remember where pyarrow found the bad row; still fail
            self._invalid.append(row)
            return "error"

        parse = self._parse_options(invalid_row_handler=on_invalid)
        convert = csv.ConvertOptions(column_types=column_types, strings_can_be_null=True,
                                     null_values=self.null_values)
        try:
            return csv.open_csv(self._open(track), read_options=read, parse_options=parse,
                                convert_options=convert)
        except pa.ArrowException as e:
            raise self._error(e, 0) from e

    def _error(self, e: Exception, rows_before: int) -> DataError:
        if self._invalid:
            row = self._invalid[0]
            return DataError(f"{self.where()}: malformed CSV row at line {row.number}: expected "
                             f"{row.expected_columns} columns, got {row.actual_columns}: "
                             f"{row.text!r}")
        if "Empty CSV file" in str(e):
            return DataError(f"{self.where()}: the CSV file is empty (no header line)")
        if "straddles two block boundaries" in str(e):
            return DataError(f"{self.where()}: a CSV row at or after line {rows_before + 1} is "
                             f"longer than the block size ({self.block_size} bytes); pass a "
                             "larger block_size")
        m = re.search(r"Row #(\d+): ", str(e))
        if m:
            return DataError(f"{self.where()}: bad CSV data at line {m.group(1)}: "
                             f"{str(e).replace(m.group(0), '')}")
        first = rows_before + 1 + self.skip_rows + (1 if self.header else 0)
        return DataError(f"{self.where()}: bad CSV data at or after line {first} "
                         f"(data row {rows_before + 1}): {e}")

    def _empty_schema(self) -> pa.Schema | None:
        """The schema of a file without rows (empty, blank, or a header alone), as DuckDB
        reads it: the given schema or column names, else the header's names, else one
        VARCHAR column ``column0``; None for a file with rows."""
        if self._rows_in_file:
            return None
        if self.explicit_schema is not None:
            return self.explicit_schema
        names = self.column_names or (_header_names(self._first_fields) if self.header and
                                      any(self._first_fields) else ["column0"])
        return pa.schema([(n, pa.string()) for n in names])

    def schema(self) -> pa.Schema:
        empty = self._empty_schema()
        if empty is not None:
            return empty
        reader = self._reader(track=False)
        try:
            schema = reader.schema
        finally:
            reader.close()
        kinds = {"date": pa.date32(), "time": pa.time64("us")}
        return pa.schema([f.with_type(kinds[self._temporal[f.name][0]]) if f.name in self._temporal
                          else f for f in schema])

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        if self._empty_schema() is not None:
            return
        reader = self._reader()
        rows = 0

        def raw():
            nonlocal rows
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowException as e:
                    raise self._error(e, rows) from e
                rows += batch.num_rows
                yield self._converted(batch)

        try:
            yield from self._counted(raw())
        finally:
            self.close()


def _coded(block: pa.RecordBatch, columns: list[str]) -> list[str]:
    """Those of the number ``columns`` where a value of the first block (read as text) has
    a leading zero or plus sign (DuckDB reads such columns as VARCHAR)."""
    import pyarrow.compute as pc

    return [c for c in columns
            if pc.any(pc.match_substring_regex(block.column(c), r"^(0[0-9]|\+)")).as_py()]


def _text_temporal(block: pa.RecordBatch, columns: list[str]) -> dict:
    """Text columns whose first-block values are all dates with slashes (``2024/01/05``,
    ``31/12/2024``, ``12/31/2024``: the first of these orders that reads every value, as
    DuckDB's sniffer picks it) or times with fractional seconds (``10:00:00.5``, which
    pyarrow leaves as text): name -> ('date', strptime format) or ('time', None)."""
    import pyarrow.compute as pc

    found = {}
    for c in columns:
        values = block.column(c).drop_null()
        if len(values) == 0:
            continue
        if pc.all(pc.match_substring_regex(values, _FRACTIONAL_TIME)).as_py():
            found[c] = ("time", None)
        elif pc.all(pc.match_substring_regex(values, r"^\d{1,4}/\d{1,2}/\d{1,4}$")).as_py():
            fmt = next((f for f in _SLASH_DATES if _all_parse(values, f)), None)
            if fmt is not None:
                found[c] = ("date", fmt)
    return found


_SLASH_DATES = ("%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y")
_FRACTIONAL_TIME = r"^\d{2}:\d{2}:\d{2}\.\d{1,6}$"


def _all_parse(values: pa.Array, fmt: str) -> bool:
    import pyarrow.compute as pc

    try:
        pc.strptime(values, format=fmt, unit="s")
        return True
    except pa.ArrowInvalid:
        return False


def _slash_date(col: pa.Array, fmt: str) -> pa.Array:
    """Text dates of the strptime format ``fmt`` as DATE."""
    import pyarrow.compute as pc

    return pc.strptime(col, format=fmt, unit="s").cast(pa.date32())


def _time_text(col: pa.Array) -> pa.Array:
    """``HH:MM:SS.ffffff`` text as TIME (microseconds; DataError-worthy ValueError if not)."""
    import pyarrow.compute as pc

    parts = pc.extract_regex(col, r"^(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?$")
    if parts.null_count > col.null_count:
        bad = col.filter(pc.and_(pc.is_null(parts), pc.is_valid(col)))[0]
        raise ValueError(f"'{bad}' is not a time")
    h, m, s, f = (pc.struct_field(parts, k) for k in "hmsf")   # NULL where the row is
    frac = pc.utf8_rpad(pc.fill_null(f, ""), width=6, padding="0").cast(pa.int64())
    micros = pc.add(pc.multiply(pc.add(pc.multiply(pc.add(pc.multiply(h.cast(pa.int64()), 60),
                                                           m.cast(pa.int64())), 60),
                                       s.cast(pa.int64())), 1_000_000), frac)
    return pc.if_else(pc.is_valid(col), micros, pa.scalar(None, pa.int64())).cast(pa.time64("us"))


@dataclass(frozen=True)
class CsvLayout:
    """What :func:`sniff_csv` found at the top of a CSV file."""

    delimiter: str
    comment_lines: int          # leading ``#`` lines to skip
    first_line: str | None      # the first line after them (None: the file has none)

    def fields(self, delimiter: str) -> int:
        """The number of fields of the first line."""
        return len(self.split(delimiter))

    def split(self, delimiter: str) -> list[str]:
        """The fields of the first line (quotes parsed)."""
        import csv as pycsv

        return next(pycsv.reader([self.first_line or ""], delimiter=delimiter), [""])


def _header_names(fields: list[str]) -> list[str]:
    """Column names from a header line's fields, as DuckDB makes them: an empty one is
    ``column<i>``, a repeated one gets ``_1``, ``_2``, ..."""
    out: list[str] = []
    taken: set[str] = set()
    for i, f in enumerate(fields):
        name = f if f.strip() else f"column{i}"
        base, n = name, 0
        while name.lower() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        out.append(name)
    return out


def sniff_csv(path, delimiter: str | None = None, candidates: str = ";\t|") -> CsvLayout:
    """The layout of a CSV file, from its first lines, as DuckDB's sniffer finds it:
    leading lines that start with ``#`` and do not split into the fields the next line
    does are comments; the delimiter (unless given) is a comma when the first other line
    has one, else the most frequent of ``candidates`` on it."""
    try:
        codec = compression_of(path)
        with pa.OSFile(str(path), "r") as raw:
            f = pa.CompressedInputStream(raw, codec) if codec else raw
            head = f.read(1 << 16).decode("utf-8", errors="replace")
    except (OSError, pa.ArrowException):
        return CsvLayout(delimiter or ",", 0, None)
    lines = head.splitlines()
    if len(head) == 1 << 16 and lines:
        lines.pop()             # perhaps cut short
    start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    first = lines[start] if start < len(lines) else None
    if delimiter is None:
        delimiter = ","
        if first is not None and "," not in first:
            count, best = max((first.count(c), c) for c in candidates)
            delimiter = best if count else ","
    if first is None or any(line.count(delimiter) == first.count(delimiter) for line in lines[:start]):
        return CsvLayout(delimiter, 0, lines[0] if lines else None)   # '#' starts data or a header
    return CsvLayout(delimiter, start, first)


_DATE = r"\d{4}-\d{2}-\d{2}"
# one format per column, as DuckDB's JSON reader detects them (a mix stays VARCHAR)
_TEMPORAL_FORMATS = [(f"^{_DATE}$", pa.date32())] + [
    (f"^{_DATE}{sep}\\d{{2}}:\\d{{2}}:\\d{{2}}{frac}$", pa.timestamp("us"))
    for sep in (" ", "T") for frac in ("", r"\.\d{1,6}")]


def _temporal_type(values: pa.Array) -> pa.DataType | None:
    """DATE for strings that are all ``YYYY-MM-DD``, TIMESTAMP (us) for strings that are all
    ``YYYY-MM-DD hh:mm:ss`` or all ``YYYY-MM-DD hh:mm:ss.ffffff`` (or with a ``T``), as
    DuckDB's JSON reader infers them; None otherwise (or when every value is NULL)."""
    import pyarrow.compute as pc

    values = values.drop_null()
    if len(values) == 0:
        return None
    for pattern, type_ in _TEMPORAL_FORMATS:
        if pc.all(pc.match_substring_regex(values, pattern)).as_py():
            try:
                values.cast(type_)
            except pa.ArrowInvalid:
                return None
            return type_
    return None


class JsonLinesSource(FileSource):
    """A file of JSON objects, one per line. Read in blocks of whole lines, each parsed by
    ``pyarrow.json.read_json``; the first block's inferred schema holds for the rest
    (unless ``schema`` is given). Strings that are all dates (``2024-01-31``) or all
    timestamps (``2024-01-31 10:00:00[.123]``) in the first block are read as DATE and
    TIMESTAMP (us) columns, as DuckDB infers them. Progress in bytes."""

    def __init__(self, path, *, batch_size: int | None = None, schema: pa.Schema | None = None,
                 block_size: int = _BLOCK_BYTES, name: str | None = None):
        self.explicit_schema, self.block_size = schema, block_size
        self._inferred: pa.Schema | None = None
        self._read_schema: pa.Schema | None = None   # how blocks are parsed (temporal: strings)
        self._temporal: dict[str, pa.DataType] = {}  # column -> type its strings convert to
        super().__init__(path, name=name, batch_size=batch_size)

    def _blocks(self, track: bool = True) -> Iterator[tuple[int, bytes]]:
        """Yield ``(first line number, block of whole lines)``; reads the file streaming. A
        file holding one JSON array of objects (``[{...}, {...}]``, as DuckDB also reads)
        is handed out as blocks of one object per line (see :func:`_array_lines`)."""
        f = self._open(track)
        line, tail = 1, b""
        try:
            head = f.read(self.block_size)
            if head.lstrip()[:1] == b"[":
                yield from _array_lines(head, f, self.block_size, self.where())
                return
            if f.seekable():
                f.seek(0)
            else:                           # a decompressing stream: start it again
                if not track:
                    f.close()
                f = self._open(track)
            while True:
                chunk = f.read(self.block_size)
                if not chunk:
                    break
                data = tail + chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    tail = data
                    continue
                block, tail = data[:cut], data[cut:]
                yield line, block
                line += block.count(b"\n")
            if tail.strip():
                yield line, tail + b"\n"
        finally:
            if not track:
                f.close()

    def _parse(self, block: bytes, first_line: int, schema: pa.Schema | None) -> pa.Table:
        import pyarrow.json as pj

        opts = pj.ParseOptions(explicit_schema=schema,
                               unexpected_field_behavior="error" if schema is not None else "infer")
        try:
            return pj.read_json(io.BytesIO(block), parse_options=opts,
                                read_options=pj.ReadOptions(block_size=len(block) + 1))
        except pa.ArrowException as e:
            hint = ("; gpuvelo needs the values of a key to keep one JSON type (DuckDB reads "
                    "such a key as VARCHAR or JSON)") if "changed from" in str(e) else ""
            raise DataError(f"{self.where()}: malformed JSON at line "
                            f"{self._bad_line(block, first_line, schema, str(e))}: "
                            f"{_strip_row(str(e))}{hint}") from e

    def _bad_line(self, block: bytes, first_line: int, schema, message: str) -> int:
        """The file line of a parse error: from pyarrow's row number (which skips blank
        lines) when it gives one, else by parsing the block's lines one at a time."""
        import pyarrow.json as pj

        lines = block.split(b"\n")
        nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
        m = re.search(r"in row (\d+)", message)
        if m and int(m.group(1)) < len(nonblank):
            return first_line + nonblank[int(m.group(1))]
        opts = pj.ParseOptions(explicit_schema=schema,
                               unexpected_field_behavior="error" if schema is not None else "infer")
        for i in nonblank:  # error path only
            try:
                pj.read_json(io.BytesIO(lines[i] + b"\n"), parse_options=opts)
            except pa.ArrowException:
                return first_line + i
        return first_line

    def _infer(self, block: bytes, first_line: int) -> None:
        """Infer the schema from the first block: pyarrow's types, with date and timestamp
        strings (see :func:`_temporal_type`) read as strings and converted."""
        table = self._parse(block, first_line, None)
        candidates = [f.name for f in table.schema
                      if pa.types.is_string(f.type) or pa.types.is_timestamp(f.type)]
        as_text = pa.schema([f.with_type(pa.string()) if f.name in candidates else f
                             for f in table.schema])
        if candidates:
            text = self._parse(block, first_line, as_text)
            self._temporal = {n: t for n in candidates
                              if (t := _temporal_type(text.column(n).combine_chunks())) is not None}
        self._read_schema = pa.schema([f.with_type(pa.string()) if f.name in self._temporal else f
                                       for f in table.schema])
        self._inferred = pa.schema([f.with_type(self._temporal[f.name]) if f.name in self._temporal
                                    else f for f in table.schema])

    def _convert(self, table: pa.Table, first_line: int) -> pa.Table:
        """The block's date / timestamp strings converted (DataError naming a bad value)."""
        for name, type_ in self._temporal.items():
            i = table.schema.get_field_index(name)
            try:
                table = table.set_column(i, name, table.column(i).cast(type_))
            except pa.ArrowInvalid as e:
                kind = "DATE" if type_ == pa.date32() else "TIMESTAMP"
                raise DataError(f"{self.where()}: column '{name}' holds {kind} strings, but a value "
                                f"at or after line {first_line} is not one: {e}") from e
        return table

    def schema(self) -> pa.Schema:
        if self.explicit_schema is not None:
            return self.explicit_schema
        if self._inferred is None:
            blocks = self._blocks(track=False)
            try:
                for line, block in blocks:
                    self._infer(block, line)
                    break
            finally:
                blocks.close()
        if self._inferred is not None:
            return self._inferred
        raise DataError(f"{self.where()}: empty JSON lines file; cannot infer a schema")

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        schema = self.explicit_schema if self.explicit_schema is not None else self._read_schema

        def raw():
            nonlocal schema
            for line, block in self._blocks():
                if schema is None:
                    self._infer(block, line)
                    schema = self._read_schema
                table = self._convert(self._parse(block, line, schema), line)
                yield from table.to_batches()

        try:
            yield from self._counted(raw())
        finally:
            self.close()


def _array_lines(head: bytes, f, block_size: int, where: str) -> Iterator[tuple[int, bytes]]:
    """``(line number of the element, block)`` pairs from a file holding one JSON array:
    the elements decoded one by one (streaming, by ``json.JSONDecoder.raw_decode``) and
    written out one per line, about ``block_size`` bytes per block."""
    import codecs
    import json

    decoder, utf8 = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8")()
    text = utf8.decode(head)
    pos = text.index("[") + 1
    lines_before, out, size, first_line = 0, [], 0, 1
    while True:
        pos = _JSON_GAP.match(text, pos).end()
        if pos < len(text) and text[pos] == "]":
            break
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            more = f.read(block_size)
            if not more:
                line = lines_before + text.count("\n", 0, pos) + 1
                raise DataError(f"{where}: malformed JSON array at line {line}: {e.msg}") from None
            lines_before += text.count("\n", 0, pos)
            text, pos = text[pos:] + utf8.decode(more), 0
            continue
        if not out:
            first_line = lines_before + text.count("\n", 0, pos) + 1
        out.append(json.dumps(value))
        size += end - pos
        pos = end
        if size >= block_size:
            yield first_line, ("\n".join(out) + "\n").encode()
            out, size = [], 0
    if out:
        yield first_line, ("\n".join(out) + "\n").encode()


_JSON_GAP = re.compile(r"[\s,]*")


def _strip_row(message: str) -> str:
    return re.sub(r"\s*in row \d+$", "", message.replace("JSON parse error: ", ""))


# --------------------------------------------------------------------------- dispatch
ACCEPTED = ("a gpuvelo Source, a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or "
            "polars DataFrame (anything with __arrow_c_stream__), a dict of equal-length "
            "arrays or lists, an iterable of RecordBatches or Tables, or a path to a "
            ".parquet/.pq, .csv, .jsonl/.ndjson/.json file or a directory of Parquet files")


def as_source(obj, *, batch_size: int | None = None, name: str | None = None,
              csv_options: dict | None = None) -> Source:
    """Turn ``obj`` into a :class:`Source` (see :data:`ACCEPTED` for what it takes).

    An existing Source is returned as is (its batch size set when one is given).
    ``csv_options`` (CsvSource keyword arguments) apply when ``obj`` is a CSV file's path.
    """
    if isinstance(obj, Source):
        if batch_size is not None:
            obj.batch_size = batch_size
        if name is not None:
            obj.name = name
        return obj
    kw = {"batch_size": batch_size, "name": name}
    if isinstance(obj, (pa.Table, pa.RecordBatch)):
        return TableSource(obj, **kw)
    if isinstance(obj, pa.RecordBatchReader):
        return IterableSource(obj, schema=obj.schema, **kw)
    if isinstance(obj, (str, os.PathLike)):
        return path_source(obj, **kw, csv_options=csv_options)
    if isinstance(obj, dict):
        return TableSource(table_from_dict(obj), **kw)
    if hasattr(obj, "__arrow_c_stream__"):
        return StreamSource(obj, **kw)
    if isinstance(obj, Iterable) and not isinstance(obj, (bytes, bytearray)) \
            and not hasattr(obj, "__array__"):
        return IterableSource(obj, **kw)
    raise DataError(f"cannot read data from a {type(obj).__name__}; gpuvelo accepts {ACCEPTED}")


def path_source(path, *, batch_size: int | None = None, name: str | None = None,
                csv_options: dict | None = None, kind: str | None = None) -> Source:
    """A file source chosen by the path's extension (or ``kind``: 'parquet', 'csv' or
    'json'). A glob pattern (``data/*.csv``, ``**`` for subdirectories), a list of paths or
    a directory (its Parquet files, else its CSV files, else its JSON-lines files) reads
    the files one after the other, in name order, as one source (see
    :class:`MultiFileSource`). ``csv_options`` are passed to :class:`CsvSource`."""
    kw = {"batch_size": batch_size, "name": name}
    if isinstance(path, (list, tuple)) or _is_glob(path) or Path(path).is_dir():
        files = files_of(path)
        kind = kind or _kind_of(files[0])
        if len(files) == 1:
            return path_source(files[0], **kw, csv_options=csv_options, kind=kind)
        return _multi_file_source(files, kind, str(path) if not isinstance(path, (list, tuple))
                                  else ", ".join(map(str, path)), kw, csv_options)
    p = Path(path)
    kind = kind or _kind_of(p)
    if kind == "parquet":
        return ParquetSource(p, **kw)
    if kind == "csv":
        return CsvSource(p, **kw, **(csv_options or {}))
    return JsonLinesSource(p, **kw)


_KINDS = {**{e: "parquet" for e in PARQUET_EXTS}, **{e: "csv" for e in CSV_EXTS},
          **{e: "json" for e in JSON_EXTS}}


_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}


def compression_of(path) -> str | None:
    """The codec a file's last extension names (``x.csv.gz``: 'gzip'), else None."""
    return _COMPRESSIONS.get(Path(path).suffix.lower())


def _data_suffix(path) -> str:
    """The extension that says what a file holds: ``.csv`` for ``x.csv`` and ``x.csv.gz``."""
    p = Path(path)
    return Path(p.stem).suffix.lower() if compression_of(p) else p.suffix.lower()


def _kind_of(path: Path) -> str:
    """'parquet', 'csv' or 'json' by the file's extension (under a compression one:
    ``.csv.gz``, ``.jsonl.zst``); DataError for others."""
    kind = _KINDS.get(_data_suffix(path))
    if kind == "parquet" and compression_of(path):
        raise DataError(f"{path}: a compressed Parquet file; Parquet compresses inside the file")
    if kind is None:
        if not Path(path).exists():
            raise DataError(f"{path}: no such file or directory")
        raise DataError(f"{path}: unknown file type {Path(path).suffix or '(no extension)'}; use "
                        ".parquet/.pq, .csv/.tsv/.txt, .jsonl/.ndjson/.json, a directory or a "
                        "glob pattern of them")
    return kind


def _is_glob(path) -> bool:
    return isinstance(path, str) and any(c in path for c in "*?[")


def files_of(path) -> list[Path]:
    """The files a path names, in the order a source reads them: a glob pattern's (sorted),
    a list of paths' (as given, globs expanded), a directory's Parquet files (else its CSV
    files, else its JSON-lines files; sorted), or the file itself. All of one format."""
    if isinstance(path, (list, tuple)) or _is_glob(path):
        return _listed_files(path)
    p = Path(path)
    if not p.is_dir():
        return _listed_files([p])
    for exts in (PARQUET_EXTS, CSV_EXTS, JSON_EXTS):
        files = _dir_files(p, exts)
        if files:
            return files
    raise DataError(f"{p}: directory holds no .parquet, .csv or .jsonl files")


def _dir_files(d: Path, exts) -> list[Path]:
    """A directory's files of the extensions ``exts`` (under a compression's), sorted."""
    return sorted(f for f in d.iterdir() if f.is_file() and _data_suffix(f) in exts)


def _listed_files(paths) -> list[Path]:
    """The files of a glob pattern (sorted) or of a list of paths (as given, globs expanded)."""
    import glob

    out: list[Path] = []
    for item in (paths if isinstance(paths, (list, tuple)) else [paths]):
        if _is_glob(str(item)):
            found = sorted(Path(f) for f in glob.glob(str(item), recursive=True) if Path(f).is_file())
            if not found:
                raise DataError(f"{item}: no file matches this pattern")
            out.extend(found)
        elif not Path(item).is_file():
            raise DataError(f"{item}: no such file")
        else:
            out.append(Path(item))
    if not out:
        raise DataError("an empty list of files")
    kinds = {_kind_of(f) for f in out}
    if len(kinds) > 1:
        raise DataError(f"{paths}: the files are of different types ({', '.join(sorted(kinds))}); "
                        "read each kind as a source of its own")
    return out


def _multi_file_source(files: list[Path], kind: str, desc: str, kw: dict, csv_options) -> Source:
    if kind == "parquet":
        return ParquetSource(desc, files=files, **kw)
    parts = [CsvSource(f, **(csv_options or {})) if kind == "csv" else JsonLinesSource(f) for f in files]
    return MultiFileSource(parts, desc, **kw)


class MultiFileSource(Source):
    """Several CSV or JSON-lines files read one after the other as one source (one source
    partition per file). As DuckDB reads several files, the first file's columns hold:
    the others' are matched by name (extra ones ignored) and cast to the first file's
    types; a missing column, or a value that does not convert, is a SchemaMismatchError
    naming the file. Progress in bytes over all files."""

    read_ahead = True

    def __init__(self, parts: list[FileSource], desc: str, *, batch_size: int | None = None,
                 name: str | None = None):
        self.parts, self._desc = parts, desc
        self.source_partitions = len(parts)
        self._needed: set[str] | None = None
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return self._desc

    def narrow(self, needed) -> None:
        """See :meth:`Source.narrow`: only the named columns are handed out (by the next read)."""
        self._needed = {n.lower() for n in needed}

    def schema(self) -> pa.Schema:
        schema = self.parts[0].schema()
        if self._needed is not None:
            schema = pa.schema([f for f in schema if f.name.lower() in self._needed])
        return schema

    def batches_with_partition(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        self.rows_read = 0
        schema = self.schema()
        self._needed = None
        for i, part in enumerate(self.parts):
            conformed = as_first_file(part.batches(), part.schema().names, schema,
                                      f"{self.where()}, file {part.path}")
            for batch in self._counted(conformed):
                yield i, batch

    def progress(self) -> tuple[int, int | None]:
        done = total = 0
        for part in self.parts:
            d, t = part.progress()
            done, total = done + d, total + (t or 0)
        return done, total

    def close(self) -> None:
        for part in self.parts:
            part.close()


def table_from_dict(data: dict) -> pa.Table:
    """A Table from a dict of column name -> array or list; all columns the same length."""
    lengths = {str(k): len(v) for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise DataError(f"columns have unequal lengths: {detail}")
    arrays = {}
    for name, values in data.items():
        try:
            arrays[str(name)] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) \
                else pa.array(values)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise DataError(f"column {name!s}: cannot convert its values to Arrow: {e}") from e
    return pa.table(arrays)
