// basic_block.h — ResNet-18/34 residual block (He et al. 2016), torchvision's BasicBlock.
//
//   out = relu(bn1(conv1(x)))            conv1: 3×3, stride s, (C → P)
//   out = bn2(conv2(out))                conv2: 3×3, stride 1, (P → P)
//   out = relu(out + downsample(x))      downsample = 1×1 conv stride s + BN when s ≠ 1 or C ≠ P
// Names: conv1, bn1, conv2, bn2, downsample.0 (conv), downsample.1 (BN). expansion = 1.
// Shapes: (N, C, H, W) → (N, P, H/s, W/s).
#pragma once

#include <cstdint>
#include <memory>

#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"

namespace contra::nn {

class BasicBlock : public Module {
 public:
  static constexpr std::int64_t expansion = 1;
  BasicBlock(std::int64_t in_planes, std::int64_t planes, std::int64_t stride, Generator& gen,
             DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> downsample;  // null when the shortcut is the identity
  // The BN whose γ zero_init_residual sets to 0.
  BatchNorm2d& last_bn() { return *bn2; }
};

}  // namespace contra::nn
