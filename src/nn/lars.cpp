// lars.cpp — see lars.h for the update.
#include "nn/lars.h"

#include <cmath>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::nn {

LARS::LARS(std::vector<ParamGroup> groups, const LARSOptions& o) : Optimizer("LARS", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.momentum >= 0 && o.trust_coefficient > 0, "LARS", "momentum=", o.momentum,
               " must be ≥ 0 and trust_coefficient=", o.trust_coefficient, " > 0");
}

double LARS::last_trust_ratio(std::int64_t index) const {
  CONTRA_CHECK(index >= 0 && index < num_params(), "LARS", "no parameter ", index, " (the optimizer has ", num_params(), ")");
  auto it = last_ratio_.find(index);
  if (it == last_ratio_.end()) return 1.0;  // not stepped yet
  return it->second.first.at({it->second.second});  // a host read of the device value
}

void LARS::step() {
  for_each_group([&](const ParamGroup& group, const std::vector<std::int64_t>& indices, const std::vector<Tensor>& params,
                     const std::vector<Tensor>& grads) {
    std::vector<Tensor> buffers;
    for (std::size_t k = 0; k < params.size(); ++k) buffers.push_back(state(indices[k], "momentum_buffer", params[k]));
    // One fused update for the group, per parameter (backend.h: lars_update):
    //   d = g + λ·p (λ = 0 unless adapt);   r = e·‖p‖/‖d‖ (adapt, both norms > 0) else 1;
    //   v = μ·v + η·r·d;   p = p − v   (Nesterov: p = p − (μ·v + η·r·d))
    // The ratios stay on the parameters' device until last_trust_ratio() reads one.
    const Tensor ratios = Tensor::empty({static_cast<std::int64_t>(params.size())}, DType::f64, params.front().device());
    const LarsHyper h{group.lr, group.weight_decay, opt_.momentum, opt_.trust_coefficient, opt_.nesterov, group.adapt};
    backend_for(params.front()).lars_update(params, grads, buffers, h, ratios);
    for (std::size_t k = 0; k < params.size(); ++k) {
      buffers[k].bump_version();
      last_ratio_[indices[k]] = {ratios, static_cast<std::int64_t>(k)};
    }
  });
  count_step();
}

nlohmann::json LARS::hyper() const {
  return {{"momentum", opt_.momentum}, {"trust_coefficient", opt_.trust_coefficient}, {"nesterov", opt_.nesterov}};
}

}  // namespace contra::nn
