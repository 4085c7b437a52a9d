// optimizer_factory.cpp — name → Optimizer. See optimizer_factory.h.
#include "nn/optimizer_factory.h"

#include "nn/adamw.h"
#include "nn/lars.h"
#include "nn/sgd.h"
#include "tensor/error.h"

namespace contra::nn {

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSettings& s, const NamedTensors& params) {
  if (s.name == "sgd")
    return std::make_unique<SGD>(std::vector<ParamGroup>{make_group(params, s.lr, s.weight_decay)},
                                 SGDOptions{s.momentum, 0.0, false});
  if (s.name == "lars")
    return std::make_unique<LARS>(split_decay_groups(params, s.lr, s.weight_decay), LARSOptions{s.momentum, 0.001, false});
  if (s.name == "adamw")
    return std::make_unique<AdamW>(std::vector<ParamGroup>{make_group(params, s.lr, s.weight_decay)},
                                   AdamWOptions{s.momentum, 0.999, 1e-8});
  std::string names;
  for (const char* n : kOptimizerNames) names += (names.empty() ? "" : ", ") + std::string(n);
  throw Error("make_optimizer", "unknown optimizer \"" + s.name + "\"", "valid optimizers: " + names);
}

}  // namespace contra::nn
