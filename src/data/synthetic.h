// synthetic.h — a learnable image dataset generated from a seed (tests, benchmarks).
//
// Image i of split s has label i mod K (balanced). It shows one foreground shape on a
// noisy background; the class decides the shape (disc, square, cross, ring, bar, triangle,
// chosen by k mod 6) and its hue (k / K of the colour circle, for 3 channels; brightness
// for 1 channel); position, size and noise vary per image. Pixels come from
// Generator::derive(seed, {split, i}), so any image can be regenerated alone and the
// dataset is identical on every machine.
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace contra::data {

struct SyntheticOptions {
  std::int64_t train_size = 5000;
  std::int64_t test_size = 1000;
  int num_classes = 10;
  int channels = 3;
  int image_size = 32;
  std::uint64_t seed = 0;
};

Dataset make_synthetic(const SyntheticOptions& options, int split /*0 train, 1 test*/);
DatasetSplits make_synthetic_splits(const SyntheticOptions& options);

}  // namespace contra::data
