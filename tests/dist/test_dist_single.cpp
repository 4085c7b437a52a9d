// test_dist_single.cpp — the parts of src/dist that need no second process: the single-process
// communicator, the anchor split of the losses (local anchors × global keys, summed over
// anchor ranges, is the full loss and gradient), leaf hooks, and gradient buckets with K = 1.
#include <doctest/doctest.h>

#include "autograd/engine.h"
#include "autograd/leaf_hooks.h"
#include "contrastive/balanced.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/losses.h"
#include "dist/gathered_loss.h"
#include "dist/gradient_buckets.h"
#include "dist/single_process_communicator.h"
#include "dist/sync_batch_norm.h"
#include "dist/world.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "tensor/cpu/cpu_backend.h"
#include "dist_test_util.h"

using namespace contra;
using namespace dist_test;
using contrastive::ViewLayout;

TEST_CASE("single-process communicator: K = 1, collectives are the identity, argument rules") {
  dist::SingleProcessCommunicator c;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  const Tensor x = Tensor::from_vector(std::vector<double>{1.5, -2.0, 3.0}, {3});
  const std::uint64_t v0 = x.version();
  c.all_reduce_sum(x);
  CHECK(x.to_vector<double>() == std::vector<double>{1.5, -2.0, 3.0});
  auto request = c.start_all_reduce_sum(x);
  CHECK(request->poll());
  request->wait();
  CHECK(x.to_vector<double>() == std::vector<double>{1.5, -2.0, 3.0});
  const Tensor y = c.all_gather(x);
  CHECK(y.to_vector<double>() == x.to_vector<double>());
  y.fill_(0.0);  // a fresh tensor, as with K > 1
  CHECK(x.to_vector<double>()[0] == 1.5);
  CHECK(x.version() == v0);
  const Tensor z = c.reduce_scatter_sum(x);  // (1·3,) → (3,)
  CHECK(z.to_vector<double>() == x.to_vector<double>());
  CHECK(!z.same(x));
  c.broadcast(x, 0);
  c.barrier();
  CHECK_THROWS_WITH_AS(c.broadcast(x, 1), doctest::Contains("root rank 1 does not exist"), contra::Error);
  CHECK_THROWS_WITH_AS(c.all_reduce_sum(Tensor::from_vector(std::vector<std::int64_t>{1}, {1})),
                       doctest::Contains("unsupported dtype"), contra::Error);
  const Tensor strided = Tensor::zeros({3, 4}, DType::f64).as_strided({3}, {4}, 0);
  CHECK_THROWS_WITH_AS(c.all_reduce_sum(strided), doctest::Contains("not contiguous"), contra::Error);
  // The MPI rules (CPU tensors only) as the shared check states them.
  CHECK_NOTHROW(dist::Communicator::check_buffer(x, "op", true));
  CHECK_THROWS_WITH_AS(dist::Communicator::check_buffer(x, "op", true, Device::cuda(0)),
                       doctest::Contains("tensor on cpu, this communicator's tensors are on cuda:0"), contra::Error);
}

TEST_CASE("world: one rank without a launcher; CONTRA_DIST_TIMEOUT_S and CONTRA_DIST_HEARTBEAT_TIMEOUT_S are checked") {
  CHECK(world().size() >= 1);
  if (!std::getenv("OMPI_COMM_WORLD_SIZE")) CHECK(world().size() == 1);
  ::setenv("CONTRA_DIST_TIMEOUT_S", "2.5", 1);
  CHECK(dist::options_from_environment({}).timeout_s == 2.5);
  ::setenv("CONTRA_DIST_TIMEOUT_S", "soon", 1);
  CHECK_THROWS_WITH_AS(dist::options_from_environment({}), doctest::Contains("not a positive number"), contra::Error);
  ::unsetenv("CONTRA_DIST_TIMEOUT_S");
  CHECK(dist::options_from_environment({}).heartbeat_timeout_s == 60.0);
  ::setenv("CONTRA_DIST_HEARTBEAT_TIMEOUT_S", "7", 1);
  CHECK(dist::options_from_environment({}).heartbeat_timeout_s == 7.0);
  ::setenv("CONTRA_DIST_HEARTBEAT_TIMEOUT_S", "-1", 1);
  CHECK_THROWS_WITH_AS(dist::options_from_environment({}), doctest::Contains("CONTRA_DIST_HEARTBEAT_TIMEOUT_S"),
                       contra::Error);
  ::unsetenv("CONTRA_DIST_HEARTBEAT_TIMEOUT_S");
}

