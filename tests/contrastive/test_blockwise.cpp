// test_blockwise.cpp — the blockwise fused balanced loss (balanced_blockwise.h) against the
// full-matrix fused loss (balanced_fused.h): values, gradients and telemetry over a sweep of
// tiles (tiny tiles force many tiles and partial edge tiles), views, weights and w_a ≠ w_r;
// the node; the degenerate-input errors; the automatic choice (suite: parity).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "common.h"

using namespace contra_test;

namespace {

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

FusedOptions with(LossAlgorithm algorithm, std::int64_t tile = 0) {
  FusedOptions o;
  o.algorithm = algorithm;
  o.tile = tile;
  return o;
}

// |x − y| ≤ tol · max(1, |y|)
void check_close(const char* what, double x, double y, double tol) {
  CHECK_MESSAGE(std::abs(x - y) <= tol * std::max(1.0, std::abs(y)), what << ": blockwise " << x << " fused " << y);
}

void check_telemetry(const LossTelemetry& b, const LossTelemetry& f, double tol) {
  check_close("loss", b.loss, f.loss, tol);
  check_close("attraction", b.attraction, f.attraction, tol);
  check_close("repulsion", b.repulsion, f.repulsion, tol);
  check_close("grad_norm_attraction", b.grad_norm_attraction, f.grad_norm_attraction, tol);
  check_close("grad_norm_repulsion", b.grad_norm_repulsion, f.grad_norm_repulsion, tol);
  check_close("grad_norm_total", b.grad_norm_total, f.grad_norm_total, tol);
  check_close("logit_grad_norm_attraction", b.logit_grad_norm_attraction, f.logit_grad_norm_attraction, tol);
  check_close("logit_grad_norm_repulsion", b.logit_grad_norm_repulsion, f.logit_grad_norm_repulsion, tol);
  check_close("max_abs_row_sum", b.max_abs_row_sum, f.max_abs_row_sum, tol);
  check_close("mean_positive_similarity", b.mean_positive_similarity, f.mean_positive_similarity, tol);
  check_close("mean_negative_similarity", b.mean_negative_similarity, f.mean_negative_similarity, tol);
  check_close("alignment", b.alignment, f.alignment, tol);
  check_close("uniformity", b.uniformity, f.uniformity, tol);
}

// Blockwise (tile T) against full-matrix, both in dtype dt: loss, ℓ_i, log D_i, ∂L/∂f through
// autograd and as input_grad, every telemetry field. tol relative to max(1, |value|); the
// gradient relative to max|∂L/∂f|.
void compare(const Tensor& f64, const ViewLayout& L, const BalancedParams& p, std::int64_t tile, DType dt, double tol) {
  CAPTURE(tile);
  CAPTURE(L.V);
  CAPTURE(L.M());
  const Tensor a = requires_grad_copy(f64.to(dt)), b = requires_grad_copy(f64.to(dt));
  const BalancedOutput full = balanced_loss(a, L, p, with(LossAlgorithm::full_matrix));
  const BalancedOutput blk = balanced_loss(b, L, p, with(LossAlgorithm::blockwise, tile));
  REQUIRE(blk.loss.grad_fn() != nullptr);
  CHECK(blk.loss.grad_fn()->name() == "balanced_loss_blockwise");
  CHECK(blk.loss.dtype() == dt);
  check_close("loss", blk.loss.item(), full.loss.item(), tol);
  CHECK(max_abs_diff(blk.per_anchor, full.per_anchor) <= tol * std::max(1.0, max_abs(full.per_anchor)));
  CHECK(max_abs_diff(blk.log_denominator, full.log_denominator) <= tol * std::max(1.0, max_abs(full.log_denominator)));
  check_telemetry(blk.telemetry, full.telemetry, tol);
  contra::backward(full.loss);
  contra::backward(blk.loss);
  CHECK(b.grad().dtype() == dt);
  const double scale = max_abs(a.grad());
  REQUIRE(scale > 0.0);
  CHECK(max_abs_diff(b.grad(), a.grad()) <= tol * scale);
  CHECK(max_abs_diff(blk.input_grad, full.input_grad) <= tol * scale);
}

void sweep(const Tensor& f, const ViewLayout& L, const BalancedParams& p) {
  // tiles 1 and 4 (many tiles, partial edges: M = 26 and 39 are not multiples of 4 or 7),
  // 7, and M and beyond (one tile)
  for (std::int64_t tile : {std::int64_t{1}, std::int64_t{4}, std::int64_t{7}, L.M(), std::int64_t{512}}) {
    compare(f, L, p, tile, DType::f64, 1e-12);
    compare(f, L, p, tile, DType::f32, 1e-5);
  }
}

}  // namespace

