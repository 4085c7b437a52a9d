// test_dist_equality.cpp — K ranks equal one process with the global batch: gathered losses,
// synchronised BN, and 5 SGD steps of a small network. Run with K = 1 (no launcher) and under
// `mpirun -np 2` and `-np 3 --oversubscribe` (tests/dist/meson.build).
// Tolerances: f64 1e-10, f32 1e-5 (issue 14).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "autograd/engine.h"
#include "contrastive/balanced.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/losses.h"
#include "contrastive/prototypes.h"
#include "dist/gathered_loss.h"
#include "dist/gradient_buckets.h"
#include "dist/sync_batch_norm.h"
#include "dist/timed_communicator.h"
#include "dist/world.h"
#include "dist_test_util.h"
#include "nn/sgd.h"

using namespace contra;
using namespace dist_test;
using contrastive::ViewLayout;

namespace {

double tolerance(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-5; }

// One loss both ways: the reference on the global F (M, D), the gathered one on the shard.
struct LossCase {
  const char* name;
  std::function<Tensor(const Tensor& F, const ViewLayout& L)> reference;
  std::function<Tensor(const Tensor& f_local)> gathered;
};

void check_gathered(const LossCase& c, std::int64_t N, std::int64_t V, std::int64_t D, DType dt) {
  CAPTURE(c.name);
  CAPTURE(dtype_name(dt));
  const int K = world().size(), r = world().rank();
  const ViewLayout L{N, V};
  Generator g(7);
  const Tensor F = Tensor::randn({L.M(), D}, g, DType::f64).to(dt).set_requires_grad(true);  // (M, D)
  const Tensor ref_loss = c.reference(F, L);
  backward(ref_loss);
  const Tensor f_local = shard(F, N, V, K, r).set_requires_grad(true);  // (V·n, D)
  const Tensor loss_r = c.gathered(f_local);
  backward(loss_r);
  // L = (1/K) Σ_r loss_r
  CHECK(std::abs(dist::global_mean(world(), loss_r) - ref_loss.item()) <= tolerance(dt));
  // f_r.grad = K ∂L/∂f_r (gathered_loss.h)
  const Tensor expected = scale(shard(F.grad(), N, V, K, r), static_cast<double>(K));
  CHECK(max_abs_diff(f_local.grad(), expected) <= tolerance(dt) * K);
}

}  // namespace

TEST_CASE("gathered losses equal the one-process loss on the concatenated embeddings (value and gradient)") {
  const int K = world().size();
  const std::int64_t N = 2 * K, D = 5;  // n = 2 images per rank
  for (DType dt : {DType::f64, DType::f32}) {
    const double tau = 0.3;
    check_gathered({"nt_xent", [&](const Tensor& F, const ViewLayout& L) { return contrastive::nt_xent(F, L, tau); },
                    [&](const Tensor& f) { return dist::gathered_nt_xent(world(), f, 2, tau); }},
                   N, 2, D, dt);
    check_gathered({"derived (D1), V = 3",
                    [&](const Tensor& F, const ViewLayout& L) { return contrastive::derived_loss(F, L, tau, 0.7); },
                    [&](const Tensor& f) { return dist::gathered_derived_loss(world(), f, 3, tau, 0.7); }},
                   N, 3, D, dt);
    // labels per global image, the same on every rank; rank r passes its images'
    std::vector<std::int64_t> y;
    for (std::int64_t i = 0; i < N; ++i) y.push_back(i % 3);
    const Tensor labels = Tensor::from_vector(y, {N});
    const std::int64_t n = N / K;
    const Tensor local_labels = Tensor::from_vector(
        std::vector<std::int64_t>(y.begin() + world().rank() * n, y.begin() + (world().rank() + 1) * n), {n});
    check_gathered({"supcon, labels gathered",
                    [&](const Tensor& F, const ViewLayout& L) { return contrastive::supcon_loss(F, L, labels, tau); },
                    [&](const Tensor& f) { return dist::gathered_supcon_loss(world(), f, 2, local_labels, tau); }},
                   N, 2, D, dt);
    // (S1): class prototypes over the global batch, V = 3 (labels i % 3: every class on several ranks)
    check_gathered({"supervised prototype S1, labels gathered, V = 3",
                    [&](const Tensor& F, const ViewLayout& L) {
                      return contrastive::supervised_prototype_loss(F, L, labels, 0.7);
                    },
                    [&](const Tensor& f) {
                      return dist::gathered_supervised_prototype_loss(world(), f, 3, local_labels, 0.7);
                    }},
                   N, 3, D, dt);
    // balanced with w_a ≠ w_r, w_p = 0.5, per-pair ω (M, M) and per-anchor α (M,): global constants
    contrastive::BalancedParams p;
    p.temperature = tau;
    p.attract = 0.8;
    p.repel = 1.3;
    p.positive_weight = 0.5;
    const std::int64_t M = N * 2;
    Generator gw(11);
    p.pair_weights = Tensor::rand({M, M}, gw, DType::f64);
    p.anchor_weights = add_scalar(Tensor::rand({M}, gw, DType::f64), 0.5);
    check_gathered({"balanced with ω and α",
                    [&](const Tensor& F, const ViewLayout& L) { return contrastive::balanced_loss_reference(F, L, p); },
                    [&](const Tensor& f) { return dist::gathered_balanced_loss(world(), f, 2, p); }},
                   N, 2, D, dt);
    // and the fused kernel agrees with the reference, so the gathered loss equals it too
    check_gathered({"balanced, fused reference",
                    [&](const Tensor& F, const ViewLayout& L) { return contrastive::balanced_loss(F, L, p).loss; },
                    [&](const Tensor& f) { return dist::gathered_balanced_loss(world(), f, 2, p); }},
                   N, 2, D, dt);
  }
}

