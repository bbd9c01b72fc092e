"""``aggregator="cudf"``: the glue between device columns, cuDF's group-by and our partials.

cuDF is not installed on the machines that run these tests, so most tests inject a small fake
``cudf`` (built on pyarrow's hash group-by) that implements exactly the calls
``gpu_cudf.py`` makes, and run :class:`CudfGroupState` on host NumPy columns around a
:class:`CpuGroupState`: its partials and results must equal the CPU backend's. The one
end-to-end test needs real cuDF and a GPU, and skips otherwise.
"""

from __future__ import annotations

import sys
import types
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import gpuvelo
from gpuvelo import types as T
from gpuvelo.backends.cpu import CpuGroupState
from gpuvelo.backends.gpu_cudf import (CudfGroupState, batch_fallback_reason, cudf_partials,
                                       spec_fallback_reason)
from gpuvelo.backends.protocol import AggSlot, StateSpec
from gpuvelo.columns import Col


# ---------------------------------------------------------------------------- the fake cudf
class _Series:
    """cudf.Series(array, nan_as_null=...): like cuDF, NaN becomes NULL unless told not to."""

    def __init__(self, data, nan_as_null=True):
        data = data.get() if hasattr(data, "get") else np.asarray(data)   # CuPy -> host
        mask = np.isnan(data) if nan_as_null and data.dtype.kind == "f" else None
        self.array = pa.array(data, mask=mask)


class _Frame:
    def __init__(self, data, index=()):
        if isinstance(data, pa.Table):
            self.table = data
        else:
            assert all(isinstance(s, _Series) for s in data.values()), "columns must be Series"
            self.table = pa.table({name: s.array for name, s in data.items()})
        self.index = tuple(index)

    def groupby(self, by, dropna=True, sort=None):
        assert isinstance(by, list) and not self.index
        FAKE_CUDF.calls.append(("groupby", tuple(by), dropna, sort))
        return _GroupBy(self.table, by, dropna)

    def reset_index(self):
        return _Frame(self.table)

    def to_arrow(self):
        assert not self.index, "keys still in the index: call reset_index() first"
        return self.table


_AGGS = {"sum": ("sum", None), "min": ("min", None), "max": ("max", None),
         "mean": ("mean", None), "var": ("variance", pc.VarianceOptions(ddof=1))}


class _GroupBy:
    def __init__(self, table: pa.Table, by: list[str], dropna: bool):
        self.table, self.by = table, by
        if dropna:     # cuDF's default drops rows with a NULL key
            keep = pc.and_(*[pc.is_valid(table.column(k)) for k in by]) if len(by) > 1 else \
                pc.is_valid(table.column(by[0]))
            self.table = table.filter(keep)

    def agg(self, spec: dict):
        assert isinstance(spec, dict) and all(isinstance(h, str) for h in spec.values())
        specs = []
        for col, how in spec.items():
            name, opts = _AGGS[how]     # KeyError: an aggregation cuDF's dict form lacks
            specs.append((col, name, opts) if opts else (col, name))
        res = self.table.group_by(self.by, use_threads=False).aggregate(specs)
        names = {f"{col}_{_AGGS[how][0]}": col for col, how in spec.items()}
        res = res.rename_columns([names.get(c, c) for c in res.column_names])
        return _Frame(res.select(self.by + list(spec)), index=self.by)


FAKE_CUDF = types.ModuleType("cudf")
FAKE_CUDF.Series = _Series
FAKE_CUDF.DataFrame = _Frame
FAKE_CUDF.calls = []


@pytest.fixture
def fake_cudf(monkeypatch):
    FAKE_CUDF.calls.clear()
    monkeypatch.setitem(sys.modules, "cudf", FAKE_CUDF)
    return FAKE_CUDF


# ---------------------------------------------------------------------------- data
DEC = T.decimal(12, 2)
TS = T.timestamp("us")


def _col(data, dtype, null_rate, rng) -> Col:
    valid = rng.random(len(data)) >= null_rate if null_rate else None
    return Col(np.asarray(data), valid, dtype)


def _keys(rng, n, null_rate=0.1):
    return [_col(rng.integers(-3, 4, n), T.INT64, null_rate, rng),
            _col(rng.random(n) < 0.5, T.BOOL, null_rate, rng),
            _col(rng.integers(-2, 2, n).astype(np.int64) * 150, DEC, 0.0, rng),
            _col(rng.integers(0, 3, n).astype(np.int32) + 19000, T.DATE, null_rate, rng)]


KEY_DTYPES = (T.INT64, T.BOOL, DEC, T.DATE)


