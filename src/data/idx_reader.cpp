// idx_reader.cpp — validated IDX reader over zlib's gzFile (see idx_reader.h).
#include "data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tensor/error.h"

namespace contra::data {

namespace fs = std::filesystem;

namespace {
struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

std::string gz_error_text(gzFile f) {
  int code = 0;
  const char* msg = gzerror(f, &code);
  return code == Z_OK ? std::string("unexpected end of file") : std::string(msg ? msg : "?");
}

// Reads exactly n bytes; throws naming `path` and what was being read otherwise.
void read_exact(gzFile f, void* dst, std::size_t n, const std::string& path, const char* what) {
  auto* p = static_cast<std::uint8_t*>(dst);
  std::size_t done = 0;
  while (done < n) {
    const unsigned ask = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
    const int got = gzread(f, p + done, ask);
    if (got <= 0)
      throw Error("IDX reader",
                  detail::concat(path, ": truncated or corrupt while reading ", what, ": got ", done,
                                 " of ", n, " bytes (", gz_error_text(f), ")"),
                  "the file is damaged; reinstall it (dataset-fashion-mnist) or download it again");
    done += static_cast<std::size_t>(got);
  }
}

// Reads `n` data bytes into `out`, growing it chunk by chunk as bytes arrive, so a header
// that promises more than the stream holds never makes the buffer bigger than the data.
void read_data_growing(gzFile f, std::vector<std::uint8_t>& out, std::uint64_t n, const std::string& path) {
  constexpr std::uint64_t kChunk = 16u << 20;
  out.clear();
  while (out.size() < n) {
    const std::size_t at = out.size();
    const auto ask = static_cast<unsigned>(std::min<std::uint64_t>(n - at, kChunk));
    out.resize(at + ask);
    std::size_t done = 0;
    while (done < ask) {
      const int got = gzread(f, out.data() + at + done, ask - static_cast<unsigned>(done));
      if (got <= 0)
        throw Error("IDX reader",
                    detail::concat(path, ": truncated or corrupt while reading the data: got ", at + done, " of ", n,
                                   " bytes (", gz_error_text(f), ")"),
                    "the file is damaged; reinstall it (dataset-fashion-mnist) or download it again");
      done += static_cast<std::size_t>(got);
    }
  }
}
}  // namespace

IdxArray read_idx(const std::string& path, int expected_rank) {
  const std::string where = "IDX reader";
  std::error_code ec;
  CONTRA_CHECK_HINT(fs::is_regular_file(path, ec), where,
                    "install dataset-fashion-mnist or put the IDX files there", "missing file ",
                    path);
  GzPtr f(gzopen(path.c_str(), "rb"));
  CONTRA_CHECK(f != nullptr, where, "cannot open ", path);
  std::uint8_t head[4];
  read_exact(f.get(), head, 4, path, "the magic number");
  CONTRA_CHECK_HINT(head[0] == 0 && head[1] == 0, where, "is this an IDX file?", path,
                    ": bad magic bytes ", int(head[0]), " ", int(head[1]), ", expected 0 0");
  CONTRA_CHECK_HINT(head[2] == 0x08, where, "only unsigned-byte IDX files are supported", path,
                    ": element type 0x", std::hex, int(head[2]), std::dec, ", expected 0x08 (ubyte)");
  CONTRA_CHECK_HINT(head[3] == expected_rank, where, "images files have rank 3, labels rank 1",
                    path, ": rank ", int(head[3]), ", expected ", expected_rank);
  IdxArray a;
  std::uint64_t padded[3] = {1, 1, 1};
  long double total = 1;
  for (int d = 0; d < expected_rank; ++d) {
    std::uint8_t b[4];
    read_exact(f.get(), b, 4, path, "the dimensions");
    const std::uint32_t v = std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 |
                            std::uint32_t(b[2]) << 8 | std::uint32_t(b[3]);
    CONTRA_CHECK(v > 0, where, path, ": dimension ", d, " is 0");
    a.dims.push_back(v);
    if (d < 3) padded[d] = v;
    total *= v;
  }
  // Limit checked from the header before allocating (I2, I8).
  CONTRA_CHECK(expected_rank <= 3, where, "rank ", expected_rank, " is not supported");
  checked_image_bytes(where + " (" + path + ")", padded[0], 1, padded[1], padded[2]);
  const auto data_bytes = static_cast<std::uint64_t>(total);
  // A plain file must hold exactly what its header declares: compared before allocating.
  // A gzip stream's size is only known as it is read, so its buffer grows with the bytes
  // actually decompressed, never with the header's promise alone (I2).
  if (gzdirect(f.get())) {
    const std::uint64_t header_bytes = 4 + 4 * static_cast<std::uint64_t>(expected_rank);
    const std::uint64_t file_bytes = fs::file_size(path, ec);
    CONTRA_CHECK_HINT(!ec, where, "check permissions", "cannot stat ", path, ": ", ec.message());
    CONTRA_CHECK_HINT(file_bytes == header_bytes + data_bytes, where,
                      "the file is damaged or does not match its header; reinstall it (dataset-fashion-mnist) "
                      "or download it again",
                      path, ": the header declares ", data_bytes, " data bytes but the file has ",
                      file_bytes < header_bytes ? 0 : file_bytes - header_bytes, " after its ", header_bytes,
                      "-byte header");
  }
  read_data_growing(f.get(), a.bytes, data_bytes, path);
  std::uint8_t extra;
  const int more = gzread(f.get(), &extra, 1);
  CONTRA_CHECK_HINT(more == 0, where, "the file does not match its header", path,
                    ": longer than its header says (", static_cast<std::uint64_t>(total),
                    " data bytes expected)", more < 0 ? std::string(" and the gzip stream is corrupt: ") + gz_error_text(f.get()) : std::string());
  return a;
}

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         std::vector<std::string> class_names, std::string name) {
  const std::string where = "IDX reader";
  IdxArray labels = read_idx(labels_path, 1);
  IdxArray images = read_idx(images_path, 3);
  CONTRA_CHECK_HINT(images.dims[0] == labels.dims[0], where, "the two files must be the same split",
                    images_path, " has ", images.dims[0], " images but ", labels_path, " has ",
                    labels.dims[0], " labels");
  Dataset d;
  d.name = std::move(name);
  d.class_names = std::move(class_names);
  const std::int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  d.labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int l = labels.bytes[static_cast<std::size_t>(i)];
    CONTRA_CHECK(l < d.num_classes(), where, labels_path, ": label ", l, " of item ", i,
                 " is outside [0, ", d.num_classes(), ")");
    d.labels[static_cast<std::size_t>(i)] = l;
  }
  auto* storage = new std::vector<std::uint8_t>(std::move(images.bytes));
  d.images = Tensor::from_blob(storage->data(), {n, 1, h, w}, DType::u8,
                               [storage](void*) { delete storage; });
  return d;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

