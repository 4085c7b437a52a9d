// dataset.cpp — Dataset helpers: validation, subsets, allocation limits (I8).
#include "data/dataset.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "tensor/error.h"

namespace contra::data {

const std::uint8_t* Dataset::image(std::int64_t i) const {
  CONTRA_ASSERT(i >= 0 && i < size(), "image index ", i, " of ", size());
  const std::int64_t per = channels() * height() * width();
  return images.data<std::uint8_t>() + i * per;
}

std::vector<std::int64_t> Dataset::class_counts() const {
  std::vector<std::int64_t> counts(class_names.size(), 0);
  for (auto l : labels)
    if (l >= 0 && l < num_classes()) ++counts[static_cast<std::size_t>(l)];
  return counts;
}

void Dataset::validate() const {
  const std::string where = "dataset " + name;
  CONTRA_CHECK(images.defined(), where, "has no image tensor");
  CONTRA_CHECK(images.dtype() == DType::u8 && images.dim() == 4 && images.is_contiguous(), where,
               "images must be a contiguous (N, C, H, W) u8 tensor, got ", shape_str(images.shape()));
  CONTRA_CHECK(images.size(0) == size(), where, "has ", images.size(0), " images but ", size(),
               " labels");
  CONTRA_CHECK(channels() == 1 || channels() == 3, where, "has ", channels(),
               " channels; expected 1 or 3");
  CONTRA_CHECK(!class_names.empty(), where, "has no class names");
  for (std::size_t i = 0; i < labels.size(); ++i)
    CONTRA_CHECK(labels[i] >= 0 && labels[i] < num_classes(), where, "label ", labels[i],
                 " of image ", i, " is outside [0, ", num_classes(), ")");
}

Dataset subset(const Dataset& d, const std::vector<std::int64_t>& indices, std::string name) {
  Dataset out;
  out.name = std::move(name);
  out.class_names = d.class_names;
  const std::int64_t n = static_cast<std::int64_t>(indices.size());
  const std::int64_t per = d.channels() * d.height() * d.width();
  out.images = Tensor::empty({n, d.channels(), d.height(), d.width()}, DType::u8);
  auto* dst = out.images.data<std::uint8_t>();
  out.labels.resize(indices.size());
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = indices[static_cast<std::size_t>(k)];
    CONTRA_CHECK(i >= 0 && i < d.size(), "subset of " + d.name, "index ", i, " is outside [0, ",
                 d.size(), ")");
    std::memcpy(dst + k * per, d.image(i), static_cast<std::size_t>(per));
    out.labels[static_cast<std::size_t>(k)] = d.labels[static_cast<std::size_t>(i)];
  }
  return out;
}

std::uint64_t max_dataset_bytes() {
  if (const char* s = std::getenv("CONTRA_DATA_MAX_BYTES")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (end && *end == '\0' && v > 0) return v;
  }
  return 16ull << 30;
}

std::uint64_t checked_image_bytes(const std::string& where, std::uint64_t n, std::uint64_t c,
                                  std::uint64_t h, std::uint64_t w) {
  const std::uint64_t limit = max_dataset_bytes();
  const long double total = static_cast<long double>(n) * c * h * w;
  if (total > static_cast<long double>(limit)) {
    throw Error(where,
                detail::concat("refusing to allocate ", n, " x ", c, " x ", h, " x ", w,
                               " bytes: needs ", static_cast<double>(total / (1ull << 30)),
                               " GiB, the limit is ", static_cast<double>(limit) / (1ull << 30),
                               " GiB"),
                "check the file header, or raise CONTRA_DATA_MAX_BYTES if this is intended");
  }
  return static_cast<std::uint64_t>(total);
}

}  // namespace contra::data
