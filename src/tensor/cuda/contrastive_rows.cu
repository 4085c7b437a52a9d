// contrastive_rows.cu — the contrastive row passes on a CUDA device (backend.h, "contrastive
// row passes"): the full-matrix row pass, the blockwise tile forward and gradient, the row
// normalisation and its backward. One block per anchor row; the per-row arithmetic is
// contrastive_rows_math.cuh's (shared with the CPU test of it), the partials combined by
// block_all_reduce below: every sum in double, in a fixed order (deterministic).
#include <cmath>

#include "tensor/cuda/contrastive_rows_math.cuh"
#include "tensor/cuda/kernel_common.cuh"

namespace contra::cuda {
namespace {

using rows::Geom;

constexpr int kRowThreads = 256;

// Combines v (a struct of doubles, combine() from contrastive_rows_math.cuh) over the block;
// every thread gets the result. blockDim.x a multiple of 32, at most 1024.
template <typename A>
__device__ A block_all_reduce(A v) {
  static_assert(sizeof(A) % sizeof(double) == 0, "a struct of doubles");
  constexpr int W = sizeof(A) / sizeof(double);
  __shared__ A shared[32];
  for (int o = 16; o > 0; o >>= 1) {
    A other;
    double* pv = reinterpret_cast<double*>(&v);
    double* po = reinterpret_cast<double*>(&other);
    #pragma unroll
    for (int w = 0; w < W; ++w) po[w] = __shfl_down_sync(0xffffffffu, pv[w], o);
    v = rows::combine(v, other);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  A r = shared[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) r = rows::combine(r, shared[w]);
  __syncthreads();  // before the next call overwrites `shared`
  return r;
}

// ω's row i (offset to column col0), or null: omega_dim 0 (none), 1 (M,), 2 (M, M).
template <typename T>
__device__ const T* omega_row(const T* omega, int omega_dim, std::int64_t i, std::int64_t M, std::int64_t col0) {
  if (omega_dim == 0) return nullptr;
  return omega + (omega_dim == 2 ? i * M : 0) + col0;
}

// The full-matrix row pass: row i = blockIdx.x of S (M, M) becomes G's, stats row i.
template <typename T>
__global__ void row_pass_kernel(T* S, const T* omega, int omega_dim, const double* a, Geom g, double* stats) {
  const std::int64_t M = g.N * g.V, i = blockIdx.x;
  T* s = S + i * M;
  const T* om = omega_row(omega, omega_dim, i, M, 0);
  const rows::Scan sc = block_all_reduce(rows::scan_partial(s, om, M, i, 0, threadIdx.x, blockDim.x, g));
  if (sc.max == -INFINITY) {  // no W_ik > 0: D_i = 0, stats (0, …, 0, 1), s row left as it is
    if (threadIdx.x == 0) rows::row_stats(sc, 0.0, rows::GSums{0.0, 0.0}, g, stats + i * rows::stat_count);
    return;
  }
  const double mt = sc.max * g.inv_tau;
  const rows::ESums e = block_all_reduce(rows::esum_partial(s, om, M, i, 0, threadIdx.x, blockDim.x, g, mt));
  const double cR = a[i] * g.wr / e.e1, cA = a[i] * g.wa / rows::positives(g);
  const rows::GSums gs =
      block_all_reduce(rows::gradient_partial(s, om, M, i, 0, threadIdx.x, blockDim.x, g, mt, cR, cA));
  if (threadIdx.x == 0) rows::row_stats(sc, e.e1, gs, g, stats + i * rows::stat_count);
}

// Blockwise forward: row r = blockIdx.x of the tile s (ni, nk) is anchor row i = row0 + r.
template <typename T>
__global__ void tile_forward_kernel(const T* S, std::int64_t nk, const T* omega, int omega_dim, Geom g,
                                    double* state) {
  __shared__ bool fold;
  const std::int64_t M = g.N * g.V, r = blockIdx.x, i = g.row0 + r;
  const T* s = S + r * nk;
  const T* om = omega_row(omega, omega_dim, i, M, g.col0);
  double* st = state + i * rows::st_count;
  const rows::Scan sc = block_all_reduce(rows::scan_partial(s, om, nk, i, g.col0, threadIdx.x, blockDim.x, g));
  if (threadIdx.x == 0) fold = rows::tile_fold_scan(st, sc, g.inv_tau);
  __syncthreads();
  if (!fold) return;
  const double mt = st[rows::st_max] * g.inv_tau;
  const rows::ESums e = block_all_reduce(rows::esum_partial(s, om, nk, i, g.col0, threadIdx.x, blockDim.x, g, mt));
  if (threadIdx.x == 0) rows::tile_fold_sums(st, e);
}

// Blockwise gradient: the tile's row r overwritten by G with the final m_i, D̃_i of state;
// row_sum[i] += Σ_tile G_ik.
template <typename T>
__global__ void tile_gradient_kernel(T* S, std::int64_t nk, const T* omega, int omega_dim, const double* a,
                                     const double* state, Geom g, double* row_sum) {
  const std::int64_t M = g.N * g.V, r = blockIdx.x, i = g.row0 + r;
  T* s = S + r * nk;
  const T* om = omega_row(omega, omega_dim, i, M, g.col0);
  const double* st = state + i * rows::st_count;
  const double mt = st[rows::st_max] * g.inv_tau;
  const double cR = a[i] * g.wr / st[rows::st_dsum], cA = a[i] * g.wa / rows::positives(g);
  const rows::GSums gs =
      block_all_reduce(rows::gradient_partial(s, om, nk, i, g.col0, threadIdx.x, blockDim.x, g, mt, cR, cA));
  if (threadIdx.x == 0) row_sum[i] += gs.row_sum;
}

// z̄_i = f_i/‖f_i‖, row i = blockIdx.x.
template <typename T>
__global__ void normalize_rows_kernel(const T* f, T* z, double* norm, std::int64_t D) {
  const std::int64_t i = blockIdx.x;
  const double n2 = block_all_reduce(rows::norm2_partial(f + i * D, D, threadIdx.x, blockDim.x));
  const double n = sqrt(n2);
  if (threadIdx.x == 0) norm[i] = n;
  rows::normalize_partial(f + i * D, z + i * D, D, threadIdx.x, blockDim.x, 1.0 / n);
}

// df_i and the gradient-norm telemetry of row i = blockIdx.x.
template <typename T>
__global__ void normalize_backward_kernel(const T* z, const T* dz, const double* norm, const double* a, Geom g,
                                          std::int64_t D, T* df, double* norms) {
  const std::int64_t i = blockIdx.x;
  const rows::Dots dots = block_all_reduce(rows::dots_partial(z, dz, a, i, D, threadIdx.x, blockDim.x, g));
  const rows::NormSums ns =
      block_all_reduce(rows::backward_partial(z, dz, a, i, D, threadIdx.x, blockDim.x, g, dots, 1.0 / norm[i], df));
  if (threadIdx.x == 0) rows::norms_row(ns, norms + i * 3);
}

// Threads per row: enough warps for the row's length, at most kRowThreads.
int row_threads(std::int64_t n) {
  std::int64_t t = (n + 31) / 32 * 32;
  if (t < 32) t = 32;
  return static_cast<int>(t < kRowThreads ? t : kRowThreads);
}

}  // namespace

void launch_contrastive_row_pass(Dt t, void* s, const void* omega, int omega_dim, const double* a, const Geom& g,
                                 double* stats, cudaStream_t st) {
  const std::int64_t M = g.N * g.V;
  if (M == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    row_pass_kernel<T><<<static_cast<unsigned>(M), row_threads(M), 0, st>>>(
        static_cast<T*>(s), static_cast<const T*>(omega), omega_dim, a, g, stats);
  });
}

void launch_contrastive_tile_forward(Dt t, const void* s, std::int64_t ni, std::int64_t nk, const void* omega,
                                     int omega_dim, const Geom& g, double* state, cudaStream_t st) {
  if (ni == 0 || nk == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    tile_forward_kernel<T><<<static_cast<unsigned>(ni), row_threads(nk), 0, st>>>(
        static_cast<const T*>(s), nk, static_cast<const T*>(omega), omega_dim, g, state);
  });
}

