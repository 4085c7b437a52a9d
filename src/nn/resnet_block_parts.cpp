// resnet_block_parts.cpp — the layers of the ResNet blocks (see resnet_block_parts.h).
#include "nn/resnet_block_parts.h"

namespace contra::nn::block_parts {

std::shared_ptr<Conv2d> conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, Generator& gen,
                             DType dtype) {
  // torchvision's conv3x3 / conv1x1: padding k/2, no bias (a BN follows).
  return std::make_shared<Conv2d>(Conv2dOptions{in, out, k, stride, k / 2, 1, 1, false, dtype}, gen);
}

std::shared_ptr<BatchNorm2d> bn(std::int64_t c, DType dtype) {
  BatchNormOptions o;
  o.num_features = c;
  o.dtype = dtype;
  return std::make_shared<BatchNorm2d>(o);
}

std::shared_ptr<Sequential> shortcut(std::int64_t in, std::int64_t out, std::int64_t stride, Generator& gen,
                                     DType dtype) {
  if (stride == 1 && in == out) return nullptr;
  auto seq = std::make_shared<Sequential>();
  seq->push_back(conv(in, out, 1, stride, gen, dtype));
  seq->push_back(bn(out, dtype));
  return seq;
}

}  // namespace contra::nn::block_parts
