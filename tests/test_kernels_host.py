"""The CUDA kernels' logic, checked on the CPU: kernels/*.cu compiled as host C++ through
kernels/host_shim.h, called with ctypes and compared with the NumPy reference (keyhash.py).
Also: every .cu compiles with nvcc for sm_80 and sm_90 without warnings, the test vectors
still match keyhash.py, and a built wheel ships the kernel sources."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys
import threading
import types
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from differential import WINDOW_QUERIES, window_events

from gpuvelo import types as T
from gpuvelo.backends import keyhash
from gpuvelo.columns import Col
from gpuvelo.backends.gpu_kernels import KERNEL_DIR

VECTORS = Path(__file__).parent / "data" / "hash_vectors.json"
REPO = Path(__file__).resolve().parents[1]

HARNESS = r"""
#include "host_shim.h"
#include "keyhash.cu"
#include "partition.cu"
#include "groupby.cu"
typedef unsigned char u8;
extern "C" {
void h_words(int kind, const void* v, const u8* valid, gv_i64 n, gv_u64* out) {
    gv_launch(3, 32, [&] {
        if (kind == 0) gv_words_i64((const gv_i64*)v, valid, n, out);
        if (kind == 1) gv_words_u64((const gv_u64*)v, valid, n, out);
        if (kind == 2) gv_words_f64((const double*)v, valid, n, out);
        if (kind == 3) gv_words_f32((const float*)v, valid, n, out);
    });
}
void h_strhash(const u8* data, const gv_i64* offs, gv_i64 n, gv_u64 seed, gv_u64* out) {
    gv_launch(2, 32, [&] { gv_strhash(data, offs, n, seed, out); });
}
void h_hash_rows(const gv_u64* words, int ncols, gv_i64 n, gv_u64* out) {
    gv_launch(4, 32, [&] { gv_hash_rows(words, ncols, n, out); });
}
void h_partition(const gv_u64* hashes, gv_i64 n, int nparts, int grid, int block, int* part,
                 gv_i64* hist, gv_i64* order) {
    gv_i64 chunk = (n + grid - 1) / grid;
    gv_launch(3, 64, [&] { gv_partition_ids(hashes, n, nparts, part); });
    gv_launch(grid, block, [&] { gv_partition_hist(part, n, nparts, chunk, hist); });
    gv_i64 run = 0;  // exclusive scan (cupy.cumsum on the device)
    for (gv_i64 k = 0; k < (gv_i64)nparts * grid; ++k) { gv_i64 c = hist[k]; hist[k] = run; run += c; }
    gv_launch(grid, block, [&] { gv_partition_scatter(part, n, nparts, chunk, hist, order); });
}
void h_upsert(const gv_u64* words, int W, gv_i64 n, gv_i64* slots, gv_i64 mask, gv_u64* kw,
              gv_i64 gcap, gv_u64* counter, gv_i64* gid, u8* changed, u8* live) {
    gv_launch(4, 64, [&] {
        gv_table_upsert(words, W, n, slots, mask, kw, gcap, counter, gid, changed, live);
    });
}
void h_lookup(const gv_u64* words, int W, gv_i64 n, const gv_i64* slots, gv_i64 mask,
              const gv_u64* kw, gv_i64 gcap, gv_i64* gid) {
    gv_launch(3, 32, [&] { gv_table_lookup(words, W, n, slots, mask, kw, gcap, gid); });
}
void h_acc_multi(const gv_i64* gid, const void* vals, int kind, const u8* valid, const gv_i64* nadd,
                 gv_i64 n, int K, const int* flags, gv_u64* const* ptrs, const gv_u64* ngroups,
                 gv_u64 shared_max) {
    gv_launch(3, 64, [&] {
        gv_acc_multi(gid, vals, kind, valid, nadd, n, K, flags, ptrs, ngroups, shared_max);
    });
}
void h_rebuild(const gv_i64* gids, gv_i64 m, const gv_u64* kw, int W, gv_i64 gcap, gv_i64* slots,
               gv_i64 mask) {
    gv_launch(2, 32, [&] { gv_table_rebuild(gids, m, kw, W, gcap, slots, mask); });
}
void h_acc_num(const gv_i64* gid, const void* vals, int kind, const u8* valid, const gv_i64* nadd,
               gv_i64 n, int flags, int use_shared, gv_u64* cnt, gv_u64* lo, gv_u64* hi,
               double* fsum, gv_u64* mn, gv_u64* mx) {
    gv_launch(3, 64, [&] {
        gv_acc_num(gid, vals, kind, valid, nadd, n, flags, use_shared, cnt, lo, hi, fsum, mn, mx);
    });
}
void h_acc_m2(const gv_i64* gid, const double* x, const u8* valid, gv_i64 n, const gv_u64* nb,
              const double* sb, double* m2b) {
    gv_launch(3, 32, [&] { gv_acc_m2(gid, x, valid, nullptr, nullptr, n, nb, sb, m2b); });
}
void h_pos(const gv_i64* gid, const gv_i64* pos, gv_i64 n, int is_last, gv_u64* best,
           const gv_u64* src, const u8* src_valid, gv_u64* dst, u8* dst_valid) {
    gv_launch(3, 32, [&] { gv_acc_pos(gid, pos, nullptr, n, is_last, best); });
    gv_launch(3, 32, [&] { gv_fetch_pos(gid, pos, nullptr, n, is_last, best, src, src_valid, dst, dst_valid); });
}
}
"""


# --------------------------------------------------------------------------- the library
def _shared_library(tmp_path_factory, name: str, source: str) -> ctypes.CDLL:
    """Compile ``source`` (C++ including kernels/*.cu through the host shim) with g++ into a
    shared library and load it; skip when g++ is missing."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not installed")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.cpp").write_text(source)
    so = d / f"lib{name}.so"
    subprocess.run([gxx, "-O1", "-std=c++17", "-fPIC", "-shared", "-pthread", "-Wall", "-Werror",
                    f"-I{KERNEL_DIR}", str(d / f"{name}.cpp"), "-o", str(so)], check=True)
    return ctypes.CDLL(str(so))


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return _shared_library(tmp_path_factory, "hostk", HARNESS)


def ptr(a):
    """ctypes pointer to a numpy array's data (None stays a null pointer)."""
    return None if a is None else ctypes.c_void_p(a.ctypes.data)


def I(v):  # noqa: E743 - 64-bit integer argument
    return ctypes.c_longlong(int(v))


def host_words(lib, col: Col) -> np.ndarray:
    """Key words of a non-string Col computed by the kernels."""
    d = col.dtype
    valid = None if col.valid is None else np.ascontiguousarray(col.valid, np.uint8)
    if d.is_float:
        kind, v = (3, col.data.astype(np.float32)) if d.kind == "float32" else (2, col.data.astype(np.float64))
    elif d.is_unsigned_integer or d.is_bool:
        kind, v = 1, col.data.astype(np.uint64)
    else:
        kind, v = 0, col.data.astype(np.int64)
    out = np.zeros(len(v), np.uint64)
    lib.h_words(kind, ptr(np.ascontiguousarray(v)), ptr(valid), I(len(v)), ptr(out))
    return out


def host_strhash(lib, strings: pa.Array, seed=keyhash.STR_SEED) -> np.ndarray:
    arr = strings.cast(pa.large_string())
    offs = np.frombuffer(arr.buffers()[1], np.int64, count=len(arr) + 1).copy()
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, np.uint8).copy() if buf is not None and buf.size else np.zeros(1, np.uint8)
    out = np.zeros(len(arr), np.uint64)
    lib.h_strhash(ptr(data), ptr(offs), I(len(arr)), ctypes.c_ulonglong(seed), ptr(out))
    return out


def kernel_words(lib, col: Col) -> np.ndarray:
    """Words as the GPU backend computes them: strhash per distinct string, then a gather."""
    if col.dtype.is_string:
        w = host_strhash(lib, col.dictionary)[col.data]
        return np.where(col.valid, w, np.uint64(keyhash.NULL_WORD)) if col.valid is not None else w
    return host_words(lib, col)


def kernel_row_hash(lib, cols) -> np.ndarray:
    n = len(cols[0])
    words = np.ascontiguousarray(np.stack([kernel_words(lib, c) for c in cols]))
    out = np.zeros(n, np.uint64)
    lib.h_hash_rows(ptr(words), len(cols), I(n), ptr(out))
    return out


# --------------------------------------------------------------------------- test vectors
def _col_from_json(c: dict) -> Col:
    d = T.DType(c["type"])
    vals = c["values"]
    valid = np.array([v is not None for v in vals])
    if d.is_string:
        dictionary = pa.array([v if v is not None else "" for v in vals], pa.string())
        data = np.arange(len(vals), dtype=np.int32)
    elif d.is_float:
        bits = np.array([int(v, 16) if v is not None else 0 for v in vals], np.uint64)
        data, dictionary = bits.view(np.float64).astype(d.kind), None
    else:
        data, dictionary = np.array([v if v is not None else 0 for v in vals], d.kind), None
    return Col(data, None if valid.all() else valid, d, dictionary)


def build_vectors() -> dict:
    """The pinned inputs of tests/data/hash_vectors.json, with keyhash.py's hashes."""
    def f(*xs):
        return [None if x is None else hex(int(np.float64(x).view(np.uint64))) for x in xs]
    nan_neg = hex(0xFFF8000000000001)
    cases = [
        [{"type": "int64", "values": [0, 1, -1, 2**63 - 1, -2**63, 42, None]}],
        [{"type": "int32", "values": [0, 7, -7, 2**31 - 1, -2**31, None, 5]}],
        [{"type": "uint64", "values": [0, 1, 2**64 - 1, 2**63, 12345, None, 9]}],
        [{"type": "bool", "values": [True, False, None, True, False, True, False]}],
        [{"type": "float64", "values": f(0.0, -0.0, 1.5, float("nan"), float("inf"), -float("inf"), None)
          + [nan_neg]}],
        [{"type": "float32", "values": f(0.0, -0.0, 0.1, float("nan"), 3.0e38, -1.25, None)}],
        [{"type": "string", "values": ["", "a", "abcdefgh", "abcdefghi", "grüße", "日本語のテキスト", None]}],
        [{"type": "int64", "values": [1, 1, 2, None, None, 3]},
         {"type": "string", "values": ["x", "y", "x", None, "z", ""]},
         {"type": "float64", "values": f(0.5, -0.0, None, 2.0, float("nan"), 0.0)}],
    ]
    out = []
    for cols in cases:
        keys = [_col_from_json(c) for c in cols]
        h = keyhash.hash_rows(keys, len(keys[0]))
        out.append({"columns": cols, "hashes": [hex(int(x)) for x in h],
                    "partitions_7": keyhash.partition_ids(h, 7).tolist()})
    return {"doc": "inputs (floats as IEEE-754 bit patterns) and their row hashes per "
                   "gpuvelo/backends/keyhash.py; regenerate only if the hash definition changes",
            "cases": out}


def test_vectors_match_keyhash_py():
    want = json.loads(VECTORS.read_text())
    assert want == build_vectors(), "keyhash.py no longer reproduces tests/data/hash_vectors.json"


def test_kernel_hash_matches_vectors(lib):
    for case in json.loads(VECTORS.read_text())["cases"]:
        keys = [_col_from_json(c) for c in case["columns"]]
        got = kernel_row_hash(lib, keys)
        assert [hex(int(x)) for x in got] == case["hashes"]


def _random_cols(rng, n):
    ints = Col(rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64), rng.random(n) > 0.1, T.INT64)
    small = Col(rng.integers(-5, 5, n).astype(np.int16), None, T.INT16)
    uints = Col(rng.integers(0, 2**64 - 1, n, dtype=np.uint64), None, T.UINT64)
    fl = rng.choice(np.array([0.0, -0.0, np.nan, -np.nan, np.inf, 1.5, -2.25]), n)
    fl[::7] = rng.normal(size=len(fl[::7]))
    floats = Col(fl, rng.random(n) > 0.2, T.FLOAT64)
    f32 = Col(fl.astype(np.float32), None, T.FLOAT32)
    words = ["", "a", "ab", "abcdefgh", "abcdefghi", "ü", "日本", "x" * 17, "a\x00b"]
    strs = Col(rng.integers(0, len(words), n).astype(np.int32), rng.random(n) > 0.1, T.STRING,
               pa.array(words))
    dec = Col(rng.integers(-10**12, 10**12, n), None, T.decimal(18, 4))
    return [ints, small, uints, floats, f32, strs, dec]


def test_kernel_words_and_row_hash_random(lib):
    rng = np.random.default_rng(1)
    cols = _random_cols(rng, 500)
    for c in cols:
        assert np.array_equal(kernel_words(lib, c), keyhash.key_words(c)), c.dtype
    assert np.array_equal(kernel_row_hash(lib, cols), keyhash.hash_rows(cols, 500))
    assert np.array_equal(kernel_row_hash(lib, cols[3:5]), keyhash.hash_rows(cols[3:5], 500))


def test_kernel_strhash_random_strings(lib):
    rng = np.random.default_rng(2)
    alphabet = list("abcdé日\x00 ")
    strs = pa.array(["".join(rng.choice(alphabet, rng.integers(0, 40))) for _ in range(300)])
    for seed in (keyhash.STR_SEED, keyhash.STR_SEED_ALT):
        assert np.array_equal(host_strhash(lib, strs, seed), keyhash.strhash_arrow(strs, seed))


# --------------------------------------------------------------------------- partition
@pytest.mark.parametrize("nparts,grid,block", [(1, 2, 32), (7, 3, 64), (64, 5, 32), (300, 2, 128)])
def test_partition_ids_and_stable_scatter(lib, nparts, grid, block):
    rng = np.random.default_rng(nparts)
    n = 3001
    h = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    part = np.zeros(n, np.int32)
    hist = np.zeros(nparts * grid, np.int64)
    order = np.full(n, -1, np.int64)
    lib.h_partition(ptr(h), I(n), nparts, grid, block, ptr(part), ptr(hist), ptr(order))
    ref = keyhash.partition_ids(h, nparts)
    assert np.array_equal(part, ref)
    assert np.array_equal(order, np.argsort(ref, kind="stable"))
    # partition p starts at the scan of block 0's entry
    counts = np.bincount(ref, minlength=nparts)
    assert np.array_equal(hist[::grid], np.concatenate([[0], np.cumsum(counts)[:-1]]))


# --------------------------------------------------------------------------- group by
class Table:
    """A host copy of the device hash table, driven through the kernels."""

    def __init__(self, lib, W, cap=64, gcap=4096):
        self.lib, self.W, self.gcap = lib, W, gcap
        self.slots = np.full(cap, -1, np.int64)
        self.kw = np.zeros(W * gcap, np.uint64)
        self.counter = np.zeros(1, np.uint64)
        self.changed = np.zeros(gcap, np.uint8)
        self.live = np.zeros(gcap, np.uint8)

    def upsert(self, words):
        n = words.shape[1]
        gid = np.full(n, -1, np.int64)
        self.lib.h_upsert(ptr(np.ascontiguousarray(words)), self.W, I(n), ptr(self.slots),
                          I(len(self.slots) - 1), ptr(self.kw), I(self.gcap), ptr(self.counter),
                          ptr(gid), ptr(self.changed), ptr(self.live))
        return gid

    def lookup(self, words):
        n = words.shape[1]
        gid = np.full(n, -7, np.int64)
        self.lib.h_lookup(ptr(np.ascontiguousarray(words)), self.W, I(n), ptr(self.slots),
                          I(len(self.slots) - 1), ptr(self.kw), I(self.gcap), ptr(gid))
        return gid

    def grow(self, cap, gids=None):
        """Rebuild into ``cap`` slots from ``gids`` (all issued ids when None)."""
        self.slots = np.full(cap, -1, np.int64)
        if gids is None:
            gids = np.arange(int(self.counter[0]), dtype=np.int64)
        self.lib.h_rebuild(ptr(gids), I(len(gids)), ptr(self.kw), self.W, I(self.gcap),
                           ptr(self.slots), I(cap - 1))


def _group_words(rng, n, ndistinct):
    a = rng.integers(0, ndistinct, n).astype(np.uint64)
    b = (a * np.uint64(3)) % np.uint64(5)
    nullmask = (a % np.uint64(11) == 0).astype(np.uint64)
    return np.stack([a, b, nullmask])


def test_upsert_assigns_dense_gids_per_distinct_key(lib):
    rng = np.random.default_rng(3)
    t = Table(lib, 3, cap=1024)
    words = _group_words(rng, 2000, 300)
    gid = t.upsert(words)
    uniq, inv = np.unique(words.T, axis=0, return_inverse=True)
    ng = int(t.counter[0])
    assert ng == len(uniq)
    assert sorted(set(gid.tolist())) == list(range(ng))
    # same key <=> same gid
    pairs = set(zip(inv.ravel().tolist(), gid.tolist()))
    assert len(pairs) == ng
    # stored key words of each gid are the row's words
    kw = t.kw.reshape(3, -1)
    assert np.array_equal(kw[:, gid], words)
    assert t.changed[:ng].all() and not t.changed[ng:].any()
    assert t.live[:ng].all() and not t.live[ng:].any()
    # after a rebuild into a larger table the same keys find the same gids
    t.grow(4096)
    assert np.array_equal(t.upsert(words), gid)
    assert int(t.counter[0]) == ng


def test_lookup_finds_live_groups_only(lib):
    rng = np.random.default_rng(4)
    t = Table(lib, 3, cap=2048)
    words = _group_words(rng, 3000, 400)
    gid = t.upsert(words)
    assert np.array_equal(t.lookup(words), gid)          # every row finds its group
    ng = int(t.counter[0])
    # evict: rebuild from the even gids only; odd gids' keys are no longer found
    t.grow(2048, np.arange(0, ng, 2, dtype=np.int64))
    got = t.lookup(words)
    assert np.array_equal(got, np.where(gid % 2 == 0, gid, -1))
    unseen = words.copy()
    unseen[0] += np.uint64(10**6)                        # keys never inserted
    assert (t.lookup(unseen) == -1).all()
    assert int(t.counter[0]) == ng                       # lookup inserts nothing


def _decode_order(w, kind):
    if kind == "f64":
        b = np.where(w >> np.uint64(63) == 1, w & ~np.uint64(1 << 63), ~w)
        return b.view(np.float64)
    return (w ^ np.uint64(1 << 63)).view(np.int64)


@pytest.mark.parametrize("use_shared", [0, 1])
@pytest.mark.parametrize("ndistinct", [5, 900])
def test_acc_num_matches_numpy(lib, use_shared, ndistinct):
    rng = np.random.default_rng(ndistinct + use_shared)
    n, G = 3000, 1024
    gid = rng.integers(0, ndistinct, n).astype(np.int64)
    valid = (rng.random(n) > 0.15).astype(np.uint8)
    ints = rng.integers(-2**62, 2**62, n, dtype=np.int64)
    floats = rng.normal(size=n) * 1e3
    floats[::97] = -0.0

    def run(vals, kind):
        acc = dict(cnt=np.zeros(G, np.uint64), lo=np.zeros(G, np.uint64), hi=np.zeros(G, np.uint64),
                   fsum=np.zeros(G), mn=np.full(G, 2**64 - 1, np.uint64), mx=np.zeros(G, np.uint64))
        lib.h_acc_num(ptr(gid), ptr(vals), kind, ptr(valid), None, I(n), 7, use_shared,
                      *(ptr(acc[k]) for k in ("cnt", "lo", "hi", "fsum", "mn", "mx")))
        return acc

    m = valid.astype(bool)
    cnt = np.bincount(gid[m], minlength=G)
    ai = run(ints, 0)
    assert np.array_equal(ai["cnt"], cnt)
    exact = [0] * G
    for g, v in zip(gid[m].tolist(), ints[m].tolist()):   # python ints: exact reference
        exact[g] += v
    got = [(int(h) - (1 << 64 if h >> 63 else 0)) * 2**64 + int(lo)
           for lo, h in zip(ai["lo"].tolist(), ai["hi"].tolist())]
    assert got == exact
    has = cnt > 0
    ref_min = np.array([ints[m][gid[m] == g].min() if has[g] else 0 for g in range(G)])
    ref_max = np.array([ints[m][gid[m] == g].max() if has[g] else 0 for g in range(G)])
    assert np.array_equal(_decode_order(ai["mn"], "i64")[has], ref_min[has])
    assert np.array_equal(_decode_order(ai["mx"], "i64")[has], ref_max[has])

    af = run(floats, 2)
    assert np.array_equal(af["cnt"], cnt)
    np.testing.assert_allclose(af["fsum"], np.bincount(gid[m], floats[m], minlength=G), rtol=1e-12, atol=1e-9)
    ref_min = np.array([floats[m][gid[m] == g].min() if has[g] else 0 for g in range(G)])
    ref_max = np.array([floats[m][gid[m] == g].max() if has[g] else 0 for g in range(G)])
    assert np.array_equal(_decode_order(af["mn"], "f64")[has], ref_min[has])
    assert np.array_equal(_decode_order(af["mx"], "f64")[has], ref_max[has])

    # second pass of the moments: sum of squared deviations from the batch mean
    m2 = np.zeros(G)
    lib.h_acc_m2(ptr(gid), ptr(floats), ptr(valid), I(n), ptr(af["cnt"]), ptr(af["fsum"]), ptr(m2))
    ref = np.array([((floats[m][gid[m] == g] - floats[m][gid[m] == g].mean()) ** 2).sum()
                    if has[g] else 0.0 for g in range(G)])
    np.testing.assert_allclose(m2, ref, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("use_shared", [0, 1])
@pytest.mark.parametrize("ndistinct", [5, 900])
@pytest.mark.parametrize("kind", [0, 2])
def test_acc_multi_equals_one_pass_per_aggregate(lib, use_shared, ndistinct, kind):
    """One gv_acc_multi pass over K aggregates of an argument (COUNT, SUM, MIN, MAX, AVG's
    SUM) leaves every accumulator as K gv_acc_num passes do, with NULLs and merge counts."""
    rng = np.random.default_rng(ndistinct + 7 * use_shared + kind)
    n, G = 3000, 1024
    gid = rng.integers(0, ndistinct, n).astype(np.int64)
    valid = (rng.random(n) > 0.15).astype(np.uint8)
    nadd = rng.integers(0, 4, n).astype(np.int64)
    # integer-valued doubles: float sums are exact in any order, so the passes compare exactly
    vals = rng.integers(-10**6, 10**6, n).astype(np.float64 if kind == 2 else np.int64)
    flags = [0, 1, 2, 4, 1]
    fields = ("cnt", "lo", "hi", "fsum", "mn", "mx")

    def fresh():
        return dict(cnt=np.full(G, 3, np.uint64), lo=np.zeros(G, np.uint64), hi=np.zeros(G, np.uint64),
                    fsum=np.full(G, 0.5), mn=np.full(G, 2**64 - 1, np.uint64), mx=np.zeros(G, np.uint64))

    for na in (None, nadd):
        ref = [fresh() for _ in flags]
        for f, acc in zip(flags, ref):
            lib.h_acc_num(ptr(gid), ptr(vals), kind, ptr(valid), ptr(na), I(n), f, use_shared,
                          *(ptr(acc[k]) for k in fields))
        got = [fresh() for _ in flags]
        table = np.array([acc[k].ctypes.data for acc in got for k in fields], np.uint64)
        ngroups = np.array([ndistinct], np.uint64)     # shared path iff ngroups <= shared_max
        lib.h_acc_multi(ptr(gid), ptr(vals), kind, ptr(valid), ptr(na), I(n), len(flags),
                        ptr(np.array(flags, np.int32)), ptr(table), ptr(ngroups),
                        I(ndistinct if use_shared else ndistinct - 1))
        for r, g in zip(ref, got):
            for k in fields:
                assert np.array_equal(r[k], g[k]), k


def test_float_sum_exact_under_contention(lib):
    """Two hot groups, every thread adding doubles at once: integer-valued doubles sum exactly
    in any order, so any lost update shows. (A shim atomicAdd(double) that read the target
    twice lost updates here and in test_acc_num_matches_numpy on many-core machines.)"""
    n, G = 1 << 20, 2
    gid = (np.arange(n) % G).astype(np.int64)
    vals = ((np.arange(n) * 7919) % 2001 - 1000).astype(np.float64)
    ref = np.bincount(gid, vals, minlength=G)
    for _ in range(3):
        acc = [np.zeros(G, np.uint64) for _ in range(3)] + [np.zeros(G)] + [np.zeros(G, np.uint64)] * 2
        lib.h_acc_num(ptr(gid), ptr(vals), 2, None, None, I(n), 1, 0, *(ptr(a) for a in acc))
        assert np.array_equal(acc[3], ref)


def test_int_sum_overflow_is_visible_in_high_word(lib):
    G, n = 4, 6
    gid = np.zeros(n, np.int64)
    vals = np.full(n, 2**62, np.int64)
    acc = [np.zeros(G, np.uint64) for _ in range(3)] + [np.zeros(G)] + [np.zeros(G, np.uint64)] * 2
    lib.h_acc_num(ptr(gid), ptr(vals), 0, None, None, I(n), 1, 0, *(ptr(a) for a in acc))
    assert int(acc[1][0]) + (int(acc[2][0]) << 64) == 6 * 2**62   # exact, > 2**63


def test_first_last_by_arrival_position(lib):
    rng = np.random.default_rng(5)
    n, G = 1000, 50
    gid = rng.integers(0, G, n).astype(np.int64)
    pos = rng.permutation(n).astype(np.int64) + 10**9
    src = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64)
    src_valid = (rng.random(n) > 0.3).astype(np.uint8)
    for is_last in (0, 1):
        best = np.full(G, 0 if is_last else 2**64 - 1, np.uint64)
        dst, dvalid = np.zeros(G, np.uint64), np.zeros(G, np.uint8)
        lib.h_pos(ptr(gid), ptr(pos), I(n), is_last, ptr(best), ptr(src), ptr(src_valid), ptr(dst), ptr(dvalid))
        for g in range(G):
            rows = np.flatnonzero(gid == g)
            if rows.size == 0:
                continue
            r = rows[np.argmax(pos[rows])] if is_last else rows[np.argmin(pos[rows])]
            assert dst[g] == src[r] and dvalid[g] == src_valid[r]


# --------------------------------------------------------------------------- nvcc, wheel
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernels_compile_with_nvcc(tmp_path, arch):
    sources = sorted(KERNEL_DIR.glob("*.cu"))
    assert sources
    for src in sources:
        r = subprocess.run(["nvcc", "-std=c++17", f"-arch={arch}", "--ptx", "-Werror", "all-warnings",
                            "-I", str(KERNEL_DIR), str(src), "-o", str(tmp_path / (src.stem + ".ptx"))],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), f"{src.name}: {r.stderr}"


def test_wheel_ships_kernel_sources(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "-w", str(tmp_path),
                        "--no-deps", "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr[-300:]}")
    (whl,) = tmp_path.glob("gpuvelo-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for src in list(KERNEL_DIR.glob("*.cu")) + list(KERNEL_DIR.glob("*.cuh")):
        assert f"gpuvelo/kernels/{src.name}" in names
    # and an installed copy finds them through gpuvelo.kernels.KERNEL_DIR
    site = tmp_path / "site"
    zipfile.ZipFile(whl).extractall(site)
    out = subprocess.run([sys.executable, "-c", "import gpuvelo.kernels as k; print(k.KERNEL_DIR); "
                          "print(len(k.source('groupby.cu')))"], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(site)) and int(out.stdout.split()[-1]) > 1000


if __name__ == "__main__" and "--write-vectors" in sys.argv:
    VECTORS.write_text(json.dumps(build_vectors(), indent=1, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- GpuGroupState
# The GPU state's Python driving code, run on this machine: a stand-in for CuPy (NumPy arrays
# with the few CuPy-only attributes the state uses; streams that are no-ops) and every
# groupby.cu kernel launched through the host shim with its real signature. What this cannot
# check: CuPy's own semantics (copies, streams), device memory ordering, speed.
DEVICE_HARNESS = r"""
#include <cstdint>
#include <type_traits>
#include <utility>
#include "host_shim.h"
#include "keyhash.cu"
#include "groupby.cu"
template <typename T> T gv_from_word(gv_u64 w) {
    if constexpr (std::is_pointer_v<T>) return (T)(uintptr_t)w;
    else return (T)w;
}
template <typename... A, size_t... I>
void gv_call(void (*f)(A...), const gv_u64* w, std::index_sequence<I...>) {
    gv_launch(3, 64, [&] { f(gv_from_word<A>(w[I])...); });
}
template <typename... A> void gv_run(void (*f)(A...), const gv_u64* w) {
    gv_call(f, w, std::index_sequence_for<A...>{});
}
#define GV_HOST(name) extern "C" void k_##name(const gv_u64* w) { gv_run(name, w); }
GV_HOST(gv_table_upsert)
GV_HOST(gv_table_lookup)
GV_HOST(gv_table_rebuild)
GV_HOST(gv_acc_multi)
GV_HOST(gv_acc_num)
GV_HOST(gv_acc_m2)
GV_HOST(gv_acc_pos)
GV_HOST(gv_fetch_pos)
"""


class _DevArray(np.ndarray):
    """A host array standing in for a ``cupy.ndarray``."""

    @property
    def data(self):
        return SimpleNamespace(ptr=self.ctypes.data)

    def get(self, stream=None):
        return np.array(self)


def _dev(x):
    if isinstance(x, np.ndarray) and not isinstance(x, _DevArray):
        return x.view(_DevArray)
    if isinstance(x, tuple):
        return tuple(_dev(v) for v in x)
    return x


class _Stream:
    local = threading.local()      # the current stream of each thread

    def __init__(self, non_blocking=False):
        pass

    def __enter__(self):
        self._prev, _Stream.local.current = _current_stream(), self
        return self

    def __exit__(self, *exc):
        _Stream.local.current = self._prev

    def record(self):
        return SimpleNamespace(synchronize=lambda: None)

    def wait_event(self, event):
        pass

    def synchronize(self):
        pass


_NULL_STREAM = _Stream()


def _current_stream():
    return getattr(_Stream.local, "current", None) or _NULL_STREAM


def _fake_cupy():
    """A module object answering as ``cupy``: NumPy's functions, results as _DevArray."""
    fake = types.ModuleType("cupy")

    def attr(name):
        a = getattr(np, name)
        if callable(a) and not isinstance(a, type):
            return lambda *args, **kw: _dev(a(*args, **kw))
        return a

    fake.__getattr__ = attr
    fake.ndarray = _DevArray
    fake.asnumpy = lambda a: np.array(a)
    fake.cuda = SimpleNamespace(
        Stream=_Stream, get_current_stream=_current_stream,
        memory=SimpleNamespace(OutOfMemoryError=MemoryError))
    return fake


def _word(x) -> int:
    if isinstance(x, np.ndarray):
        assert x.flags.c_contiguous, "a kernel argument array must be contiguous"
        return x.ctypes.data
    assert isinstance(x, (np.int32, np.int64, np.uint64)), f"kernel scalar of type {type(x)}"
    return int(x) & (2**64 - 1)


@pytest.fixture(scope="module")
def device_lib(tmp_path_factory):
    return _shared_library(tmp_path_factory, "hostdev", DEVICE_HARNESS)


@pytest.fixture
def host_gpu(device_lib, monkeypatch):
    """GpuGroupState's module wired to the fake CuPy and the host-compiled kernels; yields a
    backend that is the CPU backend except that its group states are GpuGroupStates."""
    import gpuvelo.backends.gpu as gpu
    from gpuvelo.backends.cpu import CpuBackend
    from gpuvelo.backends.gpu_state import GpuGroupState

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    launches = []
    one_at_a_time = threading.Lock()     # the shim's grid state is global: one launch at a time

    def kernel(module, func):
        def launch(grid, block, args):
            words = np.array([_word(a) for a in args], np.uint64)
            with one_at_a_time:
                launches.append(func)
                getattr(device_lib, f"k_{func}")(ptr(words))
        return launch

    monkeypatch.setattr(gpu, "kernel", kernel)

    class HostGpu(CpuBackend):
        name = "gpu"
        launched = launches

        def group_state(self, spec, stream=None):
            return GpuGroupState(spec, stream)

    return HostGpu()


def _cols(table: pa.Table, schema) -> dict:
    from gpuvelo.backends.cpu import CpuBackend

    return CpuBackend().to_device(pa.record_batch(table.to_pydict(), schema=table.schema), schema)


def _same(a: pa.Table, b: pa.Table):
    keys = [c for c in a.column_names if c.startswith("k")]
    a, b = (t.sort_by([(k, "ascending") for k in keys]) if keys else t for t in (a, b))
    assert a.schema == b.schema
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if pa.types.is_floating(a.schema.field(name).type):
            np.testing.assert_allclose(np.array(x, float), np.array(y, float), rtol=1e-9, equal_nan=True)
        else:
            assert x == y, name


def _agg_spec(funcs, arg, key=T.INT64):
    from gpuvelo.backends.protocol import AggSlot, StateSpec

    out = {"count": T.INT64, "count_star": T.INT64, "avg": T.FLOAT64, "var_samp": T.FLOAT64,
           "count_distinct": T.INT64}
    return StateSpec((key,), tuple(AggSlot(f, None if f == "count_star" else arg, out.get(f, arg))
                                   for f in funcs))


@pytest.mark.parametrize("arg,nulls", [(T.FLOAT64, False), (T.FLOAT64, True), (T.INT64, True)])
def test_gpu_state_fused_update_matches_cpu(host_gpu, arg, nulls):
    """COUNT(*), COUNT, SUM, MIN, MAX, AVG of one argument (one Col, as the row stage shares
    it) plus VAR and FIRST over it: one gv_acc_multi pass folds the first six."""
    from gpuvelo.backends.cpu import CpuBackend

    rng = np.random.default_rng(11)
    funcs = ("count_star", "count", "sum", "min", "max", "avg", "var_samp", "first")
    spec = _agg_spec(funcs, arg)
    cpu, dev = CpuBackend().group_state(spec), host_gpu.group_state(spec)
    for b in range(3):
        n = 2500
        k = rng.integers(0, 40 if b < 2 else 3000, n)      # then many groups: table growth
        v = rng.integers(-10**6, 10**6, n) if arg == T.INT64 else rng.normal(size=n) * 100
        x = Col(v.astype(np.float64 if arg == T.FLOAT64 else np.int64),
                (rng.random(n) > 0.2) if nulls else None, arg)
        key = Col(k.astype(np.int64), None, T.INT64)
        pos = np.arange(b * n, (b + 1) * n, dtype=np.int64)
        host_gpu.launched.clear()
        for st in (cpu, dev):
            st.update([key], [None if f == "count_star" else x for f in funcs], pos)
        assert host_gpu.launched.count("gv_acc_multi") == 1 + nulls   # COUNT(*) alone iff NULLs
        assert "gv_acc_num" not in host_gpu.launched or "var_samp" in funcs
    _same(dev.finalize(), cpu.finalize())


def test_gpu_state_evict_compacts_and_lookup_keys(host_gpu):
    """Evicting most groups renumbers the survivors 0..m-1; keys, lookup, partials and later
    updates stay right (reference: the CPU state fed the same rows and evictions)."""
    from gpuvelo.backends.cpu import CpuBackend

    spec = _agg_spec(("count_star", "sum", "max", "count_distinct"), T.INT64)
    cpu, dev = CpuBackend().group_state(spec), host_gpu.group_state(spec)
    n = 6000
    k = np.arange(n, dtype=np.int64)
    v = Col(k * 3 % 17, None, T.INT64)
    for st in (cpu, dev):
        st.update([Col(k, None, T.INT64)], [None, v, v, v], np.arange(n))
    assert dev.num_groups == n
    # evict keys < 5000 (found through lookup): dead outnumber live -> compaction
    gone = Col(np.arange(5000, dtype=np.int64), None, T.INT64)
    for st in (cpu, dev):
        st.evict(st.lookup([gone]))
    assert dev.num_groups == 1000
    assert np.array_equal(dev.live_gids(), np.arange(1000))          # renumbered
    assert (dev.lookup([gone]) == -1).all()
    keys = np.asarray(dev.keys().column("k0"))
    assert sorted(keys.tolist()) == list(range(5000, 6000))
    assert np.array_equal(dev.lookup([Col(keys, None, T.INT64)]), dev.live_gids())
    _same(dev.keys(np.array([0, 5])), pa.table({"k0": pa.array(keys[[0, 5]])}))
    # evicted keys come back as new groups; surviving ones accumulate
    k2 = np.arange(4000, 7000, dtype=np.int64)
    v2 = Col(k2 % 5, None, T.INT64)
    for st in (cpu, dev):
        st.update([Col(k2, None, T.INT64)], [None, v2, v2, v2], np.arange(n, n + k2.size))
    assert dev.num_groups == cpu.num_groups == 3000
    _same(dev.finalize(), cpu.finalize())
    assert dev.changed().size == 3000




@pytest.mark.parametrize("query", WINDOW_QUERIES, ids=["tumbling", "hopping", "session"])
@pytest.mark.parametrize("partitions", [1, 3])
def test_windowed_jobs_on_gpu_state_match_cpu(host_gpu, monkeypatch, query, partitions):
    """Windowed jobs (late rows, closing, evict) with GpuGroupStates equal the CPU backend's."""
    import datetime as dt

    import gpuvelo
    import gpuvelo.api as api

    table = window_events(np.random.default_rng(len(query) + partitions), 5000)

    def run():
        sink = gpuvelo.io.MemorySink()
        job = gpuvelo.Job(query, sources={"t": table}, sink=sink, batch_size=500, partitions=partitions,
                          max_out_of_orderness=dt.timedelta(seconds=60))
        stats = job.run()
        return sink.table(), stats

    want, want_stats = run()
    monkeypatch.setattr(api, "select_backend", lambda name: host_gpu)
    got, got_stats = run()
    assert got_stats.backend == "gpu"
    assert got_stats.records_late == want_stats.records_late
    assert want_stats.records_late > 0 or "HOPPING" in query
    order = [(c, "ascending") for c in ("k", "window_start")]
    assert got.num_rows == want.num_rows > 0
    got, want = got.sort_by(order), want.sort_by(order)
    for name in want.column_names:
        x, y = got.column(name).to_pylist(), want.column(name).to_pylist()
        if pa.types.is_floating(want.schema.field(name).type):
            np.testing.assert_allclose(np.array(x, float), np.array(y, float), rtol=1e-9, equal_nan=True)
        else:
            assert x == y, name


@pytest.fixture
def host_gb(host_gpu):
    """``host_gpu`` standing in for test_gpu_backend's ``gb`` (its xp: the fake CuPy)."""
    host_gpu.xp = sys.modules["cupy"]
    return host_gpu


@pytest.mark.parametrize("key_names,arg", [(("ki",), "x"), (("ks",), "f"), (("kf", "ki"), "s"),
                                          (("ks", "ki"), "d"), ((), "x")])
def test_gpu_backend_state_checks_on_host(host_gb, key_names, arg):
    """test_gpu_backend's state checks (every aggregate and key type, partials both ways) on
    the host-compiled kernels, so they run on machines without a GPU too."""
    import test_gpu_backend as g

    g.test_group_state_matches_cpu(host_gb, key_names, arg)


def test_gpu_backend_growth_evict_overflow_on_host(host_gb):
    import test_gpu_backend as g

    g.test_evict_and_growth(host_gb)
    g.test_evict_compacts_and_lookup(host_gb)
    g.test_int_sum_overflow_raises(host_gb)


@pytest.mark.parametrize("query", [
    "SELECT k1, any_value(s) AS a, any_value(i) AS b, any_value(dec) AS c, any_value(fn) AS e FROM t GROUP BY k1",
    "SELECT k1, median(f) AS a, quantile_cont(i, 0.9) AS b, quantile_disc(dec, 0.3) AS c, "
    "median(ts) AS e, quantile_disc(s, 0.5) AS h, median(d) AS m FROM t GROUP BY k1",
    "SELECT median(fn) AS a, quantile_disc(k2, 0.9) AS b, any_value(k3) AS c, COUNT(DISTINCT s) AS n FROM t",
    "SELECT k1, arg_max(s, i) AS a, arg_min(s, i) AS b, max_by(dec, f) AS c, min_by(ts, fn) AS e, "
    "arg_max(k3, dec) AS h, arg_min(f, d) AS m, arg_max(i, fn) AS q FROM t GROUP BY k1",
    "SELECT arg_max(s, fn) AS a, arg_min(s, g) AS b, arg_max(u64, k3) AS c FROM t",
    "SELECT k2, SUM(DISTINCT i) AS a, AVG(DISTINCT f) AS b, SUM(DISTINCT dec) AS c FROM t GROUP BY k2",
    "SELECT k1, string_agg(s, ',') AS a, string_agg(DISTINCT k2, '|') AS b, mode(k2) AS c, mode(i % 5) AS e, "
    "mode(dec) AS h, mode(fn) AS m FROM t GROUP BY k1",
    "SELECT k1, corr(f, i) AS c, covar_samp(dec, u) AS v, regr_slope(f, g) AS r, regr_r2(i, k1) AS q, "
    "regr_count(f, i) AS n FROM t GROUP BY k1",
])
@pytest.mark.parametrize("partitions", [1, 3])
def test_value_keeping_aggregates_on_gpu_state_match_cpu(host_gpu, monkeypatch, query, partitions):
    """ANY_VALUE, the quantiles (value lists kept as device pairs) and ARG_MAX/ARG_MIN (sorted
    best rows) on GpuGroupStates, merged across partitions, equal the CPU backend's results."""
    import gpuvelo
    import gpuvelo.api as api
    from differential import assert_same_rows, random_table, rows

    table = random_table(np.random.default_rng(len(query) + partitions), 900, null_p=0.3)
    want = gpuvelo.sql(query, t=table, backend="cpu", batch_size=64, partitions=partitions)
    monkeypatch.setattr(api, "select_backend", lambda name: host_gpu)
    got = gpuvelo.sql(query, t=table, batch_size=64, partitions=partitions)
    assert host_gpu.launched, "the GPU states' kernels never ran"
    assert got.column_names == want.column_names
    assert_same_rows(rows(got), rows(want), ordered=False, context=query)


def test_count_distinct_of_large_close_values_on_gpu_state(host_gpu):
    """Pairs are sorted by (group, value word) as unsigned integers: stacking the int64 group
    ids with the uint64 words once promoted both to float64, so words above 2**53 that differ
    by less than their float spacing sorted as equal and duplicates were kept."""
    base = 2**60
    spec = _agg_spec(("count_distinct",), T.INT64)
    state = host_gpu.group_state(spec)
    for chunk in ([base, base + 1], [base, base + 2], [base + 1, base]):
        x = np.array(chunk, np.int64)
        state.update([Col(np.zeros(2, np.int64), None, T.INT64)], [Col(x, None, T.INT64)],
                     np.arange(2))
    assert state._pairs[0][0].shape[0] == 3
    assert state.finalize().column("a0").to_pylist() == [3]


def test_gpu_benchmark_steps_run_on_the_host_stand_in(host_gb, monkeypatch):
    """bench_gpu.py's device-resident steps (fresh and steady states, the phase breakdown)
    on the host-compiled kernels, so the benchmark cannot rot between GPU sessions."""
    import importlib.util
    from pathlib import Path

    from gpuvelo.backends import keyhash

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cp = host_gb.xp
    monkeypatch.setattr(cp.cuda, "Device", lambda: SimpleNamespace(synchronize=lambda: None), raising=False)
    host_gb.partition_ids = lambda h, n: keyhash.partition_ids(h, n, np)
    rng = np.random.default_rng(2)
    keys, vals = rng.integers(0, 50, 5000), rng.random(5000)
    states = bench.gpuvelo_device(host_gb, keys, vals, 3)
    counts = sum(int(st.finalize().column("a0").to_numpy().sum()) for st in states)
    assert counts == 5000
    phases = bench.phase_seconds(host_gb, keys, vals, 3, states)
    assert set(phases) == {"hash", "partition", "gather", "update"}
    assert sum(int(st.finalize().column("a0").to_numpy().sum()) for st in states) == 10000
