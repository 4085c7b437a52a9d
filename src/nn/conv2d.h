// conv2d.h — 2-d convolution layer over (N, C, H, W) batches.
//
// y[n, o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x[n, c, s·h + d·i − p, s·w + d·j − p]
// Shapes: x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O,) → y (N, O, H', W') with
// H' = ⌊(H + 2·pad − dilation·(kH − 1) − 1) / stride⌋ + 1. PyTorch's default init
// (kaiming_uniform a = √5); ResNet re-initialises with kaiming_normal(fan_out, relu).
#pragma once

#include <cstdint>

#include "autograd/nn_ops.h"
#include "nn/module.h"
#include "tensor/generator.h"

namespace contra::nn {

struct Conv2dOptions {
  std::int64_t in_channels = 0, out_channels = 0;
  std::int64_t kernel = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  DType dtype = DType::f32;
};

class Conv2d : public Module {
 public:
  Conv2d(const Conv2dOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;  // (N, C, H, W) → (N, O, H', W')

  const Conv2dOptions& options() const { return opt_; }
  Tensor weight;  // (O, C/groups, k, k)
  Tensor bias;    // (O,) or undefined

 protected:
  std::string extra_repr() const override;

 private:
  Conv2dOptions opt_;
  Conv2dParams params_;
};

}  // namespace contra::nn
