// optimizer_kernels.cpp — the CPU fused multi-tensor optimizer updates (Backend::sgd_update,
// lars_update, adamw_update; backend.h states what they compute, nn/sgd.h, lars.h, adamw.h
// the optimizers). Each tensor of the list runs one OpenMP loop over its elements (split
// across threads above 65,536 elements); the arithmetic is in the tensor's dtype exactly as
// the per-parameter loops these replace, so training is bit-identical. The reference twins
// (reference_optimizer.h) run with set_reference_kernels(true).
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/cpu/reference_optimizer.h"
#include "tensor/error.h"
#include "tensor/optimizer_checks.h"

namespace contra::cpu {

namespace {

template <typename T>
void sgd_one(T* w, const T* gr, T* b, std::int64_t n, bool first, const SgdHyper& h) {
  const double lr = h.lr, wd = h.weight_decay, mu = h.momentum, damp = h.dampening;
  const bool nesterov = h.nesterov;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    T d = gr[i] + static_cast<T>(wd) * w[i];                                      // d = g + λ·p
    if (b) {
      b[i] = first ? d : static_cast<T>(mu) * b[i] + static_cast<T>(1 - damp) * d;  // b = μ·b + (1−τ)·d
      d = nesterov ? d + static_cast<T>(mu) * b[i] : b[i];
    }
    w[i] -= static_cast<T>(lr) * d;                                                // p = p − η·d
  }
}

template <typename T>
double lars_one(T* w, const T* gr, T* v, std::int64_t n, const LarsHyper& h) {
  const double wd = h.adapt ? h.weight_decay : 0.0;
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
  if (h.adapt) {
    const double wn = std::sqrt(wn2), dn = std::sqrt(dn2);
    if (wn > 0 && dn > 0) ratio = h.trust_coefficient * wn / dn;  // r = e·‖p‖/‖d‖
  }
  const T scaled_lr = static_cast<T>(h.lr * ratio);
  const T mu = static_cast<T>(h.momentum);
  const bool nesterov = h.nesterov;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] + scaled_lr * d[i];                        // v = μ·v + η·r·d
    w[i] -= nesterov ? mu * v[i] + scaled_lr * d[i] : v[i];     // p = p − v
  }
  return ratio;
}

template <typename T>
void adamw_one(T* w, const T* gr, T* mm, T* vv, std::int64_t n, double t, const AdamWHyper& h) {
  const double b1 = h.beta1, b2 = h.beta2;
  const T decay = static_cast<T>(1 - h.lr * h.weight_decay);
  const T step_size = static_cast<T>(h.lr / (1 - std::pow(b1, t)));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(b2, t)));
  const T eps = static_cast<T>(h.eps);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] *= decay;                                                                  // p·(1 − ηλ)
    mm[i] = static_cast<T>(b1) * mm[i] + static_cast<T>(1 - b1) * gr[i];            // m
    vv[i] = static_cast<T>(b2) * vv[i] + static_cast<T>(1 - b2) * gr[i] * gr[i];    // v
    w[i] -= step_size * mm[i] / (std::sqrt(vv[i]) / bc2_sqrt + eps);
  }
}

}  // namespace

void CpuBackend::sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                            const std::vector<Tensor>& momentum_buffers, const std::vector<std::uint8_t>& first_step,
                            const SgdHyper& h) {
  check_optimizer_lists("sgd_update", Device::cpu(), params, grads, {{"momentum buffer", &momentum_buffers}}, true);
  const bool momentum = !momentum_buffers.empty();
  CONTRA_CHECK(!momentum || first_step.size() == params.size(), "sgd_update", params.size(), " parameters but ",
               first_step.size(), " first_step flags");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    dispatch_floating(p.dtype(), "sgd_update", [&](auto tag) {
      using T = decltype(tag);
      T* b = momentum ? momentum_buffers[i].data<T>() : nullptr;
      const bool first = momentum && first_step[i] != 0;
      if (reference_kernels()) reference::sgd_update<T>(p.data<T>(), grads[i].data<T>(), b, p.numel(), first, h);
      else sgd_one<T>(p.data<T>(), grads[i].data<T>(), b, p.numel(), first, h);
    });
  }
}

void CpuBackend::lars_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                             const std::vector<Tensor>& momentum_buffers, const LarsHyper& h,
                             const Tensor& trust_ratios) {
  check_optimizer_lists("lars_update", Device::cpu(), params, grads, {{"momentum buffer", &momentum_buffers}}, false);
  CONTRA_CHECK(trust_ratios.defined() && trust_ratios.dtype() == DType::f64 && trust_ratios.device() == Device::cpu() &&
                   trust_ratios.is_contiguous() && trust_ratios.dim() == 1 &&
                   trust_ratios.numel() == static_cast<std::int64_t>(params.size()),
               "lars_update", "trust_ratios must be a contiguous CPU f64 tensor of shape (", params.size(), ")");
  double* ratios = trust_ratios.data<double>();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    dispatch_floating(p.dtype(), "lars_update", [&](auto tag) {
      using T = decltype(tag);
      ratios[i] = reference_kernels()
                      ? reference::lars_update<T>(p.data<T>(), grads[i].data<T>(), momentum_buffers[i].data<T>(), p.numel(), h)
                      : lars_one<T>(p.data<T>(), grads[i].data<T>(), momentum_buffers[i].data<T>(), p.numel(), h);
    });
  }
}

void CpuBackend::adamw_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                              const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                              const std::vector<double>& steps, const AdamWHyper& h) {
  check_optimizer_lists("adamw_update", Device::cpu(), params, grads, {{"exp_avg", &exp_avgs}, {"exp_avg_sq", &exp_avg_sqs}}, false);
  CONTRA_CHECK(steps.size() == params.size(), "adamw_update", params.size(), " parameters but ", steps.size(), " step counts");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    CONTRA_CHECK(steps[i] >= 1, "adamw_update", "step count ", steps[i], " of parameter ", i, " must be ≥ 1 (1-based)");
    dispatch_floating(p.dtype(), "adamw_update", [&](auto tag) {
      using T = decltype(tag);
      if (reference_kernels())
        reference::adamw_update<T>(p.data<T>(), grads[i].data<T>(), exp_avgs[i].data<T>(), exp_avg_sqs[i].data<T>(),
                                   p.numel(), steps[i], h);
      else
        adamw_one<T>(p.data<T>(), grads[i].data<T>(), exp_avgs[i].data<T>(), exp_avg_sqs[i].data<T>(), p.numel(),
                     steps[i], h);
    });
  }
}

}  // namespace contra::cpu
