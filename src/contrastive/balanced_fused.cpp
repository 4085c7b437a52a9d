// balanced_fused.cpp — the fused balanced loss (docs/derivation.md §6): one GEMM, a stable row pass
// that leaves G = ∂L/∂Λ in S's buffer, and the closed-form gradient. See balanced_fused.h.
#include "contrastive/balanced_fused.h"

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/record.h"
#include "contrastive/fast_exp.h"
#include "contrastive/similarity.h"
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
  const Tensor f = f_in.detach().contiguous();
  Tensor z = Tensor::empty({M, D}, dt);
  std::vector<double> norm(static_cast<size_t>(M));
  {
    const T* pf = f.data<T>();
    T* pz = z.data<T>();
#pragma omp parallel for schedule(static) if (M * D >= kParallelGrain)
    for (std::int64_t i = 0; i < M; ++i) {
      double n2 = 0.0;
      for (std::int64_t d = 0; d < D; ++d) n2 += static_cast<double>(pf[i * D + d]) * static_cast<double>(pf[i * D + d]);
      norm[i] = std::sqrt(n2);
      const double inv = 1.0 / norm[i];
      for (std::int64_t d = 0; d < D; ++d) pz[i * D + d] = static_cast<T>(static_cast<double>(pf[i * D + d]) * inv);
    }
  }

  // ---- 2. S = Z̄ Z̄ᵀ: one GEMM                                                 (M, M)
  Tensor S = Tensor::empty({1, M, M}, dt);
  const Tensor z3 = z.view({1, M, D});
  backend_for(z).matmul(z3, z3.as_strided({1, D, M}, {M * D, 1, D}, 0), S, 1.0, 0.0);

  Tensor omega_t;
  const T* omega = nullptr;
  bool per_pair = false;
  if (p.pair_weights.defined()) {
    omega_t = p.pair_weights.detach().to(dt).contiguous();
    omega = omega_t.data<T>();
    per_pair = omega_t.dim() == 2;
  }
  std::vector<double> a(static_cast<size_t>(M), 1.0 / static_cast<double>(M));  // a_i = α_i / Σα
  if (p.anchor_weights.defined()) {
    const auto alpha = p.anchor_weights.to_vector<double>();
    double total = 0.0;
    for (double v : alpha) total += v;
    for (std::int64_t i = 0; i < M; ++i) a[i] = alpha[i] / total;
  }

  // ---- 3. the row pass: log D_i, ℓ_i, telemetry sums, and G in S's buffer
  const double inv_tau = 1.0 / p.temperature, wp = p.positive_weight, wa = p.attract, wr = p.repel;
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> ell(M), logD(M), pos_sum(M), neg_sum(M), unif(M), gR2(M), row_sum(M);
  std::vector<char> bad(static_cast<size_t>(M), 0);
  T* ps = S.data<T>();
