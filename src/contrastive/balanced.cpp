// balanced.cpp — the balanced loss of docs/derivation.md §6 as a composition of autograd ops.
// See balanced.h for the formula; every function quotes the line it computes.
#include "contrastive/balanced.h"

#include <cmath>
#include <vector>
#include <limits>

#include "autograd/ops.h"
#include "contrastive/similarity.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {
// Every entry of w finite and ≥ 0 (read to the host once: small weight vectors); returns Σ w.
double check_finite_nonnegative(const Tensor& w, const char* where, const char* what) {
  dispatch_floating(w.dtype(), where, [](auto) {});  // floating dtypes only
  const std::vector<double> p = w.detach().to_vector<double>();
  double total = 0.0;
  for (size_t j = 0; j < p.size(); ++j) {
    const double v = p[j];
    CONTRA_CHECK(std::isfinite(v) && v >= 0.0, where, what, " must be finite and ≥ 0, found ", v, " at flat index ", j);
    total += v;
  }
  return total;
}
}  // namespace

void validate(const BalancedParams& p, const ViewLayout& L, const char* where) {
  check_temperature(p.temperature, where);
  CONTRA_CHECK(std::isfinite(p.attract) && p.attract >= 0.0, where, "attraction weight w_a (ν) must be finite and ≥ 0, got ",
               p.attract);
  CONTRA_CHECK(std::isfinite(p.repel) && p.repel >= 0.0, where, "repulsion weight w_r (β) must be finite and ≥ 0, got ",
               p.repel);
  CONTRA_CHECK(p.positive_weight >= 0.0 && p.positive_weight <= 1.0, where,
               "positive weight w_p must lie in [0, 1], got ", p.positive_weight);
  require_contrastive_batch(L, 2, where);
  const std::int64_t M = L.M();
  if (p.pair_weights.defined()) {
    const Tensor& w = p.pair_weights;
    CONTRA_CHECK(w.dim() >= 1 && w.dim() <= 2 && w.size(-1) == M && (w.dim() == 1 || w.size(0) == M), where,
                 "pair weights ω must be (M, M) = (", M, ", ", M, ") or (M,), got ", shape_str(w.shape()));
    check_finite_nonnegative(w, where, "pair weights ω");
  }
  if (p.anchor_weights.defined()) {
    const Tensor& a = p.anchor_weights;
    CONTRA_CHECK(a.dim() == 1 && a.size(0) == M, where, "anchor weights α must be (M,) = (", M, ",), got ",
                 shape_str(a.shape()));
    const double total = check_finite_nonnegative(a, where, "anchor weights α");
    CONTRA_CHECK(total > 0.0, where, "anchor weights α sum to 0: L = Σα_iℓ_i / Σα_i is undefined");
  }
}

Tensor balanced_attraction(const Tensor& logits, const ViewLayout& L, const BalancedParams& p) {
  validate(p, L, "balanced_attraction");
  CONTRA_CHECK(logits.dim() == 2 && logits.size(0) == L.anchor_rows() && logits.size(1) == L.M(),
               "balanced_attraction", "logits must be (anchors m, keys M) = (", L.anchor_rows(), ", ", L.M(),
               "), got ", shape_str(logits.shape()));
  // A_i = − w_a · (1/|P(i)|) Σ_{p∈P(i)} Λ_ip,  |P(i)| = V − 1
  const Tensor pos = positive_mask(L, logits.dtype());                              // (m, M)
  return scale(sum(logits * pos, {1}), -p.attract / static_cast<double>(L.V - 1));  // (m,)
}

Tensor balanced_log_weights(const ViewLayout& L, const BalancedParams& p, DType dtype) {
  const std::int64_t M = L.M(), m = L.anchor_rows();
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> omega;
  const bool per_pair = p.pair_weights.defined() && p.pair_weights.dim() == 2;
  if (p.pair_weights.defined()) omega = p.pair_weights.to_vector<double>();
  std::vector<double> lw(static_cast<size_t>(m * M), ninf);  // row a: anchor row i = anchor_row(a)
  for (std::int64_t a = 0; a < m; ++a) {
    const std::int64_t i = L.anchor_row(a);
    bool any = false;
    for (std::int64_t k = 0; k < M; ++k) {
      double w = 0.0;
      if (k == i) w = 0.0;
      else if (L.same_image(i, k)) w = p.positive_weight;                      // W_ip = w_p
      else w = omega.empty() ? 1.0 : omega[static_cast<size_t>(per_pair ? i * M + k : k)];  // W_ik = ω_ik
      if (w > 0.0) {
        lw[static_cast<size_t>(a * M + k)] = std::log(w);
        any = true;
      }
    }
    CONTRA_CHECK_HINT(any, "balanced loss", "give some negative of this anchor a weight ω > 0, or set w_p > 0",
                      "anchor row ", i, " has no entry with W > 0 in its denominator D_i (log 0)");
  }
  return Tensor::from_vector(lw, {m, M}).to(dtype);
}

Tensor balanced_log_denominator(const Tensor& logits, const ViewLayout& L, const BalancedParams& p) {
  validate(p, L, "balanced_log_denominator");
  CONTRA_CHECK(logits.dim() == 2 && logits.size(0) == L.anchor_rows() && logits.size(1) == L.M(),
               "balanced_log_denominator", "logits must be (anchors m, keys M) = (", L.anchor_rows(), ", ", L.M(),
               "), got ", shape_str(logits.shape()));
  // log D_i = log Σ_k W_ik e^{Λ_ik} = logsumexp_k (Λ_ik + log W_ik)   (stable: row max inside)
  return logsumexp(logits + balanced_log_weights(L, p, logits.dtype()), {1});  // (m,)
}

Tensor balanced_per_anchor(const Tensor& logits, const ViewLayout& L, const BalancedParams& p) {
  // ℓ_i = A_i + w_r · log D_i
  return balanced_attraction(logits, L, p) + scale(balanced_log_denominator(logits, L, p), p.repel);
}

Tensor anchor_weighted_mean(const Tensor& per_anchor, const Tensor& alpha) {
  if (!alpha.defined()) return mean(per_anchor);  // L = (1/M) Σ ℓ_i
  const Tensor a = alpha.to(per_anchor.dtype()).detach();
  return sum(per_anchor * a) / sum(a);             // L = Σ α_i ℓ_i / Σ α_i
}

BalancedSteps balanced_loss_steps(const Tensor& f, const ViewLayout& L, const BalancedParams& p) {
  validate(p, L, "balanced_loss_reference");
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), "balanced_loss_reference", "embeddings must be (M, D) with M = ",
               L.M(), ", got ", shape_str(f.shape()));
  BalancedSteps s;
  s.z = normalize_embeddings(f);                         // z̄ = f/‖f‖        (M, D)
  s.similarities = similarity_matrix(s.z);               // S = Z̄Z̄ᵀ         (M, M)
  s.logits = scaled_logits(s.similarities, p.temperature);  // Λ = S/τ      (M, M)
  s.attraction = balanced_attraction(s.logits, L, p);    // A_i             (M,)
  s.log_denominator = balanced_log_denominator(s.logits, L, p);  // log D_i (M,)
  s.per_anchor = s.attraction + scale(s.log_denominator, p.repel);  // ℓ_i  (M,)
  s.loss = anchor_weighted_mean(s.per_anchor, p.anchor_weights);     // L    ()
  return s;
}

Tensor balanced_loss_reference(const Tensor& f, const ViewLayout& L, const BalancedParams& p) {
  return balanced_loss_steps(f, L, p).loss;
}

}  // namespace contra::contrastive
