"""GroupValues (backends/group_values.py): per-group values kept as a sorted base plus recent
pairs, read group by group; checked against a plain dict of lists."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gpuvelo.backends import group_values
from gpuvelo.backends.group_values import GroupValues


def _reference(pairs):
    out = {}
    for g, v in pairs:
        out.setdefault(g, []).append(v)
    return out


def test_lists_keep_arrival_order_across_merges(monkeypatch):
    monkeypatch.setattr(group_values, "_MIN_MERGE", 8)    # merge often
    rng = np.random.default_rng(1)
    kept, pairs = GroupValues(pa.int64()), []
    for batch in range(40):
        g = rng.integers(0, 30, rng.integers(0, 12))
        v = rng.integers(-100, 100, g.size)
        kept.add(g, pa.array(v))
        pairs += list(zip(g.tolist(), v.tolist()))
        ask = rng.choice(40, rng.integers(1, 10), replace=False)   # also gids never seen
        got = kept.lists(ask, pa.list_(pa.int64())).to_pylist()
        ref = _reference(pairs)
        assert got == [ref.get(int(a), []) for a in ask]
    assert len(kept) == len(pairs)


def test_drop_and_renumber():
    kept = GroupValues(pa.string())
    kept.add(np.array([0, 1, 2, 1]), pa.array(["a", "b", "c", "d"]))
    kept.add(np.array([2, 0]), pa.array(["e", "f"]))
    dead = np.zeros(3, bool)
    dead[1] = True
    kept.drop(dead)
    assert kept.lists(np.array([0, 1, 2]), pa.list_(pa.string())).to_pylist() == [["a", "f"], [], ["c", "e"]]
    kept.renumber(np.array([0, -1, 1]))
    assert kept.lists(np.array([1, 0]), pa.list_(pa.string())).to_pylist() == [["c", "e"], ["a", "f"]]
