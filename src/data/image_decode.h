// image_decode.h — JPEG (libjpeg-turbo, TurboJPEG API) and PNG (stb_image) decoding.
//
// The format is picked from the magic bytes, never the file name: FF D8 FF is JPEG,
// 89 'P' 'N' 'G' is PNG; anything else (GIF, PSD, BMP, truncated junk) is an error naming
// the file. Dimensions come from the header and are checked against `max_side` and the
// allocation limit before the pixel buffer exists (I5, I8). Truncated or corrupt data is
// an error (libjpeg-turbo warnings are promoted to errors). 16-bit and palette PNGs are
// converted to 8 bits per channel by stb_image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace contra::data {

struct DecodedImage {
  int height = 0, width = 0, channels = 0;  // channels = the requested 1 or 3
  std::vector<std::uint8_t> pixels;         // (H, W, C) interleaved, as decoders produce
};

constexpr int kMaxImageSide = 8192;  // also STBI_MAX_DIMENSIONS in stb_image_impl.cpp

// Decodes `bytes` into `channels` (1 = grayscale, 3 = RGB). `where` names the source file.
DecodedImage decode_image(const std::uint8_t* bytes, std::size_t size, int channels,
                          const std::string& where, int max_side = kMaxImageSide);
DecodedImage decode_image_file(const std::string& path, int channels,
                               int max_side = kMaxImageSide);

// Encodes (H, W, C) u8 pixels as PNG (stb_image_write). Throws naming `path` on failure.
void write_png(const std::string& path, int height, int width, int channels,
               const std::uint8_t* hwc_pixels);

// Reads a whole file; throws naming it when it is missing or larger than `max_bytes`.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::uint64_t max_bytes);

}  // namespace contra::data
