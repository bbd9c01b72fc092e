"""``aggregator="cudf"``: cuDF's hash group-by reduces each batch, our state keeps the result.

:class:`CudfGroupState` wraps a persistent state (a :class:`~.gpu_state.GpuGroupState` on the
GPU backend) and delegates every ``GroupState`` method to it except ``update``. For a batch
that qualifies, ``update`` builds one ``cudf.DataFrame`` from the device columns, runs ONE
``groupby(keys, dropna=False, sort=False).agg({...})`` that yields exactly the partial
accumulators of ``partials.py``, converts the result to a partials Arrow table
(:func:`to_partials`) and ``merge``-s it into the wrapped state. Any other batch goes to the
wrapped state's own ``update``, so the answers are always those of the CPU backend.

The cuDF calls used: ``cudf.Series(array, nan_as_null=False)``, ``cudf.DataFrame(dict)``,
``DataFrame.groupby(list, dropna=False, sort=False)``, ``GroupBy.agg(dict)`` with the plain
aggregations ``sum``, ``min``, ``max``, ``mean`` and ``var`` (ddof=1), ``reset_index()`` and
``to_arrow()``. No value handed to cuDF is NULL or NaN, so none of cuDF's NULL/NaN rules
(``nan_as_null`` conversions, pandas-style NaN skipping) can change an answer:

* key NULLs become a 0 value plus an int8 "is NULL" column that is grouped on as well;
* an argument's NULL rows are filled with the identity of the aggregation (0 for sums,
  the type's largest/smallest value for MIN/MAX) and its non-NULL count ``n`` is the sum of
  an int32 validity column.

A query (its ``StateSpec``) uses cuDF when all of these hold, and falls back otherwise:

* it has GROUP BY keys (cuDF needs at least one key; a global aggregate is one group anyway);
* every key is an integer, bool, decimal, timestamp or date. String keys fall back (they
  would need the wrapped state's interner codes); float keys fall back because DuckDB
  groups all NaNs (and -0.0 with 0.0) together, which cuDF's float equality does not;
* every aggregate is COUNT(*), COUNT, SUM, AVG, MIN, MAX, VAR_* or STDDEV_*: FIRST/LAST
  need arrival positions and COUNT DISTINCT needs value sets, neither a cuDF aggregation;
* no argument is a string, and MIN/MAX arguments are integer, decimal or temporal: float
  MIN/MAX fall back because DuckDB orders NaN above every number, and cuDF does not.

And a batch of a qualifying query falls back (the next batch is checked afresh) when:

* a float argument of SUM/AVG/VAR/STDDEV holds a NaN in a non-NULL row (SQL propagates
  NaN; whether cuDF does depends on its ``nan_as_null`` handling, so we never ask it);
* an exact (integer/decimal/bool) SUM/AVG could leave the int64 range (``max|x| * rows >=
  2**63``): cuDF's int64 sum would wrap silently, the wrapped state's sum is exact;
* a VAR/STDDEV argument has NULLs (filling cannot make NULLs neutral for a variance).

These checks read a few numbers per batch back from the device (one small transfer).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from ..columns import Col
from ..arrowcol import col_to_arrow
from .partials import acc_name, key_name
from .protocol import StateSpec

CUDF_FUNCS = ("count_star", "count", "sum", "avg", "min", "max",
              "var_samp", "var_pop", "stddev_samp", "stddev_pop")
VAR_FUNCS = ("var_samp", "var_pop", "stddev_samp", "stddev_pop")
INT64_LIMIT = 2**63


def spec_fallback_reason(spec: StateSpec) -> str | None:
    """Why a query with this spec cannot use cuDF at all (None: it can); see the module docstring."""
    if not spec.key_dtypes:
        return "a global aggregate has no GROUP BY key"
    for i, d in enumerate(spec.key_dtypes):
        if not (d.is_integer or d.is_bool or d.is_decimal or d.is_temporal):
            return f"key {i} is {d}: only integer, bool, decimal and temporal keys use cuDF"
    for j, agg in enumerate(spec.aggs):
        d = agg.arg_dtype
        if agg.func not in CUDF_FUNCS:
            return f"aggregate {j} is {agg.func}, which the cuDF path does not compute"
        if d is not None and (d.is_string or d.is_null):
            return f"aggregate {j} has a {d} argument"
        if agg.func in ("min", "max") and not (d.is_integer or d.is_decimal or d.is_temporal):
            return f"aggregate {j} is {agg.func} of {d}: only integer, decimal, temporal MIN/MAX use cuDF"
    return None


def _xp(a):
    """The array namespace of ``a`` (numpy, or cupy for device arrays)."""
    if isinstance(a, np.ndarray):
        return np
    import cupy

    return cupy


def batch_fallback_reason(spec: StateSpec, args: Sequence[Col | None]) -> str | None:
    """Why this batch of a qualifying query must fall back (None: cuDF may aggregate it).
    Reads one small array of per-argument facts back from the device."""
    facts, what = [], []
    seen: set[tuple[int, str]] = set()
    for agg, col in zip(spec.aggs, args):
        if col is None or agg.func not in ("sum", "avg") + VAR_FUNCS:
            continue
        xp = _xp(col.data)
        if agg.func in VAR_FUNCS and col.valid is not None and (id(col), "null") not in seen:
            seen.add((id(col), "null"))
            facts.append(xp.asarray(~col.valid).any().astype(xp.float64).reshape(1))
            what.append(("null", 1))
        if col.dtype.is_float:
            if (id(col), "nan") not in seen:
                seen.add((id(col), "nan"))
                x = col.data if col.valid is None else xp.where(col.valid, col.data, 0)
                facts.append(xp.isnan(x).any().astype(xp.float64).reshape(1))
                what.append(("nan", 1))
        elif agg.func in ("sum", "avg") and (id(col), "bound") not in seen and len(col):
            seen.add((id(col), "bound"))
            x = col.data if col.valid is None else xp.where(col.valid, col.data, 0)
            facts.append(xp.stack([x.min(), x.max()]).astype(xp.float64))
            what.append(("bound", len(col)))
    if not facts:
        return None
    host = _xp(facts[0]).concatenate(facts)
    host = host.get() if hasattr(host, "get") else host
    at = 0
    for item in what:
        kind = item[0]
        if kind == "bound":
            lo, hi = float(host[at]), float(host[at + 1])
            at += 2
            # min/max travel as float64 (rounded by at most 2**11 near 2**63): keep a margin
            if max(abs(lo), abs(hi)) * item[1] >= INT64_LIMIT - 2**12:
                return "an integer SUM of this batch could overflow int64"
        else:
            flag = bool(host[at])
            at += 1
            if flag:
                return "a VAR/STDDEV argument has NULLs" if kind == "null" else \
                    "a float argument holds NaN"
    return None


def _extreme_fill(data, func: str):
    """The identity of MIN (the type's largest value) or MAX (its smallest) for ``data``."""
    info = np.iinfo(data.dtype)
    # a NumPy scalar of the data's type: CuPy rejects Python ints beyond int64 (uint64 max)
    return data.dtype.type(info.max if func == "min" else info.min)


def frame_columns(spec: StateSpec, keys: Sequence[Col],
                  args: Sequence[Col | None]) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """The columns of the cuDF frame (name -> device array, none NULL or NaN), the names to
    group by, and the aggregation of each other column. Column names are the partials'
    names (``k0``, ``a0_n``, ...) plus ``k{i}_null`` and ``a{j}_var``."""
    cols: dict[str, Any] = {}
    by: list[str] = []
    for i, col in enumerate(keys):
        xp = _xp(col.data)
        data = col.data.astype(np.int8) if col.dtype.is_bool else col.data
        if col.valid is not None:
            data = xp.where(col.valid, data, 0).astype(data.dtype)
        cols[key_name(i)] = data
        by.append(key_name(i))
        if col.valid is not None:
            cols[key_name(i) + "_null"] = (~col.valid).astype(np.int8)
            by.append(key_name(i) + "_null")
    n = len(keys[0])
    aggs: dict[str, str] = {}
    for j, (agg, col) in enumerate(zip(spec.aggs, args)):
        f = agg.func
        if col is None:
            cols[acc_name(j, "n")] = _xp(keys[0].data).ones(n, dtype=np.int32)
            aggs[acc_name(j, "n")] = "sum"
            continue
        xp = _xp(col.data)
        valid = col.valid
        cols[acc_name(j, "n")] = xp.ones(n, dtype=np.int32) if valid is None else valid.astype(np.int32)
        aggs[acc_name(j, "n")] = "sum"
        x = col.data
        if f in ("sum", "avg"):
            x = x.astype(np.float64 if col.dtype.is_float else np.int64)
            cols[acc_name(j, "sum")] = x if valid is None else xp.where(valid, x, 0).astype(x.dtype)
            aggs[acc_name(j, "sum")] = "sum"
        elif f in ("min", "max"):
            fill = _extreme_fill(x, f)
            cols[acc_name(j, "val")] = x if valid is None else xp.where(valid, x, fill).astype(x.dtype)
            aggs[acc_name(j, "val")] = f
        elif f in VAR_FUNCS:
            xf = x.astype(np.float64)
            if col.dtype.is_decimal:
                xf = xf / float(10 ** col.dtype.scale)
            cols[acc_name(j, "mean")] = xf
            aggs[acc_name(j, "mean")] = "mean"
            cols[acc_name(j, "var")] = xf
            aggs[acc_name(j, "var")] = "var"
    return cols, by, aggs


def cudf_partials(cudf, spec: StateSpec, schema: pa.Schema, keys: Sequence[Col],
                  args: Sequence[Col | None]) -> pa.Table:
    """One batch's partials (one row per distinct key) computed by one cuDF group-by."""
    cols, by, aggs = frame_columns(spec, keys, args)
    _sync(next(iter(cols.values())))
    frame = cudf.DataFrame({name: cudf.Series(a, nan_as_null=False) for name, a in cols.items()})
    result = frame.groupby(by, dropna=False, sort=False).agg(aggs).reset_index()
    return to_partials(result.to_arrow(), spec, schema)


def _sync(array) -> None:
    """Wait for the caller's stream before cuDF reads device arrays written on it: cuDF works
    on its own stream, which does not wait for non-blocking streams."""
    if not isinstance(array, np.ndarray):
        import cupy

        cupy.cuda.get_current_stream().synchronize()


def _numpy(column) -> np.ndarray:
    """A NULL-free Arrow column as NumPy."""
    return np.asarray(column.combine_chunks() if hasattr(column, "combine_chunks") else column)


def to_partials(table: pa.Table, spec: StateSpec, schema: pa.Schema) -> pa.Table:
    """Turn the aggregated cuDF frame (as Arrow; columns named as in :func:`frame_columns`)
    into the partials layout ``schema`` (keys in their Arrow types, decimals unscaled int64,
    MIN/MAX NULL where n = 0, m2 = var * (n - 1) and 0 for a single value)."""
    names = set(table.column_names)
    out: dict[str, pa.Array] = {}
    for i, d in enumerate(spec.key_dtypes):
        data = _numpy(table.column(key_name(i)))
        valid = None
        if key_name(i) + "_null" in names:
            valid = _numpy(table.column(key_name(i) + "_null")) == 0
        if d.is_bool:
            data = data != 0
        out[key_name(i)] = col_to_arrow(Col(data, valid, d))
    for j, agg in enumerate(spec.aggs):
        n = _numpy(table.column(acc_name(j, "n"))).astype(np.int64)
        out[acc_name(j, "n")] = pa.array(n)
        f, d = agg.func, agg.arg_dtype
        if f in ("sum", "avg"):
            out[acc_name(j, "sum")] = pa.array(_numpy(table.column(acc_name(j, "sum"))))
        elif f in ("min", "max"):
            vals = _numpy(table.column(acc_name(j, "val")))
            valid = n > 0
            if d.is_decimal:
                out[acc_name(j, "val")] = pa.array(vals.astype(np.int64), mask=~valid)
            else:
                out[acc_name(j, "val")] = col_to_arrow(Col(vals, None if valid.all() else valid, d))
        elif f in VAR_FUNCS:
            mean = _numpy(table.column(acc_name(j, "mean")).fill_null(0.0)).astype(np.float64)
            var = _numpy(table.column(acc_name(j, "var")).fill_null(0.0)).astype(np.float64)
            m2 = np.where(n > 1, var * np.maximum(n - 1, 0), 0.0)
            out[acc_name(j, "mean")] = pa.array(mean)
            out[acc_name(j, "m2")] = pa.array(m2)
    return pa.Table.from_arrays([out[f.name].cast(f.type) for f in schema], schema=schema)


class CudfGroupState:
    """A GroupState whose ``update`` aggregates qualifying batches with cuDF and merges the
    result into ``inner`` (see the module docstring); everything else is ``inner``'s.
    ``cudf_batches`` / ``fallback_batches`` count which path each batch took."""

    def __init__(self, spec: StateSpec, inner, cudf=None, schema: pa.Schema | None = None):
        if cudf is None:
            import cudf
        self.spec = spec
        self._inner = inner
        self._cudf = cudf
        if schema is None:
            from .cpu import CpuGroupState

            schema = CpuGroupState(spec).partials_schema()
        self._schema = schema
        self.fallback_reason = spec_fallback_reason(spec)
        self.cudf_batches = 0
        self.fallback_batches = 0

    def update(self, keys: Sequence[Col], args: Sequence[Col | None], positions) -> None:
        """Fold one batch in: by cuDF when the query and batch qualify, else by ``inner``."""
        if len(positions) == 0:
            return
        if self.fallback_reason is None and batch_fallback_reason(self.spec, args) is None:
            part = cudf_partials(self._cudf, self.spec, self._schema, keys, args)
            self._inner.merge(part)
            self.cudf_batches += 1
            return
        self._inner.update(keys, args, positions)
        self.fallback_batches += 1

    def merge(self, partials) -> None:
        """Fold in a partials table."""
        self._inner.merge(partials)

    def partials(self, gids=None):
        """The accumulators of ``gids`` as Arrow."""
        return self._inner.partials(gids)

    def finalize(self, gids=None):
        """SQL results of ``gids``."""
        return self._inner.finalize(gids)

    def changed(self):
        """Group ids changed since the last ``clear_changed``."""
        return self._inner.changed()

    def clear_changed(self) -> None:
        """Forget which groups changed."""
        self._inner.clear_changed()

    def evict(self, gids) -> None:
        """Drop groups (may renumber the survivors)."""
        self._inner.evict(gids)

    def keys(self, gids=None):
        """Key values of ``gids`` as Arrow."""
        return self._inner.keys(gids)

    def lookup(self, keys: Sequence[Col]):
        """Gid of each row of ``keys`` (-1: none)."""
        return self._inner.lookup(keys)

    def live_gids(self):
        """All live gids, ascending."""
        return self._inner.live_gids()

    @property
    def num_groups(self) -> int:
        """Number of live groups."""
        return self._inner.num_groups
