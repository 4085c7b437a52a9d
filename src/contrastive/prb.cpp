// prb.cpp — prototype representation bias (docs/derivation.md §3). See prb.h.
#include "contrastive/prb.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "contrastive/similarity.h"
#include "tensor/error.h"

namespace contra::contrastive {

PrbReport prototype_representation_bias(const Tensor& emb, std::int64_t views, const Tensor& labels,
                                        PrbWeighting weighting) {
  const char* where = "prototype_representation_bias (docs/derivation.md §3)";
  CONTRA_CHECK(emb.defined() && (emb.dim() == 2 || emb.dim() == 3), where,
               "embeddings must be (K, N, D) or (K·N, D) view-major, got ",
               emb.defined() ? shape_str(emb.shape()) : std::string("undefined"));
  Tensor f = emb;
  std::int64_t K = views;
  if (emb.dim() == 3) {
    CONTRA_CHECK(views <= 0 || views == emb.size(0), where, "views = ", views, " but embeddings are ",
                 shape_str(emb.shape()));
    K = emb.size(0);
    f = emb.detach().contiguous().view({emb.size(0) * emb.size(1), emb.size(2)});
  }
  CONTRA_CHECK(K >= 1, where, "K views per image must be ≥ 1, got ", K);
  CONTRA_CHECK(f.size(0) % K == 0, where, f.size(0), " rows are not divisible by K = ", K, " views");
  check_embeddings(f, where);
  const std::int64_t N = f.size(0) / K, D = f.size(1);
  CONTRA_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == N, where, "labels must be (N,) = (", N,
               ",), got ", labels.defined() ? shape_str(labels.shape()) : std::string("undefined"));
  std::vector<std::int64_t> y;
  for (double v : labels.to_vector<double>()) {
    CONTRA_CHECK(v >= 0 && v == std::floor(v), where, "labels must be integers ≥ 0, got ", v);
    y.push_back(static_cast<std::int64_t>(v));
  }
  const auto fv = f.to_vector<double>();

