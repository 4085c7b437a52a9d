// contrastive_row_checks.h — the argument contract of the contrastive row passes (backend.h,
// "contrastive row passes"), checked once for every backend (cpu/contrastive_rows.cpp,
// cuda/contrastive_rows_backend.cpp), so that both refuse the same calls with the same words.
//
// Common to every pass: floating s of one dtype, N, V ≥ 1 (M = N·V), ω undefined or a
// contiguous (M,) / (M, M) tensor in s's dtype, row statistics f64 and contiguous, and every
// defined tensor on `device`. Each function throws contra::Error naming the pass.
#pragma once

#include "tensor/backend.h"

namespace contra {

using ContrastiveRowParams = Backend::ContrastiveRowParams;

// s (M, M), a (M,), stats (M, row_stat_count).
void check_contrastive_row_pass(Device device, const Tensor& s, const Tensor& omega, const Tensor& a,
                                const ContrastiveRowParams& p, const Tensor& stats);
// s a tile inside (M, M) at (row0, col0); state (M, tile_state_count).
void check_contrastive_tile_forward(Device device, const Tensor& s, const Tensor& omega,
                                    const ContrastiveRowParams& p, const Tensor& state);
// As the tile forward, and a, row_sum (M,).
void check_contrastive_tile_gradient(Device device, const Tensor& s, const Tensor& omega, const Tensor& a,
                                     const Tensor& state, const ContrastiveRowParams& p, const Tensor& row_sum);
// f, z (M, D) contiguous, one floating dtype; norm (M,) f64.
void check_contrastive_normalize_rows(Device device, const Tensor& f, const Tensor& z, const Tensor& norm);
// z, dz, df (M, D) contiguous, one floating dtype, M = N·V; norm, a (M,), norms (M, 3) f64.
void check_contrastive_normalize_backward(Device device, const Tensor& z, const Tensor& dz, const Tensor& norm,
                                          const Tensor& a, const ContrastiveRowParams& p, const Tensor& df,
                                          const Tensor& norms);

}  // namespace contra
