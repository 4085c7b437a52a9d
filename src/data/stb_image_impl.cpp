// stb_image_impl.cpp — the one translation unit that compiles stb_image and
// stb_image_write, with only PNG decoding and a small maximum size (design.md, "Known
// traps": Debian's libstb.so enables every format and huge limits; we take only the
// headers). No stdio loaders: callers pass memory, and errors come back as strings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
// stb calls memcpy(dst, src, 0) with dst == NULL for a zero-length IDAT chunk (undefined
// behaviour, found by fuzz/fuzz_image): its copies go through this shim, which returns early
// for empty copies and is memcpy otherwise.
#include <string.h>
static inline void* contra_stb_memcpy(void* dst, const void* src, size_t n) {
  return n == 0 ? dst : memcpy(dst, src, n);
}
#define memcpy contra_stb_memcpy
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS 8192  // = kMaxImageSide in image_decode.h
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#undef memcpy
#pragma GCC diagnostic pop

#include <string>

#include "data/image_decode.h"
#include "tensor/error.h"

namespace contra::data {

void write_png(const std::string& path, int height, int width, int channels,
               const std::uint8_t* hwc_pixels) {
  CONTRA_CHECK(height > 0 && width > 0 && (channels == 1 || channels == 3 || channels == 4),
               "write_png", "bad image ", height, "x", width, "x", channels, " for ", path);
  if (!stbi_write_png(path.c_str(), width, height, channels, hwc_pixels, width * channels))
    throw Error("write_png", "cannot write " + path, "check that the folder exists and is writable");
}

}  // namespace contra::data
