"""Values kept per group on the host: COUNT DISTINCT's sets and the quantiles' value lists.

They are (group id, value) pairs. Reading the values of a few groups -- what EMIT CHANGES
does after every batch -- must not cost a pass over every value ever seen, so the pairs
live in two parts: a *base* sorted by group id with the start of each group's run, and the
*recent* pairs in arrival order. Reads take their groups' runs from the base and scan only
the recent pairs; when those outgrow the base, both are merged into a new base (amortised
O(log n) merges). Within a group, values keep their arrival order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_MIN_MERGE = 4096     # recent pairs below this are never merged into the base


class GroupValues:
    """(group id, value) pairs of one aggregate; see the module docstring."""

    def __init__(self, value_type: pa.DataType):
        self.value_type = value_type
        self._base_g = np.zeros(0, np.int64)           # sorted
        self._base_v = pa.array([], value_type)
        self._starts = np.zeros(1, np.int64)           # run of group g: starts[g]:starts[g+1]
        self._recent: list[tuple[np.ndarray, pa.Array]] = []
        self._recent_rows = 0

    def __len__(self) -> int:
        return self._base_g.size + self._recent_rows

    def add(self, g: np.ndarray, v: pa.Array) -> None:
        """Append pairs (``g`` int64 group ids, ``v`` the values, same length)."""
        if len(v):
            self._recent.append((np.asarray(g, np.int64), v))
            self._recent_rows += len(v)
            if self._recent_rows > max(self._base_g.size, _MIN_MERGE):
                self._merge()

    def lists(self, gids: np.ndarray, list_type) -> pa.ListArray:
        """One list per gid of ``gids``: its values, oldest first."""
        gids = np.asarray(gids, np.int64)
        slot_of = np.full(max(int(gids.max(initial=-1)), self._max_gid()) + 2, -1, np.int64)
        slot_of[gids] = np.arange(gids.size)
        # base: each selected group's run
        inside = gids < self._starts.size - 1
        begin = np.where(inside, self._starts[np.minimum(gids, self._starts.size - 2)], 0)
        length = np.where(inside, self._starts[np.minimum(gids + 1, self._starts.size - 1)] - begin, 0)
        total = int(length.sum())
        first = np.repeat(np.cumsum(length) - length, length)
        base_idx = np.repeat(begin, length) + (np.arange(total) - first)
        base_slot = np.repeat(np.arange(gids.size), length)
        # recent: a scan
        g, v = self._recent_pairs()
        slot = slot_of[g] if g.size else g
        keep = np.flatnonzero(slot >= 0) if g.size else g
        slots = np.concatenate([base_slot, slot[keep]])
        values = pa.concat_arrays([self._base_v.take(pa.array(base_idx)), v.take(pa.array(keep))])
        order = np.argsort(slots, kind="stable")
        offsets = np.zeros(gids.size + 1, np.int32)
        np.cumsum(np.bincount(slots, minlength=gids.size), out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(order))).cast(list_type)

    def drop(self, dead: np.ndarray) -> None:
        """Forget the pairs of groups marked in ``dead`` (a bool array by gid)."""
        self._merge()
        keep = ~dead[self._base_g]
        self._set_base(self._base_g[keep], self._base_v.filter(pa.array(keep)))

    def renumber(self, remap: np.ndarray) -> None:
        """Renumber the groups through ``remap`` (old gid -> new gid; the pairs of groups
        mapped to -1 must have been dropped)."""
        self._merge()
        self._sort_base(remap[self._base_g], self._base_v)

    # ------------------------------------------------------------------ internals
    def _max_gid(self) -> int:
        top = int(self._base_g[-1]) if self._base_g.size else -1
        for g, _ in self._recent:
            top = max(top, int(g.max(initial=-1)))
        return top

    def _recent_pairs(self) -> tuple[np.ndarray, pa.Array]:
        if not self._recent:
            return np.zeros(0, np.int64), pa.array([], self.value_type)
        if len(self._recent) > 1:
            self._recent = [(np.concatenate([g for g, _ in self._recent]),
                             pa.concat_arrays([v for _, v in self._recent]))]
        return self._recent[0]

    def _merge(self) -> None:
        """Fold the recent pairs into the base."""
        if not self._recent:
            return
        g, v = self._recent_pairs()
        self._recent, self._recent_rows = [], 0
        self._sort_base(np.concatenate([self._base_g, g]), pa.concat_arrays([self._base_v, v]))

    def _sort_base(self, g: np.ndarray, v: pa.Array) -> None:
        order = np.argsort(g, kind="stable")      # stable: arrival order within a group
        self._set_base(g[order], v.take(pa.array(order)))

    def _set_base(self, g: np.ndarray, v: pa.Array) -> None:
        self._base_g, self._base_v = g, v
        top = int(g[-1]) + 1 if g.size else 0
        self._starts = np.searchsorted(g, np.arange(top + 1)).astype(np.int64)