TEST_CASE("synchronised BN equals BN on the concatenated batch: forward, backward, running statistics") {
  const int K = world().size(), r = world().rank();
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    const std::int64_t N = 3 * K, V = 1, C = 4;  // 3 rows per rank
    Generator g(3);
    const Tensor X = Tensor::randn({N, C, 3, 2}, g, DType::f64).to(dt).set_requires_grad(true);
    const Tensor R = Tensor::randn({N, C, 3, 2}, g, DType::f64).to(dt);  // loss = Σ y ⊙ R
    const Tensor gamma = add_scalar(Tensor::rand({C}, g, DType::f64), 0.5).to(dt).set_requires_grad(true);
    const Tensor beta = Tensor::randn({C}, g, DType::f64).to(dt).set_requires_grad(true);
    const Tensor rm = Tensor::zeros({C}, dt), rv = Tensor::ones({C}, dt);
    const Tensor Y = batch_norm(X, gamma, beta, rm, rv, true, 0.1, 1e-5);  // nn's op (oneDNN / reference)
    backward(sum(Y * R));
    const Tensor dgamma_ref = gamma.grad().clone(), dbeta_ref = beta.grad().clone();
    gamma.set_grad(Tensor());
    beta.set_grad(Tensor());

    const Tensor x = shard(X, N, V, K, r).set_requires_grad(true);
    const Tensor rm_r = Tensor::zeros({C}, dt), rv_r = Tensor::ones({C}, dt);
    const Tensor y = dist::sync_batch_norm(world(), x, gamma, beta, rm_r, rv_r, 0.1, 1e-5);
    CHECK(max_abs_diff(y, shard(Y, N, V, K, r)) <= tolerance(dt));
    // J = Σ_r Σ y_r ⊙ R_r is the global loss itself (no averaging here)
    backward(sum(y * shard(R, N, V, K, r)));
    CHECK(max_abs_diff(x.grad(), shard(X.grad(), N, V, K, r)) <= tolerance(dt));
    // γ and β are replicated: their full gradient is the sum of the ranks' parts
    const Tensor dgamma = gamma.grad().clone(), dbeta = beta.grad().clone();
    world().all_reduce_sum(dgamma);
    world().all_reduce_sum(dbeta);
    CHECK(max_abs_diff(dgamma, dgamma_ref) <= tolerance(dt) * 10);
    CHECK(max_abs_diff(dbeta, dbeta_ref) <= tolerance(dt) * 10);
    CHECK(max_abs_diff(rm_r, rm) <= tolerance(dt));
    CHECK(max_abs_diff(rv_r, rv) <= tolerance(dt));
  }
}

