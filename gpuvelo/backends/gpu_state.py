"""GpuGroupState: one partition's aggregation state in device memory (see ``gpu.py`` for what
stays on the host and why, and ``kernels/groupby.cu`` for the table and accumulators)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..columns import Col, ColPair
from ..errors import ArithmeticOverflowError, DataError
from . import comoments, keyhash
from ..columns import ListArg
from ..arrowcol import arrow_to_col, col_to_arrow
from .partials import (ACC_FIELDS, ARG_FUNCS, DISTINCT_FUNCS, EARLIEST, LIST_FUNCS, POSITIONAL,
                       POSLIST_FUNCS, acc_name, key_name)
from .protocol import StateSpec

F_SUM, F_MIN, F_MAX = 1, 2, 4
KIND_I64, KIND_U64, KIND_F64 = 0, 1, 2
SHARED_GROUPS = 2048
COMPACT_MIN = 4096       # evict compacts only states that handed out at least this many ids
U64_MAX = 2**64 - 1
NO_POS = 2**63 - 1        # ARG_MAX/ARG_MIN: no row chosen yet
VAR_FUNCS = ("var_samp", "var_pop", "stddev_samp", "stddev_pop")
_FUSED = {"count": 0, "sum": F_SUM, "avg": F_SUM, "min": F_MIN, "max": F_MAX, "count_star": 0}


def _cp():
    import cupy

    return cupy


def _launch(func: str, n: int, args: tuple) -> None:
    from .gpu import _launch as launch

    launch(func, "groupby", n, args)


class Interner:
    """Host map string -> dense int64 code (first-seen order), vectorised over the distinct
    strings of a dictionary; strings are matched by both 64-bit string hashes."""

    def __init__(self):
        self._h1 = np.zeros(0, np.uint64)        # sorted
        self._code_at = np.zeros(0, np.int64)    # code of each sorted h1
        self._h2 = np.zeros(0, np.uint64)        # by code
        self._chunks: list[pa.Array] = []
        self.size = 0

    def codes(self, strings: pa.Array) -> np.ndarray:
        """Code of every entry of ``strings`` (NULL entries get the code of '')."""
        strings = pc.fill_null(strings, "").cast(pa.string())
        n = len(strings)
        h1 = keyhash.strhash_arrow(strings, keyhash.STR_SEED)
        h2 = keyhash.strhash_arrow(strings, keyhash.STR_SEED_ALT)
        codes = np.full(n, -1, np.int64)
        if self.size:
            pos = np.minimum(np.searchsorted(self._h1, h1), self.size - 1)
            found = self._h1[pos] == h1
            codes[found] = self._code_at[pos[found]]
        new = np.flatnonzero(codes < 0)
        if new.size:
            uh, first, inv = np.unique(h1[new], return_index=True, return_inverse=True)
            inv = inv.ravel()
            newcodes = self.size + np.arange(uh.size, dtype=np.int64)
            codes[new] = newcodes[inv]
            self._chunks.append(strings.take(pa.array(new[first])))
            self._h2 = np.concatenate([self._h2, h2[new][first]])
            allh = np.concatenate([self._h1, uh])
            order = np.argsort(allh, kind="stable")
            self._h1, self._code_at = allh[order], np.concatenate([self._code_at, newcodes])[order]
            self.size += uh.size
        if n and np.any(self._h2[codes] != h2):
            raise DataError("two different strings share a 64-bit hash; gpuvelo cannot group them")
        return codes

    def strings(self) -> pa.Array:
        """All interned strings, indexed by code."""
        if len(self._chunks) != 1:
            self._chunks = [pa.concat_arrays(self._chunks) if self._chunks else pa.array([], pa.string())]
        return self._chunks[0]


def _floats(vals, d: T.DType):
    """Value words of type ``d`` (``_values``) as float64 values: moments are of the value,
    so decimals are unscaled."""
    x = vals.astype(_cp().float64)
    return x / float(10 ** d.scale) if d.is_decimal else x


def _u8(mask):
    """A device bool mask as the kernels' ``const unsigned char*`` (None stays None)."""
    return None if mask is None else _cp().ascontiguousarray(mask).view(_cp().uint8)


def _value_kind(d: T.DType) -> int:
    if d.is_float:
        return KIND_F64
    return KIND_U64 if d.kind == "uint64" else KIND_I64


