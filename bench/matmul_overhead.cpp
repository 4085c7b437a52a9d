// matmul_overhead — the engine's matmul (allocation, dispatch, autograd bookkeeping off)
// against a direct cblas_sgemm call on the same buffers' shapes, and against oneDNN's
// dnnl_sgemm (which detects the ISA itself): the last column is the engine's rate over the
// best of the two direct kernels, the number issue 9's guard keeps at ≥ 0.9 on AVX2 CPUs
// (tests/tensor/test_cpu_kernels.cpp). To see the fallback, run it with
// OPENBLAS_CORETYPE=Prescott CONTRA_GEMM=openblas.
//
// Contenders alternate A B A B …; each pair gives a ratio engine/direct; the median of the
// pairwise ratios is reported (the host time-slices its vCPUs, so single timings drift).
// Shapes: square 256..2048, and the ResNet-18 CIFAR im2col GEMMs at batch 32
// (M = N·H·W, K = C·3·3, N = out channels).
//
//   bench_matmul_overhead [--threads T] [--pairs P]
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/backend.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::bench;

int main(int argc, char** argv) {
  int threads = 2, pairs = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--pairs" && i + 1 < argc) pairs = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--threads T] [--pairs P]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);
  bench::print_kernels();
  autograd::NoGradGuard no_grad;
  struct Shape3 { const char* name; std::int64_t m, k, n; };
  const std::vector<Shape3> shapes = {
      {"square 256", 256, 256, 256},          {"square 512", 512, 512, 512},
      {"square 1024", 1024, 1024, 1024},      {"square 2048", 2048, 2048, 2048},
      {"r18 layer1 im2col", 32768, 576, 64},  {"r18 layer2 im2col", 8192, 1152, 128},
      {"r18 layer3 im2col", 2048, 2304, 256}, {"r18 layer4 im2col", 512, 4608, 512},
  };
  std::printf("threads %d, %d alternating pairs per shape\n", threads, pairs);
  std::printf("%-20s %6s %6s %6s %12s %12s %12s %10s %10s\n", "shape", "M", "K", "N", "engine GF/s", "OpenBLAS GF/s",
              "oneDNN GF/s", "ratio", "vs best");
  Generator gen(1);
  for (const auto& s : shapes) {
    Tensor a = Tensor::randn({s.m, s.k}, gen), b = Tensor::randn({s.k, s.n}, gen);
    std::vector<float> c(static_cast<size_t>(s.m * s.n));
    const double flops = 2.0 * s.m * s.k * s.n;
    // Repeat each timed block until it lasts ≥ 50 ms.
    int reps = 1;
    {
      auto t0 = Clock::now();
      Tensor y = matmul(a, b);
      const double t = seconds_since(t0);
      reps = std::max(1, static_cast<int>(0.05 / std::max(t, 1e-6)));
    }
    std::vector<double> ratios, ge, gd, gn, vs_best;
    for (int p = 0; p < pairs; ++p) {
      auto t0 = Clock::now();
      for (int r = 0; r < reps; ++r) {
        Tensor y = matmul(a, b);
      }
      const double te = seconds_since(t0) / reps;
      t0 = Clock::now();
      for (int r = 0; r < reps; ++r)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data<float>(), s.k,
                    b.data<float>(), s.n, 0.0f, c.data(), s.n);
      const double td = seconds_since(t0) / reps;
      t0 = Clock::now();
      for (int r = 0; r < reps; ++r)
        dnnl_sgemm('N', 'N', s.m, s.n, s.k, 1.0f, a.data<float>(), s.k, b.data<float>(), s.n, 0.0f, c.data(), s.n);
      const double tn = seconds_since(t0) / reps;
      ratios.push_back(te / td);
      vs_best.push_back(std::min(td, tn) / te);
      ge.push_back(flops / te * 1e-9);
      gd.push_back(flops / td * 1e-9);
      gn.push_back(flops / tn * 1e-9);
    }
    std::printf("%-20s %6lld %6lld %6lld %12.1f %12.1f %12.1f %10.3f %10.3f\n", s.name, static_cast<long long>(s.m),
                static_cast<long long>(s.k), static_cast<long long>(s.n), median(ge), median(gd), median(gn),
                median(ratios), median(vs_best));
  }
  std::printf("ratio = engine time / direct cblas_sgemm time (median of triples); 1.00 = no overhead\n"
              "vs best = engine rate / the faster direct kernel's rate (OpenBLAS as loaded, oneDNN sgemm)\n");
  return 0;
}
