// test_contrastive.cpp — layout, identities, degenerate-case rules, fused vs step-by-step,
// telemetry, S1/S4/B2, bounds and PRB (suite: fast).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "common.h"
#include "tensor/npy.h"

using namespace contra_test;

namespace {
double scalar(const Tensor& t) { return t.item(); }
}  // namespace

// ---- layout ---------------------------------------------------------------------------

TEST_CASE("layout: view-major rows, P(i) and N(i) for V = 2 and V = 3") {
  const ViewLayout L = ViewLayout::for_rows(12, 3, "test");
  CHECK(L.N == 4);
  CHECK(L.image(9) == 1);
  CHECK(L.view(9) == 2);
  CHECK(L.row(1, 2) == 9);
  CHECK(L.positives(5) == std::vector<std::int64_t>{1, 9});
  CHECK(L.negatives(0) == std::vector<std::int64_t>{1, 2, 3, 5, 6, 7, 9, 10, 11});
  const ViewLayout L2 = ViewLayout::for_rows(6, 2, "test");
  for (std::int64_t i = 0; i < 6; ++i) CHECK(L2.positives(i) == std::vector<std::int64_t>{(i + 3) % 6});
  const auto pm = positive_mask(L, DType::f64).to_vector<double>();
  const auto nm = negative_mask(L, DType::f64).to_vector<double>();
  for (std::int64_t i = 0; i < 12; ++i) {
    double p = 0, n = 0;
    for (std::int64_t k = 0; k < 12; ++k) {
      p += pm[i * 12 + k];
      n += nm[i * 12 + k];
      CHECK(pm[i * 12 + k] + nm[i * 12 + k] == (k == i ? 0.0 : 1.0));
    }
    CHECK(p == 2.0);
    CHECK(n == 9.0);
  }
}

TEST_CASE("rule: M not divisible by V, V < 1, and batches without negatives or positives") {
  check_error([] { ViewLayout::for_rows(7, 2, "test"); }, "not divisible by V = 2");
  check_error([] { ViewLayout::for_rows(4, 0, "test"); }, "views V must be ≥ 1");
  const Tensor f1 = random_embeddings(2, 4, 1);
  const ViewLayout one = ViewLayout::for_rows(2, 2, "test");  // N = 1
  BalancedParams p;
  check_error([&] { balanced_loss(f1, one, p); }, "no negatives");
  check_error([&] { balanced_loss_reference(f1, one, p); }, "no negatives");
  check_error([&] { nt_xent(f1, one, 0.5); }, "no negatives");
  check_error([&] { derived_loss(f1, one, 0.5); }, "no negatives");
  check_error([&] { ssl_prototype_loss(f1, one); }, "no negatives");
  check_error([&] { balanced_attraction(cosine_similarity_matrix(f1), one, p); }, "no negatives");
  check_error([&] { balanced_log_denominator(cosine_similarity_matrix(f1), one, p); }, "no negatives");
  const Tensor f4 = random_embeddings(4, 3, 2);
  check_error([&] { balanced_loss(f4, ViewLayout::for_rows(4, 1, "t"), p); }, "needs V ≥ 2");
  check_error([&] { nt_xent(random_embeddings(6, 3, 2), ViewLayout::for_rows(6, 3, "t"), 0.5); }, "needs V = 2");
  check_error([&] { balanced_loss(random_embeddings(6, 3, 2), ViewLayout::for_rows(4, 2, "t"), p); }, "M = N·V = 4");
}

TEST_CASE("rule: zero-norm and non-finite embeddings are errors, never clamped") {
  const ViewLayout L = ViewLayout::for_rows(4, 2, "t");
  BalancedParams p;
  Tensor f = random_embeddings(4, 3, 3);
  f.set_at({2, 0}, 0.0).set_at({2, 1}, 0.0).set_at({2, 2}, 0.0);
  check_error([&] { balanced_loss(f, L, p); }, "zero-norm embedding: row 2");
  check_error([&] { balanced_loss_reference(f, L, p); }, "zero-norm embedding: row 2");
  check_error([&] { nt_xent(f, L, 0.5); }, "zero-norm");
  Tensor g = random_embeddings(4, 3, 3);
  g.set_at({1, 2}, NAN);
  check_error([&] { balanced_loss(g, L, p); }, "non-finite input: embedding row 1, column 2");
  g.set_at({1, 2}, INFINITY);
  check_error([&] { supcon_loss(g, L, Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2}), 0.5); }, "non-finite");
  check_error([&] { prototype_representation_bias(g, 2, Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2})); },
              "non-finite");
}

TEST_CASE("rule: parameters are checked, and a row with an empty weighted denominator is an error") {
  const ViewLayout L = ViewLayout::for_rows(6, 2, "t");
  const Tensor f = random_embeddings(6, 4, 4);
  BalancedParams p;
  p.temperature = 0.0;
  check_error([&] { balanced_loss(f, L, p); }, "temperature τ must be finite and > 0");
  p = {};
  p.positive_weight = 1.5;
  check_error([&] { balanced_loss(f, L, p); }, "w_p must lie in [0, 1]");
  p = {};
  p.positive_weight = 0.0;
  std::vector<double> om(36, 1.0);
  for (std::int64_t k = 0; k < 6; ++k) om[0 * 6 + k] = 0.0;  // anchor 0: every ω_0k = 0, and w_p = 0
  p.pair_weights = Tensor::from_vector(om, {6, 6});
  check_error([&] { balanced_loss(f, L, p); }, "anchor row 0 has no entry with W > 0");
  check_error([&] { balanced_loss_reference(f, L, p); }, "anchor row 0 has no entry with W > 0");
  p.pair_weights = Tensor::full({6, 6}, -1.0, DType::f64);
  check_error([&] { balanced_loss(f, L, p); }, "pair weights ω must be finite and ≥ 0");
  p = {};
  p.anchor_weights = Tensor::zeros({6}, DType::f64);
  check_error([&] { balanced_loss(f, L, p); }, "anchor weights α sum to 0");
}