class GpuGroupState:
    """Per-partition aggregation state on the GPU; implements ``protocol.GroupState``."""

    def __init__(self, spec: StateSpec, stream=None):
        from .cpu import CpuGroupState

        cp = _cp()
        self.spec = spec
        self.stream = stream if stream is not None else cp.cuda.Stream(non_blocking=True)
        self._ref = CpuGroupState(StateSpec(spec.key_dtypes, spec.aggs))   # schema + finalize
        self._W = len(spec.key_dtypes) + 1
        self._interner = Interner()
        self._gcap = 0
        self._fills: dict[str, tuple[Any, Any]] = {}
        self._acc: dict[str, Any] = {}
        self._known = 0        # groups, as last read from the device
        self._bound = 0        # upper bound on the groups
        self._overflow_checked = True
        self._sbest: dict[int, np.ndarray] = {}   # string MIN/MAX: host codes by gid (-1: none)
        # (gid, word[, position]) pairs: sorted and unique for the DISTINCT aggregates, in
        # arrival order for the quantiles, with positions for STRING_AGG / MODE; for LIST
        # (gid, word, position, valid[, ordering word, its valid]), NULL values included
        self._pairs: dict[int, tuple] = {}
        self._ptr_tables: dict[tuple, tuple[Any, Any]] = {}   # gv_acc_multi: (flags, pointers)
        with self.stream:
            self._counter = cp.zeros(1, dtype=cp.uint64)
            self._add("__live", cp.bool_, False)
            self._add("__changed", cp.uint8, 0)
            for j, agg in enumerate(spec.aggs):
                self._init_acc(j, agg)
            self._grow(1024, 2048)
            if not spec.key_dtypes:   # a global aggregate always has its one group
                self._gids_of_words(cp.zeros((1, 1), dtype=cp.uint64))
                self.clear_changed()

    # ------------------------------------------------------------------ storage
    def _add(self, name: str, dtype, fill) -> None:
        self._fills[name] = (dtype, fill)
        self._acc[name] = _cp().full(self._gcap, fill, dtype=dtype)

    def _init_acc(self, j: int, agg) -> None:
        cp = _cp()
        f = agg.func
        self._add(acc_name(j, "n"), cp.uint64, 0)
        if f in ("sum", "avg"):
            self._add(acc_name(j, "lo"), cp.uint64, 0)
            self._add(acc_name(j, "hi"), cp.uint64, 0)
            self._add(acc_name(j, "fsum"), cp.float64, 0.0)
        elif f in ("min", "max"):
            self._add(acc_name(j, "ord"), cp.uint64, U64_MAX if f == "min" else 0)
            if agg.arg_dtype.is_string:
                self._sbest[j] = np.zeros(0, np.int64)
        elif f in VAR_FUNCS:
            self._add(acc_name(j, "mean"), cp.float64, 0.0)
            self._add(acc_name(j, "m2"), cp.float64, 0.0)
        elif f in POSITIONAL:
            self._add(acc_name(j, "best"), cp.uint64, U64_MAX if f in EARLIEST else 0)
            self._add(acc_name(j, "val"), cp.uint64, 0)
            self._add(acc_name(j, "vvalid"), cp.uint8, 0)
        elif f in comoments.FUNCS:
            for k in comoments.FIELDS[1:]:
                self._add(acc_name(j, k), cp.float64, 0.0)
        elif f in ARG_FUNCS:
            self._add(acc_name(j, "apos"), cp.int64, NO_POS)
            self._add(acc_name(j, "aord"), cp.uint64, 0)     # order word of the chosen row
            self._add(acc_name(j, "val"), cp.uint64, 0)
            self._add(acc_name(j, "vvalid"), cp.uint8, 0)
        elif f in DISTINCT_FUNCS or f in LIST_FUNCS:   # (gid, value word) pairs
            self._pairs[j] = (cp.zeros(0, cp.int64), cp.zeros(0, cp.uint64))
        elif f in POSLIST_FUNCS:
            self._pairs[j] = (cp.zeros(0, cp.int64), cp.zeros(0, cp.uint64), cp.zeros(0, cp.int64))
        elif f == "list":
            ordered = agg.arg2_dtype is not None
            self._pairs[j] = (cp.zeros(0, cp.int64), cp.zeros(0, cp.uint64), cp.zeros(0, cp.int64),
                              cp.zeros(0, bool)) + ((cp.zeros(0, cp.uint64), cp.zeros(0, bool)) if ordered else ())

    def _grow(self, gcap: int, tcap: int) -> None:
        """Make room for ``gcap`` groups and rebuild the table with ``tcap`` slots."""
        cp = _cp()
        if gcap > self._gcap:
            for name, (dtype, fill) in self._fills.items():
                arr = cp.full(gcap, fill, dtype=dtype)
                arr[: self._gcap] = self._acc[name]
                self._acc[name] = arr
            kw = cp.zeros((self._W, gcap), dtype=cp.uint64)
            if self._gcap:
                kw[:, : self._gcap] = self._kw
            self._kw = kw
            for j in self._sbest:
                grown = np.full(gcap, -1, np.int64)
                grown[: self._sbest[j].shape[0]] = self._sbest[j]
                self._sbest[j] = grown
            self._gcap = gcap
        self._slots = cp.full(tcap, -1, dtype=cp.int64)
        if self._bound == 0:      # no group was ever handed out: nothing to re-insert (no sync)
            return
        live = cp.flatnonzero(self._acc["__live"]).astype(cp.int64)
        _launch("gv_table_rebuild", int(live.shape[0]),
                (live, np.int64(live.shape[0]), self._kw, np.int32(self._W), np.int64(self._gcap),
                 self._slots, np.int64(tcap - 1)))

    def _reserve(self, rows: int) -> None:
        """Ensure ``rows`` more groups fit below load factor 1/2 (reads the group counter only
        when the upper bound says it might not)."""
        if 2 * (self._bound + rows) <= self._slots.shape[0] and self._bound + rows <= self._gcap:
            return
        self._known = int(self._fetch(self._counter)[0])
        self._bound = self._known
        need = self._known + rows
        if 2 * need > self._slots.shape[0] or need > self._gcap:
            tcap = 1 << max(11, int(2 * need - 1).bit_length())
            self._grow(max(need, 2 * self._gcap), tcap)

    # ------------------------------------------------------------------ keys
    def _group_words(self, keys: Sequence[Col], n: int):
        """Exact group words (W, n): a word per key (strings: interned codes), then NULL bits."""
        cp = _cp()
        words = cp.empty((self._W, n), dtype=cp.uint64)
        words[-1] = 0     # the NULL bits; every key word is written below
        for i, col in enumerate(keys):
            if col.dtype.is_string:
                codes = cp.asarray(self._interner.codes(col.dictionary)) if len(col.dictionary) \
                    else cp.zeros(1, cp.int64)
                w = codes[col.data].view(cp.uint64)
            else:
                w = keyhash.key_words(Col(col.data, None, col.dtype), cp)
            if col.valid is not None:
                w = cp.where(col.valid, w, cp.uint64(0))
                words[-1] |= (~col.valid).astype(cp.uint64) << cp.uint64(i)
            words[i] = w
        return words

    def _gids_of_words(self, words):
        cp = _cp()
        n = int(words.shape[1])
        self._reserve(n)
        gids = cp.empty(n, dtype=cp.int64)
        _launch("gv_table_upsert", n,
                (cp.ascontiguousarray(words), np.int32(self._W), np.int64(n), self._slots,
                 np.int64(self._slots.shape[0] - 1), self._kw, np.int64(self._gcap), self._counter,
                 gids, self._acc["__changed"], _u8(self._acc["__live"])))
        self._bound += n
        return gids

    # ------------------------------------------------------------------ values
    def _values(self, col: Col):
        """An argument as the kernels' value array: float64, int64/uint64, or string codes."""
        cp = _cp()
        d = col.dtype
        if d.is_string:
            if not len(col.dictionary):
                return cp.zeros(len(col), cp.int64)
            return cp.asarray(self._interner.codes(col.dictionary))[col.data]
        if d.is_float:
            return cp.ascontiguousarray(col.data.astype(cp.float64, copy=False))
        return cp.ascontiguousarray(col.data.astype(cp.uint64 if d.kind == "uint64" else cp.int64,
                                                    copy=False))

    def _words(self, col: Col, vals, canonical: bool = True):
        """64-bit value words for FIRST/LAST and (``canonical``: floats canonicalised) DISTINCT."""
        cp = _cp()
        if col.dtype.is_float and canonical:
            return keyhash.key_words(Col(vals, None, T.FLOAT64), cp)
        return vals.view(cp.uint64)

    def _fetch(self, x) -> np.ndarray:
        """Copy a device array to the host on the state's stream and wait for it: CuPy's
        ``get(stream=...)`` only *starts* the copy, so reading the result before the stream
        has finished reads garbage."""
        out = x.get(stream=self.stream)
        self.stream.synchronize()
        return out

    # ------------------------------------------------------------------ update / merge
    @contextmanager
    def _section(self):
        """Run a public method's device work on the state's stream, after the work the caller
        already queued on its stream and before any work the caller queues next. Every read
        and write of the state happens inside one; host copies go through ``_fetch``."""
        cp = _cp()
        caller = cp.cuda.get_current_stream()
        if caller == self.stream:     # nested: already ordered
            yield
            return
        self.stream.wait_event(caller.record())
        try:
            with self.stream:
                yield
        finally:
            caller.wait_event(self.stream.record())

    def update(self, keys: Sequence[Col], args: Sequence[Col | None], positions) -> None:
        """Fold a batch in: find/insert groups, then one accumulator pass per argument for
        COUNT/SUM/AVG/MIN/MAX (``_fused``) and one per other aggregate."""
        n = len(positions)
        if n == 0:
            return
        try:
            with self._section():
                cp = _cp()
                gids = self._gids_of_words(self._group_words(keys, n))
                fused = self._fused(args)
                for col, members in fused:
                    self._acc_multi(gids, n, col, members)
                done = {j for _, members in fused for j in members}
                pos = None
                for j, (agg, col) in enumerate(zip(self.spec.aggs, args)):
                    if j in done:
                        continue
                    if pos is None:
                        pos = cp.ascontiguousarray(cp.asarray(positions, dtype=cp.int64))
                    self._update_one(j, agg, col, gids, n, pos)
        except Exception as e:  # noqa: BLE001
            from .gpu import _is_oom, _oom

            if _is_oom(e):
                raise _oom(e, n) from e
            raise

    def _fused(self, args) -> list[tuple[Col | None, list[int]]]:
        """The numeric COUNT/SUM/AVG/MIN/MAX aggregates grouped by argument (the same Col
        object: the row stage shares one Col between aggregates of one expression), each
        group folded by one ``gv_acc_multi`` pass. COUNT(*) joins the first group whose
        argument has no NULLs (its rows are then every row), else runs alone (Col None)."""
        groups: dict[tuple, tuple[Col | None, list[int]]] = {}
        stars = []
        for j, (agg, col) in enumerate(zip(self.spec.aggs, args)):
            f = agg.func
            if f == "count_star":
                stars.append(j)
            elif f in _FUSED and col is not None and not (f in ("min", "max") and agg.arg_dtype.is_string):
                groups.setdefault((id(col), _value_kind(agg.arg_dtype)), (col, []))[1].append(j)
        out = list(groups.values())
        if stars:
            host = next((g for g in out if g[0].valid is None), None)
            if host is None:
                out.append((None, stars))
            else:
                host[1].extend(stars)
        return out

    def _acc_multi(self, gids, n, col: Col | None, members: list[int]) -> None:
        """One ``gv_acc_multi`` pass of argument ``col`` for the aggregates ``members``."""
        cp = _cp()
        flags = [_FUSED[self.spec.aggs[j].func] for j in members]
        ptrs = []
        for j in members:
            cnt = self._acc[acc_name(j, "n")]
            get = lambda f: self._acc.get(acc_name(j, f), cnt).data.ptr  # noqa: E731
            ptrs += [cnt.data.ptr, get("lo"), get("hi"), get("fsum"), get("ord"), get("ord")]
        key = (tuple(members), tuple(ptrs))
        table = self._ptr_tables.get(key)
        if table is None:      # accumulators moved (grown, compacted): a new pointer table
            table = (cp.asarray(np.array(flags, np.int32)), cp.asarray(np.array(ptrs, np.uint64)))
            self._ptr_tables = {k: v for k, v in self._ptr_tables.items() if k[0] != key[0]}
            self._ptr_tables[key] = table
        use_vals = any(flags)
        kind = _value_kind(self.spec.aggs[members[0]].arg_dtype) if use_vals else KIND_I64
        vals = self._values(col) if use_vals else None
        valid = None if col is None else col.valid
        _launch("gv_acc_multi", n, (gids, vals, np.int32(kind), _u8(valid), None, np.int64(n),
                                    np.int32(len(members)), table[0], table[1], self._counter,
                                    np.uint64(SHARED_GROUPS)))

    def _acc_num(self, j, gids, n, vals, kind, valid, nadd, flags, into=None) -> None:
        cp = _cp()
        a = into or self._acc
        dummy_u, dummy_f = a.get(acc_name(j, "n")), cp.zeros(1, cp.float64)
        get = lambda f, d: a.get(acc_name(j, f), d)  # noqa: E731
        ord_arr = get("ord", dummy_u)
        use_shared = np.int32(self._known <= SHARED_GROUPS)
        _launch("gv_acc_num", n,
                (gids, vals, np.int32(kind), _u8(valid), nadd,
                 np.int64(n), np.int32(flags), use_shared, a[acc_name(j, "n")],
                 get("lo", dummy_u), get("hi", dummy_u), get("fsum", dummy_f), ord_arr, ord_arr))

    def _update_one(self, j, agg, col, gids, n, positions, nadd=None, extra=None) -> None:
        cp = _cp()
        f = agg.func
        if f in ARG_FUNCS:
            self._arg_update(j, agg, col, gids, positions, extra)
            return
        if f == "list":
            self._list_update(j, col, gids, positions)
            return
        if f in comoments.FUNCS:
            self._comoment_update(j, col, gids)
            return
        valid = None if col is None else col.valid
        if f == "count_star" or f == "count":
            self._acc_num(j, gids, n, None, KIND_I64, valid if f == "count" else None, nadd, 0)
            return
        vals = self._values(col)
        kind = _value_kind(agg.arg_dtype)
        if f in ("sum", "avg"):
            self._acc_num(j, gids, n, vals, kind, valid, nadd, F_SUM)
        elif f in ("min", "max") and agg.arg_dtype.is_string:
            self._string_best(j, agg, gids, n, col, valid, nadd)
        elif f in ("min", "max"):
            self._acc_num(j, gids, n, vals, kind, valid, nadd, F_MIN if f == "min" else F_MAX)
        elif f in VAR_FUNCS:
            self._moments(j, gids, n, _floats(vals, agg.arg_dtype), valid, nadd, extra)
        elif f in POSITIONAL:
            # eligible rows: merged partials say by their position's validity; any_value
            # chooses among non-NULL values
            pvalid = extra if extra is not None else (valid if f == "any_value" else None)
            args = (gids, positions, _u8(pvalid), np.int64(n),
                    np.int32(f == "last"), self._acc[acc_name(j, "best")])
            _launch("gv_acc_pos", n, args)
            _launch("gv_fetch_pos", n, args + (cp.ascontiguousarray(self._words(col, vals, False)),
                                               _u8(valid),
                                               self._acc[acc_name(j, "val")],
                                               self._acc[acc_name(j, "vvalid")]))
        elif f in DISTINCT_FUNCS or f in LIST_FUNCS or f in POSLIST_FUNCS:
            keep = cp.ones(n, bool) if valid is None else valid
            distinct = f in DISTINCT_FUNCS
            pos = positions[keep] if f in POSLIST_FUNCS else None
            self._add_pairs(j, gids[keep], self._words(col, vals, canonical=distinct)[keep], distinct, pos)

    def _list_update(self, j, arg: ListArg, gids, positions) -> None:
        """LIST: append the (gid, value word, position, valid[, ordering word, valid]) of the
        rows its FILTER keeps, NULL values included (in arrival order, like the quantiles')."""
        cp = _cp()
        n = gids.shape[0]
        rows = cp.arange(n, dtype=cp.int64) if arg.keep is None else cp.flatnonzero(arg.keep)

        def part(col: Col) -> tuple:
            words = self._words(col, self._values(col), canonical=False)[rows]
            return words, (cp.ones(rows.shape[0], bool) if col.valid is None else col.valid[rows])

        vw, vv = part(arg.value)
        new = (gids[rows], vw, positions[rows], vv)
        if len(self._pairs[j]) > 4:
            new += part(arg.order)
        self._pairs[j] = tuple(cp.concatenate([old, add]) for old, add in zip(self._pairs[j], new))

    def _comoment_update(self, j, pair: ColPair, gids) -> None:
        """CORR / COVAR / REGR_*: the batch's co-moments per group, merged into the stored ones."""
        cp = _cp()
        a, b = pair.value, pair.order
        ok = a.valid if b.valid is None else (b.valid if a.valid is None else a.valid & b.valid)
        rows = cp.arange(gids.shape[0], dtype=cp.int64) if ok is None else cp.flatnonzero(ok)
        new = comoments.batch(cp, gids[rows], _floats(self._values(a), a.dtype)[rows],
                              _floats(self._values(b), b.dtype)[rows], self._gcap)
        self._comoment_merge(j, slice(None), new)

    def _comoment_merge(self, j, at, new: dict) -> None:
        acc = self._acc
        old = {k: acc[acc_name(j, k)][at] for k in comoments.FIELDS}
        for k, v in comoments.merge(_cp(), old, new).items():
            acc[acc_name(j, k)][at] = v

    def _order_words(self, col: Col):
        """Order-preserving uint64 words of numbers, times and booleans (the min/max words
        ``_decode(ordered=True)`` reads): NaN canonical and largest, -0.0 equal to 0.0."""
        cp = _cp()
        vals = self._values(col)
        if col.dtype.is_float:
            x = cp.where(vals == 0, 0.0, vals)                 # -0.0 -> 0.0
            bits = cp.where(cp.isnan(x), cp.nan, x).view(cp.uint64)
            return cp.where((bits >> cp.uint64(63)) != 0, ~bits, bits | cp.uint64(2**63))
        if col.dtype.kind == "uint64":
            return vals.view(cp.uint64)
        return vals.view(cp.uint64) ^ cp.uint64(2**63)

    def _arg_update(self, j, agg, pair: ColPair, gids, positions, eligible=None) -> None:
        """ARG_MAX / ARG_MIN: per group the best eligible row of the batch (sorted by group,
        ordering word, position), kept where it beats the stored row."""
        cp = _cp()
        v, w = pair.value, pair.order
        ok = eligible
        if ok is None:
            ok = v.valid if w.valid is None else (w.valid if v.valid is None else v.valid & w.valid)
        enc = self._order_words(w)
        flip = agg.func == "arg_max"            # largest first: sort the complemented words
        rows = cp.arange(gids.shape[0], dtype=cp.int64) if ok is None else cp.flatnonzero(ok)
        g, k, p = gids[rows], (~enc if flip else enc)[rows], positions[rows]
        order = cp.lexsort(cp.stack([p.astype(cp.uint64), k, g.astype(cp.uint64)]))
        g, k, p, rows = g[order], k[order], p[order], rows[order]
        head = cp.ones(g.shape[0], dtype=bool)
        head[1:] = g[1:] != g[:-1]
        g, k, p, rows = g[head], k[head], p[head], rows[head]
        a = self._acc
        old_p = a[acc_name(j, "apos")][g]
        old_k = a[acc_name(j, "aord")][g]
        old_k = ~old_k if flip else old_k
        better = (old_p == NO_POS) | (k < old_k) | ((k == old_k) & (p < old_p))
        g, rows = g[better], rows[better]
        a[acc_name(j, "apos")][g] = p[better]
        a[acc_name(j, "aord")][g] = enc[rows]
        a[acc_name(j, "val")][g] = self._words(v, self._values(v), False)[rows]
        a[acc_name(j, "vvalid")][g] = 1 if v.valid is None else v.valid[rows].astype(cp.uint8)

    def _moments(self, j, gids, n, x, valid, nrow, m2row) -> None:
        """Per-batch (n, mean, M2) per group in two passes, combined with the stored ones."""
        cp = _cp()
        tmp = {acc_name(j, "n"): cp.zeros(self._gcap, cp.uint64),
               acc_name(j, "fsum"): cp.zeros(self._gcap, cp.float64)}
        xs = x if nrow is None else x * nrow.astype(cp.float64)
        self._acc_num(j, gids, n, xs, KIND_F64, valid, nrow, F_SUM, into=tmp)
        nb_u, sb = tmp[acc_name(j, "n")], tmp[acc_name(j, "fsum")]
        m2b = cp.zeros(self._gcap, cp.float64)
        _launch("gv_acc_m2", n, (gids, cp.ascontiguousarray(x), _u8(valid),
                                 nrow, m2row, np.int64(n), nb_u, sb, m2b))
        a = self._acc
        na = a[acc_name(j, "n")].astype(cp.float64)
        nb = nb_u.astype(cp.float64)
        tot = na + nb
        safe = cp.maximum(tot, 1.0)
        mb = sb / cp.maximum(nb, 1.0)
        delta = mb - a[acc_name(j, "mean")]
        has_b = nb > 0
        a[acc_name(j, "mean")] = cp.where(has_b, a[acc_name(j, "mean")] + delta * nb / safe, a[acc_name(j, "mean")])
        a[acc_name(j, "m2")] = cp.where(has_b, a[acc_name(j, "m2")] + m2b + delta * delta * na * nb / safe,
                                        a[acc_name(j, "m2")])
        a[acc_name(j, "n")] += nb_u

    def _add_pairs(self, j, g, w, distinct: bool = True, pos=None) -> None:
        """Append (gid, value word[, position]) pairs; ``distinct`` keeps each pair once
        (sorted); ``pos``: the positions, for pairs that keep them."""
        cp = _cp()
        new = (g, w) if pos is None else (g, w, pos)
        if not distinct:
            self._pairs[j] = tuple(cp.concatenate([old, add]) for old, add in zip(self._pairs[j], new))
            return
        g0, w0 = self._pairs[j]
        g = cp.concatenate([g0, g])
        w = cp.concatenate([w0, w])
        order = cp.lexsort(cp.stack([w, g.astype(cp.uint64)]))   # one dtype: no float64 promotion
        g, w = g[order], w[order]
        keep = cp.ones(g.shape[0], dtype=bool)
        keep[1:] = (g[1:] != g[:-1]) | (w[1:] != w[:-1])
        self._pairs[j] = (g[keep], w[keep])

    def _string_best(self, j, agg, gids, n, col, valid, nadd) -> None:
        """String MIN/MAX (host hybrid, see gpu.py): the batch's best per group on the device by
        dictionary rank, then one host comparison per touched group."""
        cp = _cp()
        is_min = agg.func == "min"
        if col.dictionary is not None:
            dictionary = pc.fill_null(col.dictionary, "")
            rank = np.empty(len(dictionary), np.uint64)
            sort = np.asarray(pc.sort_indices(dictionary))
            rank[sort] = np.arange(len(dictionary), dtype=np.uint64)
            codes_sorted = self._interner.codes(dictionary)[sort]
            rvals = cp.asarray(rank)[col.data] if len(dictionary) else cp.zeros(n, cp.uint64)
        else:   # merge: values already interned codes, one row per group
            rvals, codes_sorted = col.data, None
        tmp = {acc_name(j, "n"): cp.zeros(self._gcap, cp.uint64),
               acc_name(j, "ord"): cp.full(self._gcap, U64_MAX if is_min else 0, cp.uint64)}
        self._acc_num(j, gids, n, rvals.astype(cp.uint64), KIND_U64, valid, nadd,
                      F_MIN if is_min else F_MAX, into=tmp)
        self._acc[acc_name(j, "n")] += tmp[acc_name(j, "n")]
        touched = cp.flatnonzero(tmp[acc_name(j, "n")])
        g = cp.asnumpy(touched)
        best = cp.asnumpy(tmp[acc_name(j, "ord")][touched]).astype(np.int64)
        cand = best if codes_sorted is None else codes_sorted[best]
        old = self._sbest[j][g]
        strings = self._interner.strings()
        has_old = old >= 0
        cmp = pc.less if is_min else pc.greater
        better = np.ones(g.shape[0], bool)
        if has_old.any():
            better[has_old] = np.asarray(cmp(strings.take(pa.array(cand[has_old])),
                                             strings.take(pa.array(old[has_old]))))
        self._sbest[j][g] = np.where(better, cand, old)

    def merge(self, partials: pa.Table) -> None:
        """Fold in a partials table (``partials.py`` layout), at most one row per group."""
        cp = _cp()
        m = partials.num_rows
        if m == 0:
            return
        with self._section():
            keys = [self._dev(arrow_to_col(partials.column(key_name(i)), d))
                    for i, d in enumerate(self.spec.key_dtypes)]
            gids = self._gids_of_words(self._group_words(keys, m) if keys else cp.zeros((1, m), cp.uint64))
            for j, agg in enumerate(self.spec.aggs):
                self._merge_one(j, agg, partials, gids, m)

    def _dev(self, col: Col) -> Col:
        cp = _cp()
        return Col(cp.asarray(col.data), None if col.valid is None else cp.asarray(col.valid),
                   col.dtype, col.dictionary)

    def _merge_one(self, j, agg, p: pa.Table, gids, m) -> None:
        cp = _cp()
        f = agg.func
        field = lambda name: p.column(acc_name(j, name))  # noqa: E731
        val_dtype = T.INT64 if agg.arg_dtype is not None and agg.arg_dtype.is_decimal else agg.arg_dtype
        if f == "list":
            values = field("vals").combine_chunks()
            if len(values):
                owner = gids[cp.asarray(np.asarray(values.value_parent_indices()))]
                pos = cp.asarray(np.asarray(field("vpos").combine_chunks().flatten(), dtype=np.int64))
                order = None
                if agg.arg2_dtype is not None:
                    ord_dtype = T.INT64 if agg.arg2_dtype.is_decimal else agg.arg2_dtype
                    order = self._dev(arrow_to_col(field("vord").combine_chunks().flatten(), ord_dtype))
                value = self._dev(arrow_to_col(values.flatten(), val_dtype))
                self._list_update(j, ListArg(value, order), owner, pos)
            return
        if f in DISTINCT_FUNCS or f in LIST_FUNCS or f in POSLIST_FUNCS:
            distinct = f in DISTINCT_FUNCS
            lists = field("set" if distinct else "vals").combine_chunks()
            values = lists.flatten()
            if len(values):
                owner = gids[cp.asarray(np.asarray(lists.value_parent_indices()))]
                col = self._dev(arrow_to_col(values, val_dtype))
                keep = cp.ones(len(values), bool) if col.valid is None else col.valid
                words = self._words(col, self._values(col), canonical=distinct)
                pos = None
                if f in POSLIST_FUNCS:
                    flat = np.asarray(field("vpos").combine_chunks().flatten(), dtype=np.int64)
                    pos = cp.asarray(flat)[keep]
                self._add_pairs(j, owner[keep], words[keep], distinct, pos)
            return
        if f in comoments.FUNCS:
            new = {k: cp.asarray(np.asarray(field(k).combine_chunks().fill_null(0)))
                   for k in comoments.FIELDS}
            self._comoment_merge(j, gids, new)
            return
        if f in ARG_FUNCS:
            pos = p.column(acc_name(j, "pos")).combine_chunks()
            ok = cp.asarray(np.asarray(pos.is_valid()))
            posd = cp.asarray(np.asarray(pc.fill_null(pos, 0)), dtype=cp.int64)
            ord_dtype = T.INT64 if agg.arg2_dtype.is_decimal else agg.arg2_dtype
            pair = ColPair(self._dev(arrow_to_col(field("val"), val_dtype)),
                           self._dev(arrow_to_col(field("ord"), ord_dtype)))
            self._arg_update(j, agg, pair, gids, posd, ok)
            return
        if f in POSITIONAL:
            pos = p.column(acc_name(j, "pos")).combine_chunks()
            pvalid = cp.asarray(np.asarray(pos.is_valid()))
            posd = cp.asarray(np.asarray(pc.fill_null(pos, 0)), dtype=cp.int64)
            col = self._dev(arrow_to_col(field("val"), val_dtype))
            self._update_one(j, agg, col, gids, m, posd, extra=pvalid)
            return
        nadd = cp.asarray(np.asarray(field("n").combine_chunks().fill_null(0)), dtype=cp.int64)
        if f in ("count_star", "count"):
            self._acc_num(j, gids, m, None, KIND_I64, None, nadd, 0)
        elif f in ("sum", "avg"):
            dt = T.FLOAT64 if agg.arg_dtype.is_float else T.INT64
            col = self._dev(arrow_to_col(pc.fill_null(field("sum"), 0), dt))
            self._acc_num(j, gids, m, self._values(col), _value_kind(dt), None, nadd, F_SUM)
        elif f in ("min", "max") and agg.arg_dtype.is_string:
            vals = field("val").combine_chunks()
            valid = cp.asarray(np.asarray(vals.is_valid()))
            codes = cp.asarray(self._interner.codes(vals))
            self._string_best(j, agg, gids, m, Col(codes, valid, agg.arg_dtype, None), valid, nadd)
        elif f in ("min", "max"):
            col = self._dev(arrow_to_col(field("val"), val_dtype))
            self._update_one(j, agg, Col(col.data, col.valid, val_dtype), gids, m, None, nadd=nadd)
        else:
            mean = cp.asarray(np.asarray(field("mean").combine_chunks().fill_null(0.0)), dtype=cp.float64)
            m2 = cp.asarray(np.asarray(field("m2").combine_chunks().fill_null(0.0)), dtype=cp.float64)
            self._moments(j, gids, m, mean, None, nadd, m2)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def num_groups(self) -> int:
        """Number of live groups."""
        with self._section():
            return int(self._fetch(self._acc["__live"].sum()))

    def live_gids(self) -> np.ndarray:
        """All live group ids, ascending (host)."""
        cp = _cp()
        with self._section():
            return self._fetch(cp.flatnonzero(self._acc["__live"])).astype(np.int64)

    def changed(self) -> np.ndarray:
        """Group ids changed since the last ``clear_changed()`` (host)."""
        cp = _cp()
        with self._section():
            ch = (self._acc["__changed"] != 0) & self._acc["__live"]
            return self._fetch(cp.flatnonzero(ch)).astype(np.int64)

    def clear_changed(self) -> None:
        """Forget which groups changed."""
        with self._section():
            self._acc["__changed"].fill(0)

    def evict(self, gids) -> None:
        """Drop groups (their window closed). When dead groups outnumber live ones the state
        is compacted: memory is freed and the live groups are renumbered 0..m-1 in gid order,
        so gids obtained before an evict are invalid after it. Otherwise the table is rebuilt
        from the live groups."""
        cp = _cp()
        gids = np.asarray(cp.asnumpy(gids), dtype=np.int64)
        if gids.size == 0:
            return
        with self._section():
            g = cp.asarray(gids)
            self._acc["__live"][g] = False
            self._acc["__changed"][g] = 0
            for j, parts in self._pairs.items():
                keep = self._acc["__live"][parts[0]]
                self._pairs[j] = tuple(a[keep] for a in parts)
            issued = int(self._fetch(self._counter)[0])
            live = int(self._fetch(self._acc["__live"].sum()))
            if issued >= COMPACT_MIN and 2 * live < issued:
                self._compact()
            else:
                self._grow(self._gcap, int(self._slots.shape[0]))

    def _compact(self) -> None:
        """Renumber the live groups 0..m-1 (keeping their order), drop every array row of the
        dead ones, and rebuild the table."""
        cp = _cp()
        live = cp.flatnonzero(self._acc["__live"]).astype(cp.int64)
        m = int(live.shape[0])
        gcap = max(1024, 2 * m)
        for name, (dtype, fill) in self._fills.items():
            arr = cp.full(gcap, fill, dtype=dtype)
            arr[:m] = self._acc[name][live]
            self._acc[name] = arr
        kw = cp.zeros((self._W, gcap), dtype=cp.uint64)
        kw[:, :m] = self._kw[:, live]
        self._kw = kw
        live_h = self._fetch(live)
        for j in self._sbest:
            kept = np.full(gcap, -1, np.int64)
            kept[:m] = self._sbest[j][live_h]
            self._sbest[j] = kept
        new_id = cp.full(self._gcap, -1, dtype=cp.int64)
        new_id[live] = cp.arange(m, dtype=cp.int64)
        for j, parts in self._pairs.items():   # monotone renumbering: still sorted
            self._pairs[j] = (new_id[parts[0]], *parts[1:])
        self._gcap = gcap
        self._counter.fill(m)
        self._known = self._bound = m
        self._grow(gcap, 1 << max(11, int(2 * m).bit_length()))

    def keys(self, gids=None) -> pa.Table:
        """The key columns (k0..) of ``gids`` (all live groups when None), host Arrow."""
        with self._section():
            return pa.table(self._key_columns(self._select(gids)))

    def lookup(self, keys: Sequence[Col]) -> np.ndarray:
        """Host int64 gid of each row of ``keys`` (host or device Cols, one per key column);
        -1 where no live group has that key."""
        cp = _cp()
        n = len(keys[0])
        if n == 0:
            return np.zeros(0, np.int64)
        with self._section():
            words = self._group_words([self._dev(k) for k in keys], n)
            gids = cp.empty(n, dtype=cp.int64)
            _launch("gv_table_lookup", n,
                    (words, np.int32(self._W), np.int64(n), self._slots,
                     np.int64(self._slots.shape[0] - 1), self._kw, np.int64(self._gcap), gids))
            return self._fetch(gids)

    # ------------------------------------------------------------------ output
    def _select(self, gids) -> np.ndarray:
        return self.live_gids() if gids is None else np.asarray(gids, dtype=np.int64)

    def _host(self, name: str, g: np.ndarray) -> np.ndarray:
        cp = _cp()
        return self._fetch(self._acc[name][cp.asarray(g)])

    def _decode(self, words: np.ndarray, d: T.DType, valid, ordered: bool, raw_decimal=True) -> pa.Array:
        """Host Arrow array of values held as 64-bit words (``ordered``: min/max words;
        decimals as their unscaled int64 unless not ``raw_decimal``)."""
        if ordered:
            if d.is_float:
                neg = (words >> np.uint64(63)) == 0
                words = np.where(neg, ~words, words & np.uint64(2**63 - 1))
            elif d.kind != "uint64" and not d.is_string:
                words = words ^ np.uint64(2**63)
        if d.is_string:
            return self._interner.strings().take(pa.array(words.view(np.int64), mask=~valid))
        if d.is_float:
            data = words.view(np.float64).astype(d.kind)
        elif d.is_decimal and raw_decimal:
            return pa.array(words.view(np.int64), mask=~valid)
        else:
            from ..arrowcol import numpy_dtype

            data = words.view(np.uint64 if d.kind == "uint64" else np.int64).astype(numpy_dtype(d))
        return col_to_arrow(Col(data, valid, d))

    def _check_overflow(self) -> None:
        cp = _cp()
        for j, agg in enumerate(self.spec.aggs):
            if agg.func in ("sum", "avg") and not agg.arg_dtype.is_float:
                lo, hi = self._acc[acc_name(j, "lo")], self._acc[acc_name(j, "hi")]
                sign = (lo >> cp.uint64(63)) * cp.uint64(U64_MAX)
                if bool(self._fetch(cp.any((hi != sign) & self._acc["__live"]))):
                    raise ArithmeticOverflowError(f"SUM of {agg.arg_dtype} overflows a 64-bit integer")

    def partials(self, gids=None) -> pa.Table:
        """Accumulators of ``gids`` (all live groups when None) in the ``partials.py`` layout."""
        with self._section():
            return self._partials(gids)

    def _partials(self, gids) -> pa.Table:
        self._check_overflow()
        g = self._select(gids)
        schema = self._ref.partials_schema()
        cols = self._key_columns(g)
        for j, agg in enumerate(self.spec.aggs):
            f = agg.func
            n = self._host(acc_name(j, "n"), g).astype(np.int64)
            if "n" in ACC_FIELDS[f]:
                cols[acc_name(j, "n")] = pa.array(n)
            if f in ("sum", "avg"):
                s = self._host(acc_name(j, "fsum"), g) if agg.arg_dtype.is_float else \
                    self._host(acc_name(j, "lo"), g).view(np.int64)
                cols[acc_name(j, "sum")] = pa.array(s)
            elif f in ("min", "max"):
                if agg.arg_dtype.is_string:
                    codes = self._sbest[j][g]
                    cols[acc_name(j, "val")] = self._decode(codes.view(np.uint64), agg.arg_dtype,
                                                            codes >= 0, ordered=False)
                else:
                    cols[acc_name(j, "val")] = self._decode(self._host(acc_name(j, "ord"), g),
                                                            agg.arg_dtype, n > 0, ordered=True)
            elif f in VAR_FUNCS:
                cols[acc_name(j, "mean")] = pa.array(self._host(acc_name(j, "mean"), g))
                cols[acc_name(j, "m2")] = pa.array(self._host(acc_name(j, "m2"), g))
            elif f in POSITIONAL:
                best = self._host(acc_name(j, "best"), g)
                none = best == (np.uint64(U64_MAX) if f in EARLIEST else np.uint64(0))
                pos = best.astype(np.int64) - (1 if f == "last" else 0)
                cols[acc_name(j, "pos")] = pa.array(pos, mask=none)
                valid = (self._host(acc_name(j, "vvalid"), g) != 0) & ~none
                cols[acc_name(j, "val")] = self._decode(self._host(acc_name(j, "val"), g),
                                                        agg.arg_dtype, valid, ordered=False)
            elif f in comoments.FUNCS:
                for k in comoments.FIELDS[1:]:
                    cols[acc_name(j, k)] = pa.array(self._host(acc_name(j, k), g))
            elif f in ARG_FUNCS:
                pos = self._host(acc_name(j, "apos"), g)
                none = pos == NO_POS
                cols[acc_name(j, "pos")] = pa.array(pos, mask=none)
                ord_dtype = T.INT64 if agg.arg2_dtype.is_decimal else agg.arg2_dtype
                cols[acc_name(j, "ord")] = self._decode(self._host(acc_name(j, "aord"), g), ord_dtype,
                                                        ~none, ordered=True)
                valid = (self._host(acc_name(j, "vvalid"), g) != 0) & ~none
                cols[acc_name(j, "val")] = self._decode(self._host(acc_name(j, "val"), g),
                                                        agg.arg_dtype, valid, ordered=False)
            elif f == "list":
                cols.update(self._list_columns(j, agg, g))
            elif f in DISTINCT_FUNCS or f in LIST_FUNCS or f in POSLIST_FUNCS:
                name = acc_name(j, "set" if f in DISTINCT_FUNCS else "vals")
                cols[name] = self._sets(j, agg, g, schema.field(name).type)
                if f in POSLIST_FUNCS:
                    cols[acc_name(j, "vpos")] = self._sets(j, agg, g, schema.field(acc_name(j, "vpos")).type,
                                                           positions=True)
        return pa.Table.from_arrays([cols[f.name].cast(f.type) for f in schema], schema=schema)

    def _key_columns(self, g: np.ndarray) -> dict[str, pa.Array]:
        """Host Arrow key columns k0.. of the groups ``g``, typed as in the partials."""
        schema = self._ref.partials_schema()
        kw = self._fetch(self._kw[:, _cp().asarray(g)]) if g.size else \
            np.zeros((self._W, 0), np.uint64)
        cols = {}
        for i, d in enumerate(self.spec.key_dtypes):
            valid = ((kw[-1] >> np.uint64(i)) & np.uint64(1)) == 0
            arr = self._decode(kw[i], d, valid, ordered=False, raw_decimal=False)
            cols[key_name(i)] = arr.cast(schema.field(key_name(i)).type)
        return cols

    def _sets(self, j, agg, g: np.ndarray, list_type, positions: bool = False) -> pa.Array:
        """The value lists (or, with ``positions``, the positions lists) of groups ``g`` from
        the device pairs (only those pairs move)."""
        cp = _cp()
        wanted = cp.zeros(self._gcap + 1, dtype=bool)
        wanted[cp.asarray(g)] = True
        dg, dw = self._pairs[j][0], self._pairs[j][2 if positions else 1]
        pick = wanted[dg]
        pg, pw = self._fetch(dg[pick]), self._fetch(dw[pick])
        slot_of = np.full(self._gcap + 1, -1, np.int64)
        slot_of[g] = np.arange(g.size)
        slot = slot_of[pg]
        keep = np.flatnonzero(slot >= 0)
        order = keep[np.argsort(slot[keep], kind="stable")]
        d = T.INT64 if agg.arg_dtype.is_decimal or positions else agg.arg_dtype
        words = pw[order]
        if positions:
            values = pa.array(words.astype(np.int64))
        elif d.is_float:
            values = pa.array(words.view(np.float64).astype(d.kind))
        else:
            values = self._decode(words, d, np.ones(words.size, bool), ordered=False)
        offsets = np.zeros(g.size + 1, np.int32)
        np.cumsum(np.bincount(slot[keep], minlength=g.size), out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), values).cast(list_type)

    def _list_columns(self, j, agg, g: np.ndarray) -> dict[str, pa.Array]:
        """LIST's partials columns (``a{j}_vals``, ``a{j}_vpos``[, ``a{j}_vord``]) of groups
        ``g`` from the device tuples (only those groups' tuples move), in arrival order."""
        cp = _cp()
        wanted = cp.zeros(self._gcap + 1, dtype=bool)
        wanted[cp.asarray(g)] = True
        parts = self._pairs[j]
        pick = wanted[parts[0]]
        host = [self._fetch(a[pick]) for a in parts]
        slot_of = np.full(self._gcap + 1, -1, np.int64)
        slot_of[g] = np.arange(g.size)
        slot = slot_of[host[0]]
        order = np.argsort(slot, kind="stable")
        offsets = np.zeros(g.size + 1, np.int32)
        np.cumsum(np.bincount(slot, minlength=g.size), out=offsets[1:])
        offsets = pa.array(offsets)

        def decoded(words, valid, d):
            d = T.INT64 if d.is_decimal else d
            return self._decode(words[order], d, valid[order].astype(bool), ordered=False)

        cols = {acc_name(j, "vals"): pa.ListArray.from_arrays(offsets, decoded(host[1], host[3], agg.arg_dtype)),
                acc_name(j, "vpos"): pa.ListArray.from_arrays(offsets, pa.array(host[2][order].astype(np.int64)))}
        if len(host) > 4:
            cols[acc_name(j, "vord")] = pa.ListArray.from_arrays(offsets, decoded(host[4], host[5], agg.arg2_dtype))
        return cols

    def finalize(self, gids=None) -> pa.Table:
        """SQL results of ``gids``, computed from the partials by the CPU backend's finalize."""
        from .cpu import CpuGroupState

        ref = CpuGroupState(self.spec)
        part = self.partials(gids)
        if not self.spec.key_dtypes and part.num_rows == 0:
            return ref.finalize(np.zeros(0, np.int64))
        ref.merge(part)
        return ref.finalize(ref.gids_of(part))    # the reference's ids of our rows, in our order
