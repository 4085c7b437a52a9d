// identity.h — y = x (a placeholder, e.g. `fc` of a self-supervised backbone).
#pragma once

#include "nn/module.h"

namespace contra::nn {

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace contra::nn
