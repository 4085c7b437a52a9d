// dist_failure_probe.cpp — a data-parallel training loop that fails on purpose, for
// test_dist_failure.cpp. Each rank trains Linear(8 → 4) on its shard with the gathered NT-Xent
// and gradient buckets; at step 3, in the middle of backward (from a gradient hook, while the
// other rank is inside the embeddings' all-reduce or a bucket's), rank 1 either raises SIGKILL
// ("kill": a crashed rank) or stops ("stuck": sleeps an hour). The job must then end non-zero
// within the collective timeout (CONTRA_DIST_TIMEOUT_S) rather than hang.
//
// Rank 0's work alone (Communicator::run_on_root, as tools/pretrain's kNN monitor and final
// evaluation): "root_stuck" stops rank 0 there (SIGSTOP: no heartbeat); the others must end
// the job within CONTRA_DIST_HEARTBEAT_TIMEOUT_S, naming rank 0. "root_slow" has rank 0 work
// for 3 × that bound, alive: the others must wait, and the job ends normally. "root_overdue":
// the same, but the whole wait is capped at 1.5 × the bound: the others end the job then.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "autograd/engine.h"
#include "autograd/leaf_hooks.h"
#include "dist/gathered_loss.h"
#include "dist/gradient_buckets.h"
#include "dist/world.h"
#include "nn/linear.h"
#include "nn/sgd.h"
#include "tensor/generator.h"

using namespace contra;

int main(int argc, char** argv) {
  auto world = dist::init_world(&argc, &argv);
  const char* mode = argc > 1 ? argv[1] : "kill";
  if (std::strncmp(mode, "root_", 5) == 0) {
    const double bound = dist::options_from_environment({}).heartbeat_timeout_s;
    world->run_on_root("the probe's evaluation", [&] {
      std::fprintf(stderr, "probe: rank 0 %s in its work alone\n", mode);
      std::fflush(stderr);
      if (std::strcmp(mode, "root_stuck") == 0) std::raise(SIGSTOP);
      std::this_thread::sleep_for(std::chrono::duration<double>(3 * bound));
    }, std::strcmp(mode, "root_overdue") == 0 ? 1.5 * bound : 3600.0);
    std::fprintf(stderr, "probe: rank %d done waiting for rank 0\n", world->rank());
    return 0;
  }
  Generator g(1);
  nn::Linear model(8, 4, true, g);
  const auto params = model.parameters();
  nn::SGD opt({nn::ParamGroup{params, {}, 0.1, 0.0}}, nn::SGDOptions{0.9});
  dist::GradientBuckets buckets(world, params);
  int step = 0;
  // the bias is the first gradient to arrive (backward reaches it first): fail there
  const auto failure = autograd::add_post_accumulate_grad_hook(params[1], [&](const Tensor&) {
    if (step != 3 || world->rank() != 1) return;
    std::fprintf(stderr, "probe: rank 1 %s at step 3, mid-backward\n", mode);
    std::fflush(stderr);
    if (std::strcmp(mode, "kill") == 0) std::raise(SIGKILL);
    std::this_thread::sleep_for(std::chrono::hours(1));
  });
  Generator data(2 + static_cast<std::uint64_t>(world->rank()));
  for (step = 0; step < 1000; ++step) {
    const Tensor x = Tensor::randn({2 * 4, 8}, data);  // 4 images × 2 views on this rank
    model.zero_grad();
    backward(dist::gathered_nt_xent(*world, model.forward(x), 2, 0.5));
    buckets.finish();
    opt.step();
  }
  return 0;  // not reached in either mode
}