TEST_CASE("rule: SupCon with an anchor that has no positive names the row (no 0/0 NaN)") {
  // V = 1: rows are images; class 2 has a single image, so anchor 3 has P_y(3) empty.
  const ViewLayout L = ViewLayout::for_rows(4, 1, "t");
  const Tensor f = random_embeddings(4, 3, 5);
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 2}, {4});
  check_error([&] { supcon_loss(f, L, y, 0.1); }, "anchor row 2 (class 1) has no positive");
  // with V = 2 every anchor has its other view: fine
  const Tensor f2 = random_embeddings(8, 3, 5);
  CHECK(std::isfinite(scalar(supcon_loss(f2, ViewLayout::for_rows(8, 2, "t"), y, 0.1))));
}

TEST_CASE("rule: labels per image or per row; inconsistent view labels are an error") {
  const ViewLayout L = ViewLayout::for_rows(6, 2, "t");
  const Tensor yN = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 1}, {3});
  CHECK(row_labels(yN, L, "t").to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 1, 0, 1, 1});
  const Tensor bad = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 1, 0, 0, 1}, {6});
  check_error([&] { row_labels(bad, L, "t"); }, "row 4 (image 1, view 1) has label 0");
  check_error([&] { row_labels(Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2}), L, "t"); }, "labels must have shape");
}

TEST_CASE("paper aliases ν, β, ρ (as we read the paper)") {
  PaperAliases a;
  a.nu = 2.0;
  a.rho = 0.5;
  BalancedParams p = with_paper_aliases({}, a);
  CHECK(p.attract == 2.0);
  CHECK(p.repel == doctest::Approx(1.0));
  a.beta = 3.0;
  check_error([&] { with_paper_aliases({}, a); }, "disagrees with ρ·ν");
  a.rho.reset();
  p = with_paper_aliases({}, a);
  CHECK(p.repel == 3.0);
}

// ---- hand-computed example -----------------------------------------------------------

TEST_CASE("hand-computed 2-image example: NT-Xent, D1, balanced") {
  // rows (view-major, N = 2, V = 2): r0 = x1 view1 = (1, 0), r1 = x2 view1 = (0, 1),
  //                                  r2 = x1 view2 = (1, 1), r3 = x2 view2 = (−1, 1)
  // cosines: s02 = a, s01 = 0, s03 = −a, s12 = a, s13 = a, s23 = 0 with a = 1/√2; τ = 1.
  const Tensor f = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 1, 1, -1, 1}, {4, 2});
  const ViewLayout L = ViewLayout::for_rows(4, 2, "t");
  const double a = 1.0 / std::sqrt(2.0), e = std::exp(a), ie = std::exp(-a);
  // NT: ℓ_i = −s_ip + log Σ_{k≠i} e^{s_ik}
  const double l0 = -a + std::log(1 + e + ie);  // row 0: others r1 (0), r2 (a), r3 (−a)
  const double l1 = -a + std::log(1 + e + e);   // row 1: r0 (0), r2 (a), r3 (a)
  const double l2 = -a + std::log(e + e + 1);   // row 2: r0 (a), r1 (a), r3 (0)
  const double l3 = -a + std::log(ie + e + 1);  // row 3: r0 (−a), r1 (a), r2 (0)
  const double nt = (l0 + l1 + l2 + l3) / 4;
  CHECK(scalar(nt_xent(f, L, 1.0)) == doctest::Approx(nt).epsilon(1e-14));
  BalancedParams p;
  p.temperature = 1.0;
  CHECK(scalar(balanced_loss(f, L, p).loss) == doctest::Approx(nt).epsilon(1e-14));
  CHECK(scalar(balanced_loss_reference(f, L, p)) == doctest::Approx(nt).epsilon(1e-14));
  // D1 (λ = 2): ℓ_i = −s_ip + 2 log Σ_{k∈N(i)} e^{s_ik}; N(0) = {r1, r3}, N(1) = {r0, r2}, ...
  const double d0 = -a + 2 * std::log(1 + ie), d1 = -a + 2 * std::log(1 + e), d2 = -a + 2 * std::log(e + 1),
               d3 = -a + 2 * std::log(ie + 1);
  CHECK(scalar(derived_loss(f, L, 1.0, 2.0)) == doctest::Approx((d0 + d1 + d2 + d3) / 4).epsilon(1e-14));
  // S = Z̄Z̄ᵀ entries
  const Tensor S = cosine_similarity_matrix(f);
  CHECK(S.at({0, 2}) == doctest::Approx(a).epsilon(1e-15));
  CHECK(S.at({0, 3}) == doctest::Approx(-a).epsilon(1e-15));
  CHECK(S.at({2, 3}) == doctest::Approx(0.0));
  // G for row 0 (NT, τ = 1, M = 4): G_0k = (1/4)(Q_0k − 1[k = 2]), Q_0k = e^{s_0k} / Σ_{k≠0} e^{s_0k}
  FusedOptions o;
  o.keep_logit_grad = true;
  const auto G = balanced_loss(f, L, p, o).logit_grad.to_vector<double>();
  const double D0 = 1 + e + ie;
  CHECK(G[0] == 0.0);
  CHECK(G[1] == doctest::Approx(0.25 * (1 / D0)).epsilon(1e-14));
  CHECK(G[2] == doctest::Approx(0.25 * (e / D0 - 1)).epsilon(1e-14));
  CHECK(G[3] == doctest::Approx(0.25 * (ie / D0)).epsilon(1e-14));
}

