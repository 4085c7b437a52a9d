// adaptive_avg_pool2d.h — average over adaptive windows: (N, C, H, W) → (N, C, oh, ow).
// Window i along H covers [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) (PyTorch); (1, 1) is global average pooling.
#pragma once

#include <cstdint>

#include "autograd/nn_ops.h"
#include "nn/module.h"

namespace contra::nn {

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::int64_t out_h, std::int64_t out_w) : Module("AdaptiveAvgPool2d"), oh_(out_h), ow_(out_w) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, oh_, ow_); }

 protected:
  std::string extra_repr() const override { return detail::concat("output_size=(", oh_, ", ", ow_, ")"); }

 private:
  std::int64_t oh_, ow_;
};

}  // namespace contra::nn
