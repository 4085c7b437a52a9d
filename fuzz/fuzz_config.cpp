// fuzz_config — the TOML configuration: parsing, keys, types, ranges, presets; whatever is
// accepted and validates must survive to_toml → parse unchanged.
#include "fuzz_common.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace contra::train;
  PretrainConfig c;
  if (!contra_fuzz::accepts([&] { apply_toml_string(c, std::string(contra_fuzz::as_view(data, size)), "fuzz.toml"); }))
    return 0;
  if (!contra_fuzz::accepts([&] { validate(c); })) return 0;
  PretrainConfig back;
  const std::string text = to_toml(c);
  if (!contra_fuzz::accepts([&] { apply_toml_string(back, text, "round-trip.toml"); })) std::abort();
  if (to_json(back) != to_json(c)) std::abort();
  return 0;
}