TEST_CASE("anchors: per-anchor losses over anchor ranges, summed, are the full loss and gradient (f64 1e-12)") {
  // The identity gathered_loss.h rests on: L = Σ_r L^(r) over a partition of the images.
  const std::int64_t N = 6, V = 2, D = 4;
  const ViewLayout L{N, V};
  Generator g(4);
  const Tensor F = Tensor::randn({L.M(), D}, g, DType::f64).set_requires_grad(true);
  contrastive::BalancedParams p;
  p.temperature = 0.4;
  p.repel = 1.5;
  p.positive_weight = 0.3;
  const Tensor full = contrastive::balanced_loss_reference(F, L, p);
  const Tensor dF = contra::grad(full, {F})[0];
  Tensor total;
  for (auto [first, count] : {std::pair<std::int64_t, std::int64_t>{0, 1}, {1, 3}, {4, 2}}) {
    const ViewLayout A = L.with_anchor_images(first, count, "test");
    CHECK(A.anchor_rows() == V * count);
    CHECK(A.anchor_row(count) == N + first);  // anchor a = count is view 1 of the first anchor image
    const Tensor part = scale(
        sum(contrastive::balanced_per_anchor(dist::anchor_logits(F, A, p.temperature), A, p)), 1.0 / L.M());
    total = total.defined() ? total + part : part;
  }
  CHECK(std::abs(total.item() - full.item()) <= 1e-12);
  CHECK(max_abs_diff(contra::grad(total, {F})[0], dF) <= 1e-12);
  // masks of an anchor range are the rows of the full masks
  const ViewLayout A = L.with_anchor_images(2, 2, "test");
  CHECK(max_abs_diff(contrastive::positive_mask(A, DType::f64),
                     contrastive::anchor_rows_of(contrastive::positive_mask(L, DType::f64), A)) == 0.0);
  CHECK_THROWS_WITH_AS(L.with_anchor_images(5, 2, "test"), doctest::Contains("do not lie in"), contra::Error);
  // the fused kernel computes every anchor: a restricted layout is refused, not ignored
  CHECK_THROWS_WITH_AS(contrastive::balanced_loss(F, A, p), doctest::Contains("restricts the anchors"),
                       contra::Error);
}

TEST_CASE("leaf hooks run once per backward, after the gradient is complete, while the handle lives") {
  const Tensor w = Tensor::from_vector(std::vector<double>{2.0}, {1}).set_requires_grad(true);
  std::vector<double> seen;
  {
    auto handle = autograd::add_post_accumulate_grad_hook(w, [&](const Tensor& leaf) {
      seen.push_back(leaf.grad().item());
    });
    // w is used twice (a diamond): the hook sees the summed gradient once
    backward(sum(w * 3.0 + w * w));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == doctest::Approx(3.0 + 4.0));
  }
  backward(sum(w * 3.0));  // handle gone: no call
  CHECK(seen.size() == 1);
  const Tensor not_leaf = w * 2.0;
  CHECK_THROWS_AS((void)autograd::add_post_accumulate_grad_hook(not_leaf, [](const Tensor&) {}), contra::Error);
}

TEST_CASE("gradient buckets with K = 1: gradients unchanged, unused parameters get zeros, buckets rearm") {
  auto comm = std::make_shared<dist::SingleProcessCommunicator>();
  const Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2}).set_requires_grad(true);
  const Tensor b = Tensor::from_vector(std::vector<double>{3.0}, {1}).set_requires_grad(true);
  const Tensor unused = Tensor::zeros({2, 2}, DType::f64).set_requires_grad(true);
  dist::GradientBuckets buckets(comm, {a, b, unused}, dist::BucketOptions{16});
  CHECK(buckets.buckets() == 3);  // 16 bytes: one f64 pair or less per bucket
  for (int pass = 0; pass < 2; ++pass) {
    a.set_grad(Tensor());
    b.set_grad(Tensor());
    backward(sum(a * a) + sum(b) * 5.0);
    buckets.finish();
    CHECK(buckets.last_started_during_backward() == 2);  // a's and b's buckets started in backward
    CHECK(a.grad().to_vector<double>() == std::vector<double>{2.0, 4.0});
    CHECK(b.grad().item() == 5.0);
    CHECK(unused.grad().to_vector<double>() == std::vector<double>{0, 0, 0, 0});
  }
  // a second backward before finish() would be lost from a bucket already started: an error
  backward(sum(b) * 1.0);
  CHECK_THROWS_WITH_AS(backward(sum(b) * 2.0), doctest::Contains("second gradient before finish()"), contra::Error);
}

