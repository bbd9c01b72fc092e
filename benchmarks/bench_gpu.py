"""GPU benchmark: gpuvelo's partition + aggregate on the device, streamed from pinned host
memory, and the same group-by done by PyTorch and naive CuPy on the same GPU, same data.

Roofline (device-resident): the pipeline must read the key (K = 8 bytes) to hash it, read the
row (R = 16 bytes: key + value) and write it partitioned, then read it again to aggregate:
K + 3R = 56 bytes per row; roofline rows/s = measured device-to-device copy bandwidth / 56
(the copy bandwidth counts bytes read + written). Host-resident: rows/s against the measured
pinned host-to-device bandwidth / 16 bytes per row.

Two device-resident figures: ``device`` creates the partitions' states inside the timed
region (a one-shot query); ``steady`` folds the rows into states created and sized before it
(what a streaming job does for every batch after the first).

Usage: python benchmarks/bench_gpu.py [--rows N] [--cards 1000,10000000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

QUERY = "COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v) GROUP BY k"
ROW_BYTES, KEY_BYTES = 16, 8


def _timed(cp, fn, repeat=3):
    """Best wall time of fn() over ``repeat`` runs, device synchronised."""
    best = float("inf")
    for _ in range(repeat):
        cp.cuda.Device().synchronize()
        t = time.perf_counter()
        fn()
        cp.cuda.Device().synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def d2d_bandwidth(cp, nbytes=2 << 30):
    a = cp.ones(nbytes // 8, dtype=cp.float64)
    b = cp.empty_like(a)
    t = _timed(cp, lambda: b.__setitem__(Ellipsis, a), 5)
    return 2 * nbytes / t


def h2d_bandwidth(cp, nbytes=1 << 30):
    import cupyx

    h = cupyx.empty_pinned((nbytes,), dtype=np.uint8)
    h[:] = 1
    d = cp.empty(nbytes, dtype=cp.uint8)
    s = cp.cuda.Stream(non_blocking=True)
    return nbytes / _timed(cp, lambda: (d.set(h, stream=s), s.synchronize()), 5)


def _spec():
    from gpuvelo import types as T
    from gpuvelo.backends.protocol import AggSlot, StateSpec

    f = T.FLOAT64
    return StateSpec((T.INT64,), (AggSlot("count_star", None, T.INT64), AggSlot("sum", f, f),
                                  AggSlot("min", f, f), AggSlot("max", f, f), AggSlot("avg", f, f)))


def gpuvelo_device(be, keys, vals, parts, states=None):
    """Partition + aggregate device-resident columns into per-partition states: fresh ones
    (created inside the timed region), or ``states`` (steady state: a streaming job's states
    exist before the batch and already hold its groups)."""
    from gpuvelo import types as T
    from gpuvelo.columns import Col

    cp = be.xp
    n = int(keys.shape[0])
    kc = Col(keys, None, T.INT64)
    h = be.hash_keys([kc])
    order, offsets = be.partition(be.partition_ids(h, parts), parts)
    off = cp.asnumpy(offsets)
    if states is None:
        states = [be.group_state(_spec()) for _ in range(parts)]
    pos = cp.arange(n, dtype=cp.int64)
    for p, st in enumerate(states):
        idx = order[off[p]:off[p + 1]]
        k, v = Col(keys[idx], None, T.INT64), Col(vals[idx], None, T.FLOAT64)
        st.update([k], [None, v, v, v, v], pos[idx])
    return states


def gpuvelo_host(be, hkeys, hvals, batch_rows, parts):
    """Stream host batches (pinned staging inside to_device) through partition + aggregate."""
    import pyarrow as pa

    from gpuvelo import types as T
    from gpuvelo.columns import Col

    cp = be.xp
    schema = {"k": T.INT64, "v": T.FLOAT64}
    states = [be.group_state(_spec()) for _ in range(parts)]
    for start in range(0, hkeys.shape[0], batch_rows):
        rb = pa.record_batch({"k": hkeys[start:start + batch_rows], "v": hvals[start:start + batch_rows]})
        cols = be.to_device(rb, schema)
        kc = cols["k"]
        order, offsets = be.partition(be.partition_ids(be.hash_keys([kc]), parts), parts)
        off = cp.asnumpy(offsets)
        pos = cp.arange(start, start + rb.num_rows, dtype=cp.int64)
        for p, st in enumerate(states):
            idx = order[off[p]:off[p + 1]]
            v = Col(cols["v"].data[idx], None, T.FLOAT64)
            st.update([Col(kc.data[idx], None, T.INT64)], [None, v, v, v, v], pos[idx])
    return states


def phase_seconds(be, keys, vals, parts, states) -> dict:
    """Where a steady-state batch spends its time: each phase of ``gpuvelo_device`` run alone
    between device synchronisations (so the phases add up to more than the pipelined whole)."""
    from gpuvelo import types as T
    from gpuvelo.columns import Col

    cp = be.xp
    sync = cp.cuda.Device().synchronize
    clock = time.perf_counter
    out = {}
    sync()
    t = clock()
    kc = Col(keys, None, T.INT64)
    h = be.hash_keys([kc])
    sync()
    out["hash"], t = clock() - t, clock()
    order, offsets = be.partition(be.partition_ids(h, parts), parts)
    sync()
    out["partition"], t = clock() - t, clock()
    off = cp.asnumpy(offsets)
    pos = cp.arange(keys.shape[0], dtype=cp.int64)
    parts_k, parts_v, parts_p = [], [], []
    for p in range(parts):
        idx = order[off[p]:off[p + 1]]
        parts_k.append(keys[idx])
        parts_v.append(vals[idx])
        parts_p.append(pos[idx])
    sync()
    out["gather"], t = clock() - t, clock()
    for st, k, v, q in zip(states, parts_k, parts_v, parts_p):
        vc = Col(v, None, T.FLOAT64)
        st.update([Col(k, None, T.INT64)], [None, vc, vc, vc, vc], q)
    sync()
    out["update"] = clock() - t
    return out


def torch_groupby(keys, vals):
    import torch

    k = torch.as_tensor(keys, device="cuda")
    v = torch.as_tensor(vals, device="cuda")
    uniq, inv = torch.unique(k, return_inverse=True)
    g = uniq.shape[0]
    cnt = torch.zeros(g, dtype=torch.int64, device="cuda").index_add_(0, inv, torch.ones_like(inv))
    s = torch.zeros(g, dtype=v.dtype, device="cuda").index_add_(0, inv, v)
    mn = torch.full((g,), float("inf"), dtype=v.dtype, device="cuda").scatter_reduce_(0, inv, v, "amin")
    mx = torch.full((g,), -float("inf"), dtype=v.dtype, device="cuda").scatter_reduce_(0, inv, v, "amax")
    return cnt, s, mn, mx, s / cnt


def cupy_groupby(cp, keys, vals):
    """The naive CuPy group-by a user would write: unique + bincount, scatter min/max."""
    import cupyx

    uniq, inv = cp.unique(keys, return_inverse=True)
    g = uniq.shape[0]
    cnt = cp.bincount(inv, minlength=g)
    s = cp.bincount(inv, weights=vals, minlength=g)
    mn = cp.full(g, cp.inf, dtype=vals.dtype)
    mx = cp.full(g, -cp.inf, dtype=vals.dtype)
    cupyx.scatter_min(mn, inv, vals)
    cupyx.scatter_max(mx, inv, vals)
    return cnt, s, mn, mx, s / cnt


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--cards", default="1000,10000000")
    ap.add_argument("--batch", type=int, default=10_000_000, help="host-resident batch rows")
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    import cupy as cp
    import cupyx

    from gpuvelo.backends.gpu import GpuBackend

    be = GpuBackend()
    out = {"query": QUERY, "rows": a.rows, "partitions": a.parts,
           "device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode(),
           "d2d_bytes_per_s": d2d_bandwidth(cp), "h2d_bytes_per_s": h2d_bandwidth(cp),
           "roofline_bytes_per_row": KEY_BYTES + 3 * ROW_BYTES, "results": []}
    roof = out["d2d_bytes_per_s"] / out["roofline_bytes_per_row"]
    h2d_rows = out["h2d_bytes_per_s"] / ROW_BYTES
    cp.random.seed(0)
    for card in (int(c) for c in a.cards.split(",")):
        keys = cp.random.randint(0, card, a.rows, dtype=cp.int64)
        vals = cp.random.random(a.rows, dtype=cp.float64)
        gpuvelo_device(be, keys[: min(a.rows, 1 << 20)], vals[: min(a.rows, 1 << 20)], a.parts)  # warm up
        r = {"distinct_keys": card}
        t = _timed(cp, lambda: gpuvelo_device(be, keys, vals, a.parts), a.repeat)
        r["device_rows_per_s"] = a.rows / t
        r["device_fraction_of_roofline"] = r["device_rows_per_s"] / roof
        states = gpuvelo_device(be, keys, vals, a.parts)        # created and sized untimed
        t = _timed(cp, lambda: gpuvelo_device(be, keys, vals, a.parts, states), a.repeat)
        r["steady_rows_per_s"] = a.rows / t
        r["steady_fraction_of_roofline"] = r["steady_rows_per_s"] / roof
        r["steady_phases_s"] = phase_seconds(be, keys, vals, a.parts, states)
        one = gpuvelo_device(be, keys, vals, 1)      # one partition: no scatter needed at all
        r["steady_one_partition_rows_per_s"] = a.rows / _timed(
            cp, lambda: gpuvelo_device(be, keys, vals, 1, one), a.repeat)
        states = one = None
        hk = cupyx.empty_pinned((a.rows,), dtype=np.int64)
        hv = cupyx.empty_pinned((a.rows,), dtype=np.float64)
        hk[:] = cp.asnumpy(keys)
        hv[:] = cp.asnumpy(vals)
        t = _timed(cp, lambda: gpuvelo_host(be, hk, hv, a.batch, a.parts), a.repeat)
        r["host_rows_per_s"] = a.rows / t
        r["host_fraction_of_h2d"] = r["host_rows_per_s"] / h2d_rows
        if not a.no_peers:
            for name, fn in (("torch", lambda: torch_groupby(keys, vals)),
                             ("cupy", lambda: cupy_groupby(cp, keys, vals))):
                try:
                    r[f"{name}_rows_per_s"] = a.rows / _timed(cp, fn, a.repeat)
                except Exception as e:  # noqa: BLE001 -- a failing peer is reported, not fatal
                    r[f"{name}_error"] = repr(e)[:200]
        out["results"].append(r)
        keys = vals = hk = hv = None   # free before the next cardinality
        cp.get_default_memory_pool().free_all_blocks()

    print(f"{QUERY}; {a.rows:,} rows; {out['device']}")
    print(f"d2d {out['d2d_bytes_per_s'] / 1e9:.0f} GB/s -> roofline {roof / 1e9:.2f} G rows/s "
          f"({out['roofline_bytes_per_row']} B/row); pinned h2d {out['h2d_bytes_per_s'] / 1e9:.1f} GB/s")
    cols = ["distinct_keys", "device_rows_per_s", "device_fraction_of_roofline", "steady_rows_per_s",
            "steady_fraction_of_roofline", "host_rows_per_s", "host_fraction_of_h2d",
            "torch_rows_per_s", "cupy_rows_per_s"]
    print(" | ".join(cols))
    for r in out["results"]:
        print(" | ".join(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "-")) for c in cols))
    for r in out["results"]:
        phases = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in r["steady_phases_s"].items())
        print(f"{r['distinct_keys']:,} keys, steady-state phases (synchronised): {phases}; "
              f"one partition: {r['steady_one_partition_rows_per_s']:.3g} rows/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
