// sync_batch_norm.h — batch normalisation with statistics over the GLOBAL batch of K ranks (SimCLR's global BN).
//
// Each rank holds n_r of the global batch's rows; per channel c, over the axes N (and H, W),
// n = Σ_r n_r values, and the result is BN over the concatenated batch:
//   μ = (1/n) Σ_global x,  σ² = (1/n) Σ_global (x − μ)²,  y_j = γ (x_j − μ) / √(σ² + ε) + β
//   dx_j = γ/√(σ²+ε) · ( dy_j − (1/n) Σ_global dy − x̂_j (1/n) Σ_global dy·x̂ )
//
// How (sync_batch_norm): the SAME fused kernel one process runs (the CPU backend's OpenMP
// kernel in f32, the reference kernel in f64), told through a BatchNormReduction
// (tensor/batch_norm_reduction.h) to all-reduce its per-channel sums before using them:
//   forward:  K_c = the global batch's x[0, c, 0] (rank 0's) with n      C + 1 values
//             s₁ = Σ(x − K), s₂ = Σ(x − K)²                               2C values
//   backward: Σdy, Σdy·(x − μ) with n                                    2C + 1 values
// one all_reduce_sum of a host f64 buffer each (f64: Σx with n, then Σ(x − μ)²; the
// running variance's n/(n − 1) takes the forward's n); the recomputation of y in the backward
// (autograd::mark_recomputable) replays the forward's totals without communicating. So K
// ranks round exactly as one process does, but for the order in which the ranks' double
// partial sums are added (README: Data parallelism, measured). dγ, dβ are each rank's part
// (the gradient all-reduce adds them), as for any replicated parameter.
//
// Fallback (sync_batch_norm_composed): where the backend's kernel cannot take the reduction
// (Backend::supports_batch_norm_reduction: CUDA, oneDNN's BN via CONTRA_BN_IMPL=onednn), BN
// is built from autograd ops with all_reduce_sum ops (differentiable_collectives.h) for the
// sums: two passes (μ first, then the centred squares); the collectives' backward
// all-reduces the incoming gradients, giving the global Σdy, Σdy·x̂. Same formulas, other
// rounding (≈ 1e-3 relative in a ResNet stem's gradient after one step, README).
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
// (C,) or undefined; running_mean/var (C,) updated in place (when defined). `comm` must
// outlive the backward of the returned tensor.
Tensor sync_batch_norm(Communicator& comm, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double momentum, double eps);
// The composed implementation (the fallback above), for any backend.
Tensor sync_batch_norm_composed(Communicator& comm, const Tensor& x, const Tensor& weight, const Tensor& bias,
                                const Tensor& running_mean, const Tensor& running_var, double momentum, double eps);

// Installs sync_batch_norm as the training forward of every nn::BatchNorm in `root` (root
// included); returns how many. The communicator is kept alive by the layers.
std::int64_t synchronise_batch_norms(nn::Module& root, std::shared_ptr<Communicator> comm);

}  // namespace contra::dist