// Synchronised BN runs the one-process kernel with its per-channel sums all-reduced
// (dist/sync_batch_norm.h), so y, the statistics and dx equal one process on the
// concatenated batch bit for bit where the ranks' double partial sums add exactly (f32:
// float partial sums of similar magnitude). f64 adds doubles in another order: ≤ a few ulp.
// dγ, dβ: each rank's part, summed here in another order than one process's sum.
void check_sync_bn_is_one_process(const Shape& shape, DType dt, bool relu) {
  const int K = world().size(), r = world().rank();
  CAPTURE(dtype_name(dt));
  CAPTURE(shape_str(shape));
  CAPTURE(relu);
  const std::int64_t N = shape[0], C = shape[1];
  REQUIRE(N % K == 0);
  Generator g(5);
  // values around 3 ± 2: the shift K = x[0, c, 0] matters
  const Tensor X = add_scalar(scale(Tensor::randn(shape, g, DType::f64), 2.0), 3.0).to(dt).set_requires_grad(true);
  const Tensor R = Tensor::randn(shape, g, DType::f64).to(dt);  // J = Σ act(y) ⊙ R
  const Tensor gamma = add_scalar(Tensor::rand({C}, g, DType::f64), 0.5).to(dt).set_requires_grad(true);
  const Tensor beta = Tensor::randn({C}, g, DType::f64).to(dt).set_requires_grad(true);
  // relu: its saved output is y's recomputation in the backward (autograd::mark_recomputable)
  auto act = [&](const Tensor& y) { return relu ? contra::relu(y) : y; };
  const Tensor rm = Tensor::zeros({C}, dt), rv = Tensor::ones({C}, dt);
  const Tensor Y = batch_norm(X, gamma, beta, rm, rv, true, 0.1, 1e-5);
  backward(sum(act(Y) * R));
  const Tensor dgamma_ref = gamma.grad().clone(), dbeta_ref = beta.grad().clone();
  gamma.set_grad(Tensor());
  beta.set_grad(Tensor());

  const Tensor x = shard(X, N, 1, K, r).set_requires_grad(true);
  const Tensor rm_r = Tensor::zeros({C}, dt), rv_r = Tensor::ones({C}, dt);
  const Tensor y = dist::sync_batch_norm(world(), x, gamma, beta, rm_r, rv_r, 0.1, 1e-5);
  backward(sum(act(y) * shard(R, N, 1, K, r)));
  const Tensor dgamma = gamma.grad().clone(), dbeta = beta.grad().clone();
  world().all_reduce_sum(dgamma);
  world().all_reduce_sum(dbeta);
  gamma.set_grad(Tensor());
  beta.set_grad(Tensor());
  if (dt == DType::f32) {
    CHECK(max_abs_diff(y, shard(Y, N, 1, K, r)) == 0.0);
    CHECK(max_abs_diff(rm_r, rm) == 0.0);
    CHECK(max_abs_diff(rv_r, rv) == 0.0);
    CHECK(max_abs_diff(x.grad(), shard(X.grad(), N, 1, K, r)) == 0.0);
    CHECK(max_abs_diff(dgamma, dgamma_ref) <= 1e-5);
    CHECK(max_abs_diff(dbeta, dbeta_ref) <= 1e-5);
  } else {
    CHECK(max_abs_diff(y, shard(Y, N, 1, K, r)) <= 1e-14);
    CHECK(max_abs_diff(rm_r, rm) <= 1e-15);
    CHECK(max_abs_diff(rv_r, rv) <= 1e-15);
    CHECK(max_abs_diff(x.grad(), shard(X.grad(), N, 1, K, r)) <= 1e-14);
    CHECK(max_abs_diff(dgamma, dgamma_ref) <= 1e-12);
    CHECK(max_abs_diff(dbeta, dbeta_ref) <= 1e-12);
  }
}

TEST_CASE("synchronised BN is the one-process kernel: y, statistics and dx bit for bit (f32), 4-D and 2-D") {
  const int K = world().size();
  for (DType dt : {DType::f32, DType::f64})
    for (bool relu : {false, true}) {
      check_sync_bn_is_one_process({4 * K, 5, 6, 7}, dt, relu);    // planes of 42 values
      check_sync_bn_is_one_process({2 * K, 3, 20, 20}, dt, relu);  // planes over a 256-value block
      check_sync_bn_is_one_process({8 * K, 9}, dt, relu);          // (N, C): the row path
    }
}

TEST_CASE("K ranks with global batch B train like one process with batch B: 5 SGD steps, sync BN, gathered NT-Xent") {
  const int K = world().size(), r = world().rank();
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    const double tol = tolerance(dt);
    const std::int64_t N = 6, V = 2, M = N * V;  // K ∈ {1, 2, 3} divides N
    REQUIRE(N % K == 0);
    TinyNet reference(5, dt, nullptr), model(5, dt, world_ptr());
    const auto ref_params = reference.parameters(), params = model.parameters();
    REQUIRE(ref_params.size() == params.size());
    for (size_t i = 0; i < params.size(); ++i) REQUIRE(max_abs_diff(ref_params[i], params[i]) == 0.0);
    nn::SGD ref_opt({nn::ParamGroup{ref_params, {}, 0.2, 1e-4}}, nn::SGDOptions{0.9});
    nn::SGD opt({nn::ParamGroup{params, {}, 0.2, 1e-4}}, nn::SGDOptions{0.9});
    // small buckets: several all-reduces, started during backward
    dist::GradientBuckets buckets(world_ptr(), params, dist::BucketOptions{256});
    const ViewLayout L{N, V};
    Generator g(9);
    for (int step = 0; step < 5; ++step) {
      CAPTURE(step);
      const Tensor X = Tensor::randn({M, 3, 5, 5}, g, DType::f64).to(dt);  // the global batch, view-major
      // one process, batch B = M rows
      reference.zero_grad();
      const Tensor ref_loss = contrastive::nt_xent(reference.forward(X), L, 0.5);
      backward(ref_loss);
      // K ranks, B/K rows each
      model.zero_grad();
      const Tensor loss_r = dist::gathered_nt_xent(world(), model.forward(shard(X, N, V, K, r)), V, 0.5);
      backward(loss_r);
      buckets.finish();
      if (K > 1 && step == 0) CHECK(buckets.last_started_during_backward() > 0);
      CHECK(std::abs(dist::global_mean(world(), loss_r) - ref_loss.item()) <= tol);
      for (size_t i = 0; i < params.size(); ++i) {
        CAPTURE(i);
        CHECK(max_abs_diff(params[i].grad(), ref_params[i].grad()) <= tol);
      }
      ref_opt.step();
      opt.step();
      for (size_t i = 0; i < params.size(); ++i) CHECK(max_abs_diff(params[i], ref_params[i]) <= tol);
    }
    // running statistics of the synchronised BN follow the global batch
    CHECK(max_abs_diff(model.bn1->running_mean, reference.bn1->running_mean) <= tol);
    CHECK(max_abs_diff(model.bn2->running_var, reference.bn2->running_var) <= tol);
  }
}

