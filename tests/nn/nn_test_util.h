// nn_test_util.h — helpers shared by the tests/nn suites.
#pragma once

#include <cstdlib>
#include <string>
#include <unistd.h>

#include "tensor/npy.h"
#include "tensor/tensor.h"

namespace contra::nn_test {

inline std::string fixture(const std::string& rel) {
  const char* root = std::getenv("CONTRA_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/tests/nn/fixtures/" + rel;
}

inline Tensor load_fixture(const std::string& rel) { return load_npy(fixture(rel)); }

// A fresh empty directory under /tmp for one test.
inline std::string temp_dir(const std::string& tag) {
  std::string d = "/tmp/contra_nn_" + tag + "_" + std::to_string(::getpid());
  std::string cmd = "rm -rf '" + d + "' && mkdir -p '" + d + "'";
  if (std::system(cmd.c_str()) != 0) return "/tmp";
  return d;
}

// max |a − b| over all elements (both converted to double).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  if (x.size() != y.size()) return 1e300;
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

}  // namespace contra::nn_test
