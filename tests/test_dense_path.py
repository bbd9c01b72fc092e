"""The dense-key fast path of the CPU backend (direct addressing by ``key - min``) gives
exactly what the general hash path gives, and both agree with DuckDB."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
import gpuvelo.backends.cpu as cpu
from differential import assert_same_rows, rows, run_both

AGGS = ("COUNT(*), COUNT(x), SUM(x), AVG(x), MIN(x), MAX(x), STDDEV(x), VAR_POP(x), "
        "FIRST(x), LAST(x), SUM(i), MIN(i), MAX(ts), MIN(dec), SUM(dec), AVG(dec)")


def _table(seed: int, n: int, key_lo: int, key_span: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    null = lambda p: rng.random(n) < p   # noqa: E731
    x = rng.normal(size=n) * 100
    x[rng.random(n) < 0.03] = np.nan
    return pa.table({
        "k": pa.array(rng.integers(key_lo, key_lo + key_span, n), mask=null(0.05)),
        "x": pa.array(x, mask=null(0.1)),
        "i": pa.array(rng.integers(-10**6, 10**6, n), mask=null(0.1)),
        "ts": pa.array(rng.integers(0, 10**12, n), pa.timestamp("ms")),
        "dec": pa.array([decimal.Decimal(int(c)).scaleb(-2) for c in rng.integers(-10**8, 10**8, n)],
                        pa.decimal128(18, 2)),
    })


@pytest.mark.parametrize("key_lo,key_span", [(0, 7), (-50, 1000), (10**12, 300)])
@pytest.mark.parametrize("batch_size", [None, 97])
def test_dense_path_equals_general_path_and_duckdb(monkeypatch, key_lo, key_span, batch_size):
    t = _table(key_span, 3000, key_lo, key_span)
    q = f"SELECT k, {AGGS} FROM t GROUP BY k"
    calls = []
    real = cpu.dense_partials
    monkeypatch.setattr(cpu, "dense_partials", lambda *a: calls.append(1) or real(*a))
    dense = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
    assert calls, "the dense path did not run"
    monkeypatch.setattr(cpu, "DENSE_MAX_SLOTS", 0)      # force the general (hash) path
    general = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
    assert_same_rows(rows(dense), rows(general), ordered=False, context=q)
    run_both(q, {"t": t}, backend="cpu", batch_size=batch_size)


def test_wide_key_range_uses_the_general_path(monkeypatch):
    t = pa.table({"k": [0, 10**15 + 1, 7, -10**15], "v": [1, 2, 3, 4]})
    monkeypatch.setattr(cpu, "dense_partials", lambda *a: pytest.fail("dense path on a wide range")
                        if cpu._dense_slots(a[1], 4) is not None else None)
    out = gpuvelo.sql("SELECT k, SUM(v) AS s FROM t GROUP BY k ORDER BY k", t=t, backend="cpu")
    assert out.to_pylist() == [{"k": -10**15, "s": 4}, {"k": 0, "s": 1}, {"k": 7, "s": 3},
                               {"k": 10**15 + 1, "s": 2}]


@pytest.mark.parametrize("batch_size", [None, 61])
def test_composite_and_strided_keys(monkeypatch, batch_size):
    """Several keys combine into one dense slot; integer keys that are multiples of a stride
    (window starts) stay dense; NULLs in any key; same answer as the general path and DuckDB."""
    rng = np.random.default_rng(9)
    n = 900
    words = np.array(["x", "y", "ü", ""], dtype=object)
    t = pa.table({
        "s": pa.array(words[rng.integers(0, 4, n)], mask=rng.random(n) < 0.1),
        "w": pa.array(rng.integers(0, 30, n) * 60_000 + 1_700_000_000_000, mask=rng.random(n) < 0.05),
        "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.05),
        "v": rng.normal(size=n),
    })
    q = "SELECT s, w, b, COUNT(*), SUM(v), MIN(v), MAX(w), STDDEV_POP(v), FIRST(v) FROM t GROUP BY s, w, b"
    calls = []
    real = cpu.dense_partials
    monkeypatch.setattr(cpu, "dense_partials", lambda *a: calls.append(real(*a)) or calls[-1])
    dense = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
    assert any(c is not None for c in calls), "the dense path did not run"
    monkeypatch.setattr(cpu, "DENSE_MAX_SLOTS", 0)
    general = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
    assert_same_rows(rows(dense), rows(general), ordered=False, context=q)
    run_both(q, {"t": t}, backend="cpu", batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [None, 50])
def test_string_keys_dense_by_dictionary_code(monkeypatch, batch_size):
    """A single string key aggregates by its dictionary codes when the entries are distinct;
    keys built by expressions (whose dictionaries may repeat entries) take the general path."""
    rng = np.random.default_rng(5)
    n = 700
    words = np.array(["a", "b", "é", "日本", "", "zz"], dtype=object)
    s = pa.array(words[rng.integers(0, len(words), n)], mask=rng.random(n) < 0.1)
    t = pa.table({"s": s, "x": rng.normal(size=n), "i": rng.integers(-5, 5, n)})
    for q in ["SELECT s, COUNT(*), SUM(x), MIN(i), MAX(x), AVG(i) FROM t GROUP BY s",
              "SELECT CASE WHEN i > 0 THEN s ELSE 'neg' END AS g, COUNT(*), SUM(i) FROM t GROUP BY g"]:
        dense = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
        with monkeypatch.context() as m:
            m.setattr(cpu, "DENSE_MAX_SLOTS", 0)
            general = gpuvelo.sql(q, t=t, backend="cpu", partitions=1, batch_size=batch_size)
        assert_same_rows(rows(dense), rows(general), ordered=False, context=q)
        run_both(q, {"t": t}, backend="cpu", batch_size=batch_size)


@pytest.mark.parametrize("force_general", [False, True])
def test_local_words_equal_words_recomputed_from_keys(monkeypatch, force_general):
    """update() hands merge the group-key words it already has; they must be exactly the words
    merge would compute from the partials' key values (floats canonical, strings hashed)."""
    from gpuvelo import types as T
    from gpuvelo.arrowcol import batch_to_cols
    from gpuvelo.backends.partials import key_name
    from gpuvelo.backends.protocol import AggSlot, StateSpec

    if force_general:
        monkeypatch.setattr(cpu, "DENSE_MAX_SLOTS", 0)
    rng = np.random.default_rng(3)
    n = 500
    f = rng.choice([0.0, -0.0, 1.5, np.nan], n)
    t = pa.record_batch({
        "i": pa.array(rng.integers(-3, 3, n), mask=rng.random(n) < 0.1),
        "s": pa.array(np.array(["a", "é", ""], dtype=object)[rng.integers(0, 3, n)], mask=rng.random(n) < 0.1),
        "f": pa.array(f, mask=rng.random(n) < 0.1),
        "v": rng.normal(size=n),
    })
    schema = {"i": T.INT64, "s": T.STRING, "f": T.FLOAT64, "v": T.FLOAT64}
    cols = batch_to_cols(t, schema)
    for names in (["i"], ["s"], ["i", "s"], ["f", "s"]):
        spec = StateSpec(tuple(schema[k] for k in names), (AggSlot("sum", T.FLOAT64, T.FLOAT64),))
        state = cpu.CpuGroupState(spec)
        local, words, _ = state._local([cols[k] for k in names], [cols["v"]], np.arange(n))
        if words is None:        # the dense path leaves the words to merge: the ones it would make
            words = local.key_words()
        table = local.to_table()
        keys = [cpu.arrow_to_col(table.column(key_name(i)), schema[k]) for i, k in enumerate(names)]
        assert np.array_equal(words, cpu.group_words(keys)), names


