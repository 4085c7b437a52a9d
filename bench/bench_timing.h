// bench_timing.h — the two helpers every benchmark here uses: wall time since a start
// point, and the median (benchmarks alternate contenders A B A B and report the median
// of the pairwise ratios, because the 2 vCPUs are time-sliced by the host).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "tensor/backend.h"

namespace contra::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Every benchmark says which CPU and kernels produced its numbers (call after set_num_threads).
inline void print_kernels() { std::printf("kernels: %s\n", kernel_report().c_str()); }

}  // namespace contra::bench
