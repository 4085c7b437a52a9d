// bench_timing.h — the helpers the benchmarks here share: wall time since a start point, the
// median (benchmarks alternate contenders A B A B and report the median of the pairwise
// ratios, because the 2 vCPUs are time-sliced by the host), and command-line option values.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
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

// argv[i + 1] for the option argv[i] (advancing i), or exit 2 naming the program and option.
inline std::string option_value(int argc, char** argv, int& i, const char* program) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s: %s needs a value\n", program, argv[i]);
    std::exit(2);
  }
  return argv[++i];
}

// "512,1024,4096" → {512, 1024, 4096}
inline std::vector<std::int64_t> int_list(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  for (std::string t; std::getline(ss, t, ',');) out.push_back(std::atoll(t.c_str()));
  return out;
}

// Every benchmark says which CPU and kernels produced its numbers (call after set_num_threads).
inline void print_kernels() { std::printf("kernels: %s\n", kernel_report().c_str()); }

}  // namespace contra::bench
