"""Joins benchmark: a trades stream enriched with finite tables, then aggregated.

Three queries over the same synthetic trades (``--rows``, 1,000 symbols, time-ordered):
a dimension lookup (``JOIN symbols s ON t.sym = s.sym``, unique keys), a LEFT JOIN with
duplicate keys (a hash join), and an ASOF JOIN with a quotes table (``--quotes`` rows:
each trade with the latest quote of its symbol at or before it). gpuvelo (cpu backend,
100,000-row batches) against DuckDB (whole table) on the same data, in one run; the
results are checked equal first.

Target (printed as PASS/MISS): each join >= 0.5x DuckDB's rows/s.

Usage: python benchmarks/bench_joins.py [--rows N] [--quotes M] [--repeats R] [--json PATH]
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

BATCH = 100_000
SYMBOLS = 1_000
QUERIES = {
    "lookup join": "SELECT s.sector, COUNT(*) AS n, SUM(t.qty) AS q FROM t JOIN s ON t.sym = s.sym "
                   "GROUP BY s.sector",
    "hash left join": "SELECT t.sym, COUNT(*) AS n, COUNT(v.venue) AS nv FROM t LEFT JOIN v "
                      "ON t.sym = v.sym GROUP BY t.sym",
    "asof join": "SELECT t.sym, COUNT(*) AS n, SUM(t.qty * q.bid) AS notional FROM t ASOF JOIN q "
                 "ON t.sym = q.sym AND t.ts >= q.ts GROUP BY t.sym",
}


def make_data(rows: int, quotes: int, seed: int = 0) -> dict[str, pa.Table]:
    """Trades (time-ordered), symbols (unique), venues (2 per symbol for half of them), quotes."""
    rng = np.random.default_rng(seed)
    names = pa.array([f"S{i:04d}" for i in range(SYMBOLS)])
    span = 8 * 3600 * 10**6
    trades = pa.table({"sym": names.take(pa.array(rng.integers(0, SYMBOLS, rows))),
                       "ts": pa.array(np.sort(rng.integers(0, span, rows))).cast(pa.timestamp("us")),
                       "qty": pa.array(rng.integers(1, 100, rows))})
    symbols = pa.table({"sym": names, "sector": pa.array([f"sec{i % 20}" for i in range(SYMBOLS)])})
    half = np.arange(0, SYMBOLS, 2)
    venues = pa.table({"sym": names.take(pa.array(np.repeat(half, 2))),
                       "venue": pa.array(np.tile([1, 2], half.size))})
    quote_table = pa.table({"sym": names.take(pa.array(rng.integers(0, SYMBOLS, quotes))),
                            "ts": pa.array(np.sort(rng.choice(span, quotes, replace=False))).cast(pa.timestamp("us")),
                            "bid": pa.array(np.round(rng.uniform(90, 110, quotes), 2))})
    return {"t": trades, "s": symbols, "v": venues, "q": quote_table}


def gpuvelo_run(query: str, tables: dict) -> pa.Table:
    stream = {**tables, "t": tables["t"].to_batches(max_chunksize=BATCH)}
    return gpuvelo.sql(query, backend="cpu", **stream)


def duckdb_run(query: str, tables: dict) -> pa.Table:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(query).to_arrow_table()


def _rows(table: pa.Table) -> list:
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in r.values())
                  for r in table.to_pylist())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--quotes", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    tables = make_data(args.rows, args.quotes)
    print(f"{args.rows:,} trades, {SYMBOLS:,} symbols, {args.quotes:,} quotes, {BATCH:,}-row batches")
    out = {}
    for name, query in QUERIES.items():
        assert _rows(gpuvelo_run(query, tables)) == _rows(duckdb_run(query, tables)), name
        ours = measure(lambda q=query: gpuvelo_run(q, tables), args.repeats, args.budget)
        theirs = measure(lambda q=query: duckdb_run(q, tables), args.repeats, args.budget)
        r_ours, r_theirs = rate(args.rows, ours.best_s), rate(args.rows, theirs.best_s)
        ratio = r_ours / r_theirs
        print(f"  {name:15s} gpuvelo {fmt_rate(r_ours)}  duckdb {fmt_rate(r_theirs)}  "
              f"= {ratio:.2f}x  [{'PASS' if ratio >= 0.5 else 'MISS'}: target >= 0.5x]")
        out[name] = {"gpuvelo": r_ours, "duckdb": r_theirs, "ratio": ratio}
    if args.json:
        write_json(args.json, {"rows": args.rows, "quotes": args.quotes, "results": out,
                               "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
