// test_gradcheck.cpp — double-precision finite-difference checks of every step and of the
// fused loss (suite: gradcheck). Inputs: standard-normal embeddings (no ties, norms ~√D),
// so the max(·) steps stay away from their kinks. Two criteria per function:
//  1. contra::gradcheck (central differences, ε = 1e-6, reference kernels) passes with
//     |a − n| ≤ 1e-8 + 1e-6·|n| on every entry;
//  2. relative error ≤ 1e-7: the projected gradient ∂(Σ u⊙f)/∂x against 4th-order central
//     differences  n = [8(L(x+h) − L(x−h)) − (L(x+2h) − L(x−2h))] / 12h,  h = 5e-4
//     (truncation O(h⁴) ≈ 1e-14, rounding ≈ 1e-16·|L|/h ≈ 1e-13), so that the measured
//     error is the gradient's, not the second-order difference's (whose rounding alone is
//     ~1e-10/|n| at ε = 1e-6). Error per entry |a − n| / |n| over entries with
//     |n| > 1e-3·max|n| (smaller entries are covered by criterion 1).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "common.h"

using namespace contra_test;

namespace {

std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}

void expect_grad(const std::string& name, const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  GradcheckOptions o;
  o.eps = 1e-6;
  o.atol = 1e-8;
  o.rtol = 1e-6;
  const GradcheckResult r = gradcheck(fn, inputs, o);
  CHECK_MESSAGE(r.ok, name << ": " << r.message);
  // criterion 2: 4th-order differences of L = Σ u ⊙ f(x) for the first input
  const Tensor x0 = inputs[0].detach().clone();
  x0.set_requires_grad(true);
  std::vector<Tensor> args = inputs;
  args[0] = x0;
  const Tensor y = fn(args);
  Generator g(99);
  const Tensor u = Tensor::randn(y.shape(), g, DType::f64);
  const Tensor a = contra::grad(sum(y * u), {x0})[0];
  const auto av = a.to_vector<double>();
  auto L_at = [&](std::int64_t j, double delta) {
    autograd::NoGradGuard ng;
    Tensor xs = x0.detach().clone();
    xs.view({-1}).set_at({j}, xs.view({-1}).at({j}) + delta);
    std::vector<Tensor> in = inputs;
    in[0] = xs;
    return sum(fn(in) * u).item();
  };
  const double h = 5e-4;
  std::vector<double> nv(av.size());
  double nmax = 0.0;
  for (std::int64_t j = 0; j < static_cast<std::int64_t>(av.size()); ++j) {
    nv[j] = (8.0 * (L_at(j, h) - L_at(j, -h)) - (L_at(j, 2 * h) - L_at(j, -2 * h))) / (12.0 * h);
    nmax = std::max(nmax, std::abs(nv[j]));
  }
  double rel = 0.0;
  for (size_t j = 0; j < av.size(); ++j)
    if (std::abs(nv[j]) > 1e-3 * nmax) rel = std::max(rel, std::abs(av[j] - nv[j]) / std::abs(nv[j]));
  std::printf("gradcheck %-46s %-13s %5lld entries ok=%d (max rel %.1e at ε=1e-6) | 4th-order max rel error %.3e\n",
              name.c_str(), r.mode.c_str(), static_cast<long long>(r.checked), r.ok ? 1 : 0, r.max_rel_error, rel);
  worst()[name] = rel;
  CHECK_MESSAGE(rel <= 1e-7, name << ": relative error " << rel);
}

Tensor input(const Tensor& t) {
  Tensor c = t.detach().clone();
  c.set_requires_grad(true);
  return c;
}

BalancedParams weighted_params(std::int64_t M, std::uint64_t seed) {
  Generator g(seed);
  BalancedParams p;
  p.temperature = 0.4;
  p.attract = 0.75;
  p.repel = 1.3;
  p.positive_weight = 0.5;
  p.pair_weights = Tensor::rand({M, M}, g, DType::f64) + 0.2;
  p.anchor_weights = Tensor::rand({M}, g, DType::f64) + 0.3;
  return p;
}

}  // namespace

