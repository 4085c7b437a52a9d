// optimizer_math.cuh — the fused multi-tensor optimizer updates of the CUDA backend
// (optimizer_updates.cu): the tensor and chunk tables of one call and the per-chunk work, as
// CONTRA_HD functions that the kernels call and tests/tensor/test_cuda_math.cpp runs on the
// CPU (the grid emulated with loops) against the reference twins (cpu/reference_optimizer.h).
// The formulas are Backend::sgd_update, lars_update and adamw_update's (backend.h):
// elementwise in T, every scalar converted to T once, in the reference twins' order.
//
// Multi-tensor layout (as PyTorch's multi_tensor_apply): the host lists every tensor of the
// call in a Slot table and cuts each into chunks of at most kChunk elements (make_chunks);
// one launch runs one block per chunk (grid-stride over the chunk table). LARS takes three
// launches and no host synchronisation: per-chunk partial norms (in double), then one thread
// per tensor summing its chunks' partials in chunk order into r (trust_ratios on the device),
// then the update, which reads r.
#pragma once

#include <math.h>

#include <cstdint>
#include <vector>

#include "tensor/cuda/host_device.cuh"

namespace contra::cuda::optim {

// One tensor of the call: parameter, gradient, up to two state tensors (null when absent),
// all of `numel` elements of one dtype.
struct Slot {
  void* p = nullptr;
  const void* g = nullptr;
  void* s1 = nullptr;  // SGD, LARS: momentum buffer; AdamW: exp_avg
  void* s2 = nullptr;  // AdamW: exp_avg_sq
  std::int64_t numel = 0;
  std::int64_t index = 0;                    // its position in the caller's lists (LARS: trust_ratios[index])
  std::int64_t first_chunk = 0, chunks = 0;  // its chunks in the chunk table
  double c[3] = {0.0, 0.0, 0.0};             // SGD: c[0] first step (1) or not (0);
                                             // AdamW: decay, step_size, √(1 − β₂ᵗ) (double, host)
};
// Elements [begin, end) of slot `slot`.
struct Chunk {
  std::int64_t slot, begin, end;
};

constexpr std::int64_t kChunk = 1 << 15;

// Fills slots[*].first_chunk / chunks and returns the chunk table: each tensor cut into pieces
// of at most `chunk` elements, tensor after tensor (a tensor's chunks are consecutive).
inline std::vector<Chunk> make_chunks(std::vector<Slot>& slots, std::int64_t chunk = kChunk) {
  std::vector<Chunk> out;
  for (std::size_t s = 0; s < slots.size(); ++s) {
    slots[s].first_chunk = static_cast<std::int64_t>(out.size());
    for (std::int64_t b = 0; b < slots[s].numel; b += chunk)
      out.push_back(Chunk{static_cast<std::int64_t>(s), b, b + chunk < slots[s].numel ? b + chunk : slots[s].numel});
    slots[s].chunks = static_cast<std::int64_t>(out.size()) - slots[s].first_chunk;
  }
  return out;
}

CONTRA_HD float sqrt_t(float x) { return sqrtf(x); }
CONTRA_HD double sqrt_t(double x) { return sqrt(x); }

// ---- SGD ---------------------------------------------------------------------------------
struct SgdArgs {
  double lr = 0.0, weight_decay = 0.0, momentum = 0.0, dampening = 0.0;
  bool nesterov = false, buffers = false;  // buffers: momentum buffers given (slot.s1)
};

// Thread t of `step` over chunk c:  d = g + λp;  b = d (first step) or μb + (1 − τ)d;
// d = d + μb (nesterov) or b;  p = p − ηd.
template <typename T>
CONTRA_HD void sgd_chunk(const Slot& sl, const Chunk& c, std::int64_t t, std::int64_t step, const SgdArgs& h) {
  T* w = static_cast<T*>(sl.p);
  const T* gr = static_cast<const T*>(sl.g);
  T* b = h.buffers ? static_cast<T*>(sl.s1) : nullptr;
  const bool first = sl.c[0] != 0.0;
  const T wd = static_cast<T>(h.weight_decay), mu = static_cast<T>(h.momentum),
          one_minus_damp = static_cast<T>(1 - h.dampening), lr = static_cast<T>(h.lr);
  for (std::int64_t i = c.begin + t; i < c.end; i += step) {
    T d = gr[i] + wd * w[i];
    if (b) {
      b[i] = first ? d : mu * b[i] + one_minus_damp * d;
      d = h.nesterov ? d + mu * b[i] : b[i];
    }
    w[i] -= lr * d;
  }
}

// ---- LARS --------------------------------------------------------------------------------
struct LarsArgs {
  double lr = 0.0, weight_decay = 0.0, momentum = 0.0, trust_coefficient = 0.001;
  bool nesterov = false, adapt = true;
};

struct Norms2 {
  double w2, d2;  // Σ p², Σ d² with d = g + λp (in T)
};
CONTRA_HD Norms2 combine(const Norms2& a, const Norms2& b) { return Norms2{a.w2 + b.w2, a.d2 + b.d2}; }

template <typename T>
CONTRA_HD T lars_wd(const LarsArgs& h) {
  return static_cast<T>(h.adapt ? h.weight_decay : 0.0);  // λ = 0 without adaptation
}

template <typename T>
CONTRA_HD Norms2 lars_norms_partial(const Slot& sl, const Chunk& c, std::int64_t t, std::int64_t step,
                                    const LarsArgs& h) {
  const T* w = static_cast<const T*>(sl.p);
  const T* gr = static_cast<const T*>(sl.g);
  const T wd = lars_wd<T>(h);
  Norms2 r{0.0, 0.0};
  for (std::int64_t i = c.begin + t; i < c.end; i += step) {
    const T d = gr[i] + wd * w[i];
    r.w2 += static_cast<double>(w[i]) * w[i];
    r.d2 += static_cast<double>(d) * d;
  }
  return r;
}

// r = e·‖p‖/‖d‖ if adapt and both norms > 0, else 1, from the slot's chunk partials (in chunk order).
CONTRA_HD double lars_ratio(const Slot& sl, const Norms2* partials, const LarsArgs& h) {
  Norms2 n{0.0, 0.0};
  for (std::int64_t c = sl.first_chunk; c < sl.first_chunk + sl.chunks; ++c) n = combine(n, partials[c]);
  if (!h.adapt) return 1.0;
  const double wn = sqrt(n.w2), dn = sqrt(n.d2);
  return wn > 0 && dn > 0 ? h.trust_coefficient * wn / dn : 1.0;
}

// v = μv + (ηr)·d;  p = p − v, or with nesterov p = p − (μv + (ηr)·d).
template <typename T>
CONTRA_HD void lars_chunk(const Slot& sl, const Chunk& c, std::int64_t t, std::int64_t step, const LarsArgs& h,
                          double ratio) {
  T* w = static_cast<T*>(sl.p);
  const T* gr = static_cast<const T*>(sl.g);
  T* v = static_cast<T*>(sl.s1);
  const T wd = lars_wd<T>(h), scaled_lr = static_cast<T>(h.lr * ratio), mu = static_cast<T>(h.momentum);
  for (std::int64_t i = c.begin + t; i < c.end; i += step) {
    const T d = gr[i] + wd * w[i];
    v[i] = mu * v[i] + scaled_lr * d;
    w[i] -= h.nesterov ? mu * v[i] + scaled_lr * d : v[i];
  }
}

// ---- AdamW -------------------------------------------------------------------------------
struct AdamWArgs {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// The per-tensor scalars at step t (1-based), in double on the host: decay = 1 − ηλ,
// step_size = η/(1 − β₁ᵗ), √(1 − β₂ᵗ); stored in slot.c.
inline void adamw_scalars(double lr, double weight_decay, double beta1, double beta2, double t, double* c) {
  c[0] = 1 - lr * weight_decay;
  c[1] = lr / (1 - pow(beta1, t));
  c[2] = sqrt(1 - pow(beta2, t));
}

// p = p·decay;  m = β₁m + (1 − β₁)g;  v = β₂v + (1 − β₂)g²;  p = p − step_size·m/(√v/c₂ + ε).
template <typename T>
CONTRA_HD void adamw_chunk(const Slot& sl, const Chunk& c, std::int64_t t, std::int64_t step, const AdamWArgs& h) {
  T* w = static_cast<T*>(sl.p);
  const T* gr = static_cast<const T*>(sl.g);
  T* m = static_cast<T*>(sl.s1);
  T* v = static_cast<T*>(sl.s2);
  const T decay = static_cast<T>(sl.c[0]), step_size = static_cast<T>(sl.c[1]), bc2_sqrt = static_cast<T>(sl.c[2]);
  const T eps = static_cast<T>(h.eps), b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2),
          one_minus_b1 = static_cast<T>(1 - h.beta1), one_minus_b2 = static_cast<T>(1 - h.beta2);
  for (std::int64_t i = c.begin + t; i < c.end; i += step) {
    w[i] *= decay;
    m[i] = b1 * m[i] + one_minus_b1 * gr[i];
    v[i] = b2 * v[i] + one_minus_b2 * gr[i] * gr[i];
    w[i] -= step_size * m[i] / (sqrt_t(v[i]) / bc2_sqrt + eps);
  }
}

}  // namespace contra::cuda::optim
