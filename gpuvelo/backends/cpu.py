"""The NumPy backend: the complete reference implementation every other backend must match.

A batch is folded into a :class:`CpuGroupState` in two steps, both vectorised:

1. *local aggregation*: Arrow's hash group-by (C++, releases the GIL) reduces the batch's
   rows to one partial-accumulator row per distinct key, grouped by the keys' canonical
   words (so -0.0/0.0, NaN payloads and equal strings from different dictionaries meet);
2. *merge*: those partials -- in exactly the layout of ``partials.py`` -- are folded into the
   persistent state through :meth:`CpuGroupState.merge`, the same operation that merges
   partials from other partitions, checkpoints or workers. Group ids come from a
   :class:`~.keytable.KeyTable`; accumulators are NumPy arrays indexed by group id.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..columns import Col
from ..errors import ArithmeticOverflowError
from . import keyhash
from ..arrowcol import arrow_to_col, batch_to_cols, col_to_arrow
from .group_values import GroupValues
from .keytable import KeyTable
from . import comoments
from .list_aggs import list_results, modes, string_aggs
from .partials import (ACC_FIELDS, ARG_FUNCS, DISTINCT_FUNCS, EARLIEST, LIST_FUNCS, POSITIONAL,
                       POSLIST_FUNCS, acc_fields, acc_name, agg_name, key_name)
from .quantiles import quantiles
from .protocol import StateSpec

INT64_MAX = np.iinfo(np.int64).max
_COMPACT_MIN = 4096     # evict compacts only states that handed out at least this many ids


class CpuBackend:
    """NumPy backend (always available)."""

    name = "cpu"
    xp = np

    def to_device(self, batch: pa.RecordBatch, schema: dict[str, T.DType]) -> dict[str, Col]:
        """Decode an Arrow batch into host Cols."""
        return batch_to_cols(batch, schema)

    def hash_keys(self, keys: Sequence[Col]) -> np.ndarray:
        """The one key hash of every row."""
        n = len(keys[0]) if keys else 0
        return keyhash.hash_rows(keys, n, np)

    def partition(self, part_ids: np.ndarray, num_partitions: int) -> tuple[np.ndarray, np.ndarray]:
        """Stable scatter plan by partition id: histogram -> exclusive scan -> scatter."""
        counts = np.bincount(part_ids, minlength=num_partitions)
        offsets = np.zeros(num_partitions + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        small = np.uint8 if num_partitions <= 256 else np.uint16 if num_partitions <= 65536 else None
        keys = part_ids.astype(small) if small is not None else part_ids
        order = np.argsort(keys, kind="stable")      # radix sort for small integer ids
        return order, offsets

    def group_state(self, spec: StateSpec) -> "CpuGroupState":
        """A new CpuGroupState."""
        return CpuGroupState(spec)

    def to_host(self, array):
        """Host arrays are already on the host."""
        return np.asarray(array)


# ---------------------------------------------------------------------------- helpers
def group_word_columns(keys: Sequence[Col]) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Exact group-key words as columns: per key one word (two for strings: two independent
    64-bit string hashes; NULL rows 0), and the NULL bits of the keys (None when no key has
    a NULL). Zero-copy for 64-bit integer keys without NULLs."""
    n = len(keys[0]) if keys else 0
    cols: list[np.ndarray] = []
    nullmask = None
    for i, col in enumerate(keys):
        own = [keyhash.key_words(col, np)]
        if col.dtype.is_string:
            own.append(keyhash.key_words(col, np, seed=keyhash.STR_SEED_ALT))
        if col.valid is not None:
            if nullmask is None:
                nullmask = np.zeros(n, dtype=np.uint64)
            nullmask |= (~col.valid).astype(np.uint64) << np.uint64(i)
            own = [np.where(col.valid, w, np.uint64(0)) for w in own]
        cols += own
    return cols, nullmask


def group_words(keys: Sequence[Col]) -> np.ndarray:
    """Exact group-key words, shape (n, W): ``group_word_columns`` then the NULL-bits word."""
    n = len(keys[0]) if keys else 0
    cols, nullmask = group_word_columns(keys)
    cols.append(nullmask if nullmask is not None else np.zeros(n, dtype=np.uint64))
    return np.stack(cols, axis=1)


def _words_hash(words: np.ndarray) -> np.ndarray:
    h = np.full(words.shape[0], keyhash.ROW_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in range(words.shape[1]):
            h = keyhash.fmix64(h ^ keyhash.fmix64(words[:, c]))
    return h


_SPREAD = np.uint64(0x9E3779B97F4A7C15)                    # odd: invertible modulo 2**64
_UNSPREAD = np.uint64(pow(0x9E3779B97F4A7C15, -1, 2**64))


def _spread(w: np.ndarray) -> np.ndarray:
    """Key words remixed, invertibly, for Arrow's group-by: its integer hash clusters words
    that differ only in their high bits (the bit patterns of floats such as 1.5, 3.0: 80x
    slower than the same number of distinct small integers)."""
    with np.errstate(over="ignore"):
        return (w ^ (w >> np.uint64(32))) * _SPREAD


def _unspread(w: np.ndarray) -> np.ndarray:
    """The key words :func:`_spread` was given."""
    with np.errstate(over="ignore"):
        x = w * _UNSPREAD
    return x ^ (x >> np.uint64(32))


def _checked_add(a: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        r = a + b
    if np.any(((a ^ r) & (b ^ r)) < 0):
        raise ArithmeticOverflowError(f"{what} overflows a 64-bit integer")
    return r


def _sum_input(col: Col) -> pa.Array:
    """An aggregate argument as the Arrow array summed: int64 for exact kinds, else float64."""
    d = col.dtype
    data = col.data
    if d.is_float:
        data = data.astype(np.float64, copy=False)
    elif d.is_unsigned_integer and d.kind == "uint64":
        if np.any(data > np.uint64(INT64_MAX)):
            raise ArithmeticOverflowError("SUM/AVG of a UINT64 value above 2**63-1 is not supported")
        data = data.astype(np.int64)
    else:
        data = data.astype(np.int64, copy=False)
    mask = None if col.valid is None else ~col.valid
    return pa.array(data, mask=mask)


def _may_overflow(values: pa.Array) -> bool:
    """Whether an int64 sum of ``values`` could leave the int64 range (a cheap bound)."""
    mm = pc.min_max(values)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    if lo is None:
        return False
    return max(abs(lo), abs(hi)) * len(values) >= 2**63


def _join_halves(hi: np.ndarray, lo: np.ndarray, dtype) -> np.ndarray:
    """Exact ``hi * 2**32 + lo`` as int64; ArithmeticOverflowError when it does not fit."""
    carry = lo >> np.int64(32)            # floor division by 2**32
    hi = hi + carry
    lo = lo - (carry << np.int64(32))     # now 0 <= lo < 2**32
    if np.any((hi < -(2**31)) | (hi > 2**31 - 1)):
        raise ArithmeticOverflowError(f"SUM over {dtype} overflows a 64-bit integer")
    return (hi << np.int64(32)) + lo


def _word_values(words: np.ndarray, dtype: T.DType) -> np.ndarray:
    """Key values back from their (non-string) group words, in the physical layout of ``dtype``."""
    if dtype.is_bool:
        return words != 0
    if dtype.is_float:
        return words.view(np.float64).astype(dtype.kind)
    if dtype.is_unsigned_integer:
        return words.astype(dtype.kind)
    phys = np.int32 if dtype.kind == "date" else np.int64 if not dtype.is_integer else dtype.kind
    return words.view(np.int64).astype(phys)


def _moment_input(col: Col) -> pa.Array:
    """An aggregate argument as float64 values for mean/variance (decimals unscaled)."""
    arr = pc.cast(_sum_input(col), pa.float64(), safe=False)
    if col.dtype.is_decimal:
        arr = pc.divide(arr, float(10 ** col.dtype.scale))
    return arr


def _value_array(col: Col) -> pa.Array:
    """An aggregate argument as the Arrow array MIN/MAX/FIRST/LAST/DISTINCT work on: decimals
    as their scaled int64 (exact), everything else in its own Arrow type."""
    if col.dtype.is_decimal:
        return pa.array(col.data, mask=None if col.valid is None else ~col.valid)
    return col_to_arrow(col)


def _comoment_inputs(pair) -> tuple:
    """The two arguments of a co-moment aggregate as float64 (decimals unscaled), NULL where
    either is NULL: each shifted by its mean over those rows (sums of products then do not
    cancel), each as is (a constant group's mean is its value exactly); and the shifts."""
    a, b = _moment_input(pair.value), _moment_input(pair.order)
    valid = pc.and_(a.is_valid(), b.is_valid())
    a, b = pc.if_else(valid, a, None), pc.if_else(valid, b, None)
    a0, b0 = (pc.mean(x).as_py() or 0.0 for x in (a, b))
    return pc.subtract(a, a0), pc.subtract(b, b0), a, b, (a0, b0)


def _masked(values: pa.Array, rows: np.ndarray, mask: np.ndarray | None) -> pa.Array:
    """``values`` at ``rows``, NULL where ``mask`` (None: nowhere)."""
    out = values.take(pa.array(rows))
    return out if mask is None else pc.if_else(pa.array(mask), pa.nulls(len(out), out.type), out)


def _list_partials(j: int, rows: pa.Array, arg, positions: np.ndarray) -> dict[str, pa.Array]:
    """LIST's partials columns of one batch from its kept rows listed per group (NULL for
    rows its FILTER dropped): the values, positions and ordering values of those rows."""
    parent = np.asarray(rows.value_parent_indices(), dtype=np.int64)
    flat = rows.flatten()
    kept = np.asarray(flat.is_valid())
    at = np.asarray(pc.fill_null(flat, 0), dtype=np.int64)[kept]
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parent[kept], minlength=len(rows)), out=offsets[1:])
    offsets = pa.array(offsets)
    idx = pa.array(at)
    out = {acc_name(j, "vals"): pa.ListArray.from_arrays(offsets, _value_array(arg.value).take(idx)),
           acc_name(j, "vpos"): pa.ListArray.from_arrays(offsets, pa.array(positions[at]))}
    if arg.order is not None:
        out[acc_name(j, "vord")] = pa.ListArray.from_arrays(offsets, _value_array(arg.order).take(idx))
    return out