def _args(rng, n, null_rate=0.2):
    """(AggSlot, Col) pairs over every aggregate the cuDF path computes; two aggregates share
    one argument Col, as the row stage does."""
    x = _col(rng.integers(-10**6, 10**6, n), T.INT64, null_rate, rng)
    u = _col(rng.integers(0, 2**40, n, dtype=np.uint64), T.UINT64, null_rate, rng)
    f = _col(rng.normal(size=n) * 100, T.FLOAT64, null_rate, rng)
    fv = _col(rng.normal(size=n) * 100, T.FLOAT64, 0.0, rng)          # VAR needs no NULLs
    d = _col(rng.integers(-10**8, 10**8, n), DEC, null_rate, rng)
    dv = _col(rng.integers(-10**8, 10**8, n), DEC, 0.0, rng)
    ts = _col(rng.integers(0, 10**12, n), TS, null_rate, rng)
    i8 = _col(rng.integers(-100, 100, n).astype(np.int8), T.INT8, null_rate, rng)
    b = _col(rng.random(n) < 0.3, T.BOOL, null_rate, rng)
    return [
        (AggSlot("count_star", None, T.INT64), None),
        (AggSlot("count", T.INT64, T.INT64), x),
        (AggSlot("sum", T.INT64, T.INT64), x),
        (AggSlot("avg", T.INT64, T.FLOAT64), x),
        (AggSlot("min", T.INT64, T.INT64), x),
        (AggSlot("max", T.UINT64, T.UINT64), u),
        (AggSlot("sum", T.UINT64, T.INT64), u),
        (AggSlot("sum", T.FLOAT64, T.FLOAT64), f),
        (AggSlot("avg", T.FLOAT64, T.FLOAT64), f),
        (AggSlot("var_samp", T.FLOAT64, T.FLOAT64), fv),
        (AggSlot("stddev_pop", T.FLOAT64, T.FLOAT64), fv),
        (AggSlot("sum", DEC, T.decimal(38, 2)), d),
        (AggSlot("min", DEC, DEC), d),
        (AggSlot("max", DEC, DEC), d),
        (AggSlot("var_pop", DEC, T.FLOAT64), dv),
        (AggSlot("min", TS, TS), ts),
        (AggSlot("max", T.INT8, T.INT8), i8),
        (AggSlot("sum", T.BOOL, T.INT64), b),
    ]


def _batch(rng, n, null_rate=0.1):
    keys = _keys(rng, n, null_rate)
    pairs = _args(rng, n, 2 * null_rate)
    spec = StateSpec(KEY_DTYPES, tuple(a for a, _ in pairs))
    return spec, keys, [c for _, c in pairs]


def _sorted(table: pa.Table) -> pa.Table:
    keys = [c for c in table.column_names if c.startswith("k")]
    return table.sort_by([(k, "ascending") for k in keys])


def _assert_tables_equal(got: pa.Table, want: pa.Table) -> None:
    """Same schema and rows (after sorting by the keys); floats to 1e-9 relative."""
    assert got.schema == want.schema
    got, want = _sorted(got), _sorted(want)
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        g, w = got.column(name), want.column(name)
        if pa.types.is_floating(w.type):
            assert g.null_count == w.null_count, name
            np.testing.assert_allclose(np.asarray(g.fill_null(0.0)), np.asarray(w.fill_null(0.0)),
                                       rtol=1e-9, atol=1e-9, err_msg=name)
        else:
            assert g.equals(w), name


# ---------------------------------------------------------------------------- qualification
def _spec(keys, *aggs):
    return StateSpec(tuple(keys), tuple(AggSlot(f, d, d or T.INT64) for f, d in aggs))


@pytest.mark.parametrize("spec, uses_cudf", [
    (_spec([T.INT64], ("count_star", None), ("sum", T.INT64), ("avg", T.FLOAT64)), True),
    (_spec([T.INT32, T.BOOL, DEC, T.DATE, TS], ("min", DEC), ("max", TS)), True),
    (_spec([T.UINT8], ("var_samp", T.FLOAT64), ("stddev_pop", DEC), ("count", T.FLOAT32)), True),
    (_spec([], ("count_star", None)), False),                       # global aggregate
    (_spec([T.STRING], ("count_star", None)), False),               # string key
    (_spec([T.FLOAT64], ("count_star", None)), False),              # float key: NaN groups
    (_spec([T.INT64], ("first", T.INT64)), False),
    (_spec([T.INT64], ("last", T.INT64)), False),
    (_spec([T.INT64], ("count_distinct", T.INT64)), False),
    (_spec([T.INT64], ("min", T.FLOAT64)), False),                  # NaN order
    (_spec([T.INT64], ("max", T.FLOAT32)), False),
    (_spec([T.INT64], ("count", T.STRING)), False),                 # string argument
    (_spec([T.INT64], ("max", T.BOOL)), False),
])
def test_spec_qualification(spec, uses_cudf):
    reason = spec_fallback_reason(spec)
    assert (reason is None) == uses_cudf, reason


