// Host shim: compile the kernels/*.cu sources as plain C++ (g++ -std=c++17 -pthread) so their
// logic can be tested on a machine without a GPU (tests/test_kernels_host.py).
//
// gv_launch(grid, block, fn) runs every block in order; a block's threads run as real
// threads so that __syncthreads() is a barrier and spin-waits make progress. Atomics are
// GCC __atomic builtins, __shared__ arrays are function-local statics (one block runs at a
// time), and blockIdx/threadIdx are thread-local.
#pragma once
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#define __global__ inline
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct gv_dim3 {
    unsigned int x, y, z;
};
inline thread_local gv_dim3 threadIdx = {0, 0, 0};
inline thread_local gv_dim3 blockIdx = {0, 0, 0};
inline gv_dim3 blockDim = {1, 1, 1};
inline gv_dim3 gridDim = {1, 1, 1};

class gv_barrier {
   public:
    void reset(unsigned int n) { count_ = n, waiting_ = 0, phase_ = 0; }
    void wait() {
        std::unique_lock<std::mutex> lock(m_);
        unsigned int phase = phase_;
        if (++waiting_ == count_) {
            waiting_ = 0;
            ++phase_;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return phase_ != phase; });
        }
    }

   private:
    std::mutex m_;
    std::condition_variable cv_;
    unsigned int count_ = 1, waiting_ = 0, phase_ = 0;
};
inline gv_barrier gv_block_barrier;

inline void __syncthreads() { gv_block_barrier.wait(); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

inline long long __double_as_longlong(double d) {
    long long v;
    std::memcpy(&v, &d, sizeof v);
    return v;
}

template <typename T>
inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
// The sum and the compare-exchange's expected value must come from one atomic read: with a
// plain `*p` the compiler may load it twice (once for the add, once for expected), and a
// write landing between the two loads made the exchange succeed with a stale sum.
inline double atomicAdd(double* p, double v) {
    long long expected = __atomic_load_n((long long*)p, __ATOMIC_RELAXED), desired;
    double old;
    do {
        std::memcpy(&old, &expected, sizeof old);
        double nv = old + v;
        std::memcpy(&desired, &nv, sizeof nv);
    } while (!__atomic_compare_exchange_n((long long*)p, &expected, desired, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return old;
}
template <typename T>
inline T atomicMin(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <typename T>
inline T atomicMax(T* p, T v) {
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v > old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST)) {
    }
    return old;
}
template <typename T>
inline T atomicCAS(T* p, T expected, T desired) {
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
template <typename T>
inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

// Run fn() as every thread of a grid x block launch (1-D), block after block.
template <typename F>
inline void gv_launch(unsigned int grid, unsigned int block, F fn) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned int b = 0; b < grid; ++b) {
        gv_block_barrier.reset(block);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned int t = 0; t < block; ++t)
            threads.emplace_back([=] {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                fn();
            });
        for (auto& th : threads) th.join();
    }
}
