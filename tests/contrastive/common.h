// common.h — helpers shared by the contrastive test suites.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/node.h"
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


// Runs fn and checks that it throws contra::Error whose message contains `needle`.
template <typename F>
void check_error(F&& fn, const std::string& needle) {
  try {
    fn();
    FAIL("expected contra::Error containing \"" << needle << "\"");
  } catch (const contra::Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find(needle) != std::string::npos, "message: " << msg);
  }
}

// A loss recorded as ONE node named `name`: backward with retain_graph, then again,
// accumulates exactly twice the first gradient into f.
inline void check_single_node(const Tensor& f, const Tensor& loss, const std::string& name) {
  REQUIRE(loss.grad_fn() != nullptr);
  CHECK(loss.grad_fn()->name() == name);
  contra::backward(loss, Tensor(), true);
  const Tensor g1 = f.grad().clone();
  contra::backward(scale(loss, 1.0), Tensor(), false);
  double d = 0.0;
  const auto x = f.grad().to_vector<double>(), y = g1.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - 2.0 * y[i]));
  CHECK(d < 1e-15);
}

// The parameter sweep shared by the fused-loss tests (M rows, temperature τ): defaults; w_a ≠ w_r
// with 0 < w_p < 1; w_a ≠ w_r with w_p = 0 (D1); w_p = 1 with per-pair ω (M, M) and per-anchor α;
// ω per negative (M,) with zeros, the first five columns included (rows whose first columns
// carry no weight), w_p = 0.
inline std::vector<std::pair<std::string, BalancedParams>> balanced_param_cases(std::int64_t M, double temperature,
                                                                                std::uint64_t seed) {
  std::vector<std::pair<std::string, BalancedParams>> cases;
  BalancedParams p;
  p.temperature = temperature;
  cases.emplace_back("defaults", p);
  BalancedParams q = p;
  q.attract = 0.6;
  q.repel = 1.4;
  q.positive_weight = 0.35;
  cases.emplace_back("w_a ≠ w_r, w_p = 0.35", q);
  q.positive_weight = 0.0;
  cases.emplace_back("w_a ≠ w_r, w_p = 0 (D1)", q);
  Generator g(seed);
  q = p;
  q.attract = 1.2;
  q.repel = 0.9;
  q.pair_weights = Tensor::rand({M, M}, g, DType::f64) * 2.0;
  q.anchor_weights = Tensor::rand({M}, g, DType::f64) + 0.1;
  cases.emplace_back("w_p = 1, per-pair ω (M, M), per-anchor α, w_a ≠ w_r", q);
  std::vector<double> w(static_cast<size_t>(M));
  for (std::int64_t k = 0; k < M; ++k) w[k] = k < 5 || k % 4 == 0 ? 0.0 : 0.5 + 0.1 * static_cast<double>(k % 3);
  q = p;
  q.pair_weights = Tensor::from_vector(w, {M});
  q.positive_weight = 0.0;
  q.attract = 0.5;
  cases.emplace_back("ω per negative (M,) with zeros, w_p = 0", q);
  return cases;
}

// check(f, layout, params) for V = 2 and V = 3 (N images, f: (N·V, D) standard normal) over
// every balanced_param_cases entry, each named in doctest's failure context.
template <typename Check>
void for_each_balanced_case(std::int64_t N, std::int64_t D, double temperature, std::uint64_t seed, Check&& check) {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(N * V, V, "t");
    const Tensor f = random_embeddings(N * V, D, seed + V);
    for (const auto& [name, p] : balanced_param_cases(N * V, temperature, seed + 10 + V)) {
      CAPTURE(name);
      check(f, L, p);
    }
  }
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
