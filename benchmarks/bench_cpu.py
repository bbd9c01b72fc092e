"""CPU benchmark: gpuvelo (cpu backend) against DuckDB and Polars on the same data, same run.

Scenarios (see benchmarks/README.md):
  batch      -- one GROUP BY over the whole table, 1,000 distinct int64 keys;
  streaming  -- the same rows in 100,000-row batches, the running result kept current after
                each batch (gpuvelo: Job with EMIT CHANGES; peers: aggregate the batch, merge
                into the running result);
  highcard   -- as batch, with 1,000,000 distinct keys.

Usage: python benchmarks/bench_cpu.py [--rows N | --quick] [--only NAME] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]   # run from a checkout without installing
import gpuvelo  # noqa: E402
from common import (QUERY, target, check_same, fmt_rate, machine_info, make_table, measure, rate,  # noqa: E402
                    split, write_json)

STREAM_BATCH = 100_000
PARTITIONS: int | None = None      # gpuvelo partitions (None: the engine's default)
SCENARIOS = ("batch", "streaming", "highcard")

# per-batch partials and their merge into the running result (DuckDB)
_DUCK_MERGE = """
SELECT k, sum(n)::BIGINT AS n, sum(sum_a) AS sum_a, min(min_a) AS min_a, max(max_b) AS max_b,
       sum(sum_b) AS sum_b, sum(sum_b) / sum(n) AS avg_b
FROM (SELECT k, n, sum_a, min_a, max_b, sum_b FROM running
      UNION ALL
      SELECT k, count(*) AS n, sum(a) AS sum_a, min(a) AS min_a, max(b) AS max_b, sum(b) AS sum_b
      FROM batch GROUP BY k)
