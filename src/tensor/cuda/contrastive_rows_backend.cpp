// contrastive_rows_backend.cpp — CudaBackend's contrastive row passes (backend.h, "contrastive
// row passes"): the argument checks of the CPU backend (cpu/contrastive_rows.cpp) plus the
// device, then one launch each of contrastive_rows.cu's kernels (one block per anchor row) on
// the backend's stream; nothing waits for the device.
#include "tensor/cuda/cuda_backend.h"
#include "tensor/cuda/cuda_check.h"
#include "tensor/cuda/cuda_kernels.h"

namespace contra::cuda {
namespace {

using Params = Backend::ContrastiveRowParams;

static_assert(int(rows::st_count) == int(Backend::tile_state_count) && int(rows::st_max) == int(Backend::tile_max) &&
                  int(rows::st_dsum) == int(Backend::tile_dsum) && int(rows::st_dsum2) == int(Backend::tile_dsum2) &&
                  int(rows::st_pos_sum) == int(Backend::tile_pos_sum) &&
                  int(rows::st_neg_sum) == int(Backend::tile_neg_sum) &&
                  int(rows::st_uniformity) == int(Backend::tile_uniformity),
              "rows::TileCol must list Backend::TileState's columns");
static_assert(int(rows::stat_count) == int(Backend::row_stat_count) && int(rows::stat_ell) == int(Backend::stat_ell) &&
                  int(rows::stat_log_d) == int(Backend::stat_log_d) &&
                  int(rows::stat_pos_sum) == int(Backend::stat_pos_sum) &&
                  int(rows::stat_neg_sum) == int(Backend::stat_neg_sum) &&
                  int(rows::stat_uniformity) == int(Backend::stat_uniformity) &&
                  int(rows::stat_g_rep2) == int(Backend::stat_g_rep2) &&
                  int(rows::stat_row_sum) == int(Backend::stat_row_sum) &&
                  int(rows::stat_no_denominator) == int(Backend::stat_no_denominator),
              "rows::StatCol must list Backend::RowStat's columns");

Dt dt(DType t) { return static_cast<Dt>(static_cast<int>(t)); }

rows::Geom geom(const Params& p) {
  rows::Geom g;
  g.N = p.N;
  g.V = p.V;
  g.inv_tau = p.inv_tau;
  g.wp = p.positive_weight;
  g.wa = p.attract;
  g.wr = p.repel;
  g.row0 = p.row0;
  g.col0 = p.col0;
  return g;
}

void check_device(const char* where, Device d, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->defined())
      CONTRA_CHECK(t->device() == d, where, "a tensor on ", t->device().str(), " was passed to the ", d.str(),
                   " backend; move it with .to(", d.str(), ") first");
}

// As the CPU backend's check_rows, and ω's element count (M or M·M).
void check_rows(const char* where, const Tensor& s, const Tensor& omega, const Params& p,
                std::initializer_list<const Tensor*> f64s) {
  dispatch_floating(s.dtype(), where, [](auto) {});
  CONTRA_CHECK(s.is_contiguous(), where, "the similarity rows must be contiguous");
  CONTRA_CHECK(p.N >= 1 && p.V >= 1, where, "N and V must be ≥ 1, got N = ", p.N, ", V = ", p.V);
  const std::int64_t M = p.N * p.V;
  if (omega.defined())
    CONTRA_CHECK(omega.is_contiguous() && omega.dtype() == s.dtype() &&
                     ((omega.dim() == 1 && omega.numel() == M) || (omega.dim() == 2 && omega.numel() == M * M)),
                 where, "ω must be (M,) or (M, M) with M = ", M, ", contiguous, in the dtype of s");
  for (const Tensor* t : f64s)
    CONTRA_CHECK(t->dtype() == DType::f64 && t->is_contiguous(), where, "row statistics must be f64, contiguous");
}

int omega_dim(const Tensor& omega) { return omega.defined() ? static_cast<int>(omega.dim()) : 0; }
const void* omega_ptr(const Tensor& omega) { return omega.defined() ? omega.raw_data() : nullptr; }

}  // namespace

