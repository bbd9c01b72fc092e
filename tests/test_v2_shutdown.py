"""Shutdown and backpressure: stopping mid-stream (graceful and abort) from another thread and
by signal in a CLI subprocess; bounded queues under a slow sink. No hang (every run is joined
with a timeout), no lost accepted batch, stats consistent, sinks closed, no leaked threads."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo

QUERY = "SELECT k, COUNT(*) AS n, SUM(v) AS sv FROM t GROUP BY k"
ROWS_PER_BATCH = 100
KEYS = 7
RUNS = [(1, None), (3, "hash"), (3, "round_robin"), (3, "sticky")]
JOIN_S = 20


def _batch(b: int) -> pa.RecordBatch:
    i = np.arange(ROWS_PER_BATCH, dtype=np.int64)
    return pa.record_batch({"k": (i + b) % KEYS, "v": b * ROWS_PER_BATCH + i})


def _stream(batches: int):
    """A long stream of deterministic batches (generated lazily)."""
    return (_batch(b) for b in range(batches))


def _expected(rows_read: int) -> dict:
    """k -> (count, sum) over the first ``rows_read`` rows of the stream."""
    assert rows_read % ROWS_PER_BATCH == 0, "a batch was split"
    t = pa.Table.from_batches([_batch(b) for b in range(rows_read // ROWS_PER_BATCH)])
    k, v = t["k"].to_numpy(), t["v"].to_numpy()
    return {int(key): (int((k == key).sum()), int(v[k == key].sum())) for key in np.unique(k)}


def _as_dict(table: pa.Table) -> dict:
    return {r["k"]: (r["n"], r["sv"]) for r in table.to_pylist()}


def _gpuvelo_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("gpuvelo-")]


def _run_in_thread(job) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def target():
        try:
            out["stats"] = job.run()
        except BaseException as e:  # noqa: BLE001 -- handed to the test
            out["error"] = e

    th = threading.Thread(target=target, name="test-runner", daemon=True)
    th.start()
    return th, out


def _stop_after(job, batches: int, graceful: bool):
    """An on_progress callback that, once ``batches`` were read, has *another* thread stop the job."""
    reached = threading.Event()
    count = [0]

    def on_progress():
        count[0] += 1
        if count[0] == batches:
            reached.set()

    def stopper():
        if reached.wait(JOIN_S):
            job[0].stop(graceful=graceful)

    threading.Thread(target=stopper, name="test-stopper", daemon=True).start()
    return on_progress


def _job(partitions, strategy, sink, on_progress, emit="final", batches=100_000, **kw):
    holder: list = []
    job = gpuvelo.Job(QUERY, sources={"t": _stream(batches)}, sink=sink, backend="cpu",
                      partitions=partitions, strategy=strategy, emit=emit,
                      on_progress=on_progress(holder) if callable(on_progress) else None, **kw)
    holder.append(job)
    return job


@pytest.mark.parametrize("partitions,strategy", RUNS)
@pytest.mark.parametrize("emit", ["final", "changes"])
def test_graceful_stop_from_another_thread(partitions, strategy, emit):
    sink = gpuvelo.io.MemorySink()
    job = _job(partitions, strategy, sink, lambda h: _stop_after(h, 30, graceful=True), emit=emit)
    th, out = _run_in_thread(job)
    th.join(JOIN_S)
    assert not th.is_alive(), "job did not stop"
    assert "error" not in out, out.get("error")
    stats = out["stats"]
    assert stats.stopped == "graceful"
    assert 30 * ROWS_PER_BATCH <= stats.records_read < 100_000 * ROWS_PER_BATCH
    assert stats.batches_read * ROWS_PER_BATCH == stats.records_read
    assert stats.balanced and stats.records_aggregated == stats.records_read
    result = sink.table()
    if emit == "changes":   # the latest row per group is the final value
        result = pa.Table.from_pylist(list({r["k"]: r for r in result.to_pylist()}.values()))
    assert _as_dict(result) == _expected(stats.records_read), "an accepted batch was lost"
    assert stats.records_emitted == sink.rows_written
    assert sink.closed
    assert _gpuvelo_threads() == []


@pytest.mark.parametrize("partitions,strategy", RUNS)
def test_abort_emits_no_final_result(partitions, strategy):
    sink = gpuvelo.io.MemorySink()
    job = _job(partitions, strategy, sink, lambda h: _stop_after(h, 30, graceful=False))
    th, out = _run_in_thread(job)
    th.join(JOIN_S)
    assert not th.is_alive(), "abort hung"
    assert "error" not in out, out.get("error")
    assert out["stats"].stopped == "abort"
    assert sink.rows_written == 0 and out["stats"].records_emitted == 0
    assert sink.closed
    assert _gpuvelo_threads() == []


@pytest.mark.parametrize("strategy", ["hash", "round_robin"])
def test_abort_does_not_hang_behind_a_blocked_sink(strategy):
    """The writer is stuck in a slow sink and every queue is full: abort still returns."""
    def slow(table):
        time.sleep(0.05)

    sink = gpuvelo.io.CallbackSink(slow)
    job = _job(3, strategy, sink, lambda h: _stop_after(h, 20, graceful=False), emit="changes",
               queue_size=2)
    t0 = time.perf_counter()
    th, out = _run_in_thread(job)
    th.join(JOIN_S)
    assert not th.is_alive(), "abort hung behind the slow sink"
    assert "error" not in out, out.get("error")
    assert time.perf_counter() - t0 < 10
    assert out["stats"].stopped == "abort"
    assert _gpuvelo_threads() == []


def test_stop_before_run_reads_nothing_and_returns():
    sink = gpuvelo.io.MemorySink()
    job = _job(3, "hash", sink, None)
    job.stop()
    th, out = _run_in_thread(job)
    th.join(JOIN_S)
    assert not th.is_alive()
    assert out["stats"].records_read == 0 and sink.rows_written == 0
    assert _gpuvelo_threads() == []


# --------------------------------------------------------------------------- backpressure
@pytest.mark.parametrize("strategy", ["hash", "round_robin", "sticky"])
def test_slow_sink_bounds_queues_and_reader(strategy):
    """A sink much slower than the reader: every queue stays within its bound, the reader
    never runs more than the queues' capacity ahead of the sink, and the answer is right."""
    queue_size, partitions, batches = 2, 2, 120
    written = [0]
    lead = [0]          # the most batches the reader was ever ahead of the sink
    # writes per batch: hash -> one per partition (every batch holds every key); the other
    # strategies merge each batch's partial in the writer -> one
    per_batch = partitions if strategy == "hash" else 1

    def slow(table):
        time.sleep(0.003)
        written[0] += 1

    def source():
        for b in range(batches):
            lead[0] = max(lead[0], b - written[0] // per_batch)
            yield _batch(b)

    sink = gpuvelo.io.CallbackSink(slow)
    job = gpuvelo.Job(QUERY, sources={"t": source()}, sink=sink, backend="cpu",
                      partitions=partitions, strategy=strategy, emit="changes",
                      queue_size=queue_size)
    th, out = _run_in_thread(job)
    th.join(JOIN_S)
    assert not th.is_alive() and "error" not in out, out.get("error")
    stats = out["stats"]
    assert stats.records_read == batches * ROWS_PER_BATCH and stats.balanced
    assert stats.queue_high_water, "no queue high-water marks recorded"
    assert all(hw <= queue_size for hw in stats.queue_high_water.values()), stats.queue_high_water
    assert stats.queue_high_water.get("writer") == queue_size, "the writer queue never filled"
    # capacity between reader and sink: per partition its queue + one in hand, the writer's
    # queue + one in hand, and the batch the reader holds
    capacity = partitions * (queue_size + 1) + queue_size + 2
    assert lead[0] <= capacity, f"reader ran {lead[0]} batches ahead of the sink (bound {capacity})"
    # the answer: rerun to a memory sink, EMIT FINAL, and compare with the expected sums
    sink2 = gpuvelo.io.MemorySink()
    gpuvelo.Job(QUERY, sources={"t": _stream(batches)}, sink=sink2, backend="cpu",
                partitions=partitions, strategy=strategy).run()
    assert _as_dict(sink2.table()) == _expected(batches * ROWS_PER_BATCH)


# --------------------------------------------------------------------------- CLI signals
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_signal_stops_gracefully(tmp_path, sig):
    """`gpuvelo demo` over 50M rows, signalled once it is running: it drains, prints the
    result of what it read, and exits 0 well before it could have read everything."""
    err_path = tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gpuvelo", "demo", "--rows", "50000000",
                                 "--partitions", "2", "--backend", "cpu", "--progress"],
                                stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 30
            while "rows/s" not in err_path.read_text(errors="replace"):
                assert proc.poll() is None, f"exited early: {err_path.read_text()}"
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.05)
            proc.send_signal(sig)
            stdout, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = err_path.read_text(errors="replace")
    assert proc.returncode == 0, stderr
    assert "stopping" in stderr
    text = stdout.decode()
    assert "symbol" in text and "volume" in text
    m = re.search(r"([\d,]+) rows in", text)
    assert m, text
    assert 0 < int(m.group(1).replace(",", "")) < 50_000_000


