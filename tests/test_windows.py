"""Windows and event time: closing and eviction, bounded memory, late sink, errors, state compaction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from gpuvelo import types as T
from gpuvelo.backends.cpu import CpuBackend
from gpuvelo.backends.protocol import AggSlot, StateSpec
from gpuvelo.columns import Col
from gpuvelo.errors import GpuveloError, NotSupportedError, PlanError
from gpuvelo.exec.query import CompiledQuery
from gpuvelo.exec.windows import WindowedState, event_clock
from gpuvelo.sql import parse_query, plan_query

T0 = 1_767_225_600_000


def trades(n: int, *, start_ms: int = T0, step_ms: int = 10, keys: int = 20, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"k": pa.array(rng.integers(0, keys, n)), "v": pa.array(rng.integers(0, 10, n)),
                     "ts": pa.array(start_ms + np.arange(n) * step_ms, pa.timestamp("ms"))})


def run(query, table, **opts):
    sink = gpuvelo.io.MemorySink()
    stats = gpuvelo.Job(query, sources={"t": table}, sink=sink, **opts).run()
    return sink, stats


# ------------------------------------------------------------------ closing and emitting
def test_emit_final_emits_each_window_once_when_it_closes():
    writes = []
    sink = gpuvelo.io.CallbackSink(writes.append)
    table = trades(6000, step_ms=100)            # 10 minutes, 1-minute windows
    stats = gpuvelo.Job("SELECT k, window_start, COUNT(*) AS n FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)",
                        sources={"t": table}, sink=sink, batch_size=500, partitions=1).run()
    assert len(writes) >= 9                      # windows closed while the stream ran
    out = pa.concat_tables(writes)
    assert out.num_rows == stats.records_emitted == 10 * 20
    pairs = set(zip(out["k"].to_pylist(), out["window_start"].to_pylist()))
    assert len(pairs) == out.num_rows            # once per (key, window)
    assert sum(out["n"].to_pylist()) == 6000
    # every write holds only windows the watermark (max time so far) had passed, or the last
    # (one partition: with several, each partition writes its own closed windows in order)
    starts = [min(w["window_start"].to_pylist()) for w in writes]
    assert starts == sorted(starts)


def test_bounded_memory_on_a_long_stream():
    plan = plan_query(parse_query("SELECT k, COUNT(DISTINCT v) AS d, SUM(v) AS s FROM t GROUP BY k "
                                  "WINDOW TUMBLING(ts, 1s)"), {"k": T.INT64, "v": T.INT64,
                                                             "ts": T.timestamp("ms")})
    backend = CpuBackend()
    cq = CompiledQuery(plan, backend)
    clock = event_clock(plan, 0)
    ws = WindowedState(backend, cq.spec, clock.shape)
    groups, capacity, emitted = [], [], 0
    for b in range(300):                         # 300 windows x 50 keys = 15,000 groups in all
        batch = trades(1000, start_ms=T0 + b * 1000, step_ms=1, keys=50, seed=b).to_batches()[0]
        rb, late, _ = clock.split(cq.row_stage(batch, b * 1000))
        ws.update(rb)
        closed = ws.close(clock.watermark)
        emitted += 0 if closed is None else closed.num_rows
        groups.append(ws.state.num_groups)
        capacity.append(ws.state._store.capacity)
    assert late.size == 0 and emitted == 299 * 50
    assert max(groups) <= 100                    # the open window and the one closing
    assert max(capacity[100:]) <= 2 * 4096 + 200  # memory is compacted, not grown per window
    rest = ws.close_all()
    assert rest.num_rows == 50 and ws.state.num_groups == 0


def test_late_rows_go_to_the_late_sink_with_a_reason():
    table = pa.table({"k": [1, 1, 1, 1], "v": [1, 2, 3, 4],
                      "ts": pa.array([T0, T0 + 61_000, T0 + 1000, T0 + 62_000], pa.timestamp("ms"))})
    late = gpuvelo.io.MemorySink()
    sink, stats = run("SELECT k, window_start, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)",
                      table, batch_size=1, late_policy="sink", late_sink=late)
    assert stats.records_late == 1 and stats.balanced
    lt = late.table()
    assert lt["v"].to_pylist() == [3] and "late" in lt["_gpuvelo_error"][0].as_py()
    assert sorted(sink.table()["s"].to_pylist()) == [1, 6]


def test_grace_period_and_job_option_set_the_out_of_orderness():
    table = pa.table({"k": [1, 1, 1], "v": [1, 2, 3],
                      "ts": pa.array([T0, T0 + 65_000, T0 + 1000], pa.timestamp("ms"))})
    q = "SELECT k, SUM(v) AS s FROM t GROUP BY k WINDOW TUMBLING (SIZE 1 MINUTE{grace})"
    assert run(q.format(grace=""), table, event_time="ts")[1].records_late == 1
    assert run(q.format(grace=", GRACE PERIOD 10 SECONDS"), table, event_time="ts")[1].records_late == 0
    assert run(q.format(grace=", GRACE PERIOD 10 SECONDS"), table, event_time="ts",
               max_out_of_orderness=dt.timedelta(seconds=1))[1].records_late == 1
    assert run(q.format(grace=""), table, event_time="ts", max_out_of_orderness=6000)[1].records_late == 0


def test_null_event_times_are_rejected_and_stats_balance():
    table = pa.table({"k": [1, 2, 1], "v": [1, 2, 3],
                      "ts": pa.array([T0, None, T0 + 5], pa.timestamp("ms"))})
    dead = gpuvelo.io.MemorySink()
    sink, stats = run("SELECT k, SUM(v) AS s FROM t WHERE v > 0 GROUP BY k WINDOW TUMBLING(ts, 1s)",
                      table, dead_letter=dead)
    assert (stats.records_rejected, stats.records_aggregated, stats.records_late) == (1, 2, 0)
    assert stats.balanced and dead.table()["k"].to_pylist() == [2]
    assert sink.table()["s"].to_pylist() == [4]


def test_event_time_option_and_timestamp_units():
    us = pa.table({"k": [1, 1], "v": [1, 2], "t2": pa.array([0, 1_500_000], pa.timestamp("us"))})
    out = gpuvelo.sql("SELECT window_start, window_end, SUM(v) AS s FROM t WINDOW TUMBLING(t2, 1s)", t=us)
    assert out.schema.field("window_start").type == pa.timestamp("us")
    assert out["window_end"].to_pylist() == [dt.datetime(1970, 1, 1, 0, 0, 1), dt.datetime(1970, 1, 1, 0, 0, 2)]
    sink, _ = run("SELECT window_start, SUM(v) AS s FROM t WINDOW TUMBLING(1s)", us, event_time="t2")
    assert sink.table()["s"].to_pylist() == [1, 2]


def test_state_compaction_keeps_survivors_exact():
    spec = StateSpec((T.INT64,), (AggSlot("count_distinct", T.INT64, T.INT64), AggSlot("sum", T.INT64, T.INT64),
                                  AggSlot("last", T.INT64, T.INT64)))
    st = CpuBackend().group_state(spec)
    keys = np.arange(10_000, dtype=np.int64)
    vals = keys % 7
    st.update([Col(keys, None, T.INT64)], [Col(vals, None, T.INT64)] * 3, np.arange(10_000))
    st.update([Col(keys, None, T.INT64)], [Col(vals + 1, None, T.INT64)] * 3, np.arange(10_000, 20_000))
    before = st.finalize(st.lookup([Col(np.array([9_998, 9_999]), None, T.INT64)]))
    st.clear_changed()
    st.evict(st.lookup([Col(keys[:9_990], None, T.INT64)]))   # compacts: 10 live of 10,000 ids
    assert st.num_groups == 10 and st._store.capacity < 100
    live = st.lookup([Col(np.array([9_998, 9_999]), None, T.INT64)])
    assert st.finalize(live).equals(before)
    assert st.lookup([Col(np.array([5]), None, T.INT64)]).tolist() == [-1]
    st.update([Col(np.array([9_999, 20_000]), None, T.INT64)], [Col(np.array([100, 1]), None, T.INT64)] * 3,
              np.array([30_000, 30_001]))
    got = st.finalize(st.changed()).sort_by("k0")
    assert got["k0"].to_pylist() == [9_999, 20_000] and got["a0"].to_pylist() == [3, 1]
    assert st.keys().num_rows == 11


# ------------------------------------------------------------------ errors, end to end
TS = pa.table({"k": [1], "v": [1], "s": ["x"], "f": [1.0], "ts": pa.array([T0], pa.timestamp("ms")),
               "sec": pa.array([1], pa.timestamp("s"))})


@pytest.mark.parametrize("clause, err, fragment", [
    ("WINDOW TUMBLING(ts, 0s)", PlanError, "size must be positive"),
    ("WINDOW SLIDING(ts, 1m, 2m)", PlanError, "advance must be positive and at most the size"),
    ("WINDOW TUMBLING(ts, 3 weeks)", PlanError, "unknown time unit 'weeks'"),
    ("WINDOW TUMBLING(1m)", PlanError, "has no time column"),
    ("WINDOW SESSION (30 SECONDS)", PlanError, "has no time column"),
    ("WINDOW TUMBLING(s, 1m)", PlanError, "must be a timestamp or an integer"),
    ("WINDOW TUMBLING(f, 1m)", PlanError, "must be a timestamp or an integer"),
    ("WINDOW TUMBLING(nope, 1m)", PlanError, "unknown window time column 'nope'"),
    ("WINDOW TUMBLING(sec, 500ms)", NotSupportedError, "whole seconds"),
])
def test_bad_window_specs_raise_clear_errors(clause, err, fragment):
    with pytest.raises(err) as info:
        gpuvelo.sql(f"SELECT k, COUNT(*) FROM t GROUP BY k {clause}", t=TS)
    assert fragment in str(info.value)


@pytest.mark.parametrize("opts, fragment", [
    ({"event_time": "k"}, "uses time column 'ts' but the job names event_time='k'"),
    ({"late_policy": "keep"}, "late_policy must be"),
    ({"late_policy": "sink"}, "go together"),
    ({"max_out_of_orderness": -5}, "max_out_of_orderness must be"),
])
def test_bad_job_window_options(opts, fragment):
    with pytest.raises(GpuveloError) as info:
        gpuvelo.Job("SELECT k, COUNT(*) FROM t GROUP BY k WINDOW TUMBLING(ts, 1m)", sources={"t": TS},
                    sink=gpuvelo.io.MemorySink(), **opts)
    assert fragment in str(info.value)


def test_window_without_aggregates_is_not_supported():
    with pytest.raises(NotSupportedError, match="needs GROUP BY or aggregates"):
        gpuvelo.sql("SELECT k, v FROM t WINDOW TUMBLING(ts, 1m)", t=TS)
