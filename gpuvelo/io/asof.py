"""The matching of an ASOF join: for each row of the stream, the row of a finite table with
equal keys whose "on" value is the nearest one at or before it (``t.ts >= q.ts``), strictly
before it (``>``), at or after it (``<=``) or strictly after it (``<``) -- DuckDB's
``FROM trades t ASOF [LEFT] JOIN quotes q ON t.sym = q.sym AND t.ts >= q.ts``.

:class:`AsofIndex` sorts the table's rows once by (key group, on value); :meth:`AsofIndex.match`
finds each stream row's partner by one binary search over one int64 sort key per row:
``group * (U + 1) + rank``, where ``rank`` places the on value among the table's U distinct
on values (so values of any type and range compare correctly inside one int64). Of rows
tied on the on value, the one first in the table wins (DuckDB's pick among ties is not
defined: it varies with its sort). Rows with a NULL key or on value match nothing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError

OPS = (">=", ">", "<=", "<")


def _on_values(arr: pa.Array | pa.ChunkedArray, to: pa.DataType) -> np.ndarray:
    """The on column as numbers that order as the values do (NULLs: 0, masked by the caller)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != to:
        try:
            arr = arr.cast(to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise DataError(f"ASOF JOIN compares {arr.type} with {to}: {e}") from e
    if pa.types.is_timestamp(to) or pa.types.is_date(to) or pa.types.is_duration(to):
        arr = arr.cast(pa.int64() if not pa.types.is_date32(to) else pa.int32())
    elif pa.types.is_decimal(to):
        arr = arr.cast(pa.float64())
    elif not (pa.types.is_integer(to) or pa.types.is_floating(to)):
        raise DataError(f"ASOF JOIN's inequality compares numbers, dates or timestamps, not {to}")
    return np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))


def _valid(arrays) -> np.ndarray | None:
    """Rows where every array is non-NULL (None: all are)."""
    mask = None
    for a in arrays:
        if a.null_count:
            v = np.asarray(pc.is_valid(a).to_numpy(zero_copy_only=False))
            mask = v if mask is None else mask & v
    return mask


class AsofIndex:
    """The table side of an ASOF join, sorted for :meth:`match` (see the module docstring).
    ``keys``: the table's equality key columns (may be none); ``on``: its on column."""

    def __init__(self, keys: list[pa.Array], on: pa.Array, op: str):
        if op not in OPS:
            raise DataError(f"ASOF JOIN needs >=, >, <= or < between the on columns, not {op}")
        self.op = op
        self.on_type = on.type
        n = len(on)
        valid = _valid([*keys, on])
        rows = np.arange(n, dtype=np.int64) if valid is None else np.flatnonzero(valid)
        keys = [k.take(pa.array(rows)) for k in keys]
        self.uniques = [pc.unique(k) for k in keys]
        gid = self._groups([pc.index_in(k, value_set=u) for k, u in zip(keys, self.uniques)],
                           len(rows), build=True)
        vals = _on_values(on, self.on_type)[rows]
        self.distinct = np.unique(vals)
        rank = np.searchsorted(self.distinct, vals) + 1            # 1..U
        self.width = np.int64(len(self.distinct) + 1)
        sort_key = gid * self.width + rank
        order = np.lexsort((rows, sort_key))                      # ties: table order
        self.sorted_key = sort_key[order]
        self.sorted_row = rows[order]
        self.sorted_gid = gid[order]          # the group of each, for the check of match()
        # the first row of each run of equal sort keys (ties keep the first table row)
        starts = np.r_[True, self.sorted_key[1:] != self.sorted_key[:-1]]
        self.run_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        self.run_end = np.r_[np.flatnonzero(starts)[1:], len(order)] if len(order) else np.zeros(0, np.int64)

    def _groups(self, codes: list[pa.Array], n: int, build: bool = False) -> np.ndarray:
        """A group number per row (``n`` rows) from its key columns' codes (-1: a key the
        table lacks); ``build``: the table's own rows, whose groups are made here."""
        if not codes:
            return np.zeros(n, np.int64)
        combined, missing = None, None
        for c, u in zip(codes, self.uniques):
            arr = np.asarray(c.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            miss = arr < 0
            missing = miss if missing is None else missing | miss
            combined = arr if combined is None else combined * np.int64(len(u) + 1) + arr
        if build:
            self.group_of, gid = np.unique(combined, return_inverse=True)
            return gid.astype(np.int64)
        pos = np.searchsorted(self.group_of, combined)
        pos = np.minimum(pos, max(len(self.group_of) - 1, 0))
        found = (self.group_of[pos] == combined) & ~missing if len(self.group_of) else np.zeros(len(combined), bool)
        return np.where(found, pos, -1)

    def match(self, keys: list[pa.Array], on: pa.Array) -> np.ndarray:
        """The table row matched to each stream row (``keys``, ``on`` of the stream), -1 for none."""
        n = len(on)
        gid = self._groups([pc.index_in(k, value_set=u) for k, u in zip(keys, self.uniques)], n)
        vals = _on_values(on, self.on_type)
        valid = _valid([*keys, on])
        ok = gid >= 0 if valid is None else (gid >= 0) & valid
        out = np.full(n, -1, np.int64)
        if not len(self.sorted_key) or not ok.any():
            return out
        g, v = gid[ok], vals[ok]
        if self.op in (">=", ">"):       # the last table value <= v (< v): its rank is the count
            count = np.searchsorted(self.distinct, v, side="right" if self.op == ">=" else "left")
            pos = np.searchsorted(self.sorted_key, g * self.width + count, side="right") - 1
            hit = pos >= 0
            pos = np.maximum(pos, 0)
            hit &= self.sorted_gid[pos] == g
            pick = self.run_start[pos]
        else:                            # the first table value >= v (> v)
            first = np.searchsorted(self.distinct, v, side="left" if self.op == "<=" else "right") + 1
            pos = np.searchsorted(self.sorted_key, g * self.width + first, side="left")
            hit = pos < len(self.sorted_key)
            pos = np.minimum(pos, len(self.sorted_key) - 1)
            hit &= self.sorted_gid[pos] == g
            pick = pos
        out[np.flatnonzero(ok)[hit]] = self.sorted_row[pick[hit]]
        return out
