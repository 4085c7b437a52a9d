// contrastive_blockwise — the balanced loss (docs/derivation.md §6, f32) forward + backward with the
// full (M, M) matrix (LossAlgorithm::full_matrix) against the blockwise tiles
// (LossAlgorithm::blockwise, balanced_blockwise.h): time and peak memory, side by side.
//
// Peak memory is measured honestly, one fresh process per contender and size: this program
// re-runs itself with --child, and the child reports its VmHWM (peak resident set, from
// /proc/self/status) after the runs, and its VmRSS just before the first loss call (the
// embeddings f (M, D) and the libraries). "peak MB" is the whole child's VmHWM; "loss MB" =
// VmHWM − that baseline, the loss's own high-water mark (its buffers, the gradient, the
// allocator's cache, BLAS workspaces).
// Time: median of --reps forward+backward runs after one warm-up, in the same child: wall time,
// and the process's CPU time (all threads), which a time-sliced shared host disturbs less; the
// ratio column compares CPU times.
//
//   bench_contrastive_blockwise [--threads T] [--reps R] [--sizes 1024,4096,16384] [--dim D]
//                               [--views V] [--tile T]
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "autograd/engine.h"
#include "bench_timing.h"
#include "contrastive/contrastive.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::bench;
using namespace contra::contrastive;

namespace {

// A field of /proc/self/status in MB (VmHWM, VmRSS).
double status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::atof(line.c_str() + field.size() + 1) / 1024.0;  // kB → MB
  return -1.0;
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// The child: one contender at one size. Prints "wall_ms cpu_ms peak_mb baseline_mb".
int child(const std::string& algo, std::int64_t M, std::int64_t D, std::int64_t V, std::int64_t tile, int reps) {
  const ViewLayout L = ViewLayout::for_rows(M, V, "bench");
  Generator g(static_cast<std::uint64_t>(M));
  const Tensor f0 = Tensor::randn({M, D}, g, DType::f32);
  BalancedParams p;
  p.temperature = 0.2;
  FusedOptions o;
  o.algorithm = algo == "blockwise" ? LossAlgorithm::blockwise : LossAlgorithm::full_matrix;
  o.tile = tile;
  Tensor f = f0.clone();
  f.set_requires_grad(true);
  const double baseline = status_mb("VmRSS");
  std::vector<double> times, cpu;
  for (int r = 0; r <= reps; ++r) {  // r = 0: warm-up
    f.set_grad(Tensor());
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    const Tensor loss = balanced_loss(f, L, p, o).loss;
    contra::backward(loss);
    if (r > 0) {
      times.push_back(seconds_since(t0));
      cpu.push_back(cpu_seconds() - c0);
    }
  }
  std::printf("%.3f %.3f %.1f %.1f\n", 1e3 * median(times), 1e3 * median(cpu), status_mb("VmHWM"), baseline);
  return 0;
}

struct Measured {
  double ms = 0, cpu_ms = 0, peak = 0, baseline = 0;
};

Measured run_child(const std::string& self, const std::string& algo, std::int64_t M, std::int64_t D, std::int64_t V,
                   std::int64_t tile, int threads, int reps) {
  std::ostringstream cmd;
  cmd << self << " --child " << algo << " --sizes " << M << " --dim " << D << " --views " << V << " --tile " << tile
      << " --threads " << threads << " --reps " << reps;
  FILE* pipe = popen(cmd.str().c_str(), "r");
  Measured m;
  if (!pipe || std::fscanf(pipe, "%lf %lf %lf %lf", &m.ms, &m.cpu_ms, &m.peak, &m.baseline) != 4) {
    std::fprintf(stderr, "bench_contrastive_blockwise: the child `%s` failed\n", cmd.str().c_str());
    std::exit(1);
  }
  pclose(pipe);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 3;
  std::int64_t D = 128, V = 2, tile = 0;
  std::vector<std::int64_t> sizes{1024, 4096, 16384};
  std::string child_algo;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return option_value(argc, argv, i, "bench_contrastive_blockwise"); };
    if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--dim") D = std::atoll(next().c_str());
    else if (a == "--views") V = std::atoll(next().c_str());
    else if (a == "--tile") tile = std::atoll(next().c_str());
    else if (a == "--child") child_algo = next();
    else if (a == "--sizes") sizes = int_list(next());
    else {
      std::fprintf(stderr,
                   "usage: bench_contrastive_blockwise [--threads T] [--reps R] [--sizes a,b,c] [--dim D] [--views V] "
                   "[--tile T]\n");
      return 2;
    }
  }
  set_num_threads(threads);
  if (!child_algo.empty()) return child(child_algo, sizes.at(0), D, V, tile, reps);

  const std::string self = "/proc/" + std::to_string(getpid()) + "/exe";
  print_kernels();
  std::printf("bench_contrastive_blockwise: balanced loss (f32) forward+backward, D=%lld, V=%lld, tile %lld, "
              "%d threads, median of %d runs; one process per cell (peak = VmHWM)\n",
              static_cast<long long>(D), static_cast<long long>(V),
              static_cast<long long>(tile > 0 ? tile : kDefaultTile), threads, reps);
  std::printf("%6s %9s %9s %10s %10s %9s | %9s %9s %10s %10s | %10s | %9s\n", "M", "full ms", "full cpu",
              "full peak", "full loss", "(M,M)", "blk ms", "blk cpu", "blk peak", "blk loss", "blk/full", "auto");
  std::printf("%6s %9s %9s %10s %10s %9s | %9s %9s %10s %10s | %10s | %9s\n", "", "wall", "ms", "MB", "MB", "MB",
              "wall", "ms", "MB", "MB", "cpu time", "picks");
  for (std::int64_t M : sizes) {
    const Measured full = run_child(self, "full", M, D, V, tile, threads, reps);
    const Measured blk = run_child(self, "blockwise", M, D, V, tile, threads, reps);
    std::printf("%6lld %9.1f %9.1f %10.1f %10.1f %9.1f | %9.1f %9.1f %10.1f %10.1f | %10.2f | %9s\n",
                static_cast<long long>(M), full.ms, full.cpu_ms, full.peak, full.peak - full.baseline,
                4.0 * M * M / (1024.0 * 1024.0), blk.ms, blk.cpu_ms, blk.peak, blk.peak - blk.baseline,
                blk.cpu_ms / full.cpu_ms, blockwise_chosen(M, {}) ? "blockwise" : "full");
    std::fflush(stdout);
  }
  return 0;
}
