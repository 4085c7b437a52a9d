// batch_norm_reduction.h — the hook through which a training batch-norm kernel takes its
// per-channel sums over several processes (synchronised BN, dist/sync_batch_norm.h).
//
// With K processes each holding M_r of the M = Σ_r M_r values of channel c, BN over the
// GLOBAL batch needs only sums: every kernel computes its local per-channel sums exactly as
// it does alone, hands them to `sum` (values ← Σ_r values_r, in place, the same on every
// process), and continues with the totals. So K processes run the same arithmetic as one
// process on the concatenated batch; only the order of the double additions across
// processes differs (README: Data parallelism, what that costs in bits).
//
// The fused f32 kernel (cpu/batch_norm_openmp.cpp) shifts its sums by K_c = x[0, c, 0]
// against cancellation. To equal one process the shift must be the global batch's first
// value, which lives on the process whose `holds_first_sample()` is true (rank 0): the
// kernels sum it with zeros from the other processes (exact), together with the counts M_r.
//
// Who honours it: the CPU backend's OpenMP and reference kernels (f32, f64). Paths that
// cannot (oneDNN BN via CONTRA_BN_IMPL=onednn, CUDA) say so in
// Backend::supports_batch_norm_reduction and refuse a non-null hook; dist::sync_batch_norm
// then falls back to its composed implementation.
#pragma once

#include <cstdint>

namespace contra {

class BatchNormReduction {
 public:
  virtual ~BatchNormReduction() = default;
  // values[i] ← Σ_r values_r[i] over every process. Every process calls it with the same n,
  // in the same order (it is a collective).
  virtual void sum(double* values, std::int64_t n) = 0;
  // True on exactly one process: the one holding the global batch's first sample.
  virtual bool holds_first_sample() const = 0;

  // Set by a training forward that was given this reduction: the global count M = Σ_r M_r
  // it normalised with (the caller's unbiased running variance needs it; no collective more).
  double count = 0.0;
};

}  // namespace contra
