// init.h — parameter initialisers, drawn from an explicit Generator (never a global one).
//
// PyTorch's formulas (torch.nn.init):
//   fan_in = size(1) · receptive field, fan_out = size(0) · receptive field
//   kaiming_normal(mode, relu):   w ~ N(0, std²),  std = √2 / √fan          (gain √2)
//   kaiming_uniform(a = √5):      w ~ U(−b, b),    b = √(6 / ((1 + a²) · fan_in)) = 1/√fan_in
//   default bias (Linear/Conv):   b ~ U(−1/√fan_in, 1/√fan_in)
// The random streams differ from PyTorch's (different generators), the distributions do not.
#pragma once

#include <cstdint>

#include "tensor/generator.h"
#include "tensor/tensor.h"

namespace contra::nn::init {

enum class FanMode { fan_in, fan_out };

std::int64_t fan_in(const Tensor& w);   // size(1) · Π size(2:)
std::int64_t fan_out(const Tensor& w);  // size(0) · Π size(2:)

// In place (under no-grad; bumps the version). Return `w`.
const Tensor& normal_(const Tensor& w, double mean, double std, Generator& gen);
const Tensor& uniform_(const Tensor& w, double lo, double hi, Generator& gen);
const Tensor& kaiming_normal_relu_(const Tensor& w, FanMode mode, Generator& gen);
// PyTorch's Linear/Conv default: kaiming_uniform(a = √5) on the weight.
const Tensor& default_weight_(const Tensor& w, Generator& gen);
// PyTorch's Linear/Conv default bias: U(−1/√fan_in, 1/√fan_in) with the weight's fan_in.
const Tensor& default_bias_(const Tensor& b, std::int64_t weight_fan_in, Generator& gen);

}  // namespace contra::nn::init
