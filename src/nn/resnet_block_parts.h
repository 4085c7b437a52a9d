// resnet_block_parts.h — the layers BasicBlock and Bottleneck are built from (torchvision's
// conv3x3 / conv1x1, BatchNorm2d, the projection shortcut). Internal to src/nn: used by
// basic_block.cpp and bottleneck.cpp only.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/batch_norm.h"
#include "nn/conv2d.h"
#include "nn/sequential.h"

namespace contra::nn::block_parts {

// A k×k convolution, padding k/2, no bias (a BN follows).
std::shared_ptr<Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, Generator& gen,
                             DType dtype);
std::shared_ptr<BatchNorm2d> bn(std::int64_t c, DType dtype);
// The downsample branch: 1×1 conv stride s + BN, or null when the shortcut is the identity
// (stride 1 and in == out).
std::shared_ptr<Sequential> shortcut(std::int64_t in, std::int64_t out, std::int64_t stride, Generator& gen,
                                     DType dtype);

}  // namespace contra::nn::block_parts
