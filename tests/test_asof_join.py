"""ASOF [LEFT] JOIN -- each trade with the latest quote at or before it (and the other three
inequalities) -- against DuckDB on random trades and quotes with NULLs, ties and keys a
side lacks; and its errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import gpuvelo
from gpuvelo.errors import NotSupportedError
from differential import run_both


def _with_nulls(rng, values, p, type_):
    mask = rng.random(len(values)) < p
    return pa.array([None if m else v for v, m in zip(values, mask)], type_)


def trades_and_quotes(seed: int, n: int = 400, m: int = 120):
    """Trades (ts in us) and quotes (ts in ms: the join casts) over a few symbols and venues;
    some symbols have no quotes. Quote times are distinct: among quotes tied on the time,
    DuckDB's pick is not defined (it differs between runs of its sort)."""
    rng = np.random.default_rng(seed)
    base = dt.datetime(2024, 5, 1, 9, 30)
    t_ms = rng.integers(0, 60_000, n)
    trades = pa.table({
        "sym": _with_nulls(rng, [f"S{v}" for v in rng.integers(0, 6, n)], 0.05, pa.string()),
        "venue": pa.array(rng.integers(0, 2, n), pa.int32()),
        "ts": _with_nulls(rng, [base + dt.timedelta(milliseconds=int(v), microseconds=int(u))
                                for v, u in zip(t_ms, rng.integers(0, 1000, n))], 0.05, pa.timestamp("us")),
        "qty": pa.array(rng.integers(1, 100, n), pa.int64()),
        "seq": pa.array(rng.integers(0, 10_000, n), pa.int64()),
    })
    q_ms = np.sort(rng.choice(np.arange(0, 60_000, 250), m, replace=False))
    quotes = pa.table({
        "sym": _with_nulls(rng, [f"S{v}" for v in rng.integers(0, 5, m)], 0.05, pa.string()),
        "venue": pa.array(rng.integers(0, 2, m), pa.int32()),
        "ts": _with_nulls(rng, [base + dt.timedelta(milliseconds=int(v)) for v in q_ms], 0.05,
                          pa.timestamp("ms")),
        "bid": pa.array(np.round(rng.uniform(90, 110, m), 2)),
        "seq": pa.array(rng.choice(10_000, m, replace=False), pa.int64()),
    })
    return trades, quotes


QUERIES = [
    "SELECT t.sym, t.ts, t.qty, q.bid FROM t ASOF JOIN q ON t.sym = q.sym AND t.ts >= q.ts",
    "SELECT t.sym, t.ts, q.bid FROM t ASOF LEFT JOIN q ON t.sym = q.sym AND t.ts >= q.ts",
    "SELECT t.sym, t.ts, q.bid FROM t ASOF JOIN q ON t.sym = q.sym AND t.ts > q.ts",
    "SELECT t.sym, t.ts, q.bid FROM t ASOF LEFT JOIN q ON t.sym = q.sym AND t.ts <= q.ts",
    "SELECT t.sym, t.ts, q.bid FROM t ASOF JOIN q ON q.sym = t.sym AND q.ts > t.ts",
    "SELECT t.sym, t.venue, t.ts, q.bid FROM t ASOF JOIN q "
    "ON t.sym = q.sym AND t.venue = q.venue AND t.ts >= q.ts",
    "SELECT t.ts, q.sym, q.bid FROM t ASOF JOIN q ON t.ts >= q.ts",
    "SELECT t.seq, q.seq, q.bid FROM t ASOF LEFT JOIN q ON t.sym = q.sym AND t.seq >= q.seq",
    "SELECT t.sym, COUNT(*), SUM(t.qty * q.bid), COUNT(q.bid) FROM t ASOF LEFT JOIN q "
    "ON t.sym = q.sym AND t.ts >= q.ts GROUP BY t.sym",
    "SELECT sym, venue, COUNT(*), MAX(bid) FROM t ASOF JOIN q USING (sym, venue, ts) GROUP BY ALL",
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("query", QUERIES)
def test_asof_join_matches_duckdb(backend, seed, query):
    trades, quotes = trades_and_quotes(seed)
    run_both(query, {"t": trades, "q": quotes}, backend=backend, batch_size=37)


def test_asof_join_with_an_empty_table_and_then_a_join():
    trades, quotes = trades_and_quotes(4)
    run_both("SELECT t.sym, q.bid FROM t ASOF LEFT JOIN q ON t.sym = q.sym AND t.ts >= q.ts",
             {"t": trades, "q": quotes.slice(0, 0)})
    syms = pa.table({"sym": [f"S{i}" for i in range(6)], "sector": ["a", "b"] * 3})
    run_both("SELECT s.sector, COUNT(*), AVG(q.bid) FROM t ASOF JOIN q ON t.sym = q.sym AND "
             "t.ts >= q.ts JOIN s ON t.sym = s.sym GROUP BY s.sector", {"t": trades, "q": quotes, "s": syms})


@pytest.mark.parametrize("query, message", [
    ("SELECT * FROM t ASOF JOIN q ON t.sym = q.sym", "needs one inequality"),
    ("SELECT * FROM t ASOF JOIN q ON t.sym = q.sym AND t.ts >= q.ts AND t.seq <= q.seq",
     "an ASOF JOIN's condition"),
    ("SELECT * FROM t ASOF RIGHT JOIN q ON t.ts >= q.ts", "ASOF \\[LEFT\\] joins"),
])
def test_asof_join_errors(query, message):
    trades, quotes = trades_and_quotes(5)
    with pytest.raises(NotSupportedError, match=message):
        gpuvelo.sql(query, t=trades, q=quotes)
