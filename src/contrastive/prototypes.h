// prototypes.h — prototypes and the prototype objectives (method.md §1, §2, §5a).
//
//   (S2) class prototype      μ_c = E_{x|c} E_t z̄(t(x))     batch estimate: mean of the z̄ rows of class c
//   (S3) instance prototype   μ_x = E_t z̄(t(x))            batch estimate: mean of the V views of image x
//   (S1) supervised oracle    L_sup(z̄, y) = − z̄·μ_y + λ · max_{c≠y} z̄·μ_c
//   (S4) self-supervised      L_ssl(z̄)    = − z̄·μ_x + λ · max_{x'≠x} z̄·μ_x'
//   (B2) smooth max           max_j a_j ≤ τ·log Σ_j e^{a_j/τ} ≤ max_j a_j + τ·log n
//
// Similarity to a prototype is the inner product z̄·μ (method.md §0; ‖μ‖ ≤ 1), so every
// inequality of §4–§5 is exact. Per-row values are returned for all M rows (every view is
// an anchor); losses are their mean.
//
// Rules: (S1) needs labels and at least one other class with a prototype for every row
// (else an error naming the row); classes without a prototype (absent from the batch, or
// never seen by the running mean) are excluded from the max. (S4) needs N ≥ 2.
//
// Dimension letters: N images, V views, M = N·V rows, D embedding width, C classes.
#pragma once

#include <cstdint>
#include <vector>

#include "contrastive/layout.h"
#include "tensor/tensor.h"

namespace contra::contrastive {

// Class prototypes of a batch, differentiable in z.
struct ClassPrototypes {
  Tensor mu;                     // (C, D) μ_c; zero rows for absent classes
  std::vector<bool> present;     // (C) class c has a prototype
  std::vector<std::int64_t> count;  // (C) rows of class c that were averaged
};
// (S2) μ_c = mean of the rows z̄_r with label c.  z (M, D), row_labels i64 (M,), C classes
// (0: max label + 1).
ClassPrototypes class_prototypes(const Tensor& z, const Tensor& row_labels, std::int64_t num_classes = 0);

// Running-mean class prototypes (a constant for the loss; update after each step):
//   μ_c ← (1 − m) μ_c + m · (batch mean of class c),  the first batch of a class sets μ_c.
// momentum m ∈ (0, 1]. Kept in f64.
class RunningPrototypes {
 public:
  RunningPrototypes(std::int64_t num_classes, std::int64_t dim, double momentum = 0.1);
  // z (M, D) normalised rows (detached inside), row_labels i64 (M,).
  void update(const Tensor& z, const Tensor& row_labels);
  ClassPrototypes prototypes(DType dtype) const;  // (C, D), present = seen at least once
  std::int64_t num_classes() const { return C_; }

 private:
  std::int64_t C_, D_;
  double momentum_;
  std::vector<double> mu_;           // (C, D)
  std::vector<std::int64_t> seen_;   // (C)
};

// (S1) per row: − z̄_r·μ_{y_r} + λ · max_{c≠y_r, present} z̄_r·μ_c.  z (M, D) → (M,)
Tensor supervised_prototype_per_anchor(const Tensor& z, const Tensor& row_labels, const ClassPrototypes& protos,
                                       double lambda);
// (S1) as a trainable loss, the "supervised oracle": f (M, D) unnormalised, labels (N,) or (M,).
// Prototypes from the batch's class means of z̄ (gradient flows through them) unless
// `running` is given (then its current prototypes, constants). Mean over rows.
Tensor supervised_prototype_loss(const Tensor& f, const ViewLayout& layout, const Tensor& labels, double lambda = 1.0,
                                 const RunningPrototypes* running = nullptr);

// (S3) μ_x = (1/V) Σ_v z̄_{v,x}.                                          z (M, D) → (N, D)
Tensor instance_prototypes(const Tensor& z, const ViewLayout& layout);
// Scores z̄_r·μ_x' for every row and image.                 z (M, D), mu (N, D) → (M, N)
Tensor prototype_scores(const Tensor& z, const Tensor& mu);
// (S4) per row: − z̄_r·μ_{x(r)} + λ · max_{x'≠x(r)} z̄_r·μ_x'.              z (M, D) → (M,)
Tensor ssl_prototype_per_anchor(const Tensor& z, const ViewLayout& layout, double lambda);
// (S4) loss on unnormalised f (M, D): mean over rows.
Tensor ssl_prototype_loss(const Tensor& f, const ViewLayout& layout, double lambda = 1.0);

// (B2) smooth max τ·log Σ_j e^{a_j/τ} along `axis` (stable logsumexp).     (..., n) → (...)
Tensor smooth_max(const Tensor& scores, double temperature, std::int64_t axis = -1);
// (B2) right side per row: − z̄_r·μ_x/τ + λ · log Σ_{x'≠x} e^{z̄_r·μ_x'/τ}.   z (M, D) → (M,)
Tensor ssl_smoothed_per_anchor(const Tensor& z, const ViewLayout& layout, double lambda, double temperature);

}  // namespace contra::contrastive
