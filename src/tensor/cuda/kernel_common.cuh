// kernel_common.cuh — helpers shared by contra's .cu files: grid sizes, strided offsets,
// dtype dispatch and block reductions. Included by nvcc-compiled files only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/cuda_kernels.h"

namespace contra::cuda {

constexpr int kThreads = 256;

inline unsigned grid_for(std::int64_t n, int threads = kThreads) {
  std::int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // grid-stride loops cover the rest
  return static_cast<unsigned>(blocks);
}

// The offset of operand k at linear index i of the walk (row-major over w.size).
template <int K>
__device__ __forceinline__ void walk_offsets(const Walk& w, std::int64_t i, std::int64_t (&off)[K]) {
  #pragma unroll
  for (int k = 0; k < K; ++k) off[k] = w.offset[k];
  for (int d = w.ndim - 1; d >= 0; --d) {
    const std::int64_t c = i % w.size[d];
    i /= w.size[d];
    #pragma unroll
    for (int k = 0; k < K; ++k) off[k] += c * w.stride[k][d];
  }
}

#define CONTRA_GRID_STRIDE(i, n) \
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

// Calls f(T{}) for the C++ type of a dtype code.
template <typename F>
void dispatch_dt(Dt t, F&& f) {
  switch (t) {
    case Dt::f32: f(float{}); return;
    case Dt::f64: f(double{}); return;
    case Dt::i64: f(std::int64_t{}); return;
    case Dt::u8: f(std::uint8_t{}); return;
  }
}
template <typename F>
void dispatch_float(Dt t, F&& f) {
  if (t == Dt::f64) f(double{});
  else f(float{});
}

// op over the block (blockDim.x a multiple of 32, at most 1024; `identity` is op's neutral
// element); the result is valid in thread 0. `shared` holds 32 values.
template <typename A, typename Op>
__device__ A block_reduce(A v, A* shared, Op op, A identity) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  if (warp == 0) {
    v = lane < warps ? shared[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  }
  return v;
}

struct SumOp {
  template <typename A> __device__ A operator()(A a, A b) const { return a + b; }
};

}  // namespace contra::cuda
