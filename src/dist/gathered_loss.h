// gathered_loss.h — contrastive losses over the global batch of K ranks: local anchors × global keys.
//
// Sharding. The global batch has N = K·n images in V views (M = N·V rows). Rank r holds the
// images [r·n, (r+1)·n): its embeddings f_r are (V·n, D), view-major over its own images
// (row v·n + x is image r·n + x, view v). gather_view_major assembles the global view-major
// F (M, D) — row v·N + r·n + x — on every rank with all_gather_rows (exact gradients,
// differentiable_collectives.h), so every anchor sees all M keys: the negatives of the whole
// global batch, as in one process with batch N.
//
// Local anchors. Rank r computes only the losses ℓ_i of its own rows A_r (the layout's anchor
// images [r·n, (r+1)·n), layout.h), against all keys: Λ_A = Z̄_A Z̄ᵀ/τ is (m, M), m = V·n,
// with the same per-anchor functions as one process (losses.h, balanced.h: one formula each).
//
// Normalisation (docs/method.md §6, docs/derivation.md §6). One process computes
//     L = Σ_i α_i ℓ_i / Σ_i α_i          (α_i = 1 without anchor weights: L = (1/M) Σ_i ℓ_i)
// over i ∈ [0, M). The anchors partition over ranks, A_0 ∪ … ∪ A_{K−1}, so
//     L = Σ_r L^(r),   L^(r) = Σ_{i∈A_r} α_i ℓ_i / Σ_{all i} α_i       (the global Σα: a constant)
// Each rank returns its local loss
//     loss_r = K · L^(r)          (= (1/m) Σ_{i∈A_r} ℓ_i without weights: the mean over its anchors)
// so that the mean over ranks of loss_r is L (global_mean), the usual data-parallel convention
// in which gradient_buckets.h AVERAGES parameter gradients over ranks.
//
// Why the gradient is exact. ℓ_i depends on every key row, so ∂L/∂f_j (j owned by rank s)
// collects terms from the anchors of every rank: ∂L/∂f_j = Σ_r ∂L^(r)/∂f_j. Rank r's backward
// yields ∂loss_r/∂F = K ∂L^(r)/∂F for all M rows (nonzero on rows that are its anchors AND
// rows that are keys of its anchors); all_gather_rows' backward sums these over ranks and
// hands rank s its slice:  Σ_r K ∂L^(r)/∂F[rows of s] = K ∂L/∂f_s  (equation (2) there).
// Through the network, rank s's parameter gradient is K ∂L/∂θ restricted to its paths, and
// the average over ranks, (1/K) Σ_s, is exactly ∂L/∂θ — the gradient of one process with the
// global batch (tests/dist: value and gradients equal to 1e-10 in f64).
//
// Cost per rank: the all-gather of M·D floats (forward) and a reduce-scatter of M·D (backward);
// the logits are (m, M) = (M/K)·M: the M² work splits over the ranks.
// The fused kernel (balanced_fused.h) computes every anchor; it is not used here yet.
//
// Dimension letters: K ranks, n images per rank, N = K·n, V views, M = N·V, m = V·n, D width.
#pragma once

#include <cstdint>

#include "contrastive/balanced.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/layout.h"
#include "dist/communicator.h"
#include "tensor/tensor.h"

namespace contra::dist {

// The global layout seen from this rank: N = K·n images, V views, anchors = images
// [r·n, (r+1)·n). local_rows = V·n (the rows of f_r). Rule: local_rows divisible by V, n ≥ 1.
contrastive::ViewLayout sharded_layout(const Communicator& comm, std::int64_t local_rows, std::int64_t V,
                                       const char* where);

// F (M, D), global view-major, from every rank's f_r (V·n, D): all_gather_rows, then the
// reorder (K, V, n, D) → (V, K, n, D). Differentiable (exact gradient, header above).
Tensor gather_view_major(Communicator& comm, const Tensor& f_local, std::int64_t V);

// Λ_A = Z̄_A Z̄ᵀ / τ for the layout's anchor rows: z̄ = f/‖f‖ (similarity.h).   (M, D) → (m, M)
Tensor anchor_logits(const Tensor& f_global, const contrastive::ViewLayout& layout, double temperature);

// loss_r = K · L^(r) for each loss of losses.h / balanced.h (f_local (V·n, D), view-major).
Tensor gathered_nt_xent(Communicator& comm, const Tensor& f_local, std::int64_t V, double temperature);
Tensor gathered_derived_loss(Communicator& comm, const Tensor& f_local, std::int64_t V, double temperature,
                             double lambda = 1.0);
// labels_local: i64 (n,), the class of each of this rank's images; gathered to (N,).
Tensor gathered_supcon_loss(Communicator& comm, const Tensor& f_local, std::int64_t V, const Tensor& labels_local,
                            double temperature);
// (S1) the supervised prototype objective (contrastive/prototypes.h), inner-product reading,
// batch prototypes: μ_c = mean of z̄ over the rows of class c in the GLOBAL batch (labels
// gathered to (N,)), every rank computing the same (C, D) from F; rank r scores its anchors
//     ℓ_i = − z̄_i·μ_{y_i} + λ max_{c≠y_i} z̄_i·μ_c,   loss_r = K · Σ_{i∈A_r} ℓ_i / M.
// μ_c depends on every row of class c, so ∂L^(r)/∂F is nonzero on other ranks' rows too;
// all_gather_rows' backward sums those terms over ranks, as for the keys above.
Tensor gathered_supervised_prototype_loss(Communicator& comm, const Tensor& f_local, std::int64_t V,
                                          const Tensor& labels_local, double lambda = 1.0);
// params.pair_weights (ω) and params.anchor_weights (α) are GLOBAL ((M, M)/(M,) and (M,)),
// the same on every rank (constants).
// f_global, when given, receives F (M, D) (the graph's gathered embeddings; detach to reuse).
Tensor gathered_balanced_loss(Communicator& comm, const Tensor& f_local, std::int64_t V,
                              const contrastive::BalancedParams& params, Tensor* f_global = nullptr);

// The one-process telemetry of the balanced family (balanced_fused.h: attraction, repulsion,
// ‖∂attraction/∂f‖, ‖∂repulsion/∂f‖, similarities, alignment, uniformity) for the GLOBAL
// batch: the fused kernel on F (M, D), detached, with every row an anchor — the same numbers
// one process logs for the same embeddings. Local work only (no collective): call it on the
// rank that logs (rank 0), with the F every rank already gathered. Its cost is one more
// M×M fused pass on that rank, so tools/pretrain runs it on logged steps only.
contrastive::LossTelemetry global_balanced_telemetry(const Tensor& f_global, std::int64_t V,
                                                     const contrastive::BalancedParams& params, bool gradient_norms);

// (1/K) Σ_r loss_r: the global loss L for logging (a collective; no graph).
double global_mean(Communicator& comm, const Tensor& local_loss);

}  // namespace contra::dist
