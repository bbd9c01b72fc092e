// The one key hash (DESIGN.md invariant 1). gpuvelo/backends/keyhash.py is the definition;
// this header must stay bit-identical to it (tests/test_kernels_host.py checks both against
// tests/data/hash_vectors.json).
#pragma once

#ifndef GV_DEVICE
#define GV_DEVICE __device__ __forceinline__
#endif

typedef unsigned long long gv_u64;
typedef long long gv_i64;

// Grid-stride loop over rows 0..n-1.
#define GV_GRID_STRIDE(i, n) \
    for (gv_i64 i = (gv_i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (gv_i64)blockDim.x * gridDim.x)

#define GV_M1 0xFF51AFD7ED558CCDull
#define GV_M2 0xC4CEB9FE1A85EC53ull
#define GV_ROW_SEED 0x243F6A8885A308D3ull
#define GV_STR_SEED 0x6A09E667F3BCC909ull
#define GV_NULL_WORD 0x9E3779B97F4A7C15ull
#define GV_CANONICAL_NAN 0x7FF8000000000000ull

// MurmurHash3's 64-bit finaliser.
GV_DEVICE gv_u64 gv_fmix64(gv_u64 x) {
    x ^= x >> 33;
    x *= GV_M1;
    x ^= x >> 33;
    x *= GV_M2;
    x ^= x >> 33;
    return x;
}

// Word of a signed integer, date, timestamp or decimal (unscaled): two's complement bits.
GV_DEVICE gv_u64 gv_word_i64(gv_i64 v) { return (gv_u64)v; }

// Word of an unsigned integer or bool.
GV_DEVICE gv_u64 gv_word_u64(gv_u64 v) { return v; }

// Word of a float (float32 is widened first): -0.0 -> +0.0, every NaN -> the canonical NaN.
GV_DEVICE gv_u64 gv_word_f64(double f) {
    if (f != f) return GV_CANONICAL_NAN;
    if (f == 0.0) f = 0.0;
    return (gv_u64)__double_as_longlong(f);
}

// strhash(bytes, seed): chunks of 8 bytes read little-endian, the last one zero-padded.
GV_DEVICE gv_u64 gv_strhash(const unsigned char* b, gv_u64 len, gv_u64 seed) {
    gv_u64 h = gv_fmix64(seed ^ len);
    for (gv_u64 off = 0; off < len; off += 8) {
        gv_u64 c = 0;
        gv_u64 m = len - off < 8 ? len - off : 8;
        for (gv_u64 k = 0; k < m; ++k) c |= (gv_u64)b[off + k] << (8 * k);
        h = gv_fmix64(h ^ c);
    }
    return gv_fmix64(h ^ len);
}

// One step of the row hash: h = fmix64(h ^ fmix64(w)), starting from GV_ROW_SEED.
GV_DEVICE gv_u64 gv_row_step(gv_u64 h, gv_u64 w) { return gv_fmix64(h ^ gv_fmix64(w)); }

// Row hash of row i over ncols key word columns stored column-major (words[c * n + i]).
GV_DEVICE gv_u64 gv_row_hash(const gv_u64* words, int ncols, gv_i64 n, gv_i64 i) {
    gv_u64 h = GV_ROW_SEED;
    for (int c = 0; c < ncols; ++c) h = gv_row_step(h, words[(gv_i64)c * n + i]);
    return h;
}
