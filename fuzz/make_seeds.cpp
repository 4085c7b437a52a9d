// make_seeds — writes the seed corpora of the fuzz targets, built from the same writers and
// formats the test fixtures use (nothing binary is stored in the repository):
//   make_seeds OUT_DIR [SOURCE_ROOT]
// OUT_DIR/<target>/seed-*: image (PNG gray/RGB/palette-free, JPEG), idx (plain, gzip, rank
// 1 and 3), cifar (CIFAR-10 and CIFAR-100 records), safetensors (a small checkpoint with
// optimizer state and metadata), config (every preset as TOML, and the test suite's
// snippets), npy (every dtype, versions 1 and 2, plus tests/contrastive/fixtures/*.npy),
// archive (tar, tar.gz and zip with folders and files).
#include <archive.h>
#include <archive_entry.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image_decode.h"
#include "nn/checkpoint.h"
#include "nn/safetensors.h"
#include "tensor/npy.h"
#include "train/config.h"

namespace fs = std::filesystem;
using namespace contra;

namespace {

fs::path g_out;
int g_count = 0;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / ("seed-" + name), std::ios::binary) << bytes;
  ++g_count;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string gzip(const std::string& s) {
  const fs::path tmp = g_out / ".tmp.gz";
  gzFile g = gzopen(tmp.c_str(), "wb");
  gzwrite(g, s.data(), static_cast<unsigned>(s.size()));
  gzclose(g);
  std::string out = slurp(tmp);
  fs::remove(tmp);
  return out;
}

void images() {
  for (int c : {1, 3}) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(7 * 5 * c));
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 37);
    const fs::path tmp = g_out / ".tmp.png";
    data::write_png(tmp.string(), 5, 7, c, px.data());
    seed("image", "png" + std::to_string(c), slurp(tmp));
    fs::remove(tmp);
    tjhandle tj = tjInitCompress();
    unsigned char* jpg = nullptr;
    unsigned long n = 0;
    tjCompress2(tj, px.data(), 7, 0, 5, c == 1 ? TJPF_GRAY : TJPF_RGB, &jpg, &n, c == 1 ? TJSAMP_GRAY : TJSAMP_420, 80, 0);
    seed("image", "jpeg" + std::to_string(c), std::string(reinterpret_cast<char*>(jpg), n));
    tjFree(jpg);
    tjDestroy(tj);
  }
  seed("image", "gif", "GIF89a\x01\x00\x01\x00");
}

std::string idx(std::vector<std::uint32_t> dims, std::uint8_t fill) {
  std::string s = {0, 0, 8, static_cast<char>(dims.size())};
  std::size_t n = 1;
  for (auto d : dims) {
    for (int k = 3; k >= 0; --k) s += static_cast<char>(d >> (8 * k));
    n *= d;
  }
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(fill + i % 10);
  return s;
}

void idx_files() {
  seed("idx", "labels", idx({6}, 0));
  seed("idx", "images", idx({2, 4, 3}, 100));
  seed("idx", "labels.gz", gzip(idx({6}, 0)));
  seed("idx", "images.gz", gzip(idx({3, 5, 5}, 7)));
}

void cifar() {
  std::string ten, hundred;
  for (int r = 0; r < 2; ++r) {
    ten += static_cast<char>(r + 3);
    hundred += static_cast<char>(r);
    hundred += static_cast<char>(r + 40);
    for (int p = 0; p < 3072; ++p) {
      ten += static_cast<char>((p * 7 + r) % 251);
      hundred += static_cast<char>((p * 3 + r) % 241);
    }
  }
  seed("cifar", "cifar10", ten);
  seed("cifar", "cifar100", hundred);
}