// ---- identities -------------------------------------------------------------------

TEST_CASE("identity: balanced with defaults equals NT-Xent (fused and step-by-step)") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const ViewLayout L = ViewLayout::for_rows(16, 2, "t");
    const Tensor f = random_embeddings(16, 7, seed);
    BalancedParams p;
    p.temperature = 0.3;
    const double nt = scalar(nt_xent(f, L, 0.3));
    CHECK(scalar(balanced_loss(f, L, p).loss) == doctest::Approx(nt).epsilon(1e-13));
    CHECK(scalar(balanced_loss_reference(f, L, p)) == doctest::Approx(nt).epsilon(1e-13));
    // gradients too
    const Tensor a = requires_grad_copy(f), b = requires_grad_copy(f);
    const Tensor ga = contra::grad(nt_xent(a, L, 0.3), {a})[0];
    const Tensor gb = contra::grad(balanced_loss(b, L, p).loss, {b})[0];
    CHECK(max_abs_diff(ga, gb) <= 1e-14 * std::max(1.0, max_abs(ga)) * 10);
  }
}

TEST_CASE("identity: positive weight 0 equals the derived loss (D1), V = 2 and V = 3") {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(6 * V, V, "t");
    const Tensor f = random_embeddings(6 * V, 5, 10 + V);
    BalancedParams p;
    p.temperature = 0.2;
    p.positive_weight = 0.0;
    p.repel = 1.7;  // λ = w_r / w_a
    const double d1 = scalar(derived_loss(f, L, 0.2, 1.7));
    CHECK(scalar(balanced_loss(f, L, p).loss) == doctest::Approx(d1).epsilon(1e-13));
    CHECK(scalar(balanced_loss_reference(f, L, p)) == doctest::Approx(d1).epsilon(1e-13));
  }
}

TEST_CASE("identity: w_a = w_r ⇒ each row of G sums to zero; otherwise to a_i (w_r − w_a)") {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(5 * V, V, "t");
    const Tensor f = random_embeddings(5 * V, 4, 20 + V);
    BalancedParams p;
    p.temperature = 0.5;
    p.attract = p.repel = 1.3;
    p.positive_weight = 0.6;
    FusedOptions o;
    o.keep_logit_grad = true;
    const auto out = balanced_loss(f, L, p, o);
    const Tensor rows = sum(out.logit_grad, {1});
    CHECK(max_abs(rows) < 1e-15);
    CHECK(out.telemetry.max_abs_row_sum < 1e-15);
    // the same from autograd through the step-by-step composition: G = ∂L/∂Λ
    const Tensor fl = requires_grad_copy(f);
    const BalancedSteps s = balanced_loss_steps(fl, L, p);
    const Tensor G = contra::grad(s.loss, {s.logits})[0];
    CHECK(max_abs(sum(G, {1})) < 1e-15);
    CHECK(max_abs_diff(G, out.logit_grad) < 1e-15);
    // w_a ≠ w_r: net (w_r − w_a)/M per row
    p.repel = 2.0;
    const auto out2 = balanced_loss(f, L, p, o);
    for (double r : sum(out2.logit_grad, {1}).to_vector<double>())
      CHECK(r == doctest::Approx((2.0 - 1.3) / static_cast<double>(L.M())).epsilon(1e-12));
  }
}

TEST_CASE("identity: the losses are invariant to permuting images") {
  const ViewLayout L = ViewLayout::for_rows(18, 3, "t");
  const Tensor f = random_embeddings(18, 6, 31);
  const std::vector<std::int64_t> perm{4, 2, 0, 5, 1, 3};
  const Tensor fp = permute_images(f, L, perm);
  BalancedParams p;
  p.temperature = 0.4;
  p.attract = 0.7;
  p.positive_weight = 0.3;
  CHECK(scalar(balanced_loss(fp, L, p).loss) == doctest::Approx(scalar(balanced_loss(f, L, p).loss)).epsilon(1e-13));
  CHECK(scalar(balanced_loss_reference(fp, L, p)) ==
        doctest::Approx(scalar(balanced_loss_reference(f, L, p))).epsilon(1e-13));
  CHECK(scalar(derived_loss(fp, L, 0.4)) == doctest::Approx(scalar(derived_loss(f, L, 0.4))).epsilon(1e-13));
  const std::vector<std::int64_t> y{0, 1, 0, 2, 1, 2};
  std::vector<std::int64_t> yp;
  for (auto x : perm) yp.push_back(y[x]);
  const Tensor ty = Tensor::from_vector(y, {6}), typ = Tensor::from_vector(yp, {6});
  CHECK(scalar(supcon_loss(fp, L, typ, 0.4)) == doctest::Approx(scalar(supcon_loss(f, L, ty, 0.4))).epsilon(1e-13));
  CHECK(scalar(supervised_prototype_loss(fp, L, typ, 0.8)) ==
        doctest::Approx(scalar(supervised_prototype_loss(f, L, ty, 0.8))).epsilon(1e-13));
  CHECK(scalar(ssl_prototype_loss(fp, L, 0.8)) == doctest::Approx(scalar(ssl_prototype_loss(f, L, 0.8))).epsilon(1e-13));
  // the gradient permutes with the images
  const Tensor a = requires_grad_copy(f), b = requires_grad_copy(fp);
  const Tensor ga = contra::grad(balanced_loss(a, L, p).loss, {a})[0];
  const Tensor gb = contra::grad(balanced_loss(b, L, p).loss, {b})[0];
  CHECK(max_abs_diff(permute_images(ga, L, perm), gb) < 1e-15);
}

