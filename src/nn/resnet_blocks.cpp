// resnet_blocks.cpp — BasicBlock and Bottleneck (see basic_block.h, bottleneck.h).
#include "autograd/ops.h"
#include "nn/basic_block.h"
#include "nn/bottleneck.h"

namespace contra::nn {

namespace {
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
}  // namespace

BasicBlock::BasicBlock(std::int64_t in_planes, std::int64_t planes, std::int64_t stride, Generator& gen, DType dtype)
    : Module("BasicBlock") {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, gen, dtype));
  bn1 = register_module("bn1", bn(planes, dtype));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, gen, dtype));
  bn2 = register_module("bn2", bn(planes, dtype));
  downsample = shortcut(in_planes, planes * expansion, stride, gen, dtype);
  if (downsample) register_module("downsample", downsample);
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));  // (N, P, H/s, W/s)
  out = bn2->forward(conv2->forward(out));
  const Tensor identity = downsample ? downsample->forward(x) : x;
  return relu(out + identity);
}

Bottleneck::Bottleneck(std::int64_t in_planes, std::int64_t planes, std::int64_t stride, Generator& gen, DType dtype)
    : Module("Bottleneck") {
  conv1 = register_module("conv1", conv(in_planes, planes, 1, 1, gen, dtype));
  bn1 = register_module("bn1", bn(planes, dtype));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, gen, dtype));
  bn2 = register_module("bn2", bn(planes, dtype));
  conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1, gen, dtype));
  bn3 = register_module("bn3", bn(planes * expansion, dtype));
  downsample = shortcut(in_planes, planes * expansion, stride, gen, dtype);
  if (downsample) register_module("downsample", downsample);
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));   // (N, P, H, W)
  out = relu(bn2->forward(conv2->forward(out)));        // (N, P, H/s, W/s)
  out = bn3->forward(conv3->forward(out));              // (N, 4P, H/s, W/s)
  const Tensor identity = downsample ? downsample->forward(x) : x;
  return relu(out + identity);
}

}  // namespace contra::nn
