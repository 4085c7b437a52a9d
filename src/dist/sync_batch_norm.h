// sync_batch_norm.h — batch normalisation with statistics over the GLOBAL batch of K ranks (SimCLR's global BN).
//
// Each rank holds n_r of the global batch's rows; per channel c, over the axes N (and H, W):
//
//   n   = Σ_r n_r                                   (rows × H × W of every rank)
//   μ   = (1/n) Σ_r Σ_{j∈r} x_j                     all_reduce_sum of the local sums s1 (C,)
//   σ²  = (1/n) Σ_r Σ_{j∈r} (x_j − μ)²               all_reduce_sum of the local centred sums s2 (C,)
//   y_j = γ (x_j − μ) / √(σ² + ε) + β
//
// Two passes (μ first, then the centred squares) rather than E[x²] − μ², so that the variance
// does not cancel catastrophically in f32 (Welford's concern, with the exact global μ).
//
// Backward. The statistics are all_reduce_sum ops (differentiable_collectives.h), whose
// backward all-reduces the incoming gradients: ∂J/∂s1 and ∂J/∂s2 summed over ranks, i.e. the
// two gradient sums Σ_j dy_j·(…) of BN's backward taken over the global batch. The rest is
// per-row autograd, so
//   dx_j = γ/√(σ²+ε) · ( dy_j − (1/n) Σ_global dy − x̂_j (1/n) Σ_global dy·x̂ )
// exactly as plain BN on the concatenated batch (tests/dist: forward and backward to 1e-10).
// Cost: 2 all-reduces of C values in forward, 2 in backward, per BN layer.
//
// Running statistics (PyTorch semantics, as nn/batch_norm.h, with the global batch):
//   running_mean ← (1 − m) running_mean + m μ,   running_var ← (1 − m) running_var + m σ² n/(n − 1)
//
// In a model: synchronise_batch_norms(model, comm) switches every nn::BatchNorm of a module
// tree (ResNet backbone, projection head) to these statistics in training mode; the layers,
// their names and checkpoints stay those of nn::BatchNorm, eval mode is unchanged.
//
// Dimension letters: N rows per rank, C channels, H, W spatial.
#pragma once

#include <cstdint>
#include <memory>

#include "dist/communicator.h"
#include "nn/module.h"

namespace contra::dist {

// Training-mode BN over the global batch. x (N, C) or (N, C, H, W) f32/f64; weight, bias
// (C,) or undefined; running_mean/var (C,) updated in place (when defined).
Tensor sync_batch_norm(Communicator& comm, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double momentum, double eps);

// Installs sync_batch_norm as the training forward of every nn::BatchNorm in `root` (root
// included); returns how many. The communicator is kept alive by the layers.
std::int64_t synchronise_batch_norms(nn::Module& root, std::shared_ptr<Communicator> comm);

}  // namespace contra::dist