  // μ_x = (1/K) Σ_k z̄_{k,x},  m_x = (1/K) Σ_k f_{k,x}                 (N, D)
  std::vector<double> mu_x(static_cast<size_t>(N * D), 0.0), m_x(static_cast<size_t>(N * D), 0.0);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t x = 0; x < N; ++x) {
      const double* r = fv.data() + (k * N + x) * D;
      double n2 = 0.0;
      for (std::int64_t d = 0; d < D; ++d) n2 += r[d] * r[d];
      const double inv = 1.0 / (std::sqrt(n2) * static_cast<double>(K));
      for (std::int64_t d = 0; d < D; ++d) {
        mu_x[x * D + d] += r[d] * inv;
        m_x[x * D + d] += r[d] / static_cast<double>(K);
      }
    }
  // μ_y = mean of μ_x over class y, m_y = mean of m_x over class y     (C, D)
  std::map<std::int64_t, std::vector<std::int64_t>> members;
  for (std::int64_t x = 0; x < N; ++x) members[y[x]].push_back(x);
  auto class_means = [&](const std::vector<double>& per_image) {
    std::map<std::int64_t, std::vector<double>> out;
    for (const auto& [c, xs] : members) {
      std::vector<double> m(static_cast<size_t>(D), 0.0);
      for (auto x : xs)
        for (std::int64_t d = 0; d < D; ++d) m[d] += per_image[x * D + d] / static_cast<double>(xs.size());
      out[c] = m;
    }
    return out;
  };
  const auto mu_y = class_means(mu_x), m_y = class_means(m_x);
  auto norm = [&](const double* v) {
    double s = 0.0;
    for (std::int64_t d = 0; d < D; ++d) s += v[d] * v[d];
    return std::sqrt(s);
  };

  PrbReport R;
  R.K = K;
  R.N = N;
  R.D = D;
  R.weighting = weighting;
  R.per_image_raw.resize(N);
  R.per_image_normalised.resize(N);
  R.per_image_cosine.resize(N);
  for (std::int64_t x = 0; x < N; ++x) {
    const double* mx = mu_x.data() + x * D;
    const double* my = mu_y.at(y[x]).data();
    const double* fx = m_x.data() + x * D;
    const double* fy = m_y.at(y[x]).data();
    const double nx = norm(mx), ny = norm(my), gx = norm(fx), gy = norm(fy);
    CONTRA_CHECK(nx > 0.0 && gx > 0.0, where, "image ", x, ": its K = ", K,
                 " views cancel (‖μ_x‖ = 0 or ‖m_x‖ = 0), the normalised bias is undefined");
    CONTRA_CHECK(ny > 0.0 && gy > 0.0, where, "class ", y[x], ": ‖μ_y‖ = 0 or ‖m_y‖ = 0, the normalised bias is undefined");
    double raw = 0.0, nrm = 0.0, cos = 0.0;
    for (std::int64_t d = 0; d < D; ++d) {
      raw += (my[d] - mx[d]) * (my[d] - mx[d]);                    // ‖μ_y − μ_x‖²
      const double e = my[d] / ny - mx[d] / nx;                    // μ_y/‖μ_y‖ − μ_x/‖μ_x‖
      nrm += e * e;
      const double c = fy[d] / gy - fx[d] / gx;                    // m_y/‖m_y‖ − m_x/‖m_x‖
      cos += c * c;
    }
    R.per_image_raw[x] = std::sqrt(raw);
    R.per_image_normalised[x] = std::sqrt(nrm);
    R.per_image_cosine[x] = std::sqrt(cos);
    R.raw_image_weighted += R.per_image_raw[x] / static_cast<double>(N);
    R.normalised_image_weighted += R.per_image_normalised[x] / static_cast<double>(N);
    R.cosine_image_weighted += R.per_image_cosine[x] / static_cast<double>(N);
  }
  for (const auto& [c, xs] : members) {
    PrbClass pc;
    pc.label = c;
    pc.images = static_cast<std::int64_t>(xs.size());
    for (auto x : xs) {
      pc.raw += R.per_image_raw[x] / static_cast<double>(xs.size());
      pc.normalised += R.per_image_normalised[x] / static_cast<double>(xs.size());
      pc.cosine += R.per_image_cosine[x] / static_cast<double>(xs.size());
    }
    R.raw_class_weighted += pc.raw / static_cast<double>(members.size());
    R.normalised_class_weighted += pc.normalised / static_cast<double>(members.size());
    R.cosine_class_weighted += pc.cosine / static_cast<double>(members.size());
    R.per_class.push_back(pc);
  }
  R.raw = weighting == PrbWeighting::images ? R.raw_image_weighted : R.raw_class_weighted;
  R.normalised = weighting == PrbWeighting::images ? R.normalised_image_weighted : R.normalised_class_weighted;
  R.cosine = weighting == PrbWeighting::images ? R.cosine_image_weighted : R.cosine_class_weighted;
  return R;
}

std::string format_prb(const PrbReport& R) {
  std::string s;
  char buf[256];
  std::snprintf(buf, sizeof buf, "PRB over N=%lld images, K=%lld views, D=%lld\n", static_cast<long long>(R.N),
                static_cast<long long>(R.K), static_cast<long long>(R.D));
  s += buf;
  s += "  class  images  raw ‖μ_y−μ_x‖     normalised       cosine ‖m̂_y−m̂_x‖\n";
  for (const auto& c : R.per_class) {
    std::snprintf(buf, sizeof buf, "  %5lld  %6lld  %.10g  %.10g  %.10g\n", static_cast<long long>(c.label),
                  static_cast<long long>(c.images), c.raw, c.normalised, c.cosine);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "  overall (images weighted equally): raw %.10g, normalised %.10g, cosine %.10g\n",
                R.raw_image_weighted, R.normalised_image_weighted, R.cosine_image_weighted);
  s += buf;
  std::snprintf(buf, sizeof buf, "  overall (classes weighted equally): raw %.10g, normalised %.10g, cosine %.10g\n",
                R.raw_class_weighted, R.normalised_class_weighted, R.cosine_class_weighted);
  s += buf;
  return s;
}

}  // namespace contra::contrastive
