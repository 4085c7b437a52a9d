// Readers: MD5, CIFAR binary, IDX (and the real Fashion-MNIST), image decoding, image
// folders and list files, the synthetic dataset. Failure cases I1, I2, I5, I8.
#include <doctest/doctest.h>
#include <turbojpeg.h>

#include <cmath>
#include <cstdlib>
#include <numeric>

#include "data/cifar_reader.h"
#include "data/dataset_registry.h"
#include "data/idx_reader.h"
#include "data/image_decode.h"
#include "data/image_folder.h"
#include "data/md5.h"
#include "data/synthetic.h"
#include "data_test_util.h"
#include "tensor/generator.h"

using namespace contra;
using namespace contra::data;
using namespace contra::data::test;

TEST_CASE("md5: RFC 1321 test vectors") {
  CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5_hex("a") == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5_hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5_hex("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
  // Streaming in odd pieces gives the same digest as one update.
  std::string big(100003, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  Md5 m;
  for (std::size_t at = 0; at < big.size();) {
    const std::size_t n = std::min<std::size_t>(big.size() - at, 1 + at % 97);
    m.update(big.data() + at, n);
    at += n;
  }
  CHECK(m.hex_digest() == md5_hex(big));
  TempDir t("md5");
  write_bytes(t.str("f"), big);
  CHECK(md5_file(t.str("f")) == md5_hex(big));
}

namespace {
// n CIFAR records; record r has label labels[r] and pixel p = (r * 7 + p) mod 256.
std::string cifar_records(const std::vector<int>& labels, int label_bytes, int label_index) {
  std::string s;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    for (int b = 0; b < label_bytes; ++b) s += static_cast<char>(b == label_index ? labels[r] : 99);
    for (int p = 0; p < 3072; ++p) s += static_cast<char>((r * 7 + p) % 256);
  }
  return s;
}
}  // namespace

TEST_CASE("cifar: reads records in CHW order and validates files (I1)") {
  TempDir t("cifar");
  CifarFormat f10 = cifar10_format();
  f10.records_per_file = 3;
  write_bytes(t.str("a.bin"), cifar_records({0, 9, 4}, 1, 0));
  write_bytes(t.str("b.bin"), cifar_records({1, 2, 3}, 1, 0));
  const Dataset d = read_cifar_binary({t.str("a.bin"), t.str("b.bin")}, f10, cifar10_class_names(), "c10");
  REQUIRE(d.size() == 6);
  CHECK(d.images.shape() == Shape{6, 3, 32, 32});
  CHECK(d.labels == std::vector<std::int64_t>{0, 9, 4, 1, 2, 3});
  CHECK(d.image(1)[0] == 7);                 // record 1, red (0,0)
  CHECK(d.image(2)[1024 + 5] == (14 + 1024 + 5) % 256);  // green plane
  CHECK(d.image(3)[2047] == 2047 % 256);     // second file, record 0
  d.validate();

  SUBCASE("CIFAR-100: two label bytes, the fine label is used") {
    CifarFormat f100 = cifar100_format();
    write_bytes(t.str("c.bin"), cifar_records({57, 99}, 2, 1));
    const Dataset e = read_cifar_binary({t.str("c.bin")}, f100, cifar100_class_names(), "c100");
    CHECK(e.labels == std::vector<std::int64_t>{57, 99});
    CHECK(e.image(1)[0] == 7);
  }
  SUBCASE("missing file") {
    check_error([&] { read_cifar_binary({t.str("nope.bin")}, f10, cifar10_class_names(), "x"); },
                {"missing file", "nope.bin"});
  }
  SUBCASE("size not a multiple of the record") {
    write_bytes(t.str("odd.bin"), cifar_records({1}, 1, 0) + "xyz");
    check_error([&] { read_cifar_binary({t.str("odd.bin")}, f10, cifar10_class_names(), "x"); },
                {"odd.bin", "3076", "not a positive multiple of the 3073-byte record"});
  }
  SUBCASE("wrong record count") {
    write_bytes(t.str("two.bin"), cifar_records({1, 2}, 1, 0));
    check_error([&] { read_cifar_binary({t.str("two.bin")}, f10, cifar10_class_names(), "x"); },
                {"two.bin", "6146 bytes (2 records)", "expected 9219 bytes (3 records)"});
  }
  SUBCASE("label out of range") {
    write_bytes(t.str("bad.bin"), cifar_records({1, 10, 2}, 1, 0));
    check_error([&] { read_cifar_binary({t.str("bad.bin")}, f10, cifar10_class_names(), "x"); },
                {"bad.bin", "record 1", "label 10", "expected 0..9"});
  }
  SUBCASE("empty file") {
    write_bytes(t.str("empty.bin"), "");
    check_error([&] { read_cifar_binary({t.str("empty.bin")}, f10, cifar10_class_names(), "x"); },
                {"empty.bin", "0 bytes"});
  }
}

namespace {
std::string idx_header(int type, std::initializer_list<std::uint32_t> dims) {
  std::string s;
  s += '\0'; s += '\0'; s += static_cast<char>(type); s += static_cast<char>(dims.size());
  for (auto d : dims) put_u32(s, d);
  return s;
}
}  // namespace

TEST_CASE("idx: reads gzip and plain files and rejects hostile headers (I2)") {
  TempDir t("idx");
  std::string pixels(2 * 3 * 4, '\0');
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i * 10);
  write_gzip(t.str("img.gz"), idx_header(8, {2, 3, 4}) + pixels);
  write_gzip(t.str("lab.gz"), idx_header(8, {2}) + std::string("\x05\x01", 2));
  const Dataset d = read_idx_dataset(t.str("img.gz"), t.str("lab.gz"), fashion_mnist_class_names(), "f");
  CHECK(d.images.shape() == Shape{2, 1, 3, 4});
  CHECK(d.labels == std::vector<std::int64_t>{5, 1});
  CHECK(d.image(1)[0] == 120);
  CHECK(d.image(1)[11] == static_cast<std::uint8_t>(230));
  write_bytes(t.str("plain"), idx_header(8, {2}) + std::string("\x03\x04", 2));
  CHECK(read_idx(t.str("plain"), 1).bytes == std::vector<std::uint8_t>{3, 4});

  SUBCASE("bad magic") {
    write_gzip(t.str("m.gz"), "\x01\x00\x08\x01" + std::string(8, '\0'));
    check_error([&] { read_idx(t.str("m.gz"), 1); }, {"m.gz", "bad magic"});
  }
  SUBCASE("wrong element type") {
    write_gzip(t.str("ty.gz"), idx_header(0x0d, {2}) + "ab");
    check_error([&] { read_idx(t.str("ty.gz"), 1); }, {"ty.gz", "element type 0xd"});
  }
  SUBCASE("wrong rank") {
    write_gzip(t.str("r.gz"), idx_header(8, {2, 2}) + "abcd");
    check_error([&] { read_idx(t.str("r.gz"), 3); }, {"r.gz", "rank 2, expected 3"});
  }
  SUBCASE("overflowing dims are refused before allocating (I8)") {
    write_gzip(t.str("o.gz"), idx_header(8, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}) + "abc");
    check_error([&] { read_idx(t.str("o.gz"), 3); }, {"o.gz", "needs", "GiB"});
  }
  SUBCASE("zero dimension") {
    write_gzip(t.str("z.gz"), idx_header(8, {0}));
    check_error([&] { read_idx(t.str("z.gz"), 1); }, {"z.gz", "dimension 0 is 0"});
  }
  SUBCASE("short file") {
    write_gzip(t.str("s.gz"), idx_header(8, {10}) + "abc");
    check_error([&] { read_idx(t.str("s.gz"), 1); }, {"s.gz", "got 3 of 10 bytes"});
  }
  SUBCASE("long file") {
    write_gzip(t.str("l.gz"), idx_header(8, {2}) + "abc");
    check_error([&] { read_idx(t.str("l.gz"), 1); }, {"l.gz", "longer than its header"});
  }
  SUBCASE("count mismatch between images and labels") {
    write_gzip(t.str("lab3.gz"), idx_header(8, {3}) + std::string("\x01\x01\x01", 3));
    check_error([&] { read_idx_dataset(t.str("img.gz"), t.str("lab3.gz"), fashion_mnist_class_names(), "f"); },
                {"2 images", "3 labels"});
  }
  SUBCASE("label out of range") {
    write_gzip(t.str("lab10.gz"), idx_header(8, {2}) + std::string("\x01\x0a", 2));
    check_error([&] { read_idx_dataset(t.str("img.gz"), t.str("lab10.gz"), fashion_mnist_class_names(), "f"); },
                {"lab10.gz", "label 10 of item 1"});
  }
  SUBCASE("truncated gzip stream") {
    std::string pix(5000, '\0');
    for (std::size_t i = 0; i < pix.size(); ++i) pix[i] = static_cast<char>((i * 2654435761u) >> 13);
    write_gzip(t.str("full.gz"), idx_header(8, {5000}) + pix);
    const std::string gz = read_bytes(t.str("full.gz"));
    write_bytes(t.str("cut.gz"), gz.substr(0, gz.size() / 2));
    check_error([&] { read_idx(t.str("cut.gz"), 1); }, {"cut.gz", "truncated or corrupt"});
  }
  SUBCASE("missing file") {
    check_error([&] { read_idx(t.str("none.gz"), 1); }, {"missing file", "none.gz"});
  }
}

