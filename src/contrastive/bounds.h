// bounds.h — both sides of (B1), (B2), (B3) for a labelled batch (docs/derivation.md §4, §5).
//
// For every anchor row r (image x, class y), with z̄ = z̄_r, instance prototypes
// μ_x = mean of x's V views (S3), class prototypes μ_c (batch class means of the μ_x, S2,
// or given), δ(x) = ‖μ_y − μ_x‖:
//
//  (B1)  L_sup = −z̄·μ_y + λ max_{c≠y} z̄·μ_c   ≤   L_ssl + δ(x) + λ max_{x'≠x} δ(x')
//        where L_ssl = −z̄·μ_x + λ max_{x'≠x} z̄·μ_x'. It is guaranteed only with class
//        coverage: every class c ≠ y that has a prototype has an image x' ≠ x in the batch.
//        Batch prototypes always cover; given prototypes (e.g. a running mean over all C
//        classes) expose rows whose classes are not covered — reported, not hidden.
//  (B2)  L_ssl/τ  ≤  −z̄·μ_x/τ + λ log Σ_{x'≠x} e^{z̄·μ_x'/τ}  ≤  L_ssl/τ + λ log(N−1)
//  (B3)  (1/V) Σ_v log Σ_{x'≠x} e^{z̄·z̄_{v,x'}/τ}  ≥  log Σ_{x'≠x} e^{z̄·μ_x'/τ}
//        (Jensen over the view index: the empirical form of E[·] ≥ · on this batch), and the
//        (D1) repulsion log Σ_{k∈N(r)} e^{Λ_rk} ≥ log V + the left side (concavity of log).
//
// Computed in double under no-grad. A side "holds" up to 1e-10·(1 + |side|) of rounding.
//
// Prototype readings (prototypes.h, docs/derivation.md §1): with the default inner product
// (μ = means of z̄, scores z̄·μ) all three hold exactly. With the cosine reading (m = means
// of f, scores z̄·m̂, m̂ = m/‖m‖, δ(x) = ‖m̂_y − m̂_x‖) (B1) and (B2) still hold exactly, but
// (B3) is not guaranteed: z̄·m̂_x' is no longer the mean of the view scores z̄·z̄_{v,x'}, so
// Jensen does not apply. The report then measures the excess LSE(m̂) − mean_v LSE_v, which
// can never exceed max_x' ‖m̂_x' − μ_x'‖/τ: (B3) holds for μ, LSE is 1-Lipschitz in the max
// norm and |z̄·(m̂ − μ)| ≤ ‖m̂ − μ‖ (docs/derivation.md §5b).
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width, C classes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "contrastive/layout.h"
#include "contrastive/prototypes.h"
#include "tensor/tensor.h"

namespace contra::contrastive {

struct BoundsOptions {
  double lambda = 1.0;
  double temperature = 0.5;
  // Optional class prototypes μ_c (C, D) used instead of the batch class means (every row
  // is a prototype; normalised before scoring under the cosine reading). Rows of the batch
  // must then have labels < C.
  Tensor class_prototypes;
  PrototypeReading reading = PrototypeReading::inner_product;
};

struct BoundRow {
  std::int64_t row = 0, image = 0, view = 0, label = 0;
  bool covered = true;
  // (B1)
  double l_sup = 0.0, l_ssl = 0.0, delta_self = 0.0, delta_other_max = 0.0, b1_rhs = 0.0;
  bool b1_holds = true;
  // (B2)
  double b2_lhs = 0.0, b2_rhs = 0.0, b2_upper = 0.0;  // b2_upper = b2_lhs + λ log(N−1)
  bool b2_holds = true;
  // (B3)
  double b3_lhs = 0.0, b3_rhs = 0.0, d1_repulsion = 0.0;
  bool b3_holds = true;
};

struct BoundsReport {
  std::int64_t N = 0, V = 0, C = 0;
  double lambda = 1.0, temperature = 0.5;
  bool batch_prototypes = true;
  PrototypeReading reading = PrototypeReading::inner_product;
  std::vector<BoundRow> rows;
  std::vector<std::int64_t> uncovered_classes;  // classes with a prototype but no image in the batch
  std::int64_t covered_rows = 0;
  std::int64_t b1_violations_covered = 0;    // must be 0
  std::int64_t b1_violations_uncovered = 0;  // allowed: coverage fails
  std::int64_t b2_violations = 0, b3_violations = 0;  // must be 0
  double mean_l_sup = 0.0, mean_b1_rhs = 0.0, mean_b2_lhs = 0.0, mean_b2_rhs = 0.0, mean_b3_lhs = 0.0,
         mean_b3_rhs = 0.0;
  // (B3) excess LSE(μ) − mean_v LSE_v over the rows: ≤ 0 where (B3) holds. The largest, and
  // the mean of max(0, ·) (how much the bound fails on average per row).
  double b3_max_excess = 0.0, b3_mean_positive_excess = 0.0;
  // The guaranteed ceiling of that excess: 0 (inner product) or max_x ‖m̂_x − μ_x‖/τ (cosine).
  double b3_excess_ceiling = 0.0;
  bool all_hold() const { return b1_violations_covered == 0 && b2_violations == 0 && b3_violations == 0; }
  // The bounds that are exact under the reading hold: all three (inner product), or (B1)
  // and (B2) (cosine).
  bool exact_bounds_hold() const {
    return b1_violations_covered == 0 && b2_violations == 0 &&
           (reading == PrototypeReading::cosine || b3_violations == 0);
  }
};

// f (M, D) unnormalised, view-major; labels (N,) or (M,). Needs V ≥ 1, N ≥ 2 and two
// classes with prototypes.
BoundsReport compute_bounds(const Tensor& f, const ViewLayout& layout, const Tensor& labels,
                            const BoundsOptions& options = {});

// A table of the first `max_rows` rows and the summary, ≥ 10 significant digits.
std::string format_bounds(const BoundsReport& report, std::int64_t max_rows = 16);

}  // namespace contra::contrastive
