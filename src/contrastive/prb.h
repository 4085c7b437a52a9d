// prb.h — prototype representation bias (docs/derivation.md §3).
//
//   μ_x = (1/K) Σ_k z̄(t_k(x))                 instance prototype from K augmented views (S3)
//   μ_y = mean of μ_x over the images of class y  (class prototype, S2)
//   raw        δ(x)  = ‖ μ_y − μ_x ‖₂                        (the δ of the bound (B1))
//   normalised δ̂(x) = ‖ μ_y/‖μ_y‖ − μ_x/‖μ_x‖ ‖₂             (directions of the same prototypes)
//   cosine     δ_c(x) = ‖ m_y/‖m_y‖ − m_x/‖m_x‖ ‖₂             (the δ of (B1) under the cosine
//              reading: m_x = (1/K) Σ_k f(t_k(x)) and m_y = mean of m_x over class y, means of
//              the UNNORMALISED outputs, μ_y = E f(T(X)) of the public summaries; prototypes.h)
//   per class: mean of δ over the class's images;
//   overall:   image-weighted (default) = mean over all images,
//              class-weighted           = mean over classes of the per-class means.
//
// Labels are used only to measure, never to train. The encoder and the augmentations are
// applied by the caller (frozen encoder, K = 8–32 views, fixed seed — tools/evaluate); this
// function takes the embeddings. Computed in double.
//
// Layout of `embeddings`: (K, N, D), or (K·N, D) view-major (row = k·N + x, as everywhere
// in src/contrastive) with `views` = K. Labels: (N,) i64 (or integral floats).
// Rules: K ≥ 1, N ≥ 1, finite rows with ‖f‖ > 1e-12; ‖μ_x‖ = 0 or ‖μ_y‖ = 0 (views that
// cancel exactly; likewise ‖m_x‖, ‖m_y‖) make the normalised bias undefined: an error naming
// the image or class.
//
// Dimension letters: K views per image, N images, D embedding width, C classes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace contra::contrastive {

enum class PrbWeighting { images, classes };

struct PrbClass {
  std::int64_t label = 0;
  std::int64_t images = 0;
  double raw = 0.0;         // mean δ(x) over the class
  double normalised = 0.0;  // mean δ̂(x) over the class
  double cosine = 0.0;      // mean δ_c(x) over the class
};

struct PrbReport {
  std::int64_t K = 0, N = 0, D = 0;
  std::vector<PrbClass> per_class;          // classes with at least one image, ascending label
  std::vector<double> per_image_raw;        // δ(x)  (N)
  std::vector<double> per_image_normalised; // δ̂(x) (N)
  std::vector<double> per_image_cosine;     // δ_c(x) (N)
  double raw_image_weighted = 0.0, normalised_image_weighted = 0.0, cosine_image_weighted = 0.0;
  double raw_class_weighted = 0.0, normalised_class_weighted = 0.0, cosine_class_weighted = 0.0;
  PrbWeighting weighting = PrbWeighting::images;
  double raw = 0.0, normalised = 0.0, cosine = 0.0;  // the overall values under `weighting`
};

PrbReport prototype_representation_bias(const Tensor& embeddings, std::int64_t views, const Tensor& labels,
                                        PrbWeighting weighting = PrbWeighting::images);

// One line per class and the overall values, for tools and logs.
std::string format_prb(const PrbReport& report);

}  // namespace contra::contrastive