std::string find_fashion_mnist_dir(const std::string& root) {
  const std::vector<std::string> candidates = {(fs::path(root) / "fashion-mnist").string(),
                                               (fs::path(root) / "fashion_mnist").string(),
                                               "/usr/share/datasets/fashion-mnist"};
  std::error_code ec;
  for (const auto& c : candidates)
    if (fs::exists(fs::path(c) / "train-images-idx3-ubyte.gz", ec) ||
        fs::exists(fs::path(c) / "train-images-idx3-ubyte", ec))
      return c;
  throw Error("fashion_mnist",
              "Fashion-MNIST files not found in " + candidates[0] + " or " + candidates[2],
              "run `sudo apt-get install dataset-fashion-mnist`, or put "
              "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
              "and t10k-labels-idx1-ubyte.gz in " + candidates[0]);
}

DatasetSplits load_fashion_mnist(const std::string& root) {
  const fs::path dir = find_fashion_mnist_dir(root);
  auto file = [&](const std::string& base) {
    std::error_code ec;
    const fs::path gz = dir / (base + ".gz");
    return (fs::exists(gz, ec) ? gz : dir / base).string();
  };
  DatasetSplits s;
  s.train = read_idx_dataset(file("train-images-idx3-ubyte"), file("train-labels-idx1-ubyte"),
                             fashion_mnist_class_names(), "fashion_mnist/train");
  s.test = read_idx_dataset(file("t10k-images-idx3-ubyte"), file("t10k-labels-idx1-ubyte"),
                            fashion_mnist_class_names(), "fashion_mnist/test");
  return s;
}

}  // namespace contra::data
