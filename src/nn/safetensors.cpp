// safetensors.cpp — see safetensors.h for the format and the validation rules.
#include "nn/safetensors.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace contra::nn {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit
constexpr const char* kChecksumKey = "contra.crc32";

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::f32;
  else if (s == "F64") out = DType::f64;
  else if (s == "I64") out = DType::i64;
  else if (s == "U8") out = DType::u8;
  else return false;
  return true;
}

bool known_unsupported_dtype(const std::string& s) {
  static const std::set<std::string> names{"BOOL", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "U64",
                                           "F8_E5M2", "F8_E4M3"};
  return names.count(s) > 0;
}

std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// A tensor's bytes in row-major order, copied to a host buffer from whatever device it is
// on (Backend::copy_to_host): checkpoints save from any device.
struct Blob {
  Tensor t;
  std::shared_ptr<std::vector<char>> host;  // owns the bytes `data` points to
  const void* data;
  std::size_t nbytes;
};

Blob blob_of(const std::string& name, const Tensor& t) {
  CONTRA_CHECK(t.defined(), "save_safetensors", "tensor '", name, "' is undefined");
  Tensor c = t.contiguous();  // on t's device
  const std::size_t nbytes = static_cast<std::size_t>(c.numel()) * dtype_size(c.dtype());
  auto host = std::make_shared<std::vector<char>>(nbytes);
  if (nbytes) backend_for(c).copy_to_host(c, host->data());
  return {c, host, host->data(), nbytes};
}

std::string header_json(const StateDict& tensors, const std::vector<Blob>& blobs, const Metadata& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  Metadata meta = metadata;
  nlohmann::ordered_json sums = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < tensors.size(); ++i) sums[tensors[i].first] = hex32(crc32_of(blobs[i].data, blobs[i].nbytes));
  meta[kChecksumKey] = sums.dump();
  h["__metadata__"] = meta;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = blobs[i].t;
    h[tensors[i].first] = {{"dtype", st_dtype(t.dtype())},
                           {"shape", t.shape()},
                           {"data_offsets", {offset, offset + blobs[i].nbytes}}};
    offset += blobs[i].nbytes;
  }
  std::string s = h.dump();
  while (s.size() % 8) s += ' ';  // data buffer starts 8-byte aligned
  return s;
}

std::vector<Blob> blobs_of(const StateDict& tensors) {
  std::set<std::string> names;
  std::vector<Blob> blobs;
  for (const auto& [k, t] : tensors) {
    CONTRA_CHECK(!k.empty() && k != "__metadata__", "save_safetensors", "invalid tensor name '", k, "'");
    CONTRA_CHECK(names.insert(k).second, "save_safetensors", "duplicate tensor name '", k, "'");
    blobs.push_back(blob_of(k, t));
  }
  return blobs;
}

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// A JSON value from a file, for a message: its text, cut to a readable length.
std::string shown_json(const nlohmann::json& v) {
  if (v.is_string()) return "\"" + abbreviate(v.get_ref<const std::string&>()) + "\"";
  if (v.is_primitive()) return abbreviate(v.dump());
  bool flat = v.size() <= 16;
  for (const auto& x : v) flat = flat && x.is_primitive();
  if (flat) return abbreviate(v.dump(), 200);
  return std::string(v.type_name()) + " of " + std::to_string(v.size()) + " element(s)";
}

// Reads a JSON value that must be a non-negative integer.
std::uint64_t as_u64(const nlohmann::json& v, const std::string& source, const std::string& name, const char* field) {
  CONTRA_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0), source,
               "tensor '", abbreviate(name), "': ", field, " must hold non-negative integers, got ", shown_json(v));
  return v.get<std::uint64_t>();
}

}  // namespace

void check_json_depth(std::string_view text, int max_depth, const std::string& source, const std::string& what) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // skip the escaped character
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw Error(source, detail::concat(what, " nests arrays or objects more than ", max_depth,
                                           " levels deep (at byte ", i, ")"),
                    "the file is corrupt or hostile; use another one");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

nlohmann::json parse_json_bounded(std::string_view text, const std::string& source, const std::string& what) {
  check_json_depth(text, kMaxJsonDepth, source, what);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, what + " is not valid JSON: " + abbreviate(e.what(), 200),
                "the file is corrupt; use another one");
  }
}

std::uint32_t crc32_of(const void* data, std::size_t n) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

