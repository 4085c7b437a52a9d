// index.cu — index_select, index_add, gather and scatter_add.
//
// index_select/index_add see the tensors as (outer, size, inner) around the indexed axis and
// the index as n positions: out[o, j, i] = x[o, index[j], i]; out[o, index[j], i] += src[o, j, i].
// gather/scatter_add walk the index's shape (torch.gather semantics). Accumulation uses
// atomicAdd (repeated indices add up; the order of the additions is not fixed).
// An out-of-range index is skipped and sets g_index_error, which take_index_error() reads at
// the next synchronisation point (a device cannot throw).
#include "tensor/cuda/kernel_common.cuh"

namespace contra::cuda {
namespace {

__device__ int g_index_error = 0;

__device__ __forceinline__ bool in_range(std::int64_t i, std::int64_t size) {
  if (i >= 0 && i < size) return true;
  g_index_error = 1;
  return false;
}

template <typename T>
__global__ void index_select_kernel(const T* x, const std::int64_t* index, T* out, std::int64_t size,
                                    std::int64_t inner, std::int64_t n, std::int64_t total) {
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t i = k % inner, j = (k / inner) % n, o = k / (inner * n);
    const std::int64_t idx = index[j];
    if (in_range(idx, size)) out[k] = x[(o * size + idx) * inner + i];
  }
}

template <typename T>
__global__ void index_add_kernel(T* out, const std::int64_t* index, const T* src, std::int64_t size,
                                 std::int64_t inner, std::int64_t n, std::int64_t total) {
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t i = k % inner, j = (k / inner) % n, o = k / (inner * n);
    const std::int64_t idx = index[j];
    if (in_range(idx, size)) atomicAdd(out + (o * size + idx) * inner + i, src[k]);
  }
}

template <typename T>
__global__ void gather_kernel(const T* x, const std::int64_t* index, T* out, Walk w, int dim, std::int64_t dim_size,
                              std::int64_t dim_stride) {
  CONTRA_GRID_STRIDE(k, w.numel) {
    std::int64_t off[2];
    walk_offsets<2>(w, k, off);
    const std::int64_t idx = index[k];
    if (in_range(idx, dim_size)) out[off[0]] = x[off[1] + idx * dim_stride];
  }
}

template <typename T>
__global__ void scatter_add_kernel(T* out, const std::int64_t* index, const T* src, Walk w, int dim,
                                   std::int64_t dim_size, std::int64_t dim_stride) {
  CONTRA_GRID_STRIDE(k, w.numel) {
    std::int64_t off[2];
    walk_offsets<2>(w, k, off);
    const std::int64_t idx = index[k];
    if (in_range(idx, dim_size)) atomicAdd(out + off[1] + idx * dim_stride, src[off[0]]);
  }
}

}  // namespace

void launch_index_select(Dt t, const void* x, const std::int64_t* index, void* out, std::int64_t outer,
                         std::int64_t size, std::int64_t inner, std::int64_t n, cudaStream_t s) {
  const std::int64_t total = outer * n * inner;
  if (total == 0) return;
  dispatch_dt(t, [&](auto v) {
    using T = decltype(v);
    index_select_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(x), index,
                                                               static_cast<T*>(out), size, inner, n, total);
  });
}

void launch_index_add(Dt t, void* out, const std::int64_t* index, const void* src, std::int64_t outer,
                      std::int64_t size, std::int64_t inner, std::int64_t n, cudaStream_t s) {
  const std::int64_t total = outer * n * inner;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    index_add_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<T*>(out), index,
                                                            static_cast<const T*>(src), size, inner, n, total);
  });
}

void launch_gather(Dt t, const void* x, const std::int64_t* index, void* out, const Walk& w, int dim,
                   std::int64_t dim_size, std::int64_t dim_stride, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_dt(t, [&](auto v) {
    using T = decltype(v);
    gather_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(static_cast<const T*>(x), index, static_cast<T*>(out),
                                                           w, dim, dim_size, dim_stride);
  });
}

void launch_scatter_add(Dt t, void* out, const std::int64_t* index, const void* src, const Walk& w, int dim,
                        std::int64_t dim_size, std::int64_t dim_stride, cudaStream_t s) {
  if (w.numel == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    scatter_add_kernel<T><<<grid_for(w.numel), kThreads, 0, s>>>(static_cast<T*>(out), index,
                                                                static_cast<const T*>(src), w, dim, dim_size,
                                                                dim_stride);
  });
}

bool take_index_error(cudaStream_t s) {
  int flag = 0;
  const int zero = 0;
  if (cudaMemcpyFromSymbolAsync(&flag, g_index_error, sizeof(int), 0, cudaMemcpyDeviceToHost, s) != cudaSuccess)
    return false;
  if (cudaStreamSynchronize(s) != cudaSuccess) return false;
  if (flag) {
    cudaMemcpyToSymbolAsync(g_index_error, &zero, sizeof(int), 0, cudaMemcpyHostToDevice, s);
    cudaStreamSynchronize(s);
  }
  return flag != 0;
}

}  // namespace contra::cuda
