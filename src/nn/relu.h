// relu.h — y = max(x, 0), elementwise.
#pragma once

#include "autograd/ops.h"
#include "nn/module.h"

namespace contra::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

}  // namespace contra::nn
