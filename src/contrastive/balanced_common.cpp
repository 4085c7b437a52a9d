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
  NormalizedRows r{Tensor::empty({M, D}, dtype_of<T>::value, f.device()), Tensor::empty({M}, DType::f64, f.device())};
  // z̄_i = f_i / ‖f_i‖, ‖f_i‖ accumulated in double (Backend::contrastive_normalize_rows)   (M, D)
  backend_for(f).contrastive_normalize_rows(f, r.z, r.norm);
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
PairWeights<T>::PairWeights(const BalancedParams& p, std::int64_t) {
  if (!p.pair_weights.defined()) return;
  omega = p.pair_weights.detach().to(dtype_of<T>::value).contiguous();  // on the caller's device (the embeddings')
}

Backend::ContrastiveRowParams row_params(const ViewLayout& L, const BalancedParams& p) {
  Backend::ContrastiveRowParams rp;
  rp.N = L.N;
  rp.V = L.V;
  rp.inv_tau = 1.0 / p.temperature;
  rp.positive_weight = p.positive_weight;
  rp.attract = p.attract;
  rp.repel = p.repel;
  return rp;
}

RowSums row_sums_from_stats(const Tensor& stats) {
  const std::int64_t M = stats.size(0), C = Backend::row_stat_count;
  const std::vector<double> st = stats.to_vector<double>();  // one host read
  RowSums s(M);
  for (std::int64_t i = 0; i < M; ++i) {
    const double* r = st.data() + i * C;
    s.ell[i] = r[Backend::stat_ell];
    s.log_d[i] = r[Backend::stat_log_d];
    s.pos_sum[i] = r[Backend::stat_pos_sum];
    s.neg_sum[i] = r[Backend::stat_neg_sum];
    s.uniformity[i] = r[Backend::stat_uniformity];
    s.g_rep2[i] = r[Backend::stat_g_rep2];
    s.row_sum[i] = r[Backend::stat_row_sum];
    s.no_denominator[i] = r[Backend::stat_no_denominator] != 0.0 ? 1 : 0;
  }
  return s;
}

void check_denominators(const RowSums& s, const char* where) {
  for (size_t i = 0; i < s.no_denominator.size(); ++i)
    CONTRA_CHECK_HINT(!s.no_denominator[i], where, "give some negative of this anchor a weight ω > 0, or set w_p > 0",
                      "anchor row ", i, " has no entry with W > 0 in its denominator D_i (log 0)");
}

BalancedOutput assemble_output(const RowSums& s, const std::vector<double>& a, const ViewLayout& L,
                               const BalancedParams& p, DType dtype, Device device) {
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
  out.loss = Tensor::scalar(loss, dtype, device);
  out.per_anchor = Tensor::from_vector(s.ell, {M}, device).to(dtype);
  out.log_denominator = Tensor::from_vector(s.log_d, {M}, device).to(dtype);
  return out;
}

template <typename T>
void finish_gradient(const Tensor& f_in, const NormalizedRows& rows, const Tensor& dz, const std::vector<double>& a,
                     const ViewLayout& L, const BalancedParams& p, bool record_node, const char* node_name,
                     BalancedOutput& out) {
  const std::int64_t M = L.M(), D = rows.z.size(1);
  // df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖, and per row ‖dfᴬ_i‖², ‖df_i − dfᴬ_i‖², ‖df_i‖² with
  // the attraction part alone (sparse): dz̄ᴬ_i = (1/τ) Σ_{p∈P(i)} (Gᴬ_ip + Gᴬ_pi) z̄_p,
  // Gᴬ_ip = −a_i w_a/|P|  (Backend::contrastive_normalize_backward)
  const Device device = rows.z.device();
  Tensor df = Tensor::empty({M, D}, dtype_of<T>::value, device);
  const Tensor norms = Tensor::empty({M, 3}, DType::f64, device);
  backend_for(rows.z).contrastive_normalize_backward(rows.z, dz.view({M, D}), rows.norm,
                                                     Tensor::from_vector(a, {M}, device), row_params(L, p), df, norms);
  const std::vector<double> n = norms.to_vector<double>();  // one host read
  double sa = 0.0, sr = 0.0, st = 0.0;
  for (std::int64_t i = 0; i < M; ++i) {  // fixed order: deterministic for any thread count
    sa += n[i * 3 + 0];
    sr += n[i * 3 + 1];
    st += n[i * 3 + 2];
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