def test_batch_qualification():
    rng = np.random.default_rng(1)
    n = 50
    spec = _spec([T.INT64], ("sum", T.FLOAT64), ("sum", T.INT64), ("var_pop", T.INT64))
    ok_f = Col(rng.normal(size=n), None, T.FLOAT64)
    ok_i = Col(rng.integers(-10, 10, n), None, T.INT64)
    assert batch_fallback_reason(spec, [ok_f, ok_i, ok_i]) is None
    nan = ok_f.data.copy()
    nan[7] = np.nan
    assert "NaN" in batch_fallback_reason(spec, [Col(nan, None, T.FLOAT64), ok_i, ok_i])
    valid = np.ones(n, bool)
    valid[7] = False     # a NaN under a NULL is no NaN at all
    assert batch_fallback_reason(spec, [Col(nan, valid, T.FLOAT64), ok_i, ok_i]) is None
    big = Col(np.full(n, 2**62, np.int64), None, T.INT64)
    assert "overflow" in batch_fallback_reason(spec, [ok_f, big, ok_i])
    assert "NULL" in batch_fallback_reason(spec, [ok_f, ok_i, Col(ok_i.data, valid, T.INT64)])
    # NULLs are fine where they are not a variance's argument
    assert batch_fallback_reason(spec, [ok_f, Col(ok_i.data, valid, T.INT64), ok_i]) is None


# ---------------------------------------------------------------------------- partials
@pytest.mark.parametrize("seed", range(4))
def test_cudf_partials_equal_cpu_local_partials(seed):
    rng = np.random.default_rng(seed)
    FAKE_CUDF.calls.clear()
    spec, keys, args = _batch(rng, 300)
    assert spec_fallback_reason(spec) is None
    assert batch_fallback_reason(spec, args) is None
    ref = CpuGroupState(spec)
    want = ref.local_partials(keys, args, np.arange(300, dtype=np.int64))
    got = cudf_partials(FAKE_CUDF, spec, ref.partials_schema(), keys, args)
    assert len(FAKE_CUDF.calls) == 1 and FAKE_CUDF.calls[0][2:] == (False, False)
    _assert_tables_equal(got, want)


def test_null_keys_group_together_and_apart_from_zero():
    spec = _spec([T.INT64], ("count_star", None))
    keys = [Col(np.array([0, 0, 5, 9]), np.array([True, False, False, True]), T.INT64)]
    got = _sorted(cudf_partials(FAKE_CUDF, spec, CpuGroupState(spec).partials_schema(), keys, [None]))
    assert got.column("k0").to_pylist() == [0, 9, None]
    assert got.column("a0_n").to_pylist() == [1, 1, 2]


def test_empty_groups_min_max_are_null():
    spec = _spec([T.INT64], ("min", DEC), ("max", T.INT32))
    valid = np.array([False, False, True])
    keys = [Col(np.array([1, 1, 2]), None, T.INT64)]
    args = [Col(np.array([5, 6, 7]), valid, DEC), Col(np.array([5, 6, 7], np.int32), valid, T.INT32)]
    got = _sorted(cudf_partials(FAKE_CUDF, spec, CpuGroupState(spec).partials_schema(), keys, args))
    assert got.column("a0_n").to_pylist() == [0, 1]
    assert got.column("a0_val").to_pylist() == [None, 7]
    assert got.column("a1_val").to_pylist() == [None, 7]


# ---------------------------------------------------------------------------- the state
def _run(state, batches):
    start = 0
    for keys, args in batches:
        n = len(keys[0])
        state.update(keys, args, np.arange(start, start + n, dtype=np.int64))
        start += n
    return state


@pytest.mark.parametrize("seed", range(3))
def test_state_equals_cpu_state_over_batches(seed, fake_cudf):
    rng = np.random.default_rng(100 + seed)
    batches = []
    for n in (200, 1, 57, 400):
        spec, keys, args = _batch(rng, n)
        batches.append((keys, args))
    state = _run(CudfGroupState(spec, CpuGroupState(spec)), batches)     # cudf from sys.modules
    ref = _run(CpuGroupState(spec), batches)
    assert state.cudf_batches == len(batches) and state.fallback_batches == 0
    assert len(fake_cudf.calls) == len(batches)
    _assert_tables_equal(state.partials(), ref.partials())
    _assert_tables_equal(state.finalize(), ref.finalize())
    assert state.num_groups == ref.num_groups
    # the delegated bookkeeping works on the wrapped state
    assert state.changed().size == state.num_groups
    state.clear_changed()
    assert state.changed().size == 0
    state.evict(state.live_gids()[:1])
    assert state.num_groups == ref.num_groups - 1


