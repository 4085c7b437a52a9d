// cuda_kernels.h — the launchers of contra's own CUDA kernels, in plain C++ types.
//
// cuda_backend.cpp, contrastive_rows_backend.cpp and optimizer_updates_backend.cpp (compiled
// by the host compiler) turn Tensors into the small views below and call these; the .cu files (compiled by nvcc) never see tensor.h. Every launcher
// enqueues on `stream` and returns at once (no host synchronisation); a launch error throws
// through check_launch() in the caller.
//
// Dimensions: N batch, C channels, S = H·W, (H, W) input and (Ho, Wo) output spatial sizes,
// R rows and L row length (softmax), `outer × size × inner` around an indexed axis.
// dtype codes are contra::DType's values: 0 f32, 1 f64, 2 i64, 3 u8.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/cuda/contrastive_rows_math.cuh"
#include "tensor/cuda/optimizer_math.cuh"

namespace contra::cuda {

constexpr int kMaxDims = 8;

// A strided walk over `ndim` axes shared by up to 4 operands: operand k's element at
// multi-index i is at offset[k] + Σ_d i_d · stride[k][d] (elements). Axes are coalesced
// on the host first, so a contiguous tensor is one axis.
struct Walk {
  int ndim = 0;
  std::int64_t numel = 0;
  std::int64_t size[kMaxDims] = {};
  std::int64_t stride[4][kMaxDims] = {};
  std::int64_t offset[4] = {};
};

enum class Dt : int { f32 = 0, f64 = 1, i64 = 2, u8 = 3 };

// ---- elementwise (elementwise.cu) -------------------------------------------------------
// Operand 0 is the destination in every walk.
void launch_copy(Dt dst_t, void* dst, Dt src_t, const void* src, const Walk& w, cudaStream_t s);
void launch_fill(Dt t, void* dst, double value, const Walk& w, cudaStream_t s);
// op, a, b: contra::UnaryOp and its UnaryParams. Operands: out, x.
void launch_unary(Dt t, int op, double a, double b, void* out, const void* x, const Walk& w, cudaStream_t s);
// op: contra::BinaryOp. Operands: out, a, b.
void launch_binary(Dt t, int op, void* out, const void* a, const void* b, const Walk& w, cudaStream_t s);
// Operands: out, cond, a, b.
void launch_where(Dt t, void* out, const void* cond, const void* a, const void* b, const Walk& w, cudaStream_t s);

// ---- reductions (reduce.cu) ---------------------------------------------------------------
// out[o] = op over r of x[o, r]: `kept` walks the outputs (operand 0: out, operand 1: x),
// `reduced` walks the reduced axes of x (operand 1 strides; offset 0). op: contra::ReduceOp.
void launch_reduce(Dt t, int op, void* out, const void* x, const Walk& kept, const Walk& reduced, cudaStream_t s);
// *counter += #{non-finite x} (operand 0 of w walks x). counter: one device i64.
void launch_count_non_finite(Dt t, const void* x, const Walk& w, unsigned long long* counter, cudaStream_t s);
// Softmax or log-softmax of R contiguous rows of length L.
void launch_softmax(Dt t, const void* x, void* y, std::int64_t R, std::int64_t L, bool log, cudaStream_t s);

// ---- index ops (index.cu) -----------------------------------------------------------------
// Indices out of range are skipped and raise the device's index error flag, read (and
// cleared) by take_index_error() at the next synchronisation point.
void launch_index_select(Dt t, const void* x, const std::int64_t* index, void* out, std::int64_t outer,
                         std::int64_t size, std::int64_t inner, std::int64_t n, cudaStream_t s);
void launch_index_add(Dt t, void* out, const std::int64_t* index, const void* src, std::int64_t outer,
                      std::int64_t size, std::int64_t inner, std::int64_t n, cudaStream_t s);
// Walk over index's shape: operand 0 out (gather) / src (scatter_add), operand 1 x / out;
// `dim` is the indexed axis, `dim_size` x's (out's) size and `dim_stride` its stride there
// (operand 1's stride along dim is set to 0 in the walk).
void launch_gather(Dt t, const void* x, const std::int64_t* index, void* out, const Walk& w, int dim,
                   std::int64_t dim_size, std::int64_t dim_stride, cudaStream_t s);
void launch_scatter_add(Dt t, void* out, const std::int64_t* index, const void* src, const Walk& w, int dim,
                        std::int64_t dim_size, std::int64_t dim_stride, cudaStream_t s);
// Whether an index op since the last call saw an out-of-range index (then clears the flag).
// Synchronises the stream.
bool take_index_error(cudaStream_t s);

// ---- batch norm and pooling (norm_pool.cu) -------------------------------------------------
// x (N, C, S) contiguous; weight/bias may be null (1 and 0).
void launch_bn_forward_training(Dt t, const void* x, const void* weight, const void* bias, double eps, void* y,
                                void* mean, void* var, std::int64_t N, std::int64_t C, std::int64_t S,
                                cudaStream_t s);
void launch_bn_forward_inference(Dt t, const void* x, const void* weight, const void* bias, const void* mean,
                                 const void* var, double eps, void* y, std::int64_t N, std::int64_t C,
                                 std::int64_t S, cudaStream_t s);
// dweight/dbias may be null (not affine); weight null means 1.
void launch_bn_backward(Dt t, const void* dy, const void* x, const void* weight, const void* mean, const void* var,
                        double eps, bool batch_stats, void* dx, void* dweight, void* dbias, std::int64_t N,
                        std::int64_t C, std::int64_t S, cudaStream_t s);

struct PoolGeom {
  std::int64_t NC, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
};
// argmax: i64 (N, C, Ho, Wo), the index into H·W of each window's maximum.
void launch_max_pool_forward(Dt t, const void* x, void* y, std::int64_t* argmax, const PoolGeom& g, cudaStream_t s);
void launch_max_pool_backward(Dt t, const void* dy, const std::int64_t* argmax, void* dx, const PoolGeom& g,
                              cudaStream_t s);
void launch_adaptive_avg_pool_forward(Dt t, const void* x, void* y, const PoolGeom& g, cudaStream_t s);
void launch_adaptive_avg_pool_backward(Dt t, const void* dy, void* dx, const PoolGeom& g, cudaStream_t s);

// ---- contrastive row passes (contrastive_rows.cu; backend.h states what they compute) -------
// s, omega and the feature matrices contiguous in dtype t; a, stats, state, row_sum, norm,
// norms contiguous f64. omega_dim: 0 no ω (W = 1 on negatives), 1 ω (M,), 2 ω (M, M).
void launch_contrastive_row_pass(Dt t, void* s, const void* omega, int omega_dim, const double* a,
                                 const rows::Geom& g, double* stats, cudaStream_t st);
// s: the tile (ni, nk) at (g.row0, g.col0) of S.
void launch_contrastive_tile_forward(Dt t, const void* s, std::int64_t ni, std::int64_t nk, const void* omega,
                                     int omega_dim, const rows::Geom& g, double* state, cudaStream_t st);
void launch_contrastive_tile_gradient(Dt t, void* s, std::int64_t ni, std::int64_t nk, const void* omega,
                                      int omega_dim, const double* a, const double* state, const rows::Geom& g,
                                      double* row_sum, cudaStream_t st);
void launch_contrastive_normalize_rows(Dt t, const void* f, void* z, double* norm, std::int64_t M, std::int64_t D,
                                       cudaStream_t st);
void launch_contrastive_normalize_backward(Dt t, const void* z, const void* dz, const double* norm, const double* a,
                                           const rows::Geom& g, std::int64_t D, void* df, double* norms,
                                           cudaStream_t st);

// ---- fused optimizer updates (optimizer_updates.cu) ------------------------------------------
// slots and chunks: device copies of the tables of optimizer_math.cuh (every slot of dtype t).
void launch_sgd_update(Dt t, const optim::Slot* slots, const optim::Chunk* chunks, std::int64_t nchunks,
                       const optim::SgdArgs& h, cudaStream_t s);
// partials: device scratch of nchunks Norms2; trust_ratios: the caller's f64 (list length,).
void launch_lars_update(Dt t, const optim::Slot* slots, std::int64_t nslots, const optim::Chunk* chunks,
                        std::int64_t nchunks, const optim::LarsArgs& h, optim::Norms2* partials, double* trust_ratios,
                        cudaStream_t s);
void launch_adamw_update(Dt t, const optim::Slot* slots, const optim::Chunk* chunks, std::int64_t nchunks,
                         const optim::AdamWArgs& h, cudaStream_t s);

}  // namespace contra::cuda
