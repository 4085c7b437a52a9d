// safetensors.h — reading and writing the safetensors format, strictly validated.
//
// Layout (https://github.com/huggingface/safetensors):
//   [8 bytes: N, u64 little-endian][N bytes: JSON header][data buffer]
//   header = {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..],
//             "data_offsets": [begin, end]}, ...}, offsets relative to the data buffer.
// Supported dtypes: F32, F64, I64, U8 (others are refused by name).
// Writing: tensors in the given order, back to back; the header padded with spaces to a
// multiple of 8; a CRC-32 per tensor stored in metadata "contra.crc32" (JSON {name: hex});
// the file replaced atomically (atomic_file.h).
// Reading validates before touching data (reliability.md C4, C5): header length within the
// file and ≤ 100 MB, valid JSON object, no duplicate names, known dtype, shapes of
// non-negative integers whose byte size does not overflow, shape × dtype = byte range,
// ranges within the buffer, in order, without overlap or gap, covering it exactly; then the
// checksums when present. Every error names the file and, where there is one, the tensor.
// Files without "contra.crc32" (e.g. exported from PyTorch) load without checksum checks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nn/module.h"

namespace contra::nn {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  StateDict tensors;  // in data-buffer order
  Metadata metadata;  // "__metadata__" (checksums included)
  bool checksummed = false;  // "contra.crc32" was present and verified
};

// The whole file as bytes (header + data), with checksums added to `metadata`.
std::string safetensors_serialize(const StateDict& tensors, const Metadata& metadata);
// Parses bytes; `source` names the file in error messages. The tensors are created on
// `device` (Backend::copy_from_host after validation).
SafetensorsFile safetensors_parse(std::string_view bytes, const std::string& source, Device device = Device::cpu());

// Tensors on any device are saved (each copied to the host with Backend::copy_to_host).
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});
SafetensorsFile load_safetensors(const std::string& path, Device device = Device::cpu());

// JSON from files is parsed only after its nesting was measured by a byte scan (strings and
// escapes skipped): deeper than `max_depth` throws naming `source` and `what` (I9).
inline constexpr int kMaxJsonDepth = 64;
void check_json_depth(std::string_view text, int max_depth, const std::string& source, const std::string& what);
// check_json_depth, then nlohmann::json::parse; errors name `source` and `what`, and quote
// at most a short excerpt of the text.
nlohmann::json parse_json_bounded(std::string_view text, const std::string& source, const std::string& what);

// CRC-32 (zlib polynomial) of a byte range.
std::uint32_t crc32_of(const void* data, std::size_t n);

}  // namespace contra::nn
