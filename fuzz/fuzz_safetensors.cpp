// fuzz_safetensors — the checkpoint format: the safetensors header (JSON, offsets, dtypes,
// shapes, checksums) and the checkpoint metadata on top of it (step, config, RNG, optimizer).
#include "fuzz_common.h"
#include "nn/checkpoint.h"
#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool parsed = contra_fuzz::accepts([&] {
    const auto f = contra::nn::safetensors_parse(contra_fuzz::as_view(data, size), "fuzz.safetensors");
    // What was accepted round-trips bit for bit (the writer's own header may differ in padding).
    const std::string again = contra::nn::safetensors_serialize(f.tensors, f.metadata);
    const auto g = contra::nn::safetensors_parse(again, "again.safetensors");
    if (g.tensors.size() != f.tensors.size()) std::abort();
  });
  if (parsed)
    contra_fuzz::accepts([&] { contra::nn::load_checkpoint(contra_fuzz::as_file(data, size)); });
  return 0;
}
