// test_blockwise.cpp — the blockwise fused balanced loss (balanced_blockwise.h) against the
// full-matrix fused loss (balanced_fused.h): values, gradients and telemetry over a sweep of
// tiles (tiny tiles force many tiles and partial edge tiles), views, weights and w_a ≠ w_r;
// the node; the degenerate-input errors; the automatic choice (suite: parity).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "common.h"

using namespace contra_test;

namespace {

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
  using Field = double LossTelemetry::*;
  const std::pair<const char*, Field> fields[] = {
      {"loss", &LossTelemetry::loss},
      {"attraction", &LossTelemetry::attraction},
      {"repulsion", &LossTelemetry::repulsion},
      {"grad_norm_attraction", &LossTelemetry::grad_norm_attraction},
      {"grad_norm_repulsion", &LossTelemetry::grad_norm_repulsion},
      {"grad_norm_total", &LossTelemetry::grad_norm_total},
      {"logit_grad_norm_attraction", &LossTelemetry::logit_grad_norm_attraction},
      {"logit_grad_norm_repulsion", &LossTelemetry::logit_grad_norm_repulsion},
      {"max_abs_row_sum", &LossTelemetry::max_abs_row_sum},
      {"mean_positive_similarity", &LossTelemetry::mean_positive_similarity},
      {"mean_negative_similarity", &LossTelemetry::mean_negative_similarity},
      {"alignment", &LossTelemetry::alignment},
      {"uniformity", &LossTelemetry::uniformity},
  };
  for (const auto& [name, field] : fields) check_close(name, b.*field, f.*field, tol);
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
  for_each_balanced_case(13, 9, 0.3, 80, sweep);  // M = 26 and 39: not multiples of the tiles 4 and 7
}

TEST_CASE("blockwise equals the full-matrix fused loss at M = 602: tiles large enough for the threaded row passes") {
  // ni·nk ≥ kParallelGrain (tile 256, and the default 512 with a partial edge tile of 90 rows)
  const ViewLayout L = ViewLayout::for_rows(602, 2, "t");
  const Tensor f = random_embeddings(602, 8, 7);
  for (const auto& [name, p] : balanced_param_cases(602, 0.2, 8)) {
    CAPTURE(name);
    compare(f, L, p, 256, DType::f64, 1e-12);
    compare(f, L, p, 0, DType::f32, 1e-5);
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
    const double blockwise = balanced_loss(f, L, p, with(LossAlgorithm::blockwise, tile)).loss.item();
    CHECK(blockwise == doctest::Approx(ref).epsilon(1e-12));
    compare(f, L, p, tile, DType::f64, 1e-12);
  }
}

TEST_CASE("blockwise node: one node, backward twice with retain_graph, nothing recorded under NoGradGuard") {
  const ViewLayout L = ViewLayout::for_rows(10, 2, "t");
  const Tensor f = requires_grad_copy(random_embeddings(10, 3, 61));
  const FusedOptions o = with(LossAlgorithm::blockwise, 3);
  check_single_node(f, balanced_loss_blockwise(f, L, {}, o).loss, "balanced_loss_blockwise");
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
  struct Case {
    const char* needle;
    Tensor f;
    ViewLayout layout;
    BalancedParams params;
  };
  const ViewLayout L6 = ViewLayout::for_rows(6, 2, "t");
  std::vector<Case> cases;
  cases.push_back({"no negatives", random_embeddings(2, 3, 1), ViewLayout::for_rows(2, 2, "t"), {}});
  cases.push_back({"needs V ≥ 2", random_embeddings(4, 3, 1), ViewLayout::for_rows(4, 1, "t"), {}});
  cases.push_back({"M = N·V = 4", random_embeddings(6, 3, 2), ViewLayout::for_rows(4, 2, "t"), {}});
  Tensor zero_row = random_embeddings(6, 3, 3);
  for (std::int64_t d = 0; d < 3; ++d) zero_row.set_at({2, d}, 0.0);
  cases.push_back({"zero-norm embedding: row 2", zero_row, L6, {}});
  Tensor nan_entry = random_embeddings(6, 3, 4);
  nan_entry.set_at({1, 2}, std::numeric_limits<double>::quiet_NaN());
  cases.push_back({"non-finite input: embedding row 1, column 2", nan_entry, L6, {}});
  const Tensor h = random_embeddings(6, 3, 5);
  BalancedParams q;
  q.temperature = 0.0;
  cases.push_back({"temperature τ must be finite and > 0", h, L6, q});
  q = {};
  q.positive_weight = 1.5;
  cases.push_back({"w_p must lie in [0, 1]", h, L6, q});
  q = {};
  q.positive_weight = 0.0;  // row 0: its negatives (images 1, 2 in both views) all have ω = 0
  std::vector<double> w(36, 1.0);
  for (std::int64_t k : {1, 2, 4, 5}) w[k] = 0.0;
  q.pair_weights = Tensor::from_vector(w, {6, 6});
  cases.push_back({"anchor row 0 has no entry with W > 0", h, L6, q});
  w[1] = -1.0;
  q.pair_weights = Tensor::from_vector(w, {6, 6});
  cases.push_back({"pair weights ω must be finite and ≥ 0", h, L6, q});
  q = {};
  q.anchor_weights = Tensor::zeros({6}, DType::f64);
  cases.push_back({"anchor weights α sum to 0", h, L6, q});
  for (const Case& c : cases) {
    CAPTURE(c.needle);
    check_error([&] { balanced_loss(c.f, c.layout, c.params, with(LossAlgorithm::full_matrix)); }, c.needle);
    check_error([&] { balanced_loss(c.f, c.layout, c.params, with(LossAlgorithm::blockwise, 2)); }, c.needle);
    check_error([&] { balanced_loss_blockwise(c.f, c.layout, c.params, with(LossAlgorithm::blockwise, 2)); },
                "balanced_loss (blockwise)");
  }
  // blockwise-only rules
  FusedOptions keep = with(LossAlgorithm::blockwise, 2);
  keep.keep_logit_grad = true;
  check_error([&] { balanced_loss_blockwise(h, L6, {}, keep); }, "keep_logit_grad needs the (M, M) logit gradient");
  check_error([&] { balanced_loss_blockwise(h, L6, {}, with(LossAlgorithm::blockwise, -1)); }, "tile must be ≥ 0");
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
