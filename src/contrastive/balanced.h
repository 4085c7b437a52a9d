// balanced.h — the balanced contrastive loss of docs/derivation.md §6, step by step (autograd ops).
//
// Per anchor row i, with Λ = S/τ, P(i) the other views of i's image, N(i) the other images:
//
//   ℓ_i = − w_a · (1/|P(i)|) Σ_{p∈P(i)} Λ_ip                                  attraction A_i
//         + w_r · log( w_p Σ_{p∈P(i)} e^{Λ_ip} + Σ_{k∈N(i)} ω_ik e^{Λ_ik} )   repulsion  w_r·log D_i
//   L   = Σ_i α_i ℓ_i / Σ_i α_i                                               (docs/derivation.md §6)
//
// With W_ik = w_p on P(i), ω_ik on N(i), 0 on the diagonal, log D_i is computed stably as
// a log-sum-exp of Λ_ik + log W_ik over the entries with W_ik > 0 (entries with W_ik = 0 are
// −∞ and drop out exactly; no ε is ever added inside the log).
//
// Special cases (tested identities):
//   w_a = w_r = w_p = 1, no ω, no α, V = 2   → NT-Xent (SimCLR), docs/derivation.md (NT)
//   w_p = 0, w_a = 1, w_r = λ                → the derived loss (D1)
//   w_a = w_r                                 → each row of G = ∂L/∂Λ sums to zero
//
// The paper's names (arXiv:2510.10572v1), AS WE READ THE PAPER (docs/derivation.md §6, §9: their
// exact form was not available): ν = attraction weight w_a, β = repulsion weight w_r,
// ρ = β/ν. λ of (S1) equals w_r / w_a.
//
// The fused kernel with the closed-form gradient is in balanced_fused.h; this file is the
// reference composition it must agree with.
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width.
#pragma once

#include <optional>

#include "contrastive/layout.h"
#include "tensor/tensor.h"

namespace contra::contrastive {

struct BalancedParams {
  double temperature = 0.5;      // τ > 0 (SimCLR's CIFAR value)
  double attract = 1.0;          // w_a ≥ 0   (ν, as we read the paper)
  double repel = 1.0;            // w_r ≥ 0   (β, as we read the paper)
  double positive_weight = 1.0;  // w_p ∈ [0, 1]: 1 = NT-Xent, 0 = decoupled form (D1)
  // ω: optional per-pair negative weights, (M, M) (ω_ik) or (M,) (ω_k, the same for every
  // anchor); ≥ 0, finite. Only entries k ∈ N(i) are read. Constants (no gradient).
  Tensor pair_weights;
  // α: optional per-anchor weights (M,), ≥ 0, finite, Σ α > 0. Constants (no gradient).
  Tensor anchor_weights;
};

// The paper's parameter names, as we read the paper (docs/derivation.md §6): ν → w_a, β → w_r,
// ρ = β/ν → w_r = ρ · w_a. Giving β and ρ that disagree with ν is an error.
struct PaperAliases {
  std::optional<double> nu, beta, rho;
};
BalancedParams with_paper_aliases(BalancedParams params, const PaperAliases& aliases);

// Checks every parameter against the layout; throws contra::Error naming the parameter.
// Includes the batch rules: V ≥ 2, N ≥ 2 (N = 1: no negatives).
void validate(const BalancedParams& params, const ViewLayout& layout, const char* where);

// ---- the steps (each differentiable, each gradchecked) --------------------------------
// On the logits of the layout's anchor rows, (m, M): (M, M) by default (layout.h, "Anchors").
// A_i = − w_a · (1/|P(i)|) Σ_{p∈P(i)} Λ_ip                                (m, M) → (m,)
Tensor balanced_attraction(const Tensor& logits, const ViewLayout& layout, const BalancedParams& params);
// log W_ik: log w_p on P(i), log ω_ik on N(i), −∞ elsewhere (a constant). (m, M)
// Rule: a row whose W is all zero (w_p = 0 and every ω_ik = 0) is an error.
Tensor balanced_log_weights(const ViewLayout& layout, const BalancedParams& params, DType dtype);
// log D_i = logsumexp_k (Λ_ik + log W_ik)                                (m, M) → (m,)
Tensor balanced_log_denominator(const Tensor& logits, const ViewLayout& layout, const BalancedParams& params);
// ℓ_i = A_i + w_r · log D_i                                                (m, M) → (m,)
Tensor balanced_per_anchor(const Tensor& logits, const ViewLayout& layout, const BalancedParams& params);
// L = Σ α_i ℓ_i / Σ α_i (the plain mean without α)                          (M,) → ()
Tensor anchor_weighted_mean(const Tensor& per_anchor, const Tensor& anchor_weights);

// Every intermediate of the composition, for tools/inspect_loss and the tests.
struct BalancedSteps {
  Tensor z;                // (M, D) z̄
  Tensor similarities;     // (M, M) S
  Tensor logits;           // (M, M) Λ
  Tensor attraction;       // (M,)   A_i
  Tensor log_denominator;  // (M,)   log D_i
  Tensor per_anchor;       // (M,)   ℓ_i
  Tensor loss;             // ()     L
};
// f (M, D) unnormalised, view-major. Differentiable with respect to f.
BalancedSteps balanced_loss_steps(const Tensor& f, const ViewLayout& layout, const BalancedParams& params);
// The step-by-step balanced loss: balanced_loss_steps(f, ...).loss.            (M, D) → ()
Tensor balanced_loss_reference(const Tensor& f, const ViewLayout& layout, const BalancedParams& params);

}  // namespace contra::contrastive
