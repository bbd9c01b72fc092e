"""Errors under each policy: a source that raises mid-stream, a sink that raises, a batch with
a wrong column type, and an overflow in one partition -- for V1 and V2, every strategy."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import gpuvelo
from gpuvelo.errors import (ArithmeticOverflowError, DataError, JobError, SchemaMismatchError,
                            SinkError)

QUERY = "SELECT k, COUNT(*) AS n, SUM(v) AS sv FROM t GROUP BY k"
RUNS = [(1, None), (1, "hash"), (3, "hash"), (3, "round_robin"), (3, "sticky"), (3, "smart")]
ROWS = 50


def _batch(b: int) -> pa.RecordBatch:
    i = np.arange(ROWS, dtype=np.int64)
    return pa.record_batch({"id": b * ROWS + i, "k": (i + b) % 5, "v": i + b})


class RawSource(gpuvelo.io.Source):
    """Batches exactly as given (no re-chunking or schema check in the source), so that the
    engine's own checks meet them; raises ``fail_with`` after ``fail_after`` batches."""

    def __init__(self, batches, fail_after=None, fail_with=None):
        self._batches, self.fail_after, self.fail_with = batches, fail_after, fail_with
        super().__init__(name="rawsrc")

    def schema(self) -> pa.Schema:
        return self._batches[0].schema

    def batches(self):
        for n, b in enumerate(self._batches):
            if n == self.fail_after:
                raise self.fail_with
            yield b


def _job(source, partitions, strategy, sink=None, **kw):
    return gpuvelo.Job(QUERY, sources={"t": source}, sink=sink or gpuvelo.io.MemorySink(),
                       backend="cpu", partitions=partitions, strategy=strategy, **kw)


def _no_threads_left():
    return [t.name for t in threading.enumerate() if t.name.startswith("gpuvelo-")] == []


def _expected(batches) -> dict:
    t = pa.Table.from_batches(batches)
    k, v = t["k"].to_numpy(), t["v"].to_numpy()
    return {int(x): (int((k == x).sum()), int(v[k == x].sum())) for x in np.unique(k)}


def _as_dict(table) -> dict:
    return {r["k"]: (r["n"], r["sv"]) for r in table.to_pylist()}


# --------------------------------------------------------------------------- source
SOURCE_RUNS = RUNS


@pytest.mark.parametrize("policy", ["fail", "skip"])
@pytest.mark.parametrize("partitions,strategy", SOURCE_RUNS)
def test_source_raising_mid_stream_fails_the_job(partitions, strategy, policy):
    """A dead source cannot be skipped: under either policy the job fails with a JobError
    naming the source and how far it got."""
    src = RawSource([_batch(b) for b in range(6)], fail_after=4, fail_with=OSError("disk gone"))
    sink = gpuvelo.io.MemorySink()
    job = _job(src, partitions, strategy, sink, error_policy=policy)
    with pytest.raises(JobError) as info:
        job.run()
    msg = str(info.value)
    assert "'t'" in msg and "4 batches" in msg and "disk gone" in msg, msg
    assert job.stats.stopped == "error"
    assert sink.rows_written == 0 and sink.closed
    assert _no_threads_left()


# --------------------------------------------------------------------------- sink
class Boom(Exception):
    pass


@pytest.mark.parametrize("emit", ["final", "changes"])
@pytest.mark.parametrize("partitions,strategy", RUNS)
def test_sink_raising_gives_sink_error(partitions, strategy, emit):
    def explode(table):
        raise Boom("sink is full")

    src = RawSource([_batch(b) for b in range(8)])
    job = _job(src, partitions, strategy, gpuvelo.io.CallbackSink(explode), emit=emit)
    with pytest.raises(SinkError, match="sink is full"):
        job.run()
    assert job.stats.stopped == "error"
    assert _no_threads_left()


