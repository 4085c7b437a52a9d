// adamw.cpp — see adamw.h for the update.
#include "nn/adamw.h"

#include <cmath>

#include "tensor/error.h"

namespace contra::nn {

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& o) : Optimizer("AdamW", std::move(groups)), opt_(o) {
  CONTRA_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps > 0, "AdamW", "betas (", o.beta1,
               ", ", o.beta2, ") must lie in [0, 1) and eps=", o.eps, " > 0");
}

void AdamW::step() {
  for_each_param([&](const ParamGroup& group, std::int64_t index, const Tensor& p, const Tensor& g) {
    Tensor m = state(index, "exp_avg", p);
    Tensor v = state(index, "exp_avg_sq", p);
    Tensor& t_state = state(index, "step", Tensor::zeros({}, DType::f64));
    const double t = t_state.item() + 1;
    t_state.fill_(t);
    dispatch_floating(p.dtype(), "AdamW", [&](auto tag) {
      using T = decltype(tag);
      T* w = p.data<T>();
      const T* gr = g.data<T>();
      T* mm = m.data<T>();
      T* vv = v.data<T>();
      const std::int64_t n = p.numel();
      const double b1 = opt_.beta1, b2 = opt_.beta2;
      const T decay = static_cast<T>(1 - group.lr * group.weight_decay);
      const T step_size = static_cast<T>(group.lr / (1 - std::pow(b1, t)));
      const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(b2, t)));
      const T eps = static_cast<T>(opt_.eps);
#pragma omp parallel for schedule(static) if (n > 65536)
      for (std::int64_t i = 0; i < n; ++i) {
        w[i] *= decay;                                                                  // p·(1 − ηλ)
        mm[i] = static_cast<T>(b1) * mm[i] + static_cast<T>(1 - b1) * gr[i];            // m
        vv[i] = static_cast<T>(b2) * vv[i] + static_cast<T>(1 - b2) * gr[i] * gr[i];    // v
        w[i] -= step_size * mm[i] / (std::sqrt(vv[i]) / bc2_sqrt + eps);
      }
    });
    m.bump_version();
    v.bump_version();
  });
  count_step();
}

nlohmann::json AdamW::hyper() const {
  return {{"beta1", opt_.beta1}, {"beta2", opt_.beta2}, {"eps", opt_.eps}};
}

}  // namespace contra::nn
