// prototypes.cpp — (S1)–(S4), the two prototype readings and the smooth max (B2). See prototypes.h.
#include "contrastive/prototypes.h"

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "contrastive/similarity.h"
#include "tensor/error.h"

namespace contra::contrastive {

PrototypeReading prototype_reading_from_name(const std::string& name) {
  if (name == "inner") return PrototypeReading::inner_product;
  if (name == "cosine") return PrototypeReading::cosine;
  throw Error("prototype reading", "unknown reading \"" + name + "\"",
              "valid: inner (z̄·μ, μ = mean of z̄), cosine (s(f, m), m = mean of f)");
}

const char* prototype_reading_name(PrototypeReading r) {
  return r == PrototypeReading::inner_product ? "inner" : "cosine";
}

Tensor prototype_inputs(const Tensor& f, PrototypeReading r) {
  // inner product: prototypes average z̄ = f/‖f‖; cosine: they average f itself
  return r == PrototypeReading::inner_product ? normalize_embeddings(f) : f;
}

Tensor scored_prototypes(const Tensor& mu, PrototypeReading r, const std::vector<bool>& keep) {
  if (r == PrototypeReading::inner_product) return mu;  // score z̄·μ
  const char* where = "scored_prototypes (cosine reading)";
  CONTRA_CHECK(mu.dim() == 2, where, "prototypes must be (K, D), got ", shape_str(mu.shape()));
  const Tensor n2 = sum(mu * mu, {1}, true);  // ‖m_c‖²   (K, 1)
  const auto nv = n2.detach().to_vector<double>();
  std::vector<double> shift(nv.size(), 0.0);
  for (size_t c = 0; c < nv.size(); ++c) {
    if (!keep.empty() && !keep[c]) {
      shift[c] = 1.0;  // an absent row (m = 0) is divided by √(0 + 1): finite value and gradient
      continue;
    }
    CONTRA_CHECK_HINT(std::sqrt(nv[c]) > kMinEmbeddingNorm, where,
                      "the outputs averaged into this prototype cancel; use the inner-product reading",
                      "prototype ", c, " is the zero vector (‖m‖ = ", std::sqrt(nv[c]),
                      "): its direction m/‖m‖ is undefined");
  }
  // score s(f, m) = z̄·m/‖m‖
  return mu / sqrt(n2 + Tensor::from_vector(shift, {static_cast<std::int64_t>(nv.size()), 1}, mu.device()).to(mu.dtype()));
}

ClassPrototypes class_prototypes(const Tensor& z, const Tensor& row_labels, std::int64_t C) {
  const char* where = "class_prototypes (S2)";
  CONTRA_CHECK(z.dim() == 2, where, "z must be (M, D), got ", shape_str(z.shape()));
  CONTRA_CHECK(row_labels.dtype() == DType::i64 && row_labels.dim() == 1 && row_labels.size(0) == z.size(0), where,
               "row labels must be i64 (M,) = (", z.size(0), ",)");
  const std::int64_t M = z.size(0);
  const auto y = row_labels.to_vector<std::int64_t>();
  const std::int64_t max_label = *std::max_element(y.begin(), y.end());
  if (C <= 0) C = max_label + 1;
  CONTRA_CHECK(max_label < C, where, "label ", max_label, " is out of range for ", C, " classes");
  ClassPrototypes p;
  p.count.assign(static_cast<size_t>(C), 0);
  for (auto v : y) ++p.count[v];
  // μ = A Z̄ with A_cr = 1[y_r = c] / count_c   (C, M)·(M, D)
  std::vector<double> a(static_cast<size_t>(C * M), 0.0);
  for (std::int64_t r = 0; r < M; ++r) a[y[r] * M + r] = 1.0 / static_cast<double>(p.count[y[r]]);
  p.mu = matmul(Tensor::from_vector(a, {C, M}, z.device()).to(z.dtype()), z);
  for (std::int64_t c = 0; c < C; ++c) p.present.push_back(p.count[c] > 0);
  return p;
}

RunningPrototypes::RunningPrototypes(std::int64_t C, std::int64_t D, double momentum)
    : C_(C), D_(D), momentum_(momentum), mu_(static_cast<size_t>(C * D), 0.0), seen_(static_cast<size_t>(C), 0) {
  CONTRA_CHECK(C >= 1 && D >= 1, "RunningPrototypes", "needs C ≥ 1 classes and D ≥ 1, got ", C, ", ", D);
  CONTRA_CHECK(momentum > 0.0 && momentum <= 1.0, "RunningPrototypes", "momentum must lie in (0, 1], got ", momentum);
}

void RunningPrototypes::update(const Tensor& z, const Tensor& row_labels) {
  CONTRA_CHECK(z.dim() == 2 && z.size(1) == D_, "RunningPrototypes::update", "z must be (M, ", D_, "), got ",
               shape_str(z.shape()));
  const auto y = row_labels.to_vector<std::int64_t>();
  const auto zv = z.detach().to_vector<double>();
  const std::int64_t M = z.size(0);
  CONTRA_CHECK(static_cast<std::int64_t>(y.size()) == M, "RunningPrototypes::update", "need one label per row");
  std::vector<double> bm(static_cast<size_t>(C_ * D_), 0.0);
  std::vector<std::int64_t> cnt(static_cast<size_t>(C_), 0);
  for (std::int64_t r = 0; r < M; ++r) {
    CONTRA_CHECK(y[r] >= 0 && y[r] < C_, "RunningPrototypes::update", "label ", y[r], " out of range for ", C_, " classes");
    ++cnt[y[r]];
    for (std::int64_t d = 0; d < D_; ++d) bm[y[r] * D_ + d] += zv[r * D_ + d];
  }
  for (std::int64_t c = 0; c < C_; ++c) {
    if (cnt[c] == 0) continue;
    const double m = seen_[c] == 0 ? 1.0 : momentum_;  // μ_c ← (1−m) μ_c + m · batch mean
    for (std::int64_t d = 0; d < D_; ++d)
      mu_[c * D_ + d] = (1.0 - m) * mu_[c * D_ + d] + m * bm[c * D_ + d] / static_cast<double>(cnt[c]);
    ++seen_[c];
  }
}

ClassPrototypes RunningPrototypes::prototypes(DType dtype) const {
  ClassPrototypes p;
  p.mu = Tensor::from_vector(mu_, {C_, D_}).to(dtype);
  for (std::int64_t c = 0; c < C_; ++c) {
    p.present.push_back(seen_[c] > 0);
    p.count.push_back(seen_[c]);
  }
  return p;
}

Tensor supervised_prototype_per_anchor(const Tensor& z, const Tensor& row_labels, const ClassPrototypes& protos,
                                       double lambda) {
  const char* where = "supervised_prototype_loss (S1)";
  CONTRA_CHECK(std::isfinite(lambda) && lambda >= 0.0, where, "λ must be finite and ≥ 0, got ", lambda);
  const std::int64_t M = z.size(0), C = protos.mu.size(0);
  const auto y = row_labels.to_vector<std::int64_t>();
  std::vector<double> own(static_cast<size_t>(M * C), 0.0), excluded(static_cast<size_t>(M * C), 0.0);
  for (std::int64_t r = 0; r < M; ++r) {
    CONTRA_CHECK(y[r] >= 0 && y[r] < C, where, "row ", r, ": label ", y[r], " out of range for ", C, " prototypes");
    CONTRA_CHECK_HINT(protos.present[y[r]], where, "update the running prototypes with this class first",
                      "row ", r, ": class ", y[r], " has no prototype μ_y");
    bool other = false;
    for (std::int64_t c = 0; c < C; ++c) {
      if (c == y[r]) own[r * C + c] = 1.0;
      if (c == y[r] || !protos.present[c]) excluded[r * C + c] = 1.0;
      else other = true;
    }
    CONTRA_CHECK_HINT(other, where, "the batch needs at least two classes",
                      "row ", r, " (class ", y[r], "): no other class has a prototype, max_{c≠y} is empty");
  }
  const DType dt = z.dtype();
  const Tensor scores = matmul(z, transpose(protos.mu.to(dt), 0, 1));          // z̄·μ_c   (M, C)
  const Tensor attract = sum(scores * Tensor::from_vector(own, {M, C}, scores.device()).to(dt), {1});  // z̄·μ_y  (M,)
  const Tensor repel =
      max(masked_fill(scores, Tensor::from_vector(excluded, {M, C}, scores.device()).to(dt), -INFINITY), {1});
  return scale(repel, lambda) - attract;  // − z̄·μ_y + λ max_{c≠y} z̄·μ_c
}

Tensor supervised_prototype_loss(const Tensor& f, const ViewLayout& L, const Tensor& labels, double lambda,
                                 const RunningPrototypes* running, PrototypeReading reading) {
  const char* where = "supervised_prototype_loss (S1)";
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), where, "embeddings must be (M, D) with M = ", L.M(), ", got ",
               shape_str(f.shape()));
  const Tensor y = row_labels(labels, L, where);
  const Tensor z = normalize_embeddings(f);
  ClassPrototypes protos = running ? running->prototypes(z.dtype()) : class_prototypes(prototype_inputs(f, reading), y);
  protos.mu = scored_prototypes(protos.mu, reading, protos.present);  // μ_c or m_c/‖m_c‖
  return mean(supervised_prototype_per_anchor(z, y, protos, lambda));
}

