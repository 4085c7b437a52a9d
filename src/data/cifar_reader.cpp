// cifar_reader.cpp — validated reader for the CIFAR binary records (see cifar_reader.h).
#include "data/cifar_reader.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tensor/error.h"

namespace contra::data {

namespace fs = std::filesystem;

CifarFormat cifar10_format() { return CifarFormat{1, 0, 10, 10000}; }
CifarFormat cifar100_format() { return CifarFormat{2, 1, 100, 0}; }

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",
                                                 "deer",     "dog",        "frog",  "horse",
                                                 "ship",     "truck"};
  return names;
}

const std::vector<std::string>& cifar100_class_names() {
  static const std::vector<std::string> names = {
      "apple",       "aquarium_fish", "baby",       "bear",       "beaver",     "bed",
      "bee",         "beetle",        "bicycle",    "bottle",     "bowl",       "boy",
      "bridge",      "bus",           "butterfly",  "camel",      "can",        "castle",
      "caterpillar", "cattle",        "chair",      "chimpanzee", "clock",      "cloud",
      "cockroach",   "couch",         "crab",       "crocodile",  "cup",        "dinosaur",
      "dolphin",     "elephant",      "flatfish",   "forest",     "fox",        "girl",
      "hamster",     "house",         "kangaroo",   "keyboard",   "lamp",       "lawn_mower",
      "leopard",     "lion",          "lizard",     "lobster",    "man",        "maple_tree",
      "motorcycle",  "mountain",      "mouse",      "mushroom",   "oak_tree",   "orange",
      "orchid",      "otter",         "palm_tree",  "pear",       "pickup_truck", "pine_tree",
      "plain",       "plate",         "poppy",      "porcupine",  "possum",     "rabbit",
      "raccoon",     "ray",           "road",       "rocket",     "rose",       "sea",
      "seal",        "shark",         "shrew",      "skunk",      "skyscraper", "snail",
      "snake",       "spider",        "squirrel",   "streetcar",  "sunflower",  "sweet_pepper",
      "table",       "tank",          "telephone",  "television", "tiger",      "tractor",
      "train",       "trout",         "tulip",      "turtle",     "wardrobe",   "whale",
      "willow_tree", "wolf",          "woman",      "worm"};
  return names;
}

std::vector<std::string> cifar_train_files(int variant, const std::string& dir) {
  if (variant == 100) return {(fs::path(dir) / "train.bin").string()};
  std::vector<std::string> f;
  for (int i = 1; i <= 5; ++i)
    f.push_back((fs::path(dir) / ("data_batch_" + std::to_string(i) + ".bin")).string());
  return f;
}

std::vector<std::string> cifar_test_files(int variant, const std::string& dir) {
  if (variant == 100) return {(fs::path(dir) / "test.bin").string()};
  return {(fs::path(dir) / "test_batch.bin").string()};
}

Dataset read_cifar_binary(const std::vector<std::string>& files, const CifarFormat& format,
                          std::vector<std::string> class_names, std::string name) {
  const std::string where = "CIFAR reader";
  CONTRA_CHECK(!files.empty(), where, "no files given for ", name);
  CONTRA_CHECK(static_cast<int>(class_names.size()) == format.num_classes, where, "expected ",
               format.num_classes, " class names, got ", class_names.size());
  const std::int64_t rec = format.record_bytes();
  // 1. Check every file's size before allocating anything.
  std::vector<std::int64_t> records;
  std::int64_t total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    CONTRA_CHECK_HINT(fs::is_regular_file(f, ec), where,
                      "put the CIFAR binary files there (see README, section Data)",
                      "missing file ", f);
    const auto bytes = static_cast<std::int64_t>(fs::file_size(f, ec));
    CONTRA_CHECK_HINT(!ec, where, "check permissions", "cannot stat ", f, ": ", ec.message());
    CONTRA_CHECK_HINT(bytes > 0 && bytes % rec == 0, where,
                      "the file is truncated or not a CIFAR binary batch; delete it to re-download",
                      f, " has ", bytes, " bytes, not a positive multiple of the ", rec,
                      "-byte record");
    const std::int64_t n = bytes / rec;
    if (format.records_per_file > 0)
      CONTRA_CHECK_HINT(n == format.records_per_file, where,
                        "the file is truncated or from another dataset; delete it to re-download",
                        f, " has ", bytes, " bytes (", n, " records), expected ",
                        format.records_per_file * rec, " bytes (", format.records_per_file,
                        " records)");
    records.push_back(n);
    total += n;
  }
  checked_image_bytes(where + " (" + name + ")", static_cast<std::uint64_t>(total), 3, 32, 32);
  // 2. Read, record by record, into the final buffers.
  Dataset d;
  d.name = std::move(name);
  d.class_names = std::move(class_names);
  d.images = Tensor::empty({total, 3, 32, 32}, DType::u8);
  d.labels.resize(static_cast<std::size_t>(total));
  auto* pixels = d.images.data<std::uint8_t>();
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(rec) * 1024);
  std::int64_t at = 0;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> fp(std::fopen(files[fi].c_str(), "rb"),
                                                       &std::fclose);
    CONTRA_CHECK(fp != nullptr, where, "cannot open ", files[fi]);
    std::int64_t left = records[fi], r0 = 0;
    while (left > 0) {
      const std::int64_t chunk = std::min<std::int64_t>(left, 1024);
      const std::size_t got = std::fread(buf.data(), 1, static_cast<std::size_t>(chunk * rec), fp.get());
      CONTRA_CHECK(got == static_cast<std::size_t>(chunk * rec), where, "short read in ", files[fi],
                   " at record ", r0, ": the file changed while reading");
      for (std::int64_t k = 0; k < chunk; ++k) {
        const std::uint8_t* r = buf.data() + k * rec;
        const int label = r[format.label_index];
        CONTRA_CHECK_HINT(label < format.num_classes, where,
                          "the file is corrupt or from another CIFAR variant", files[fi],
                          " record ", r0 + k, " has label ", label, ", expected 0..",
                          format.num_classes - 1);
        d.labels[static_cast<std::size_t>(at)] = label;
        std::memcpy(pixels + at * CifarFormat::kPixels, r + format.label_bytes,
                    CifarFormat::kPixels);
        ++at;
      }
      left -= chunk;
      r0 += chunk;
    }
  }
  return d;
}

}  // namespace contra::data
