// knn.h — weighted k-nearest-neighbour classifier on frozen features (the kNN monitor).
//
// Protocol of InstDisc / MoCo / lightly (recipes.md "Evaluation"): features are
// L2-normalised, similarity is cosine s = f̂_test · f̂_bankᵀ, the k most similar bank
// entries vote for their class with weight exp(s / T); the class with the largest total
// wins (ties: lowest class index). Defaults k = 200, T = 0.1.
//
// Shapes: bank (B, D) with labels (B,), queries (Q, D); result predictions (Q,).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace contra::train {

struct KnnOptions {
  int k = 200;
  double temperature = 0.1;
  std::int64_t chunk = 512;  // query rows per similarity block (memory: chunk × B floats)
};

// Predicted class of each query row.
std::vector<std::int64_t> knn_predict(const Tensor& bank, const std::vector<std::int64_t>& bank_labels,
                                      const Tensor& queries, int num_classes, const KnnOptions& options = {});

}  // namespace contra::train
