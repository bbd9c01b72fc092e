"""A vectorised open-addressing hash table on NumPy: rows of W uint64 words -> dense ids.

This is the host twin of the GPU aggregation table (kernels/groupby.cu): linear probing from
``hash & (capacity - 1)``, growth (rehash to twice the size) before the load factor passes
one half. Instead of one thread per row, each *probe round* handles every pending row at once:
rows whose slot holds their key are done, rows whose slot holds another key step to the next
slot, and among rows that found an empty slot the first claimant of each slot wins and the
others retry that slot in the next round (where they may find their own key, just inserted).
"""

from __future__ import annotations

import numpy as np

EMPTY = -1


class KeyTable:
    """Maps fixed-width keys (rows of ``width`` uint64 words) to dense int64 ids 0, 1, 2, ..."""

    def __init__(self, width: int, capacity: int = 1024):
        self.width = width
        cap = 1 << max(4, int(capacity - 1).bit_length())
        self._slots = np.full(cap, EMPTY, dtype=np.int64)
        self._claim = np.empty(cap, dtype=np.int64)
        self._keys = np.empty((cap // 2, width), dtype=np.uint64)
        self._hashes = np.empty(cap // 2, dtype=np.uint64)
        self._live = np.empty(cap // 2, dtype=bool)
        self.size = 0          # ids handed out so far

    # ------------------------------------------------------------------ storage
    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > self._keys.shape[0]:
            new = max(need, 2 * self._keys.shape[0])
            for name in ("_keys", "_hashes", "_live"):
                old = getattr(self, name)
                arr = np.empty((new,) + old.shape[1:], dtype=old.dtype)
                arr[: self.size] = old[: self.size]
                setattr(self, name, arr)
        if need * 2 > self._slots.shape[0]:
            cap = self._slots.shape[0]
            while need * 2 > cap:
                cap *= 2
            self._rehash(cap)

    def _rehash(self, cap: int) -> None:
        self._slots = np.full(cap, EMPTY, dtype=np.int64)
        self._claim = np.empty(cap, dtype=np.int64)     # scratch for picking slot winners
        ids = np.flatnonzero(self._live[: self.size])
        if ids.size:
            self._place(ids, self._hashes[ids])

    def _place(self, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Put known-distinct ids into empty slots (used by rehash)."""
        mask = np.uint64(self._slots.shape[0] - 1)
        pos = (hashes & mask).astype(np.int64)
        pending = np.arange(ids.size)
        while pending.size:
            p = pos[pending]
            free = self._slots[p] == EMPTY
            cand = pending[free]
            _, first = np.unique(pos[cand], return_index=True)
            win = cand[first]
            self._slots[pos[win]] = ids[win]
            done = np.zeros(ids.size, dtype=bool)
            done[win] = True
            pending = pending[~done[pending]]
            busy = pending[self._slots[pos[pending]] != EMPTY]
            pos[busy] = (pos[busy] + 1) & int(mask)

    # ------------------------------------------------------------------ queries
    def lookup_or_insert(self, words: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the keys ``words`` (shape (n, width)), inserting missing ones.

        Returns ``(ids, is_new)``; duplicate input rows get the same id. New ids are handed
        out consecutively from ``size``.
        """
        n = words.shape[0]
        self._reserve(n)
        ids = np.empty(n, dtype=np.int64)
        is_new = np.zeros(n, dtype=bool)
        mask = self._slots.shape[0] - 1
        pos = (hashes & np.uint64(mask)).astype(np.int64)
        pending = np.arange(n)
        while pending.size:
            miss, empty = self._probe(pending, pos, words, hashes, ids, mask)
            losers = empty[:0]
            if empty.size:
                # one claimant per empty slot wins (any one is correct): scatter, read back
                slots = pos[empty]
                self._claim[slots] = empty
                won = self._claim[slots] == empty
                win = empty[won]
                new_ids = np.arange(self.size, self.size + win.size, dtype=np.int64)
                self.size += win.size
                self._slots[pos[win]] = new_ids
                self._keys[new_ids] = words[win]
                self._hashes[new_ids] = hashes[win]
                self._live[new_ids] = True
                ids[win] = new_ids
                is_new[win] = True
                losers = empty[~won]
            pending = np.concatenate([miss, losers])
        return ids, is_new

    def lookup(self, words: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Ids of the keys ``words``; -1 for keys not in the table."""
        n = words.shape[0]
        ids = np.full(n, EMPTY, dtype=np.int64)
        mask = self._slots.shape[0] - 1
        pos = (hashes & np.uint64(mask)).astype(np.int64)
        pending = np.arange(n)
        while pending.size:
            pending, _ = self._probe(pending, pos, words, hashes, ids, mask)
        return ids

    def _probe(self, pending, pos, words, hashes, ids, mask):
        """One probe round for the rows ``pending``: a row whose slot holds its key gets that
        id in ``ids``; a row whose slot holds another key steps to the next slot. Returns
        (the rows that stepped on, the rows that found an empty slot)."""
        s = self._slots[pos[pending]]
        occupied = s != EMPTY
        occ, occ_ids = pending[occupied], s[occupied]
        same = self._hashes[occ_ids] == hashes[occ]
        if same.any():
            same[same] = np.all(self._keys[occ_ids[same]] == words[occ[same]], axis=1)
        ids[occ[same]] = occ_ids[same]
        miss = occ[~same]
        pos[miss] = (pos[miss] + 1) & mask
        return miss, pending[~occupied]

    def truncate(self, size: int) -> None:
        """Take back every id from ``size`` on (the last ones handed out): they will be handed
        out again, as if never inserted. Rebuilds the slots."""
        if size < self.size:
            self._live[size: self.size] = False
            self.size = size
            self._rehash(self._slots.shape[0])

    def remove(self, ids: np.ndarray) -> None:
        """Forget these ids' keys (they are never handed out again). Rebuilds the slots."""
        self._live[ids] = False
        self._rehash(self._slots.shape[0])

    def keys_of(self, ids: np.ndarray) -> np.ndarray:
        """The stored key words of ``ids``."""
        return self._keys[ids]
