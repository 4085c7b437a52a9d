// dist_test_util.h — shared by the tests/dist suites: the global batch, a rank's shard of it,
// a tiny conv + BN + linear network, and max-abs-difference comparisons.
//
// Every rank builds the same GLOBAL data from a seed and the one-process reference from it,
// then its own shard; tests compare the K-rank computation with the reference on every rank.
//
// Dimension letters: K ranks, n images per rank, N = K·n, V views, M = N·V, D width.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "autograd/engine.h"
#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "dist/communicator.h"
#include "dist/sync_batch_norm.h"
#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace dist_test {

using namespace contra;

// The communicator the suite runs on (set by the test main: MPI under mpirun, else K = 1).
dist::Communicator& world();
std::shared_ptr<dist::Communicator> world_ptr();

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0.0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// The global rows of rank r's images in its local view-major order: v·N + r·n + x.   (V·n,)
inline Tensor shard_rows(std::int64_t N, std::int64_t V, int K, int r) {
  const std::int64_t n = N / K;
  std::vector<std::int64_t> rows;
  for (std::int64_t v = 0; v < V; ++v)
    for (std::int64_t x = 0; x < n; ++x) rows.push_back(v * N + r * n + x);
  return Tensor::from_vector(rows, {V * n});
}
// Rank r's shard of a per-row tensor (M, ...), detached: (V·n, ...).
inline Tensor shard(const Tensor& global, std::int64_t N, std::int64_t V, int K, int r) {
  return index_select(global.detach(), 0, shard_rows(N, V, K, r)).contiguous();
}

// conv(3→4, 3×3, pad 1) → BN2d → ReLU → avg pool → Linear(4→6) → BN1d → ReLU → Linear(6→5).
// With `comm`, its BN layers are synchronised over it (synchronise_batch_norms); without, plain
// nn::BatchNorm (the one-process reference). The same seed gives the same weights either way.
struct TinyNet : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm> bn1, bn2;
  std::shared_ptr<nn::Linear> fc1, fc2;
  TinyNet(std::uint64_t seed, DType dt, std::shared_ptr<dist::Communicator> comm) : nn::Module("TinyNet") {
    Generator g(seed);
    auto bn = [&](std::int64_t C, int rank) -> std::shared_ptr<nn::BatchNorm> {
      nn::BatchNormOptions o{C};
      o.dtype = dt;
      if (rank == 4) return std::make_shared<nn::BatchNorm2d>(o);
      return std::make_shared<nn::BatchNorm1d>(o);
    };
    nn::Conv2dOptions co{3, 4};
    co.padding = 1;
    co.dtype = dt;
    conv = register_module("conv", std::make_shared<nn::Conv2d>(co, g));
    bn1 = register_module("bn1", bn(4, 4));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 6, true, g, dt));
    bn2 = register_module("bn2", bn(6, 2));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(6, 5, true, g, dt));
    if (comm) REQUIRE(dist::synchronise_batch_norms(*this, comm) == 2);
  }
  Tensor forward(const Tensor& x) override {  // (B, 3, H, W) → (B, 5)
    Tensor h = relu(bn1->forward(conv->forward(x)));
    h = flatten(adaptive_avg_pool2d(h, 1, 1), 1);  // (B, 4)
    h = relu(bn2->forward(fc1->forward(h)));
    return fc2->forward(h);
  }
};

}  // namespace dist_test
