// common.h — helpers shared by the contrastive test suites.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace contra_test {

using namespace contra;
using namespace contra::contrastive;

// Standard-normal embeddings (M, D), seeded: well-conditioned (no ties, no tiny norms).
inline Tensor random_embeddings(std::int64_t M, std::int64_t D, std::uint64_t seed, DType dt = DType::f64) {
  Generator g(seed);
  return Tensor::randn({M, D}, g, DType::f64).to(dt);
}

// Embeddings where the views of an image are noisy copies of an image centre: positives
// are similar, as after training (spread controls the noise).
inline Tensor clustered_embeddings(const ViewLayout& L, std::int64_t D, std::uint64_t seed, double spread = 0.3) {
  Generator g(seed);
  std::vector<double> centre(static_cast<size_t>(L.N * D)), f(static_cast<size_t>(L.M() * D));
  for (auto& c : centre) c = g.normal();
  for (std::int64_t r = 0; r < L.M(); ++r)
    for (std::int64_t d = 0; d < D; ++d) f[r * D + d] = centre[L.image(r) * D + d] + spread * g.normal();
  return Tensor::from_vector(f, {L.M(), D});
}


inline Tensor requires_grad_copy(const Tensor& t) {
  Tensor c = t.detach().clone();
  c.set_requires_grad(true);
  return c;
}

// Both are NaN-aware: a NaN anywhere makes them NaN (std::max alone would skip it).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = std::abs(x[i] - y[i]);
    if (std::isnan(d)) return NAN;
    m = std::max(m, d);
  }
  return m;
}

inline double max_abs(const Tensor& a) {
  double m = 0.0;
  for (double v : a.to_vector<double>()) {
    if (std::isnan(v)) return NAN;
    m = std::max(m, std::abs(v));
  }
  return m;
}

inline std::string source_root() {
  const char* r = std::getenv("CONTRA_SOURCE_ROOT");
  return r ? std::string(r) : std::string(".");
}

// Reorders the images of a view-major batch: new image x is old image perm[x], in every view.
inline Tensor permute_images(const Tensor& f, const ViewLayout& L, const std::vector<std::int64_t>& perm) {
  std::vector<std::int64_t> rows;
  for (std::int64_t v = 0; v < L.V; ++v)
    for (std::int64_t x = 0; x < L.N; ++x) rows.push_back(L.row(perm[x], v));
  return index_select(f, 0, Tensor::from_vector(rows, {L.M()}));
}

}  // namespace contra_test
