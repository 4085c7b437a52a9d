// idx_reader.h — the IDX format (MNIST, Fashion-MNIST), plain or gzip-compressed.
//
// Header: two zero bytes, a type byte (only 0x08 = unsigned byte is accepted), the rank,
// then `rank` big-endian uint32 sizes; then prod(sizes) bytes. zlib's gzread reads both
// compressed and plain files. Every header field is checked, and the size product
// against the allocation limit, before any buffer is made (I2); a file with too few or
// too many bytes, or a broken gzip stream, is an error naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace contra::data {

struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> bytes;  // prod(dims) values, row-major
};

// Reads an IDX file whose rank must equal `expected_rank`.
IdxArray read_idx(const std::string& path, int expected_rank);

// Images (N, H, W) and labels (N) files as one single-channel dataset.
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::vector<std::string> class_names, std::string name);

const std::vector<std::string>& fashion_mnist_class_names();
// The folder holding the four Fashion-MNIST files: `<root>/fashion-mnist` when it exists,
// else Debian's /usr/share/datasets/fashion-mnist. Throws saying where to put them.
std::string find_fashion_mnist_dir(const std::string& root);
DatasetSplits load_fashion_mnist(const std::string& root);

}  // namespace contra::data