TEST_CASE("blockwise equals the full-matrix fused loss: values, gradients, telemetry (f64 1e-12, f32 1e-5)") {
  for (std::int64_t V : {2, 3}) {
    const std::int64_t N = 13, M = N * V;
    const ViewLayout L = ViewLayout::for_rows(M, V, "t");
    const Tensor f = clustered_embeddings(L, 9, 80 + V, 0.5);
    BalancedParams p;
    p.temperature = 0.3;
    SUBCASE("defaults (NT-Xent for V = 2)") { sweep(f, L, p); }
    SUBCASE("w_a ≠ w_r, w_p = 0 (D1)") {
      p.attract = 0.7;
      p.repel = 1.6;
      p.positive_weight = 0.0;
      sweep(f, L, p);
    }
    SUBCASE("w_p = 1, per-pair ω (M, M), per-anchor α, w_a ≠ w_r") {
      Generator g(90 + V);
      p.attract = 1.2;
      p.repel = 0.9;
      p.positive_weight = 1.0;
      p.pair_weights = Tensor::rand({M, M}, g, DType::f64) * 2.0;
      p.anchor_weights = Tensor::rand({M}, g, DType::f64) + 0.1;
      sweep(f, L, p);
    }
    SUBCASE("ω per negative (M,), the first columns zero, w_p = 0: rows start with W ≡ 0 tiles") {
      std::vector<double> w(static_cast<size_t>(M));
      for (std::int64_t k = 0; k < M; ++k) w[k] = k < 5 || k % 4 == 0 ? 0.0 : 0.5 + 0.1 * static_cast<double>(k % 3);
      p.pair_weights = Tensor::from_vector(w, {M});
      p.positive_weight = 0.0;
      p.attract = 0.5;
      sweep(f, L, p);
    }
  }
}

TEST_CASE("blockwise: extreme temperature stays finite (the online log-sum-exp rescales)") {
  const ViewLayout L = ViewLayout::for_rows(24, 2, "t");
  const Tensor f = random_embeddings(24, 4, 51);
  BalancedParams p;
  p.temperature = 1e-3;  // logits up to 1000; a tile's running max is overtaken by later tiles
  const double ref = balanced_loss_reference(f, L, p).item();
  REQUIRE(std::isfinite(ref));
  for (std::int64_t tile : {1, 5, 24}) {
    CHECK(balanced_loss(f, L, p, with(LossAlgorithm::blockwise, tile)).loss.item() == doctest::Approx(ref).epsilon(1e-12));
    compare(f, L, p, tile, DType::f64, 1e-12);
  }
}

TEST_CASE("blockwise node: one node, backward twice with retain_graph, nothing recorded under NoGradGuard") {
  const ViewLayout L = ViewLayout::for_rows(10, 2, "t");
  const Tensor f = requires_grad_copy(random_embeddings(10, 3, 61));
  const FusedOptions o = with(LossAlgorithm::blockwise, 3);
  const Tensor loss = balanced_loss_blockwise(f, L, {}, o).loss;
  REQUIRE(loss.grad_fn() != nullptr);
  CHECK(loss.grad_fn()->name() == "balanced_loss_blockwise");
  contra::backward(loss, Tensor(), true);
  const Tensor g1 = f.grad().clone();
  contra::backward(scale(loss, 1.0), Tensor(), false);
  CHECK(max_abs_diff(f.grad(), scale(g1, 2.0)) < 1e-15);
  {
    autograd::NoGradGuard ng;
    FusedOptions quiet = o;
    quiet.gradient_norms = false;
    const auto out = balanced_loss_blockwise(f, L, {}, quiet);
    CHECK(out.loss.grad_fn() == nullptr);
    CHECK(!out.input_grad.defined());
    CHECK(std::isnan(out.telemetry.grad_norm_total));
    // without the gradient pass, the forward-only telemetry still equals the full matrix's
    const auto full = balanced_loss(f, L, {}, with(LossAlgorithm::full_matrix));
    check_close("loss", out.telemetry.loss, full.telemetry.loss, 1e-12);
    check_close("logit_grad_norm_repulsion", out.telemetry.logit_grad_norm_repulsion,
                full.telemetry.logit_grad_norm_repulsion, 1e-12);
    check_close("max_abs_row_sum", out.telemetry.max_abs_row_sum, full.telemetry.max_abs_row_sum, 1e-12);
    check_close("uniformity", out.telemetry.uniformity, full.telemetry.uniformity, 1e-12);
  }
}

