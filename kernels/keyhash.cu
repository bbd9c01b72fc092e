// Kernels computing key words and row hashes on the device (definitions: keyhash.cuh).
#include "keyhash.cuh"

// valid may be null (no NULLs); NULL rows get GV_NULL_WORD.
extern "C" __global__ void gv_words_i64(const gv_i64* v, const unsigned char* valid, gv_i64 n,
                                        gv_u64* out) {
    GV_GRID_STRIDE(i, n) { out[i] = (valid && !valid[i]) ? GV_NULL_WORD : gv_word_i64(v[i]); }
}

extern "C" __global__ void gv_words_u64(const gv_u64* v, const unsigned char* valid, gv_i64 n,
                                        gv_u64* out) {
    GV_GRID_STRIDE(i, n) { out[i] = (valid && !valid[i]) ? GV_NULL_WORD : gv_word_u64(v[i]); }
}

extern "C" __global__ void gv_words_f64(const double* v, const unsigned char* valid, gv_i64 n,
                                        gv_u64* out) {
    GV_GRID_STRIDE(i, n) { out[i] = (valid && !valid[i]) ? GV_NULL_WORD : gv_word_f64(v[i]); }
}

extern "C" __global__ void gv_words_f32(const float* v, const unsigned char* valid, gv_i64 n,
                                        gv_u64* out) {
    GV_GRID_STRIDE(i, n) {
        out[i] = (valid && !valid[i]) ? GV_NULL_WORD : gv_word_f64((double)v[i]);
    }
}

// strhash of n strings given Arrow large_string offsets (n + 1 entries) and bytes.
extern "C" __global__ void gv_strhash(const unsigned char* data, const gv_i64* offsets, gv_i64 n,
                                      gv_u64 seed, gv_u64* out) {
    GV_GRID_STRIDE(i, n) {
        out[i] = gv_strhash(data + offsets[i], (gv_u64)(offsets[i + 1] - offsets[i]), seed);
    }
}

// Row hash over ncols word columns (column-major), then the partition id h % nparts.
extern "C" __global__ void gv_hash_rows(const gv_u64* words, int ncols, gv_i64 n, gv_u64* out) {
    GV_GRID_STRIDE(i, n) { out[i] = gv_row_hash(words, ncols, n, i); }
}
