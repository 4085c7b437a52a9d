// image_folder.cpp — scanning, decoding and (optionally) resizing image files into a Dataset.
#include "data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image_decode.h"
#include "data/resample.h"
#include "tensor/error.h"

namespace contra::data {

namespace fs = std::filesystem;

namespace {
const char* kWhere = "image folder";

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Decoded HWC → planar CHW u8 of size S×S (shorter side to S, centre crop) or unchanged.
std::vector<std::uint8_t> to_chw(const DecodedImage& img, int size, int& out_h, int& out_w) {
  const int c = img.channels, h = img.height, w = img.width;
  std::vector<std::uint8_t> planes(static_cast<std::size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        planes[(static_cast<std::size_t>(k) * h + y) * w + x] =
            img.pixels[(static_cast<std::size_t>(y) * w + x) * c + k];
  if (size <= 0) {
    out_h = h; out_w = w;
    return planes;
  }
  // Shorter side → size (torchvision Resize(int) rounding: int(long * size / short)).
  int rh, rw;
  if (h <= w) { rh = size; rw = std::max(size, static_cast<int>(static_cast<long long>(w) * size / h)); }
  else { rw = size; rh = std::max(size, static_cast<int>(static_cast<long long>(h) * size / w)); }
  const auto wx = resample_weights(w, rw, Interpolation::bilinear);
  const auto wy = resample_weights(h, rh, Interpolation::bilinear);
  std::vector<float> scratch(static_cast<std::size_t>(h) * rw), resized(static_cast<std::size_t>(rh) * rw);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(c) * size * size);
  const int top = (rh - size) / 2, left = (rw - size) / 2;
  for (int k = 0; k < c; ++k) {
    resample_plane_u8(planes.data() + static_cast<std::size_t>(k) * h * w, w, 0, 0, h, w, wx, wy,
                      false, resized.data(), scratch.data());
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x)
        out[(static_cast<std::size_t>(k) * size + y) * size + x] = static_cast<std::uint8_t>(
            std::lround(resized[static_cast<std::size_t>(top + y) * rw + left + x] * 255.f));
  }
  out_h = out_w = size;
  return out;
}

Dataset load_files(const std::vector<std::string>& files, const std::vector<std::int64_t>& labels,
                   std::vector<std::string> class_names, const ImageFolderOptions& o,
                   std::string name) {
  CONTRA_CHECK(o.channels == 1 || o.channels == 3, kWhere, "channels must be 1 or 3, got ",
               o.channels);
  CONTRA_CHECK(o.image_size >= 0 && o.image_size <= kMaxImageSide, kWhere, "image_size ",
               o.image_size, " is outside [0, ", kMaxImageSide, "]");
  const std::uint64_t n = files.size();
  if (o.image_size > 0)
    checked_image_bytes(std::string(kWhere) + " (" + name + ")", n, static_cast<std::uint64_t>(o.channels),
                        static_cast<std::uint64_t>(o.image_size), static_cast<std::uint64_t>(o.image_size));
  Dataset d;
  d.name = std::move(name);
  d.class_names = std::move(class_names);
  d.labels = labels;
  if (n == 0) {
    const int s = o.image_size > 0 ? o.image_size : 1;
    d.images = Tensor::empty({0, o.channels, s, s}, DType::u8);
    return d;
  }
  int H = 0, W = 0;
  std::uint8_t* dst = nullptr;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const DecodedImage img = decode_image_file(files[i], o.channels);
    int h = 0, w = 0;
    const auto chw = to_chw(img, o.image_size, h, w);
    if (i == 0) {
      H = h; W = w;
      checked_image_bytes(std::string(kWhere) + " (" + d.name + ")", n,
                          static_cast<std::uint64_t>(o.channels), static_cast<std::uint64_t>(H),
                          static_cast<std::uint64_t>(W));
      d.images = Tensor::empty({static_cast<std::int64_t>(n), o.channels, H, W}, DType::u8);
      dst = d.images.data<std::uint8_t>();
    }
    CONTRA_CHECK_HINT(h == H && w == W, kWhere,
                      "pass an image size (--image-size / ImageFolderOptions::image_size) to resize on load",
                      files[i], " is ", w, "x", h, " but ", files[0], " is ", W, "x", H);
    std::memcpy(dst + i * chw.size(), chw.data(), chw.size());
  }
  return d;
}
}  // namespace

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options,
                          std::string name) {
  std::error_code ec;
  CONTRA_CHECK_HINT(fs::is_directory(root, ec), kWhere,
                    "expected root/<class>/<image>.jpg|png", "not a folder: ", root);
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  CONTRA_CHECK_HINT(!classes.empty(), kWhere, "expected root/<class>/<image>.jpg|png",
                    root, " has no class sub-folders");
  std::vector<std::string> files;
  std::vector<std::int64_t> labels;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> in_class;
    for (const auto& e : fs::directory_iterator(fs::path(root) / classes[c], ec))
      if (e.is_regular_file() && is_image_file(e.path())) in_class.push_back(e.path().string());
    std::sort(in_class.begin(), in_class.end());
    for (auto& f : in_class) {
      files.push_back(std::move(f));
      labels.push_back(static_cast<std::int64_t>(c));
    }
  }
  CONTRA_CHECK_HINT(!files.empty(), kWhere, "only .jpg, .jpeg and .png files are read", root,
                    " has class folders but no image files");
  return load_files(files, labels, classes, options, std::move(name));
}

