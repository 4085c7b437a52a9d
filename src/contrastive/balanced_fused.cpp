// balanced_fused.cpp — the fused balanced loss (docs/derivation.md §6): one GEMM, a stable row pass
// that leaves G = ∂L/∂Λ in S's buffer, and the closed-form gradient. See balanced_fused.h.
#include "contrastive/balanced_fused.h"

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/grad_mode.h"
#include "contrastive/balanced_blockwise.h"
#include "contrastive/balanced_common.h"
#include "contrastive/fast_exp.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {

constexpr const char* kWhere = "balanced_loss (fused)";

template <typename T>
BalancedOutput fused(const Tensor& f_in, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  const DType dt = dtype_of<T>::value;
  const std::int64_t M = L.M(), N = L.N, V = L.V, D = f_in.size(1);
  const std::int64_t P = V - 1;  // |P(i)|
  const bool need_grad = autograd::GradMode::is_enabled() && f_in.requires_grad();
  const bool want_grad = need_grad || o.gradient_norms;

  // ---- 1. z̄ = f/‖f‖                                                          (M, D)
  const detail::NormalizedRows rows = detail::normalize_rows<T>(f_in);
  const Tensor& z = rows.z;

  // ---- 2. S = Z̄ Z̄ᵀ: one GEMM                                                 (M, M)
  Tensor S = Tensor::empty({1, M, M}, dt);
  const Tensor z3 = z.view({1, M, D});
  backend_for(z).matmul(z3, z3.as_strided({1, D, M}, {M * D, 1, D}, 0), S, 1.0, 0.0);

  const detail::PairWeights<T> omega(p, M);
  const std::vector<double> a = detail::anchor_coefficients(p, M);  // a_i = α_i / Σα

  // ---- 3. the row pass: log D_i, ℓ_i, telemetry sums, and G in S's buffer
  const double inv_tau = 1.0 / p.temperature, wp = p.positive_weight, wa = p.attract, wr = p.repel;
  const double ninf = -std::numeric_limits<double>::infinity();
  detail::RowSums sums(M);
  auto &ell = sums.ell, &logD = sums.log_d, &pos_sum = sums.pos_sum, &neg_sum = sums.neg_sum,
       &unif = sums.uniformity, &gR2 = sums.g_rep2, &row_sum = sums.row_sum;
  auto& bad = sums.no_denominator;
  T* ps = S.data<T>();
#pragma omp parallel for schedule(static) if (M >= 64)
  for (std::int64_t i = 0; i < M; ++i) {
    T* s = ps + i * M;                                    // row i of S, then of G
    const std::int64_t img = L.image(i), vw = L.view(i);
    const T* om = omega.row(i);
    // pass 1: m_i = max over entries with W_ik > 0 (in similarity units), telemetry sums
    double m = ninf, possum = 0.0, negsum = 0.0, usum = 0.0;
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t base = v * N;
      for (int part = 0; part < 2; ++part) {  // N(i) ∩ view v = [base, base+img) ∪ (base+img, base+N)
        const std::int64_t k0 = part == 0 ? base : base + img + 1, k1 = part == 0 ? base + img : base + N;
        T mx = std::numeric_limits<T>::lowest();
        negsum += detail::negatives_max_and_sum(s, om, k0, k1, mx);
        if (k1 > k0 && mx != std::numeric_limits<T>::lowest()) m = std::max(m, static_cast<double>(mx));
        if (v == vw) usum += detail::uniformity_sum(s, k0, k1);  // same view, k ≠ i
      }
      if (v != vw) {  // the positive of view v
        possum += static_cast<double>(s[base + img]);
        if (wp > 0.0) m = std::max(m, static_cast<double>(s[base + img]));
      }
    }
    if (m == ninf) {  // W_i· ≡ 0: D_i = 0
      bad[i] = 1;
      continue;
    }
    const double mt = m * inv_tau;  // m_i = max Λ_ik over W_ik > 0
    // pass 2: e_ik = W_ik e^{Λ_ik − m_i} (written over S_ik), D̃_i = Σ_k e_ik
    //   W_ik = ω_ik (or 1) on N(i), w_p on P(i), 0 at k = i. The exponent is ≤ 0 wherever
    //   W_ik > 0 (m_i is their max); min(·, 0) keeps unweighted entries from overflowing.
    const T itau = static_cast<T>(inv_tau), mT = static_cast<T>(mt);
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t base = v * N;
      for (int part = 0; part < 2; ++part) {
        const std::int64_t k0 = part == 0 ? base : base + img + 1, k1 = part == 0 ? base + img : base + N;
        if (om) {
          for (std::int64_t k = k0; k < k1; ++k) s[k] = om[k] * detail::fast_exp(std::min(s[k] * itau - mT, T(0)));
        } else {
          for (std::int64_t k = k0; k < k1; ++k) s[k] = detail::fast_exp(std::min(s[k] * itau - mT, T(0)));
        }
      }
      const std::int64_t k = base + img;  // the positive of view v, or the anchor itself
      s[k] = k == i ? T(0) : static_cast<T>(wp) * detail::fast_exp(std::min(s[k] * itau - mT, T(0)));
    }
    double Dt = 0.0;
#pragma omp simd reduction(+ : Dt)
    for (std::int64_t k = 0; k < M; ++k) Dt += static_cast<double>(s[k]);
    // log D_i = m_i + log D̃_i;   ℓ_i = − w_a/|P| Σ_p Λ_ip + w_r log D_i
    logD[i] = mt + std::log(Dt);
    ell[i] = -wa / static_cast<double>(P) * possum * inv_tau + wr * logD[i];
    pos_sum[i] = possum;
    neg_sum[i] = negsum;
    unif[i] = usum;
    // pass 3: G_ik = a_i (w_r Q_ik − w_a 1[k∈P(i)]/|P|),  Q_ik = e_ik / D̃_i
    const double cR = a[i] * wr / Dt, cA = a[i] * wa / static_cast<double>(P);
    double g2 = 0.0, rs = 0.0;
    const T cRT = static_cast<T>(cR);
#pragma omp simd reduction(+ : g2)
    for (std::int64_t k = 0; k < M; ++k) {
      const T g = s[k] * cRT;
      g2 += static_cast<double>(g) * static_cast<double>(g);
      s[k] = g;
    }
    for (std::int64_t v = 0; v < V; ++v)
      if (v != vw) s[v * N + img] = static_cast<T>(static_cast<double>(s[v * N + img]) - cA);
#pragma omp simd reduction(+ : rs)
    for (std::int64_t k = 0; k < M; ++k) rs += static_cast<double>(s[k]);
    gR2[i] = g2;
    row_sum[i] = rs;
  }
  detail::check_denominators(sums, kWhere);

  // ---- sums (serial, fixed order: deterministic for any thread count)
  BalancedOutput out = detail::assemble_output(sums, a, L, p, dt);
  if (o.keep_logit_grad) out.logit_grad = S.view({M, M}).clone();

  // ---- 4. the gradient: dZ̄ = (G + Gᵀ) Z̄ / τ,  df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖
  if (want_grad) {
    // (G + Gᵀ) Z̄ as two GEMMs (Gᵀ is a transposed view, a BLAS flag): measured faster than
    // symmetrising G in place, whose column-strided half is cache-unfriendly.
    Tensor dz = Tensor::empty({1, M, D}, dt);
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
