// fuzz_cifar — the CIFAR binary reader: record sizes, counts and labels, in the CIFAR-10
// layout (any number of records) and the CIFAR-100 one (coarse + fine label).
#include <cstdlib>

#include "data/cifar_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("CONTRA_DATA_MAX_BYTES", "268435456", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace contra::data;
  const std::string path = contra_fuzz::as_file(data, size);
  CifarFormat ten = cifar10_format();
  ten.records_per_file = 0;  // any count: the real 10,000 would never be reached by the fuzzer
  contra_fuzz::accepts([&] {
    const auto d = read_cifar_binary({path, path}, ten, cifar10_class_names(), "fuzz10");
    for (auto l : d.labels)
      if (l < 0 || l >= 10) std::abort();
  });
  contra_fuzz::accepts([&] {
    const auto d = read_cifar_binary({path}, cifar100_format(), cifar100_class_names(), "fuzz100");
    for (auto l : d.labels)
      if (l < 0 || l >= 100) std::abort();
  });
  return 0;
}
