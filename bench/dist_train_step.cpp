// dist_train_step — one data-parallel SimCLR step: K ranks × T threads against 1 process, the
// same global batch (issue 14, "Measure"). ResNet-18 (CIFAR stem, --width) + projection head,
// two views, gathered NT-Xent (src/dist/gathered_loss.h), gradient buckets overlapped with
// backward (src/dist/gradient_buckets.h), SGD, every BN synchronised over the ranks
// (src/dist/sync_batch_norm.h: 4 all-reduces of C values per BN layer per step).
//
//   mpirun -np 2 bench_dist_train_step --threads 1 --batch 32     (2 ranks × 1 thread)
//   bench_dist_train_step --threads 2 --batch 32                   (1 process × 2 threads)
//   mpirun -np 2 bench_dist_train_step --allreduce-mb 46           (the all-reduce alone)
//
// --batch is the GLOBAL number of images B (each rank takes B/K, two views each). Prints, on
// rank 0, medians over the timed steps: images/s (2B view images per step), step time, and
// the time spent inside collectives (every blocking call and bucket wait, measured by
// dist::TimedCommunicator around the communicator), with the bytes all-reduced and gathered per step.
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "bench_timing.h"
#include "dist/gathered_loss.h"
#include "dist/gradient_buckets.h"
#include "dist/sync_batch_norm.h"
#include "dist/timed_communicator.h"
#include "dist/world.h"
#include "nn/projection_head.h"
#include "nn/resnet.h"
#include "nn/sgd.h"
#include "tensor/generator.h"

using namespace contra;
using contra::bench::Clock;
using contra::bench::median;
using contra::bench::seconds_since;


int main(int argc, char** argv) {
  auto world = dist::init_world(&argc, &argv);
  std::int64_t batch = 32, steps = 5, warmup = 1;
  int threads = 1;
  double width = 1.0, allreduce_mb = 0.0, lr = 0.06;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--batch") batch = std::stoll(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--steps") steps = std::stoll(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--warmup") warmup = std::stoll(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--threads") threads = std::stoi(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--width") width = std::stod(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--lr") lr = std::stod(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else if (a == "--allreduce-mb") allreduce_mb = std::stod(bench::option_value(argc, argv, i, "bench_dist_train_step"));
    else {
      std::fprintf(stderr, "usage: bench_dist_train_step [--batch B] [--threads T] [--steps S] [--warmup W] [--width w] [--lr 0.06] [--allreduce-mb X]\n");
      return 2;
    }
  }
  const int K = world->size(), r = world->rank();
  if (batch % K != 0 || batch / K < 1) {
    std::fprintf(stderr, "bench_dist_train_step: --batch %lld is not divisible by %d ranks\n",
                 static_cast<long long>(batch), K);
    return 2;
  }
  set_num_threads(threads);
  if (allreduce_mb > 0) {
    // Transfer time alone: an all-reduce of that many MB of f32, the ranks aligned by a barrier
    // first (in a training step the time inside collectives also holds the wait for the
    // slowest rank).
    const Tensor buffer = Tensor::ones({static_cast<std::int64_t>(allreduce_mb * 1e6 / 4)}, DType::f32);
    std::vector<double> t;
    for (std::int64_t it = 0; it < warmup + steps; ++it) {
      world->barrier();
      const auto t0 = Clock::now();
      world->all_reduce_sum(buffer);
      if (it >= warmup) t.push_back(seconds_since(t0));
    }
    if (r == 0)
      std::printf("contra dist all_reduce: ranks %d MB %.1f ms %.1f algbw_GB/s %.2f\n", K, allreduce_mb, median(t) * 1e3,
                  allreduce_mb / 1e3 / median(t));
    return 0;
  }
  auto comm = std::make_shared<dist::TimedCommunicator>(world);  // the time inside collectives

  Generator gen(0);  // the same weights on every rank
  nn::ResNetConfig cfg;
  cfg.depth = 18;
  cfg.stem = nn::Stem::cifar;
  cfg.width = width;
  nn::ResNet backbone(cfg, gen);
  nn::ProjectionHead head({backbone.feature_dim(), backbone.feature_dim(), 128, 2, true, false}, gen);
  const std::int64_t synced = dist::synchronise_batch_norms(backbone, comm) + dist::synchronise_batch_norms(head, comm);
  nn::NamedTensors params = backbone.named_parameters();
  for (auto& [k, t] : head.named_parameters()) params.emplace_back("head." + k, t);
  std::vector<Tensor> tensors;
  double param_count = 0;
  for (auto& [k, t] : params) {
    tensors.push_back(t);
    param_count += static_cast<double>(t.numel());
  }
  nn::SGD opt({nn::make_group(params, lr, 5e-4)}, nn::SGDOptions{0.9});
  dist::GradientBuckets buckets(comm, tensors);

  // The global batch (2B view images, view-major), the same on every rank; rank r takes
  // its images [r·n, (r+1)·n) in both views: rows v·B + r·n + x (gathered_loss.h).
  const std::int64_t n = batch / K;
  Generator data(100);
  const Tensor global = Tensor::randn({2 * batch, 3, 32, 32}, data);  // (2B, 3, 32, 32)
  std::vector<std::int64_t> rows;
  for (std::int64_t v = 0; v < 2; ++v)
    for (std::int64_t x = 0; x < n; ++x) rows.push_back(v * batch + r * n + x);
  const Tensor views = index_select(global, 0, Tensor::from_vector(rows, {2 * n})).contiguous();  // (2n, ...)

  std::vector<double> step_s, comm_s, wait_s;
  double loss_value = 0, reduced = 0, gathered = 0;
  for (std::int64_t it = 0; it < warmup + steps; ++it) {
    comm->reset();
    world->barrier();
    const auto t0 = Clock::now();
    opt.zero_grad();
    const Tensor z = head.forward(backbone.forward(views));  // (2n, 128)
    const Tensor loss = dist::gathered_nt_xent(*comm, z, 2, 0.5);
    backward(loss);
    buckets.finish();
    opt.step();
    loss_value = dist::global_mean(*world, loss);
    if (it >= warmup) {
      step_s.push_back(seconds_since(t0));
      comm_s.push_back(comm->counters().seconds);
      wait_s.push_back(buckets.last_wait_seconds());
      reduced = comm->counters().reduced_bytes;
      gathered = comm->counters().gathered_bytes;
    }
  }
  if (r == 0) {
    const double med = median(step_s);
    std::printf(
        "contra dist_train_step: ranks %d threads %d batch %lld width %g params %.2fM images/s %.1f step_ms %.0f "
        "comm_ms %.0f bucket_wait_ms %.0f allreduce_MB %.1f gathered_MB %.3f buckets %lld sync_bn %lld loss %.4f\n",
        K, threads, static_cast<long long>(batch), width, param_count / 1e6, 2.0 * static_cast<double>(batch) / med,
        med * 1e3, median(comm_s) * 1e3, median(wait_s) * 1e3, reduced / 1e6, gathered / 1e6,
        static_cast<long long>(buckets.buckets()), static_cast<long long>(synced), loss_value);
  }
  return 0;
}
