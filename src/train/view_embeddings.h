// view_embeddings.h — K augmented views of N images through a trained encoder, view-major,
// so that the bounds (B1)–(B3) and the PRB can be checked on a trained model
// (docs/derivation.md §8; tools/embed --head --views K --augment, then tools/inspect_loss).
//
//   images:  a seeded random subset of N images of one split of the run's dataset (the
//            first batch of a shuffled loader with seed `seed`)
//   views:   K per image, drawn with the run's training augmentation (`augment`), or the
//            evaluation transform (normalisation only; then K must be 1)
//   output:  eval-mode backbone features h (K·N, F) or projection-head outputs f = g(h)
//            (K·N, D), row k·N + x = view k of image x; the labels (N,)
//
// The model, the dataset construction and the augmentation are rebuilt from the
// checkpoint's run configuration (written by tools/pretrain), as tools/evaluate does.
//
// Dimension letters: N images, K views, M = K·N rows, F backbone width, D head width.
#pragma once

#include <cstdint>
#include <string>

#include "nn/checkpoint.h"
#include "tensor/tensor.h"
#include "train/config.h"

namespace contra::train {

struct ViewEmbeddingOptions {
  std::string split = "test";  // test | pretrain (the run's, possibly long-tailed, set) | train (balanced)
  std::int64_t images = 256;   // N (all the split's images when it has fewer)
  int views = 8;               // K ≥ 1
  bool augment = true;         // the run's augmentation; false: evaluation transform (K = 1)
  bool head = true;            // projection-head outputs; false: backbone features
  std::uint64_t seed = 0;      // which images and which augmentations
  std::int64_t batch_size = 256;
  int workers = 2;
  Device device = Device::cpu();  // where the forward passes run; the embeddings come back to the host
};

struct ViewEmbeddings {
  Tensor embeddings;  // (K·N, D) f32, view-major
  Tensor labels;      // (N,) i64
  Tensor indices;     // (N,) i64, into the split
  std::int64_t N = 0, K = 0;
};

// The run configuration stored in a checkpoint written by tools/pretrain (every field, as
// saved). A checkpoint without one (plain weights) is a UsageError.
PretrainConfig run_config_from_checkpoint(const nn::Checkpoint& checkpoint);

ViewEmbeddings embed_views(const nn::Checkpoint& checkpoint, const ViewEmbeddingOptions& options);

}  // namespace contra::train
