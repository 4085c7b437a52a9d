// balanced_blockwise.h — the fused balanced loss of docs/derivation.md §6 without the (M, M) matrix:
// T×T similarity tiles, an online log-sum-exp per row, and the tiles recomputed for the gradient.
//
// Same value, gradient, telemetry, options and errors as the full-matrix fused loss
// (balanced_fused.h), in O(M·D + T²) memory:
//
//   1. z̄_i = f_i/‖f_i‖                                             (M, D)
//   2. forward, per row tile I (≤ T rows) and column tile K (≤ T columns):
//        S_IK = Z̄_I Z̄_Kᵀ                                           (T, T)  one GEMM per tile
//        per row i ∈ I, online over K (docs/derivation.md §6, stable log D_i):
//          m_i ← max(m_i, max_{k∈K: W_ik>0} s_ik)                  running max (similarity units)
//          D̃_i ← D̃_i · e^{(m_old − m_i)/τ} + Σ_{k∈K} W_ik e^{Λ_ik − m_i/τ}
//        after the last K:  log D_i = m_i/τ + log D̃_i,
//          ℓ_i = − w_a/|P| Σ_{p∈P(i)} Λ_ip + w_r log D_i,   L = Σ a_i ℓ_i
//   3. gradient (when f requires grad, or telemetry asks for gradient norms), the tiles again:
//        S_IK recomputed,  G_IK = a_i ( w_r W_ik e^{Λ_ik − m_i/τ} / D̃_i − w_a 1[k∈P(i)]/|P| )
//        forward: Λ = Z̄Z̄ᵀ/τ  ⇒  dZ̄ = (G + Gᵀ) Z̄ / τ, accumulated tile by tile:
//          dZ̄_I += G_IK Z̄_K / τ,   dZ̄_K += G_IKᵀ Z̄_I / τ           (two GEMMs per tile; G never stored)
//        then the normalisation backward df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖ and ONE node g ↦ g · df
//        (as balanced_fused.h: L is a scalar, so df is formed in the same call).
//   Telemetry: ‖Gᴿ_i‖² = (a_i w_r / D̃_i)² Σ_k (W_ik e^{Λ_ik − m_i/τ})², accumulated online like D̃_i
//   (rescaled by e^{2(m_old − m_i)/τ}); max_i |Σ_k G_ik| from the G tiles when the gradient is
//   formed, else its closed form max_i a_i |w_r − w_a|; the rest as in balanced_fused.h.
//
// Memory: z̄, dz̄, df (M, D) each, one (T, T) tile, O(M) doubles per row. The (M, M) logit
// gradient is not available here (FusedOptions::keep_logit_grad is refused).
// FusedOptions::algorithm = automatic picks this path in balanced_loss above
// kBlockwiseAboveBytes for the (M, M) matrix (README, "Blockwise balanced contrastive loss").
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width, T tile.
#pragma once

#include <cstdint>

#include "contrastive/balanced_fused.h"

namespace contra::contrastive {

// Tile edge T when FusedOptions::tile is 0 (rows and columns; 4·T² bytes per f32 tile).
constexpr std::int64_t kDefaultTile = 512;

// The blockwise fused balanced loss. f (M, D) unnormalised embeddings, view-major, f32 or f64.
BalancedOutput balanced_loss_blockwise(const Tensor& f, const ViewLayout& layout, const BalancedParams& params,
                                       const FusedOptions& options = {});

}  // namespace contra::contrastive
