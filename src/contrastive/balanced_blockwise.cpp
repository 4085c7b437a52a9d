// balanced_blockwise.cpp — the blockwise fused balanced loss (docs/derivation.md §6): similarity
// tiles by GEMM, an online log-sum-exp per row, and the tiles recomputed to accumulate
// dZ̄ = (G + Gᵀ) Z̄ / τ without storing G. See balanced_blockwise.h.
#include "contrastive/balanced_blockwise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/grad_mode.h"
#include "contrastive/balanced_common.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {

constexpr const char* kWhere = "balanced_loss (blockwise)";

template <typename T>
BalancedOutput blockwise(const Tensor& f_in, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  const DType dt = dtype_of<T>::value;
  const std::int64_t M = L.M(), D = f_in.size(1);
  const double P = static_cast<double>(L.V - 1);  // |P(i)|
  const std::int64_t TT = std::min(o.tile > 0 ? o.tile : kDefaultTile, M);
  const bool need_grad = autograd::GradMode::is_enabled() && f_in.requires_grad();
  const bool want_grad = need_grad || o.gradient_norms;
  const double inv_tau = 1.0 / p.temperature, wa = p.attract, wr = p.repel;
  const double ninf = -std::numeric_limits<double>::infinity();

  // ---- 1. z̄ = f/‖f‖                                                          (M, D)
  const detail::NormalizedRows rows = detail::normalize_rows<T>(f_in);
  const Tensor z3 = rows.z.view({1, M, D});
  const detail::PairWeights<T> omega(p, M);
  const std::vector<double> a = detail::anchor_coefficients(p, M);  // a_i = α_i / Σα

  // S_IK = Z̄_I Z̄_Kᵀ for rows [i0, i0+ni), columns [k0, k0+nk), in the one tile buffer   (ni, nk)
  const Device device = rows.z.device();  // every buffer below lives with the embeddings
  Tensor tile_buf = Tensor::empty({1, TT, TT}, dt, device);
  Backend& be = backend_for(rows.z);
  auto rows_of = [&](std::int64_t r0, std::int64_t n) { return z3.as_strided({1, n, D}, {M * D, D, 1}, r0 * D); };
  auto similarity_tile = [&](std::int64_t i0, std::int64_t ni, std::int64_t k0, std::int64_t nk) -> Tensor {
    const Tensor s = tile_buf.as_strided({1, ni, nk}, {ni * nk, nk, 1}, 0);
    be.matmul(rows_of(i0, ni), z3.as_strided({1, D, nk}, {M * D, 1, D}, k0 * D), s, 1.0, 0.0);  // Z̄_I Z̄_Kᵀ
    return s;
  };

  // ---- 2. forward: online log-sum-exp per row over the column tiles (Backend::contrastive_tile_forward):
  //   per anchor i, over the tiles' columns k: m_i = max{s_ik : W_ik > 0} so far (similarity units);
  //   when m_i grows, D̃_i ← D̃_i e^{(m_old − m_i)/τ};  D̃_i += Σ_k e_ik,  e_ik = W_ik e^{Λ_ik − m_i/τ}
  //   (the exponent is ≤ 0 wherever W_ik > 0; min(·, 0) keeps unweighted entries from
  //   overflowing); Σ_k e_ik² for ‖Gᴿ‖; and the telemetry sums pos_sum, neg_sum, uniformity.
  Backend::ContrastiveRowParams rp = detail::row_params(L, p);
  const Tensor state = Tensor::zeros({M, Backend::tile_state_count}, DType::f64, device);  // (M, 6), accumulated
  be.fill(state.as_strided({M}, {Backend::tile_state_count}, Backend::tile_max), ninf);  // m_i = −∞
  for (std::int64_t i0 = 0; i0 < M; i0 += TT) {
    const std::int64_t ni = std::min(TT, M - i0);
    for (std::int64_t k0 = 0; k0 < M; k0 += TT) {
      const std::int64_t nk = std::min(TT, M - k0);
      const Tensor S = similarity_tile(i0, ni, k0, nk);  // S_IK                          (ni, nk)
      rp.row0 = i0;
      rp.col0 = k0;
      be.contrastive_tile_forward(S.view({ni, nk}), omega.omega, rp, state);
    }
  }
  const std::vector<double> st = state.to_vector<double>();  // one host read
  auto at = [&](std::int64_t i, int c) { return st[static_cast<size_t>(i * Backend::tile_state_count + c)]; };
  detail::RowSums sums(M);
  // log D_i = m_i/τ + log D̃_i;   ℓ_i = − w_a/|P| Σ_p Λ_ip + w_r log D_i;
  // ‖Gᴿ_i‖² = (a_i w_r/D̃_i)² Σ_k e_ik²
  for (std::int64_t i = 0; i < M; ++i) {
    sums.pos_sum[i] = at(i, Backend::tile_pos_sum);
    sums.neg_sum[i] = at(i, Backend::tile_neg_sum);
    sums.uniformity[i] = at(i, Backend::tile_uniformity);
    const double run_max = at(i, Backend::tile_max), dsum = at(i, Backend::tile_dsum);
    if (run_max == ninf) {  // W_i· ≡ 0: D_i = 0
      sums.no_denominator[i] = 1;
      continue;
    }
    sums.log_d[i] = run_max * inv_tau + std::log(dsum);
    sums.ell[i] = -wa / P * sums.pos_sum[i] * inv_tau + wr * sums.log_d[i];
    const double cR = a[i] * wr / dsum;
    sums.g_rep2[i] = cR * cR * at(i, Backend::tile_dsum2);
    sums.row_sum[i] = a[i] * (wr - wa);  // closed form; replaced by Σ_k G_ik when G is formed below
  }
  detail::check_denominators(sums, kWhere);
  if (!want_grad) return detail::assemble_output(sums, a, L, p, dt, device);

  // ---- 3. gradient: recompute S_IK, form G_IK in the tile, dZ̄_I += G_IK Z̄_K/τ, dZ̄_K += G_IKᵀ Z̄_I/τ
  Tensor dz = Tensor::zeros({1, M, D}, dt, device);  // (M, D) ∂L/∂z̄
  // G_ik = c_R W_ik e^{Λ_ik − m_i/τ} − c_A 1[k∈P(i)],  c_R = a_i w_r / D̃_i,  c_A = a_i w_a/|P|,
  // G_ii = 0, formed tile by tile in the tile's buffer (Backend::contrastive_tile_gradient)
  const Tensor row_sum = Tensor::zeros({M}, DType::f64, device);  // Σ_k G_ik, accumulated
  const Tensor a_t = Tensor::from_vector(a, {M}, device);
  for (std::int64_t i0 = 0; i0 < M; i0 += TT) {
    const std::int64_t ni = std::min(TT, M - i0);
    for (std::int64_t k0 = 0; k0 < M; k0 += TT) {
      const std::int64_t nk = std::min(TT, M - k0);
      const Tensor G = similarity_tile(i0, ni, k0, nk);  // S_IK, overwritten by G_IK
      rp.row0 = i0;
      rp.col0 = k0;
      be.contrastive_tile_gradient(G.view({ni, nk}), omega.omega, a_t, state, rp, row_sum);
      // dZ̄_I += G_IK Z̄_K / τ;   dZ̄_K += G_IKᵀ Z̄_I / τ                          (ni, D), (nk, D)
      be.matmul(G, rows_of(k0, nk), dz.as_strided({1, ni, D}, {M * D, D, 1}, i0 * D), inv_tau, 1.0);
      be.matmul(G.as_strided({1, nk, ni}, {ni * nk, 1, nk}, 0), rows_of(i0, ni),
                dz.as_strided({1, nk, D}, {M * D, D, 1}, k0 * D), inv_tau, 1.0);
    }
  }
  sums.row_sum = row_sum.to_vector<double>();
  BalancedOutput out = detail::assemble_output(sums, a, L, p, dt, device);
  detail::finish_gradient<T>(f_in, rows, dz, a, L, p, need_grad, "balanced_loss_blockwise", out);
  return out;
}

}  // namespace

BalancedOutput balanced_loss_blockwise(const Tensor& f, const ViewLayout& L, const BalancedParams& p,
                                       const FusedOptions& o) {
  detail::check_loss_inputs(f, L, p, kWhere);
  CONTRA_CHECK_HINT(!o.keep_logit_grad, kWhere, "use FusedOptions::algorithm = LossAlgorithm::full_matrix",
                    "keep_logit_grad needs the (M, M) logit gradient, which the blockwise loss never stores");
  CONTRA_CHECK(o.tile >= 0, kWhere, "tile must be ≥ 0 (0 = the default ", kDefaultTile, "), got ", o.tile);
  return dispatch_floating(f.dtype(), kWhere, [&](auto t) { return blockwise<decltype(t)>(f, L, p, o); });
}

}  // namespace contra::contrastive
