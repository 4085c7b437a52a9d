// linear_probe.h — a linear classifier trained on frozen, cached features.
//
// recipes.md "Linear probe": one linear layer y = W f + b on backbone features (BN in eval
// mode when they were extracted), cross-entropy, SGD with momentum 0.9, LR 0.1 × batch/256
// with a cosine decay to 0 over the epochs, no weight decay, 100 epochs. Trained on cached
// features (much faster than re-running the encoder; the README says so).
//
// Shapes: train_features (N, D), test_features (Q, D) → predictions (Q,).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace contra::train {

struct LinearProbeOptions {
  std::int64_t epochs = 100;
  std::int64_t batch_size = 256;
  double base_lr = 0.1;        // at batch 256; effective = base_lr · batch / 256
  double momentum = 0.9;
  double weight_decay = 0.0;
  std::uint64_t seed = 0;
};

struct LinearProbeResult {
  std::vector<std::int64_t> predictions;  // (Q,)
  double final_train_loss = 0.0;          // mean cross-entropy of the last epoch
};

LinearProbeResult linear_probe(const Tensor& train_features, const std::vector<std::int64_t>& train_labels,
                               const Tensor& test_features, int num_classes, const LinearProbeOptions& options = {});

}  // namespace contra::train
