// differentiable_collectives.h — all-gather and all-reduce as autograd ops (exact gradients across ranks).
//
// The objective. Rank s computes a local loss L_s from its own rows and what it received;
// the K ranks together differentiate
//
//     J = Σ_s L_s                                                                    (1)
//
// (gradient_buckets.h then averages the parameter gradients, dividing by K: the local loss of
// each rank is scaled so that (1/K)·J is the one-process loss — gathered_loss.h). Each
// backward below returns ∂J/∂(this rank's input), which needs the other ranks' gradients:
//
// all_gather_rows:   Y = [z_0; z_1; …; z_{K−1}]     (K·n, D) on every rank, from z_r (n, D)
//   Every rank's loss L_s reads its copy Y^(s) of Y, and the rows [r·n, (r+1)·n) of every
//   copy are z_r. By (1) and the chain rule,
//       ∂J/∂z_r = Σ_s ∂L_s/∂Y^(s)[r·n : (r+1)·n]                                     (2)
//   — the gradient of z_r as a key for other ranks' anchors (s ≠ r) as well as for its own
//   (s = r). Backward: G_s = ∂L_s/∂Y^(s) (K·n, D) on each rank; a reduce-scatter-sum gives
//   rank r the rows [r·n, (r+1)·n) of Σ_s G_s — the rows of an all-reduce it would keep, for
//   (K−1)/K of the bytes instead of 2(K−1)/K.
//
// all_reduce_sum:    y = Σ_r x_r                    every rank gets the same y
//   Every L_s reads y, so ∂J/∂x_r = Σ_s ∂L_s/∂y^(s): the backward is again an all-reduce-sum
//   of the incoming gradients (synchronised BN's statistics, sync_batch_norm.h).
//
// Both are collectives in forward AND backward: every rank must run the same forward and
// backward (same ops, same order), or the job ends at the communicator's timeout.
// The communicator must outlive the recorded graph.
//
// Dimension letters: K ranks, n rows per rank, D row width.
#pragma once

#include "dist/communicator.h"
#include "tensor/tensor.h"

namespace contra::dist {

// Y = [z_0; …; z_{K−1}] with backward (2). z (n, ...), the same shape on every rank. (n, ...) → (K·n, ...)
Tensor all_gather_rows(Communicator& comm, const Tensor& x);

// y = Σ_r x_r with backward ∂J/∂x_r = Σ_s ∂L_s/∂y^(s). Any shape, f32/f64.          (...) → (...)
Tensor all_reduce_sum(Communicator& comm, const Tensor& x);

}  // namespace contra::dist