// ---- fused vs step-by-step ------------------------------------------------------------

namespace {
void compare_fused(const Tensor& f64, const ViewLayout& L, const BalancedParams& p) {
  const Tensor a = requires_grad_copy(f64), b = requires_grad_copy(f64);
  const Tensor lr = balanced_loss_reference(a, L, p);
  const auto out = balanced_loss(b, L, p);
  CHECK(scalar(out.loss) == doctest::Approx(scalar(lr)).epsilon(1e-13));
  contra::backward(lr);
  contra::backward(out.loss);
  const double scale = std::max(1e-3, max_abs(a.grad()));
  CHECK(max_abs_diff(a.grad(), b.grad()) / scale < 1e-12);
  CHECK(out.telemetry.loss == doctest::Approx(scalar(lr)).epsilon(1e-13));
  // f32 fused against the f64 reference
  const Tensor c = requires_grad_copy(f64.to(DType::f32));
  const auto o32 = balanced_loss(c, L, p);
  CHECK(o32.loss.dtype() == DType::f32);
  CHECK(scalar(o32.loss) == doctest::Approx(scalar(lr)).epsilon(2e-6));
  contra::backward(o32.loss);
  CHECK(c.grad().dtype() == DType::f32);
  CHECK(max_abs_diff(c.grad(), a.grad()) / scale < 5e-5);
}
}  // namespace

TEST_CASE("fused balanced loss agrees with the step-by-step composition (value and gradient)") {
  for_each_balanced_case(7, 9, 0.25, 40, compare_fused);
}

TEST_CASE("fused balanced loss: extreme temperature stays finite (stable log-sum-exp)") {
  const ViewLayout L = ViewLayout::for_rows(12, 2, "t");
  const Tensor f = random_embeddings(12, 4, 50);
  BalancedParams p;
  p.temperature = 1e-3;  // logits up to 1000: a naive Σ e^Λ overflows
  const double ref = scalar(balanced_loss_reference(f, L, p));
  CHECK(std::isfinite(ref));
  CHECK(scalar(balanced_loss(f, L, p).loss) == doctest::Approx(ref).epsilon(1e-12));
  CHECK(scalar(balanced_loss(f.to(DType::f32), L, p).loss) == doctest::Approx(ref).epsilon(1e-4));
}

TEST_CASE("fused node: one node, backward can run twice with retain_graph, no grad under NoGradGuard") {
  const ViewLayout L = ViewLayout::for_rows(8, 2, "t");
  const Tensor f = requires_grad_copy(random_embeddings(8, 3, 60));
  check_single_node(f, balanced_loss(f, L, {}).loss, "balanced_loss_fused");
  {
    autograd::NoGradGuard ng;
    FusedOptions o;
    o.gradient_norms = false;
    const auto out = balanced_loss(f, L, {}, o);
    CHECK(out.loss.grad_fn() == nullptr);
    CHECK(!out.input_grad.defined());
    CHECK(std::isnan(out.telemetry.grad_norm_total));
  }
}

// ---- telemetry -------------------------------------------------------------------------

TEST_CASE("telemetry: terms, gradient norms, similarities, alignment, uniformity") {
  for (std::int64_t V : {2, 3}) {
    const ViewLayout L = ViewLayout::for_rows(6 * V, V, "t");
    const Tensor f = clustered_embeddings(L, 5, 70 + V);
    BalancedParams p;
    p.temperature = 0.3;
    p.attract = 0.8;
    p.repel = 1.25;
    p.positive_weight = 0.4;
    const LossTelemetry t = balanced_loss(f, L, p).telemetry;
    CHECK(t.attraction + t.repulsion == doctest::Approx(t.loss).epsilon(1e-14));
    // the two terms and their gradients from the step-by-step composition
    const Tensor fa = requires_grad_copy(f);
    const BalancedSteps s = balanced_loss_steps(fa, L, p);
    const Tensor A = mean(s.attraction), R = scale(mean(s.log_denominator), p.repel);
    CHECK(t.attraction == doctest::Approx(scalar(A)).epsilon(1e-13));
    CHECK(t.repulsion == doctest::Approx(scalar(R)).epsilon(1e-13));
    const Tensor gA = contra::grad(A, {fa}, Tensor(), true)[0];
    const Tensor gR = contra::grad(R, {fa}, Tensor(), true)[0];
    auto fro = [](const Tensor& x) { return std::sqrt(sum(x * x).item()); };
    CHECK(t.grad_norm_attraction == doctest::Approx(fro(gA)).epsilon(1e-12));
    CHECK(t.grad_norm_repulsion == doctest::Approx(fro(gR)).epsilon(1e-12));
    CHECK(t.grad_norm_total == doctest::Approx(fro(gA + gR)).epsilon(1e-12));
    // similarities, alignment and uniformity, directly
    const auto S = cosine_similarity_matrix(f).to_vector<double>();
    const std::int64_t M = L.M(), N = L.N;
    double ps = 0, ns = 0, np = 0, nn = 0, align = 0, unif = 0;
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t k = 0; k < M; ++k) {
        if (k == i) continue;
        if (L.same_image(i, k)) {
          ps += S[i * M + k];
          align += 2 - 2 * S[i * M + k];
          ++np;
        } else {
          ns += S[i * M + k];
          ++nn;
        }
      }
    for (std::int64_t v = 0; v < V; ++v) {
      double u = 0;
      for (std::int64_t x = 0; x < N; ++x)
        for (std::int64_t xp = x + 1; xp < N; ++xp) {
          const double d2 = 2 - 2 * S[L.row(x, v) * M + L.row(xp, v)];  // ‖z̄_x − z̄_x'‖²
          u += std::exp(-2 * d2);
        }
      unif += std::log(u / (N * (N - 1) / 2.0)) / static_cast<double>(V);
    }
    CHECK(t.mean_positive_similarity == doctest::Approx(ps / np).epsilon(1e-13));
    CHECK(t.mean_negative_similarity == doctest::Approx(ns / nn).epsilon(1e-12));
    CHECK(t.alignment == doctest::Approx(align / np).epsilon(1e-12));
    CHECK(t.uniformity == doctest::Approx(unif).epsilon(1e-12));
  }
}

