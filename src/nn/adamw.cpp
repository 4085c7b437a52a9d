// adamw.cpp — see adamw.h for the update.
#include "nn/adamw.h"

#include <cmath>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::nn {

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& o) : Optimizer("AdamW", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps > 0, "AdamW", "betas (", o.beta1,
               ", ", o.beta2, ") must lie in [0, 1) and eps=", o.eps, " > 0");
}

void AdamW::step() {
  for_each_group([&](const ParamGroup& group, const std::vector<std::int64_t>& indices, const std::vector<Tensor>& params,
                     const std::vector<Tensor>& grads) {
    std::vector<Tensor> m, v;
    std::vector<double> steps;  // t per parameter, counted on the host (a 0-d CPU state tensor)
    for (std::size_t k = 0; k < params.size(); ++k) {
      m.push_back(state(indices[k], "exp_avg", params[k]));
      v.push_back(state(indices[k], "exp_avg_sq", params[k]));
      Tensor& t_state = state(indices[k], "step", Tensor::zeros({}, DType::f64));
      const double t = t_state.item() + 1;
      t_state.fill_(t);
      steps.push_back(t);
    }
    // One fused update for the group, per element (backend.h: adamw_update):
    //   p = p·(1 − ηλ);   m = β₁·m + (1 − β₁)·g;   v = β₂·v + (1 − β₂)·g²;
    //   p = p − (η / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
    const AdamWHyper h{group.lr, group.weight_decay, opt_.beta1, opt_.beta2, opt_.eps};
    backend_for(params.front()).adamw_update(params, grads, m, v, steps, h);
    for (std::size_t k = 0; k < params.size(); ++k) {
      m[k].bump_version();
      v[k].bump_version();
    }
  });
  count_step();
}

nlohmann::json AdamW::hyper() const {
  return {{"beta1", opt_.beta1}, {"beta2", opt_.beta2}, {"eps", opt_.eps}};
}

}  // namespace contra::nn
