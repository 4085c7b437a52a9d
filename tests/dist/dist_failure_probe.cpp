// dist_failure_probe.cpp — a data-parallel "training loop" that fails on purpose, for
// test_dist_failure.cpp. Every rank all-reduces a gradient-sized buffer per step; at step 3
// rank 1 either raises SIGKILL ("kill": a crashed rank) or stops calling collectives
// ("stuck": sleeps an hour). The job must end non-zero within the collective timeout
// (CONTRA_DIST_TIMEOUT_S) rather than hang.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "dist/world.h"
#include "tensor/tensor.h"

int main(int argc, char** argv) {
  auto world = contra::dist::init_world(&argc, &argv);
  const char* mode = argc > 1 ? argv[1] : "kill";
  const contra::Tensor g = contra::Tensor::ones({1 << 16}, contra::DType::f32);
  for (int step = 0; step < 1000; ++step) {
    if (step == 3 && world->rank() == 1) {
      std::fprintf(stderr, "probe: rank 1 %s at step 3\n", mode);
      std::fflush(stderr);
      if (std::strcmp(mode, "kill") == 0) std::raise(SIGKILL);
      std::this_thread::sleep_for(std::chrono::hours(1));
    }
    world->all_reduce_sum(g);
  }
  return 0;  // not reached in either mode
}