TEST_CASE("fashion_mnist: the Debian dataset files load with the documented sizes") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("dataset-fashion-mnist is not installed; run scripts/setup (skipping)");
    return;
  }
  TempDir empty_root("fm");
  const DatasetSplits s = load_fashion_mnist(empty_root.str());
  CHECK(s.train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(s.test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(s.train.class_counts() == std::vector<std::int64_t>(10, 6000));
  CHECK(s.test.class_counts() == std::vector<std::int64_t>(10, 1000));
  const ChannelStats st = compute_stats(s.train);
  CHECK(st.mean[0] == doctest::Approx(0.2860).epsilon(0.002));
  CHECK(st.std[0] == doctest::Approx(0.3530).epsilon(0.002));
}

namespace {
std::string encode_jpeg(int w, int h, int channels, const std::vector<std::uint8_t>& hwc) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, hwc.data(), w, 0, h, channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size,
                      channels == 1 ? TJSAMP_GRAY : TJSAMP_444, 95, 0) == 0);
  std::string s(reinterpret_cast<char*>(buf), size);
  tjFree(buf);
  tjDestroy(tj);
  return s;
}

std::vector<std::uint8_t> gradient_hwc(int w, int h, int c, int seed) {
  std::vector<std::uint8_t> v(static_cast<std::size_t>(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        v[(static_cast<std::size_t>(y) * w + x) * c + k] = static_cast<std::uint8_t>((x * 8 + y * 3 + k * 60 + seed * 40) % 256);
  return v;
}
}  // namespace

TEST_CASE("image decoding: JPEG, PNG variants and bad inputs (I5)") {
  TempDir t("img");
  const auto px = gradient_hwc(20, 12, 3, 0);
  SUBCASE("PNG round trip is exact, RGB and gray") {
    write_png(t.str("a.png"), 12, 20, 3, px.data());
    const DecodedImage d = decode_image_file(t.str("a.png"), 3);
    CHECK(d.width == 20);
    CHECK(d.height == 12);
    CHECK(d.pixels == px);
    const DecodedImage g = decode_image_file(t.str("a.png"), 1);
    CHECK(g.channels == 1);
    CHECK(g.pixels.size() == 240u);
  }
  SUBCASE("JPEG decodes close to the source") {
    const std::string jpg = encode_jpeg(20, 12, 3, px);
    const DecodedImage d = decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size(), 3, "mem.jpg");
    REQUIRE(d.pixels.size() == px.size());
    double err = 0;
    for (std::size_t i = 0; i < px.size(); ++i) err += std::abs(int(d.pixels[i]) - int(px[i]));
    CHECK(err / px.size() < 6.0);
    const DecodedImage g = decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size(), 1, "mem.jpg");
    CHECK(g.channels == 1);
  }
  SUBCASE("truncated JPEG is an error, not garbage") {
    const std::string jpg = encode_jpeg(20, 12, 3, px);
    write_bytes(t.str("cut.jpg"), jpg.substr(0, jpg.size() / 2));
    check_error([&] { decode_image_file(t.str("cut.jpg"), 3); }, {"cut.jpg", "JPEG"});
  }
  SUBCASE("16-bit and palette PNGs decode to 8 bits") {
    std::string rows16;  // 2x2 gray, 16-bit big-endian: 0x0000, 0xFFFF, 0x8080, 0x1234
    for (std::uint16_t v : {0x0000, 0xFFFF, 0x8080, 0x1234}) { rows16 += static_cast<char>(v >> 8); rows16 += static_cast<char>(v & 0xFF); }
    const std::string p16 = make_png(2, 2, 16, 0, rows16);
    const DecodedImage a = decode_image(reinterpret_cast<const std::uint8_t*>(p16.data()), p16.size(), 1, "16.png");
    CHECK(a.pixels == std::vector<std::uint8_t>{0, 255, 128, 18});
    const std::string palette = std::string("\xff\x00\x00\x00\x00\xff", 6);  // red, blue
    const std::string pp = make_png(2, 1, 8, 3, std::string("\x01\x00", 2), palette);
    const DecodedImage b = decode_image(reinterpret_cast<const std::uint8_t*>(pp.data()), pp.size(), 3, "pal.png");
    CHECK(b.pixels == std::vector<std::uint8_t>{0, 0, 255, 255, 0, 0});
  }
  SUBCASE("0x0 and huge headers are refused before decoding") {
    const std::string zero = make_png(0, 0, 8, 0, "");
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(zero.data()), zero.size(), 1, "zero.png"); },
                {"zero.png"});
    const std::string huge = make_png(100000, 100000, 8, 0, "");
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(huge.data()), huge.size(), 1, "huge.png"); },
                {"huge.png"});
    // A JPEG header claiming 60000x60000: patch the SOF0 size of a real JPEG.
    std::string jpg = encode_jpeg(20, 12, 3, px);
    const std::size_t sof = jpg.find("\xff\xc0");
    REQUIRE(sof != std::string::npos);
    jpg[sof + 5] = '\xea'; jpg[sof + 6] = '\x60'; jpg[sof + 7] = '\xea'; jpg[sof + 8] = '\x60';
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size(), 3, "huge.jpg"); },
                {"huge.jpg", "60000x60000", "limit is 8192"});
  }
  SUBCASE("a PNG chunk declaring more bytes than the file holds is refused before stb_image allocates them") {
    // The input fuzz_image found: a 7x5 PNG whose IDAT chunk claims 0x80000000 bytes.
    std::string png = make_png(7, 5, 8, 0, "");
    const std::size_t idat = png.find("IDAT");
    REQUIRE(idat != std::string::npos);
    png[idat - 4] = '\x80'; png[idat - 3] = 0; png[idat - 2] = 0; png[idat - 1] = 0;
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), 3, "bomb.png"); },
                {"bomb.png", "declares 2147483648 bytes"});
  }
  SUBCASE("GIF, PSD and empty data are named and refused") {
    const std::string gif = "GIF89a\x01\x00\x01\x00";
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(gif.data()), gif.size(), 3, "x.gif"); },
                {"x.gif", "GIF", "not JPEG or PNG"});
    const std::string psd = "8BPS\x00\x01";
    check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(psd.data()), psd.size(), 3, "x.psd"); },
                {"PSD"});
    check_error([&] { decode_image(nullptr, 0, 3, "e.png"); }, {"empty"});
  }
}