std::string safetensors_serialize(const StateDict& tensors, const Metadata& metadata) {
  const auto blobs = blobs_of(tensors);
  const std::string header = header_json(tensors, blobs, metadata);
  std::string out = le64(header.size()) + header;
  for (const auto& b : blobs) out.append(static_cast<const char*>(b.data), b.nbytes);
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  const auto blobs = blobs_of(tensors);
  const std::string header = header_json(tensors, blobs, metadata);
  write_file_atomically(path, [&](AtomicWriter& w) {
    const std::string len = le64(header.size());
    w.write_all(len.data(), len.size());
    w.write_all(header.data(), header.size());
    for (const auto& b : blobs) w.write_all(b.data, b.nbytes);
  });
}

SafetensorsFile safetensors_parse(std::string_view bytes, const std::string& source, Device device) {
  const std::string hint = "the file is truncated, corrupt or not a safetensors file";
  CONTRA_CHECK_HINT(bytes.size() >= 8, source, hint, "file has ", bytes.size(),
                    " bytes, shorter than the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CONTRA_CHECK_HINT(n <= bytes.size() - 8, source, hint, "header length ", n, " runs past the end of the file (",
                    bytes.size() - 8, " bytes follow the length field)");
  CONTRA_CHECK_HINT(n <= kMaxHeaderBytes, source, hint, "header length ", n, " exceeds the limit of ",
                    kMaxHeaderBytes, " bytes");
  CONTRA_CHECK_HINT(n >= 2, source, hint, "header length ", n, " is too small for a JSON object");
  const std::string_view header = bytes.substr(8, n);
  const std::string_view buffer = bytes.substr(8 + n);

  // Nesting is bounded before parsing: the parser and the error paths stay off deep recursion (I9).
  check_json_depth(header, kMaxJsonDepth, source, "the header");
  // Parse, rejecting duplicate keys in the top-level object and in __metadata__.
  std::vector<std::set<std::string>> keys_at_depth(4);
  std::string duplicate;
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header, [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
      if (ev == nlohmann::json::parse_event_t::object_start && depth + 1 < 4) keys_at_depth[depth + 1].clear();
      if (ev == nlohmann::json::parse_event_t::key && depth <= 2 && depth >= 1) {
        if (!keys_at_depth[depth].insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
      }
      return true;
    });
  } catch (const nlohmann::json::exception& e) {
    throw Error(source, "header is not valid JSON: " + abbreviate(e.what(), 200), hint);
  }
  CONTRA_CHECK_HINT(duplicate.empty(), source, hint, "duplicate name '", abbreviate(duplicate), "' in the header");
  CONTRA_CHECK_HINT(h.is_object(), source, hint, "header must be a JSON object, got ", h.type_name());

  SafetensorsFile out;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      CONTRA_CHECK_HINT(v.is_object(), source, hint, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        CONTRA_CHECK_HINT(m.value().is_string(), source, hint, "__metadata__ entry '", abbreviate(m.key()),
                          "' must be a string, got ", m.value().type_name());
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    CONTRA_CHECK_HINT(!name.empty(), source, hint, "empty tensor name");
    const std::string shown = abbreviate(name);
    CONTRA_CHECK_HINT(v.is_object() && v.size() == 3 && v.contains("dtype") && v.contains("shape") &&
                          v.contains("data_offsets"),
                      source, hint, "tensor '", shown, "' must have exactly dtype, shape and data_offsets, got ",
                      shown_json(v));
    Entry e{name, DType::f32, {}, 0, 0};
    CONTRA_CHECK_HINT(v["dtype"].is_string(), source, hint, "tensor '", shown, "': dtype must be a string");
    const std::string dt = v["dtype"].get<std::string>();
    CONTRA_CHECK(!known_unsupported_dtype(dt), source, "tensor '", shown, "' has dtype ", dt,
                 ", which contra does not support (F32, F64, I64, U8)");
    CONTRA_CHECK_HINT(parse_dtype(dt, e.dtype), source, hint, "tensor '", shown, "' has unknown dtype '", abbreviate(dt), "'");
    CONTRA_CHECK_HINT(v["shape"].is_array() && v["shape"].size() <= 16, source, hint, "tensor '", shown,
                      "': shape must be an array of at most 16 sizes");
    std::uint64_t count = 1;
    bool overflow = false;
    for (const auto& d : v["shape"]) {
      const std::uint64_t s = as_u64(d, source, name, "shape");
      overflow |= s > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(count, s, &count);
      e.shape.push_back(static_cast<std::int64_t>(std::min<std::uint64_t>(s, INT64_MAX)));
    }
    std::uint64_t nbytes = 0;
    overflow |= __builtin_mul_overflow(count, static_cast<std::uint64_t>(dtype_size(e.dtype)), &nbytes);
    CONTRA_CHECK_HINT(!overflow && count <= static_cast<std::uint64_t>(INT64_MAX), source, hint, "tensor '", shown,
                      "': shape ", shown_json(v["shape"]), " overflows");
    const auto& off = v["data_offsets"];
    CONTRA_CHECK_HINT(off.is_array() && off.size() == 2, source, hint, "tensor '", shown,
                      "': data_offsets must be [begin, end]");
    e.begin = as_u64(off[0], source, name, "data_offsets");
    e.end = as_u64(off[1], source, name, "data_offsets");
    CONTRA_CHECK_HINT(e.begin <= e.end, source, hint, "tensor '", shown, "': data_offsets [", e.begin, ", ", e.end,
                      "] are reversed");
    CONTRA_CHECK_HINT(e.end <= buffer.size(), source, hint, "tensor '", shown, "': data_offsets [", e.begin, ", ",
                      e.end, "] run past the end of the data (", buffer.size(), " bytes)");
    CONTRA_CHECK_HINT(e.end - e.begin == nbytes, source, hint, "tensor '", shown, "': shape ", shown_json(v["shape"]),
                      " × ", dt, " is ", nbytes, " bytes but data_offsets span ", e.end - e.begin);
    entries.push_back(std::move(e));
  }

  // The ranges must tile the data buffer exactly: in order, no overlap, no gap.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t expected = 0;
  for (const auto& e : entries) {
    CONTRA_CHECK_HINT(e.begin >= expected, source, hint, "tensor '", abbreviate(e.name), "': data_offsets [", e.begin, ", ",
                      e.end, "] overlap the previous tensor (which ends at ", expected, ")");
    CONTRA_CHECK_HINT(e.begin == expected, source, hint, "tensor '", abbreviate(e.name), "': data_offsets [", e.begin, ", ",
                      e.end, "] leave a gap after byte ", expected);
    expected = e.end;
  }
  CONTRA_CHECK_HINT(expected == buffer.size(), source, hint, "tensors cover ", expected, " bytes but the data buffer has ",
                    buffer.size(), " (trailing bytes)");

  // Checksums, when this file carries them.
  std::map<std::string, std::string> sums;
  if (auto it = out.metadata.find(kChecksumKey); it != out.metadata.end()) {
    const auto j = parse_json_bounded(it->second, source, std::string("metadata ") + kChecksumKey);
    CONTRA_CHECK_HINT(j.is_object(), source, hint, "metadata ", kChecksumKey, " must be a JSON object");
    for (auto s = j.begin(); s != j.end(); ++s) {
      CONTRA_CHECK_HINT(s.value().is_string(), source, hint, "checksum of '", abbreviate(s.key()), "' must be a string");
      sums[s.key()] = s.value().get<std::string>();
    }
    CONTRA_CHECK_HINT(sums.size() == entries.size(), source, hint, "metadata lists ", sums.size(),
                      " checksums for ", entries.size(), " tensors");
    out.checksummed = true;
  }

  for (const auto& e : entries) {
    const char* data = buffer.data() + e.begin;
    const std::size_t nbytes = static_cast<std::size_t>(e.end - e.begin);
    if (out.checksummed) {
      auto s = sums.find(e.name);
      CONTRA_CHECK_HINT(s != sums.end(), source, hint, "no checksum stored for tensor '", abbreviate(e.name), "'");
      const std::string actual = hex32(crc32_of(data, nbytes));
      CONTRA_CHECK_HINT(s->second == actual, source, hint, "checksum mismatch in tensor '", abbreviate(e.name),
                        "': stored crc32 ", abbreviate(s->second), ", computed ", actual);
    }
    Tensor t = Tensor::empty(e.shape, e.dtype, device);
    if (nbytes) backend_for(device).copy_from_host(data, t);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

SafetensorsFile load_safetensors(const std::string& path, Device device) {
  const std::string bytes = read_file_bytes(path);
  return safetensors_parse(bytes, path, device);
}

}  // namespace contra::nn
