// adamw.h — Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.
//
// Per parameter p with gradient g at step t (1-based; η lr, λ weight decay, β₁, β₂, ε):
//   p = p · (1 − η·λ)                         (decoupled decay, before the Adam step)
//   m = β₁·m + (1 − β₁)·g
//   v = β₂·v + (1 − β₂)·g²
//   p = p − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// t is counted per parameter (saved as the state tensor "step", as PyTorch).
#pragma once

#include "nn/optimizer.h"

namespace contra::nn {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options);
  void step() override;
  const AdamWOptions& options() const { return opt_; }

 protected:
  nlohmann::json hyper() const override;

 private:
  AdamWOptions opt_;
};

}  // namespace contra::nn
