// max_pool2d.h — y[n, c, h, w] = max over the k×k window at (s·h − p, s·w − p) of x[n, c].
// Shapes: (N, C, H, W) → (N, C, ⌊(H + 2p − k)/s⌋ + 1, ...). Padding never wins the max.
#pragma once

#include <cstdint>

#include "autograd/nn_ops.h"
#include "nn/module.h"

namespace contra::nn {

class MaxPool2d : public Module {
 public:
  MaxPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding = 0)
      : Module("MaxPool2d"), p_{kernel, kernel, stride, stride, padding, padding} {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, p_); }

 protected:
  std::string extra_repr() const override {
    return detail::concat("kernel_size=", p_.kernel_h, ", stride=", p_.stride_h, ", padding=", p_.pad_h);
  }

 private:
  Pool2dParams p_;
};

}  // namespace contra::nn
