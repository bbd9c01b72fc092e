"""A stream enriched with a finite table: the source behind ``FROM s JOIN t ON s.x = t.y``
(one :class:`JoinedSource` per join of a chain, each the left side of the next).

A RIGHT or FULL join hands out the right rows no left row matched after the stream ends
(with NULL left columns); a SEMI or ANTI join only keeps or drops left rows; an ASOF join
pairs each left row with the right row of equal keys nearest in time (``asof.py``)."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from .asof import AsofIndex
from .sources import Source

_ROW = "__join_row"
_LEFT_KEYS = [f"__join_left_key{i}" for i in range(64)]
_RIGHT_ROW = "__join_right_row"
_CROSS_ROWS = 1 << 20          # a cross join hands out batches of about this many rows
# kinds whose unmatched right rows are handed out at the end; kinds that only filter the left
KEEPS_RIGHT = ("right", "full")
FILTERS = ("semi", "anti")
ASOF = ("asof", "asof_left")


def right_names(left: pa.Schema, right: pa.Schema, alias: str, using: tuple[str, ...] = ()) -> dict[str, str]:
    """The joined rows' name of each right column (USING keys: none, they are the left's):
    its own, or ``alias.name`` where the left side has a column of that name."""
    taken = {n.lower() for n in left.names}
    return {n: (f"{alias}.{n}" if n.lower() in taken else n) for n in right.names
            if n.lower() not in {u.lower() for u in using}}


class JoinedSource(Source):
    """Each batch of ``left`` equi-joined (``kind`` 'inner', 'left', 'right' or 'full') with
    every row of ``right``, or paired with each of them ('cross'), or kept only where some
    right row matches ('semi') or none does ('anti': a NULL key matches nothing, so it is
    kept); ``right`` is read whole when the first batch is needed, and rows keep the left
    side's order. 'right' and 'full' hand out the right rows no left row matched after the
    left side ends, their left columns NULL (a USING key: the right's value). Right
    columns are renamed by :func:`right_names` (semi and anti hand out the left's only);
    ``progress`` is the left side's. A right side with one unique key column (the usual
    dimension table) is joined by lookup."""

    read_ahead = True

    def __init__(self, left: Source, right: Source, *, left_keys, right_keys, kind: str,
                 alias: str, using: bool = False, batch_size: int | None = None,
                 asof_op: str | None = None):
        self.left, self.right = left, right
        self.left_keys, self.right_keys = list(left_keys), list(right_keys)
        self.kind, self.using, self.asof_op = kind, using, asof_op
        lschema, rschema = left.schema(), right.schema()
        for side, keys, schema in (("left", self.left_keys, lschema), ("right", self.right_keys, rschema)):
            missing = [k for k in keys if k not in schema.names]
            if missing:
                raise DataError(f"JOIN key {missing[0]!r} is not a column of the {side} side; it has "
                                + ", ".join(schema.names))
        self.renames = {} if kind in FILTERS else \
            right_names(lschema, rschema, alias, tuple(self.right_keys) if using else ())
        self._schema = pa.schema(list(lschema) + [pa.field(self.renames[f.name], f.type)
                                                  for f in rschema if f.name in self.renames])
        self.key_types = [key_type(lschema.field(lk).type, rschema.field(rk).type)
                          for lk, rk in zip(self.left_keys, self.right_keys)]
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
        """The right side, read whole: its output columns renamed, and its keys, in the type
        they compare in with the left keys (:func:`key_type`), as ``__key_<name>``."""
        if self._table is None:
            batches = list(self.right.batches())
            t = pa.Table.from_batches(batches, schema=self.right.schema()) if batches else \
                self.right.schema().empty_table()
            keys = []
            for lk, rk, want in zip(self.left_keys, self.right_keys, self.key_types):
                try:
                    keys.append(_as_key(t.column(rk), want))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise DataError(f"JOIN keys {lk!r} ({want}) and {rk!r} ({t.column(rk).type}) do "
                                    f"not compare: {e}") from e
            out = t.select([n for n in t.column_names if n in self.renames])
            out = out.rename_columns([self.renames[n] for n in out.column_names])
            for rk, key in zip(self.right_keys, keys):
                out = out.append_column(f"__key_{rk}", key)
            self._table = out.combine_chunks() if out.num_rows else out   # one chunk per column
        return self._table

    def _left_key(self, batch, i: int) -> pa.Array:
        """The batch's i-th join key, in the type it compares in (:func:`key_type`)."""
        return _as_key(batch.column(self.left_keys[i]), self.key_types[i])

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        yield from self._counted(self._joined())

    def _key_index(self, right: pa.Table, rkeys: list[str]) -> "_KeyIndex | None":
        """The right side's rows by their one key column (see :class:`_KeyIndex`): rows then
        join by looking their key up, in stream order, without a hash join and a sort.
        None for several key columns (Arrow's hash join) or an empty right side."""
        if len(rkeys) != 1 or right.num_rows == 0:
            return None
        return _KeyIndex(_plain(right.column(rkeys[0])))

    def _looked_up(self, batch: pa.RecordBatch, right: pa.Table, index: "_KeyIndex",
                   matched: np.ndarray | None) -> pa.RecordBatch:
        """``batch`` joined by looking its key up in ``index``: each row once per right row
        of its key (in the right side's order), or once with NULL right columns (LEFT /
        FULL) when there is none; marks the right rows it matched in ``matched``."""
        keep_unmatched = self.kind not in ("inner", "right")
        left_at, take = index.pairs(self._left_key(batch, 0), keep_unmatched)
        if matched is not None:
            matched[take.drop_null().to_numpy(zero_copy_only=False)] = True
        if left_at is not None:
            batch = batch.filter(left_at) if pa.types.is_boolean(left_at.type) else batch.take(left_at)
        have = set(batch.schema.names)
        cols = [batch.column(n) if n in have else right.column(n).chunk(0).take(take)
                for n in self._schema.names]
        return pa.RecordBatch.from_arrays(cols, schema=self._schema)

    def _joined(self) -> Iterator[pa.RecordBatch]:
        right = self._right_table()
        rkeys = [f"__key_{k}" for k in self.right_keys]
        if self.kind in FILTERS:
            for batch in self.left.batches():
                yield self._filtered(batch, right, rkeys)
            return
        if self.kind in ASOF:
            index = AsofIndex([_plain(right.column(k)) for k in rkeys[:-1]],
                              _plain(right.column(rkeys[-1])), self.asof_op)
            for batch in self.left.batches():
                yield self._asof_joined(batch, right, index)
            return
        # which right rows some left row matched (RIGHT / FULL): the others come at the end
        matched = np.zeros(right.num_rows, dtype=bool) if self.kind in KEEPS_RIGHT else None
        index = self._key_index(right, rkeys) if self.kind != "cross" else None
        if matched is not None and index is None:
            right = right.append_column(_RIGHT_ROW, pa.array(np.arange(right.num_rows, dtype=np.int64)))
        for batch in self.left.batches():
            if self.kind == "cross":
                yield from self._crossed(batch, right)
            elif index is not None:
                yield self._looked_up(batch, right, index, matched)
            else:
                yield from self._hash_joined(batch, right, rkeys, matched)
        if matched is not None:
            yield from self._unmatched(right, matched)

    def _asof_joined(self, batch: pa.RecordBatch, right: pa.Table, index: AsofIndex) -> pa.RecordBatch:
        """``batch`` with the right row each of its rows matches as of its on value (see
        ``gpuvelo.io.asof``); ASOF drops the rows that match none, ASOF LEFT keeps them."""
        n = len(self.left_keys)
        at = index.match([self._left_key(batch, i) for i in range(n - 1)], self._left_key(batch, n - 1))
        if self.kind == "asof":
            hit = at >= 0
            batch, at = batch.filter(pa.array(hit)), at[hit]
        take = pa.array(at, mask=at < 0)
        have = set(batch.schema.names)
        cols = [batch.column(n) if n in have else right.column(n).chunk(0).take(take)
                if right.num_rows else pa.nulls(batch.num_rows, self._schema.field(n).type)
                for n in self._schema.names]
        return pa.RecordBatch.from_arrays(cols, schema=self._schema)

    def _hash_joined(self, batch: pa.RecordBatch, right: pa.Table, rkeys: list[str],
                     matched: np.ndarray | None) -> Iterator[pa.RecordBatch]:
        """``batch`` joined with ``right`` by Arrow's hash join, in the batch's row order;
        marks the right rows it matched in ``matched`` (RIGHT / FULL)."""
        left = self._numbered(batch)
        joined = left.join(right, keys=_LEFT_KEYS[:len(rkeys)], right_keys=rkeys,
                           join_type="inner" if self.kind in ("inner", "right") else "left outer",
                           coalesce_keys=False, use_threads=False)
        joined = joined.sort_by(_ROW)
        if matched is not None:
            matched[joined.column(_RIGHT_ROW).drop_null().to_numpy()] = True
        joined = joined.select(self._schema.names)
        for b in joined.combine_chunks().to_batches():
            yield b.cast(self._schema) if not b.schema.equals(self._schema) else b

    def _numbered(self, batch: pa.RecordBatch) -> pa.Table:
        """``batch`` as a table with its row numbers (``_ROW``) and its keys as plain values
        (Arrow joins on values, not dictionaries) of the type they compare in, named
        ``_LEFT_KEYS``."""
        left = pa.Table.from_batches([batch]).append_column(
            _ROW, pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        for i in range(len(self.left_keys)):
            left = left.append_column(_LEFT_KEYS[i], self._left_key(batch, i))
        return left

    def _filtered(self, batch: pa.RecordBatch, right: pa.Table, rkeys: list[str]) -> pa.RecordBatch:
        """SEMI: the rows of ``batch`` whose keys some right row has; ANTI: the others (a
        NULL key matches nothing). Left columns only, in the batch's order."""
        if len(rkeys) == 1:
            hit = pc.is_in(self._left_key(batch, 0), value_set=_plain(right.column(rkeys[0])),
                           skip_nulls=True)
            kept = batch.filter(hit if self.kind == "semi" else pc.invert(hit))
        else:
            kept = self._numbered(batch).join(
                right.select(rkeys), keys=_LEFT_KEYS[:len(rkeys)], right_keys=rkeys,
                join_type="left semi" if self.kind == "semi" else "left anti", use_threads=False)
            kept = batch.take(kept.column(_ROW).combine_chunks().sort())
        return kept.select(self._schema.names)

    def _unmatched(self, right: pa.Table, matched: np.ndarray) -> Iterator[pa.RecordBatch]:
        """The right rows no left row matched, with NULL left columns (a USING key column
        holds the right key's value, as DuckDB's merged key)."""
        rest = right.take(pa.array(np.flatnonzero(~matched)))
        if rest.num_rows == 0:
            return
        merged = {lk: f"__key_{rk}" for lk, rk in zip(self.left_keys, self.right_keys)} if self.using else {}
        cols = []
        for f in self._schema:
            name = f.name if f.name in rest.column_names else merged.get(f.name)
            try:
                cols.append(rest.column(name).cast(f.type) if name is not None
                            else pa.nulls(rest.num_rows, f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:   # a merged USING key
                raise DataError(f"USING key {f.name!r}: a value of the joined table does not fit "
                                f"the stream's key type {f.type}: {e}") from e
        table = pa.Table.from_arrays(cols, schema=self._schema).combine_chunks()
        yield from table.to_batches(max_chunksize=_CROSS_ROWS)

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


class _KeyIndex:
    """The rows of a finite table by the values of one key column: the distinct non-NULL
    values, and for each its rows (in table order) as a run of ``rows``. :meth:`pairs` joins
    a batch's keys to them by one ``index_in`` and a vectorised expansion of the runs."""

    def __init__(self, key: pa.Array):
        self.values = pc.unique(key.drop_null())
        code = np.asarray(pc.index_in(key, value_set=self.values).fill_null(-1)
                          .to_numpy(zero_copy_only=False), dtype=np.int64)
        present = np.flatnonzero(code >= 0)
        self.rows = present[np.argsort(code[present], kind="stable")]
        self.count = np.bincount(code[present], minlength=len(self.values))
        self.start = np.cumsum(self.count) - self.count
        self.unique = bool(len(self.values) == len(present))
        # unique keys: value i is on row row_of[i] (the row itself when no key is NULL)
        self.identity = self.unique and len(present) == len(key)
        self.row_of = pa.array(self.rows)

    def pairs(self, keys: pa.Array, keep_unmatched: bool) -> tuple[pa.Array | None, pa.Array]:
        """(the left rows of the output -- None when that is every row once, in order; a
        mask of the rows kept once; or the row of each output row -- and the right row of
        each, NULL for none), as Arrow arrays. A NULL key matches nothing."""
        at = pc.index_in(keys, value_set=self.values, skip_nulls=True)    # NULL: no match
        if self.unique:                      # a dimension table: at most one row per key
            left = None
            if not keep_unmatched:
                left = at.is_valid()
                at = at.filter(left)
            return left, (at if self.identity else self.row_of.take(at))
        code = np.asarray(at.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        hit = code >= 0
        n = np.where(hit, self.count[np.maximum(code, 0)], 0)
        reps = np.maximum(n, 1) if keep_unmatched else n
        left = np.repeat(np.arange(len(code), dtype=np.int64), reps)
        within = np.arange(len(left), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
        first = np.repeat(self.start[np.maximum(code, 0)], reps)
        right = self.rows[np.minimum(first + within, len(self.rows) - 1)]
        return pa.array(left), pa.array(right, mask=~np.repeat(hit, reps))


def _plain(col):
    """A key column as plain values (a dictionary-encoded one decoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def key_type(left: pa.DataType, right: pa.DataType) -> pa.DataType:
    """The type a left and a right join key compare in, as DuckDB compares them: integers
    in a type holding both (uint64 with a signed one: DECIMAL(20, 0)), an integer or decimal
    with a float as DOUBLE, decimals (and integers) as a DECIMAL of the largest scale, two
    timestamps in the finer unit, a date with a timestamp as that timestamp (midnight);
    otherwise the left key's type (the right key is cast to it)."""
    left = left.value_type if pa.types.is_dictionary(left) else left
    right = right.value_type if pa.types.is_dictionary(right) else right
    if left == right:
        return left
    kinds = {t: ("int" if pa.types.is_integer(t) else "float" if pa.types.is_floating(t) else
                 "dec" if pa.types.is_decimal(t) else "ts" if pa.types.is_timestamp(t) else
                 "date" if pa.types.is_date(t) else "str" if pa.types.is_string(t) or
                 pa.types.is_large_string(t) else "other") for t in (left, right)}
    a, b = kinds[left], kinds[right]
    if a == b == "int":
        return _integer_type(left, right)
    if {a, b} <= {"int", "float", "dec"} and "float" in (a, b):
        return pa.float64()
    if {a, b} <= {"int", "dec"}:
        scale = max(t.scale for t in (left, right) if pa.types.is_decimal(t))
        return pa.decimal128(38, scale)
    if {a, b} <= {"ts", "date"}:
        stamps = [t for t in (left, right) if pa.types.is_timestamp(t)]
        if not stamps:
            return pa.date32()
        unit = max((t.unit for t in stamps), key=["s", "ms", "us", "ns"].index)
        zones = {t.tz for t in stamps}
        return pa.timestamp(unit, tz=zones.pop()) if len(zones) == 1 else left
    if a == b == "str":
        return pa.large_string() if pa.types.is_large_string(left) or pa.types.is_large_string(right) \
            else pa.string()
    return left


def _integer_type(left: pa.DataType, right: pa.DataType) -> pa.DataType:
    """A type holding every value of two integer types."""
    signed = [t for t in (left, right) if pa.types.is_signed_integer(t)]
    unsigned = [t for t in (left, right) if pa.types.is_unsigned_integer(t)]
    if not unsigned:
        return max(signed, key=lambda t: t.bit_width)
    if not signed:
        return max(unsigned, key=lambda t: t.bit_width)
    width = max(signed[0].bit_width, unsigned[0].bit_width * 2)
    return {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}.get(width, pa.decimal128(20, 0))


def _as_key(col, want: pa.DataType) -> pa.Array:
    """A key column as plain values (a dictionary decoded) of the type ``want``: widening
    casts, and integers to DOUBLE as DuckDB compares them (past 2**53 with rounding)."""
    col = _plain(col)
    if col.type == want:
        return col
    if pa.types.is_date(col.type) and pa.types.is_timestamp(want):   # midnight of the day
        col = col.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}[want.unit]
        return pc.multiply(col, per_day).cast(want)
    return pc.cast(col, want, safe=not pa.types.is_floating(want))
