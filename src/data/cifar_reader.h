// cifar_reader.h — CIFAR-10 / CIFAR-100 binary format (never the pickled Python version).
//
// A file is a sequence of records: `label_bytes` label bytes (CIFAR-10: 1, the class;
// CIFAR-100: 2, coarse then fine) followed by 3072 pixel bytes, 1024 red, 1024 green,
// 1024 blue, each plane row-major 32×32 — already our (C, H, W) u8 layout.
// Files are validated (existence, size a multiple of the record, expected record count,
// label range) before anything is allocated (I1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace contra::data {

struct CifarFormat {
  int label_bytes = 1;          // 1 (CIFAR-10) or 2 (CIFAR-100)
  int label_index = 0;          // which label byte is the class (CIFAR-100 fine: 1)
  int num_classes = 10;
  std::int64_t records_per_file = 0;  // expected records in each file; 0 = any count
  static constexpr std::int64_t kPixels = 3 * 32 * 32;
  std::int64_t record_bytes() const { return label_bytes + kPixels; }
};

CifarFormat cifar10_format();   // 1 label byte, 10 classes, 10,000 records per batch file
CifarFormat cifar100_format();  // 2 label bytes (fine), 100 classes, any record count

// Reads and concatenates `files` in order. Throws naming the file, the expected and the
// actual size or label when a file is missing, has the wrong size or an out-of-range label.
Dataset read_cifar_binary(const std::vector<std::string>& files, const CifarFormat& format,
                          std::vector<std::string> class_names, std::string name);

// The CIFAR-10 / CIFAR-100 class names (the order of batches.meta.txt / fine_label_names.txt).
const std::vector<std::string>& cifar10_class_names();
const std::vector<std::string>& cifar100_class_names();

// Paths of the binary files below `dir` (the folder the archive extracts to).
std::vector<std::string> cifar_train_files(int variant, const std::string& dir);
std::vector<std::string> cifar_test_files(int variant, const std::string& dir);

}  // namespace contra::data
