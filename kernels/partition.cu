// Partition scatter: hash -> partition id -> per-block histogram in shared memory ->
// exclusive scan (on the host side, with cupy.cumsum) -> stable scatter.
//
// Block b owns the contiguous rows [b * chunk, min(n, (b + 1) * chunk)). The histogram is
// written partition-major (hist[p * gridDim.x + b]) so that its exclusive scan gives, for
// every (partition, block), where the block's rows of that partition start. The scatter walks
// its chunk in tiles of blockDim rows, in order; within a tile a row's rank among the rows of
// its partition is the number of earlier threads with the same partition. So the output is
// stable within each partition and independent of thread timing.
#include "keyhash.cuh"

#define GV_MAX_PARTS 2048
#define GV_MAX_BLOCK 256

// Partition of each row: h % nparts.
extern "C" __global__ void gv_partition_ids(const gv_u64* hashes, gv_i64 n, int nparts, int* part) {
    GV_GRID_STRIDE(i, n) { part[i] = (int)(hashes[i] % (gv_u64)nparts); }
}

extern "C" __global__ void gv_partition_hist(const int* part, gv_i64 n, int nparts, gv_i64 chunk,
                                             gv_i64* hist) {
    __shared__ unsigned int s_hist[GV_MAX_PARTS];
    for (int p = threadIdx.x; p < nparts; p += blockDim.x) s_hist[p] = 0;
    __syncthreads();
    gv_i64 start = (gv_i64)blockIdx.x * chunk;
    gv_i64 end = start + chunk < n ? start + chunk : n;
    for (gv_i64 i = start + threadIdx.x; i < end; i += blockDim.x) {
        atomicAdd(&s_hist[part[i]], 1u);
    }
    __syncthreads();
    for (int p = threadIdx.x; p < nparts; p += blockDim.x)
        hist[(gv_i64)p * gridDim.x + blockIdx.x] = (gv_i64)s_hist[p];
}

// base: exclusive scan of the histogram (same layout); order: n row indices, output.
extern "C" __global__ void gv_partition_scatter(const int* part, gv_i64 n, int nparts,
                                                gv_i64 chunk, const gv_i64* base,
                                                gv_i64* order) {
    __shared__ gv_i64 s_off[GV_MAX_PARTS];
    __shared__ int s_part[GV_MAX_BLOCK];
    for (int p = threadIdx.x; p < nparts; p += blockDim.x)
        s_off[p] = base[(gv_i64)p * gridDim.x + blockIdx.x];
    __syncthreads();
    gv_i64 start = (gv_i64)blockIdx.x * chunk;
    gv_i64 end = start + chunk < n ? start + chunk : n;
    for (gv_i64 tile = start; tile < end; tile += blockDim.x) {
        gv_i64 i = tile + threadIdx.x;
        int p = i < end ? part[i] : -1;
        s_part[threadIdx.x] = p;
        __syncthreads();
        int rank = 0, same = 0;
        if (p >= 0) {
            for (int j = 0; j < (int)blockDim.x; ++j) {
                int q = s_part[j];
                same += q == p;
                rank += (q == p) & (j < (int)threadIdx.x);
            }
            order[s_off[p] + rank] = i;
        }
        __syncthreads();
        if (p >= 0 && rank == same - 1) s_off[p] += same;
        __syncthreads();
    }
}
