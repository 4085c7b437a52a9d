// flatten.h — merges axes start_dim..end_dim into one: (N, C, 1, 1) → (N, C) by default.
#pragma once

#include <cstdint>

#include "autograd/ops.h"
#include "nn/module.h"

namespace contra::nn {

class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : Module("Flatten"), start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_, end_); }

 private:
  std::int64_t start_, end_;
};

}  // namespace contra::nn
