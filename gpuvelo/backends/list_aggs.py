"""STRING_AGG, MODE and LIST from each group's values with their arrival positions, on the host.

Like the quantiles (``quantiles.py``), these keep every value of a group (the ``a{j}_vals`` /
``a{j}_vpos`` lists of ``partials.py``: the non-NULL ones, or for LIST every one its FILTER
kept); positions make the result independent of how partitions and batches interleaved.
DuckDB's rules:

* ``string_agg(x, sep)``: the values joined by ``sep`` in arrival order (or ordered by the
  value, ascending / descending, with arrival breaking ties); with DISTINCT each value once,
  at its first arrival; NULL for a group without values;
* ``mode(x)``: the most frequent value; among equally frequent ones, the one that arrived
  first.
* ``list(x)`` / ``array_agg(x)``: every value, NULLs included, in arrival order (DuckDB's scan
  order); NULL (not an empty list) for a group without rows. ``ORDER BY y [DESC] [NULLS
  FIRST|LAST]`` sorts by y as ORDER BY does (NULLs last by default in both directions, NaN
  above every number); rows with equal y keep their arrival order here, where DuckDB's
  order among them is unspecified. ``DISTINCT`` keeps each value once (NULL too; NaN equals
  NaN, -0.0 equals 0.0), at its first arrival and as it first arrived -- DuckDB's order of
  distinct values is its hash table's, unspecified; ``list(DISTINCT x ORDER BY x)`` is
  well defined in both.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
from ..arrowcol import col_to_arrow
from ..columns import Col
from .quantiles import pick_values


def _flat(values: pa.Array, positions: pa.Array):
    """(group index, values, positions) of two aligned list arrays, NULL values dropped."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    positions = positions.combine_chunks() if isinstance(positions, pa.ChunkedArray) else positions
    parent = np.asarray(values.value_parent_indices(), dtype=np.int64)
    v, p = values.flatten(), np.asarray(positions.flatten(), dtype=np.int64)
    valid = np.asarray(v.is_valid())
    if not valid.all():
        parent, v, p = parent[valid], v.filter(pa.array(valid)), p[valid]
    return parent, v, p


def _sorted(parent, v, p, by_value: str | None):
    """Order of the pairs by group, then (by_value 'asc'/'desc' or None) value, then position."""
    cols = {"g": pa.array(parent), "p": pa.array(p)}
    keys = [("g", "ascending")]
    if by_value is not None:
        cols["v"] = v
        keys.append(("v", "ascending" if by_value == "asc" else "descending"))
    keys.append(("p", "ascending"))
    return np.asarray(pc.sort_indices(pa.table(cols), sort_keys=keys), dtype=np.int64)


def _new_value(parent: np.ndarray, v: pa.Array) -> np.ndarray:
    """For pairs sorted by (group, value): whether each starts a new (group, value) run;
    equal means equal as DISTINCT sees it (NaN equals NaN, NULL equals NULL)."""
    n = len(v)
    start = np.ones(n, dtype=bool)
    if n > 1:
        a, b = v.slice(1), v.slice(0, n - 1)
        differ = np.asarray(pc.fill_null(pc.not_equal(a, b), True))
        if pa.types.is_floating(v.type):
            differ &= ~np.asarray(pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False))
        if v.null_count:
            differ &= ~(np.asarray(a.is_null()) & np.asarray(b.is_null()))
        start[1:] = differ | (parent[1:] != parent[:-1])
    return start


def string_aggs(values: pa.Array, positions: pa.Array, groups: int, sep: str,
                order: str | None, distinct: bool) -> pa.Array:
    """STRING_AGG of each group (see the module docstring)."""
    parent, v, p = _flat(values, positions)
    if distinct:          # keep the first arrival of each (group, value)
        idx = _sorted(parent, v, p, "asc")
        parent, v, p = parent[idx], v.take(pa.array(idx)), p[idx]
        keep = _new_value(parent, v)
        parent, v, p = parent[keep], v.filter(pa.array(keep)), p[keep]
    idx = _sorted(parent, v, p, order)
    counts = np.bincount(parent, minlength=groups)
    offsets = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.ListArray.from_arrays(pa.array(offsets), v.take(pa.array(idx)).cast(pa.string()))
    joined = pc.binary_join(lists, sep)
    return pc.if_else(pa.array(counts == 0), pa.nulls(groups, pa.string()), joined)


