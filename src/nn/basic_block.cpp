// basic_block.cpp — BasicBlock (see basic_block.h).
#include "nn/basic_block.h"

#include "autograd/ops.h"
#include "nn/resnet_block_parts.h"

namespace contra::nn {

using block_parts::bn;
using block_parts::conv;
using block_parts::shortcut;

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

}  // namespace contra::nn