// ---- S1, S4, B2 ---------------------------------------------------------------------------

TEST_CASE("S1 supervised prototype objective: batch class means, λ, running prototypes") {
  const ViewLayout L = ViewLayout::for_rows(8, 2, "t");
  const Tensor f = random_embeddings(8, 3, 80);
  const std::vector<std::int64_t> y{0, 1, 1, 2};
  const Tensor ty = Tensor::from_vector(y, {4});
  const double lam = 0.7;
  // by hand: μ_c = mean of the z̄ rows of class c, ℓ_r = −z̄·μ_y + λ max_{c≠y} z̄·μ_c
  const auto z = normalize_embeddings(f).to_vector<double>();
  double mu[3][3] = {};
  int cnt[3] = {};
  for (int r = 0; r < 8; ++r) ++cnt[y[r % 4]];
  for (int r = 0; r < 8; ++r)
    for (int d = 0; d < 3; ++d) mu[y[r % 4]][d] += z[r * 3 + d] / cnt[y[r % 4]];
  double total = 0;
  for (int r = 0; r < 8; ++r) {
    double sc[3];
    for (int c = 0; c < 3; ++c) sc[c] = z[r * 3] * mu[c][0] + z[r * 3 + 1] * mu[c][1] + z[r * 3 + 2] * mu[c][2];
    const int yy = static_cast<int>(y[r % 4]);
    double best = -1e300;
    for (int c = 0; c < 3; ++c)
      if (c != yy) best = std::max(best, sc[c]);
    total += -sc[yy] + lam * best;
  }
  CHECK(scalar(supervised_prototype_loss(f, L, ty, lam)) == doctest::Approx(total / 8).epsilon(1e-13));
  // running prototypes: after one update they equal the batch means, so the value matches
  RunningPrototypes run(3, 3, 0.5);
  run.update(normalize_embeddings(f), row_labels(ty, L, "t"));
  CHECK(scalar(supervised_prototype_loss(f, L, ty, lam, &run)) == doctest::Approx(total / 8).epsilon(1e-13));
  // a second update moves halfway towards the new batch means
  const Tensor f2 = random_embeddings(8, 3, 81);
  run.update(normalize_embeddings(f2), row_labels(ty, L, "t"));
  const ClassPrototypes cp = run.prototypes(DType::f64);
  const ClassPrototypes b2 = class_prototypes(normalize_embeddings(f2), row_labels(ty, L, "t"));
  const ClassPrototypes b1 = class_prototypes(normalize_embeddings(f), row_labels(ty, L, "t"));
  CHECK(max_abs_diff(cp.mu, scale(b1.mu + b2.mu, 0.5)) < 1e-15);
  // rules: one class only; unknown class for the running prototypes
  check_error([&] { supervised_prototype_loss(f, L, Tensor::zeros({4}, DType::i64), lam); }, "no other class");
  RunningPrototypes empty(4, 3);
  check_error([&] { supervised_prototype_loss(f, L, ty, lam, &empty); }, "has no prototype");
}

TEST_CASE("S3/S4 instance prototypes and B2 smooth max") {
  const ViewLayout L = ViewLayout::for_rows(9, 3, "t");
  const Tensor f = random_embeddings(9, 4, 90);
  const Tensor z = normalize_embeddings(f);
  const Tensor mu = instance_prototypes(z, L);  // (N, D)
  CHECK(mu.shape() == Shape{3, 4});
  for (std::int64_t x = 0; x < 3; ++x)
    for (std::int64_t d = 0; d < 4; ++d)
      CHECK(mu.at({x, d}) == doctest::Approx((z.at({x, d}) + z.at({x + 3, d}) + z.at({x + 6, d})) / 3).epsilon(1e-15));
  // smooth max: max ≤ τ log Σ e^{a/τ} ≤ max + τ log n
  Generator g(91);
  const Tensor a = Tensor::randn({5, 7}, g, DType::f64);
  for (double tau : {0.01, 0.1, 1.0}) {
    const auto sm = smooth_max(a, tau, 1).to_vector<double>();
    const auto mx = max(a, {1}).to_vector<double>();
    for (size_t i = 0; i < sm.size(); ++i) {
      CHECK(mx[i] <= sm[i] + 1e-15);
      CHECK(sm[i] <= mx[i] + tau * std::log(7.0) + 1e-15);
    }
  }
  // (B2) per row: L_ssl/τ ≤ smoothed ≤ L_ssl/τ + λ log(N − 1)
  const double tau = 0.2, lam = 1.3;
  const auto ssl = ssl_prototype_per_anchor(z, L, lam).to_vector<double>();
  const auto smo = ssl_smoothed_per_anchor(z, L, lam, tau).to_vector<double>();
  for (size_t r = 0; r < ssl.size(); ++r) {
    CHECK(ssl[r] / tau <= smo[r] + 1e-12);
    CHECK(smo[r] <= ssl[r] / tau + lam * std::log(2.0) + 1e-12);
  }
}