def modes(values: pa.Array, positions: pa.Array, groups: int, arg: T.DType) -> pa.Array:
    """MODE of each group (see the module docstring), in the argument's type ``arg``."""
    parent, v, p = _flat(values, positions)
    if len(v) == 0:
        return pick_values(v, np.zeros(groups, np.int64), np.ones(groups, bool), arg)
    idx = _sorted(parent, v, p, "asc")
    parent, v, p = parent[idx], v.take(pa.array(idx)), p[idx]
    run_start = np.flatnonzero(_new_value(parent, v))
    count = np.diff(np.append(run_start, len(v)))
    first_pos = p[run_start]              # positions ascend within a run
    run_group = parent[run_start]
    best = np.lexsort((first_pos, -count, run_group))      # per group: most, then earliest
    head = np.ones(best.size, dtype=bool)
    head[1:] = run_group[best][1:] != run_group[best][:-1]
    chosen = best[head]
    out_rows = np.full(groups, -1, dtype=np.int64)
    out_rows[run_group[chosen]] = run_start[chosen]
    return pick_values(v, out_rows, out_rows < 0, arg)


# ---------------------------------------------------------------------------- LIST
def _order_keys(cols: dict, key: pa.Array, desc: bool, nulls_first: bool) -> list:
    """Sort keys ordering by ``key`` as SQL's ORDER BY does (NULLs apart, NaN largest), its
    columns added to ``cols``; no reliance on Arrow's NULL / NaN placement."""
    order = "descending" if desc else "ascending"
    cols["n"] = key.is_null()
    keys = [("n", "descending" if nulls_first else "ascending")]
    if pa.types.is_floating(key.type):
        cols["nan"] = pc.fill_null(pc.is_nan(key), False)
        keys.append(("nan", order))
    cols["v"] = key
    return keys + [("v", order)]


def _canonical(v: pa.Array) -> pa.Array:
    """Values as DISTINCT compares them: -0.0 as 0.0 (the values themselves are kept)."""
    if pa.types.is_floating(v.type) and len(v):
        return pc.if_else(pc.equal(v, pa.scalar(0, v.type)), pa.scalar(0, v.type), v)
    return v


def _flat_all(lists: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(group index, values) of a list array, NULL values kept."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    return np.asarray(lists.value_parent_indices(), dtype=np.int64), lists.flatten()


def list_results(values: pa.Array, positions: pa.Array, orders: pa.Array | None, groups: int,
                 param: tuple, element: T.DType) -> pa.Array:
    """LIST of each group (see the module docstring) from the aligned lists of values,
    positions and (None without an ordering expression) ordering values; ``param`` is
    (order: None / 'asc' / 'desc', nulls_first, distinct), the order by the ordering values
    or, without those, by the values themselves. ``element``: the values' SQL type."""
    order, nulls_first, distinct = param
    parent, v = _flat_all(values)
    p = np.asarray(_flat_all(positions)[1], dtype=np.int64)
    o = None if orders is None else _flat_all(orders)[1]
    if distinct and len(v):       # the first arrival of each (group, value)
        cols = {"g": pa.array(parent), "p": pa.array(p)}
        keys = [("g", "ascending")] + _order_keys(cols, _canonical(v), False, False) + [("p", "ascending")]
        idx = np.asarray(pc.sort_indices(pa.table(cols), sort_keys=keys), dtype=np.int64)
        keep = np.sort(idx[_new_value(parent[idx], _canonical(v).take(pa.array(idx)))])
        parent, v, p = parent[keep], v.take(pa.array(keep)), p[keep]
        o = None if o is None else o.take(pa.array(keep))
    cols = {"g": pa.array(parent), "p": pa.array(p)}
    keys = [("g", "ascending")]
    if order is not None:
        keys += _order_keys(cols, v if o is None else o, order == "desc", nulls_first)
    keys.append(("p", "ascending"))
    idx = pa.array(np.asarray(pc.sort_indices(pa.table(cols), sort_keys=keys), dtype=np.int64))
    counts = np.bincount(parent, minlength=groups)
    offsets = np.zeros(groups + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    ordered = v.take(idx)
    if element.is_decimal:       # scaled int64 -> decimal
        ordered = col_to_arrow(Col(np.asarray(pc.fill_null(ordered, 0), dtype=np.int64),
                                   np.asarray(ordered.is_valid()), element))
    out_type = pa.list_(T.to_arrow(element))
    return pa.ListArray.from_arrays(pa.array(offsets), ordered.cast(T.to_arrow(element)),
                                    mask=pa.array(counts == 0)).cast(out_type)
