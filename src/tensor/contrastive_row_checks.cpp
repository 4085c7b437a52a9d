// contrastive_row_checks.cpp — see contrastive_row_checks.h.
#include "tensor/contrastive_row_checks.h"

#include <initializer_list>

#include "tensor/error.h"

namespace contra {

namespace {

void check_device(const char* where, Device d, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if (t->defined())
      CONTRA_CHECK(t->device() == d, where, "a tensor on ", t->device().str(), " was passed to the ", d.str(),
                   " backend; move it with .to(", d.str(), ") first");
}

void check_f64_rows(const char* where, std::initializer_list<const Tensor*> ts, const char* what) {
  for (const Tensor* t : ts)
    CONTRA_CHECK(t->dtype() == DType::f64 && t->is_contiguous(), where, what, " must be f64, contiguous");
}

// What every pass over similarity rows s needs: s floating and contiguous, N, V ≥ 1, ω of
// M or M·M elements (M = N·V) in s's dtype, row statistics f64. Returns M.
std::int64_t check_rows(const char* where, const Tensor& s, const Tensor& omega, const ContrastiveRowParams& p,
                        std::initializer_list<const Tensor*> f64s) {
  dispatch_floating(s.dtype(), where, [](auto) {});
  CONTRA_CHECK(s.is_contiguous(), where, "the similarity rows must be contiguous");
  CONTRA_CHECK(p.N >= 1 && p.V >= 1, where, "N and V must be ≥ 1, got N = ", p.N, ", V = ", p.V);
  const std::int64_t M = p.N * p.V;
  if (omega.defined())
    CONTRA_CHECK(omega.is_contiguous() && omega.dtype() == s.dtype() &&
                     ((omega.dim() == 1 && omega.numel() == M) || (omega.dim() == 2 && omega.numel() == M * M)),
                 where, "ω must be (M,) or (M, M) with M = ", M, ", contiguous, in the dtype of s");
  check_f64_rows(where, f64s, "row statistics");
  return M;
}

// The tile s = S[row0 : row0+ni, col0 : col0+nk] lies inside (M, M).
bool tile_inside(const Tensor& s, const ContrastiveRowParams& p, std::int64_t M) {
  return s.dim() == 2 && p.row0 >= 0 && p.col0 >= 0 && p.row0 + s.size(0) <= M && p.col0 + s.size(1) <= M;
}

}  // namespace

void check_contrastive_row_pass(Device device, const Tensor& s, const Tensor& omega, const Tensor& a,
                                const ContrastiveRowParams& p, const Tensor& stats) {
  const char* where = "contrastive_row_pass";
  check_device(where, device, {&s, &omega, &a, &stats});
  const std::int64_t M = check_rows(where, s, omega, p, {&a, &stats});
  CONTRA_CHECK(s.dim() == 2 && s.size(0) == M && s.size(1) == M && a.numel() == M &&
                   stats.numel() == M * Backend::row_stat_count,
               where, "needs s (M, M), a (M,), stats (M, ", int(Backend::row_stat_count), ") with M = N·V = ", M);
}

void check_contrastive_tile_forward(Device device, const Tensor& s, const Tensor& omega,
                                    const ContrastiveRowParams& p, const Tensor& state) {
  const char* where = "contrastive_tile_forward";
  check_device(where, device, {&s, &omega, &state});
  const std::int64_t M = check_rows(where, s, omega, p, {&state});
  CONTRA_CHECK(tile_inside(s, p, M) && state.numel() == M * Backend::tile_state_count, where,
               "needs a tile s inside (M, M) and state (M, ", int(Backend::tile_state_count), "), M = ", M);
}

void check_contrastive_tile_gradient(Device device, const Tensor& s, const Tensor& omega, const Tensor& a,
                                     const Tensor& state, const ContrastiveRowParams& p, const Tensor& row_sum) {
  const char* where = "contrastive_tile_gradient";
  check_device(where, device, {&s, &omega, &a, &state, &row_sum});
  const std::int64_t M = check_rows(where, s, omega, p, {&a, &state, &row_sum});
  CONTRA_CHECK(tile_inside(s, p, M) && state.numel() == M * Backend::tile_state_count && a.numel() == M &&
                   row_sum.numel() == M,
               where, "needs a tile s inside (M, M), a and row_sum (M,), state (M, ", int(Backend::tile_state_count),
               "), M = ", M);
}

void check_contrastive_normalize_rows(Device device, const Tensor& f, const Tensor& z, const Tensor& norm) {
  const char* where = "contrastive_normalize_rows";
  check_device(where, device, {&f, &z, &norm});
  dispatch_floating(f.dtype(), where, [](auto) {});
  CONTRA_CHECK(f.dim() == 2 && f.is_contiguous() && z.is_contiguous() && z.shape() == f.shape() &&
                   z.dtype() == f.dtype() && norm.dtype() == DType::f64 && norm.is_contiguous() &&
                   norm.numel() == f.size(0),
               where, "needs f, z (M, D) contiguous of one dtype and norm (M,) f64");
}

void check_contrastive_normalize_backward(Device device, const Tensor& z, const Tensor& dz, const Tensor& norm,
                                          const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                          const Tensor& norms) {
  const char* where = "contrastive_normalize_backward";
  check_device(where, device, {&z, &dz, &norm, &a, &df, &norms});
  dispatch_floating(z.dtype(), where, [](auto) {});
  const std::int64_t M = z.dim() == 2 ? z.size(0) : -1;
  CONTRA_CHECK(z.dim() == 2 && M == p.N * p.V && z.is_contiguous() && dz.is_contiguous() && df.is_contiguous() &&
                   dz.shape() == z.shape() && df.shape() == z.shape() && dz.dtype() == z.dtype() &&
                   df.dtype() == z.dtype(),
               where, "needs z, dz, df (M, D) contiguous of one dtype, M = N·V");
  check_f64_rows(where, {&norm, &a, &norms}, "norm, a, norms");
  CONTRA_CHECK(norm.numel() == M && a.numel() == M && norms.numel() == 3 * M, where,
               "needs norm, a (M,), norms (M, 3)");
}

}  // namespace contra
