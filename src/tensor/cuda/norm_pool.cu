// norm_pool.cu — batch normalisation (training, inference, backward), max pooling and
// adaptive average pooling. Formulas as src/tensor/cpu/reference_norm_pool.h:
//   mean = Σ x / M, var = Σ (x − mean)² / M (biased), r = 1/√(var + eps), x̂ = (x − mean)·r,
//   y = γ·x̂ + β;  dβ = Σ dy, dγ = Σ dy·x̂;
//   dx = γ·r/M · (M·dy − dβ − x̂·dγ) (batch statistics) or γ·r·dy (running statistics).
// Batch norm: one block per channel, sums in double (as the reference), two passes for the
// variance. Pool backward passes gather over the output cells that read an input position
// (deterministic, no atomics): each dx element is assigned once.
// Dimensions: N batch, C channels, S = H·W, M = N·S, (Ho, Wo) output.
#include <cmath>

#include "tensor/cuda/kernel_common.cuh"

namespace contra::cuda {
namespace {

constexpr int kBnThreads = 512;

template <typename T>
__global__ void bn_train_kernel(const T* x, const T* weight, const T* bias, double eps, T* y, T* mean_out,
                                T* var_out, std::int64_t N, std::int64_t C, std::int64_t S) {
  __shared__ double shared[32];
  __shared__ double stat;
  const std::int64_t c = blockIdx.x, M = N * S;
  double s = 0.0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) s += static_cast<double>(x[((k / S) * C + c) * S + k % S]);
  s = block_reduce(s, shared, SumOp{}, 0.0);
  if (threadIdx.x == 0) stat = s / static_cast<double>(M);
  __syncthreads();
  const double mean = stat;
  double q = 0.0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    const double d = static_cast<double>(x[((k / S) * C + c) * S + k % S]) - mean;
    q += d * d;
  }
  q = block_reduce(q, shared, SumOp{}, 0.0);
  __syncthreads();
  if (threadIdx.x == 0) {
    stat = q / static_cast<double>(M);
    mean_out[c] = static_cast<T>(mean);
    var_out[c] = static_cast<T>(stat);
  }
  __syncthreads();
  const double r = 1.0 / sqrt(stat + eps);
  const double g = weight ? static_cast<double>(weight[c]) : 1.0, b = bias ? static_cast<double>(bias[c]) : 0.0;
  const T scale = static_cast<T>(g * r), shift = static_cast<T>(b - mean * g * r);
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    const std::int64_t at = ((k / S) * C + c) * S + k % S;
    y[at] = x[at] * scale + shift;
  }
}

template <typename T>
__global__ void bn_infer_kernel(const T* x, const T* weight, const T* bias, const T* mean, const T* var, double eps,
                                T* y, std::int64_t C, std::int64_t S, std::int64_t total) {
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t c = (k / S) % C;
    const double r = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
    const double g = weight ? static_cast<double>(weight[c]) : 1.0, b = bias ? static_cast<double>(bias[c]) : 0.0;
    y[k] = static_cast<T>((static_cast<double>(x[k]) - static_cast<double>(mean[c])) * r * g + b);
  }
}

template <typename T>
__global__ void bn_backward_kernel(const T* dy, const T* x, const T* weight, const T* mean_in, const T* var_in,
                                   double eps, bool batch_stats, T* dx, T* dweight, T* dbias, std::int64_t N,
                                   std::int64_t C, std::int64_t S) {
  __shared__ double shared[32];
  __shared__ double sums[2];
  const std::int64_t c = blockIdx.x, M = N * S;
  const double mean = static_cast<double>(mean_in[c]);
  const double r = 1.0 / sqrt(static_cast<double>(var_in[c]) + eps);
  const double g = weight ? static_cast<double>(weight[c]) : 1.0;
  double sd = 0.0, sdx = 0.0;
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    const std::int64_t at = ((k / S) * C + c) * S + k % S;
    const double d = static_cast<double>(dy[at]);
    sd += d;
    sdx += d * (static_cast<double>(x[at]) - mean) * r;
  }
  sd = block_reduce(sd, shared, SumOp{}, 0.0);
  if (threadIdx.x == 0) sums[0] = sd;
  __syncthreads();
  sdx = block_reduce(sdx, shared, SumOp{}, 0.0);
  if (threadIdx.x == 0) {
    sums[1] = sdx;
    if (dbias) dbias[c] = static_cast<T>(sums[0]);
    if (dweight) dweight[c] = static_cast<T>(sdx);
  }
  __syncthreads();
  const double db = sums[0], dw = sums[1], Md = static_cast<double>(M);
  for (std::int64_t k = threadIdx.x; k < M; k += blockDim.x) {
    const std::int64_t at = ((k / S) * C + c) * S + k % S;
    const double d = static_cast<double>(dy[at]);
    if (batch_stats) {
      const double xh = (static_cast<double>(x[at]) - mean) * r;
      dx[at] = static_cast<T>(g * r / Md * (Md * d - db - xh * dw));
    } else {
      dx[at] = static_cast<T>(g * r * d);
    }
  }
}