TEST_CASE("gradcheck: similarity steps (z̄ = f/‖f‖, S = Z̄Z̄ᵀ, Λ = S/τ)") {
  const Tensor f = random_embeddings(6, 4, 1);
  expect_grad("normalize_embeddings", [](const std::vector<Tensor>& x) { return normalize_embeddings(x[0]); },
              {input(f)});
  expect_grad("similarity_matrix", [](const std::vector<Tensor>& x) { return similarity_matrix(x[0]); }, {input(f)});
  expect_grad("scaled_logits", [](const std::vector<Tensor>& x) { return scaled_logits(x[0], 0.3); }, {input(f)});
}

TEST_CASE("gradcheck: balanced steps on logits, V = 2 and V = 3, with and without weights") {
  for (std::int64_t V : {2, 3}) {
    const std::int64_t N = 4, M = N * V;
    const ViewLayout L = ViewLayout::for_rows(M, V, "t");
    const Tensor logits = scaled_logits(cosine_similarity_matrix(random_embeddings(M, 5, 10 + V)), 0.5);
    for (bool weighted : {false, true}) {
      BalancedParams p = weighted ? weighted_params(M, 20 + V) : BalancedParams{};
      const std::string tag = " V=" + std::to_string(V) + (weighted ? " weighted" : "");
      expect_grad("balanced_attraction" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_attraction(x[0], L, p); }, {input(logits)});
      expect_grad("balanced_log_denominator" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_log_denominator(x[0], L, p); }, {input(logits)});
      expect_grad("balanced_per_anchor" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_per_anchor(x[0], L, p); }, {input(logits)});
      expect_grad("anchor_weighted_mean" + tag,
                  [&](const std::vector<Tensor>& x) { return anchor_weighted_mean(x[0], p.anchor_weights); },
                  {input(random_embeddings(M, 1, 3).view({M}))});
    }
  }
}

TEST_CASE("gradcheck: balanced loss, step-by-step and fused, V = 2 and V = 3, with and without weights") {
  FusedOptions tiles;  // blockwise in tiles of 3: many tiles, partial edge tiles
  tiles.algorithm = LossAlgorithm::blockwise;
  tiles.tile = 3;
  for (std::int64_t V : {2, 3}) {
    const std::int64_t N = 4, M = N * V;
    const ViewLayout L = ViewLayout::for_rows(M, V, "t");
    const Tensor f = random_embeddings(M, 5, 30 + V);
    for (bool weighted : {false, true}) {
      BalancedParams p = weighted ? weighted_params(M, 40 + V) : BalancedParams{};
      const std::string tag = " V=" + std::to_string(V) + (weighted ? " weighted" : "");
      expect_grad("balanced_loss_reference" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_loss_reference(x[0], L, p); }, {input(f)});
      expect_grad("balanced_loss (fused)" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_loss(x[0], L, p).loss; }, {input(f)});
      expect_grad("balanced_loss (blockwise)" + tag,
                  [&](const std::vector<Tensor>& x) { return balanced_loss(x[0], L, p, tiles).loss; }, {input(f)});
    }
    BalancedParams d1;
    d1.positive_weight = 0.0;
    d1.temperature = 0.2;
    d1.repel = 1.7;  // w_a ≠ w_r
    expect_grad("balanced_loss (fused) w_p=0 w_r≠w_a V=" + std::to_string(V),
                [&](const std::vector<Tensor>& x) { return balanced_loss(x[0], L, d1).loss; }, {input(f)});
    expect_grad("balanced_loss (blockwise) w_p=0 w_r≠w_a V=" + std::to_string(V),
                [&](const std::vector<Tensor>& x) { return balanced_loss(x[0], L, d1, tiles).loss; }, {input(f)});
  }
}

TEST_CASE("gradcheck: D1, NT-Xent, SupCon") {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(4 * V, V, "t");
    const Tensor f = random_embeddings(4 * V, 5, 50 + V);
    const std::string tag = " V=" + std::to_string(V);
    expect_grad("derived_loss (D1)" + tag, [&](const std::vector<Tensor>& x) { return derived_loss(x[0], L, 0.3, 1.5); },
                {input(f)});
    const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 0, 2}, {4});
    expect_grad("supcon_loss" + tag, [&](const std::vector<Tensor>& x) { return supcon_loss(x[0], L, y, 0.3); },
                {input(f)});
    const Tensor logits = scaled_logits(cosine_similarity_matrix(f), 0.3);
    expect_grad("derived_per_anchor" + tag,
                [&](const std::vector<Tensor>& x) { return derived_per_anchor(x[0], L, 0.8); }, {input(logits)});
  }
  const ViewLayout L2 = ViewLayout::for_rows(10, 2, "t");
  const Tensor f = random_embeddings(10, 4, 60);
  expect_grad("nt_xent V=2", [&](const std::vector<Tensor>& x) { return nt_xent(x[0], L2, 0.5); }, {input(f)});
  expect_grad("nt_xent_per_anchor V=2", [&](const std::vector<Tensor>& x) { return nt_xent_per_anchor(x[0], L2); },
              {input(scaled_logits(cosine_similarity_matrix(f), 0.5))});
}

