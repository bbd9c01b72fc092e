// GPU-resident group-by state.
//
// Groups get dense ids (gids) in arrival order from an open-addressing hash table
// (linear probing, slots hold a gid or GV_EMPTY) keyed by W 64-bit key words per row; the
// words of group g live column-major in kw[c * gcap + g]. Accumulators are arrays indexed by
// gid, so growing the table (a rebuild into a 2x table, done by the host before the load
// factor reaches 0.5) never moves them.
//
// Accumulators of one numeric argument are updated in one pass (gv_acc_multi for every
// COUNT/SUM/AVG/MIN/MAX of that argument; gv_acc_num for one aggregate): non-NULL count,
// sum (integers as exact 128-bit lo/hi words, floats as double), min and max (as
// order-preserving unsigned words, so one atomicMin/atomicMax serves every type). With
// use_shared, each block first aggregates into a small shared-memory table keyed by gid and
// flushes it with one atomic per (block, group, accumulator): the low-cardinality path,
// where global atomics on a few hot slots would serialise. Rows whose gid finds no room in
// the shared table go straight to global memory.
#include "keyhash.cuh"

#define GV_EMPTY (-1LL)
#define GV_BUSY (-2LL)
#define GV_SH_SLOTS 256
#define GV_SH_PROBES 8
#define GV_SH_EMPTY 0xFFFFFFFFFFFFFFFFull
#define GV_F_SUM 1
#define GV_F_MIN 2
#define GV_F_MAX 4
#define GV_KIND_I64 0
#define GV_KIND_U64 1
#define GV_KIND_F64 2

