"""The one key hash (DESIGN.md invariant 1), NumPy reference implementation.

Definition -- ``kernels/keyhash.cuh`` implements exactly this, and
``tests/data/hash_vectors.json`` pins it with test vectors:

* ``fmix64(x)``: MurmurHash3's 64-bit finaliser::

      x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33

  (all arithmetic modulo 2**64).
* The *word* of one key value, a uint64:

  - bool: 0 or 1; signed integers, dates (days) and timestamps (ticks): the value as int64,
    reinterpreted as uint64 (two's complement); unsigned integers: the value;
  - decimals: the unscaled int64 (value * 10**scale);
  - floats: the value widened to float64, with -0.0 replaced by +0.0 and every NaN by
    the canonical quiet NaN ``0x7ff8000000000000``, reinterpreted as uint64;
  - strings: ``strhash(utf8_bytes, seed=STR_SEED)`` below;
  - NULL (any type): ``NULL_WORD``.
* ``strhash(b, seed)``: ``h = fmix64(seed ^ len(b))``; then for each 8-byte chunk ``c`` of
  ``b`` read little-endian (the last chunk zero-padded): ``h = fmix64(h ^ c)``; finally
  ``h = fmix64(h ^ len(b))``.
* The hash of a row with key words ``w0..wk-1``: ``h = ROW_SEED``; for each column in order
  ``h = fmix64(h ^ fmix64(w_i))``. A query without GROUP BY keys hashes every row to ``ROW_SEED``.
* Partition of a row: ``h % num_partitions`` (unsigned).
"""

from __future__ import annotations

import numpy as np

from ..columns import Col

M1 = 0xFF51AFD7ED558CCD
M2 = 0xC4CEB9FE1A85EC53
ROW_SEED = 0x243F6A8885A308D3
STR_SEED = 0x6A09E667F3BCC909
STR_SEED_ALT = 0xBB67AE8584CAA73B   # second string hash, used only to make group keys exact
NULL_WORD = 0x9E3779B97F4A7C15
CANONICAL_NAN = 0x7FF8000000000000


def fmix64(x, xp=np):
    """MurmurHash3 fmix64 over a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> xp.uint64(33))
    x = x * xp.uint64(M1)
    x = x ^ (x >> xp.uint64(33))
    x = x * xp.uint64(M2)
    return x ^ (x >> xp.uint64(33))


def strhash_arrow(strings, seed: int = STR_SEED) -> np.ndarray:
    """``strhash`` of every entry of a pyarrow string array (host, vectorised over strings;
    NULL entries hash as the empty string -- callers substitute NULL_WORD)."""
    import pyarrow as pa

    arr = strings
    if isinstance(arr, pa.ChunkedArray):
        arr = pa.concat_arrays(arr.chunks) if arr.num_chunks != 1 else arr.chunk(0)
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1 + arr.offset)[arr.offset:]
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    data = np.concatenate([data, np.zeros(8, np.uint8)])
    starts = offs[:-1]
    lens = (offs[1:] - starts).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = fmix64(np.uint64(seed) ^ lens)
        nchunks = (lens + np.uint64(7)) // np.uint64(8)
        idx = np.arange(n)
        r = 0
        while True:
            active = idx[nchunks[idx] > r] if r else idx[nchunks > 0]
            if active.size == 0:
                break
            base = starts[active] + 8 * r
            word = np.zeros(active.size, np.uint64)
            for k in range(8):
                word |= data[base + k].astype(np.uint64) << np.uint64(8 * k)
            rem = lens[active] - np.uint64(8 * r)
            short = rem < 8
            if short.any():
                mask = (np.uint64(1) << (rem[short] * np.uint64(8))) - np.uint64(1)
                word[short] &= mask
            h[active] = fmix64(h[active] ^ word)
            idx = active
            r += 1
        return fmix64(h ^ lens)


def key_words(col: Col, xp=np, seed: int = STR_SEED):
    """The uint64 word of every value of ``col`` (NULL -> NULL_WORD), per the definition."""
    d = col.dtype
    data = col.data
    if d.is_string:
        dict_hash = xp.asarray(strhash_arrow(col.dictionary, seed))
        w = dict_hash[data] if len(col.dictionary) else xp.zeros(len(data), xp.uint64)
    elif d.is_float:
        f = data.astype(xp.float64)
        f = xp.where(f == 0, xp.float64(0.0), f)    # -0.0 -> +0.0
        w = f.view(xp.uint64)
        w = xp.where(xp.isnan(f), xp.uint64(CANONICAL_NAN), w)
    elif d.is_unsigned_integer or d.is_bool:
        w = data.astype(xp.uint64, copy=False)
    else:  # signed ints, decimals (scaled int64), dates, timestamps
        w = data.astype(xp.int64, copy=False).view(xp.uint64)
    if col.valid is not None:
        w = xp.where(col.valid, w, xp.uint64(NULL_WORD))
    return w


def hash_rows(keys, n: int, xp=np):
    """The one row hash of ``n`` rows whose GROUP BY key columns are ``keys`` (list of Col)."""
    h = xp.full(n, ROW_SEED, dtype=xp.uint64)
    with np.errstate(over="ignore"):
        for col in keys:
            h = fmix64(h ^ fmix64(key_words(col, xp), xp), xp)
    return h


def partition_ids(hashes, num_partitions: int, xp=np):
    """Partition of each row: ``hash % num_partitions`` (as int32)."""
    return (hashes % xp.uint64(num_partitions)).astype(xp.int32)
