"""Synthetic demo data: a seeded stream of stock trades, generated vectorised with NumPy.

Columns: ``ts`` timestamp[ms], ``symbol`` string (``SYM0042``), ``trader_id`` int64,
``price`` float64 (> 0), ``qty`` int64 (1..1000), ``side`` string ('B' or 'S').

* ``ts`` rises evenly from ``start`` over ``span_ms``; with ``disorder_ms`` > 0 each row is
  moved back in time by a uniform random 0..disorder_ms, so rows arrive at most
  ``disorder_ms`` late relative to the largest timestamp already seen.
* Symbol popularity is Zipf-like: symbol k (0-based) is drawn with probability proportional
  to 1 / (k + 1) ** ``skew`` (``skew=1.0`` by default; ``skew=0`` is uniform). Traders are
  uniform.
* Each symbol has a base price, log-uniform in 5..500; a trade's price is the base times
  (1 + 1% normal noise), rounded to cents, at least 0.01.

The data depend only on ``rows``, the parameters and ``seed`` -- not on ``batch_size``: rows
are generated in fixed blocks, block b from the seed sequence (seed, 1, b).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from .sources import Source, rechunk

_BLOCK = 1 << 16

SCHEMA = pa.schema([
    ("ts", pa.timestamp("ms")), ("symbol", pa.string()), ("trader_id", pa.int64()),
    ("price", pa.float64()), ("qty", pa.int64()), ("side", pa.string()),
])


def trades_batches(rows: int, *, symbols: int = 1000, traders: int = 10_000, seed: int = 0,
                   batch_size: int = 100_000, start: str = "2026-01-01",
                   span_ms: int = 86_400_000, disorder_ms: int = 0,
                   skew: float = 1.0) -> Iterator[pa.RecordBatch]:
    """Yield ``rows`` synthetic trades in batches of ``batch_size`` (see the module docstring)."""
    if rows < 0 or symbols < 1 or traders < 1 or batch_size < 1 or span_ms < 0 or disorder_ms < 0:
        raise ValueError("rows, span_ms, disorder_ms must be >= 0; symbols, traders, "
                         "batch_size >= 1")
    return rechunk(_blocks(rows, symbols, traders, seed, start, span_ms, disorder_ms, skew),
                   batch_size, "synthetic trades")


def _blocks(rows, symbols, traders, seed, start, span_ms, disorder_ms, skew):
    width = max(4, len(str(symbols - 1)))
    names = pa.array(np.char.add("SYM", np.char.zfill(np.arange(symbols).astype(str), width)),
                     pa.string())
    base_rng = np.random.default_rng([seed, 0])
    base_price = np.exp(base_rng.uniform(np.log(5.0), np.log(500.0), symbols))
    weights = 1.0 / np.arange(1, symbols + 1) ** skew
    cdf = np.cumsum(weights / weights.sum())
    start_ms = np.datetime64(start, "ms").astype(np.int64)
    sides = pa.array(["B", "S"])
    for b, lo in enumerate(range(0, rows, _BLOCK)):
        n = min(_BLOCK, rows - lo)
        rng = np.random.default_rng([seed, 1, b])
        i = np.arange(lo, lo + n, dtype=np.int64)
        ts = start_ms + (i * span_ms) // max(rows, 1)
        if disorder_ms:
            ts = ts - rng.integers(0, disorder_ms + 1, n)
        sym = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), symbols - 1)
        noise = 1.0 + 0.01 * rng.standard_normal(n)
        price = np.maximum(np.round(base_price[sym] * noise, 2), 0.01)
        yield pa.record_batch([
            pa.array(ts.astype("datetime64[ms]"), pa.timestamp("ms")),
            names.take(pa.array(sym)),
            pa.array(rng.integers(0, traders, n, dtype=np.int64)),
            pa.array(price),
            pa.array(rng.integers(1, 1001, n, dtype=np.int64)),
            sides.take(pa.array(rng.integers(0, 2, n))),
        ], schema=SCHEMA)


class TradesSource(Source):
    """:func:`trades_batches` as a Source with a known total (progress in rows)."""

    def __init__(self, rows: int, *, batch_size: int | None = 100_000, name: str | None = None,
                 **params):
        self.rows, self.params = rows, params
        super().__init__(name=name, batch_size=batch_size)

    def describe(self) -> str:
        return f"synthetic trades ({self.rows} rows)"

    def schema(self) -> pa.Schema:
        return SCHEMA

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_read = 0
        yield from self._counted(trades_batches(self.rows, batch_size=self.batch_size or _BLOCK,
                                                **self.params))

    def progress(self) -> tuple[int, int | None]:
        return self.rows_read, self.rows