// Acquire load of a table slot: a thread that sees a gid published by another thread
// (kw words written, __threadfence, atomicExch) must also see that gid's key words.
GV_DEVICE gv_i64 gv_load_acquire(const gv_i64* p) {
#ifdef __CUDA_ARCH__
    gv_i64 v;
    asm volatile("ld.acquire.gpu.global.b64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
#else
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#endif
}
GV_DEVICE gv_u64 gv_vload_u(const gv_u64* p) { return *(const volatile gv_u64*)p; }

// Table slot of a row hash: re-mixed so that the bits picking the partition (h % P) do not
// also pick the slot.
GV_DEVICE gv_i64 gv_slot(gv_u64 h, gv_i64 mask) {
    return (gv_i64)(gv_fmix64(h ^ 0x8CB92BA72F3D8DD7ull) & (gv_u64)mask);
}

// Order-preserving unsigned words: a < b  <=>  ord(a) < ord(b).
GV_DEVICE gv_u64 gv_order_i64(gv_i64 v) { return (gv_u64)v ^ 0x8000000000000000ull; }
GV_DEVICE gv_u64 gv_order_f64(double f) {
    gv_u64 b = f != f ? GV_CANONICAL_NAN : (gv_u64)__double_as_longlong(f);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}

// Find or insert the group of row i (words[c * n + i]); writes its gid and marks the group
// changed and live.
extern "C" __global__ void gv_table_upsert(const gv_u64* words, int W, gv_i64 n, gv_i64* slots,
                                           gv_i64 mask, gv_u64* kw, gv_i64 gcap,
                                           gv_u64* counter, gv_i64* gid_out,
                                           unsigned char* changed, unsigned char* live) {
    GV_GRID_STRIDE(i, n) {
        gv_i64 s = gv_slot(gv_row_hash(words, W, n, i), mask);
        gv_i64 gid = GV_EMPTY;
        while (gid < 0) {
            gv_i64 cur = gv_load_acquire(&slots[s]);
            if (cur == GV_EMPTY) {
                cur = (gv_i64)atomicCAS((gv_u64*)&slots[s], (gv_u64)GV_EMPTY, (gv_u64)GV_BUSY);
                if (cur == GV_EMPTY) {
                    gid = (gv_i64)atomicAdd(counter, 1ull);
                    for (int c = 0; c < W; ++c) kw[(gv_i64)c * gcap + gid] = words[(gv_i64)c * n + i];
                    __threadfence();
                    atomicExch((gv_u64*)&slots[s], (gv_u64)gid);
                    break;
                }
            }
            while (cur == GV_BUSY) cur = gv_load_acquire(&slots[s]);
            bool same = true;
            for (int c = 0; c < W && same; ++c)
                same = gv_vload_u(&kw[(gv_i64)c * gcap + cur]) == words[(gv_i64)c * n + i];
            if (same) gid = cur;
            else s = (s + 1) & mask;
        }
        gid_out[i] = gid;
        // read before writing: a hot group's flags stay cached instead of being rewritten
        if (!changed[gid]) changed[gid] = 1;
        if (!live[gid]) live[gid] = 1;
    }
}

// The gid of row i's group, or GV_EMPTY when the table has none (no insert). Launched after
// the upserts it reads have finished, so plain loads see every published slot.
extern "C" __global__ void gv_table_lookup(const gv_u64* words, int W, gv_i64 n,
                                           const gv_i64* slots, gv_i64 mask, const gv_u64* kw,
                                           gv_i64 gcap, gv_i64* gid_out) {
    GV_GRID_STRIDE(i, n) {
        gv_i64 s = gv_slot(gv_row_hash(words, W, n, i), mask);
        gv_i64 gid = GV_EMPTY;
        for (gv_i64 cur = slots[s]; cur != GV_EMPTY; cur = slots[s]) {
            bool same = true;
            for (int c = 0; c < W && same; ++c)
                same = kw[(gv_i64)c * gcap + cur] == words[(gv_i64)c * n + i];
            if (same) {
                gid = cur;
                break;
            }
            s = (s + 1) & mask;
        }
        gid_out[i] = gid;
    }
}

// Insert the m (distinct) groups gids[] into an empty table: used to grow and after evict.
extern "C" __global__ void gv_table_rebuild(const gv_i64* gids, gv_i64 m, const gv_u64* kw, int W,
                                            gv_i64 gcap, gv_i64* slots, gv_i64 mask) {
    GV_GRID_STRIDE(j, m) {
        gv_i64 gid = gids[j];
        gv_i64 s = gv_slot(gv_row_hash(kw, W, gcap, gid), mask);
        while ((gv_i64)atomicCAS((gv_u64*)&slots[s], (gv_u64)GV_EMPTY, (gv_u64)gid) != GV_EMPTY)
            s = (s + 1) & mask;
    }
}

// Add a 128-bit two's complement value (alo, ahi) to (lo, hi) exactly, in any order.
GV_DEVICE void gv_add128(gv_u64* lo, gv_u64* hi, gv_u64 alo, gv_u64 ahi) {
    gv_u64 old = atomicAdd(lo, alo);
    gv_u64 carry = old + alo < old ? 1ull : 0ull;
    if (ahi + carry) atomicAdd(hi, ahi + carry);
}

struct GvAcc {
    gv_u64* cnt;
    gv_u64* lo;
    gv_u64* hi;
    double* fsum;
    gv_u64* mn;
    gv_u64* mx;
};

GV_DEVICE void gv_apply(const GvAcc& a, gv_i64 g, int flags, int is_float, gv_u64 c, gv_u64 alo,
                        gv_u64 ahi, double fs, gv_u64 omin, gv_u64 omax) {
    atomicAdd(&a.cnt[g], c);
    if (flags & GV_F_SUM) {
        if (is_float) atomicAdd(&a.fsum[g], fs);
        else gv_add128(&a.lo[g], &a.hi[g], alo, ahi);
    }
    if (flags & GV_F_MIN) atomicMin(&a.mn[g], omin);
    if (flags & GV_F_MAX) atomicMax(&a.mx[g], omax);
}

// Slot of gid g in the block's shared table, or -1 when it has no room.
GV_DEVICE int gv_sh_slot(gv_u64* s_key, gv_u64 g) {
    int h = (int)((g * 0x9E3779B97F4A7C15ull) >> 56);
    for (int p = 0; p < GV_SH_PROBES; ++p) {
        int e = (h + p) & (GV_SH_SLOTS - 1);
        gv_u64 k = gv_vload_u(&s_key[e]);
        if (k == g) return e;
        if (k == GV_SH_EMPTY) {
            k = atomicCAS(&s_key[e], GV_SH_EMPTY, g);
            if (k == GV_SH_EMPTY || k == g) return e;
        }
    }
    return -1;
}

// The accumulators of aggregate k in a pointer table of GV_ACC_PTRS words per aggregate:
// (cnt, lo, hi, fsum, mn, mx), as gv_acc_multi takes them.
#define GV_ACC_PTRS 6
GV_DEVICE GvAcc gv_acc_at(gv_u64* const* ptrs, int k) {
    gv_u64* const* p = ptrs + (gv_i64)k * GV_ACC_PTRS;
    GvAcc a = {p[0], p[1], p[2], (double*)p[3], p[4], p[5]};
    return a;
}

// Fold n rows of one argument into the accumulators of K aggregates of it (aggregate k:
// flags_of[k], pointers ptrs[k * GV_ACC_PTRS ...]). kind: GV_KIND_*; vals may be null when
// no aggregate has flags (counts only); valid null means no NULLs; nadd (merge) gives each
// row's count (null: 1). Integer sums are 128-bit (lo, hi); min/max hold order-preserving
// words. The row's value is read once for all K; the shared-memory table holds one
// accumulator set (the union of the flags) and is flushed into each aggregate.
GV_DEVICE void gv_acc_rows(const gv_i64* gid, const void* vals, int kind,
                           const unsigned char* valid, const gv_i64* nadd, gv_i64 n, int K,
                           const int* flags_of, gv_u64* const* ptrs, int use_shared) {
    __shared__ gv_u64 s_key[GV_SH_SLOTS];
    __shared__ gv_u64 s_cnt[GV_SH_SLOTS];
    __shared__ gv_u64 s_lo[GV_SH_SLOTS];
    __shared__ gv_u64 s_hi[GV_SH_SLOTS];
    __shared__ double s_fs[GV_SH_SLOTS];
    __shared__ gv_u64 s_mn[GV_SH_SLOTS];
    __shared__ gv_u64 s_mx[GV_SH_SLOTS];
    const GvAcc shar = {s_cnt, s_lo, s_hi, s_fs, s_mn, s_mx};
    const int is_float = kind == GV_KIND_F64;
    int flags = 0;
    for (int k = 0; k < K; ++k) flags |= flags_of[k];
    if (use_shared) {
        for (int e = threadIdx.x; e < GV_SH_SLOTS; e += blockDim.x) {
            s_key[e] = GV_SH_EMPTY;
            s_cnt[e] = s_lo[e] = s_hi[e] = s_mx[e] = 0ull;
            s_mn[e] = ~0ull;
            s_fs[e] = 0.0;
        }
    }
    __syncthreads();
    GV_GRID_STRIDE(i, n) {
        if (valid && !valid[i]) continue;
        gv_u64 c = nadd ? (gv_u64)nadd[i] : 1ull;
        gv_u64 alo = 0, ahi = 0, ord = 0;
        double fs = 0.0;
        if (flags) {
            if (is_float) {
                fs = ((const double*)vals)[i];
                ord = gv_order_f64(fs);
            } else {
                gv_i64 v = ((const gv_i64*)vals)[i];
                alo = (gv_u64)v;
                ahi = (kind == GV_KIND_I64 && v < 0) ? ~0ull : 0ull;
                ord = kind == GV_KIND_I64 ? gv_order_i64(v) : (gv_u64)v;
            }
        }
        gv_i64 g = gid[i];
        int e = use_shared ? gv_sh_slot(s_key, (gv_u64)g) : -1;
        if (e >= 0) {
            gv_apply(shar, e, flags, is_float, c, alo, ahi, fs, ord, ord);
        } else {
            for (int k = 0; k < K; ++k)
                gv_apply(gv_acc_at(ptrs, k), g, flags_of[k], is_float, c, alo, ahi, fs, ord, ord);
        }
    }
    __syncthreads();
    if (use_shared) {
        for (int e = threadIdx.x; e < GV_SH_SLOTS; e += blockDim.x) {
            if (s_key[e] == GV_SH_EMPTY) continue;
            for (int k = 0; k < K; ++k)
                gv_apply(gv_acc_at(ptrs, k), (gv_i64)s_key[e], flags_of[k], is_float, s_cnt[e],
                         s_lo[e], s_hi[e], s_fs[e], s_mn[e], s_mx[e]);
        }
    }
}

// gv_acc_rows for K aggregates of one argument, their pointers in a device table. The
// shared-memory path is taken when the state holds at most shared_max groups (*ngroups: the
// group counter, final once the upsert before this launch has run; read here, so the host
// needs no device-to-host read to choose).
extern "C" __global__ void gv_acc_multi(const gv_i64* gid, const void* vals, int kind,
                                        const unsigned char* valid, const gv_i64* nadd, gv_i64 n,
                                        int K, const int* flags_of, gv_u64* const* ptrs,
                                        const gv_u64* ngroups, gv_u64 shared_max) {
    gv_acc_rows(gid, vals, kind, valid, nadd, n, K, flags_of, ptrs, *ngroups <= shared_max);
}

// gv_acc_rows for one aggregate, its accumulators passed directly.
extern "C" __global__ void gv_acc_num(const gv_i64* gid, const void* vals, int kind,
                                      const unsigned char* valid, const gv_i64* nadd, gv_i64 n,
                                      int flags, int use_shared, gv_u64* cnt, gv_u64* lo,
                                      gv_u64* hi, double* fsum, gv_u64* mn, gv_u64* mx) {
    gv_u64* const ptrs[GV_ACC_PTRS] = {cnt, lo, hi, (gv_u64*)fsum, mn, mx};
    gv_acc_rows(gid, vals, kind, valid, nadd, n, 1, &flags, ptrs, use_shared);
}

// Second pass of the per-batch moments: m2b[g] += m2row + nrow * (x - sb[g] / nb[g])^2, where
// (nb, sb) are the batch's counts and sums per group from the first pass (gv_acc_num).
// For update rows nrow = 1 and m2row = 0 (both may be null); for merged partials x is the
// partial mean.
extern "C" __global__ void gv_acc_m2(const gv_i64* gid, const double* x, const unsigned char* valid,
                                     const gv_i64* nrow, const double* m2row, gv_i64 n,
                                     const gv_u64* nb, const double* sb, double* m2b) {
    GV_GRID_STRIDE(i, n) {
        if (valid && !valid[i]) continue;
        gv_i64 c = nrow ? nrow[i] : 1;
        if (c == 0) continue;
        gv_i64 g = gid[i];
        double d = x[i] - sb[g] / (double)nb[g];
        atomicAdd(&m2b[g], (double)c * d * d + (m2row ? m2row[i] : 0.0));
    }
}

// FIRST/LAST, pass 1: best[g] = min (first) or max (last) arrival position. Positions are
// stored as pos (first; none = ~0) or pos + 1 (last; none = 0).
extern "C" __global__ void gv_acc_pos(const gv_i64* gid, const gv_i64* pos,
                                      const unsigned char* pvalid, gv_i64 n, int is_last,
                                      gv_u64* best) {
    GV_GRID_STRIDE(i, n) {
        if (pvalid && !pvalid[i]) continue;
        if (is_last) atomicMax(&best[gid[i]], (gv_u64)pos[i] + 1ull);
        else atomicMin(&best[gid[i]], (gv_u64)pos[i]);
    }
}

// FIRST/LAST, pass 2: the row holding its group's best position writes its value word.
extern "C" __global__ void gv_fetch_pos(const gv_i64* gid, const gv_i64* pos,
                                        const unsigned char* pvalid, gv_i64 n, int is_last,
                                        const gv_u64* best, const gv_u64* src,
                                        const unsigned char* src_valid, gv_u64* dst,
                                        unsigned char* dst_valid) {
    GV_GRID_STRIDE(i, n) {
        if (pvalid && !pvalid[i]) continue;
        gv_i64 g = gid[i];
        gv_u64 enc = is_last ? (gv_u64)pos[i] + 1ull : (gv_u64)pos[i];
        if (best[g] == enc) {
            dst[g] = src[i];
            dst_valid[g] = src_valid ? src_valid[i] : (unsigned char)1;
        }
    }
}
