// balanced_fused.h — the balanced loss of docs/derivation.md §6 as ONE fused autograd node, with telemetry.
//
// Same value as balanced_loss_reference (balanced.h), computed as:
//
//   1. z̄_i = f_i/‖f_i‖                                   (M, D)  rows checked: finite, ‖f_i‖ > 1e-12
//   2. S = Z̄ Z̄ᵀ                                          (M, M)  ONE GEMM (the backend's matmul)
//   3. per row i (stable, docs/derivation.md §6):
//        m_i = max_{k: W_ik>0} Λ_ik,  log D_i = m_i + log Σ_k W_ik e^{Λ_ik − m_i}
//        ℓ_i = − w_a/|P| Σ_{p∈P(i)} Λ_ip + w_r log D_i,     L = Σ a_i ℓ_i,  a_i = α_i / Σα (1/M)
//      and, in S's own buffer, the closed-form gradient with respect to the logits:
//        Q_ik = W_ik e^{Λ_ik} / D_i,   G_ik = ∂L/∂Λ_ik = a_i ( w_r Q_ik − w_a 1[k∈P(i)]/|P| ),  G_ii = 0
//   4. gradient (when f requires grad, or telemetry asks for gradient norms):
//        forward: Λ = Z̄Z̄ᵀ/τ  ⇒  dZ̄ = (G + Gᵀ) Z̄ / τ     (two GEMMs: G Z̄, then + Gᵀ Z̄)
//        forward: z̄ = f/‖f‖  ⇒  df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖
//      Since L is a scalar, df is formed in the forward and the recorded node's backward
//      is  g ↦ g · df.  M×M memory: S only (G overwrites it).
//
// balanced_loss runs this full-matrix path, or the blockwise one (balanced_blockwise.h: the same
// values, gradients and telemetry from T×T tiles, O(M·D + T²) memory, ~1.2–1.4× the time) when
// the (M, M) f32 matrix would exceed kBlockwiseAboveBytes; FusedOptions::algorithm overrides.
// The weights, the normalisation backward and the telemetry sums are shared (balanced_common.h).
//
// Rows of G sum to a_i (w_r − w_a): zero when w_a = w_r (docs/derivation.md §6, "balanced").
// Double backward through this node is not supported (use the reference composition).
// ω and α are constants. Works for any V ≥ 2, f32 (double accumulators) and f64.
//
// Telemetry (from the same pass, cheap enough for every step):
//   L = attraction + repulsion,  attraction = Σ a_i A_i,  repulsion = Σ a_i w_r log D_i
//   ‖∂attraction/∂f‖_F, ‖∂repulsion/∂f‖_F  (the attraction part is sparse: O(M·V·D))
//   ‖G_A‖_F, ‖G_R‖_F with respect to the logits
//   mean positive / negative similarity (unweighted, over P(i) and N(i) pairs)
//   alignment  (Wang & Isola, α = 2): mean over positive pairs of ‖z̄_i − z̄_p‖² = 2 − 2 s_ip
//   uniformity (Wang & Isola, t = 2): per view v, log mean_{i≠j in view v} e^{−2‖z̄_i − z̄_j‖²},
//                                     averaged over the V views (as their (x, y) average)
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width.
#pragma once

#include <cstdint>

#include "contrastive/balanced.h"

namespace contra::contrastive {

struct LossTelemetry {
  double loss = 0.0;
  double attraction = 0.0;              // Σ a_i A_i  (≤ 0 for w_a > 0 when positives are similar)
  double repulsion = 0.0;               // Σ a_i w_r log D_i
  double grad_norm_attraction = 0.0;    // ‖∂attraction/∂f‖_F  (NaN when gradient norms were off)
  double grad_norm_repulsion = 0.0;     // ‖∂repulsion/∂f‖_F
  double grad_norm_total = 0.0;         // ‖∂L/∂f‖_F
  double logit_grad_norm_attraction = 0.0;  // ‖G_A‖_F
  double logit_grad_norm_repulsion = 0.0;   // ‖G_R‖_F
  double max_abs_row_sum = 0.0;         // max_i |Σ_k G_ik| = max_i a_i |w_r − w_a|
  double mean_positive_similarity = 0.0;
  double mean_negative_similarity = 0.0;
  double alignment = 0.0;
  double uniformity = 0.0;
};

// Which computation balanced_loss runs (same values, gradients and telemetry):
//   full_matrix  S and G held as one (M, M) matrix (this file)
//   blockwise    T×T similarity tiles, online log-sum-exp, tiles recomputed for the gradient:
//                O(M·D + T²) memory (balanced_blockwise.h)
//   automatic    blockwise when the (M, M) matrix would exceed kBlockwiseAboveBytes (and
//                keep_logit_grad is off), full_matrix otherwise
enum class LossAlgorithm { automatic, full_matrix, blockwise };

// Above this many bytes of (M, M) f32 matrix (M > 8192), automatic picks blockwise. Measured
// (README, "Blockwise balanced contrastive loss"): blockwise is never faster on CPU (it computes
// S twice), but at M = 16384 the full path peaks at ~1.1 GB against ~55 MB.
constexpr double kBlockwiseAboveBytes = 256.0 * 1024 * 1024;

struct FusedOptions {
  bool gradient_norms = true;   // compute the gradient (if not needed anyway) for the norms
  bool keep_logit_grad = false; // return a copy of G = ∂L/∂Λ (an extra M×M; for inspection; full_matrix only)
  LossAlgorithm algorithm = LossAlgorithm::automatic;
  std::int64_t tile = 0;        // blockwise tile T (rows and columns); 0 = kDefaultTile
};

struct BalancedOutput {
  Tensor loss;             // ()  differentiable with respect to f (one node)
  LossTelemetry telemetry;
  Tensor per_anchor;       // (M,) ℓ_i (no graph)
  Tensor log_denominator;  // (M,) log D_i (no graph)
  Tensor logit_grad;       // (M, M) G, only with keep_logit_grad
  Tensor input_grad;       // (M, D) ∂L/∂f when it was computed (no graph)
};

// Whether balanced_loss runs the blockwise path for M rows under these options.
bool blockwise_chosen(std::int64_t M, const FusedOptions& options);

// The fused balanced loss. f (M, D) unnormalised embeddings, view-major, f32 or f64.
// Validates f and the parameters, then runs the algorithm options.algorithm names.
BalancedOutput balanced_loss(const Tensor& f, const ViewLayout& layout, const BalancedParams& params,
                             const FusedOptions& options = {});

}  // namespace contra::contrastive