GROUP BY k
"""
_RUNNING_SCHEMA = pa.schema([("k", pa.int64()), ("n", pa.int64())] +
                            [(c, pa.float64()) for c in ("sum_a", "min_a", "max_b", "sum_b", "avg_b")])
_FINAL = ["k", "n", "sum_a", "min_a", "max_b", "avg_b"]


# ---------------------------------------------------------------------------- engines, batch
def gpuvelo_batch(table: pa.Table) -> pa.Table:
    """gpuvelo over the whole table as one batch."""
    return gpuvelo.sql(QUERY, backend="cpu", batch_size=None, partitions=PARTITIONS, t=table)


def duckdb_batch(table: pa.Table) -> pa.Table:
    """DuckDB, the same SQL over the Arrow table."""
    con = duckdb.connect()
    con.register("t", table)
    return con.sql(QUERY).to_arrow_table()


def polars_batch(table: pa.Table) -> pa.Table:
    """Polars group_by().agg() over the same data."""
    df = pl.from_arrow(table)
    return df.group_by("k").agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("a").sum().alias("sum_a"),
        pl.col("a").min().alias("min_a"), pl.col("b").max().alias("max_b"),
        pl.col("b").mean().alias("avg_b")).to_arrow()


# ---------------------------------------------------------------------------- engines, streaming
def gpuvelo_stream(batches: list[pa.RecordBatch]) -> int:
    """gpuvelo Job, EMIT CHANGES, into a sink that only counts rows; returns rows emitted."""
    emitted = [0]

    def count(t: pa.Table) -> None:
        emitted[0] += t.num_rows

    gpuvelo.Job(QUERY, sources={"t": batches}, sink=gpuvelo.io.CallbackSink(count),
                backend="cpu", emit="changes", partitions=PARTITIONS).run()
    return emitted[0]


def duckdb_stream(batches: list[pa.RecordBatch]) -> pa.Table:
    """DuckDB: per batch, aggregate and merge with the running result (one query)."""
    con = duckdb.connect()
    running = _RUNNING_SCHEMA.empty_table()
    for rb in batches:
        con.register("running", running)
        con.register("batch", rb)
        running = con.sql(_DUCK_MERGE).to_arrow_table()
    return running.select(_FINAL)


def polars_stream(batches: list[pa.RecordBatch]) -> pa.Table:
    """Polars: per batch, group_by().agg() and merge with the running result (lazy plan)."""
    running = pl.from_arrow(_RUNNING_SCHEMA.empty_table()).lazy()
    for rb in batches:
        part = pl.from_arrow(rb).lazy().group_by("k").agg(
            pl.len().cast(pl.Int64).alias("n"), pl.col("a").sum().alias("sum_a"),
            pl.col("a").min().alias("min_a"), pl.col("b").max().alias("max_b"),
            pl.col("b").sum().alias("sum_b"))
        merged = pl.concat([running.select("k", "n", "sum_a", "min_a", "max_b", "sum_b"), part])
        running = merged.group_by("k").agg(
            pl.col("n").sum(), pl.col("sum_a").sum(), pl.col("min_a").min(),
            pl.col("max_b").max(), pl.col("sum_b").sum(),
        ).with_columns((pl.col("sum_b") / pl.col("n")).alias("avg_b")).collect().lazy()
    return running.collect().to_arrow().select(_FINAL)


# ---------------------------------------------------------------------------- scenarios
def run_batch(name: str, table: pa.Table, repeats: int, budget: float) -> dict:
    """Time the three engines on one whole-table GROUP BY; check they agree."""
    ref = duckdb_batch(table)
    check_same(f"{name}/gpuvelo", gpuvelo_batch(table), ref)
    check_same(f"{name}/polars", polars_batch(table), ref)
    out = {}
    for engine, fn in (("gpuvelo", gpuvelo_batch), ("duckdb", duckdb_batch), ("polars", polars_batch)):
        out[engine] = measure(lambda: fn(table), repeats, budget)
    return out


def run_streaming(table: pa.Table, repeats: int, budget: float) -> dict:
    """Time the three engines keeping a running result current over 100k-row batches."""
    batches = split(table, STREAM_BATCH)
    ref = duckdb_batch(table)
    check_same("streaming/duckdb", duckdb_stream(batches), ref)
    check_same("streaming/polars", polars_stream(batches), ref)
    if gpuvelo_stream(batches) == 0:
        raise AssertionError("streaming/gpuvelo: nothing was emitted")
    out = {}
    for engine, fn in (("gpuvelo", gpuvelo_stream), ("duckdb", duckdb_stream), ("polars", polars_stream)):
        out[engine] = measure(lambda: fn(batches), repeats, budget)
    return out


# ---------------------------------------------------------------------------- report
def _row(scenario: str, engine: str, t, rows: int, peers: dict) -> str:
    r = rate(rows, t.best_s)
    ratios = "  ".join(f"x{r / rate(rows, peers[p].best_s):6.2f} vs {p}"
                       for p in ("duckdb", "polars") if p in peers and p != engine)
    return f"{scenario:<10} {engine:<8} {t.best_s:9.3f} s {fmt_rate(r)}   {ratios}"


def main(argv=None) -> int:
    """Parse arguments, run the chosen scenarios, print the table and targets."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows per scenario (default 10M)")
    ap.add_argument("--quick", action="store_true", help="1M rows")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--only", choices=SCENARIOS, help="run one scenario")
    ap.add_argument("--repeats", type=int, default=3, help="measured runs after warm-up (best is kept)")
    ap.add_argument("--budget", type=float, default=45.0,
                    help="seconds of measured runs per engine before stopping early")
    ap.add_argument("--partitions", type=int, default=None,
                    help="gpuvelo partitions (default: the engine's choice; 1 = the V1 path)")
    args = ap.parse_args(argv)
    global PARTITIONS
    PARTITIONS = args.partitions
    rows = 1_000_000 if args.quick else args.rows
    chosen = [args.only] if args.only else list(SCENARIOS)

    info = machine_info()
    print(f"gpuvelo CPU benchmark: {rows:,} rows; machine: {info['cpu_count']} cores "
          f"({info['affinity_cores']} usable), {info['processor']}")
    print("versions: " + ", ".join(f"{k} {info[k]}" for k in ("python", "numpy", "pyarrow", "duckdb", "polars")))
    print("note: OPENBLAS_*/OMP thread env vars are irrelevant here (NumPy BLAS is not used); "
          "DuckDB, Polars and Arrow use all cores by default.")
    print(f"gpuvelo partitions: {PARTITIONS or 'engine default'}")
    print(f"best of {args.repeats} after one warm-up (fewer once {args.budget:g} s are spent)\n")

    results: dict[str, dict] = {}
    base = make_table(rows, 1_000, seed=1) if {"batch", "streaming"} & set(chosen) else None
    if "batch" in chosen:
        results["batch"] = run_batch("batch", base, args.repeats, args.budget)
    if "streaming" in chosen:
        results["streaming"] = run_streaming(base, args.repeats, args.budget)
        if "batch" not in results:       # the streaming target is relative to DuckDB's batch rate
            results["batch_duckdb_only"] = {"duckdb": measure(lambda: duckdb_batch(base), args.repeats, args.budget)}
    if "highcard" in chosen:
        high = make_table(rows, 1_000_000, seed=2)
        results["highcard"] = run_batch("highcard", high, args.repeats, args.budget)

    print(f"{'scenario':<10} {'engine':<8} {'best':>11} {'rate':>12}   ratio of this engine's rate to peers'")
    for scen, timings in results.items():
        if scen == "batch_duckdb_only":
            continue
        for engine, t in timings.items():
            print(_row(scen, engine, t, rows, timings))
    print()

    targets = []
    r = {s: {e: rate(rows, t.best_s) for e, t in ts.items()} for s, ts in results.items()}
    duck_batch = (r.get("batch") or r.get("batch_duckdb_only"))["duckdb"] if ("batch" in r or "batch_duckdb_only" in r) else None
    print("targets:")
    if "batch" in r:
        targets.append(target("batch: gpuvelo / DuckDB", r["batch"]["gpuvelo"] / r["batch"]["duckdb"], 0.5))
    if "streaming" in r:
        s = r["streaming"]
        peer = max(("duckdb", "polars"), key=lambda e: s[e])
        targets.append(target(f"streaming: gpuvelo / faster streaming peer ({peer})", s["gpuvelo"] / s[peer], 2.0))
        targets.append(target("streaming: gpuvelo streaming / DuckDB batch", s["gpuvelo"] / duck_batch, 0.5))
    if "highcard" in r:
        targets.append(target("highcard: gpuvelo / DuckDB", r["highcard"]["gpuvelo"] / r["highcard"]["duckdb"], 0.5))

    if args.json:
        write_json(args.json, {"rows": rows, "stream_batch_rows": STREAM_BATCH,
                               "gpuvelo_partitions": PARTITIONS, "machine": info,
                               "timings": results, "rates_rows_per_s": r, "targets": targets})
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