Tensor instance_prototypes(const Tensor& z, const ViewLayout& L) {
  CONTRA_CHECK(z.dim() == 2 && z.size(0) == L.M(), "instance_prototypes (S3)", "z must be (M, D) with M = ", L.M(),
               ", got ", shape_str(z.shape()));
  // view-major rows: (M, D) = (V, N, D); μ_x = (1/V) Σ_v z̄_{v,x}
  return mean(reshape(z, {L.V, L.N, z.size(1)}), {0});  // (N, D)
}

Tensor prototype_scores(const Tensor& z, const Tensor& mu) { return matmul(z, transpose(mu, 0, 1)); }

namespace {
// 1 where the column is the row's own image (M, N), and its complement.
Tensor own_image_mask(const ViewLayout& L, DType dt) {
  std::vector<double> m(static_cast<size_t>(L.M() * L.N), 0.0);
  for (std::int64_t r = 0; r < L.M(); ++r) m[r * L.N + L.image(r)] = 1.0;
  return Tensor::from_vector(m, {L.M(), L.N}).to(dt);
}
}  // namespace

Tensor instance_prototype_scores(const Tensor& f, const ViewLayout& L, PrototypeReading reading) {
  CONTRA_CHECK(f.dim() == 2 && f.size(0) == L.M(), "instance_prototype_scores (S3)",
               "embeddings must be (M, D) with M = ", L.M(), ", got ", shape_str(f.shape()));
  const Tensor z = normalize_embeddings(f);                                        // z̄        (M, D)
  const Tensor mu = scored_prototypes(instance_prototypes(prototype_inputs(f, reading), L), reading);  // (N, D)
  return prototype_scores(z, mu);                                                  // z̄_r·μ_x' (M, N)
}