def test_fallback_batches_give_the_cpu_answer(fake_cudf):
    rng = np.random.default_rng(7)
    n = 100
    spec = _spec([T.INT64], ("sum", T.FLOAT64), ("sum", T.INT64))
    keys = [Col(rng.integers(0, 5, n), None, T.INT64)]
    f = rng.normal(size=n)
    nan = f.copy()
    nan[3] = np.nan
    big = np.full(n, 2**57, np.int64)       # max|x| * rows >= 2**63: cuDF might wrap
    small = rng.integers(-5, 5, n)
    batches = [(keys, [Col(f, None, T.FLOAT64), Col(small, None, T.INT64)]),
               (keys, [Col(nan, None, T.FLOAT64), Col(small, None, T.INT64)]),
               (keys, [Col(f, None, T.FLOAT64), Col(big, None, T.INT64)]),
               (keys, [Col(f, None, T.FLOAT64), Col(-big, None, T.INT64)])]
    state = _run(CudfGroupState(spec, CpuGroupState(spec)), batches)
    ref = _run(CpuGroupState(spec), batches)
    assert (state.cudf_batches, state.fallback_batches) == (1, 3)
    _assert_tables_equal(state.finalize(), ref.finalize())
    got = _sorted(state.finalize())
    nan_group = np.asarray(got.column("k0")) == keys[0].data[3]
    np.testing.assert_array_equal(np.isnan(np.asarray(got.column("a0"))), nan_group)
    assert pc.sum(got.column("a1")).as_py() == 2 * int(small.sum())


def test_unqualified_query_never_calls_cudf(fake_cudf):
    spec = _spec([T.STRING], ("count_star", None))
    keys = [Col(np.array([0, 1, 0], np.int32), None, T.STRING, pa.array(["a", "b"]))]
    state = _run(CudfGroupState(spec, CpuGroupState(spec)), [(keys, [None])])
    assert state.fallback_reason and state.fallback_batches == 1 and not fake_cudf.calls
    assert _sorted(state.finalize()).column("a0").to_pylist() == [2, 1]


@pytest.mark.gpu
def test_gpu_state_with_fake_cudf_equals_cpu(fake_cudf):
    """The device side of the glue (CuPy arrays in, GpuGroupState merging) with the fake cuDF."""
    from gpuvelo.backends.gpu import gpu_available

    if not gpu_available():
        pytest.skip("no usable CUDA device")
    import cupy as cp

    from gpuvelo.backends.gpu import GpuBackend

    rng = np.random.default_rng(11)
    batches = []
    for n in (300, 64):
        spec, keys, args = _batch(rng, n)
        batches.append((keys, args))
    dev = lambda c: None if c is None else Col(  # noqa: E731
        cp.asarray(c.data), None if c.valid is None else cp.asarray(c.valid), c.dtype)
    state = GpuBackend(aggregator="cudf").group_state(spec)
    assert isinstance(state, CudfGroupState)
    _run(state, [([dev(k) for k in keys], [dev(a) for a in args]) for keys, args in batches])
    ref = _run(CpuGroupState(spec), batches)
    assert state.cudf_batches == len(batches)
    _assert_tables_equal(state.finalize(), ref.finalize())


# ---------------------------------------------------------------------------- end to end
@pytest.mark.cudf
@pytest.mark.gpu
def test_cudf_backend_equals_cpu():
    pytest.importorskip("cudf")
    from gpuvelo.backends.gpu import gpu_available

    if not gpu_available():
        pytest.skip("no usable CUDA device")
    rng = np.random.default_rng(3)
    n = 5000
    table = pa.table({
        "k": pa.array(rng.integers(0, 50, n), mask=rng.random(n) < 0.05),
        "x": pa.array(rng.integers(-1000, 1000, n), mask=rng.random(n) < 0.1),
        "f": pa.array(rng.normal(size=n)),
        "d": pa.array([Decimal(int(v)).scaleb(-2) for v in rng.integers(-10**6, 10**6, n)],
                      pa.decimal128(12, 2)),
    })
    q = ("SELECT k, COUNT(*) AS c, SUM(x) AS sx, AVG(f) AS af, MIN(d) AS mn, MAX(x) AS mx, "
         "VAR_SAMP(f) AS vf FROM t GROUP BY k")
    got = gpuvelo.sql(q, backend="cudf", batch_size=1000, t=table).sort_by("k")
    want = gpuvelo.sql(q, backend="cpu", batch_size=1000, t=table).sort_by("k")
    assert got.schema == want.schema
    for name in ("k", "c", "sx", "mn", "mx"):
        assert got.column(name).equals(want.column(name)), name
    for name in ("af", "vf"):
        np.testing.assert_allclose(np.asarray(got.column(name)), np.asarray(want.column(name)),
                                   rtol=1e-9)