TEST_CASE("synchronise_batch_norms: every BN of a ResNet-18 and its head; K = 1 equals plain BN (f64 1e-10)") {
  nn::ResNetConfig cfg;
  cfg.width = 0.125;  // base width 8
  cfg.dtype = DType::f64;
  Generator g1(2), g2(2);
  nn::ResNet plain(cfg, g1), synced(cfg, g2);
  auto comm = std::make_shared<dist::SingleProcessCommunicator>();
  CHECK(dist::synchronise_batch_norms(synced, comm) == 20);  // stem 1 + 8 blocks × 2 + 3 downsample
  nn::ProjectionHead head({64, 64, 16, 2, true, true, DType::f64}, g1);
  CHECK(dist::synchronise_batch_norms(head, comm) == 2);
  Generator gx(3);
  const Tensor x = Tensor::randn({4, 3, 8, 8}, gx, DType::f64);
  const Tensor y_plain = plain.forward(x), y_synced = synced.forward(x);
  CHECK(max_abs_diff(y_synced, y_plain) <= 1e-10);
  const auto a = plain.named_buffers(), b = synced.named_buffers();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(a[i].first == b[i].first);  // the same names: checkpoints interchange
    CHECK(max_abs_diff(b[i].second.to(DType::f64), a[i].second.to(DType::f64)) <= 1e-10);
  }
  synced.eval();  // eval: running statistics, no communication
  plain.eval();
  CHECK(max_abs_diff(synced.forward(x), plain.forward(x)) <= 1e-10);
}

namespace {

// A BatchNormReduction of one process that counts its collectives, and can sum as if
// `copies` identical processes held the batch: the f32 kernel's first call carries the shift
// in its first `shift_values` entries, to which the copies without the first sample add 0.
struct CountingReduction final : BatchNormReduction {
  double copies = 1.0;
  std::int64_t shift_values = 0;
  std::vector<std::int64_t> sizes;  // n of each sum(), in order
  void sum(double* values, std::int64_t n) override {
    const std::int64_t unscaled = sizes.empty() ? shift_values : 0;
    sizes.push_back(n);
    for (std::int64_t i = unscaled; i < n; ++i) values[i] *= copies;
  }
  bool holds_first_sample() const override { return true; }
};

struct BnRun {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};

// BN (training, running statistics) → ReLU (whose saved output is BN's recomputation) → Σ ⊙ R.
BnRun run_bn(const Tensor& X, const Tensor& R, std::shared_ptr<BatchNormReduction> reduction,
             std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&)> bn = {}) {
  const std::int64_t C = X.size(1);
  const DType dt = X.dtype();
  Generator g(4);
  const Tensor x = X.detach().clone().set_requires_grad(true);
  const Tensor gamma = add_scalar(Tensor::rand({C}, g, DType::f64), 0.5).to(dt).set_requires_grad(true);
  const Tensor beta = Tensor::randn({C}, g, DType::f64).to(dt).set_requires_grad(true);
  BnRun out{Tensor(), Tensor(), Tensor(), Tensor(), Tensor::zeros({C}, dt), Tensor::ones({C}, dt)};
  out.y = bn ? bn(x, gamma, beta, out.running_mean, out.running_var)
             : batch_norm(x, gamma, beta, out.running_mean, out.running_var, true, 0.1, 1e-5, reduction);
  backward(sum(relu(out.y) * R));
  out.dx = x.grad();
  out.dgamma = gamma.grad();
  out.dbeta = beta.grad();
  return out;
}

void check_identical(const BnRun& a, const BnRun& b) {
  CHECK(max_abs_diff(a.y, b.y) == 0.0);
  CHECK(max_abs_diff(a.dx, b.dx) == 0.0);
  CHECK(max_abs_diff(a.dgamma, b.dgamma) == 0.0);
  CHECK(max_abs_diff(a.dbeta, b.dbeta) == 0.0);
  CHECK(max_abs_diff(a.running_mean, b.running_mean) == 0.0);
  CHECK(max_abs_diff(a.running_var, b.running_var) == 0.0);
}

}  // namespace

