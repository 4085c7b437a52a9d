// linear.h — fully connected layer: y = x Wᵀ + b.
//
// Shapes: x (N, I) → y (N, O); weight (O, I), bias (O,). PyTorch's default init:
// W ~ U(−1/√I, 1/√I), b ~ U(−1/√I, 1/√I).
#pragma once

#include <cstdint>

#include "nn/module.h"
#include "tensor/generator.h"

namespace contra::nn {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator& gen,
         DType dtype = DType::f32);
  Tensor forward(const Tensor& x) override;  // (N, I) → (N, O)

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  Tensor weight;  // (O, I)
  Tensor bias;    // (O,) or undefined

 protected:
  std::string extra_repr() const override;

 private:
  std::int64_t in_, out_;
};

}  // namespace contra::nn