// ---- bounds ------------------------------------------------------------------------------

TEST_CASE("bounds (B1)–(B3) hold on random labelled batches with class coverage") {
  int batches = 0;
  for (std::int64_t V : {2, 3, 4})
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
      const std::int64_t N = 12, C = 3;
      const ViewLayout L = ViewLayout::for_rows(N * V, V, "t");
      Generator g(100 + seed);
      std::vector<std::int64_t> y(N);
      for (std::int64_t x = 0; x < N; ++x) y[x] = x < C ? x : static_cast<std::int64_t>(g.below(C));
      const Tensor f = seed % 2 ? clustered_embeddings(L, 6, seed) : random_embeddings(N * V, 6, seed);
      BoundsOptions o;
      o.lambda = 0.5 + 0.25 * static_cast<double>(seed % 4);
      o.temperature = seed % 3 == 0 ? 0.1 : 0.5;
      const BoundsReport R = compute_bounds(f, L, Tensor::from_vector(y, {N}), o);
      CHECK(R.covered_rows == N * V);
      CHECK(R.b1_violations_covered == 0);
      CHECK(R.b2_violations == 0);
      CHECK(R.b3_violations == 0);
      CHECK(R.all_hold());
      for (const auto& b : R.rows) {
        CHECK(b.l_sup <= b.b1_rhs + 1e-12);
        CHECK(b.b3_rhs <= b.b3_lhs + 1e-12);
      }
      ++batches;
    }
  CHECK(batches == 24);
}

TEST_CASE("bounds: given prototypes expose rows without class coverage") {
  const ViewLayout L = ViewLayout::for_rows(8, 2, "t");
  const Tensor f = random_embeddings(8, 4, 120);
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1, 1}, {4});
  // prototypes for 3 classes; class 2 has no image in the batch → no row is covered
  Generator g(121);
  BoundsOptions o;
  o.class_prototypes = Tensor::randn({3, 4}, g, DType::f64) * 0.5;
  const BoundsReport R = compute_bounds(f, L, y, o);
  CHECK(R.uncovered_classes == std::vector<std::int64_t>{2});
  CHECK(R.covered_rows == 0);
  CHECK(R.b1_violations_covered == 0);
  CHECK(R.b2_violations == 0);
  CHECK(R.b3_violations == 0);
  const std::string text = format_bounds(R);
  CHECK(text.find("(coverage fails): 2") != std::string::npos);
}

// ---- prototype readings ----------------------------------------------------------------

TEST_CASE("prototype readings: inner product (default) and cosine to means of unnormalised outputs") {
  const std::vector<std::int64_t> yv{0, 1, 1, 2};  // 4 images in V = 3 views
  const ViewLayout L = ViewLayout::for_rows(12, 3, "t");
  const Tensor f = random_embeddings(12, 3, 130), y = Tensor::from_vector(yv, {4});
  const double lam = 0.9;
  // the default is the inner-product reading, unchanged
  CHECK(scalar(ssl_prototype_loss(f, L, lam)) ==
        scalar(ssl_prototype_loss(f, L, lam, PrototypeReading::inner_product)));
  CHECK(scalar(supervised_prototype_loss(f, L, y, lam)) ==
        scalar(supervised_prototype_loss(f, L, y, lam, nullptr, PrototypeReading::inner_product)));
  // cosine reading by hand: m_x = mean of the views' f, score s(f_r, m_x') = f_r·m_x'/(‖f_r‖‖m_x'‖);
  // class means m_c of the rows of class c (class 1 has 2 images, 6 rows)
  const auto fv = f.to_vector<double>();
  auto dot = [](const double* a, const double* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; };
  auto cosine = [&](const double* a, const double* b) { return dot(a, b) / std::sqrt(dot(a, a) * dot(b, b)); };
  double m[4][3] = {}, mc[3][3] = {};
  const double rows_of_class[3] = {3, 6, 3};
  for (int r = 0; r < 12; ++r)
    for (int d = 0; d < 3; ++d) {
      m[r % 4][d] += fv[r * 3 + d] / 3;
      mc[yv[r % 4]][d] += fv[r * 3 + d] / rows_of_class[yv[r % 4]];
    }
  const auto scores = instance_prototype_scores(f, L, PrototypeReading::cosine);
  double ssl = 0.0, sup = 0.0;
  for (int r = 0; r < 12; ++r) {
    const double* fr = fv.data() + r * 3;
    double best_x = -1e300, best_c = -1e300;
    for (int x = 0; x < 4; ++x) {
      CHECK(scores.at({r, x}) == doctest::Approx(cosine(fr, m[x])).epsilon(1e-14));
      if (x != r % 4) best_x = std::max(best_x, cosine(fr, m[x]));
    }
    for (int c = 0; c < 3; ++c)
      if (c != yv[r % 4]) best_c = std::max(best_c, cosine(fr, mc[c]));
    ssl += (-cosine(fr, m[r % 4]) + lam * best_x) / 12;
    sup += (-cosine(fr, mc[yv[r % 4]]) + lam * best_c) / 12;
  }
  CHECK(scalar(ssl_prototype_loss(f, L, lam, PrototypeReading::cosine)) == doctest::Approx(ssl).epsilon(1e-13));
  CHECK(scalar(supervised_prototype_loss(f, L, y, lam, nullptr, PrototypeReading::cosine)) ==
        doctest::Approx(sup).epsilon(1e-13));
  // when every ‖f‖ is equal, the readings differ only by the prototype length: z̄·m̂ = z̄·μ/‖μ‖
  const Tensor g = normalize_embeddings(f) * 2.5;
  const Tensor mu = instance_prototypes(normalize_embeddings(g), L);
  const Tensor inner = prototype_scores(normalize_embeddings(g), mu);
  const Tensor cos = instance_prototype_scores(g, L, PrototypeReading::cosine);
  const Tensor mu_norm = sqrt(sum(mu * mu, {1}));  // (N,)
  CHECK(max_abs_diff(cos * unsqueeze(mu_norm, 0), inner) < 1e-14);
  // names and rules
  CHECK(prototype_reading_from_name("cosine") == PrototypeReading::cosine);
  CHECK(std::string(prototype_reading_name(PrototypeReading::inner_product)) == "inner");
  check_error([] { prototype_reading_from_name("dot"); }, "valid: inner");
  // two views that cancel: m_x = 0 has no direction under the cosine reading (the inner one is fine)
  const Tensor h = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, -1, 0, 0, 2}, {4, 2});
  const ViewLayout L2 = ViewLayout::for_rows(4, 2, "t");
  CHECK(std::isfinite(scalar(ssl_prototype_loss(h, L2, 1.0))));
  check_error([&] { ssl_prototype_loss(h, L2, 1.0, PrototypeReading::cosine); }, "prototype 0 is the zero vector");
}

