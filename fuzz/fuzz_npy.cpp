// fuzz_npy — .npy files: magic, versions 1–3, the header dict, dtypes (int32 widened), shapes
// and the data size.
#include "fuzz_common.h"
#include "tensor/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  contra_fuzz::accepts([&] {
    const contra::Tensor t = contra::parse_npy(contra_fuzz::as_view(data, size), "fuzz.npy");
    if (t.numel() < 0) std::abort();
  });
  return 0;
}