# ---------------------------------------------------------------------------- read-ahead
def test_read_ahead_keeps_order_and_raises_the_producers_error_in_place():
    from gpuvelo.exec.processor import read_ahead

    def items():
        yield from range(5)
        raise ValueError("bad block")

    got = []
    with pytest.raises(ValueError, match="bad block"):
        for x in read_ahead(items()):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_and_closes_the_producer_when_the_consumer_stops():
    from gpuvelo.exec.processor import read_ahead

    closed, made = threading.Event(), []

    def items():
        try:
            for i in range(10**9):
                made.append(i)
                yield i
        finally:
            closed.set()

    it = read_ahead(items(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert closed.is_set() and len(made) <= 3 + 2 + 1     # at most depth (+1 in hand) ahead


def test_file_source_read_ahead_job_matches_and_reports_bad_rows(tmp_path):
    """A CSV job reads ahead on its own thread; results and malformed-row errors are as
    without it."""
    path = tmp_path / "t.csv"
    path.write_text("k,v\n" + "".join(f"{i % 7},{i}\n" for i in range(5000)))
    assert gpuvelo.io.CsvSource(path).read_ahead
    got = gpuvelo.sql("SELECT k, SUM(v) AS s FROM t GROUP BY k ORDER BY k", t=gpuvelo.io.CsvSource(path, block_size=4096),
                      backend="cpu")
    assert got.column("s").to_pylist() == [sum(i for i in range(5000) if i % 7 == k) for k in range(7)]
    bad = tmp_path / "bad.csv"
    bad.write_text("k,v\n" + "".join(f"{i},{i}\n" for i in range(3000)) + "1,2,3\n")
    with pytest.raises(gpuvelo.errors.DataError, match="malformed CSV row at line 3002"):
        gpuvelo.sql("SELECT COUNT(*) FROM t", t=gpuvelo.io.CsvSource(bad, block_size=4096), backend="cpu")
