"""The GPU backend against the CPU reference, on the device (skipped without a usable GPU)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from differential import WINDOW_QUERIES, window_events

from gpuvelo import types as T
from gpuvelo.backends import keyhash
from gpuvelo.backends.cpu import CpuBackend
from gpuvelo.backends.gpu import gpu_available
from gpuvelo.backends.protocol import AggSlot, StateSpec
from gpuvelo.errors import BackendError

gpu = pytest.mark.skipif(not gpu_available(), reason="no usable CUDA device")   # skip helper
pytestmark = pytest.mark.gpu

FUNCS_NUMERIC = ("count", "sum", "avg", "min", "max", "var_samp", "var_pop", "stddev_samp",
                 "stddev_pop", "first", "last", "count_distinct")


@pytest.fixture(scope="module")
def gb():
    if not gpu_available():
        pytest.skip("no usable CUDA device")
    from gpuvelo.backends.gpu import GpuBackend

    return GpuBackend()


def _batch(rng, n, start):
    words = ["a", "bb", "", "grüße", "日本", "zzz", "a" * 20]
    keys_s = pa.array(rng.choice(words, n).tolist(), mask=rng.random(n) < 0.1)
    return pa.record_batch({
        "ki": pa.array(rng.integers(-3, 4, n), mask=rng.random(n) < 0.05),
        "ks": keys_s,
        "kf": pa.array(rng.choice([0.0, -0.0, 1.5, np.nan], n)),
        "x": pa.array(rng.integers(-10**6, 10**6, n), mask=rng.random(n) < 0.2),
        "f": pa.array(rng.normal(size=n) * 100, mask=rng.random(n) < 0.2),
        "s": pa.array(rng.choice(words, n).tolist(), mask=rng.random(n) < 0.2),
        "d": _decimals(rng.integers(-10**8, 10**8, n), 2, pa.decimal128(12, 2)),
    }), np.arange(start, start + n, dtype=np.int64)


def _decimals(unscaled: np.ndarray, scale: int, typ: pa.DataType) -> pa.Array:
    """Decimal array of ``unscaled * 10**-scale``, built from exact Python Decimals: every
    pyarrow accepts this, unlike an int64 -> decimal128(p < 21) cast, which older pyarrow
    rejects ("Precision is not great enough")."""
    return pa.array([Decimal(int(v)).scaleb(-scale) for v in unscaled], typ)


SCHEMA = {"ki": T.INT64, "ks": T.STRING, "kf": T.FLOAT64, "x": T.INT64, "f": T.FLOAT64,
          "s": T.STRING, "d": T.decimal(12, 2)}


def _spec(key_names, arg_names):
    aggs = [AggSlot("count_star", None, T.INT64)]
    for a in arg_names:
        d = SCHEMA[a]
        for f in FUNCS_NUMERIC:
            if d.is_string and f in ("sum", "avg") or d.is_string and f.startswith(("var", "stddev")):
                continue
            out = {"count": T.INT64, "count_distinct": T.INT64, "avg": T.FLOAT64}.get(f)
            if f == "sum":
                out = T.decimal(38, d.scale) if d.is_decimal else (T.FLOAT64 if d.is_float else T.INT64)
            if f.startswith(("var", "stddev")):
                out = T.FLOAT64
            aggs.append(AggSlot(f, d, out or d))
    return StateSpec(tuple(SCHEMA[k] for k in key_names), tuple(aggs)), aggs


def _run(backend, spec, key_names, aggs, batches, arg):
    st = backend.group_state(spec)
    for batch, pos in batches:
        cols = backend.to_device(batch, SCHEMA)
        keys = [cols[k] for k in key_names]
        args = [None if a.arg_dtype is None else cols[arg] for a in aggs]
        st.update(keys, args, pos)
    return st


def _sorted(table: pa.Table) -> pa.Table:
    keys = [c for c in table.column_names if c.startswith("k")]
    return table.sort_by([(k, "ascending") for k in keys]) if keys else table


def _assert_same(a: pa.Table, b: pa.Table):
    assert a.schema == b.schema
    a, b = _sorted(a), _sorted(b)
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if pa.types.is_floating(a.schema.field(name).type):
            np.testing.assert_allclose(np.array(x, dtype=float), np.array(y, dtype=float), rtol=1e-9,
                                       equal_nan=True, err_msg=name)
        elif pa.types.is_list(a.schema.field(name).type):
            assert [sorted(map(repr, v)) for v in x] == [sorted(map(repr, v)) for v in y], name
        else:
            assert x == y, name


@pytest.mark.parametrize("key_names,arg", [(("ki",), "x"), (("ks",), "f"), (("kf", "ki"), "s"),
                                          (("ks", "ki"), "d"), ((), "x")])
def test_group_state_matches_cpu(gb, key_names, arg):
    rng = np.random.default_rng(len(key_names) + len(arg))
    batches = [_batch(rng, 3000, 0), _batch(rng, 2000, 3000), _batch(rng, 1, 5000)]
    spec, aggs = _spec(key_names, [arg])
    cpu = _run(CpuBackend(), spec, key_names, aggs, batches, arg)
    dev = _run(gb, spec, key_names, aggs, batches, arg)
    _assert_same(dev.finalize(), cpu.finalize())
    # GPU partials merge into a CPU state (and back) to the same answer
    into_cpu = CpuBackend().group_state(spec)
    into_cpu.merge(dev.partials())
    _assert_same(into_cpu.finalize(), cpu.finalize())
    into_gpu = gb.group_state(spec)
    into_gpu.merge(cpu.partials())
    _assert_same(into_gpu.finalize(), cpu.finalize())
    assert dev.num_groups == cpu.num_groups
    assert len(dev.changed()) == dev.num_groups
    dev.clear_changed()
    assert len(dev.changed()) == 0


def test_evict_and_growth(gb):
    spec = StateSpec((T.INT64,), (AggSlot("sum", T.INT64, T.INT64),))
    st = gb.group_state(spec)
    cp = gb.xp
    from gpuvelo.columns import Col

    for b in range(3):   # 3 x 50k distinct keys: forces several table growths
        k = cp.arange(b * 50_000, (b + 1) * 50_000, dtype=cp.int64)
        st.update([Col(k, None, T.INT64)], [Col(k, None, T.INT64)], np.arange(50_000) + b * 50_000)
    assert st.num_groups == 150_000
    # gids follow the device's atomic arrival order, not key order: find keys 0..999's gids
    live = st.live_gids()
    keys = np.asarray(st.partials(live).column("k0"))
    gone = live[keys < 1000]
    assert gone.size == 1000
    st.evict(gone)
    assert st.num_groups == 149_000
    k = cp.arange(0, 2000, dtype=cp.int64)     # 1000 evicted keys come back as new groups
    st.update([Col(k, None, T.INT64)], [Col(k, None, T.INT64)], np.arange(2000) + 10**6)
    assert st.num_groups == 150_000
    res = st.finalize().to_pydict()
    got = dict(zip(res["k0"], res["a0"]))
    assert got[5] == 5 and got[1500] == 3000 and got[149_999] == 149_999


def test_hash_and_partition_match_numpy(gb):
    rng = np.random.default_rng(4)
    batch, _ = _batch(rng, 5000, 0)
    cols = gb.to_device(batch, SCHEMA)
    host = CpuBackend().to_device(batch, SCHEMA)
    names = ["ki", "ks", "kf", "x"]
    h = gb.hash_keys([cols[k] for k in names])
    ref = keyhash.hash_rows([host[k] for k in names], 5000)
    assert np.array_equal(gb.to_host(h), ref)
    for p in (1, 7, 64):
        part = gb.partition_ids(h, p)
        assert np.array_equal(gb.to_host(part), keyhash.partition_ids(ref, p))
        order, offsets = gb.partition(part, p)
        ro, roff = CpuBackend().partition(keyhash.partition_ids(ref, p), p)
        assert np.array_equal(gb.to_host(order), ro) and np.array_equal(gb.to_host(offsets), roff)


def test_int_sum_overflow_raises(gb):
    from gpuvelo.columns import Col
    from gpuvelo.errors import ArithmeticOverflowError

    spec = StateSpec((), (AggSlot("sum", T.INT64, T.INT64),))
    st = gb.group_state(spec)
    v = gb.xp.full(4, 2**62, dtype=gb.xp.int64)
    st.update([], [Col(v, None, T.INT64)], np.arange(4))
    with pytest.raises(ArithmeticOverflowError):
        st.finalize()


def test_no_device_is_a_clear_error(monkeypatch):
    import gpuvelo.backends.gpu as g

    monkeypatch.setattr(g, "gpu_available", lambda: False)
    with pytest.raises(BackendError, match="CUDA device"):
        g.GpuBackend()




@pytest.mark.parametrize("query", WINDOW_QUERIES, ids=["tumbling", "hopping", "session"])
@pytest.mark.parametrize("partitions", [1, 3])
def test_windowed_job_gpu_matches_cpu(gb, query, partitions):
    """Windowed jobs (late rows, closing windows, evict) on backend='gpu' equal backend='cpu'."""
    import datetime as dt

    import gpuvelo

    table = window_events(np.random.default_rng(len(query) + partitions), 8000)

    def run(backend):
        sink = gpuvelo.io.MemorySink()
        job = gpuvelo.Job(query, sources={"t": table}, sink=sink, batch_size=2000, backend=backend,
                          partitions=partitions, max_out_of_orderness=dt.timedelta(seconds=60))
        return sink, job.run()

    want, want_stats = run("cpu")
    got, got_stats = run("gpu")
    assert got_stats.backend == "gpu"
    assert got_stats.records_late == want_stats.records_late
    order = [(c, "ascending") for c in ("k", "window_start")]
    got, want = got.table().sort_by(order), want.table().sort_by(order)
    assert got.num_rows == want.num_rows > 0
    for name in want.column_names:
        x, y = got.column(name).to_pylist(), want.column(name).to_pylist()
        if pa.types.is_floating(want.schema.field(name).type):
            np.testing.assert_allclose(np.array(x, float), np.array(y, float), rtol=1e-9,
                                       equal_nan=True, err_msg=name)
        else:
            assert x == y, name


def test_evict_compacts_and_lookup(gb):
    """Evicting most groups renumbers the rest 0..m-1; lookup/keys/updates stay right."""
    from gpuvelo.columns import Col

    spec = StateSpec((T.INT64,), (AggSlot("count_star", None, T.INT64), AggSlot("sum", T.INT64, T.INT64),
                                  AggSlot("max", T.INT64, T.INT64), AggSlot("count_distinct", T.INT64, T.INT64)))
    cp = gb.xp
    cpu, dev = CpuBackend().group_state(spec), gb.group_state(spec)
    k = np.arange(6000, dtype=np.int64)
    v = k * 3 % 17
    cpu.update([Col(k, None, T.INT64)], [None] + [Col(v, None, T.INT64)] * 3, np.arange(6000))
    vd = Col(cp.asarray(v), None, T.INT64)
    dev.update([Col(cp.asarray(k), None, T.INT64)], [None, vd, vd, vd], np.arange(6000))
    gone = [Col(np.arange(5000, dtype=np.int64), None, T.INT64)]
    cpu.evict(cpu.lookup(gone))
    dev.evict(dev.lookup(gone))
    assert dev.num_groups == 1000
    assert np.array_equal(dev.live_gids(), np.arange(1000))
    assert (dev.lookup(gone) == -1).all()
    keys = np.asarray(dev.keys().column("k0"))
    assert sorted(keys.tolist()) == list(range(5000, 6000))
    k2 = np.arange(4000, 7000, dtype=np.int64)
    v2 = k2 % 5
    cpu.update([Col(k2, None, T.INT64)], [None] + [Col(v2, None, T.INT64)] * 3, np.arange(6000, 9000))
    vd2 = Col(cp.asarray(v2), None, T.INT64)
    dev.update([Col(cp.asarray(k2), None, T.INT64)], [None, vd2, vd2, vd2], np.arange(6000, 9000))
    _assert_same(dev.finalize(), cpu.finalize())
