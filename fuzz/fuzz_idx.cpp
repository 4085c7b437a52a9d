// fuzz_idx — the IDX reader (plain and gzip; header checks before allocation), as rank 1
// (labels) and rank 3 (images).
#include <cstdlib>

#include "data/idx_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("CONTRA_DATA_MAX_BYTES", "268435456", 1);  // 256 MiB: the fuzzer's RSS limit is 2 GiB
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = contra_fuzz::as_file(data, size);
  for (int rank : {1, 3})
    contra_fuzz::accepts([&] {
      const auto a = contra::data::read_idx(path, rank);
      std::uint64_t n = 1;
      for (auto d : a.dims) n *= static_cast<std::uint64_t>(d);
      if (a.bytes.size() != n) std::abort();
    });
  return 0;
}
