"""Windows benchmark: a 1-minute tumbling window over the synthetic trades stream.

gpuvelo (cpu backend, a streaming Job over 100,000-row batches, EMIT FINAL per window)
against DuckDB (the same aggregation with ``time_bucket`` over the whole table) and against
gpuvelo's own non-windowed streaming run of the same aggregation, on the same data, in one
run. Data: ``gpuvelo.io.synthetic.trades_batches`` -- 1,000 symbols, events spread over one
day, bounded disorder (rows up to ``--disorder-ms`` late); the job allows that much
out-of-orderness, so no row is late and the results must equal DuckDB's (checked).

Targets (printed as PASS/MISS): windowed >= non-windowed / 1.5, and >= 1x DuckDB.

Usage: python benchmarks/bench_windows.py [--rows N | --full] [--repeats R] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]   # run from a checkout without installing
import gpuvelo  # noqa: E402
from common import fmt_rate, machine_info, measure, rate, write_json  # noqa: E402
from gpuvelo.io.synthetic import trades_batches  # noqa: E402

BATCH = 100_000
AGGS = "COUNT(*) AS n, SUM(qty) AS q, MIN(price) AS lo, MAX(price) AS hi, AVG(price) AS ap"
WINDOWED = f"SELECT symbol, window_start, {AGGS} FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 1m)"
PLAIN = f"SELECT symbol, {AGGS} FROM trades GROUP BY symbol"
DUCK = (f"SELECT symbol, time_bucket(INTERVAL '1 minute', ts) AS window_start, {AGGS} "
        "FROM trades GROUP BY symbol, window_start")


def make_data(rows: int, disorder_ms: int) -> pa.Table:
    """The trades stream materialised (so that generating it is not timed)."""
    return pa.Table.from_batches(list(trades_batches(rows, symbols=1000, batch_size=BATCH,
                                                     span_ms=86_400_000, disorder_ms=disorder_ms)))


def gpuvelo_run(query: str, table: pa.Table, disorder_ms: int, emit: str | None = None):
    """One streaming Job over ``table`` in BATCH-row batches; (result, stats)."""
    sink = gpuvelo.io.MemorySink()
    opts = {"max_out_of_orderness": disorder_ms} if "WINDOW" in query else {}
    job = gpuvelo.Job(query, sources={"trades": table.to_batches(max_chunksize=BATCH)}, sink=sink,
                      backend="cpu", partitions=1, emit=emit, **opts)
    stats = job.run()
    return sink.table(), stats


def duckdb_run(table: pa.Table) -> pa.Table:
    """DuckDB: the windowed aggregation with time_bucket over the Arrow table."""
    con = duckdb.connect()
    con.register("trades", table)
    return con.sql(DUCK).to_arrow_table()


def check(got: pa.Table, want: pa.Table) -> None:
    """Raise AssertionError when the windowed results differ."""
    def norm(t):
        t = t.select(["symbol", "window_start", "n", "q", "lo", "hi", "ap"])
        return t.sort_by([("symbol", "ascending"), ("window_start", "ascending")])
    g, w = norm(got), norm(want)
    if g.num_rows != w.num_rows:
        raise AssertionError(f"gpuvelo has {g.num_rows} windows, DuckDB {w.num_rows}")
    for c in ("symbol", "window_start", "n", "q", "lo", "hi"):
        if not np.array_equal(np.asarray(g[c].cast(w[c].type)), np.asarray(w[c])):
            raise AssertionError(f"column {c} differs from DuckDB")
    if not np.allclose(np.asarray(g["ap"]), np.asarray(w["ap"]), rtol=1e-9):
        raise AssertionError("column ap differs from DuckDB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--full", action="store_true", help="10M rows, as the issue specifies")
    ap.add_argument("--disorder-ms", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rows = 10_000_000 if args.full else args.rows
    table = make_data(rows, args.disorder_ms)
    print(f"{rows:,} trades, 1,000 symbols over 1 day, disorder <= {args.disorder_ms} ms, "
          f"{BATCH:,}-row batches")

    got, stats = gpuvelo_run(WINDOWED, table, args.disorder_ms)
    assert stats.records_late == 0 and stats.balanced
    check(got, duckdb_run(table))
    print(f"results equal DuckDB's ({got.num_rows:,} windows x symbols), peak live groups "
          f"{stats.groups:,}")

    timings = {
        "gpuvelo windowed (EMIT FINAL)": measure(lambda: gpuvelo_run(WINDOWED, table, args.disorder_ms),
                                                 args.repeats, args.budget),
        "gpuvelo non-windowed (EMIT CHANGES)": measure(
            lambda: gpuvelo_run(PLAIN, table, 0, emit="changes"), args.repeats, args.budget),
        "duckdb time_bucket (whole table)": measure(lambda: duckdb_run(table), args.repeats, args.budget),
    }
    rates = {name: rate(rows, t.best_s) for name, t in timings.items()}
    for name, r in rates.items():
        print(f"  {name:38s} {fmt_rate(r)}   best {timings[name].best_s:6.2f} s")
    win, plain, duck = rates.values()
    vs_plain, vs_duck = win / plain, win / duck
    print(f"windowed / non-windowed = {vs_plain:.2f}x  "
          f"[{'PASS' if vs_plain >= 1 / 1.5 else 'MISS'}: target >= {1 / 1.5:.2f}x]")
    print(f"windowed / DuckDB       = {vs_duck:.2f}x  [{'PASS' if vs_duck >= 1 else 'MISS'}: target >= 1x]")
    if args.json:
        write_json(args.json, {"rows": rows, "rates": rates, "timings": timings,
                               "ratio_vs_plain": vs_plain, "ratio_vs_duckdb": vs_duck,
                               "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
