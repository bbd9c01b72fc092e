"""A stream enriched with a finite table: the source behind ``FROM s JOIN t ON s.x = t.y``
(one :class:`JoinedSource` per join of a chain, each the left side of the next)."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from .sources import Source

_ROW = "__join_row"
_CROSS_ROWS = 1 << 20          # a cross join hands out batches of about this many rows


def right_names(left: pa.Schema, right: pa.Schema, alias: str, using: tuple[str, ...] = ()) -> dict[str, str]:
    """The joined rows' name of each right column (USING keys: none, they are the left's):
    its own, or ``alias.name`` where the left side has a column of that name."""
    taken = {n.lower() for n in left.names}
    return {n: (f"{alias}.{n}" if n.lower() in taken else n) for n in right.names
            if n.lower() not in {u.lower() for u in using}}


class JoinedSource(Source):
    """Each batch of ``left`` equi-joined (``kind`` 'inner' or 'left' outer) with every row
    of ``right``, or paired with each of them ('cross'); ``right`` is read whole when the
    first batch is needed, and rows keep the left side's order. Right columns are renamed
    by :func:`right_names`; ``progress`` is the left side's. A right side with one unique
    key column (the usual dimension table) is joined by lookup."""

    read_ahead = True

    def __init__(self, left: Source, right: Source, *, left_keys, right_keys, kind: str,
                 alias: str, using: bool = False, batch_size: int | None = None):
        self.left, self.right = left, right
        self.left_keys, self.right_keys = list(left_keys), list(right_keys)
        self.kind, self.using = kind, using
        lschema, rschema = left.schema(), right.schema()
        for side, keys, schema in (("left", self.left_keys, lschema), ("right", self.right_keys, rschema)):
            missing = [k for k in keys if k not in schema.names]
            if missing:
                raise DataError(f"JOIN key {missing[0]!r} is not a column of the {side} side; it has "
                                + ", ".join(schema.names))
        self.renames = right_names(lschema, rschema, alias, tuple(self.right_keys) if using else ())
        self._schema = pa.schema(list(lschema) + [pa.field(self.renames[f.name], f.type)
                                                  for f in rschema if f.name in self.renames])
        self._table: pa.Table | None = None
        super().__init__(name=left.name, batch_size=batch_size)

    def describe(self) -> str:
        return f"{self.left.describe()} {self.kind} join {self.right.describe()}"

    def narrow(self, needed) -> None:
        """Hand out only the columns in ``needed`` (names of the joined rows, any case; the
        query's referenced columns): right columns nobody reads are never gathered. Call
        before reading; the joins below this one keep their keys."""
        wanted = {n.lower() for n in needed}
        # rows need a column (COUNT(*)): the first one when the query reads none
        keep = [f for f in self._schema if f.name.lower() in wanted] or list(self._schema)[:1]
        self._schema = pa.schema(keep)
        # the left side must hand out what this join keeps and its keys
        self.left.narrow(wanted | {f.name.lower() for f in keep} | {k.lower() for k in self.left_keys})

    def schema(self) -> pa.Schema:
        return self._schema

    def _right_table(self) -> pa.Table:
        """The right side, read whole, keys cast to the left keys' types, columns renamed."""
        if self._table is None:
            batches = list(self.right.batches())
            t = pa.Table.from_batches(batches, schema=self.right.schema()) if batches else \
                self.right.schema().empty_table()
            lschema = self.left.schema()
            for lk, rk in zip(self.left_keys, self.right_keys):
                want = lschema.field(lk).type
                if pa.types.is_dictionary(want):
                    want = want.value_type
                col = t.column(rk)
                if col.type != want:
                    try:
                        col = pc.cast(col, want)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                        raise DataError(f"JOIN keys {lk!r} ({want}) and {rk!r} ({col.type}) do "
                                        f"not compare: {e}") from e
                    t = t.set_column(t.schema.get_field_index(rk), rk, col)
            keep = [n for n in t.column_names if n in self.renames or n in self.right_keys]
            t = t.select(keep)
            t = t.rename_columns([self.renames.get(n, f"__key_{n}") for n in t.column_names])
            self._table = t.combine_chunks() if t.num_rows else t   # one chunk per column
        return self._table

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        yield from self._counted(self._joined())

    def _unique_key(self, right: pa.Table, rkeys: list[str]) -> pa.Array | None:
        """The right side's one key column when its values are unique (a dimension table):
        rows then join by looking their key up, in place, without a hash join and a sort."""
        if len(rkeys) != 1 or right.num_rows == 0:
            return None
        key = right.column(rkeys[0]).combine_chunks()
        if pa.types.is_dictionary(key.type):
            key = key.cast(key.type.value_type)
        if pc.count_distinct(key, mode="only_valid").as_py() != len(key) - key.null_count:
            return None
        return key

    def _looked_up(self, batch: pa.RecordBatch, right: pa.Table, key: pa.Array) -> pa.RecordBatch:
        left_key = batch.column(self.left_keys[0])
        if pa.types.is_dictionary(left_key.type):
            left_key = left_key.cast(left_key.type.value_type)
        at = pc.index_in(left_key, value_set=key, skip_nulls=True)   # NULL keys, misses: NULL
        if self.kind == "inner":
            hit = at.is_valid()
            batch, at = batch.filter(hit), at.filter(hit)
        have = set(batch.schema.names)
        cols = [batch.column(n) if n in have else right.column(n).chunk(0).take(at)
                for n in self._schema.names]
        return pa.RecordBatch.from_arrays(cols, schema=self._schema)

    def _joined(self) -> Iterator[pa.RecordBatch]:
        right = self._right_table()
        rkeys = [self.renames.get(k, f"__key_{k}") for k in self.right_keys]
        names = self._schema.names
        unique = self._unique_key(right, rkeys)
        for batch in self.left.batches():
            if self.kind == "cross":
                yield from self._crossed(batch, right)
                continue
            if unique is not None:
                yield self._looked_up(batch, right, unique)
                continue
            left = pa.Table.from_batches([batch]).append_column(
                _ROW, pa.array(np.arange(batch.num_rows, dtype=np.int64)))
            for k in self.left_keys:        # Arrow joins on plain values, not dictionaries
                col = left.column(k)
                if pa.types.is_dictionary(col.type):
                    left = left.set_column(left.schema.get_field_index(k), k, col.cast(col.type.value_type))
            joined = left.join(right, keys=self.left_keys, right_keys=rkeys,
                               join_type="inner" if self.kind == "inner" else "left outer",
                               coalesce_keys=False, use_threads=False)
            joined = joined.sort_by(_ROW).select(names)
            for b in joined.combine_chunks().to_batches():
                yield b.cast(self._schema) if not b.schema.equals(self._schema) else b

    def _crossed(self, batch: pa.RecordBatch, right: pa.Table) -> Iterator[pa.RecordBatch]:
        """Each row of ``batch`` with each row of ``right`` (left rows in order), in batches
        of about ``_CROSS_ROWS`` rows."""
        m = right.num_rows
        if m == 0 or batch.num_rows == 0:
            return
        step = max(1, _CROSS_ROWS // m)
        for start in range(0, batch.num_rows, step):
            part = batch.slice(start, step)
            left_at = pa.array(np.repeat(np.arange(part.num_rows, dtype=np.int64), m))
            right_at = pa.array(np.tile(np.arange(m, dtype=np.int64), part.num_rows))
            have = set(part.schema.names)
            cols = [part.column(n).take(left_at) if n in have
                    else right.column(n).chunk(0).take(right_at) for n in self._schema.names]
            yield pa.RecordBatch.from_arrays(cols, schema=self._schema)

    def progress(self) -> tuple[int, int | None]:
        return self.left.progress()

    def close(self) -> None:
        self.left.close()
        self.right.close()
