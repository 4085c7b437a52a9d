// optimizer_updates.cu — the fused multi-tensor optimizer updates on a CUDA device
// (Backend::sgd_update, lars_update, adamw_update). One launch covers every tensor of the call
// through the slot and chunk tables of optimizer_math.cuh (one block per chunk); LARS adds a
// norms launch before and a per-tensor trust-ratio launch between, all on the stream, no host
// synchronisation. The per-element arithmetic is optimizer_math.cuh's, in T as the reference
// twins; this file is compiled with -fmad=false (src/tensor/meson.build) so that nvcc does not
// contract a·b + c into one rounding the reference does not make.
#include "tensor/cuda/kernel_common.cuh"
#include "tensor/cuda/optimizer_math.cuh"

namespace contra::cuda {
namespace {

using optim::Chunk;
using optim::Slot;

constexpr int kOptThreads = 256;

unsigned chunk_grid(std::int64_t chunks) {
  return static_cast<unsigned>(chunks < 65535LL * 16 ? chunks : 65535LL * 16);  // grid-stride over the rest
}

template <typename T>
__global__ void sgd_kernel(const Slot* slots, const Chunk* chunks, std::int64_t nchunks, optim::SgdArgs h) {
  for (std::int64_t c = blockIdx.x; c < nchunks; c += gridDim.x)
    optim::sgd_chunk<T>(slots[chunks[c].slot], chunks[c], threadIdx.x, blockDim.x, h);
}

// Σ p², Σ d² of chunk c into partials[c] (block reduction in double, fixed order).
template <typename T>
__global__ void lars_norms_kernel(const Slot* slots, const Chunk* chunks, std::int64_t nchunks, optim::LarsArgs h,
                                  optim::Norms2* partials) {
  __shared__ double shared[32];
  for (std::int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    const optim::Norms2 n = optim::lars_norms_partial<T>(slots[chunks[c].slot], chunks[c], threadIdx.x, blockDim.x, h);
    const double w2 = block_reduce(n.w2, shared, SumOp{}, 0.0);
    const double d2 = block_reduce(n.d2, shared, SumOp{}, 0.0);
    if (threadIdx.x == 0) partials[c] = optim::Norms2{w2, d2};
  }
}

// One thread per tensor: r from its chunks' partials, into trust_ratios[slot.index].
__global__ void lars_ratio_kernel(const Slot* slots, std::int64_t nslots, const optim::Norms2* partials,
                                  optim::LarsArgs h, double* trust_ratios) {
  CONTRA_GRID_STRIDE(s, nslots) trust_ratios[slots[s].index] = optim::lars_ratio(slots[s], partials, h);
}

template <typename T>
__global__ void lars_kernel(const Slot* slots, const Chunk* chunks, std::int64_t nchunks, optim::LarsArgs h,
                            const double* trust_ratios) {
  for (std::int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
    const Slot& sl = slots[chunks[c].slot];
    optim::lars_chunk<T>(sl, chunks[c], threadIdx.x, blockDim.x, h, trust_ratios[sl.index]);
  }
}

template <typename T>
__global__ void adamw_kernel(const Slot* slots, const Chunk* chunks, std::int64_t nchunks, optim::AdamWArgs h) {
  for (std::int64_t c = blockIdx.x; c < nchunks; c += gridDim.x)
    optim::adamw_chunk<T>(slots[chunks[c].slot], chunks[c], threadIdx.x, blockDim.x, h);
}

}  // namespace

void launch_sgd_update(Dt t, const Slot* slots, const Chunk* chunks, std::int64_t nchunks, const optim::SgdArgs& h,
                       cudaStream_t s) {
  if (nchunks == 0) return;
  dispatch_float(t, [&](auto v) {
    sgd_kernel<decltype(v)><<<chunk_grid(nchunks), kOptThreads, 0, s>>>(slots, chunks, nchunks, h);
  });
}

void launch_lars_update(Dt t, const Slot* slots, std::int64_t nslots, const Chunk* chunks, std::int64_t nchunks,
                        const optim::LarsArgs& h, optim::Norms2* partials, double* trust_ratios, cudaStream_t s) {
  if (nslots == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    if (nchunks > 0)
      lars_norms_kernel<T><<<chunk_grid(nchunks), kOptThreads, 0, s>>>(slots, chunks, nchunks, h, partials);
    lars_ratio_kernel<<<grid_for(nslots), kThreads, 0, s>>>(slots, nslots, partials, h, trust_ratios);
    if (nchunks > 0)
      lars_kernel<T><<<chunk_grid(nchunks), kOptThreads, 0, s>>>(slots, chunks, nchunks, h, trust_ratios);
  });
}

void launch_adamw_update(Dt t, const Slot* slots, const Chunk* chunks, std::int64_t nchunks,
                         const optim::AdamWArgs& h, cudaStream_t s) {
  if (nchunks == 0) return;
  dispatch_float(t, [&](auto v) {
    adamw_kernel<decltype(v)><<<chunk_grid(nchunks), kOptThreads, 0, s>>>(slots, chunks, nchunks, h);
  });
}

}  // namespace contra::cuda