Tensor ssl_per_anchor_from_scores(const Tensor& scores, const ViewLayout& L, double lambda) {
  const char* where = "ssl_prototype_loss (S4)";
  require_contrastive_batch(L, 1, where);
  CONTRA_CHECK(std::isfinite(lambda) && lambda >= 0.0, where, "λ must be finite and ≥ 0, got ", lambda);
  CONTRA_CHECK(scores.dim() == 2 && scores.size(0) == L.M() && scores.size(1) == L.N, where,
               "scores must be (M, N) = (", L.M(), ", ", L.N, "), got ", shape_str(scores.shape()));
  const Tensor own = own_image_mask(L, scores.dtype());
  const Tensor attract = sum(scores * own, {1});                         // s_{r,x}     (M,)
  const Tensor repel = max(masked_fill(scores, own, -INFINITY), {1});   // max_{x'≠x} (M,)
  return scale(repel, lambda) - attract;
}

Tensor ssl_prototype_per_anchor(const Tensor& z, const ViewLayout& L, double lambda) {
  require_contrastive_batch(L, 1, "ssl_prototype_loss (S4)");
  return ssl_per_anchor_from_scores(prototype_scores(z, instance_prototypes(z, L)), L, lambda);  // z̄_r·μ_x'
}

Tensor ssl_prototype_loss(const Tensor& f, const ViewLayout& L, double lambda, PrototypeReading reading) {
  require_contrastive_batch(L, 1, "ssl_prototype_loss (S4)");
  return mean(ssl_per_anchor_from_scores(instance_prototype_scores(f, L, reading), L, lambda));
}

Tensor smooth_max(const Tensor& a, double temperature, std::int64_t axis) {
  check_temperature(temperature, "smooth_max (B2)");
  // τ · log Σ_j e^{a_j/τ}
  return scale(logsumexp(scale(a, 1.0 / temperature), {axis}), temperature);
}

Tensor ssl_smoothed_per_anchor(const Tensor& z, const ViewLayout& L, double lambda, double temperature) {
  const char* where = "ssl_smoothed (B2)";
  require_contrastive_batch(L, 1, where);
  check_temperature(temperature, where);
  const Tensor scores = scale(prototype_scores(z, instance_prototypes(z, L)), 1.0 / temperature);  // (M, N)
  const Tensor own = own_image_mask(L, z.dtype());
  // − z̄·μ_x/τ + λ · log Σ_{x'≠x} e^{z̄·μ_x'/τ}
  return scale(logsumexp(masked_fill(scores, own, -INFINITY), {1}), lambda) - sum(scores * own, {1});
}

}  // namespace contra::contrastive
