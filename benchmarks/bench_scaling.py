"""Scaling benchmark of the partitioned coordinator (V2): the streaming workload of
``bench_cpu.py`` (100,000-row batches, EMIT CHANGES into a counting sink, 1,000 keys) at
1, 2 and 4 partitions for the ``hash`` and ``round_robin`` strategies, against V1
(partitions=1, no strategy: the single-partition processor on the caller's thread).

Targets: 2 partitions >= 1.6x one partition (same strategy); V2 with 1 partition at least
0.9x V1 (within 10%). Every configuration's EMIT FINAL result is checked against DuckDB first.

Usage: python benchmarks/bench_scaling.py [--rows N | --quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]   # run from a checkout without installing
import gpuvelo  # noqa: E402
from bench_cpu import STREAM_BATCH, duckdb_batch  # noqa: E402
from common import (QUERY, target, check_same, fmt_rate, machine_info, make_table, measure, rate,  # noqa: E402
                    split, write_json)

STRATEGIES = ("hash", "round_robin")
PARTITIONS = (1, 2, 4)


def configs() -> list[tuple[str, int, str | None]]:
    """(label, partitions, strategy): V1 first, then V2 for each strategy and count."""
    return [("V1", 1, None)] + [(f"{s}/{n}", n, s) for s in STRATEGIES for n in PARTITIONS]


def stream(batches: list[pa.RecordBatch], partitions: int, strategy: str | None) -> int:
    """The streaming workload: Job with EMIT CHANGES into a counting sink; rows emitted."""
    emitted = [0]

    def count(t: pa.Table) -> None:
        emitted[0] += t.num_rows

    gpuvelo.Job(QUERY, sources={"t": batches}, sink=gpuvelo.io.CallbackSink(count), backend="cpu",
                emit="changes", partitions=partitions, strategy=strategy).run()
    return emitted[0]


def final(batches: list[pa.RecordBatch], partitions: int, strategy: str | None) -> pa.Table:
    """The same configuration's EMIT FINAL result (for the correctness check)."""
    sink = gpuvelo.io.MemorySink()
    gpuvelo.Job(QUERY, sources={"t": batches}, sink=sink, backend="cpu", emit="final",
                partitions=partitions, strategy=strategy).run()
    return sink.table()


def main(argv=None) -> int:
    """Parse arguments, time every configuration, print rates, speed-ups and targets."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows (default 10M)")
    ap.add_argument("--quick", action="store_true", help="1M rows, one measured run")
    ap.add_argument("--repeats", type=int, default=3, help="measured runs after warm-up (best kept)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds of measured runs per configuration")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    rows = 1_000_000 if args.quick else args.rows
    repeats = 1 if args.quick else args.repeats

    info = machine_info()
    print(f"gpuvelo V2 scaling: {rows:,} rows in {STREAM_BATCH:,}-row batches, EMIT CHANGES; "
          f"machine: {info['cpu_count']} cores ({info['affinity_cores']} usable), {info['processor']}")
    print(f"best of {repeats} after one warm-up\n")
    batches = split(make_table(rows, 1_000, seed=1), STREAM_BATCH)
    ref = duckdb_batch(pa.Table.from_batches(batches))

    timings = {}
    for label, n, strategy in configs():
        check_same(label, final(batches, n, strategy), ref)
        timings[label] = measure(lambda: stream(batches, n, strategy), repeats, args.budget)
    rates = {label: rate(rows, t.best_s) for label, t in timings.items()}

    print(f"{'config':<16} {'best':>9} {'rate':>12}  {'vs V1':>7}  {'vs 1 partition':>14}")
    for label, n, strategy in configs():
        one = rates.get(f"{strategy}/1", rates["V1"])
        print(f"{label:<16} {timings[label].best_s:8.3f}s {fmt_rate(rates[label])}  "
              f"x{rates[label] / rates['V1']:5.2f}  x{rates[label] / one:12.2f}")

    print("\ntargets:")
    targets = [target(f"{s}: 2 partitions / 1 partition", rates[f"{s}/2"] / rates[f"{s}/1"], 1.6)
               for s in STRATEGIES]
    targets += [target(f"{s}: V2 1 partition / V1", rates[f"{s}/1"] / rates["V1"], 0.9)
                for s in STRATEGIES]
    if args.json:
        write_json(args.json, {"rows": rows, "stream_batch_rows": STREAM_BATCH, "machine": info,
                               "timings": timings, "rates_rows_per_s": rates, "targets": targets})
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
