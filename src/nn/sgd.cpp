// sgd.cpp — see sgd.h for the update.
#include "nn/sgd.h"

#include "tensor/error.h"

namespace contra::nn {

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& o) : Optimizer("SGD", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.momentum >= 0 && o.dampening >= 0 && o.dampening <= 1, "SGD", "momentum=", o.momentum,
               " must be ≥ 0 and dampening=", o.dampening, " in [0, 1]");
  CONTRA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD",
               "Nesterov momentum needs momentum > 0 and dampening = 0");
}

void SGD::step() {
  for_each_param([&](const ParamGroup& group, std::int64_t index, const Tensor& p, const Tensor& g) {
    bool first = false;
    Tensor buf = opt_.momentum != 0 ? state(index, "momentum_buffer", p, &first) : Tensor();
    dispatch_floating(p.dtype(), "SGD", [&](auto tag) {
      using T = decltype(tag);
      T* w = p.data<T>();
      const T* gr = g.data<T>();
      T* b = buf.defined() ? buf.data<T>() : nullptr;
      const std::int64_t n = p.numel();
      const double lr = group.lr, wd = group.weight_decay, mu = opt_.momentum, damp = opt_.dampening;
      const bool nesterov = opt_.nesterov;
#pragma omp parallel for schedule(static) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) {
        T d = gr[i] + static_cast<T>(wd) * w[i];                       // d = g + λ·p
        if (b) {
          b[i] = first ? d : static_cast<T>(mu) * b[i] + static_cast<T>(1 - damp) * d;  // b = μ·b + (1−τ)·d
          d = nesterov ? d + static_cast<T>(mu) * b[i] : b[i];
        }
        w[i] -= static_cast<T>(lr) * d;                                  // p = p − η·d
      }
    });
    if (buf.defined()) buf.bump_version();
  });
  count_step();
}

nlohmann::json SGD::hyper() const {
  return {{"momentum", opt_.momentum}, {"dampening", opt_.dampening}, {"nesterov", opt_.nesterov}};
}

}  // namespace contra::nn
