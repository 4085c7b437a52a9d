// fuzz_image — the image decode wrapper (magic sniffing, TurboJPEG, stb_image PNG): any
// bytes, as 1 and 3 channels. Sides are capped at 1024 so a valid huge header stays cheap.
#include "data/image_decode.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (int channels : {1, 3})
    contra_fuzz::accepts([&] {
      const auto img = contra::data::decode_image(data, size, channels, "fuzz", 1024);
      if (img.pixels.size() != static_cast<std::size_t>(img.width) * img.height * channels) std::abort();
    });
  return 0;
}
