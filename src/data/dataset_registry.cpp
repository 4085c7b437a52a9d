// dataset_registry.cpp — open_dataset: name → reader, download, long-tail subset.
#include "data/dataset_registry.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "data/cifar_reader.h"
#include "data/idx_reader.h"
#include "tensor/error.h"

namespace contra::data {

namespace fs = std::filesystem;

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {
      "cifar10", "cifar10_lt", "cifar100", "cifar100_lt", "fashion_mnist", "fashion_mnist_lt",
      "image_folder:<path>", "synthetic"};
  return names;
}

std::string default_data_root() {
  if (const char* s = std::getenv("CONTRA_DATA"); s && *s) return s;
  return "./data";
}

RemoteArchive cifar10_archive() {
  RemoteArchive a;
  a.url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
  a.file_name = "cifar-10-binary.tar.gz";
  a.size = 170052171;
  a.md5 = "c32a1d4ab5d03f1284b67883e8d87530";
  for (const auto& f : cifar_train_files(10, "cifar-10-batches-bin")) a.required_files.push_back(f);
  for (const auto& f : cifar_test_files(10, "cifar-10-batches-bin")) a.required_files.push_back(f);
  return a;
}

RemoteArchive cifar100_archive() {
  RemoteArchive a;
  a.url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
  a.file_name = "cifar-100-binary.tar.gz";
  a.size = 168513733;  // pinned: the transfer stops past it instead of streaming on until the MD5 fails
  a.md5 = "03b5dce01913d631647c71ecec9e9cb8";
  for (const auto& f : cifar_train_files(100, "cifar-100-binary")) a.required_files.push_back(f);
  for (const auto& f : cifar_test_files(100, "cifar-100-binary")) a.required_files.push_back(f);
  return a;
}

DatasetSplits load_cifar(int variant, const std::string& root, const DownloadOptions& download,
                         const std::optional<RemoteArchive>& archive) {
  CONTRA_CHECK(variant == 10 || variant == 100, "load_cifar", "variant must be 10 or 100, got ",
               variant);
  RemoteArchive a = archive ? *archive : (variant == 10 ? cifar10_archive() : cifar100_archive());
  if (a.required_files.empty()) a.required_files = (variant == 10 ? cifar10_archive() : cifar100_archive()).required_files;
  ensure_archive(a, root, download);
  const std::string dir = (fs::path(root) / (variant == 10 ? "cifar-10-batches-bin" : "cifar-100-binary")).string();
  const CifarFormat fmt = variant == 10 ? cifar10_format() : cifar100_format();
  const auto& names = variant == 10 ? cifar10_class_names() : cifar100_class_names();
  const std::string base = variant == 10 ? "cifar10" : "cifar100";
  DatasetSplits s;
  s.train = read_cifar_binary(cifar_train_files(variant, dir), fmt, names, base + "/train");
  s.test = read_cifar_binary(cifar_test_files(variant, dir), fmt, names, base + "/test");
  return s;
}

DatasetSplits open_dataset(const std::string& name, const DatasetOptions& o) {
  const std::string root = o.root.empty() ? default_data_root() : o.root;
  std::string base = name;
  bool lt = false;
  if (base.size() > 3 && base.compare(base.size() - 3, 3, "_lt") == 0 && base != "image_folder") {
    lt = true;
    base = base.substr(0, base.size() - 3);
  }
  DatasetSplits s;
  if (base == "cifar10") s = load_cifar(10, root, o.download, o.archive);
  else if (base == "cifar100") s = load_cifar(100, root, o.download, o.archive);
  else if (base == "fashion_mnist") s = load_fashion_mnist(root);
  else if (name == "synthetic") s = make_synthetic_splits(o.synthetic);
  else if (name.rfind("image_folder:", 0) == 0) {
    const std::string path = name.substr(std::string("image_folder:").size());
    CONTRA_CHECK_HINT(!path.empty(), "open_dataset", "write image_folder:/path/to/images",
                      "image_folder needs a path");
    s = open_image_folder_splits(path, o.image_folder);
  } else {
    std::string valid;
    for (const auto& n : dataset_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw Error("open_dataset", "unknown dataset '" + name + "'", "valid names: " + valid);
  }
  if (lt && (base == "cifar10" || base == "cifar100" || base == "fashion_mnist")) {
    s.train = long_tail(s.train, o.long_tail);
  } else if (lt) {
    throw Error("open_dataset", "unknown dataset '" + name + "'",
                "long-tailed variants exist for cifar10, cifar100 and fashion_mnist");
  }
  s.train.validate();
  if (s.test.size() > 0) s.test.validate();
  return s;
}

ChannelStats compute_stats(const Dataset& d) {
  const std::int64_t C = d.channels(), HW = d.height() * d.width(), N = d.size();
  ChannelStats st;
  st.mean.assign(static_cast<std::size_t>(C), 0.f);
  st.std.assign(static_cast<std::size_t>(C), 1.f);
  if (N == 0) return st;
  for (std::int64_t c = 0; c < C; ++c) {
    double s = 0, s2 = 0;
    for (std::int64_t i = 0; i < N; ++i) {
      const std::uint8_t* p = d.image(i) + c * HW;
      for (std::int64_t k = 0; k < HW; ++k) { const double v = p[k] / 255.0; s += v; s2 += v * v; }
    }
    const double n = static_cast<double>(N * HW), m = s / n;
    st.mean[static_cast<std::size_t>(c)] = static_cast<float>(m);
    st.std[static_cast<std::size_t>(c)] = static_cast<float>(std::sqrt(std::max(s2 / n - m * m, 1e-12)));
  }
  return st;
}

ChannelStats dataset_stats(const std::string& name, const Dataset& train) {
  if (name.rfind("cifar100", 0) == 0)  // SupContrast / solo-learn CIFAR-100 values
    return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
  if (name.rfind("cifar10", 0) == 0)  // recipes.md (SimCLR CIFAR)
    return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
  if (name.rfind("fashion_mnist", 0) == 0)  // the 60k training images
    return {{0.2860f}, {0.3530f}};
  return compute_stats(train);
}

}  // namespace contra::data