Dataset load_image_list(const std::string& list_file, const std::string& root,
                        const ImageFolderOptions& options, std::string name) {
  std::ifstream in(list_file);
  CONTRA_CHECK(in.good(), kWhere, "cannot open list file ", list_file);
  std::vector<std::string> files;
  std::vector<std::int64_t> labels;
  std::string line;
  std::int64_t max_label = -1;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string path;
    long long label = -1;
    std::string rest;
    const bool ok = static_cast<bool>(ss >> path >> label) && !(ss >> rest);
    CONTRA_CHECK_HINT(ok && label >= 0, kWhere, "each line is `relative/path label`", list_file,
                      ":", lineno, ": cannot parse '", line, "'");
    CONTRA_CHECK_HINT(options.num_classes <= 0 || label < options.num_classes, kWhere,
                      "check the list file or num_classes", list_file, ":", lineno, ": label ",
                      label, " is outside [0, ", options.num_classes, ")");
    CONTRA_CHECK(label < (1 << 24), kWhere, list_file, ":", lineno, ": label ", label,
                 " is implausibly large");
    files.push_back((fs::path(root) / path).string());
    labels.push_back(label);
    max_label = std::max<std::int64_t>(max_label, label);
  }
  CONTRA_CHECK(!files.empty(), kWhere, list_file, " lists no images");
  const std::int64_t k = options.num_classes > 0 ? options.num_classes : max_label + 1;
  std::vector<std::string> names;
  for (std::int64_t c = 0; c < k; ++c) names.push_back(std::to_string(c));
  return load_files(files, labels, names, options, std::move(name));
}

DatasetSplits open_image_folder_splits(const std::string& path, const ImageFolderOptions& options) {
  std::error_code ec;
  const fs::path p(path);
  CONTRA_CHECK_HINT(fs::is_directory(p, ec), kWhere,
                    "image_folder:<path> needs a folder of class folders or train.txt/test.txt",
                    "not a folder: ", path);
  DatasetSplits s;
  auto first_existing = [&](std::initializer_list<const char*> names) -> std::string {
    for (auto n : names)
      if (fs::exists(p / n, ec)) return (p / n).string();
    return {};
  };
  if (fs::is_directory(p / "train", ec)) {
    s.train = load_image_folder((p / "train").string(), options, "image_folder/train");
    const std::string test = first_existing({"test", "val"});
    if (!test.empty()) {
      s.test = load_image_folder(test, options, "image_folder/test");
      CONTRA_CHECK(s.test.class_names == s.train.class_names, kWhere, test,
                   " has different class folders than ", (p / "train").string());
    }
  } else if (fs::is_regular_file(p / "train.txt", ec)) {
    s.train = load_image_list((p / "train.txt").string(), path, options, "image_folder/train");
    const std::string test = first_existing({"test.txt", "val.txt"});
    if (!test.empty()) {
      ImageFolderOptions o = options;
      o.num_classes = static_cast<int>(s.train.num_classes());
      s.test = load_image_list(test, path, o, "image_folder/test");
    }
  } else {
    s.train = load_image_folder(path, options, "image_folder/train");
  }
  if (!s.test.images.defined()) {
    s.test.name = "image_folder/test";
    s.test.class_names = s.train.class_names;
    s.test.images = Tensor::empty({0, s.train.channels(), s.train.height(), s.train.width()}, DType::u8);
  }
  return s;
}

}  // namespace contra::data