void launch_contrastive_tile_gradient(Dt t, void* s, std::int64_t ni, std::int64_t nk, const void* omega,
                                      int omega_dim, const double* a, const double* state, const Geom& g,
                                      double* row_sum, cudaStream_t st) {
  if (ni == 0 || nk == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    tile_gradient_kernel<T><<<static_cast<unsigned>(ni), row_threads(nk), 0, st>>>(
        static_cast<T*>(s), nk, static_cast<const T*>(omega), omega_dim, a, state, g, row_sum);
  });
}

void launch_contrastive_normalize_rows(Dt t, const void* f, void* z, double* norm, std::int64_t M, std::int64_t D,
                                       cudaStream_t st) {
  if (M == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    normalize_rows_kernel<T><<<static_cast<unsigned>(M), row_threads(D), 0, st>>>(
        static_cast<const T*>(f), static_cast<T*>(z), norm, D);
  });
}

void launch_contrastive_normalize_backward(Dt t, const void* z, const void* dz, const double* norm, const double* a,
                                           const Geom& g, std::int64_t D, void* df, double* norms, cudaStream_t st) {
  const std::int64_t M = g.N * g.V;
  if (M == 0) return;
  dispatch_float(t, [&](auto v) {
    using T = decltype(v);
    normalize_backward_kernel<T><<<static_cast<unsigned>(M), row_threads(D), 0, st>>>(
        static_cast<const T*>(z), static_cast<const T*>(dz), norm, a, g, D, static_cast<T*>(df), norms);
  });
}

}  // namespace contra::cuda