# --------------------------------------------------------------------------- schema
def _with_bad_batch(bad_at: int = 3, batches: int = 7):
    good = [_batch(b) for b in range(batches)]
    bad = good[bad_at]
    bad = pa.record_batch({"id": bad["id"], "k": bad["k"],
                           "v": pc.cast(bad["v"], pa.string())})      # v: string, not int64
    return good, [bad if b == bad_at else good[b] for b in range(batches)]


@pytest.mark.parametrize("partitions,strategy", RUNS)
def test_wrong_column_type_fails_with_schema_mismatch(partitions, strategy):
    _, batches = _with_bad_batch()
    job = _job(RawSource(batches), partitions, strategy)
    with pytest.raises(SchemaMismatchError) as info:
        job.run()
    assert isinstance(info.value, DataError)
    msg = str(info.value)
    assert "'t'" in msg and "'v'" in msg and "batch 3" in msg, msg
    assert _no_threads_left()


@pytest.mark.parametrize("partitions,strategy", RUNS)
def test_wrong_column_type_skipped_to_dead_letter(partitions, strategy):
    good, batches = _with_bad_batch()
    dead = gpuvelo.io.MemorySink()
    sink = gpuvelo.io.MemorySink()
    stats = _job(RawSource(batches), partitions, strategy, sink, error_policy="skip",
                 dead_letter=dead).run()
    assert stats.records_rejected == ROWS
    assert stats.rejected_reasons == {"SchemaMismatchError": ROWS}
    assert stats.records_read == len(batches) * ROWS and stats.balanced
    assert stats.records_aggregated == (len(batches) - 1) * ROWS, "double counted"
    letters = dead.table()
    assert letters.num_rows == ROWS
    assert letters["id"].to_pylist() == batches[3]["id"].to_pylist()
    reasons = set(letters["_gpuvelo_error"].to_pylist())
    assert len(reasons) == 1 and "'v'" in reasons.pop()
    assert dead.closed and sink.closed
    assert _as_dict(sink.table()) == _expected([b for n, b in enumerate(good) if n != 3])


# --------------------------------------------------------------------------- overflow
BIG = 2**62


def _overflow_batches():
    """Key 1 gets BIG in batches 0 and 2: its int64 SUM overflows while folding batch 2."""
    out = []
    for b in range(4):
        i = np.arange(40, dtype=np.int64)
        k = i % 10
        v = i.copy()
        if b in (0, 2):
            v[k == 1] = 0
            v[np.flatnonzero(k == 1)[0]] = BIG
        out.append(pa.record_batch({"id": b * 40 + i, "k": k, "v": v}))
    return out


def test_overflow_fails_the_job_naming_partition_source_and_batch():
    job = _job(RawSource(_overflow_batches()), 3, "hash")
    with pytest.raises(ArithmeticOverflowError) as info:
        job.run()
    msg = str(info.value)
    assert "partition" in msg and "'t'" in msg and "batch 2" in msg, msg
    assert _no_threads_left()


def test_overflow_in_one_partition_rejects_its_rows_only():
    batches = _overflow_batches()
    dead = gpuvelo.io.MemorySink()
    sink = gpuvelo.io.MemorySink()
    stats = _job(RawSource(batches), 3, "hash", sink, error_policy="skip", dead_letter=dead).run()
    assert stats.balanced
    assert stats.rejected_reasons == {"ArithmeticOverflowError": stats.records_rejected}
    rejected_ids = set(dead.table()["id"].to_pylist())
    batch2_ids = set(batches[2]["id"].to_pylist())
    assert 80 + 1 in rejected_ids, "the overflowing row was not rejected"
    assert rejected_ids < batch2_ids, "rows outside the failing partition's piece were rejected"
    assert len(rejected_ids) == stats.records_rejected
    kept = pa.Table.from_batches(batches)
    kept = kept.filter(pc.invert(pc.is_in(kept["id"], pa.array(sorted(rejected_ids)))))
    assert _as_dict(sink.table()) == _expected(kept.to_batches())
