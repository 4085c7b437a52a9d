// balanced_common.h — the pieces the two fused balanced losses share (internal header):
// balanced_fused.cpp keeps the (M, M) matrix, balanced_blockwise.cpp tiles it; both compute
// docs/derivation.md §6 with the same weights, the same normalisation backward and the same
// telemetry, from these functions.
//
//   z̄_i = f_i/‖f_i‖                                         normalize_rows      (M, D)
//   a_i = α_i / Σα   (1/M without α)                         anchor_coefficients (M,)
//   W_ik = ω_ik (or ω_k, or 1) on N(i)                       PairWeights
//   stats of the row pass → RowSums                         row_sums_from_stats
//   per-row sums → L, attraction, repulsion, telemetry       assemble_output
//   dz̄ (M, D) → df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖,
//   the gradient norms, and the one autograd node           finish_gradient
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "contrastive/balanced_fused.h"
#include "tensor/backend.h"

namespace contra::contrastive::detail {

// The checks both losses make first: the parameters against the layout (validate), f is
// (M, D) with M = N·V, finite, every ‖f_i‖ > 1e-12 (check_embeddings).
void check_loss_inputs(const Tensor& f, const ViewLayout& layout, const BalancedParams& params, const char* where);

// ---- 1. z̄ = f/‖f‖ (rows already checked: finite, ‖f_i‖ > 1e-12)                (M, D)
struct NormalizedRows {
  Tensor z;                  // (M, D) z̄, f's dtype, contiguous
  Tensor norm;               // (M,)   ‖f_i‖, f64
};
template <typename T>
NormalizedRows normalize_rows(const Tensor& f);

// a_i = α_i / Σ_k α_k, or 1/M without α.                                        (M,)
std::vector<double> anchor_coefficients(const BalancedParams& params, std::int64_t M);

// ω as the row passes read it (Backend::contrastive_row_pass): (M, M) ω_ik, (M,) ω_k, or
// undefined (no ω), contiguous in dtype T.
template <typename T>
struct PairWeights {
  Tensor omega;  // contiguous, dtype T, or undefined
  PairWeights(const BalancedParams& params, std::int64_t M);
};

// The row passes' parameters (Backend::ContrastiveRowParams) for this layout and loss.
Backend::ContrastiveRowParams row_params(const ViewLayout& layout, const BalancedParams& params);

// What each anchor row i contributes; filled by a row pass, summed by assemble_telemetry.
struct RowSums {
  explicit RowSums(std::int64_t M)
      : ell(M), log_d(M), pos_sum(M), neg_sum(M), uniformity(M), g_rep2(M), row_sum(M), no_denominator(M, 0) {}
  std::vector<double> ell;         // ℓ_i = − w_a/|P| Σ_p Λ_ip + w_r log D_i
  std::vector<double> log_d;       // log D_i
  std::vector<double> pos_sum;     // Σ_{p∈P(i)} s_ip
  std::vector<double> neg_sum;     // Σ_{k∈N(i)} s_ik
  std::vector<double> uniformity;  // Σ_{k≠i, same view} e^{4 s_ik − 4}
  std::vector<double> g_rep2;      // Σ_k (Gᴿ_ik)²,  Gᴿ_ik = a_i w_r Q_ik
  std::vector<double> row_sum;     // Σ_k G_ik
  std::vector<char> no_denominator;  // W_i· ≡ 0 (D_i = 0): an error once the pass is done
};

// The per-row outputs of Backend::contrastive_row_pass (stats (M, row_stat_count), f64) as RowSums.
RowSums row_sums_from_stats(const Tensor& stats);

// Throws the "no entry with W > 0" error for the first row flagged in sums.no_denominator.
void check_denominators(const RowSums& sums, const char* where);

// Σ over rows in a fixed order (deterministic for any thread count): L (loss, no graph yet),
// ℓ_i, log D_i and the telemetry that needs no gradient, in dtype; the gradient norms are NaN
// until finish_gradient sets them. The tensors are made on `device` (the embeddings').
BalancedOutput assemble_output(const RowSums& sums, const std::vector<double>& a, const ViewLayout& layout,
                               const BalancedParams& params, DType dtype, Device device);

// ---- 4. the normalisation backward and the node. dz (M, D) = ∂L/∂z̄ (dtype T, contiguous).
//   forward: z̄ = f/‖f‖  ⇒  df_i = (I − z̄_i z̄_iᵀ) dz̄_i / ‖f_i‖
//   attraction alone (sparse): dz̄ᴬ_i = (1/τ) Σ_{p∈P(i)} (Gᴬ_ip + Gᴬ_pi) z̄_p,  Gᴬ_ip = −a_i w_a/|P|
// Sets out.input_grad = df, the three gradient norms of out.telemetry and, when `record_node`,
// attaches to out.loss the node `node_name` (forward: L(f) scalar ⇒ backward: g ↦ g · df).
template <typename T>
void finish_gradient(const Tensor& f_in, const NormalizedRows& rows, const Tensor& dz, const std::vector<double>& a,
                     const ViewLayout& layout, const BalancedParams& params, bool record_node, const char* node_name,
                     BalancedOutput& out);

}  // namespace contra::contrastive::detail