TEST_CASE("bounds under both readings: B1, B2 exact for both, B3 exact for the inner product only") {
  // A batch where the cosine reading breaks (B3): image 1's two views (1,0), (0,1) average to
  // m_1 ∝ (1,1), which the anchor (image 0, along (1,1)) matches exactly, while every view
  // of image 1 scores 1/√2. Inner: μ_1 = (½,½), z̄·μ_1 = 1/√2 = the mean view score (equality).
  const ViewLayout L = ViewLayout::for_rows(4, 2, "t");
  const Tensor f = Tensor::from_vector(std::vector<double>{1, 1, 1, 0, 1, 1, 0, 1}, {4, 2});
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2});
  BoundsOptions o;
  o.temperature = 0.5;
  const BoundsReport inner = compute_bounds(f, L, y, o);
  CHECK(inner.all_hold());
  CHECK(inner.b3_max_excess <= 1e-12);
  o.reading = PrototypeReading::cosine;
  const BoundsReport cos = compute_bounds(f, L, y, o);
  CHECK(cos.b1_violations_covered == 0);
  CHECK(cos.b2_violations == 0);
  CHECK(cos.exact_bounds_hold());
  CHECK_FALSE(cos.all_hold());
  CHECK(cos.b3_violations == 2);  // rows 0 and 2 (image 0's views) as anchors
  CHECK(cos.b3_max_excess == doctest::Approx((1 - std::sqrt(0.5)) / 0.5).epsilon(1e-12));
  // ceiling max_x ‖m̂_x − μ_x‖/τ: image 1: ‖(1,1)/√2 − (½,½)‖ = 1 − 1/√2
  CHECK(cos.b3_excess_ceiling == doctest::Approx((1 - std::sqrt(0.5)) / 0.5).epsilon(1e-12));
  CHECK(format_bounds(cos).find("B3 not guaranteed under this reading") != std::string::npos);

  // Random and clustered batches with heterogeneous norms: the exact bounds hold under both
  // readings; the cosine (B3) excess stays under its ceiling.
  for (std::uint64_t seed = 0; seed < 12; ++seed) {
    const std::int64_t N = 10, V = 2 + static_cast<std::int64_t>(seed % 3), C = 3;
    const ViewLayout Lb = ViewLayout::for_rows(N * V, V, "t");
    Generator g(200 + seed);
    std::vector<std::int64_t> yv(N);
    for (std::int64_t x = 0; x < N; ++x) yv[x] = x < C ? x : static_cast<std::int64_t>(g.below(C));
    Tensor fb = seed % 2 ? clustered_embeddings(Lb, 5, seed, 0.8) : random_embeddings(N * V, 5, seed);
    fb = fb * (Tensor::rand({N * V, 1}, g, DType::f64) * 4.0 + 0.1);  // norms spread over 40×
    for (auto rd : {PrototypeReading::inner_product, PrototypeReading::cosine}) {
      BoundsOptions ob;
      ob.reading = rd;
      ob.temperature = seed % 2 ? 0.2 : 0.5;
      const BoundsReport R = compute_bounds(fb, Lb, Tensor::from_vector(yv, {N}), ob);
      CHECK(R.exact_bounds_hold());
      CHECK(R.b3_max_excess <= R.b3_excess_ceiling + 1e-12);
      if (rd == PrototypeReading::inner_product) CHECK(R.all_hold());
    }
  }
}

