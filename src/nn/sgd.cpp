// sgd.cpp — see sgd.h for the update.
#include "nn/sgd.h"

#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::nn {

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& o) : Optimizer("SGD", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.momentum >= 0 && o.dampening >= 0 && o.dampening <= 1, "SGD", "momentum=", o.momentum,
               " must be ≥ 0 and dampening=", o.dampening, " in [0, 1]");
  CONTRA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD",
               "Nesterov momentum needs momentum > 0 and dampening = 0");
}

void SGD::step() {
  for_each_group([&](const ParamGroup& group, const std::vector<std::int64_t>& indices, const std::vector<Tensor>& params,
                     const std::vector<Tensor>& grads) {
    std::vector<Tensor> buffers;        // one per parameter when μ ≠ 0, none otherwise
    std::vector<std::uint8_t> first;    // the buffer was just created: b = d on this step
    if (opt_.momentum != 0)
      for (std::size_t k = 0; k < params.size(); ++k) {
        bool created = false;
        buffers.push_back(state(indices[k], "momentum_buffer", params[k], &created));
        first.push_back(created ? 1 : 0);
      }
    // One fused update for the group, per element (backend.h: sgd_update):
    //   d = g + λ·p;   b = d (first step) or μ·b + (1 − τ)·d;   d = d + μ·b (Nesterov) or b;   p = p − η·d
    const SgdHyper h{group.lr, group.weight_decay, opt_.momentum, opt_.dampening, opt_.nesterov};
    backend_for(params.front()).sgd_update(params, grads, buffers, first, h);
    for (const auto& b : buffers) b.bump_version();
  });
  count_step();
}

nlohmann::json SGD::hyper() const {
  return {{"momentum", opt_.momentum}, {"dampening", opt_.dampening}, {"nesterov", opt_.nesterov}};
}

}  // namespace contra::nn