#pragma omp parallel for schedule(static) if (M >= 64)
  for (std::int64_t i = 0; i < M; ++i) {
    T* s = ps + i * M;                                    // row i of S, then of G
    const std::int64_t img = L.image(i), vw = L.view(i);
    const T* om = omega ? (per_pair ? omega + i * M : omega) : nullptr;
    // pass 1: m_i = max over entries with W_ik > 0 (in similarity units), telemetry sums
    double m = ninf, possum = 0.0, negsum = 0.0, usum = 0.0;
    for (std::int64_t v = 0; v < V; ++v) {
      const std::int64_t base = v * N;
      for (int part = 0; part < 2; ++part) {  // N(i) ∩ view v = [base, base+img) ∪ (base+img, base+N)
        const std::int64_t k0 = part == 0 ? base : base + img + 1, k1 = part == 0 ? base + img : base + N;
        T mx = std::numeric_limits<T>::lowest();
        double ns = 0.0;
        if (om) {
#pragma omp simd reduction(max : mx) reduction(+ : ns)
          for (std::int64_t k = k0; k < k1; ++k) {
            mx = om[k] > T(0) ? std::max(mx, s[k]) : mx;
            ns += s[k];
          }
        } else {
#pragma omp simd reduction(max : mx) reduction(+ : ns)
          for (std::int64_t k = k0; k < k1; ++k) {
            mx = std::max(mx, s[k]);
            ns += s[k];
          }
        }
        if (k1 > k0 && mx != std::numeric_limits<T>::lowest()) m = std::max(m, static_cast<double>(mx));
        negsum += ns;
        if (v == vw) {  // uniformity: e^{−2‖z̄_i − z̄_k‖²} = e^{4 s_ik − 4}, same view, k ≠ i
          double us = 0.0;
#pragma omp simd reduction(+ : us)
          for (std::int64_t k = k0; k < k1; ++k) us += static_cast<double>(detail::fast_exp(T(4) * s[k] - T(4)));
          usum += us;
        }
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
  for (std::int64_t i = 0; i < M; ++i)
    CONTRA_CHECK_HINT(!bad[i], kWhere, "give some negative of this anchor a weight ω > 0, or set w_p > 0",
                      "anchor row ", i, " has no entry with W > 0 in its denominator D_i (log 0)");

  // ---- sums (serial, fixed order: deterministic for any thread count)
  BalancedOutput out;
  LossTelemetry& t = out.telemetry;
  double loss = 0.0, attr = 0.0, rep = 0.0, ps_all = 0.0, ns_all = 0.0, gA2 = 0.0, gR2_all = 0.0, maxrow = 0.0;
  for (std::int64_t i = 0; i < M; ++i) {
    loss += a[i] * ell[i];
    attr += a[i] * (-wa / static_cast<double>(P) * pos_sum[i] * inv_tau);
    rep += a[i] * wr * logD[i];
    ps_all += pos_sum[i];
    ns_all += neg_sum[i];
    gA2 += static_cast<double>(P) * (a[i] * wa / P) * (a[i] * wa / P);
    gR2_all += gR2[i];
    maxrow = std::max(maxrow, std::abs(row_sum[i]));
  }
  t.loss = loss;
  t.attraction = attr;
  t.repulsion = rep;
  t.logit_grad_norm_attraction = std::sqrt(gA2);
  t.logit_grad_norm_repulsion = std::sqrt(gR2_all);
  t.max_abs_row_sum = maxrow;
  t.mean_positive_similarity = ps_all / static_cast<double>(M * P);
  t.mean_negative_similarity = ns_all / static_cast<double>(M * (M - V));
  t.alignment = 2.0 - 2.0 * t.mean_positive_similarity;  // ‖z̄_i − z̄_p‖² = 2 − 2 s_ip
  double u = 0.0;
  for (std::int64_t v = 0; v < V; ++v) {
    double uv = 0.0;
    for (std::int64_t x = 0; x < N; ++x) uv += unif[v * N + x];
    u += std::log(uv / static_cast<double>(N * (N - 1)));
  }
  t.uniformity = u / static_cast<double>(V);
  t.grad_norm_attraction = t.grad_norm_repulsion = t.grad_norm_total = std::numeric_limits<double>::quiet_NaN();

  out.per_anchor = Tensor::from_vector(ell, {M}).to(dt);
  out.log_denominator = Tensor::from_vector(logD, {M}).to(dt);
  if (o.keep_logit_grad) out.logit_grad = S.view({M, M}).clone();
  Tensor loss_t = Tensor::scalar(loss, dt);

  // ---- 4. the gradient: dZ̄ = (G + Gᵀ) Z̄ / τ,  df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖
  if (want_grad) {
    // (G + Gᵀ) Z̄ as two GEMMs (Gᵀ is a transposed view, a BLAS flag): measured faster than
    // symmetrising G in place, whose column-strided half is cache-unfriendly.
    Tensor dz = Tensor::empty({1, M, D}, dt);
    backend_for(z).matmul(S, z3, dz, inv_tau, 0.0);
    backend_for(z).matmul(S.as_strided({1, M, M}, {M * M, 1, M}, 0), z3, dz, inv_tau, 1.0);
    Tensor df = Tensor::empty({M, D}, dt);
    const T* pz = z.data<T>();
    const T* pdz = dz.data<T>();
    T* pdf = df.data<T>();
    std::vector<double> nA(M), nR(M), nT(M);
#pragma omp parallel for schedule(static) if (M * D >= kParallelGrain)
    for (std::int64_t i = 0; i < M; ++i) {
      const T* zi = pz + i * D;
      const T* gi = pdz + i * D;
      // attraction alone (sparse): dz̄ᴬ_i = (1/τ) Σ_{p∈P(i)} (Gᴬ_ip + Gᴬ_pi) z̄_p,  Gᴬ_ip = −a_i w_a/|P|
      std::vector<double> gA(static_cast<size_t>(D), 0.0);
      for (std::int64_t v = 0; v < V; ++v) {
        const std::int64_t k = v * N + L.image(i);
        if (k == i) continue;
        const double c = -(a[i] + a[k]) * wa / static_cast<double>(P) * inv_tau;
        for (std::int64_t d = 0; d < D; ++d) gA[d] += c * static_cast<double>(pz[k * D + d]);
      }
      double dot = 0.0, dotA = 0.0;
      for (std::int64_t d = 0; d < D; ++d) {
        dot += static_cast<double>(zi[d]) * static_cast<double>(gi[d]);
        dotA += static_cast<double>(zi[d]) * gA[d];
      }
      const double inv_n = 1.0 / norm[i];
      double sa = 0.0, sr = 0.0, st = 0.0;
      for (std::int64_t d = 0; d < D; ++d) {
        const double g = (static_cast<double>(gi[d]) - static_cast<double>(zi[d]) * dot) * inv_n;  // ∂L/∂f
        const double gAd = (gA[d] - static_cast<double>(zi[d]) * dotA) * inv_n;               // ∂attraction/∂f
        pdf[i * D + d] = static_cast<T>(g);
        st += g * g;
        sa += gAd * gAd;
        sr += (g - gAd) * (g - gAd);
      }
      nA[i] = sa;
      nR[i] = sr;
      nT[i] = st;
    }
    double sa = 0.0, sr = 0.0, st = 0.0;
    for (std::int64_t i = 0; i < M; ++i) {
      sa += nA[i];
      sr += nR[i];
      st += nT[i];
    }
    t.grad_norm_attraction = std::sqrt(sa);
    t.grad_norm_repulsion = std::sqrt(sr);
    t.grad_norm_total = std::sqrt(st);
    out.input_grad = df;
    if (need_grad) {
      // forward: L(f) scalar, ∂L/∂f = df computed above ⇒ backward: g ↦ g · df
      loss_t = autograd::record("balanced_loss_fused", {f_in}, loss_t,
                                [df = autograd::save(df, "balanced_loss_fused")](const Tensor& g) {
                                  return autograd::grads({raw::binary(BinaryOp::mul, df.get(), g)});
                                });
    }
  }
  out.loss = loss_t;
  return out;
}

}  // namespace

BalancedOutput balanced_loss(const Tensor& f, const ViewLayout& L, const BalancedParams& p, const FusedOptions& o) {
  validate(p, L, kWhere);
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), kWhere, "embeddings must be (M, D) with M = N·V = ", L.M(),
               ", got ", shape_str(f.shape()));
  check_embeddings(f, kWhere);
  return dispatch_floating(f.dtype(), kWhere, [&](auto t) { return fused<decltype(t)>(f, L, p, o); });
}

}  // namespace contra::contrastive