def _arg_ranks(pair, largest: bool) -> tuple[pa.Array, np.ndarray]:
    """ARG_MAX / ARG_MIN within a batch: each row's rank in the order (ordering value
    descending for ``largest``, else ascending; then arrival), NULL for rows where either
    argument is NULL, and that order (rank -> row). NaN sorts as the largest value."""
    n = len(pair)
    way = "descending" if largest else "ascending"
    w = _value_array(pair.order)
    table = {"w": w, "p": pa.array(np.arange(n, dtype=np.int64))}
    keys = [("w", way), ("p", "ascending")]
    if pair.order.dtype.is_float:      # Arrow puts NaN last either way; SQL has it largest
        table["nan"] = pc.is_nan(w)
        keys.insert(0, ("nan", way))
    order = np.asarray(pc.sort_indices(pa.table(table), sort_keys=keys))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    valid = pair.value.valid
    if pair.order.valid is not None:
        valid = pair.order.valid if valid is None else valid & pair.order.valid
    return pa.array(rank, mask=None if valid is None else ~valid), order


def _float_less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a < b`` in SQL's total order, where NaN is above every number (plain ``<`` for
    non-float arrays)."""
    if a.dtype.kind != "f":
        return a < b
    return (a < b) | (np.isnan(b) & ~np.isnan(a))


def _arrow_value_type(d: T.DType) -> pa.DataType:
    """The Arrow type of values of ``d`` in partials (decimals as their scaled int64)."""
    return pa.int64() if d.is_decimal else T.to_arrow(d)


def _store_dtype(d: T.DType) -> tuple:
    """(NumPy dtype, fill value) of a state array holding values of type ``d``."""
    if d.is_string:
        return object, None
    if d.is_decimal or d.is_temporal:
        return np.int64 if d.kind != "date" else np.int32, 0
    if d.is_bool:
        return np.bool_, False
    return np.dtype(d.kind), 0


class _Store:
    """A growable set of same-length NumPy arrays indexed by group id."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.fill: dict[str, object] = {}
        self.capacity = 0

    def add(self, name: str, dtype, fill) -> None:
        self.arrays[name] = np.full(self.capacity, fill, dtype=dtype)
        self.fill[name] = fill

    def grow(self, size: int) -> None:
        if size <= self.capacity:
            return
        cap = max(size, 2 * self.capacity, 64)
        for name, old in self.arrays.items():
            arr = np.full(cap, self.fill[name], dtype=old.dtype)
            arr[: self.capacity] = old
            self.arrays[name] = arr
        self.capacity = cap

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


