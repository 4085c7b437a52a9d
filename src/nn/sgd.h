// sgd.h — stochastic gradient descent with momentum, Nesterov and L2 weight decay.
//
// PyTorch's torch.optim.SGD, per parameter p with gradient g (λ = weight decay,
// μ = momentum, τ = dampening, η = learning rate):
//   d = g + λ·p
//   b = d                      on the first step,
//   b = μ·b + (1 − τ)·d        afterwards           (when μ ≠ 0)
//   d = d + μ·b  (Nesterov)    or   d = b
//   p = p − η·d
#pragma once

#include "nn/optimizer.h"

namespace contra::nn {

struct SGDOptions {
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);
  void step() override;
  const SGDOptions& options() const { return opt_; }

 protected:
  nlohmann::json hyper() const override;

 private:
  SGDOptions opt_;
};

}  // namespace contra::nn