TEST_CASE("gradcheck: prototypes (S1, S3, S4) and the smooth max (B2)") {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(5 * V, V, "t");
    const Tensor f = random_embeddings(5 * V, 4, 70 + V);
    const std::string tag = " V=" + std::to_string(V);
    const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 1, 0}, {5});
    expect_grad("supervised_prototype_loss (S1)" + tag,
                [&](const std::vector<Tensor>& x) { return supervised_prototype_loss(x[0], L, y, 0.7); }, {input(f)});
    expect_grad("instance_prototypes (S3)" + tag,
                [&](const std::vector<Tensor>& x) { return instance_prototypes(x[0], L); }, {input(f)});
    expect_grad("ssl_prototype_loss (S4)" + tag,
                [&](const std::vector<Tensor>& x) { return ssl_prototype_loss(x[0], L, 1.2); }, {input(f)});
    expect_grad("ssl_smoothed_per_anchor (B2)" + tag,
                [&](const std::vector<Tensor>& x) {
                  return ssl_smoothed_per_anchor(normalize_embeddings(x[0]), L, 1.2, 0.3);
                },
                {input(f)});
  }
  expect_grad("smooth_max (B2)", [](const std::vector<Tensor>& x) { return smooth_max(x[0], 0.25, 1); },
              {input(random_embeddings(4, 6, 80))});
}

TEST_CASE("gradcheck: the cosine prototype reading (m = mean of f, score z̄·m/‖m‖)") {
  const auto cos = PrototypeReading::cosine;
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(5 * V, V, "t");
    // norms spread over ~10× so that the mean of f and the mean of z̄ point differently
    Generator g(90 + V);
    const Tensor f = random_embeddings(5 * V, 4, 85 + V) * (Tensor::rand({5 * V, 1}, g, DType::f64) * 3.0 + 0.3);
    const std::string tag = " V=" + std::to_string(V);
    const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 1, 0}, {5});
    expect_grad("scored_prototypes (cosine)" + tag,
                [&](const std::vector<Tensor>& x) { return scored_prototypes(instance_prototypes(x[0], L), cos); },
                {input(f)});
    expect_grad("instance_prototype_scores (cosine)" + tag,
                [&](const std::vector<Tensor>& x) { return instance_prototype_scores(x[0], L, cos); }, {input(f)});
    expect_grad("ssl_prototype_loss (S4, cosine)" + tag,
                [&](const std::vector<Tensor>& x) { return ssl_prototype_loss(x[0], L, 1.2, cos); }, {input(f)});
    expect_grad("supervised_prototype_loss (S1, cosine)" + tag,
                [&](const std::vector<Tensor>& x) { return supervised_prototype_loss(x[0], L, y, 0.7, nullptr, cos); },
                {input(f)});
  }
  // a label with no row (class 1 absent): its zero prototype stays out of the max, gradient finite
  const ViewLayout L = ViewLayout::for_rows(8, 2, "t");
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 2, 2, 0}, {4});
  expect_grad("supervised_prototype_loss (S1, cosine, absent class)",
              [&](const std::vector<Tensor>& x) { return supervised_prototype_loss(x[0], L, y, 0.7, nullptr, cos); },
              {input(random_embeddings(8, 3, 95))});
}

TEST_CASE("gradcheck summary") {
  double w = 0.0;
  std::string which;
  for (const auto& [k, v] : worst())
    if (v > w) {
      w = v;
      which = k;
    }
  std::printf("gradcheck worst max relative error over %zu checks: %.3e (%s)\n", worst().size(), w, which.c_str());
  CHECK(w <= 1e-7);
}