# ---------------------------------------------------------------------------- partials readers
class TablePartials:
    """A partials table (``partials.py`` layout) read as state arrays by ``_merge``."""

    def __init__(self, table: pa.Table, state: "CpuGroupState"):
        self.table, self.state = table, state
        self.num_rows = table.num_rows

    def array(self, name: str, fill=None) -> np.ndarray:
        """Accumulator ``name`` as a NumPy array, NULLs replaced by ``fill``."""
        col = self.table.column(name)
        return np.asarray(col if fill is None else pc.fill_null(col, fill))

    def values(self, name: str, agg, d: T.DType | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A value column (of the aggregate's argument, or of type ``d``) as (state values,
        valid)."""
        col = self.table.column(name)
        return self.state._to_store_values(col, agg, d), np.asarray(col.is_valid())

    def arrow(self, name: str) -> pa.Array:
        """Column ``name`` as one Arrow array (sets, lists)."""
        return self.table.column(name).combine_chunks()

    def key_column(self, i: int) -> pa.Array:
        """Group key ``i`` as one Arrow array."""
        return self.arrow(key_name(i))

    def key_words(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The group-key words of the partials' rows (all, or ``rows``)."""
        keys = [arrow_to_col(self.key_column(i), d)
                for i, d in enumerate(self.state.spec.key_dtypes)]
        if not keys:
            return np.zeros((self.num_rows if rows is None else len(rows), 1), np.uint64)
        return group_words(keys if rows is None else [k.take(rows) for k in keys])

    def to_table(self) -> pa.Table:
        return self.table


class ArrayPartials:
    """One batch's partials made directly as state arrays (the dense path): ``_merge`` reads
    them without an Arrow round trip; :meth:`to_table` gives the partials table."""

    def __init__(self, state: "CpuGroupState", keys: list[Col], arrays: dict[str, np.ndarray],
                 valid: dict[str, np.ndarray]):
        self.state, self.keys, self.arrays, self.valid = state, keys, arrays, valid
        self.num_rows = len(keys[0]) if keys else 0

    def array(self, name: str, fill=None) -> np.ndarray:
        return self.arrays[name]

    def values(self, name: str, agg, d: T.DType | None = None) -> tuple[np.ndarray, np.ndarray]:
        valid = self.valid.get(name)
        return self.arrays[name], np.ones(self.num_rows, bool) if valid is None else valid

    def key_column(self, i: int) -> pa.Array:
        return col_to_arrow(self.keys[i])

    def key_words(self, rows: np.ndarray | None = None) -> np.ndarray:
        return group_words(self.keys if rows is None else [k.take(rows) for k in self.keys])

    def to_table(self) -> pa.Table:
        """The partials table of ``partials.py`` (``local_partials``)."""
        schema = self.state.partials_schema()
        cols = [col_to_arrow(col) for col in self.keys]
        for field in list(schema)[len(self.keys):]:
            valid = self.valid.get(field.name)
            cols.append(pa.array(self.arrays[field.name], mask=None if valid is None else ~valid)
                        .cast(field.type))
        return pa.Table.from_arrays(cols, schema=schema)


# ---------------------------------------------------------------------------- the state
class CpuGroupState:
    """Aggregation state on the host. See the module docstring and ``protocol.GroupState``."""

    def __init__(self, spec: StateSpec):
        self.spec = spec
        self._nkeys = len(spec.key_dtypes)
        width = self._nkeys + sum(1 for d in spec.key_dtypes if d.is_string) + 1
        self._table = KeyTable(width)
        self._keys: list[list[pa.Array]] = [[] for _ in spec.key_dtypes]   # chunks, gid order
        self._key_cache: list[pa.Array | None] = [None] * self._nkeys
        self._store = _Store()
        self._slot_gids: tuple | None = None   # (dense layout, gid of each slot or -1)
        self._partials_schema: pa.Schema | None = None
        self._changed = np.zeros(0, dtype=bool)
        self._distinct: dict[int, tuple[KeyTable, GroupValues]] = {}   # (set membership, values)
        self._lists: dict[int, GroupValues] = {}      # quantiles: every value of each group
        for j, agg in enumerate(spec.aggs):
            self._init_acc(j, agg)
        if self._nkeys == 0:   # a global aggregate always has its one group
            self.merge(self._empty_partials(1))
            self.clear_changed()

    # ------------------------------------------------------------------ layout
    def _val_dtype(self, agg):
        return _store_dtype(agg.arg_dtype)

    def _init_acc(self, j: int, agg) -> None:
        s = self._store
        for f in acc_fields(agg):
            name = acc_name(j, f)
            if f == "n":
                s.add(name, np.int64, 0)
            elif f == "sum":
                exact = not agg.arg_dtype.is_float
                s.add(name, np.int64 if exact else np.float64, 0)
            elif f in ("mean", "m2", "ma", "mb", "m2a", "m2b", "cab"):
                s.add(name, np.float64, 0.0)
            elif f == "pos":
                s.add(name, np.int64, -1 if agg.func == "last" else INT64_MAX)
            elif f == "ord":
                s.add(name, *_store_dtype(agg.arg2_dtype))
            elif f == "val":
                dt, fill = self._val_dtype(agg)
                s.add(name, dt, fill)
                if agg.func in POSITIONAL or agg.func in ARG_FUNCS:
                    s.add(name + "_valid", np.bool_, False)
            elif f == "set":
                s.add(name, np.int64, 0)      # distinct count; the values live in _distinct
                width = 3 if agg.arg_dtype.is_string else 2
                self._distinct[j] = (KeyTable(width), GroupValues(self._arrow_val_type(agg)))
            elif f == "vals":     # with positions (string_agg, mode, list): (value, position) structs
                self._lists[j] = GroupValues(self._list_struct(agg) if agg.func in POSLIST_FUNCS
                                             or agg.func == "list" else self._arrow_val_type(agg))

    def _arrow_key_type(self, i: int):
        return T.to_arrow(self.spec.key_dtypes[i])

    def _arrow_val_type(self, agg):
        return _arrow_value_type(agg.arg_dtype)

    def _list_struct(self, agg) -> pa.DataType:
        """STRING_AGG / MODE / LIST: the struct each kept value is stored as -- the value,
        its position and (LIST ordered by another expression) its ordering value."""
        fields = [("v", self._arrow_val_type(agg)), ("p", pa.int64())]
        if agg.arg2_dtype is not None and agg.func == "list":
            fields.append(("o", _arrow_value_type(agg.arg2_dtype)))
        return pa.struct(fields)

    def partials_schema(self) -> pa.Schema:
        """The Arrow schema of this state's partials."""
        if self._partials_schema is None:
            self._partials_schema = self._make_partials_schema()
        return self._partials_schema

    def _make_partials_schema(self) -> pa.Schema:
        fields = [pa.field(key_name(i), self._arrow_key_type(i)) for i in range(self._nkeys)]
        for j, agg in enumerate(self.spec.aggs):
            for f in acc_fields(agg):
                if f in ("n", "pos"):
                    t = pa.int64()
                elif f == "sum":
                    t = pa.float64() if agg.arg_dtype.is_float else pa.int64()
                elif f in ("mean", "m2", "ma", "mb", "m2a", "m2b", "cab"):
                    t = pa.float64()
                elif f == "val":
                    t = self._arrow_val_type(agg)
                elif f == "ord":
                    t = _arrow_value_type(agg.arg2_dtype)
                elif f == "vpos":
                    t = pa.list_(pa.int64())
                elif f == "vord":
                    t = pa.list_(_arrow_value_type(agg.arg2_dtype))
                else:
                    t = pa.list_(self._arrow_val_type(agg))
                fields.append(pa.field(acc_name(j, f), t))
        return pa.schema(fields)

    def _empty_partials(self, rows: int) -> pa.Table:
        cols = []
        for field in self.partials_schema():
            if field.name.endswith("_n"):
                cols.append(pa.array(np.zeros(rows, np.int64)))
            elif field.name.endswith(("_sum", "_mean", "_m2", "_ma", "_mb", "_m2a", "_m2b", "_cab")):
                cols.append(pa.array(np.zeros(rows, field.type.to_pandas_dtype())))
            elif field.name.endswith(("_set", "_vals", "_vpos", "_vord")):
                cols.append(pa.array([[]] * rows, type=field.type))
            else:
                cols.append(pa.nulls(rows, field.type))
        return pa.Table.from_arrays(cols, schema=self.partials_schema())

    # ------------------------------------------------------------------ update
    @property
    def num_groups(self) -> int:
        return int(self._table.size - (~self._table._live[: self._table.size]).sum())

    def live_gids(self) -> np.ndarray:
        return np.flatnonzero(self._table._live[: self._table.size])

    def changed(self) -> np.ndarray:
        return np.flatnonzero(self._changed[: self._table.size])

    def clear_changed(self) -> None:
        self._changed[:] = False

    def update(self, keys: Sequence[Col], args: Sequence[Col | None], positions) -> None:
        """Fold a batch in (local Arrow group-by to partials, then :meth:`merge`)."""
        n = len(positions)
        if n == 0:
            return
        self._merge(*self._local(keys, args, np.asarray(positions, dtype=np.int64)))

    def local_partials(self, keys: Sequence[Col], args: Sequence[Col | None],
                       positions: np.ndarray) -> pa.Table:
        """Aggregate one batch's rows into a partials table (one row per distinct key)."""
        return self._local(keys, args, positions)[0].to_table()

    def _local(self, keys, args, positions) -> tuple:
        """The batch's partials (a reader: ``TablePartials`` / ``ArrayPartials``), their
        group-key words (None: ``_merge`` makes those it needs) and, from the dense path,
        its slots."""
        dense = dense_partials(self, keys, args, positions)
        if dense is not None:
            return dense
        n = positions.shape[0]
        word_cols, nullmask = group_word_columns(keys)
        nwords = len(word_cols) + 1           # the NULL-bits word is the last
        cols: dict[str, pa.Array] = {f"w{c}": pa.array(_spread(w)) for c, w in enumerate(word_cols)}
        if nullmask is not None:
            cols[f"w{nwords - 1}"] = pa.array(nullmask)
        if not cols:     # global aggregate: one constant key keeps Arrow on its hash kernels
            cols["w_const"] = pa.array(np.zeros(n, np.uint8))
        wnames = list(cols)
        # key values come back from the words, except strings (hashed): those need a row
        need_rep = any(k.dtype.is_string for k in keys)
        if need_rep:
            cols["__row"] = pa.array(np.arange(n, dtype=np.int64))
        out: list[tuple[str, str, str]] = []          # (partials column, source column, agg)
        names: dict[tuple[int, str], str] = {}         # (id of the argument Col, kind) -> column
        val_src: dict[int, str] = {}
        arg_orders: dict[tuple[int, str], np.ndarray] = {}   # ARG_MAX/MIN: rank -> row
        co_shift: dict[tuple[int, str], tuple[float, float]] = {}   # co-moments: value shifts

        def source(col: Col, kind: str, make) -> str:
            key = (id(col), kind)
            if key not in names:
                names[key] = f"c{len(names)}"
                cols[names[key]] = make()
            return names[key]

        def count_source(col: Col) -> str:
            """Any source of ``col``: they all share its validity, so one count serves all."""
            if col.valid is None:
                return ""
            for kind in ("val", "sum", "var"):
                if (id(col), kind) in names:
                    return names[(id(col), kind)]
            if col.valid is None:
                return ""          # no NULLs: the count is the row count
            return source(col, "valid", lambda: pa.array(np.ones(n, np.bool_), mask=~col.valid))

        for j, (agg, col) in enumerate(zip(self.spec.aggs, args)):
            f = agg.func
            if f == "count_star":
                out.append((acc_name(j, "n"), "", "count_all"))
                continue
            if f in ("sum", "avg"):
                src = source(col, "sum", lambda: _sum_input(col))
                out.append((acc_name(j, "n"), count_source(col), "count"))
                if agg.arg_dtype.is_float or not _may_overflow(cols[src]):
                    out.append((acc_name(j, "sum"), src, "sum"))
                else:   # exact: sum the high and low 32-bit halves separately
                    data = np.asarray(pc.fill_null(cols[src], 0))
                    mask = None if col.valid is None else ~col.valid
                    cols[src + "_hi"] = pa.array(data >> np.int64(32), mask=mask)
                    cols[src + "_lo"] = pa.array(data & np.int64(0xFFFFFFFF), mask=mask)
                    out += [(acc_name(j, "sum") + "_hi", src + "_hi", "sum"),
                            (acc_name(j, "sum") + "_lo", src + "_lo", "sum")]
            elif f in ("var_samp", "var_pop", "stddev_samp", "stddev_pop"):
                src = source(col, "var", lambda: _moment_input(col))
                out += [(acc_name(j, "n"), count_source(col), "count"),
                        (acc_name(j, "mean"), src, "mean"),
                        (acc_name(j, "m2") + "_var", src, "variance")]
            elif f == "count":
                out.append((acc_name(j, "n"), count_source(col), "count"))
            elif f in ("min", "max"):
                src = source(col, "val", lambda: _value_array(col))
                out += [(acc_name(j, "n"), count_source(col), "count"), (acc_name(j, "val"), src, f)]
                if agg.arg_dtype.is_float:      # NaN is the largest float (DuckDB's order)
                    nan = source(col, "nan", lambda: pc.is_nan(cols[src]))
                    if pc.any(cols[nan]).as_py():
                        out.append((acc_name(j, "val") + "_nan", nan, "sum"))
            elif f in POSITIONAL:
                val_src[j] = source(col, "val", lambda: _value_array(col))
                pos_src = "__pos"
                if f == "any_value" and col.valid is not None:   # only non-NULL rows are eligible
                    pos_src = source(col, "pos", lambda: pa.array(np.arange(n, dtype=np.int64),
                                                                  mask=~col.valid))
                out.append((acc_name(j, "pos"), pos_src, "min" if f in EARLIEST else "max"))
            elif f in DISTINCT_FUNCS:
                src = source(col, "val", lambda: _value_array(col))
                out.append((acc_name(j, "set"), src, "distinct"))
            elif f == "list":        # the rows its FILTER keeps, listed per group (below)
                keep = col.keep
                src = source(keep, "rows", lambda: pa.array(
                    np.arange(n, dtype=np.int64), mask=None if keep is None else ~np.asarray(keep)))
                out.append((acc_name(j, "vals") + "_rows", src, "list"))
            elif f in LIST_FUNCS or f in POSLIST_FUNCS:
                src = source(col, "val", lambda: _value_array(col))
                out.append((acc_name(j, "vals"), src, "list"))
                if f in POSLIST_FUNCS:    # aligned with the values: one ordered pass (below)
                    pos_src = source(col, "where", lambda: pa.array(positions))
                    out.append((acc_name(j, "vpos"), pos_src, "list"))
            elif f in comoments.FUNCS:     # shifted values: sums of products do not cancel
                if (id(col), "co") not in names:
                    a, b, raw_a, raw_b, co_shift[(id(col), "co")] = _comoment_inputs(col)
                    for k, arr in (("co", a), ("cob", b), ("coab", pc.multiply(a, b)),
                                   ("coa_raw", raw_a), ("cob_raw", raw_b)):
                        cols[names.setdefault((id(col), k), f"c{len(names)}")] = arr
                sa, sb, sab, ra, rb = (names[(id(col), k)] for k in ("co", "cob", "coab", "coa_raw", "cob_raw"))
                out += [(acc_name(j, "n"), sa, "count"), (acc_name(j, "ma"), sa, "mean"),
                        (acc_name(j, "mb"), sb, "mean"), (acc_name(j, "m2a"), sa, "variance"),
                        (acc_name(j, "m2b"), sb, "variance"), (acc_name(j, "cab"), sab, "sum"),
                        (acc_name(j, "ma") + "_lim", ra, "min_max"),
                        (acc_name(j, "mb") + "_lim", rb, "min_max")]
            elif f in ARG_FUNCS:     # the best row's rank in (order value, arrival) order
                if (id(col), f) not in names:
                    ranks, arg_orders[(id(col), f)] = _arg_ranks(col, f == "arg_max")
                src = source(col, f, lambda: ranks)
                out.append((acc_name(j, "pos"), src, "min"))
        if any(a.func in POSITIONAL for a in self.spec.aggs):
            cols["__pos"] = pa.array(np.arange(n, dtype=np.int64))
        table = pa.table(cols)
        out = [(name, src, "count_all" if (how == "count" and src == "") else how)
               for name, src, how in out]
        specs, seen = ([("__row", "min")], {("__row", "min")}) if need_rep else ([], set())
        for _, src, how in out:
            if (src, how) not in seen:
                seen.add((src, how))
                specs.append((src, how))
        variance = pc.VarianceOptions(ddof=0)
        only_valid = pc.CountOptions(mode="only_valid")
        agg_specs = []
        for src, how in specs:
            if how == "count_all":
                agg_specs.append(([], "count_all"))
            elif how == "count":
                agg_specs.append((src, "count", only_valid))
            elif how == "variance":
                agg_specs.append((src, "variance", variance))
            elif how == "distinct":
                agg_specs.append((src, "distinct", only_valid))
            else:
                agg_specs.append((src, how))
        ordered = any(a.func in POSLIST_FUNCS or a.func == "list" for a in self.spec.aggs)   # aligned lists
        grouped = table.group_by(wnames, use_threads=n > 1_000_000 and not ordered).aggregate(agg_specs)
        result: dict[str, pa.Array] = {}
        key_words = [_unspread(np.asarray(grouped.column(f"w{c}").combine_chunks()))
                     for c in range(nwords - 1)] if keys else []
        if need_rep:
            rep = grouped.column("__row_min").combine_chunks()
            for i, col in enumerate(keys):
                result[key_name(i)] = col_to_arrow(col).take(rep)
        else:
            nulls = (np.asarray(grouped.column(f"w{nwords - 1}").combine_chunks())
                     if nullmask is not None else None)
            for i, col in enumerate(keys):
                w = key_words[i]        # without strings: one word per key
                valid = None if nulls is None else ((nulls >> np.uint64(i)) & np.uint64(1)) == 0
                result[key_name(i)] = col_to_arrow(Col(_word_values(w, col.dtype), valid, col.dtype))
        for name, src, how in out:
            colname = "count_all" if how == "count_all" else f"{src}_{how}"
            result[name] = grouped.column(colname).combine_chunks()
        for j, agg in enumerate(self.spec.aggs):
            f = agg.func
            if f in POSITIONAL:
                pos = result[acc_name(j, "pos")]
                result[acc_name(j, "val")] = cols[val_src[j]].take(pos)
                at = np.asarray(pc.fill_null(pos, 0))
                result[acc_name(j, "pos")] = pa.array(positions[at], mask=~np.asarray(pos.is_valid()))
            elif f in comoments.FUNCS:
                a0, b0 = co_shift[(id(args[j]), "co")]
                cnt = np.asarray(pc.fill_null(result[acc_name(j, "n")], 0), dtype=np.float64)
                ma, mb = (np.asarray(pc.fill_null(result[acc_name(j, k)], 0.0)) for k in ("ma", "mb"))
                for k in ("m2a", "m2b"):     # population variance * n
                    with np.errstate(invalid="ignore", over="ignore"):
                        m2 = np.asarray(pc.fill_null(result[acc_name(j, k)], 0.0)) * cnt
                    result[acc_name(j, k)] = pa.array(m2)
                sab = np.asarray(pc.fill_null(result[acc_name(j, "cab")], 0.0))
                with np.errstate(invalid="ignore", over="ignore"):
                    cab = np.where(cnt > 0, sab - cnt * ma * mb, 0.0)
                for k, shift in (("ma", a0), ("mb", b0)):   # a constant group: its value, no spread
                    lim = result.pop(acc_name(j, k) + "_lim")
                    lo = np.asarray(pc.fill_null(lim.field("min"), 0.0))
                    const = lo == np.asarray(pc.fill_null(lim.field("max"), 0.0))
                    mean = np.where(const, lo, (ma if k == "ma" else mb) + shift)
                    result[acc_name(j, k)] = pa.array(np.where(cnt > 0, mean, 0.0))
                    m2 = acc_name(j, "m2a" if k == "ma" else "m2b")
                    result[m2] = pa.array(np.where(const, 0.0, np.asarray(result[m2])))
                    cab = np.where(const, 0.0, cab)
                result[acc_name(j, "cab")] = pa.array(cab)
            elif f in ARG_FUNCS:
                rank = result[acc_name(j, "pos")]
                none = ~np.asarray(rank.is_valid())
                order = arg_orders[(id(args[j]), f)]
                row = order[np.asarray(pc.fill_null(rank, 0))] if n else np.zeros(len(rank), np.int64)
                mask = none if none.any() else None
                result[acc_name(j, "pos")] = pa.array(positions[row], mask=mask)
                result[acc_name(j, "val")] = _masked(_value_array(args[j].value), row, mask)
                result[acc_name(j, "ord")] = _masked(_value_array(args[j].order), row, mask)
            elif f in ("min", "max") and acc_name(j, "val") + "_nan" in result:
                nans = np.asarray(pc.fill_null(result.pop(acc_name(j, "val") + "_nan"), 0))
                cnt = np.asarray(result[acc_name(j, "n")])
                vals = result[acc_name(j, "val")]
                to_nan = (nans == cnt) if f == "min" else (nans > 0)
                to_nan &= cnt > 0
                if to_nan.any():
                    result[acc_name(j, "val")] = pc.if_else(pa.array(to_nan), pa.scalar(float("nan"), vals.type), vals)
            elif f in ("var_samp", "var_pop", "stddev_samp", "stddev_pop"):
                var = np.asarray(pc.fill_null(result.pop(acc_name(j, "m2") + "_var"), 0.0))
                cnt = np.asarray(result[acc_name(j, "n")])
                m2 = var * cnt
                m2[cnt == 1] = 0.0     # one value (even NaN) has no spread (Welford, DuckDB)
                result[acc_name(j, "m2")] = pa.array(m2)
                result[acc_name(j, "mean")] = pc.fill_null(result[acc_name(j, "mean")], 0.0)
            elif f == "list":
                result.update(_list_partials(j, result.pop(acc_name(j, "vals") + "_rows"),
                                             args[j], positions))
            elif f in ("sum", "avg"):
                s = acc_name(j, "sum")
                if s + "_hi" in result:
                    result[s] = pa.array(_join_halves(
                        np.asarray(pc.fill_null(result.pop(s + "_hi"), 0)),
                        np.asarray(pc.fill_null(result.pop(s + "_lo"), 0)), agg.arg_dtype))
                result[s] = pc.fill_null(result[s], 0)
        schema = self.partials_schema()
        table = pa.Table.from_arrays([result[f.name].cast(f.type) for f in schema], schema=schema)
        m = table.num_rows
        words = list(key_words)
        words.append(np.asarray(grouped.column(f"w{nwords - 1}").combine_chunks())
                     if nullmask is not None else np.zeros(m, np.uint64))
        return TablePartials(table, self), np.stack(words, axis=1).astype(np.uint64, copy=False), None

    # ------------------------------------------------------------------ merge
    def _gids_for(self, partials, words: np.ndarray | None = None, dense=None):
        """Group ids of the partials' keys (inserting new groups), and which are new.
        ``words``: the keys' words when the caller has them (else made here, as needed)."""
        layout, present = dense if dense is not None else (None, None)
        if layout is None:
            if words is None:
                words = partials.key_words()
            return self._table.lookup_or_insert(words, _words_hash(words))
        # dense slots: batches of one key domain meet the same groups again, so the slot ->
        # gid map of the last layout answers them without hashing; only unseen slots probe
        if self._slot_gids is None or self._slot_gids[0] != layout:
            self._slot_gids = (layout, np.full(layout[1], -1, np.int64))
        gid_of = self._slot_gids[1]
        gids = gid_of[present]
        is_new = np.zeros(gids.shape[0], dtype=bool)
        miss = np.flatnonzero(gids < 0)
        if miss.size:
            sub = partials.key_words(miss) if words is None else words[miss]
            gids[miss], is_new[miss] = self._table.lookup_or_insert(sub, _words_hash(sub))
            gid_of[present[miss]] = gids[miss]
        return gids, is_new

    def gids_of(self, partials: pa.Table) -> np.ndarray:
        """The group id of each row of a partials table (new groups are inserted)."""
        return self._gids_for(TablePartials(partials, self))[0]

    def merge(self, partials: pa.Table) -> None:
        """Fold a partials table in (``partials.py`` layout; at most one row per group, as
        every GroupState's ``partials()`` gives). Atomic: on error nothing changes."""
        self._merge(TablePartials(partials, self), None)

    def _merge(self, partials, words: np.ndarray | None, dense=None) -> None:
        m = partials.num_rows
        if m == 0:
            return
        size_before = self._table.size
        gids, is_new = self._gids_for(partials, words, dense)
        try:
            self._store.grow(self._table.size)
            updates = self._combine(partials, gids)
        except Exception:
            self._forget_new(size_before)
            raise
        for name, values in updates:
            self._store[name][gids] = values
        self._apply_distinct(partials, gids)
        self._apply_lists(partials, gids)
        if is_new.any():
            # new ids are handed out consecutively from size_before: the partials row of
            # each new id, in id order, by one scatter (no sort)
            rows_new = np.empty(self._table.size - size_before, dtype=np.int64)
            rows_new[gids[is_new] - size_before] = np.flatnonzero(is_new)
            for i in range(self._nkeys):
                self._keys[i].append(partials.key_column(i).take(pa.array(rows_new)))
                self._key_cache[i] = None
        if self._changed.shape[0] < self._table.size:
            grown = np.zeros(self._store.capacity, dtype=bool)
            grown[: self._changed.shape[0]] = self._changed
            self._changed = grown
        self._changed[gids] = True

    def _forget_new(self, size_before: int) -> None:
        """Undo the groups a failed merge inserted; their ids are handed out again (the key
        columns and accumulators are indexed by id, so no id may be skipped)."""
        if self._table.size > size_before:
            self._table.truncate(size_before)
            self._slot_gids = None

    def _combine(self, p, gids: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """New accumulator values for ``gids`` (computed without touching the state)."""
        s = self._store
        out = []
        for j, agg in enumerate(self.spec.aggs):
            f = agg.func
            if "n" in ACC_FIELDS[f]:
                n_new = p.array(acc_name(j, "n")).astype(np.int64, copy=False)
                n_old = s[acc_name(j, "n")][gids]
                out.append((acc_name(j, "n"), n_old + n_new))
            if f in ("sum", "avg"):
                name = acc_name(j, "sum")
                old, new = s[name][gids], p.array(name, 0)
                if agg.arg_dtype.is_float:
                    out.append((name, old + new))
                else:
                    out.append((name, _checked_add(old, new.astype(np.int64), f"SUM of {agg.arg_dtype}")))
            elif f in ("min", "max"):
                name = acc_name(j, "val")
                old = s[name][gids]
                new, has_new = p.values(name, agg)
                has_old = n_old > 0
                if agg.arg_dtype.is_string:
                    cmp = pc.less if f == "min" else pc.greater
                    better = np.asarray(pc.fill_null(cmp(pa.array(new, pa.string()),
                                                         pa.array(old, pa.string())), False))
                    better = np.where(has_old & has_new, better, has_new)
                else:
                    better = _float_less(new, old) if f == "min" else _float_less(old, new)
                    better = has_new & (~has_old | better)
                out.append((name, np.where(better, new, old)))
            elif f in ("var_samp", "var_pop", "stddev_samp", "stddev_pop"):
                na, nb = n_old.astype(np.float64), n_new.astype(np.float64)
                ma, mb = s[acc_name(j, "mean")][gids], p.array(acc_name(j, "mean")).astype(np.float64)
                qa, qb = s[acc_name(j, "m2")][gids], p.array(acc_name(j, "m2")).astype(np.float64)
                tot = na + nb
                with np.errstate(invalid="ignore", divide="ignore"):
                    # an empty side contributes nothing (not even NaN * 0): Welford's result
                    delta = mb - ma
                    both = (na > 0) & (nb > 0)
                    safe = np.where(both, tot, 1.0)
                    mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + delta * nb / safe))
                    m2 = np.where(na == 0, qb, np.where(
                        nb == 0, qa, qa + qb + delta * delta * na * nb / safe))
                out += [(acc_name(j, "mean"), mean), (acc_name(j, "m2"), m2)]
            elif f in POSITIONAL:
                pname, vname = acc_name(j, "pos"), acc_name(j, "val")
                earliest = f in EARLIEST
                pos_new = p.array(pname, INT64_MAX if earliest else -1)
                pos_old = s[pname][gids]
                better = (pos_new < pos_old) if earliest else (pos_new > pos_old)
                vals, valid = p.values(vname, agg)
                out += [(pname, np.where(better, pos_new, pos_old)),
                        (vname, np.where(better, vals, s[vname][gids])),
                        (vname + "_valid", np.where(better, valid, s[vname + "_valid"][gids]))]
            elif f in ARG_FUNCS:
                out += self._combine_arg(j, agg, p, gids)
            elif f in comoments.FUNCS:
                old = {k: s[acc_name(j, k)][gids] for k in comoments.FIELDS}
                new = {k: p.array(acc_name(j, k), 0) for k in comoments.FIELDS}
                merged = comoments.merge(np, old, new)
                out += [(acc_name(j, k), merged[k]) for k in comoments.FIELDS if k != "n"]
        return out

    def _combine_arg(self, j: int, agg, p, gids: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """ARG_MAX / ARG_MIN: the side with the better ordering value wins, the earlier
        position among equal ones (NaN is the largest value)."""
        s = self._store
        pname, oname, vname = (acc_name(j, f) for f in ("pos", "ord", "val"))
        pos_new, has_new = p.values(pname, agg, T.INT64)
        pos_new = np.where(has_new, pos_new, INT64_MAX)
        pos_old = s[pname][gids]
        ord_new, _ = p.values(oname, agg, agg.arg2_dtype)
        ord_old = s[oname][gids]
        less, more = (_float_less(ord_new, ord_old), _float_less(ord_old, ord_new))
        strictly = more if agg.func == "arg_max" else less
        better = has_new & ((pos_old == INT64_MAX) | strictly | (~less & ~more & (pos_new < pos_old)))
        vals, valid = p.values(vname, agg)
        return [(pname, np.where(better, pos_new, pos_old)), (oname, np.where(better, ord_new, ord_old)),
                (vname, np.where(better, vals, s[vname][gids])),
                (vname + "_valid", np.where(better, valid, s[vname + "_valid"][gids]))]

    def _to_store_values(self, arr, agg, d: T.DType | None = None) -> np.ndarray:
        """Partials values as a state array (of the aggregate's argument, or of type ``d``)."""
        d = agg.arg_dtype if d is None else d
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        if d.is_string:
            return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
        dt, fill = _store_dtype(d)
        if d.is_temporal:
            arr = arr.cast(pa.int64() if d.kind != "date" else pa.int32())
        return np.asarray(pc.fill_null(arr, fill).to_numpy(zero_copy_only=False), dtype=dt)

    def _apply_distinct(self, p, gids: np.ndarray) -> None:
        for j, (table, kept) in self._distinct.items():
            lists = p.arrow(acc_name(j, "set"))
            values = lists.flatten()
            if len(values) == 0:
                continue
            owner = gids[np.asarray(lists.value_parent_indices())]
            agg = self.spec.aggs[j]
            vcol = arrow_to_col(values, T.INT64 if agg.arg_dtype.is_decimal else agg.arg_dtype)
            vw = group_words([vcol])[:, :-1]
            words = np.concatenate([owner.astype(np.uint64)[:, None], vw], axis=1)
            _, is_new = table.lookup_or_insert(words, _words_hash(words))
            if is_new.any():
                kept.add(owner[is_new], values.filter(pa.array(is_new)))
                cnt = self._store[acc_name(j, "set")]
                cnt += np.bincount(owner[is_new], minlength=cnt.shape[0])[: cnt.shape[0]]

    def _apply_lists(self, p, gids: np.ndarray) -> None:
        for j, kept in self._lists.items():
            lists = p.arrow(acc_name(j, "vals"))
            values = lists.flatten()
            if len(values) == 0:
                continue
            owner = gids[np.asarray(lists.value_parent_indices())]
            agg = self.spec.aggs[j]
            if agg.func == "list":       # NULL values are kept
                parts = [values] + [p.arrow(acc_name(j, f)).flatten() for f in acc_fields(agg)[1:]]
                kept.add(owner, pa.StructArray.from_arrays(parts, fields=list(self._list_struct(agg))))
                continue
            if agg.func in POSLIST_FUNCS:
                pos = p.arrow(acc_name(j, "vpos")).flatten()
                values = pa.StructArray.from_arrays([values, pos], names=["v", "p"],
                                                    mask=pc.invert(values.is_valid()))
            valid = np.asarray(values.is_valid())
            kept.add(owner[valid], values.filter(pa.array(valid)))

    # ------------------------------------------------------------------ output
    def _key_column(self, i: int) -> pa.Array:
        if self._key_cache[i] is None:
            chunks = self._keys[i]
            self._key_cache[i] = (pa.concat_arrays(chunks) if chunks
                                  else pa.array([], type=self._arrow_key_type(i)))
            self._keys[i] = [self._key_cache[i]]
        return self._key_cache[i]

    def _select(self, gids) -> np.ndarray:
        return self.live_gids() if gids is None else np.asarray(gids, dtype=np.int64)

    def _vals_to_arrow(self, j: int, agg, gids: np.ndarray, valid: np.ndarray,
                       field: str = "val") -> pa.Array:
        """State array ``field`` of aggregate j at ``gids`` as partials values (``ord``: of
        the ordering argument's type)."""
        d = agg.arg2_dtype if field == "ord" else agg.arg_dtype
        vals = self._store[acc_name(j, field)][gids]
        t = _arrow_value_type(d)
        if d.is_string:
            return pa.array(np.where(valid, vals, None), type=t)
        arr = pa.array(vals, mask=None if valid.all() else ~valid)
        return arr if arr.type == t else arr.cast(t)

    def partials(self, gids=None) -> pa.Table:
        """This state's accumulators for ``gids`` as a partials table."""
        gids = self._select(gids)
        idx = pa.array(gids)
        schema = self.partials_schema()
        cols: dict[str, pa.Array] = {key_name(i): self._key_column(i).take(idx) for i in range(self._nkeys)}
        s = self._store
        for j, agg in enumerate(self.spec.aggs):
            for f in acc_fields(agg):
                name = acc_name(j, f)
                if f == "val":
                    valid = (s[name + "_valid"][gids] if agg.func in POSITIONAL + ARG_FUNCS
                             else s[acc_name(j, "n")][gids] > 0)
                    cols[name] = self._vals_to_arrow(j, agg, gids, valid)
                elif f == "ord":
                    cols[name] = self._vals_to_arrow(j, agg, gids, s[acc_name(j, "pos")][gids] != INT64_MAX,
                                                     "ord")
                elif f == "pos":
                    pos = s[name][gids]
                    cols[name] = pa.array(pos, mask=(pos == INT64_MAX) | (pos < 0))
                elif f == "set":
                    cols[name] = self._distinct[j][1].lists(gids, schema.field(name).type)
                elif f == "vals" and (agg.func in POSLIST_FUNCS or agg.func == "list"):
                    parts = self._value_lists(j, agg, gids)
                    for field, part in zip(acc_fields(agg), parts):
                        cols[acc_name(j, field)] = part
                elif f == "vals":
                    cols[name] = self._lists[j].lists(gids, schema.field(name).type)
                elif f in ("vpos", "vord"):
                    continue       # made with the values
                else:
                    cols[name] = pa.array(s[name][gids])
        return pa.Table.from_arrays([cols[f.name].cast(f.type) for f in schema], schema=schema)

    def finalize(self, gids=None) -> pa.Table:
        """SQL results for ``gids``: columns k0.. (keys) and a0.. (aggregates)."""
        gids = self._select(gids)
        idx = pa.array(gids)
        cols = {key_name(i): self._key_column(i).take(idx) for i in range(self._nkeys)}
        s = self._store
        for j, agg in enumerate(self.spec.aggs):
            f = agg.func
            n = s[acc_name(j, "n")][gids] if "n" in ACC_FIELDS[f] else None
            out_t = T.to_arrow(agg.out_dtype)
            if f in ("count_star", "count"):
                arr = pa.array(n)
            elif f == "count_distinct":
                arr = pa.array(s[acc_name(j, "set")][gids])
            elif f in DISTINCT_FUNCS:
                lists = self._distinct[j][1].lists(gids, pa.list_(self._arrow_val_type(agg)))
                arr = _distinct_sum(lists, agg)
            elif f == "sum":
                sums = s[acc_name(j, "sum")][gids]
                if agg.arg_dtype.is_decimal:
                    arr = col_to_arrow(Col(sums, n > 0, agg.out_dtype))
                else:
                    arr = pa.array(sums, mask=n == 0)
            elif f == "avg":
                sums = s[acc_name(j, "sum")][gids].astype(np.float64)
                if agg.arg_dtype.is_decimal:
                    sums = sums / float(10 ** agg.arg_dtype.scale)
                with np.errstate(invalid="ignore", divide="ignore"):
                    arr = pa.array(sums / np.maximum(n, 1), mask=n == 0)
            elif f in ("min", "max"):
                arr = self._final_values(j, agg, gids, n > 0)
            elif f in POSITIONAL or f in ARG_FUNCS:
                arr = self._final_values(j, agg, gids, s[acc_name(j, "val") + "_valid"][gids])
            elif f in LIST_FUNCS:
                lists = self._lists[j].lists(gids, pa.list_(self._arrow_val_type(agg)))
                arr = quantiles(lists, f, agg.param, agg.arg_dtype, agg.out_dtype)
            elif f in comoments.FUNCS:
                arr = comoments.finalize(f, {k: s[acc_name(j, k)][gids] for k in comoments.FIELDS})
            elif f == "string_agg":
                arr = string_aggs(*self._value_lists(j, agg, gids), gids.size, *agg.param)
            elif f == "mode":
                arr = modes(*self._value_lists(j, agg, gids), gids.size, agg.arg_dtype)
            elif f == "list":
                vals, pos, *order = self._value_lists(j, agg, gids)
                arr = list_results(vals, pos, order[0] if order else None, gids.size, agg.param,
                                   agg.arg_dtype)
            else:
                m2 = s[acc_name(j, "m2")][gids]
                samp = f.endswith("samp")
                denom = (n - 1) if samp else n
                with np.errstate(invalid="ignore", divide="ignore"):
                    var = np.maximum(m2, 0.0) / np.maximum(denom, 1)
                if f.startswith("stddev"):
                    var = np.sqrt(var)
                arr = pa.array(var, mask=denom <= 0)
            cols[agg_name(j)] = arr.cast(out_t) if arr.type != out_t else arr
        return pa.table(cols) if cols else pa.table({})

    def _value_lists(self, j: int, agg, gids: np.ndarray) -> tuple[pa.Array, ...]:
        """STRING_AGG / MODE / LIST: the values, the positions and (LIST ordered by another
        expression) the ordering values of ``gids``, as aligned lists."""
        struct = self._list_struct(agg)
        kept = self._lists[j].lists(gids, pa.list_(struct))
        offsets = kept.offsets
        flat = kept.flatten()
        return tuple(pa.ListArray.from_arrays(offsets, flat.field(f.name)) for f in struct)

    def _final_values(self, j: int, agg, gids: np.ndarray, valid: np.ndarray) -> pa.Array:
        if agg.arg_dtype.is_decimal:
            return col_to_arrow(Col(self._store[acc_name(j, "val")][gids], valid, agg.arg_dtype))
        return self._vals_to_arrow(j, agg, gids, valid)

    def keys(self, gids=None) -> pa.Table:
        """The key columns (k0..) of ``gids`` (all live groups when None)."""
        idx = pa.array(self._select(gids))
        return pa.table({key_name(i): self._key_column(i).take(idx) for i in range(self._nkeys)})

    def lookup(self, keys: Sequence[Col]) -> np.ndarray:
        """The gid of each row's key in ``keys`` (one Col per key column); -1 where none is live."""
        words = group_words(keys)
        return self._table.lookup(words, _words_hash(words))

    # ------------------------------------------------------------------ eviction
    def evict(self, gids) -> None:
        """Drop groups (closed windows). When dead groups outnumber live ones the state is
        compacted: memory is freed and the live groups are renumbered, so gids obtained
        before an evict are invalid after it."""
        gids = np.asarray(gids, dtype=np.int64)
        if gids.size == 0:
            return
        self._table.remove(gids)
        self._slot_gids = None
        self._changed[gids] = False
        dead = np.zeros(self._store.capacity, dtype=bool)
        dead[gids] = True
        for _, kept in self._distinct.values():
            kept.drop(dead)
        for kept in self._lists.values():
            kept.drop(dead)
        size = self._table.size
        if size >= _COMPACT_MIN and 2 * self.num_groups < size:
            self._compact()

    def _compact(self) -> None:
        """Renumber the live groups 0..n-1 and drop every array row of dead ones."""
        live = self.live_gids()
        old_table = self._table
        self._table = KeyTable(old_table.width, capacity=max(2 * live.size, 1024))
        new_ids, _ = self._table.lookup_or_insert(old_table.keys_of(live), old_table._hashes[live])
        order = np.empty_like(live)                  # old gid of each new gid
        order[new_ids] = live
        remap = np.full(old_table.size, -1, dtype=np.int64)
        remap[live] = new_ids
        store = _Store()
        store.fill = dict(self._store.fill)
        store.arrays = {name: arr[order] for name, arr in self._store.arrays.items()}
        store.capacity = live.size
        self._store = store
        self._changed = self._changed[order]
        idx = pa.array(order)
        for i in range(self._nkeys):
            self._keys[i] = [self._key_column(i).take(idx)]
            self._key_cache[i] = None
        for j, (table, kept) in self._distinct.items():
            ids = np.flatnonzero(table._live[: table.size])
            words = table.keys_of(ids).copy()
            owner = remap[words[:, 0].astype(np.int64)]
            words = words[owner >= 0]
            words[:, 0] = owner[owner >= 0].astype(np.uint64)
            fresh = KeyTable(table.width, capacity=max(2 * words.shape[0], 1024))
            if words.shape[0]:
                fresh.lookup_or_insert(words, _words_hash(words))
            kept.renumber(remap)
            self._distinct[j] = (fresh, kept)
        for kept in self._lists.values():
            kept.renumber(remap)


# ---------------------------------------------------------------------------- DISTINCT sums
def _distinct_sum(lists: pa.Array, agg) -> pa.Array:
    """SUM / AVG of each list of distinct values (NULL for an empty list); integer and
    decimal sums exact (overflow raises), as for SUM."""
    d = agg.arg_dtype
    counts = np.asarray(pc.list_value_length(lists).fill_null(0), dtype=np.int64)
    owner = np.asarray(lists.value_parent_indices(), dtype=np.int64)
    values = lists.flatten()
    empty = counts == 0
    if d.is_float:
        sums = np.bincount(owner, weights=np.asarray(values, dtype=np.float64), minlength=len(lists))
    else:
        x = np.asarray(pc.cast(values, pa.int64()) if not d.is_decimal else values, dtype=np.int64)
        if x.size and int(np.abs(x).max()) * x.size >= 2**63:   # exact in Python ints, then checked
            big = np.zeros(len(lists), dtype=object)
            np.add.at(big, owner, x.astype(object))
            if any(abs(v) >= 2**63 for v in big):
                raise ArithmeticOverflowError(f"SUM(DISTINCT) of {d} overflows a 64-bit integer")
            sums = big.astype(np.int64)
        else:
            sums = np.zeros(len(lists), dtype=np.int64)
            np.add.at(sums, owner, x)
    if agg.func == "avg_distinct":
        total = sums.astype(np.float64) / (float(10 ** d.scale) if d.is_decimal else 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return pa.array(total / np.maximum(counts, 1), mask=empty)
    if d.is_decimal:
        return col_to_arrow(Col(sums, ~empty, agg.out_dtype))
    return pa.array(sums, mask=empty)


# ---------------------------------------------------------------------------- dense keys
DENSE_FUNCS = {"count_star", "count", "sum", "avg", "min", "max",
               "var_samp", "var_pop", "stddev_samp", "stddev_pop", "first", "last", "any_value"}
DENSE_MAX_SLOTS = 1 << 24


def _dense_index(key: Col, n: int, limit: int) -> tuple[np.ndarray, int, int, int] | None:
    """``(slot, lo, stride, span)`` for one key: the slot of each row is ``(key - lo) // stride``
    for integer-like keys (``stride`` the gcd of the values' distances, so window starts that are
    multiples of the window size stay dense), the dictionary code for strings with distinct
    entries; NULL keys get slot ``span``. None when the key does not qualify or needs more
    than ``limit`` slots."""
    d = key.dtype
    if d.is_string:
        span = len(key.dictionary)
        if span > limit or len(pc.unique(key.dictionary)) != span:   # unique: 3x count_distinct
            return None
        idx = key.data.astype(np.int64)
        return (idx if key.valid is None else np.where(key.valid, idx, span)), 0, 1, span
    if not (d.is_integer or d.is_temporal or d.is_decimal or d.is_bool or d.is_interval):
        return None
    data = key.data
    vals = data if key.valid is None else data[key.valid]
    if vals.size == 0:
        return np.zeros(n, np.int64), 0, 1, 0
    lo, hi = int(vals.min()), int(vals.max())
    if hi - lo >= 2**62:
        return None
    # distances from lo in modular 64-bit arithmetic: exact for any int64/uint64 values (the
    # distance is below 2**62); one pass, no temporaries (they dominate at streaming sizes)
    if data.dtype.itemsize == 8:
        idx = data.view(np.int64) - np.int64(lo - 2**64 if lo >= 2**63 else lo)
    else:
        idx = data.astype(np.int64)
        idx -= np.int64(lo)
    stride = 1
    if hi - lo + 1 > limit:
        stride = int(np.gcd.reduce(idx if key.valid is None else idx[key.valid]))
        if stride == 0 or (hi - lo) // stride + 1 > limit:
            return None
        idx //= stride
    span = (hi - lo) // stride + 1
    if key.valid is not None:
        idx = np.where(key.valid, idx, span)
    return idx, lo, stride, span


def _dense_slots(keys: Sequence[Col], n: int):
    """Combined slot of each row over all keys (mixed radix of the per-key slots, each with
    its NULL slot), with what is needed to decode it; None when the keys do not qualify."""
    limit = min(DENSE_MAX_SLOTS, max(4 * n, 1 << 16))
    parts, slot, total = [], None, 1
    for key in keys:
        found = _dense_index(key, n, limit // total)
        if found is None:
            return None
        idx, lo, stride, span = found
        parts.append((lo, stride, span, total))
        slot = idx if slot is None else slot + idx * total
        total *= span + 1
        if total > limit:
            return None
    return slot, parts, total


def dense_partials(state: "CpuGroupState", keys: Sequence[Col], args: Sequence[Col | None],
                   positions: np.ndarray) -> tuple | None:
    """``(ArrayPartials, key words or None, (layout, present slots))`` of one batch by direct
    addressing (``bincount`` and ``ufunc.at`` over a slot computed from the keys, see
    ``_dense_slots``), the fast path for keys of modest range -- DuckDB's "perfect hash"
    aggregate. ``layout`` (None for string keys) says what each slot means: batches with the
    same layout map slots to the same groups, which ``CpuGroupState`` caches (the key words
    are then made only for slots it has not seen). None when the batch does not qualify
    (the general path then runs): float keys, keys whose combined range is too wide, COUNT
    DISTINCT, non-numeric MIN/MAX, or an integer SUM that could overflow int64."""
    spec = state.spec
    if not keys or any(a.func not in DENSE_FUNCS for a in spec.aggs):
        return None
    for agg in spec.aggs:
        d = agg.arg_dtype
        if agg.func in ("min", "max") and not (d.is_numeric or d.is_temporal):
            return None
        if agg.func in POSITIONAL and d.is_string:
            return None
    n = positions.shape[0]
    if n == 0:
        return None
    found = _dense_slots(keys, n)
    if found is None:
        return None
    idx, parts, slots = found
    rows = np.bincount(idx, minlength=slots)
    for agg, col in zip(spec.aggs, args):
        if agg.func in ("sum", "avg") and not agg.arg_dtype.is_float and \
                _may_overflow(_sum_input(col)):
            return None
    present = np.flatnonzero(rows)
    key_cols = []
    for key, (lo, stride, span, mult) in zip(keys, parts):
        own = (present // mult) % (span + 1)
        kvalid = own < span
        valid = None if kvalid.all() else kvalid
        if key.dtype.is_string:
            col = Col(np.where(kvalid, own, 0).astype(np.int32), valid, key.dtype, key.dictionary)
        else:
            with np.errstate(over="ignore"):   # modular: lo may be any int64/uint64 value
                kwords = own.astype(np.uint64) * np.uint64(stride) + np.uint64(lo % 2**64)
            col = Col(_word_values(kwords, key.dtype), valid, key.dtype)
        key_cols.append(col)
    arrays: dict[str, np.ndarray] = {}      # accumulators of the present slots, as state arrays
    valids: dict[str, np.ndarray] = {}      # ... and where a value accumulator is NULL
    cache: dict[int, tuple] = {}

    def valid_rows(col: Col):
        """(slot of each valid row, the valid rows' values, count per slot) for an argument."""
        if id(col) not in cache:
            if col.valid is None:
                cache[id(col)] = (idx, col.data, rows)
            else:
                i = idx[col.valid]
                cache[id(col)] = (i, col.data[col.valid], np.bincount(i, minlength=slots))
        return cache[id(col)]

    for j, (agg, col) in enumerate(zip(spec.aggs, args)):
        f = agg.func
        if f == "count_star":
            arrays[acc_name(j, "n")] = rows[present]
            continue
        if f in POSITIONAL:
            earliest = f in EARLIEST
            pick = np.full(slots, n if earliest else -1, np.int64)
            rows_all = np.arange(n, dtype=np.int64)
            eligible = col.valid if f == "any_value" else None
            (np.minimum if earliest else np.maximum).at(
                pick, idx if eligible is None else idx[eligible],
                rows_all if eligible is None else rows_all[eligible])
            rows_at = pick[present]
            none = rows_at == n      # any_value: the slot has rows, none of them non-NULL
            rows_at = np.where(none, 0, rows_at)
            pname, vname = acc_name(j, "pos"), acc_name(j, "val")
            arrays[pname] = np.where(none, INT64_MAX if earliest else -1, positions[rows_at])
            arrays[vname] = col.data[rows_at].astype(_store_dtype(agg.arg_dtype)[0], copy=False)
            vvalid = ~none if col.valid is None else col.valid[rows_at] & ~none
            valids[vname] = vvalid
            if none.any():
                valids[pname] = ~none
            continue
        i, x, cnt = valid_rows(col)
        present_cnt = cnt[present]
        arrays[acc_name(j, "n")] = present_cnt
        d = agg.arg_dtype
        if f in ("sum", "avg"):
            if d.is_float:
                sums = np.bincount(i, weights=x, minlength=slots)
            else:
                sums = np.zeros(slots, np.int64)
                np.add.at(sums, i, x.astype(np.int64))
            arrays[acc_name(j, "sum")] = sums[present]
        elif f in ("min", "max"):
            vname = acc_name(j, "val")
            arrays[vname] = _dense_extreme(f, i, x, cnt, slots)[present] \
                .astype(_store_dtype(d)[0], copy=False)
            valids[vname] = present_cnt > 0
        else:
            xf = x.astype(np.float64)
            if d.is_decimal:
                xf = xf / float(10 ** d.scale)
            total = np.bincount(i, weights=xf, minlength=slots)
            mean = total / np.maximum(cnt, 1)
            dev = xf - mean[i]
            m2 = np.bincount(i, weights=dev * dev, minlength=slots)
            m2[cnt == 1] = 0.0      # one value (even NaN) has no spread, as Welford/DuckDB say
            arrays[acc_name(j, "mean")] = mean[present]
            arrays[acc_name(j, "m2")] = m2[present]
    # string slots are dictionary codes: they mean other strings in the next batch
    layout = None if any(k.dtype.is_string for k in keys) else (tuple(parts), slots)
    local = ArrayPartials(state, key_cols, arrays, valids)
    return local, (local.key_words() if layout is None else None), (layout, present)


def _dense_extreme(func: str, i: np.ndarray, x: np.ndarray, cnt: np.ndarray, slots: int) -> np.ndarray:
    """MIN/MAX per slot (meaningless where ``cnt`` is 0); floats in SQL order (NaN above
    every number: MIN skips NaN unless all values are NaN, MAX is NaN when any is)."""
    if x.dtype.kind == "f":
        init = np.inf if func == "min" else -np.inf
        out = np.full(slots, init, dtype=x.dtype)
        nan = np.isnan(x) if func == "min" else None
        has_nan = nan is not None and nan.any()
        with np.errstate(invalid="ignore"):     # fmin skips NaN; minimum.at is twice as fast
            (np.fmin if has_nan else np.minimum if func == "min" else np.maximum).at(out, i, x)
        if has_nan:                # a group whose values are all NaN has MIN NaN
            numbers = np.bincount(i[~nan], minlength=slots)
            out[(cnt > 0) & (numbers == 0)] = np.nan
        return out
    info = np.iinfo(x.dtype)
    out = np.full(slots, info.max if func == "min" else info.min, dtype=x.dtype)
    (np.minimum if func == "min" else np.maximum).at(out, i, x)
    return out