TEST_CASE("bounds on a trained encoder's head outputs (fixture): exact bounds hold, cosine B3 measured") {
  // K = 8 augmented test views of 32 Fashion-MNIST images through the projection head of a
  // short Fashion-MNIST-LT run (tools/embed --head --views 8 --augment; see docs/derivation.md §8).
  const Tensor f = load_npy(source_root() + "/tests/contrastive/fixtures/trained_head_views.npy");
  const Tensor y = load_npy(source_root() + "/tests/contrastive/fixtures/trained_head_labels.npy");
  const std::int64_t K = 8;
  REQUIRE(f.size(0) == K * y.size(0));
  const ViewLayout L = ViewLayout::for_rows(f.size(0), K, "fixture");
  for (double tau : {0.2, 0.5}) {
    BoundsOptions o;
    o.temperature = tau;
    const BoundsReport inner = compute_bounds(f, L, y, o);
    CHECK(inner.all_hold());
    o.reading = PrototypeReading::cosine;
    const BoundsReport cos = compute_bounds(f, L, y, o);
    CHECK(cos.exact_bounds_hold());
    CHECK(cos.b3_max_excess <= cos.b3_excess_ceiling + 1e-12);
    MESSAGE("trained head, τ = " << tau << ": cosine-reading (B3) fails on " << cos.b3_violations << "/"
                                 << cos.rows.size() << " rows, max excess " << cos.b3_max_excess
                                 << " (ceiling " << cos.b3_excess_ceiling << "), mean positive excess "
                                 << cos.b3_mean_positive_excess << "; inner-product (B3) slack mean "
                                 << inner.mean_b3_lhs - inner.mean_b3_rhs);
  }
}

// ---- PRB -----------------------------------------------------------------------------------

TEST_CASE("PRB: hand example, image- vs class-weighted, raw vs normalised, both layouts") {
  // K = 2 views, N = 3 images, D = 2; classes {0, 0, 1}.
  // image 0: views (1,0),(1,0) → μ_0 = (1,0); image 1: (0,1),(0,1) → μ_1 = (0,1);
  // image 2: (1,0),(0,1) → μ_2 = (½,½).  μ_{class 0} = (½,½), μ_{class 1} = (½,½).
  const Tensor f = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 1, 0,    // view 0 of images 0,1,2
                                                           1, 0, 0, 1, 0, 1},  // view 1
                                       {6, 2});
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1}, {3});
  const PrbReport R = prototype_representation_bias(f, 2, y);
  const double h = std::sqrt(0.5);  // ‖(½,−½)‖
  CHECK(R.per_image_raw[0] == doctest::Approx(h));
  CHECK(R.per_image_raw[1] == doctest::Approx(h));
  CHECK(R.per_image_raw[2] == doctest::Approx(0.0));
  // normalised: μ_y/‖μ_y‖ = (1,1)/√2 vs (1,0): ‖·‖² = (1/√2 − 1)² + ½ = 2 − √2
  CHECK(R.per_image_normalised[0] == doctest::Approx(std::sqrt(2 - std::sqrt(2.0))));
  CHECK(R.per_image_normalised[2] == doctest::Approx(0.0));
  CHECK(R.raw_image_weighted == doctest::Approx(2 * h / 3));
  CHECK(R.raw_class_weighted == doctest::Approx(h / 2));  // class 0: h, class 1: 0
  CHECK(R.raw == R.raw_image_weighted);
  REQUIRE(R.per_class.size() == 2);
  CHECK(R.per_class[0].images == 2);
  CHECK(R.per_class[0].raw == doctest::Approx(h));
  const PrbReport Rc = prototype_representation_bias(f.view({2, 3, 2}), 0, y, PrbWeighting::classes);
  CHECK(Rc.raw == doctest::Approx(h / 2));
  CHECK(Rc.K == 2);
  // scaling the embeddings changes nothing (z̄ = f/‖f‖)
  CHECK(prototype_representation_bias(scale(f, 3.0), 2, y).raw == doctest::Approx(R.raw));
  // cosine reading (means of the unnormalised f): with unit rows it equals the normalised bias;
  // scaling image 0's views by 3 moves m_{class 0} = ((3,0) + (0,1))/2 but not μ:
  // δ_c(0)² = ‖(3,1)/√10 − (1,0)‖² = 2 − 6/√10
  CHECK(R.per_image_cosine[0] == doctest::Approx(R.per_image_normalised[0]).epsilon(1e-14));
  const Tensor f3 = Tensor::from_vector(std::vector<double>{3, 0, 0, 1, 1, 0, 3, 0, 0, 1, 0, 1}, {6, 2});
  const PrbReport R3 = prototype_representation_bias(f3, 2, y);
  CHECK(R3.per_image_cosine[0] == doctest::Approx(std::sqrt(2 - 6 / std::sqrt(10.0))).epsilon(1e-14));
  CHECK(R3.per_image_raw[0] == doctest::Approx(R.per_image_raw[0]).epsilon(1e-14));
  CHECK(R3.cosine == doctest::Approx(R3.cosine_image_weighted));
  CHECK(format_prb(R3).find("cosine") != std::string::npos);
  // views that cancel make the normalised bias undefined
  const Tensor g = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, -1, 0, 0, 1}, {4, 2});
  check_error([&] { prototype_representation_bias(g, 2, Tensor::from_vector(std::vector<std::int64_t>{0, 1}, {2})); },
              "image 0: its K = 2 views cancel");
}