@pytest.mark.parametrize("values,typ", [
    ([2**64 - 1, 2**64 - 2, 2**64 - 1, 2**63 + 5], pa.uint64()),
    ([2**63, 2**63 + 1, None, 2**63], pa.uint64()),
    ([2**63 - 1, -2**63, 0, 2**63 - 1], pa.int64()),
    ([2**63 - 1, 2**63 - 3, None, 2**63 - 1], pa.int64()),
    ([-2**63, -2**63 + 4, -2**63 + 8], pa.int64()),          # strided at the bottom
    ([-128, 127, 0, None], pa.int8()),
])
def test_extreme_integer_keys(values, typ):
    """Keys at the ends of the int64/uint64 ranges (dense path or not) group exactly."""
    t = pa.table({"k": pa.array(values, typ), "v": list(range(len(values)))})
    run_both("SELECT k, COUNT(*), SUM(v), MIN(v) FROM t GROUP BY k", {"t": t}, backend="cpu",
             partitions=1)


def _sum_state():
    from gpuvelo import types as T
    from gpuvelo.backends.protocol import AggSlot, StateSpec

    return cpu.CpuGroupState(StateSpec((T.INT64,), (AggSlot("count_star", None, T.INT64),
                                                    AggSlot("sum", T.INT64, T.INT64))))