template <typename T>
__global__ void max_pool_forward_kernel(const T* x, T* y, std::int64_t* argmax, PoolGeom g) {
  const std::int64_t total = g.NC * g.Ho * g.Wo;
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t j = k % g.Wo, i = (k / g.Wo) % g.Ho, nc = k / (g.Wo * g.Ho);
    T best = -INFINITY;
    std::int64_t best_at = -1;
    bool nan = false;
    for (std::int64_t u = 0; u < g.kh && !nan; ++u) {
      const std::int64_t h = i * g.sh - g.ph + u;
      if (h < 0 || h >= g.H) continue;
      for (std::int64_t v = 0; v < g.kw; ++v) {
        const std::int64_t w = j * g.sw - g.pw + v;
        if (w < 0 || w >= g.W) continue;
        const T val = x[(nc * g.H + h) * g.W + w];
        if (best_at < 0 || val > best || val != val) {
          best = val;
          best_at = h * g.W + w;
          if (val != val) { nan = true; break; }
        }
      }
    }
    y[k] = best;
    argmax[k] = best_at;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* dy, const std::int64_t* argmax, T* dx, PoolGeom g) {
  const std::int64_t total = g.NC * g.H * g.W;
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t w = k % g.W, h = (k / g.W) % g.H, nc = k / (g.W * g.H);
    // Output rows i with i·sh − ph ≤ h < i·sh − ph + kh (likewise columns).
    const std::int64_t i0 = h + g.ph - g.kh + 1 > 0 ? (h + g.ph - g.kh + 1 + g.sh - 1) / g.sh : 0;
    const std::int64_t i1 = (h + g.ph) / g.sh < g.Ho - 1 ? (h + g.ph) / g.sh : g.Ho - 1;
    const std::int64_t j0 = w + g.pw - g.kw + 1 > 0 ? (w + g.pw - g.kw + 1 + g.sw - 1) / g.sw : 0;
    const std::int64_t j1 = (w + g.pw) / g.sw < g.Wo - 1 ? (w + g.pw) / g.sw : g.Wo - 1;
    double acc = 0.0;
    const std::int64_t self = h * g.W + w;
    for (std::int64_t i = i0; i <= i1; ++i)
      for (std::int64_t j = j0; j <= j1; ++j) {
        const std::int64_t o = (nc * g.Ho + i) * g.Wo + j;
        if (argmax[o] == self) acc += static_cast<double>(dy[o]);
      }
    dx[k] = static_cast<T>(acc);
  }
}

__device__ __forceinline__ std::int64_t a_start(std::int64_t i, std::int64_t out, std::int64_t in) {
  return (i * in) / out;
}
__device__ __forceinline__ std::int64_t a_end(std::int64_t i, std::int64_t out, std::int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
__global__ void adaptive_forward_kernel(const T* x, T* y, PoolGeom g) {
  const std::int64_t total = g.NC * g.Ho * g.Wo;
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t j = k % g.Wo, i = (k / g.Wo) % g.Ho, nc = k / (g.Wo * g.Ho);
    const std::int64_t h0 = a_start(i, g.Ho, g.H), h1 = a_end(i, g.Ho, g.H);
    const std::int64_t w0 = a_start(j, g.Wo, g.W), w1 = a_end(j, g.Wo, g.W);
    double s = 0.0;
    for (std::int64_t h = h0; h < h1; ++h)
      for (std::int64_t w = w0; w < w1; ++w) s += static_cast<double>(x[(nc * g.H + h) * g.W + w]);
    y[k] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
  }
}

