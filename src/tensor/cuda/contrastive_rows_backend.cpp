// contrastive_rows_backend.cpp — CudaBackend's contrastive row passes (backend.h, "contrastive
// row passes"): the argument checks shared with the CPU backend (contrastive_row_checks.h),
// then one launch each of contrastive_rows.cu's kernels (one block per anchor row) on
// the backend's stream; nothing waits for the device.
#include "tensor/contrastive_row_checks.h"
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

int omega_dim(const Tensor& omega) { return omega.defined() ? static_cast<int>(omega.dim()) : 0; }
const void* omega_ptr(const Tensor& omega) { return omega.defined() ? omega.raw_data() : nullptr; }

}  // namespace

void CudaBackend::contrastive_row_pass(const Tensor& s, const Tensor& omega, const Tensor& a,
                                       const ContrastiveRowParams& p, const Tensor& stats) {
  const char* where = "contrastive_row_pass";
  activate();
  check_contrastive_row_pass(device(), s, omega, a, p, stats);
  launch_contrastive_row_pass(dt(s.dtype()), s.raw_data(), omega_ptr(omega), omega_dim(omega), a.data<double>(),
                              geom(p), stats.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_tile_forward(const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                                           const Tensor& state) {
  const char* where = "contrastive_tile_forward";
  activate();
  check_contrastive_tile_forward(device(), s, omega, p, state);
  launch_contrastive_tile_forward(dt(s.dtype()), s.raw_data(), s.size(0), s.size(1), omega_ptr(omega),
                                  omega_dim(omega), geom(p), state.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_tile_gradient(const Tensor& s, const Tensor& omega, const Tensor& a,
                                            const Tensor& state, const ContrastiveRowParams& p,
                                            const Tensor& row_sum) {
  const char* where = "contrastive_tile_gradient";
  activate();
  check_contrastive_tile_gradient(device(), s, omega, a, state, p, row_sum);
  launch_contrastive_tile_gradient(dt(s.dtype()), s.raw_data(), s.size(0), s.size(1), omega_ptr(omega),
                                   omega_dim(omega), a.data<double>(), state.data<double>(), geom(p),
                                   row_sum.data<double>(), stream());
  check_launch(where);
}

void CudaBackend::contrastive_normalize_rows(const Tensor& f, const Tensor& z, const Tensor& norm) {
  const char* where = "contrastive_normalize_rows";
  activate();
  check_contrastive_normalize_rows(device(), f, z, norm);
  launch_contrastive_normalize_rows(dt(f.dtype()), f.raw_data(), z.raw_data(), norm.data<double>(), f.size(0),
                                    f.size(1), stream());
  check_launch(where);
}

void CudaBackend::contrastive_normalize_backward(const Tensor& z, const Tensor& dz, const Tensor& norm,
                                                 const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                                 const Tensor& norms) {
  const char* where = "contrastive_normalize_backward";
  activate();
  check_contrastive_normalize_backward(device(), z, dz, norm, a, p, df, norms);
  launch_contrastive_normalize_backward(dt(z.dtype()), z.raw_data(), dz.raw_data(), norm.data<double>(),
                                        a.data<double>(), geom(p), z.size(1), df.raw_data(), norms.data<double>(),
                                        stream());
  check_launch(where);
}

}  // namespace contra::cuda