def _fold(state, keys, values, first=0):
    from gpuvelo import types as T
    from gpuvelo.columns import Col

    keys, values = np.asarray(keys, np.int64), np.asarray(values, np.int64)
    state.update([Col(keys, None, T.INT64)], [None, Col(values, None, T.INT64)],
                 np.arange(first, first + keys.size))


def _result(state) -> dict:
    t = state.finalize()
    return {k: (n, s) for k, n, s in zip(*(t.column(i).to_pylist() for i in range(3)))}


def test_slot_gid_cache_survives_evict():
    """Batches with one dense layout reuse the slot -> group map; an evict (which frees
    groups and may renumber them) must not leave stale entries in it."""
    state = _sum_state()
    _fold(state, [0, 1, 2, 3, 3], [1, 1, 1, 1, 1])
    _fold(state, [3, 2, 1, 0], [10, 10, 10, 10])          # same span 0..3: cached map
    assert _result(state) == {0: (2, 11), 1: (2, 11), 2: (2, 11), 3: (3, 12)}
    state.evict(state.lookup([cpu.Col(np.array([1, 2]), None, state.spec.key_dtypes[0])]))
    _fold(state, [0, 1, 2, 3], [100, 100, 100, 100])
    assert _result(state) == {0: (3, 111), 1: (1, 100), 2: (1, 100), 3: (4, 112)}


def test_slot_gid_cache_forgets_groups_of_a_rejected_batch():
    """A batch that fails in the merge inserts no group: the next batch of the same layout
    must not find the rejected batch's new keys in the cache, and the groups it does insert
    get their own keys (ids of the rejected groups are reused, never skipped)."""
    state = _sum_state()
    _fold(state, [0, 3], [2**62, 1])                       # span 0..3, keys 1 and 2 unseen
    with pytest.raises(gpuvelo.errors.ArithmeticOverflowError):
        _fold(state, [0, 1, 2, 3, 0], [2**62, 5, 5, 5, 0])  # 0 overflows; 1, 2 are new
    assert state.num_groups == 2
    _fold(state, [1, 2, 0, 3], [7, 7, 0, 0])
    assert _result(state) == {0: (2, 2**62), 1: (1, 7), 2: (1, 7), 3: (2, 1)}


def test_spread_words_round_trip():
    """The remix fed to Arrow's group-by is a bijection on 64-bit words."""
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.integers(0, 2**63, 10_000, dtype=np.int64).view(np.uint64) * np.uint64(3),
                        (np.arange(1000) * 1.5).view(np.uint64),
                        np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)])
    mixed = cpu._spread(w)
    assert np.unique(mixed).size == np.unique(w).size
    assert np.array_equal(cpu._unspread(mixed), w)


def test_float_keys_group_exactly():
    """Float keys (-0.0 and 0.0 one group, NaN one group) through the general path."""
    rng = np.random.default_rng(5)
    vals = np.array([0.0, -0.0, 1.5, 3.0, np.nan, 1e300, -2.5e-300, 2.0**60], dtype=np.float64)
    t = pa.table({"k": vals[rng.integers(0, vals.size, 4000)], "x": rng.integers(0, 9, 4000)})
    for batch_size in (None, 333):
        run_both("SELECT k, COUNT(*) AS n, SUM(x) AS s FROM t GROUP BY k", {"t": t},
                 backend="cpu", batch_size=batch_size)


@pytest.mark.parametrize("dense", [True, False])
def test_skipped_overflow_batch_leaves_later_groups_intact(monkeypatch, dense):
    """error_policy='skip': a batch whose SUM overflows is rejected as a whole, and the groups
    of later batches keep their own keys (a rejected batch's group ids are reused)."""
    if not dense:
        monkeypatch.setattr(cpu, "DENSE_MAX_SLOTS", 0)
    t = pa.table({"k": [0, 0, 1, 2, 3, 4, 5, 6],
                  "v": [2**62, 2**62, 7, 8, 9, 10, 11, 12]})
    sink = gpuvelo.io.MemorySink()
    gpuvelo.Job("SELECT k, SUM(v) AS s, COUNT(*) AS n FROM t GROUP BY k", sources={"t": t},
                sink=sink, batch_size=4, error_policy="skip", backend="cpu", partitions=1).run()
    got = {r["k"]: (r["s"], r["n"]) for r in sink.table().to_pylist()}
    assert got == {3: (9, 1), 4: (10, 1), 5: (11, 1), 6: (12, 1)}
