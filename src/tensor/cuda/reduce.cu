// reduce.cu — sum/max/min over axes, the non-finite count, softmax and log-softmax.
//
// reduce: out[o] = op_r x[o, r]. With R reduced elements per output, a block of threads
// reduces one output when R is large (R ≥ 64), one thread per output otherwise. f32 sums
// accumulate in f32 within a thread and reduce as a tree across the block. max/min let NaN
// win, as the CPU kernels do.
// softmax over rows of length L: one block per row, max, Σ exp(x − max) (accumulated in
// double as the CPU kernel does), then the outputs.
#include <cfloat>
#include <cmath>

#include "tensor/cuda/kernel_common.cuh"

namespace contra::cuda {
namespace {

enum R { sum, max_, min_ };

template <typename T>
__device__ __forceinline__ T reduce_init(int op) {
  if (op == sum) return T(0);
  return op == max_ ? -INFINITY : INFINITY;
}

template <typename T>
__device__ __forceinline__ T reduce_step(int op, T acc, T v) {
  if (op == sum) return acc + v;
  if (v != v || acc != acc) return v != v ? v : acc;  // NaN wins
  return op == max_ ? (v > acc ? v : acc) : (v < acc ? v : acc);
}

template <typename T>
struct StepOp {
  int op;
  __device__ T operator()(T a, T b) const { return reduce_step<T>(op, a, b); }
};

template <typename T>
__global__ void reduce_thread_kernel(int op, T* out, const T* x, Walk kept, Walk reduced) {
  CONTRA_GRID_STRIDE(o, kept.numel) {
    std::int64_t off[2];
    walk_offsets<2>(kept, o, off);
    T acc = reduce_init<T>(op);
    for (std::int64_t r = 0; r < reduced.numel; ++r) {
      std::int64_t roff[2];
      walk_offsets<2>(reduced, r, roff);
      acc = reduce_step<T>(op, acc, x[off[1] + roff[1]]);
    }
    out[off[0]] = acc;
  }
}

template <typename T>
__global__ void reduce_block_kernel(int op, T* out, const T* x, Walk kept, Walk reduced) {
  __shared__ T shared[32];
  for (std::int64_t o = blockIdx.x; o < kept.numel; o += gridDim.x) {
    std::int64_t off[2];
    walk_offsets<2>(kept, o, off);
    T acc = reduce_init<T>(op);
    for (std::int64_t r = threadIdx.x; r < reduced.numel; r += blockDim.x) {
      std::int64_t roff[2];
      walk_offsets<2>(reduced, r, roff);
      acc = reduce_step<T>(op, acc, x[off[1] + roff[1]]);
    }
    acc = block_reduce(acc, shared, StepOp<T>{op}, reduce_init<T>(op));
    if (threadIdx.x == 0) out[off[0]] = acc;
    __syncthreads();
  }
}

template <typename T>
__global__ void count_kernel(const T* x, Walk w, unsigned long long* counter) {
  __shared__ unsigned long long shared[32];
  unsigned long long c = 0;
  CONTRA_GRID_STRIDE(i, w.numel) {
    std::int64_t off[1];
    walk_offsets<1>(w, i, off);
    c += !isfinite(x[off[0]]);
  }
  c = block_reduce(c, shared, SumOp{}, 0ull);
  if (threadIdx.x == 0 && c) atomicAdd(counter, c);
}

struct MaxOp {
  template <typename A> __device__ A operator()(A a, A b) const { return a > b ? a : b; }
};

template <typename T>
__global__ void softmax_kernel(const T* x, T* y, std::int64_t L, bool log_out) {
  __shared__ T shared_m[32];
  __shared__ double shared_s[32];
  __shared__ T row_max;
  __shared__ double row_sum;
  const T* xr = x + blockIdx.x * L;
  T* yr = y + blockIdx.x * L;
  T m = -INFINITY;
  for (std::int64_t j = threadIdx.x; j < L; j += blockDim.x) m = xr[j] > m ? xr[j] : m;
  m = block_reduce(m, shared_m, MaxOp{}, T(-INFINITY));
  if (threadIdx.x == 0) row_max = m;
  __syncthreads();
  m = row_max;
  double s = 0.0;
  for (std::int64_t j = threadIdx.x; j < L; j += blockDim.x) s += exp(static_cast<double>(xr[j] - m));
  s = block_reduce(s, shared_s, SumOp{}, 0.0);
  if (threadIdx.x == 0) row_sum = s;
  __syncthreads();
  s = row_sum;
  if (log_out) {
    const T lse = static_cast<T>(::log(s));
    for (std::int64_t j = threadIdx.x; j < L; j += blockDim.x) yr[j] = xr[j] - m - lse;
  } else {
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t j = threadIdx.x; j < L; j += blockDim.x) yr[j] = exp(xr[j] - m) * inv;
  }
}

}  // namespace

void launch_reduce(Dt t, int op, void* out, const void* x, const Walk& kept, const Walk& reduced, cudaStream_t s) {
  if (kept.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    if (reduced.numel >= 64)
      reduce_block_kernel<T><<<grid_for(kept.numel, 1), kThreads, 0, s>>>(op, static_cast<T*>(out),
                                                                         static_cast<const T*>(x), kept, reduced);
    else
      reduce_thread_kernel<T><<<grid_for(kept.numel), kThreads, 0, s>>>(op, static_cast<T*>(out),
                                                                       static_cast<const T*>(x), kept, reduced);
  });
}

void launch_count_non_finite(Dt t, const void* x, const Walk& w, unsigned long long* counter, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    const unsigned blocks = grid_for(w.numel) < 1024 ? grid_for(w.numel) : 1024;
    count_kernel<T><<<blocks, kThreads, 0, s>>>(static_cast<const T*>(x), w, counter);
  });
}

void launch_softmax(Dt t, const void* x, void* y, std::int64_t R, std::int64_t L, bool log, cudaStream_t s) {
  if (R == 0 || L == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    for (std::int64_t r0 = 0; r0 < R; r0 += 65535LL * 1024) {
      const std::int64_t rows = R - r0 < 65535LL * 1024 ? R - r0 : 65535LL * 1024;
      softmax_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(static_cast<const T*>(x) + r0 * L,
                                                                        static_cast<T*>(y) + r0 * L, L, log);
    }
  });
}

}  // namespace contra::cuda
