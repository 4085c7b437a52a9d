// optimizer_factory.h — the one place that turns an optimizer's name into an Optimizer.
//
//   sgd    SGD with momentum μ, weight decay on every parameter (sgd.h)
//   lars   LARS (trust coefficient 0.001), BN and bias parameters without decay and
//          excluded from the trust ratio (lars.h; SimCLR's recipe)
//   adamw  AdamW with β₁ = μ (the momentum setting), β₂ = 0.999, ε = 1e-8 (adamw.h)
//
// optimizer_names() is header-only data, so parsers that check a name (train/config.cpp,
// built into the fuzz targets without the optimizers) depend on no optimizer code.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/module.h"
#include "nn/optimizer.h"

namespace contra::nn {

inline constexpr std::array<const char*, 3> kOptimizerNames = {"sgd", "lars", "adamw"};

struct OptimizerSettings {
  std::string name = "sgd";  // one of kOptimizerNames
  double lr = 0.1;           // the effective learning rate (already scaled by the batch size)
  double momentum = 0.9;     // μ (AdamW: β₁)
  double weight_decay = 0.0;
};

// Throws contra::Error listing the valid names for an unknown one.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSettings& s, const NamedTensors& params);

}  // namespace contra::nn
