// image_decode.cpp — format sniffing, TurboJPEG decoding, PNG through stb_image (compiled
// in stb_image_impl.cpp with PNG only).
#include "data/image_decode.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "data/dataset.h"
#include "tensor/error.h"

#include <stb_image.h>  // declarations only; the implementation is stb_image_impl.cpp

namespace contra::data {

namespace {
const char* kWhere = "image decoder";

void check_dims(const std::string& src, long w, long h, int channels, int max_side) {
  CONTRA_CHECK_HINT(w > 0 && h > 0, kWhere, "the image is empty or its header is corrupt", src,
                    ": header says ", w, "x", h, " pixels");
  CONTRA_CHECK_HINT(w <= max_side && h <= max_side, kWhere,
                    "images larger than this are not supported; resize them first", src,
                    ": header says ", w, "x", h, " pixels, the limit is ", max_side, " per side");
  checked_image_bytes(std::string(kWhere) + " (" + src + ")", 1, static_cast<std::uint64_t>(channels),
                      static_cast<std::uint64_t>(h), static_cast<std::uint64_t>(w));
}

DecodedImage decode_jpeg(const std::uint8_t* bytes, std::size_t size, int channels,
                         const std::string& src, int max_side) {
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), &tjDestroy);
  CONTRA_CHECK(tj != nullptr, kWhere, "cannot create a TurboJPEG decompressor");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes, static_cast<unsigned long>(size), &w, &h, &subsamp,
                          &colorspace) != 0)
    throw Error(kWhere, src + ": bad JPEG header: " + tjGetErrorStr2(tj.get()),
                "the file is truncated or not a JPEG");
  check_dims(src, w, h, channels, max_side);
  DecodedImage img;
  img.width = w; img.height = h; img.channels = channels;
  img.pixels.resize(static_cast<std::size_t>(w) * h * channels);
  const int format = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  if (tjDecompress2(tj.get(), bytes, static_cast<unsigned long>(size), img.pixels.data(), w, 0, h,
                    format, TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    throw Error(kWhere, src + ": JPEG decoding failed: " + tjGetErrorStr2(tj.get()),
                "the file is truncated or corrupt; re-create it");
  return img;
}

// Every chunk (length, type, data, CRC) must fit in the file. stb_image grows its IDAT
// buffer to a chunk's declared length before reading the data, so a 100-byte file whose
// IDAT claims 2 GB would make it allocate 2 GB (found by fuzz_image).
void check_png_chunks(const std::uint8_t* bytes, std::size_t size, const std::string& src) {
  std::size_t at = 8;  // after the signature
  while (at + 8 <= size) {
    const std::uint64_t length = std::uint64_t(bytes[at]) << 24 | std::uint64_t(bytes[at + 1]) << 16 |
                                 std::uint64_t(bytes[at + 2]) << 8 | std::uint64_t(bytes[at + 3]);
    CONTRA_CHECK_HINT(length + 12 <= size - at, kWhere, "the file is truncated or corrupt; re-create it", src,
                      ": PNG chunk at byte ", at, " declares ", length, " bytes of data, but the file has ",
                      size - at, " bytes left");
    if (std::memcmp(bytes + at + 4, "IEND", 4) == 0) return;
    at += 12 + static_cast<std::size_t>(length);
  }
}

DecodedImage decode_png(const std::uint8_t* bytes, std::size_t size, int channels,
                        const std::string& src, int max_side) {
  CONTRA_CHECK(size < (1u << 31), kWhere, src, ": PNG of ", size, " bytes is too large");
  max_side = std::min(max_side, kMaxImageSide);  // stb_image's STBI_MAX_DIMENSIONS
  // The size from the IHDR chunk (bytes 16..23, big-endian), checked before stb_image sees
  // the file: stb refuses sides over its own limit with a generic "unknown image type".
  if (size >= 24 && std::memcmp(bytes + 12, "IHDR", 4) == 0) {
    auto be32 = [&](std::size_t at) {
      return std::uint32_t(bytes[at]) << 24 | std::uint32_t(bytes[at + 1]) << 16 | std::uint32_t(bytes[at + 2]) << 8 |
             std::uint32_t(bytes[at + 3]);
    };
    check_dims(src, static_cast<long>(be32(16)), static_cast<long>(be32(20)), channels, max_side);
  }
  check_png_chunks(bytes, size, src);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes, static_cast<int>(size), &w, &h, &comp))
    throw Error(kWhere, src + ": bad PNG header: " + std::string(stbi_failure_reason()),
                "the file is truncated or not a PNG");
  check_dims(src, w, h, channels, max_side);
  unsigned char* p = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &comp, channels);
  if (!p)
    throw Error(kWhere, src + ": PNG decoding failed: " + std::string(stbi_failure_reason()),
                "the file is truncated or corrupt; re-create it");
  DecodedImage img;
  img.width = w; img.height = h; img.channels = channels;
  img.pixels.assign(p, p + static_cast<std::size_t>(w) * h * channels);
  stbi_image_free(p);
  return img;
}
}  // namespace

DecodedImage decode_image(const std::uint8_t* bytes, std::size_t size, int channels,
                          const std::string& where, int max_side) {
  CONTRA_CHECK(channels == 1 || channels == 3, kWhere, "channels must be 1 or 3, got ", channels);
  if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return decode_jpeg(bytes, size, channels, where, max_side);
  if (size >= 8 && bytes[0] == 0x89 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G')
    return decode_png(bytes, size, channels, where, max_side);
  std::string kind = "unknown";
  if (size >= 4 && bytes[0] == 'G' && bytes[1] == 'I' && bytes[2] == 'F') kind = "GIF";
  else if (size >= 4 && bytes[0] == '8' && bytes[1] == 'B' && bytes[2] == 'P' && bytes[3] == 'S') kind = "PSD";
  else if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M') kind = "BMP";
  else if (size == 0) kind = "empty";
  throw Error(kWhere, where + ": " + kind + " data (" + std::to_string(size) +
                          " bytes) is not JPEG or PNG",
              "convert the image to JPEG or PNG");
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::uint64_t max_bytes) {
  std::error_code ec;
  CONTRA_CHECK(std::filesystem::is_regular_file(path, ec), "read file", "missing file ", path);
  const auto n = std::filesystem::file_size(path, ec);
  CONTRA_CHECK(!ec, "read file", "cannot stat ", path, ": ", ec.message());
  CONTRA_CHECK(n <= max_bytes, "read file", path, " has ", n, " bytes, more than the limit ",
               max_bytes);
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(n));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  CONTRA_CHECK(f != nullptr, "read file", "cannot open ", path);
  CONTRA_CHECK(std::fread(buf.data(), 1, buf.size(), f.get()) == buf.size(), "read file",
               "short read in ", path);
  return buf;
}

DecodedImage decode_image_file(const std::string& path, int channels, int max_side) {
  const auto bytes = read_file_bytes(path, 256ull << 20);
  return decode_image(bytes.data(), bytes.size(), channels, path, max_side);
}

}  // namespace contra::data