TEST_CASE("image folders and list files") {
  TempDir t("folder");
  // root/train/{cat,dog}/..., root/test/{cat,dog}/...; mixed JPEG and PNG, 16x16.
  for (const char* split : {"train", "test"})
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 3; ++i) {
        const auto px = gradient_hwc(16, 16, 3, c * 3 + i);
        const std::string dir = t.str(std::string(split) + "/" + (c ? "dog" : "cat"));
        std::filesystem::create_directories(dir);
        if (i == 0) write_bytes(dir + "/img" + std::to_string(i) + ".JPG", encode_jpeg(16, 16, 3, px));
        else write_png(dir + "/img" + std::to_string(i) + ".png", 16, 16, 3, px.data());
      }
  write_bytes(t.str("train/cat/notes.txt"), "ignored");
  const DatasetSplits s = open_dataset("image_folder:" + t.str());
  CHECK(s.train.size() == 6);
  CHECK(s.test.size() == 6);
  CHECK(s.train.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(s.train.labels == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1});
  CHECK(s.train.images.shape() == Shape{6, 3, 16, 16});
  // PNG pixels are exact; CHW layout: image 1 (cat img1) channel 2 at (y=1, x=2).
  CHECK(s.train.image(1)[2 * 256 + 1 * 16 + 2] == (2 * 8 + 1 * 3 + 2 * 60 + 1 * 40) % 256);

  SUBCASE("mixed sizes need image_size; with it they are resized and centre-cropped") {
    const auto big = gradient_hwc(24, 16, 3, 0);
    write_png(t.str("train/dog/wide.png"), 16, 24, 3, big.data());
    check_error([&] { open_dataset("image_folder:" + t.str()); }, {"wide.png", "24x16", "image size"});
    DatasetOptions o;
    o.image_folder.image_size = 8;
    const DatasetSplits r = open_dataset("image_folder:" + t.str(), o);
    CHECK(r.train.images.shape() == Shape{7, 3, 8, 8});
  }
  SUBCASE("list files, ImageNet-LT style") {
    std::filesystem::rename(t.str("train"), t.str("imgs_train"));
    write_bytes(t.str("train.txt"), "# comment\nimgs_train/cat/img1.png 0\nimgs_train/dog/img2.png 2\n\n");
    write_bytes(t.str("test.txt"), "test/cat/img1.png 1\n");
    const DatasetSplits l = open_dataset("image_folder:" + t.str());
    CHECK(l.train.labels == std::vector<std::int64_t>{0, 2});
    CHECK(l.train.num_classes() == 3);
    CHECK(l.test.labels == std::vector<std::int64_t>{1});
    write_bytes(t.str("test.txt"), "test/cat/img1.png 7\n");
    check_error([&] { open_dataset("image_folder:" + t.str()); }, {"test.txt:1", "label 7"});
    write_bytes(t.str("test.txt"), "test/cat/img1.png\n");
    check_error([&] { open_dataset("image_folder:" + t.str()); }, {"test.txt:1", "cannot parse"});
  }
  SUBCASE("a broken image names its file") {
    write_bytes(t.str("train/cat/zz_bad.png"), "\x89PNG\r\n\x1a\n garbage");
    check_error([&] { open_dataset("image_folder:" + t.str()); }, {"zz_bad.png"});
  }
  SUBCASE("unknown dataset names list the valid ones (I7)") {
    check_error([&] { open_dataset("cifar11"); }, {"unknown dataset 'cifar11'", "cifar10_lt", "image_folder:<path>"});
    check_error([&] { open_dataset("synthetic_lt"); }, {"synthetic_lt"});
  }
}

