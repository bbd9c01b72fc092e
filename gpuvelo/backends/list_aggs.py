"""STRING_AGG and MODE from each group's values with their arrival positions, on the host.

Like the quantiles (``quantiles.py``), these keep every non-NULL value of a group (the
``a{j}_vals`` / ``a{j}_vpos`` lists of ``partials.py``); positions make the result independent
of how partitions and batches interleaved. DuckDB's rules:

* ``string_agg(x, sep)``: the values joined by ``sep`` in arrival order (or ordered by the
  value, ascending / descending, with arrival breaking ties); with DISTINCT each value once,
  at its first arrival; NULL for a group without values;
* ``mode(x)``: the most frequent value; among equally frequent ones, the one that arrived
  first.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import types as T
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
    equal means equal in SQL (NaN equals NaN)."""
    n = len(v)
    start = np.ones(n, dtype=bool)
    if n > 1:
        a, b = v.slice(1), v.slice(0, n - 1)
        differ = np.asarray(pc.fill_null(pc.not_equal(a, b), True))
        if pa.types.is_floating(v.type):
            differ &= ~(np.asarray(pc.is_nan(a)) & np.asarray(pc.is_nan(b)))
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
