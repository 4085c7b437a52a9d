// similarity.h — normalised embeddings, the similarity matrix and the logits (docs/derivation.md §0, §6).
//
//     z̄_i = f_i / ‖f_i‖                  (M, D)   L2 normalisation, docs/derivation.md §0
//     S   = Z̄ Z̄ᵀ,   S_ik = s(f_i, f_k)     (M, M)   cosine similarities, one GEMM
//     Λ   = S / τ                         (M, M)   logits, τ > 0
//
// Rules (explicit, tested): f must be rank 2, floating, finite; a row with ‖f_i‖ ≤ 1e-12
// is a "zero-norm embedding" error (never silently clamped: the direction is undefined).
// All functions here are differentiable compositions of autograd ops.
//
// Dimension letters: M rows (N·V), D embedding width.
#pragma once

#include "tensor/tensor.h"

namespace contra::contrastive {

// Smallest accepted row norm; below it the row is reported as zero-norm.
constexpr double kMinEmbeddingNorm = 1e-12;

// Throws contra::Error unless f is a finite (M, D) f32/f64 tensor with every ‖f_i‖ > 1e-12.
void check_embeddings(const Tensor& f, const char* where);

// z̄ = f / ‖f‖ row-wise (checks f first).                               (M, D) → (M, D)
Tensor normalize_embeddings(const Tensor& f);
// S = Z̄ Z̄ᵀ for already normalised rows.                                 (M, D) → (M, M)
Tensor similarity_matrix(const Tensor& z);
// S from unnormalised embeddings: similarity_matrix(normalize_embeddings(f)).
Tensor cosine_similarity_matrix(const Tensor& f);
// Λ = S / τ; τ must be finite and > 0.                                   (M, M) → (M, M)
Tensor scaled_logits(const Tensor& S, double temperature);

void check_temperature(double temperature, const char* where);

}  // namespace contra::contrastive
