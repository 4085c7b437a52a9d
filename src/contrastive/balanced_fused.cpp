// balanced_fused.cpp — the fused balanced loss (docs/derivation.md §6): one GEMM, a stable row pass
// that leaves G = ∂L/∂Λ in S's buffer, and the closed-form gradient. See balanced_fused.h.
#include "contrastive/balanced_fused.h"

#include <vector>

#include "autograd/grad_mode.h"
#include "contrastive/balanced_blockwise.h"
#include "contrastive/balanced_common.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {

constexpr const char* kWhere = "balanced_loss (fused)";

template <typename T>
BalancedOutput fused(const Tensor& f_in, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  const DType dt = dtype_of<T>::value;
  const std::int64_t M = L.M(), D = f_in.size(1);
  const bool need_grad = autograd::GradMode::is_enabled() && f_in.requires_grad();
  const bool want_grad = need_grad || o.gradient_norms;

  // ---- 1. z̄ = f/‖f‖                                                          (M, D)
  const detail::NormalizedRows rows = detail::normalize_rows<T>(f_in);
  const Tensor& z = rows.z;

  // ---- 2. S = Z̄ Z̄ᵀ: one GEMM                                                 (M, M)
  const Device device = z.device();  // every buffer below lives with the embeddings
  Tensor S = Tensor::empty({1, M, M}, dt, device);
  const Tensor z3 = z.view({1, M, D});
  backend_for(z).matmul(z3, z3.as_strided({1, D, M}, {M * D, 1, D}, 0), S, 1.0, 0.0);

  const detail::PairWeights<T> omega(p, M);
  const std::vector<double> a = detail::anchor_coefficients(p, M);  // a_i = α_i / Σα

  // ---- 3. the row pass (Backend::contrastive_row_pass; backend.h states what it computes), per anchor i:
  //   m_i = max{s_ik : W_ik > 0},  W_ik = ω_ik (or 1) on N(i), w_p on P(i), 0 at k = i;
  //   e_ik = W_ik e^{Λ_ik − m_i/τ} (the exponent is ≤ 0 wherever W_ik > 0; min(·, 0) keeps
  //   unweighted entries from overflowing),  D̃_i = Σ_k e_ik,  log D_i = m_i/τ + log D̃_i;
  //   ℓ_i = − w_a/|P| Σ_p Λ_ip + w_r log D_i;
  //   G_ik = a_i (w_r Q_ik − w_a 1[k∈P(i)]/|P|),  Q_ik = e_ik / D̃_i, left in S's buffer;
  //   and the telemetry sums (pos_sum, neg_sum, uniformity, ‖Gᴿ_i‖², Σ_k G_ik).
  const Backend::ContrastiveRowParams rp = detail::row_params(L, p);
  const double inv_tau = rp.inv_tau;
  const Tensor stats = Tensor::empty({M, Backend::row_stat_count}, DType::f64, device);
  backend_for(z).contrastive_row_pass(S.view({M, M}), omega.omega, Tensor::from_vector(a, {M}, device), rp, stats);
  const detail::RowSums sums = detail::row_sums_from_stats(stats);
  detail::check_denominators(sums, kWhere);

  // ---- sums (serial, fixed order: deterministic for any thread count)
  BalancedOutput out = detail::assemble_output(sums, a, L, p, dt, device);
  if (o.keep_logit_grad) out.logit_grad = S.view({M, M}).clone();

  // ---- 4. the gradient: dZ̄ = (G + Gᵀ) Z̄ / τ,  df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖
  if (want_grad) {
    // (G + Gᵀ) Z̄ as two GEMMs (Gᵀ is a transposed view, a BLAS flag): measured faster than
    // symmetrising G in place, whose column-strided half is cache-unfriendly.
    Tensor dz = Tensor::empty({1, M, D}, dt, device);
    backend_for(z).matmul(S, z3, dz, inv_tau, 0.0);
    backend_for(z).matmul(S.as_strided({1, M, M}, {M * M, 1, M}, 0), z3, dz, inv_tau, 1.0);
    detail::finish_gradient<T>(f_in, rows, dz, a, L, p, need_grad, "balanced_loss_fused", out);
  }
  return out;
}

}  // namespace

bool blockwise_chosen(std::int64_t M, const FusedOptions& o) {
  switch (o.algorithm) {
    case LossAlgorithm::full_matrix: return false;
    case LossAlgorithm::blockwise: return true;
    case LossAlgorithm::automatic: break;
  }
  // the (M, M) matrix in f32 bytes; keep_logit_grad needs it whatever its size
  return !o.keep_logit_grad && 4.0 * static_cast<double>(M) * static_cast<double>(M) > kBlockwiseAboveBytes;
}

BalancedOutput balanced_loss(const Tensor& f, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  if (blockwise_chosen(L.M(), o)) return balanced_loss_blockwise(f, L, p, o);
  detail::check_loss_inputs(f, L, p, kWhere);
  return dispatch_floating(f.dtype(), kWhere, [&](auto t) { return fused<decltype(t)>(f, L, p, o); });
}

}  // namespace contra::contrastive