template <typename T>
__global__ void adaptive_backward_kernel(const T* dy, T* dx, PoolGeom g) {
  const std::int64_t total = g.NC * g.H * g.W;
  CONTRA_GRID_STRIDE(k, total) {
    const std::int64_t w = k % g.W, h = (k / g.W) % g.H, nc = k / (g.W * g.H);
    double acc = 0.0;
    for (std::int64_t i = 0; i < g.Ho; ++i) {
      const std::int64_t h0 = a_start(i, g.Ho, g.H), h1 = a_end(i, g.Ho, g.H);
      if (h < h0 || h >= h1) continue;
      for (std::int64_t j = 0; j < g.Wo; ++j) {
        const std::int64_t w0 = a_start(j, g.Wo, g.W), w1 = a_end(j, g.Wo, g.W);
        if (w < w0 || w >= w1) continue;
        acc += static_cast<double>(dy[(nc * g.Ho + i) * g.Wo + j]) / static_cast<double>((h1 - h0) * (w1 - w0));
      }
    }
    dx[k] = static_cast<T>(acc);
  }
}

}  // namespace

void launch_bn_forward_training(Dt t, const void* x, const void* weight, const void* bias, double eps, void* y,
                                void* mean, void* var, std::int64_t N, std::int64_t C, std::int64_t S,
                                cudaStream_t s) {
  if (C == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    bn_train_kernel<T><<<static_cast<unsigned>(C), kBnThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias), eps,
        static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(var), N, C, S);
  });
}

void launch_bn_forward_inference(Dt t, const void* x, const void* weight, const void* bias, const void* mean,
                                 const void* var, double eps, void* y, std::int64_t N, std::int64_t C,
                                 std::int64_t S, cudaStream_t s) {
  const std::int64_t total = N * C * S;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    bn_infer_kernel<T><<<grid_for(total), kThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
        static_cast<const T*>(mean), static_cast<const T*>(var), eps, static_cast<T*>(y), C, S, total);
  });
}

void launch_bn_backward(Dt t, const void* dy, const void* x, const void* weight, const void* mean, const void* var,
                        double eps, bool batch_stats, void* dx, void* dweight, void* dbias, std::int64_t N,
                        std::int64_t C, std::int64_t S, cudaStream_t s) {
  if (C == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    bn_backward_kernel<T><<<static_cast<unsigned>(C), kBnThreads, 0, s>>>(
        static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(weight),
        static_cast<const T*>(mean), static_cast<const T*>(var), eps, batch_stats, static_cast<T*>(dx),
        static_cast<T*>(dweight), static_cast<T*>(dbias), N, C, S);
  });
}

void launch_max_pool_forward(Dt t, const void* x, void* y, std::int64_t* argmax, const PoolGeom& g, cudaStream_t s) {
  const std::int64_t total = g.NC * g.Ho * g.Wo;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    max_pool_forward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                   argmax, g);
  });
}

void launch_max_pool_backward(Dt t, const void* dy, const std::int64_t* argmax, void* dx, const PoolGeom& g,
                              cudaStream_t s) {
  const std::int64_t total = g.NC * g.H * g.W;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    max_pool_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(dy), argmax,
                                                                    static_cast<T*>(dx), g);
  });
}

void launch_adaptive_avg_pool_forward(Dt t, const void* x, void* y, const PoolGeom& g, cudaStream_t s) {
  const std::int64_t total = g.NC * g.Ho * g.Wo;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    adaptive_forward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), g);
  });
}

void launch_adaptive_avg_pool_backward(Dt t, const void* dy, void* dx, const PoolGeom& g, cudaStream_t s) {
  const std::int64_t total = g.NC * g.H * g.W;
  if (total == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    adaptive_backward_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(dy), static_cast<T*>(dx),
                                                                    g);
  });
}

}  // namespace contra::cuda