TEST_CASE("synthetic: deterministic, balanced and learnable") {
  SyntheticOptions o;
  o.train_size = 600;
  o.test_size = 200;
  o.seed = 5;
  const DatasetSplits a = make_synthetic_splits(o);
  const DatasetSplits b = open_dataset("synthetic", [&] { DatasetOptions d; d.synthetic = o; return d; }());
  CHECK(a.train.images.to_vector<double>() == b.train.images.to_vector<double>());
  CHECK(a.train.class_counts() == std::vector<std::int64_t>(10, 60));
  o.seed = 6;
  CHECK(make_synthetic(o, 0).images.to_vector<double>() != a.train.images.to_vector<double>());
  // Learnable: nearest class centroid in pixel space classifies the test split well.
  const std::int64_t D = 3 * 32 * 32;
  std::vector<std::vector<double>> centroid(10, std::vector<double>(static_cast<std::size_t>(D), 0.0));
  for (std::int64_t i = 0; i < a.train.size(); ++i)
    for (std::int64_t k = 0; k < D; ++k) centroid[static_cast<std::size_t>(a.train.labels[static_cast<std::size_t>(i)])][static_cast<std::size_t>(k)] += a.train.image(i)[k] / 60.0;
  int correct = 0;
  for (std::int64_t i = 0; i < a.test.size(); ++i) {
    double best = 1e300; int arg = -1;
    for (int c = 0; c < 10; ++c) {
      double dist = 0;
      for (std::int64_t k = 0; k < D; ++k) { const double e = a.test.image(i)[k] - centroid[static_cast<std::size_t>(c)][static_cast<std::size_t>(k)]; dist += e * e; }
      if (dist < best) { best = dist; arg = c; }
    }
    correct += arg == a.test.labels[static_cast<std::size_t>(i)];
  }
  CHECK(correct >= 150);  // ≥ 75% with a nearest-centroid rule (chance is 10%)
  o.channels = 1;
  o.image_size = 28;
  CHECK(make_synthetic(o, 0).images.shape() == Shape{600, 1, 28, 28});
}

