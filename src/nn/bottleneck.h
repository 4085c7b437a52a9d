// bottleneck.h — ResNet-50 residual block, torchvision's Bottleneck (ResNet v1.5: the
// stride sits on the 3×3 convolution).
//
//   out = relu(bn1(conv1(x)))            conv1: 1×1, (C → P)
//   out = relu(bn2(conv2(out)))          conv2: 3×3, stride s, (P → P)
//   out = bn3(conv3(out))                conv3: 1×1, (P → 4P)
//   out = relu(out + downsample(x))      downsample = 1×1 conv stride s + BN when s ≠ 1 or C ≠ 4P
// Names: conv1, bn1, conv2, bn2, conv3, bn3, downsample.0, downsample.1. expansion = 4.
// Shapes: (N, C, H, W) → (N, 4P, H/s, W/s).
#pragma once

#include <cstdint>
#include <memory>

#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"

namespace contra::nn {

class Bottleneck : public Module {
 public:
  static constexpr std::int64_t expansion = 4;
  Bottleneck(std::int64_t in_planes, std::int64_t planes, std::int64_t stride, Generator& gen,
             DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;  // null when the shortcut is the identity
  BatchNorm2d& last_bn() { return *bn3; }
};

}  // namespace contra::nn