TEST_CASE("BN kernels with a BatchNormReduction: one process gives the unreduced bits; the sums go through it") {
  for (DType dt : {DType::f32, DType::f64})
    for (const Shape& shape : {Shape{6, 5, 7, 9}, Shape{3, 2, 20, 20}, Shape{10, 7}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(shape_str(shape));
      const std::int64_t C = shape[1];
      Generator g(8);
      const Tensor X = add_scalar(Tensor::randn(shape, g, DType::f64), 2.0).to(dt);
      const Tensor R = Tensor::randn(shape, g, DType::f64).to(dt);
      const BnRun plain = run_bn(X, R, nullptr);
      auto counting = std::make_shared<CountingReduction>();
      check_identical(run_bn(X, R, counting), plain);
      // forward: (shift with the count, then s₁ and s₂) in f32's OpenMP kernel, (Σx with the
      // count, then Σ(x − μ)²) in the reference; backward: Σdy, Σdy·x̂ with the count. ReLU's
      // recomputation of y replays, not communicating.
      const std::vector<std::int64_t> expected = dt == DType::f32 ? std::vector<std::int64_t>{C + 1, 2 * C, 2 * C + 1}
                                                                  : std::vector<std::int64_t>{C + 1, C, 2 * C + 1};
      CHECK(counting->sizes == expected);
      // the same batch twice over (sums and count doubled): the same normalisation, but the
      // unbiased running variance uses n = 2M, and dγ, dβ stay the local part
      auto doubled = std::make_shared<CountingReduction>();
      doubled->copies = 2.0;
      doubled->shift_values = dt == DType::f32 ? C : 0;
      const BnRun twice = run_bn(X, R, doubled);
      CHECK(max_abs_diff(twice.y, plain.y) == 0.0);
      CHECK(max_abs_diff(twice.dx, plain.dx) == 0.0);
      CHECK(max_abs_diff(twice.dgamma, plain.dgamma) == 0.0);
      CHECK(max_abs_diff(twice.running_mean, plain.running_mean) == 0.0);
      const double M = static_cast<double>(X.numel() / C);
      // running_var = 0.9 + 0.1·σ²·n/(n − 1): σ² recovered from the plain run, n = 2M here
      const auto v_plain = plain.running_var.to_vector<double>(), v_twice = twice.running_var.to_vector<double>();
      for (size_t c = 0; c < v_plain.size(); ++c) {
        const double sigma2 = (v_plain[c] - 0.9) / 0.1 * (M - 1) / M;
        CHECK(v_twice[c] == doctest::Approx(0.9 + 0.1 * sigma2 * 2 * M / (2 * M - 1)).epsilon(1e-5));
      }
      // the twins agree with a reduction too: OpenMP kernel against the reference (f32)
      if (dt == DType::f32) {
        auto ref_doubled = std::make_shared<CountingReduction>();
        ref_doubled->copies = 2.0;  // the reference's first call: Σx and the count, no shift
        const BnRun ref = [&] {
          ReferenceKernelsGuard reference(true);
          return run_bn(X, R, ref_doubled);
        }();
        CHECK(max_abs_diff(twice.y, ref.y) <= 1e-5);
        CHECK(max_abs_diff(twice.dx, ref.dx) <= 1e-5);
        CHECK(max_abs_diff(twice.dgamma, ref.dgamma) <= 1e-4);
        CHECK(max_abs_diff(twice.dbeta, ref.dbeta) <= 1e-4);
        CHECK(max_abs_diff(twice.running_var, ref.running_var) <= 1e-6);
      }
      // dist::sync_batch_norm on one process: the same bits as plain BN
      auto comm = std::make_shared<dist::SingleProcessCommunicator>();
      check_identical(run_bn(X, R, nullptr,
                             [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& m, const Tensor& v) {
                               return dist::sync_batch_norm(*comm, x, w, b, m, v, 0.1, 1e-5);
                             }),
                      plain);
    }
}

TEST_CASE("oneDNN's BN refuses a BatchNormReduction; dist::sync_batch_norm falls back to the composed ops") {
  struct Impl {  // oneDNN's kernels for this case, the previous choice restored after it
    cpu::BatchNormImpl saved = cpu::batch_norm_impl();
    Impl() { cpu::set_batch_norm_impl(cpu::BatchNormImpl::onednn); }
    ~Impl() { cpu::set_batch_norm_impl(saved); }
  } impl;
  Generator g(6);
  const Tensor X = Tensor::randn({4, 3, 5, 5}, g);
  const Tensor R = Tensor::randn({4, 3, 5, 5}, g);
  CHECK_FALSE(backend_for(X).supports_batch_norm_reduction(X));
  CHECK(backend_for(X.to(DType::f64)).supports_batch_norm_reduction(X.to(DType::f64)));  // the reference kernel
  CHECK_THROWS_WITH_AS(run_bn(X, R, std::make_shared<CountingReduction>()),
                       doctest::Contains("cannot take a BatchNormReduction"), contra::Error);
  const Tensor y = Tensor::empty(X.shape()), m = Tensor::empty({3}), v = Tensor::empty({3});
  CountingReduction direct;
  CHECK_THROWS_WITH_AS(backend_for(X).batch_norm_forward_training(X, Tensor(), Tensor(), 1e-5, y, m, v, &direct),
                       doctest::Contains("CONTRA_BN_IMPL=onednn"), contra::Error);
  auto comm = std::make_shared<dist::SingleProcessCommunicator>();
  const BnRun plain = run_bn(X, R, nullptr);
  const BnRun synced = run_bn(X, R, nullptr, [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& mm,
                                                 const Tensor& vv) {
    return dist::sync_batch_norm(*comm, x, w, b, mm, vv, 0.1, 1e-5);
  });
  CHECK(max_abs_diff(synced.y, plain.y) <= 1e-5);
  CHECK(max_abs_diff(synced.dx, plain.dx) <= 1e-5);
}
