// balanced_common.cpp — weights, normalisation, telemetry assembly and the normalisation
// backward shared by the full-matrix and the blockwise fused balanced loss (docs/derivation.md §6).
// See balanced_common.h.
#include "contrastive/balanced_common.h"

#include <cmath>
#include <limits>

#include "autograd/ops/record.h"
#include "contrastive/similarity.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::contrastive::detail {

void check_loss_inputs(const Tensor& f, const ViewLayout& L, const BalancedParams& p, const char* where) {
  validate(p, L, where);
  CONTRA_CHECK_HINT(L.all_anchors(), where,
                    "the fused kernels compute every anchor; for local anchors × global keys use the step-by-step "
                    "composition (dist/gathered_loss.h)",
                    "layout restricts the anchors to images [", L.anchor_first, ", ",
                    L.anchor_first + L.n_anchor_images(), ") of N = ", L.N);
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), where, "embeddings must be (M, D) with M = N·V = ", L.M(),
               ", got ", shape_str(f.shape()));
  check_embeddings(f, where);
}

template <typename T>
NormalizedRows normalize_rows(const Tensor& f_in) {
  const Tensor f = f_in.detach().contiguous();
  const std::int64_t M = f.size(0), D = f.size(1);
  NormalizedRows r{Tensor::empty({M, D}, dtype_of<T>::value), std::vector<double>(static_cast<size_t>(M))};
  const T* pf = f.data<T>();
  T* pz = r.z.data<T>();
  double* norm = r.norm.data();
  // z̄_i = f_i / ‖f_i‖, ‖f_i‖ accumulated in double                                   (M, D)
#pragma omp parallel for schedule(static) if (M * D >= kParallelGrain)
  for (std::int64_t i = 0; i < M; ++i) {
    double n2 = 0.0;
    for (std::int64_t d = 0; d < D; ++d) n2 += static_cast<double>(pf[i * D + d]) * static_cast<double>(pf[i * D + d]);
    norm[i] = std::sqrt(n2);
    const double inv = 1.0 / norm[i];
    for (std::int64_t d = 0; d < D; ++d) pz[i * D + d] = static_cast<T>(static_cast<double>(pf[i * D + d]) * inv);
  }
  return r;
}

std::vector<double> anchor_coefficients(const BalancedParams& p, std::int64_t M) {
  std::vector<double> a(static_cast<size_t>(M), 1.0 / static_cast<double>(M));  // a_i = α_i / Σα
  if (p.anchor_weights.defined()) {
    const auto alpha = p.anchor_weights.to_vector<double>();
    double total = 0.0;
    for (double v : alpha) total += v;
    for (std::int64_t i = 0; i < M; ++i) a[i] = alpha[i] / total;
  }
  return a;
}

template <typename T>
PairWeights<T>::PairWeights(const BalancedParams& p, std::int64_t rows) : M(rows) {
  if (!p.pair_weights.defined()) return;
  omega = p.pair_weights.detach().to(dtype_of<T>::value).contiguous();
  per_pair = omega.dim() == 2;
}

void check_denominators(const RowSums& s, const char* where) {
  for (size_t i = 0; i < s.no_denominator.size(); ++i)
    CONTRA_CHECK_HINT(!s.no_denominator[i], where, "give some negative of this anchor a weight ω > 0, or set w_p > 0",
                      "anchor row ", i, " has no entry with W > 0 in its denominator D_i (log 0)");
}

