// lars.cpp — see lars.h for the update.
#include "nn/lars.h"

#include <cmath>

#include "tensor/error.h"

namespace contra::nn {

LARS::LARS(std::vector<ParamGroup> groups, const LARSOptions& o) : Optimizer("LARS", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.momentum >= 0 && o.trust_coefficient > 0, "LARS", "momentum=", o.momentum,
               " must be ≥ 0 and trust_coefficient=", o.trust_coefficient, " > 0");
  last_ratio_.assign(static_cast<std::size_t>(num_params()), 1.0);
}

double LARS::last_trust_ratio(std::int64_t index) const {
  CONTRA_CHECK(index >= 0 && index < static_cast<std::int64_t>(last_ratio_.size()), "LARS", "no parameter ", index);
  return last_ratio_[static_cast<std::size_t>(index)];
}

void LARS::step() {
  for_each_param([&](const ParamGroup& group, std::int64_t index, const Tensor& p, const Tensor& g) {
    Tensor buf = state(index, "momentum_buffer", p);
    dispatch_floating(p.dtype(), "LARS", [&](auto tag) {
      using T = decltype(tag);
      T* w = p.data<T>();
      const T* gr = g.data<T>();
      T* v = buf.data<T>();
      const std::int64_t n = p.numel();
      const double wd = group.adapt ? group.weight_decay : 0.0;
      // d = g + λ·p, and the norms ‖p‖, ‖d‖ accumulated in double.
      std::vector<T> d(static_cast<std::size_t>(n));
      double wn2 = 0, dn2 = 0;
#pragma omp parallel for schedule(static) reduction(+ : wn2, dn2) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) {
        d[i] = gr[i] + static_cast<T>(wd) * w[i];
        wn2 += static_cast<double>(w[i]) * w[i];
        dn2 += static_cast<double>(d[i]) * d[i];
      }
      double ratio = 1.0;
      if (group.adapt) {
        const double wn = std::sqrt(wn2), dn = std::sqrt(dn2);
        if (wn > 0 && dn > 0) ratio = opt_.trust_coefficient * wn / dn;  // r = e·‖p‖/‖d‖
      }
      last_ratio_[static_cast<std::size_t>(index)] = ratio;
      const T scaled_lr = static_cast<T>(group.lr * ratio);
      const T mu = static_cast<T>(opt_.momentum);
      const bool nesterov = opt_.nesterov;
#pragma omp parallel for schedule(static) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) {
        v[i] = mu * v[i] + scaled_lr * d[i];                        // v = μ·v + η·r·d
        w[i] -= nesterov ? mu * v[i] + scaled_lr * d[i] : v[i];     // p = p − v
      }
    });
    buf.bump_version();
  });
  count_step();
}

nlohmann::json LARS::hyper() const {
  return {{"momentum", opt_.momentum}, {"trust_coefficient", opt_.trust_coefficient}, {"nesterov", opt_.nesterov}};
}

}  // namespace contra::nn
