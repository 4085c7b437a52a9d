// reference_optimizer.h — naive twins of the fused optimizer updates (optimizer_kernels.cpp).
//
// One tensor after another, one element at a time, single-threaded; the LARS norms are
// accumulated in double in index order. The formulas are Backend::sgd_update, lars_update
// and adamw_update's (backend.h); the fast kernels must agree with these (parity test
// tests/tensor/test_optimizer_kernels.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/backend.h"

namespace contra::cpu::reference {

// SGD on one tensor of n elements. b null: no momentum.
template <typename T>
void sgd_update(T* w, const T* g, T* b, std::int64_t n, bool first, const SgdHyper& h) {
  const T wd = static_cast<T>(h.weight_decay), mu = static_cast<T>(h.momentum),
          one_minus_damp = static_cast<T>(1 - h.dampening), lr = static_cast<T>(h.lr);
  for (std::int64_t i = 0; i < n; ++i) {
    T d = g[i] + wd * w[i];                                          // d = g + λ·p
    if (b) {
      b[i] = first ? d : mu * b[i] + one_minus_damp * d;             // b = μ·b + (1 − τ)·d
      d = h.nesterov ? d + mu * b[i] : b[i];
    }
    w[i] -= lr * d;                                                  // p = p − η·d
  }
}

// LARS on one tensor; returns the trust ratio r.
template <typename T>
double lars_update(T* w, const T* g, T* v, std::int64_t n, const LarsHyper& h) {
  const T wd = static_cast<T>(h.adapt ? h.weight_decay : 0.0);
  std::vector<T> d(static_cast<std::size_t>(n));
  double wn2 = 0, dn2 = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    d[i] = g[i] + wd * w[i];                                         // d = g + λ·p
    wn2 += static_cast<double>(w[i]) * w[i];
    dn2 += static_cast<double>(d[i]) * d[i];
  }
  double ratio = 1.0;
  if (h.adapt) {
    const double wn = std::sqrt(wn2), dn = std::sqrt(dn2);
    if (wn > 0 && dn > 0) ratio = h.trust_coefficient * wn / dn;    // r = e·‖p‖/‖d‖
  }
  const T scaled_lr = static_cast<T>(h.lr * ratio), mu = static_cast<T>(h.momentum);
  for (std::int64_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] + scaled_lr * d[i];                             // v = μ·v + η·r·d
    w[i] -= h.nesterov ? mu * v[i] + scaled_lr * d[i] : v[i];       // p = p − v
  }
  return ratio;
}

// AdamW on one tensor at step t (1-based).
template <typename T>
void adamw_update(T* w, const T* g, T* m, T* v, std::int64_t n, double t, const AdamWHyper& h) {
  const T decay = static_cast<T>(1 - h.lr * h.weight_decay);
  const T step_size = static_cast<T>(h.lr / (1 - std::pow(h.beta1, t)));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(h.beta2, t)));
  const T eps = static_cast<T>(h.eps), b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2),
          one_minus_b1 = static_cast<T>(1 - h.beta1), one_minus_b2 = static_cast<T>(1 - h.beta2);
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] *= decay;                                                   // p·(1 − ηλ)
    m[i] = b1 * m[i] + one_minus_b1 * g[i];                          // m = β₁·m + (1 − β₁)·g
    v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];                   // v = β₂·v + (1 − β₂)·g²
    w[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
  }
}

}  // namespace contra::cpu::reference