void CudaBackend::contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a,
                                       const ContrastiveRowParams& p, const Tensor& stats) {
  const char* where = "contrastive_row_pass";
  activate();
  check_device(where, device(), {&s, &omega, &a, &stats});
  check_rows(where, s, omega, p, {&a, &stats});
  const std::int64_t M = p.N * p.V;
  CONTRA_CHECK(s.dim() == 2 && s.size(0) == M && s.size(1) == M && a.numel() == M &&
                   stats.numel() == M * row_stat_count,
               where, "needs s (M, M), a (M,), stats (M, ", int(row_stat_count), ") with M = N·V = ", M);
  launch_contrastive_row_pass(dt(s.dtype()), s.raw_data(), omega_ptr(omega), omega_dim(omega), a.data<double>(),
                              geom(p), stats.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                           const Tensor& state) {
  const char* where = "contrastive_tile_forward";
  activate();
  check_device(where, device(), {&s, &omega, &state});
  check_rows(where, s, omega, p, {&state});
  const std::int64_t M = p.N * p.V;
  CONTRA_CHECK(s.dim() == 2 && p.row0 >= 0 && p.col0 >= 0 && p.row0 + s.size(0) <= M && p.col0 + s.size(1) <= M &&
                   state.numel() == M * tile_state_count,
               where, "needs a tile s inside (M, M) and state (M, ", int(tile_state_count), "), M = ", M);
  launch_contrastive_tile_forward(dt(s.dtype()), s.raw_data(), s.size(0), s.size(1), omega_ptr(omega),
                                  omega_dim(omega), geom(p), state.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a,
                                            const Tensor& state, const ContrastiveRowParams& p,
                                            const Tensor& row_sum) {
  const char* where = "contrastive_tile_gradient";
  activate();
  check_device(where, device(), {&s, &omega, &a, &state, &row_sum});
  check_rows(where, s, omega, p, {&a, &state, &row_sum});
  const std::int64_t M = p.N * p.V;
  CONTRA_CHECK(s.dim() == 2 && p.row0 >= 0 && p.col0 >= 0 && p.row0 + s.size(0) <= M && p.col0 + s.size(1) <= M &&
                   state.numel() == M * tile_state_count && a.numel() == M && row_sum.numel() == M,
               where, "needs a tile s inside (M, M), a and row_sum (M,), state (M, ", int(tile_state_count),
               "), M = ", M);
  launch_contrastive_tile_gradient(dt(s.dtype()), s.raw_data(), s.size(0), s.size(1), omega_ptr(omega),
                                   omega_dim(omega), a.data<double>(), state.data<double>(), geom(p),
                                   row_sum.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) {
  const char* where = "contrastive_normalize_rows";
  activate();
  check_device(where, device(), {&f, &z, &norm});
  dispatch_floating(f.dtype(), where, [](auto) {});
  CONTRA_CHECK(f.dim() == 2 && f.is_contiguous() && z.is_contiguous() && z.shape() == f.shape() &&
                   z.dtype() == f.dtype() && norm.dtype() == DType::f64 && norm.is_contiguous() &&
                   norm.numel() == f.size(0),
               where, "needs f, z (M, D) contiguous of one dtype and norm (M,) f64");
  launch_contrastive_normalize_rows(dt(f.dtype()), f.raw_data(), z.raw_data(), norm.data<double>(), f.size(0),
                                    f.size(1), stream());
  check_launch(where);
}

void CudaBackend::contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm,
                                                 const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                                 const Tensor& norms) {
  const char* where = "contrastive_normalize_backward";
  activate();
  check_device(where, device(), {&z, &dz, &norm, &a, &df, &norms});
  dispatch_floating(z.dtype(), where, [](auto) {});
  const std::int64_t M = z.dim() == 2 ? z.size(0) : -1;
  CONTRA_CHECK(z.dim() == 2 && M == p.N * p.V && z.is_contiguous() && dz.is_contiguous() && df.is_contiguous() &&
                   dz.shape() == z.shape() && df.shape() == z.shape() && dz.dtype() == z.dtype() &&
                   df.dtype() == z.dtype(),
               where, "needs z, dz, df (M, D) contiguous of one dtype, M = N·V");
  for (const Tensor* t : {&norm, &a, &norms})
    CONTRA_CHECK(t->dtype() == DType::f64 && t->is_contiguous(), where, "norm, a, norms must be f64, contiguous");
  CONTRA_CHECK(norm.numel() == M && a.numel() == M && norms.numel() == 3 * M, where,
               "needs norm, a (M,), norms (M, 3)");
  launch_contrastive_normalize_backward(dt(z.dtype()), z.raw_data(), dz.raw_data(), norm.data<double>(),
                                        a.data<double>(), geom(p), z.size(1), df.raw_data(), norms.data<double>(),
                                        stream());
  check_launch(where);
}

}  // namespace contra::cuda