TEST_CASE("blockwise: the degenerate inputs the fused loss refuses, refused with the same messages") {
  const FusedOptions o = with(LossAlgorithm::blockwise, 2);
  BalancedParams p;
  const Tensor f1 = random_embeddings(2, 3, 1);
  check_error([&] { balanced_loss_blockwise(f1, ViewLayout::for_rows(2, 2, "t"), p, o); }, "no negatives");
  check_error([&] { balanced_loss_blockwise(random_embeddings(4, 3, 1), ViewLayout::for_rows(4, 1, "t"), p, o); },
              "needs V ≥ 2");
  check_error([&] { balanced_loss_blockwise(random_embeddings(6, 3, 2), ViewLayout::for_rows(4, 2, "t"), p, o); },
              "M = N·V = 4");
  const ViewLayout L = ViewLayout::for_rows(6, 2, "t");
  Tensor f = random_embeddings(6, 3, 3);
  f.set_at({2, 0}, 0.0);
  f.set_at({2, 1}, 0.0);
  f.set_at({2, 2}, 0.0);
  check_error([&] { balanced_loss_blockwise(f, L, p, o); }, "zero-norm embedding: row 2");
  Tensor g = random_embeddings(6, 3, 4);
  g.set_at({1, 2}, std::numeric_limits<double>::quiet_NaN());
  check_error([&] { balanced_loss_blockwise(g, L, p, o); }, "non-finite input: embedding row 1, column 2");
  const Tensor h = random_embeddings(6, 3, 5);
  BalancedParams q;
  q.temperature = 0.0;
  check_error([&] { balanced_loss_blockwise(h, L, q, o); }, "temperature τ must be finite and > 0");
  q = {};
  q.positive_weight = 1.5;
  check_error([&] { balanced_loss_blockwise(h, L, q, o); }, "w_p must lie in [0, 1]");
  q = {};
  q.positive_weight = 0.0;  // row 0: its negatives (images 1, 2) all have ω = 0
  std::vector<double> w(36, 1.0);
  for (std::int64_t k : {1, 2, 4, 5}) w[k] = 0.0;
  q.pair_weights = Tensor::from_vector(w, {6, 6});
  check_error([&] { balanced_loss_blockwise(h, L, q, o); }, "anchor row 0 has no entry with W > 0");
  w[1] = -1.0;
  q.pair_weights = Tensor::from_vector(w, {6, 6});
  check_error([&] { balanced_loss_blockwise(h, L, q, o); }, "pair weights ω must be finite and ≥ 0");
  q = {};
  q.anchor_weights = Tensor::zeros({6}, DType::f64);
  check_error([&] { balanced_loss_blockwise(h, L, q, o); }, "anchor weights α sum to 0");
  // blockwise-only rules
  FusedOptions keep = o;
  keep.keep_logit_grad = true;
  check_error([&] { balanced_loss_blockwise(h, L, p, keep); }, "keep_logit_grad needs the (M, M) logit gradient");
  check_error([&] { balanced_loss_blockwise(h, L, p, with(LossAlgorithm::blockwise, -1)); }, "tile must be ≥ 0");
}

TEST_CASE("automatic choice: blockwise above kBlockwiseAboveBytes of (M, M) f32, overridable") {
  // 4·M² > 256 MiB ⇔ M > 8192
  CHECK(!blockwise_chosen(8192, {}));
  CHECK(blockwise_chosen(8194, {}));
  CHECK(!blockwise_chosen(16384, with(LossAlgorithm::full_matrix)));
  CHECK(blockwise_chosen(8, with(LossAlgorithm::blockwise)));
  FusedOptions keep;
  keep.keep_logit_grad = true;  // only the full matrix can return G
  CHECK(!blockwise_chosen(16384, keep));
  // balanced_loss follows the choice: small M runs the full matrix unless told otherwise
  const ViewLayout L = ViewLayout::for_rows(8, 2, "t");
  const Tensor f = requires_grad_copy(random_embeddings(8, 3, 62));
  CHECK(balanced_loss(f, L, {}).loss.grad_fn()->name() == "balanced_loss_fused");
  CHECK(balanced_loss(f, L, {}, with(LossAlgorithm::blockwise)).loss.grad_fn()->name() == "balanced_loss_blockwise");
}