TEST_CASE("allocation limits: impossible requests are refused with the size (I8)") {
  check_error([] { checked_image_bytes("test", 1ull << 40, 3, 32, 32); }, {"needs", "GiB", "limit"});
  SyntheticOptions o;
  o.train_size = 2'000'000'000;
  o.image_size = 1024;
  check_error([&] { make_synthetic(o, 0); }, {"needs", "GiB"});
}

TEST_CASE("idx: a header promising more than the file holds allocates nothing from it (I2, issue 13.5)") {
  TempDir t("idx_big");
  // 470,400 data bytes (600 images of 28×28) under a header declaring 4,000,000 images.
  const std::string header = idx_header(8, {4000000, 28, 28});
  const std::string data(470400, '\x07');
  SUBCASE("plain file: the size is compared with the file before allocating") {
    write_bytes(t.str("big"), header + data);
    check_error([&] { read_idx(t.str("big"), 3); }, {"big", "declares 3136000000 data bytes", "the file has 470400"});
  }
  SUBCASE("gzip stream: the buffer grows with the bytes read, never with the header's promise") {
    write_gzip(t.str("big.gz"), header + data);
    check_error([&] { read_idx(t.str("big.gz"), 3); }, {"big.gz", "got 470400 of 3136000000 bytes"});
    if (kAddressSanitizer) return;  // RLIMIT_AS and ASan's shadow memory do not mix
    // In 512 MiB of address space: a 3 GB buffer from the header would throw bad_alloc (11).
    CHECK(run_with_address_limit(512ull << 20, [&] { read_idx(t.str("big.gz"), 3); }) == 10);
  }
}

