// contrastive_loss — the fused balanced loss (docs/derivation.md §6) forward + backward, against
// (a) the machine's sgemm rate measured in the same run, and (b) the step-by-step
// composition of autograd ops (balanced_loss_reference). PyTorch's time for the same loss
// comes from bench/contrastive_loss_torch.py (run it with the same thread count).
//
// Fused cost model: three GEMMs of 2·M²·D flops (S = Z̄Z̄ᵀ, then G Z̄ and Gᵀ Z̄ for
// dZ̄ = (G+Gᵀ)Z̄/τ) plus O(M²) row work (one e^x per entry, one per same-view pair for the
// uniformity telemetry). "GEMM fraction" = (6·M²·D flops / fused time) / (measured sgemm
// flop rate), i.e. how close fused forward+backward comes to its three GEMMs alone.
// Contenders alternate A B A B …; the median of the pairwise time ratios is reported (the
// host time-slices its vCPUs, so single timings drift).
//
//   bench_contrastive_loss [--threads T] [--pairs P] [--sizes 512,1024,4096] [--dim D] [--views V]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "contrastive/contrastive.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::bench;
using namespace contra::contrastive;

int main(int argc, char** argv) {
  int threads = 2, pairs = 5;
  std::int64_t D = 128, V = 2;
  std::vector<std::int64_t> sizes{512, 1024, 4096};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return option_value(argc, argv, i, "bench_contrastive_loss"); };
    if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--pairs") pairs = std::atoi(next().c_str());
    else if (a == "--dim") D = std::atoll(next().c_str());
    else if (a == "--views") V = std::atoll(next().c_str());
    else if (a == "--sizes") sizes = int_list(next());
    else {
      std::fprintf(stderr, "usage: bench_contrastive_loss [--threads T] [--pairs P] [--sizes a,b,c] [--dim D] [--views V]\n");
      return 2;
    }
  }
  set_num_threads(threads);
  bench::print_kernels();
  std::printf("bench_contrastive_loss: fused balanced loss (f32) forward+backward, D=%lld, V=%lld, %d threads, "
              "%d pairs per contender\n",
              static_cast<long long>(D), static_cast<long long>(V), threads, pairs);
  std::printf("%6s %11s %11s %10s %9s %13s %13s\n", "M", "fused ms", "sgemm ms", "GEMM GF/s", "GEMM frac",
              "step-by-step", "step/fused");
  for (std::int64_t M : sizes) {
    const ViewLayout L = ViewLayout::for_rows(M, V, "bench");
    Generator g(static_cast<std::uint64_t>(M));
    const Tensor f0 = Tensor::randn({M, D}, g, DType::f32);
    BalancedParams p;
    p.temperature = 0.2;
    FusedOptions full;  // the (M, M) matrix at every size (the cost model above); blockwise: bench_contrastive_blockwise
    full.algorithm = LossAlgorithm::full_matrix;
    // sgemm of the same shape (M, D)·(D, M) through the backend, alternated with itself
    const Tensor a = f0.view({1, M, D});
    const Tensor at = a.as_strided({1, D, M}, {M * D, 1, D}, 0);
    Tensor c = Tensor::empty({1, M, M}, DType::f32);
    backend_for(c).matmul(a, at, c, 1.0, 0.0);  // warm-up
    std::vector<double> t_gemm;
    for (int r = 0; r < 2 * pairs + 1; ++r) {
      const auto t0 = Clock::now();
      backend_for(c).matmul(a, at, c, 1.0, 0.0);
      t_gemm.push_back(seconds_since(t0));
    }
    const double gemm = median(t_gemm);
    const double gemm_rate = 2.0 * M * M * D / gemm;

    auto fused = [&] {
      const Tensor f = f0.clone();
      f.set_requires_grad(true);
      const auto t0 = Clock::now();
      const Tensor loss = balanced_loss(f, L, p, full).loss;
      contra::backward(loss);
      return seconds_since(t0);
    };
    auto steps = [&] {
      const Tensor f = f0.clone();
      f.set_requires_grad(true);
      const auto t0 = Clock::now();
      const Tensor loss = balanced_loss_reference(f, L, p);
      contra::backward(loss);
      return seconds_since(t0);
    };
    fused();  // warm-up
    steps();
    std::vector<double> tf, ts, ratio;
    for (int r = 0; r < pairs; ++r) {
      const double x = fused(), y = steps();
      tf.push_back(x);
      ts.push_back(y);
      ratio.push_back(y / x);
    }
    const double fmed = median(tf);
    const double frac = (6.0 * M * M * D / fmed) / gemm_rate;
    std::printf("%6lld %11.3f %11.3f %10.1f %9.3f %13.3f %13.2f\n", static_cast<long long>(M), 1e3 * fmed,
                1e3 * gemm, gemm_rate * 1e-9, frac, 1e3 * median(ts), median(ratio));
    std::fflush(stdout);
  }
  return 0;
}