TEST_CASE("TimedCommunicator: the same results as the communicator it wraps, its bytes, and the time waited") {
  const int K = world().size(), r = world().rank();
  dist::TimedCommunicator timed(world_ptr());
  CHECK(timed.rank() == r);
  CHECK(timed.size() == K);
  // all_gather: (3, 4) f32 per rank → (3K, 4), as the inner communicator gives it
  const Tensor x = Tensor::full({3, 4}, static_cast<double>(r + 1), DType::f32);
  CHECK(max_abs_diff(timed.all_gather(x), world().all_gather(x)) == 0.0);
  CHECK(timed.counters().gathered_bytes == 3.0 * K * 4 * 4);
  // all_reduce_sum, started and waited: Σ_r (r + 1) = K(K + 1)/2
  const Tensor y = Tensor::full({5}, static_cast<double>(r + 1), DType::f64);
  timed.start_all_reduce_sum(y)->wait();
  CHECK(y.to_vector<double>()[0] == doctest::Approx(K * (K + 1) / 2.0));
  CHECK(timed.counters().reduced_bytes == 5.0 * 8);
  CHECK(timed.counters().calls == 2);
  // Time inside a barrier includes waiting for the last rank: rank 0 comes 200 ms late.
  const double before = timed.counters().seconds;
  if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  timed.barrier();
  if (r != 0) CHECK(timed.counters().seconds - before >= 0.15);
  // Waiting for rank 0's own work is counted apart, not as communication.
  const double comm = timed.counters().seconds;
  timed.barrier_within(60.0);
  CHECK(timed.counters().seconds == comm);
  CHECK(timed.counters().root_wait_seconds >= 0.0);
  timed.reset();
  CHECK(timed.counters().calls == 0);
}

TEST_CASE("run_on_root: rank 0 alone runs the work, the others return after it; a failure rethrows on rank 0 only") {
  const int r = world().rank();
  dist::TimedCommunicator timed(world_ptr());
  int runs = 0;
  // rank 0 works 300 ms; the others wait for it
  const auto t0 = std::chrono::steady_clock::now();
  timed.run_on_root("a test's work", [&] {
    ++runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }, 60.0);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(runs == (r == 0 ? 1 : 0));
  CHECK(waited >= 0.25);  // nobody returns before rank 0's work ended
  if (r != 0) CHECK(timed.counters().root_wait_seconds >= 0.25);  // counted apart from communication
  CHECK(timed.counters().seconds == 0.0);
  // rank 0's work throws: rank 0 rethrows, the others stop waiting and go on
  bool thrown = false;
  try {
    world().run_on_root("a failing work", [] { throw contra::Error("test", "rank 0's work failed"); }, 60.0);
  } catch (const contra::Error&) {
    thrown = true;
  }
  CHECK(thrown == (r == 0));
  world().barrier();  // and the ranks still agree on the next collective
}

TEST_CASE("make_communicator: the world for the CPU and for one rank; CUDA ranks need NCCL") {
  const int K = world().size();
  CHECK(dist::make_communicator(world_ptr(), Device::cpu()) == world_ptr());
  if (K == 1) CHECK(dist::make_communicator(world_ptr(), Device::cuda(0)) == world_ptr());
  if (K > 1 && !dist::nccl_built())
    CHECK_THROWS_WITH_AS(dist::make_communicator(world_ptr(), Device::cuda(0)),
                         doctest::Contains("need NCCL collectives, which this build does not have"), contra::Error);
  CHECK_THROWS_WITH_AS(dist::make_communicator(nullptr, Device::cpu()), doctest::Contains("no world"), contra::Error);
}