BalancedOutput assemble_output(const RowSums& s, const std::vector<double>& a, const ViewLayout& L,
                               const BalancedParams& p, DType dtype) {
  const std::int64_t M = L.M(), N = L.N, V = L.V;
  const double P = static_cast<double>(V - 1), inv_tau = 1.0 / p.temperature, wa = p.attract, wr = p.repel;
  BalancedOutput out;
  LossTelemetry& t = out.telemetry;
  double loss = 0.0, attr = 0.0, rep = 0.0, ps_all = 0.0, ns_all = 0.0, gA2 = 0.0, gR2 = 0.0, maxrow = 0.0;
  for (std::int64_t i = 0; i < M; ++i) {
    loss += a[i] * s.ell[i];                                // L = Σ a_i ℓ_i
    attr += a[i] * (-wa / P * s.pos_sum[i] * inv_tau);      // Σ a_i A_i
    rep += a[i] * wr * s.log_d[i];                          // Σ a_i w_r log D_i
    ps_all += s.pos_sum[i];
    ns_all += s.neg_sum[i];
    gA2 += P * (a[i] * wa / P) * (a[i] * wa / P);           // ‖Gᴬ‖²: |P| entries −a_i w_a/|P| per row
    gR2 += s.g_rep2[i];
    maxrow = std::max(maxrow, std::abs(s.row_sum[i]));
  }
  t.loss = loss;
  t.attraction = attr;
  t.repulsion = rep;
  t.logit_grad_norm_attraction = std::sqrt(gA2);
  t.logit_grad_norm_repulsion = std::sqrt(gR2);
  t.max_abs_row_sum = maxrow;
  t.mean_positive_similarity = ps_all / static_cast<double>(M * (V - 1));
  t.mean_negative_similarity = ns_all / static_cast<double>(M * (M - V));
  t.alignment = 2.0 - 2.0 * t.mean_positive_similarity;  // ‖z̄_i − z̄_p‖² = 2 − 2 s_ip
  // uniformity: per view v, log mean_{i≠j in view v} e^{−2‖z̄_i − z̄_j‖²}, averaged over views
  double u = 0.0;
  for (std::int64_t v = 0; v < V; ++v) {
    double uv = 0.0;
    for (std::int64_t x = 0; x < N; ++x) uv += s.uniformity[v * N + x];
    u += std::log(uv / static_cast<double>(N * (N - 1)));
  }
  t.uniformity = u / static_cast<double>(V);
  t.grad_norm_attraction = t.grad_norm_repulsion = t.grad_norm_total = std::numeric_limits<double>::quiet_NaN();
  out.loss = Tensor::scalar(loss, dtype);
  out.per_anchor = Tensor::from_vector(s.ell, {M}).to(dtype);
  out.log_denominator = Tensor::from_vector(s.log_d, {M}).to(dtype);
  return out;
}

template <typename T>
void finish_gradient(const Tensor& f_in, const NormalizedRows& rows, const Tensor& dz, const std::vector<double>& a,
                     const ViewLayout& L, const BalancedParams& p, bool record_node, const char* node_name,
                     BalancedOutput& out) {
  const std::int64_t M = L.M(), N = L.N, V = L.V, D = rows.z.size(1);
  const double P = static_cast<double>(V - 1), inv_tau = 1.0 / p.temperature, wa = p.attract;
  Tensor df = Tensor::empty({M, D}, dtype_of<T>::value);
  const T* pz = rows.z.data<T>();
  const T* pdz = dz.data<T>();
  T* pdf = df.data<T>();
  const double* norm = rows.norm.data();
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
      const double c = -(a[i] + a[k]) * wa / P * inv_tau;
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
  LossTelemetry& t = out.telemetry;
  t.grad_norm_attraction = std::sqrt(sa);
  t.grad_norm_repulsion = std::sqrt(sr);
  t.grad_norm_total = std::sqrt(st);
  out.input_grad = df;
  if (record_node) {
    // forward: L(f) scalar, ∂L/∂f = df computed above ⇒ backward: g ↦ g · df
    out.loss = autograd::record(node_name, {f_in}, out.loss, [df = autograd::save(df, node_name)](const Tensor& g) {
      return autograd::grads({raw::binary(BinaryOp::mul, df.get(), g)});
    });
  }
}

template NormalizedRows normalize_rows<float>(const Tensor&);
template NormalizedRows normalize_rows<double>(const Tensor&);
template struct PairWeights<float>;
template struct PairWeights<double>;
template void finish_gradient<float>(const Tensor&, const NormalizedRows&, const Tensor&, const std::vector<double>&,
                                     const ViewLayout&, const BalancedParams&, bool, const char*, BalancedOutput&);
template void finish_gradient<double>(const Tensor&, const NormalizedRows&, const Tensor&, const std::vector<double>&,
                                      const ViewLayout&, const BalancedParams&, bool, const char*, BalancedOutput&);

}  // namespace contra::contrastive::detail