void safetensors() {
  nn::StateDict model = {{"conv1.weight", Tensor::from_vector<float>({0.5f, -1.f, 2.f, 0.25f}, {2, 1, 1, 2})},
                         {"bn1.running_var", Tensor::from_vector<double>({1.0, 2.0}, {2})},
                         {"bn1.num_batches_tracked", Tensor::from_vector<std::int64_t>({3}, {})},
                         {"bytes", Tensor::from_vector<std::uint8_t>({1, 2, 3}, {3})}};
  nn::TrainingState st;
  st.step = 42;
  st.config = {{"critical", {{"model.arch", "resnet18"}}}, {"full", {{"optim", {{"lr", 0.1}}}}}};
  st.data_cursor = {{"epoch", 1}, {"batch", 2}};
  st.rng["loader"] = {1, 2, 3, 4};
  st.extra = {{"reason", "interval"}};
  const fs::path tmp = g_out / ".tmp.safetensors";
  nn::save_checkpoint(tmp.string(), model, nullptr, st);
  seed("safetensors", "checkpoint", slurp(tmp));
  fs::remove(tmp);
  seed("safetensors", "plain", nn::safetensors_serialize({model[0]}, {}));
}

void configs(const fs::path& source_root) {
  for (const auto& [name, _] : train::preset_descriptions()) {
    train::PretrainConfig c;
    train::apply_preset(c, name);
    seed("config", "preset-" + name, train::to_toml(c));
  }
  seed("config", "small", "[run]\npreset = \"smoke\"\n[optim]\nlr = 0.1\nepochs = 3\n[data]\ndataset = \"synthetic\"\n");
  seed("config", "bad", "[optim]\nlr = [\n");
  (void)source_root;
}

void npy(const fs::path& source_root) {
  const fs::path tmp = g_out / ".tmp.npy";
  for (const Tensor& t : {Tensor::from_vector<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3}),
                          Tensor::from_vector<double>({1.5}, {1}), Tensor::from_vector<std::int64_t>({7, 8}, {2}),
                          Tensor::from_vector<std::uint8_t>({9}, {1, 1, 1})}) {
    save_npy(tmp.string(), t);
    seed("npy", std::string(dtype_name(t.dtype())), slurp(tmp));
  }
  fs::remove(tmp);
  // Version 2.0 and an int32 array, written by hand.
  const std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
  std::string h = dict + std::string((64 - (12 + dict.size() + 1) % 64) % 64, ' ') + "\n";
  std::string v2 = std::string("\x93NUMPY\x02\x00", 8);
  for (int k = 0; k < 4; ++k) v2 += static_cast<char>(h.size() >> (8 * k));
  seed("npy", "v2-int32", v2 + h + std::string("\x01\x00\x00\x00\xff\xff\xff\xff", 8));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(source_root / "tests/contrastive/fixtures", ec))
    if (e.path().extension() == ".npy") seed("npy", "fixture-" + e.path().filename().string(), slurp(e.path()));
}

void write_archive(const char* name, int format, bool gz) {
  const fs::path tmp = g_out / ".tmp.archive";
  struct archive* a = archive_write_new();
  if (gz) archive_write_add_filter_gzip(a);
  archive_write_set_format(a, format);
  archive_write_open_filename(a, tmp.c_str());
  auto add = [&](const char* path, const std::string& content, bool dir) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, e);
    if (!content.empty()) archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  };
  add("top/", "", true);
  add("top/a.bin", std::string(100, 'a'), false);
  add("./top/sub/b.txt", "bee", false);
  archive_write_close(a);
  archive_write_free(a);
  seed("archive", name, slurp(tmp));
  fs::remove(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR [SOURCE_ROOT]\n");
    return 2;
  }
  g_out = argv[1];
  const fs::path source_root = argc > 2 ? argv[2] : ".";
  fs::create_directories(g_out);
  images();
  idx_files();
  cifar();
  safetensors();
  configs(source_root);
  npy(source_root);
  write_archive("tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, false);
  write_archive("tar.gz", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, true);
  write_archive("zip", ARCHIVE_FORMAT_ZIP, false);
  std::printf("make_seeds: %d seeds in %s\n", g_count, g_out.c_str());
  return 0;
}
