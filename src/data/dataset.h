// dataset.h — an in-memory labelled image dataset and its train/test pair.
//
// Layout (chosen once for the whole data layer): images are uint8, planar, CHW per image,
// stacked as (N, C, H, W) — the CIFAR binary order, and the order the augmentation kernels
// want (each channel plane is resampled on its own, colour ops read the three planes).
// Labels are int64 in [0, num_classes). Every image of a dataset has the same C, H, W;
// folder datasets with mixed sizes are resized on load (see image_folder.h).
//
// Dimension legend: N images, C channels (1 or 3), H height, W width.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace contra::data {

struct Dataset {
  std::string name;                      // e.g. "cifar10/train", shown in errors and logs
  Tensor images;                         // (N, C, H, W) u8, contiguous
  std::vector<std::int64_t> labels;      // (N) in [0, class_names.size())
  std::vector<std::string> class_names;  // index = label
  std::string manifest_json;             // construction record (long-tailed subsets); may be empty

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
  std::int64_t channels() const { return images.defined() ? images.size(1) : 0; }
  std::int64_t height() const { return images.defined() ? images.size(2) : 0; }
  std::int64_t width() const { return images.defined() ? images.size(3) : 0; }
  // Pointer to image i's C·H·W bytes.
  const std::uint8_t* image(std::int64_t i) const;
  // Images per class, (num_classes).
  std::vector<std::int64_t> class_counts() const;
  // Throws unless images, labels and class names agree (shape, dtype, label range).
  void validate() const;
};

struct DatasetSplits {
  Dataset train;
  Dataset test;
};

// A new dataset holding the images at `indices` (in that order), with a copy of the pixels.
Dataset subset(const Dataset& d, const std::vector<std::int64_t>& indices, std::string name);

// Largest single in-memory dataset or image buffer the readers will allocate (I8);
// CONTRA_DATA_MAX_BYTES overrides it (bytes). Default 16 GiB.
std::uint64_t max_dataset_bytes();
// Throws "needs X GiB" (naming `where`) when n·c·h·w bytes overflow or exceed the limit.
std::uint64_t checked_image_bytes(const std::string& where, std::uint64_t n, std::uint64_t c,
                                  std::uint64_t h, std::uint64_t w);

}  // namespace contra::data
