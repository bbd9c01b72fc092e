"""The vectorised open-addressing key table of the CPU backend."""

from __future__ import annotations

import numpy as np

from gpuvelo.backends.keytable import KeyTable


def test_ids_are_stable_dense_and_survive_collisions_growth_and_removal():
    rng = np.random.default_rng(1)
    table = KeyTable(width=2, capacity=16)
    seen: dict[tuple[int, int], int] = {}
    for _ in range(4):
        words = rng.integers(0, 120, (1500, 2)).astype(np.uint64)
        hashes = words[:, 0] & np.uint64(7)            # force long probe chains
        ids, is_new = table.lookup_or_insert(words, hashes)
        before = dict(seen)
        for w, i, new in zip(map(tuple, words.tolist()), ids.tolist(), is_new.tolist()):
            assert seen.setdefault(w, i) == i          # one id per key, across batches
            assert not (new and w in before)           # only unseen keys are new
        assert np.array_equal(table.lookup(words, hashes), ids)
    assert table.size == len(seen) and sorted(seen.values()) == list(range(len(seen)))
    gone = np.array(sorted(seen.values())[:50])
    table.remove(gone)
    keys = table.keys_of(gone)
    assert (table.lookup(keys, keys[:, 0] & np.uint64(7)) == -1).all()
    again, is_new = table.lookup_or_insert(keys, keys[:, 0] & np.uint64(7))
    assert is_new.all() and (again >= len(seen)).all()     # removed ids are never reused
