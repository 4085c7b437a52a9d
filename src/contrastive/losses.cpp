// losses.cpp — (D1), (NT) and SupCon L_out as compositions of autograd ops. See losses.h.
#include "contrastive/losses.h"

#include <cmath>
#include <map>

#include "autograd/ops.h"
#include "contrastive/similarity.h"
#include "tensor/error.h"

namespace contra::contrastive {

namespace {
// Λ restricted to the anchors' rows: (m, M); (M, M) when every row is an anchor (layout.h).
void check_logits(const Tensor& logits, std::int64_t m, std::int64_t M, const char* where) {
  CONTRA_CHECK(logits.dim() == 2 && logits.size(0) == m && logits.size(1) == M, where,
               "logits must be (anchors m, keys M) = (", m, ", ", M, "), got ", shape_str(logits.shape()));
}
void check_rows(const Tensor& f, const ViewLayout& L, const char* where) {
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), where, "embeddings must be (M, D) with M = N·V = ", L.M(),
               ", got ", shape_str(f.shape()));
}
}  // namespace

Tensor derived_per_anchor(const Tensor& logits, const ViewLayout& L, double lambda) {
  const char* where = "derived_loss (D1)";
  require_contrastive_batch(L, 2, where);
  check_logits(logits, L.anchor_rows(), L.M(), where);
  CONTRA_CHECK(std::isfinite(lambda) && lambda >= 0.0, where, "λ must be finite and ≥ 0, got ", lambda);
  const Tensor pos = positive_mask(L, logits.dtype());   // 1[k ∈ P(i)]  (m, M)
  const Tensor neg = negative_mask(L, logits.dtype());   // 1[k ∈ N(i)]  (m, M)
  // attraction: −(1/|P(i)|) Σ_p Λ_ip
  const Tensor attract = scale(sum(logits * pos, {1}), -1.0 / static_cast<double>(L.V - 1));
  // repulsion: λ · log Σ_{k∈N(i)} e^{Λ_ik}  (entries outside N(i) set to −∞, stable logsumexp)
  const Tensor repel = logsumexp(masked_fill(logits, 1.0 - neg, -INFINITY), {1});
  return attract + scale(repel, lambda);
}

Tensor derived_loss(const Tensor& f, const ViewLayout& L, double temperature, double lambda) {
  check_rows(f, L, "derived_loss (D1)");
  const Tensor logits = scaled_logits(cosine_similarity_matrix(f), temperature);
  return mean(derived_per_anchor(logits, L, lambda));
}

Tensor nt_xent_per_anchor(const Tensor& logits, const ViewLayout& L) {
  const char* where = "nt_xent (NT)";
  CONTRA_CHECK_HINT(L.V == 2, where, "NT-Xent is SimCLR's two-view loss; for V > 2 use the balanced loss (w_p = 1)",
                    "needs V = 2 views, got V = ", L.V);
  require_contrastive_batch(L, 2, where);
  const std::int64_t m = L.anchor_rows();
  check_logits(logits, m, L.M(), where);
  // Λ with the diagonal removed (k ≠ i): set to −∞ so that it drops out of the softmax
  const Tensor masked = masked_fill(logits, self_mask(L, logits.dtype()), -INFINITY);
  // ℓ_i = −(Λ_ip − log Σ_{k≠i} e^{Λ_ik}),  p = (i + N) mod M,  i = anchor_row(a)
  std::vector<std::int64_t> p(static_cast<size_t>(m));
  for (std::int64_t a = 0; a < m; ++a) p[a] = L.positives(L.anchor_row(a))[0];
  const Tensor target = Tensor::from_vector(p, {m, 1}, logits.device());
  const Tensor picked = reshape(gather(logits, 1, target), {m});                    // Λ_ip
  return logsumexp(masked, {1}) - picked;
}

Tensor nt_xent(const Tensor& f, const ViewLayout& L, double temperature) {
  check_rows(f, L, "nt_xent (NT)");
  const Tensor logits = scaled_logits(cosine_similarity_matrix(f), temperature);
  return mean(nt_xent_per_anchor(logits, L));  // L = (1/2N) Σ_i ℓ_i
}

Tensor supcon_per_anchor(const Tensor& logits, const Tensor& y) {
  CONTRA_CHECK(y.dtype() == DType::i64 && y.dim() == 1, "supcon_loss (L_out)", "row labels must be i64 (M,)");
  std::vector<std::int64_t> every_row(static_cast<size_t>(y.size(0)));
  for (std::int64_t i = 0; i < y.size(0); ++i) every_row[i] = i;
  return supcon_per_anchor(logits, y, every_row);
}

Tensor supcon_per_anchor(const Tensor& logits, const Tensor& y, const std::vector<std::int64_t>& anchors) {
  const char* where = "supcon_loss (L_out)";
  CONTRA_CHECK(y.dtype() == DType::i64 && y.dim() == 1, where, "row labels must be i64 (M,)");
  const std::int64_t M = y.size(0), m = static_cast<std::int64_t>(anchors.size());
  check_logits(logits, m, M, where);
  CONTRA_CHECK_HINT(M >= 2, where, "a batch needs at least 2 rows", "M = ", M, ": the sum over a ≠ i is empty");
  const auto lab = y.to_vector<std::int64_t>();
  std::vector<double> pos(static_cast<size_t>(m * M), 0.0), eye(static_cast<size_t>(m * M), 0.0);
  std::vector<double> inv_count(static_cast<size_t>(m));
  for (std::int64_t a = 0; a < m; ++a) {
    const std::int64_t i = anchors[a];  // anchor a is row i of the M keys
    CONTRA_CHECK(i >= 0 && i < M, where, "anchor row ", i, " outside [0, M = ", M, ")");
    std::int64_t c = 0;
    eye[a * M + i] = 1.0;
    for (std::int64_t k = 0; k < M; ++k)
      if (k != i && lab[k] == lab[i]) {
        pos[a * M + k] = 1.0;
        ++c;
      }
    CONTRA_CHECK_HINT(c > 0, where,
                      "every anchor needs another row of its class: use V ≥ 2 views or a class-balanced sampler",
                      "anchor row ", i, " (class ", lab[i], ") has no positive: P_y(i) is empty, and L_out would be 0/0");
    inv_count[a] = 1.0 / static_cast<double>(c);
  }
  const DType dt = logits.dtype();
  const Device dev = logits.device();  // the masks are built on the host, used on the logits' device
  const Tensor P = Tensor::from_vector(pos, {m, M}, dev).to(dt);         // 1[y_k = y_i, k ≠ i]
  const Tensor I = Tensor::from_vector(eye, {m, M}, dev).to(dt);         // 1[k = i]
  const Tensor w = Tensor::from_vector(inv_count, {m}, dev).to(dt);      // 1/|P_y(i)|
  // log Σ_{a≠i} e^{Λ_ia}
  const Tensor lse = logsumexp(masked_fill(logits, I, -INFINITY), {1});  // (m,)
  // ℓ_i = −(1/|P|) Σ_p (Λ_ip − lse_i) = −(1/|P|) Σ_p Λ_ip + lse_i
  return lse - sum(logits * P, {1}) * w;
}

Tensor supcon_loss(const Tensor& f, const ViewLayout& L, const Tensor& labels, double temperature) {
  check_rows(f, L, "supcon_loss (L_out)");
  const Tensor y = row_labels(labels, L, "supcon_loss (L_out)");
  const Tensor logits = scaled_logits(cosine_similarity_matrix(f), temperature);
  return mean(supcon_per_anchor(logits, y));
}

}  // namespace contra::contrastive
