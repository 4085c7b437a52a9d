// lars.h — LARS (You et al. 2017) exactly as SimCLR's official lars_optimizer.py.
//
// Per parameter p with gradient g (λ = weight decay, μ = momentum, η = learning rate,
// e = trust coefficient, 0.001 in SimCLR):
//   d = g + λ·p                                   (groups with adapt = true only)
//   r = e·‖p‖/‖d‖ if ‖p‖ > 0 and ‖d‖ > 0, else 1   (adapt = true; r = 1 otherwise)
//   v = μ·v + η·r·d                               (the buffer holds the scaled step)
//   p = p − v            or, Nesterov:  p = p − (μ·v + η·r·d)
// SimCLR excludes biases and BatchNorm parameters from both weight decay and adaptation:
// build the groups with split_decay_groups() (adapt = false, weight_decay = 0 there).
#pragma once

#include <map>
#include <utility>

#include "nn/optimizer.h"

namespace contra::nn {

struct LARSOptions {
  double momentum = 0.9;
  double trust_coefficient = 0.001;
  bool nesterov = false;
};

class LARS : public Optimizer {
 public:
  LARS(std::vector<ParamGroup> groups, const LARSOptions& options);
  void step() override;
  const LARSOptions& options() const { return opt_; }
  // The trust ratio r used for parameter `index` at the last step (1 where not adapted).
  double last_trust_ratio(std::int64_t index) const;

 protected:
  nlohmann::json hyper() const override;

 private:
  LARSOptions opt_;
  // Parameter index → (the f64 ratios tensor of its group's last update, position in it).
  std::map<std::int64_t, std::pair<Tensor, std::int64_t>> last_ratio_;
};

}  // namespace contra::nn