TEST_CASE("png: a side over 8192 pixels names the limit (issue 13.9)") {
  TempDir t("png_big");
  const std::string png = make_png(9000, 1, 8, 0, std::string(9000, '\x10'));
  check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), 1, "wide.png"); },
              {"wide.png", "9000x1", "the limit is 8192 per side"});
  const std::string tall = make_png(1, 8193, 8, 0, std::string(8193, '\x10'));
  check_error([&] { decode_image(reinterpret_cast<const std::uint8_t*>(tall.data()), tall.size(), 1, "tall.png"); },
              {"tall.png", "1x8193", "8192"});
}

TEST_CASE("cifar100: the archive's size is pinned; a missing test.bin is named (issue 13.9)") {
  CHECK(cifar100_archive().size == 168513733u);
  CHECK(cifar10_archive().size == 170052171u);
  TempDir t("c100");
  write_bytes(t.str("cifar-100-binary/train.bin"), std::string(3074, '\0'));
  DownloadOptions off;
  off.allow_download = false;
  try {
    load_cifar(100, t.str(), off, std::nullopt);
    FAIL("expected an error");
  } catch (const contra::Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("missing " + t.str("cifar-100-binary/test.bin")) != std::string::npos);
    CHECK(msg.find("missing " + t.str("cifar-100-binary/train.bin")) == std::string::npos);
  }
}

TEST_CASE("png: a zero-length IDAT chunk is no undefined behaviour in stb (found by fuzz_image)") {
  // stb_image once called memcpy(NULL, src, 0) on it (UBSan: null pointer passed as argument 1).
  const unsigned char bytes[] = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
      0x00, 0x07, 0x00, 0x00, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00, 0x00, 0xac, 0xf1, 0xa9, 0x04, 0x00, 0x00, 0x00,
      0x00, 0x49, 0x44, 0x41, 0x54, 0x78, 0x5e, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x66, 0x08, 0xc0, 0x9c, 0x07,
      0x00, 0x24, 0xf9, 0x01, 0x3c, 0xcd, 0xea, 0x94, 0xe1, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
      0x42, 0x60, 0x82};
  try {
    const DecodedImage d = decode_image(bytes, sizeof bytes, 1, "empty_idat.png");
    CHECK(d.pixels.size() == 35u);
  } catch (const contra::Error& e) {
    CHECK(std::string(e.what()).find("empty_idat.png") != std::string::npos);
  }
  // A valid PNG whose image data is split by an empty IDAT chunk still decodes.
  const std::string png = make_png(3, 2, 8, 0, "abcdef");
  const auto idat = png.find("IDAT") - 4;
  std::string split = png.substr(0, idat);
  png_chunk(split, "IDAT", "");
  split += png.substr(idat);
  const DecodedImage d = decode_image(reinterpret_cast<const std::uint8_t*>(split.data()), split.size(), 1, "split.png");
  CHECK(d.pixels == std::vector<std::uint8_t>{'a', 'b', 'c', 'd', 'e', 'f'});
}
