#include "tensor/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <cctype>
#include <vector>

#include "tensor/atomic_file.h"

namespace contra {

namespace {

constexpr std::uint32_t kMaxHeaderBytes = 1u << 20;
constexpr std::size_t kMaxRank = 32;

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  Shape shape;
};

// The value after `'key':` in a Python dict literal, as raw text up to `stop` (exclusive);
// "" when the key is missing. A hand scanner: std::regex recurses per character and a long
// header would exhaust the stack.
bool dict_value(std::string_view h, std::string_view key, std::string_view& out) {
  std::string quoted(1, '\'');  // built piecewise: gcc 12 warns (-Wrestrict) on "'" + key + "'"
  quoted.append(key).push_back('\'');
  const auto k = h.find(quoted);
  if (k == std::string_view::npos) return false;
  std::size_t i = k + quoted.size();
  while (i < h.size() && h[i] == ' ') ++i;
  if (i >= h.size() || h[i] != ':') return false;
  ++i;
  while (i < h.size() && h[i] == ' ') ++i;
  out = h.substr(i);
  return true;
}

NpyHeader parse_header(std::string_view h, const std::string& path) {
  const char* where = "load_npy";
  NpyHeader out;
  std::string_view v;
  CONTRA_CHECK(dict_value(h, "descr", v) && !v.empty() && v[0] == '\'', where, path, ": header has no 'descr' key");
  const auto q = v.find('\'', 1);
  CONTRA_CHECK(q != std::string_view::npos, where, path, ": header's 'descr' is not a quoted string");
  out.descr = std::string(v.substr(1, q - 1));
  CONTRA_CHECK(dict_value(h, "fortran_order", v) && (v.substr(0, 4) == "True" || v.substr(0, 5) == "False"), where,
               path, ": header has no 'fortran_order' key");
  out.fortran = v.substr(0, 4) == "True";
  CONTRA_CHECK(dict_value(h, "shape", v) && !v.empty() && v[0] == '(', where, path, ": header has no 'shape' key");
  const auto close = v.find(')');
  CONTRA_CHECK(close != std::string_view::npos, where, path, ": header's 'shape' has no closing ')'");
  const std::string_view dims = v.substr(1, close - 1);
  std::int64_t total = 1;
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && std::isdigit(static_cast<unsigned char>(dims[j]))) ++j;
    CONTRA_CHECK(j > i && j - i <= 12, where, path, ": bad shape entry in header: (", abbreviate(dims), ")");
    CONTRA_CHECK(out.shape.size() < kMaxRank, where, path, ": shape has more than ", kMaxRank, " dimensions");
    const std::int64_t d = std::stoll(std::string(dims.substr(i, j - i)));
    CONTRA_CHECK(d == 0 || total <= (std::int64_t{1} << 40) / d, where, path, ": shape (", abbreviate(dims),
                 ") is too large");
    total *= d;
    out.shape.push_back(d);
    i = j;
  }
  return out;
}

const char* numpy_name(const std::string& descr) {
  static const std::pair<const char*, const char*> names[] = {
      {"<f4", "float32"}, {"<f8", "float64"}, {"<f2", "float16"}, {"<i8", "int64"}, {"<i4", "int32"},
      {"<i2", "int16"},   {"|i1", "int8"},    {"|u1", "uint8"},   {"<u1", "uint8"}, {"<u2", "uint16"},
      {"<u4", "uint32"},  {"<u8", "uint64"},  {"|b1", "bool"},    {">f4", "float32 (big-endian)"},
      {">f8", "float64 (big-endian)"}, {">i8", "int64 (big-endian)"}, {">i4", "int32 (big-endian)"}};
  for (const auto& [d, n] : names)
    if (descr == d) return n;
  return "an unsupported dtype";
}

// Everything load_npy checks before reading the data, from the file's first bytes.
struct Layout {
  NpyHeader header;
  DType dtype = DType::f32;
  bool from_i4 = false;
  std::int64_t data_start = 0, numel = 0, elem = 0;
};

Layout parse_layout(std::string_view prefix, std::int64_t file_size, const std::string& path) {
  const char* where = "load_npy";
  CONTRA_CHECK(prefix.size() >= 10 && std::memcmp(prefix.data(), "\x93NUMPY", 6) == 0, where, path,
               ": not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(prefix[6]);
  CONTRA_CHECK(major >= 1 && major <= 3, where, path, ": unsupported .npy version ", major);
  CONTRA_CHECK(major == 1 || prefix.size() >= 12, where, path, ": file ends inside the header length");
  const auto* b = reinterpret_cast<const unsigned char*>(prefix.data()) + 8;
  const std::uint32_t header_len =
      major == 1 ? (b[0] | (b[1] << 8)) : (b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t{b[3]} << 24));
  Layout L;
  L.data_start = (major == 1 ? 10 : 12) + static_cast<std::int64_t>(header_len);
  CONTRA_CHECK(header_len < kMaxHeaderBytes && L.data_start <= file_size &&
                   L.data_start <= static_cast<std::int64_t>(prefix.size()),
               where, path, ": header length ", header_len, " runs past the end of the file (", file_size, " bytes)");
  L.header = parse_header(prefix.substr(static_cast<std::size_t>(L.data_start) - header_len, header_len), path);
  const std::string& d = L.header.descr;
  if (d == "<f4") L.dtype = DType::f32;
  else if (d == "<f8") L.dtype = DType::f64;
  else if (d == "<i8") L.dtype = DType::i64;
  else if (d == "|u1" || d == "<u1") L.dtype = DType::u8;
  else if (d == "<i4") { L.dtype = DType::i64; L.from_i4 = true; }
  else
    throw Error(where, path + ": unsupported dtype '" + abbreviate(d) + "'",
                "save as float32, float64, int64, int32 or uint8, little-endian");
  CONTRA_CHECK_HINT(!L.header.fortran || L.header.shape.size() <= 1, where, "save with np.ascontiguousarray",
                    path, ": Fortran-order arrays are not supported");
  L.numel = shape_numel(L.header.shape);
  L.elem = L.from_i4 ? 4 : static_cast<std::int64_t>(dtype_size(L.dtype));
  CONTRA_CHECK(file_size - L.data_start == L.numel * L.elem, where, path, ": data section has ",
               file_size - L.data_start, " bytes, the header's shape ", shape_str(L.header.shape), " needs ",
               L.numel * L.elem);
  return L;
}

// The tensor of a validated layout, from `n·elem` data bytes.
Tensor from_data(const Layout& L, const char* data) {
  Tensor t = Tensor::empty(L.header.shape, L.dtype);
  if (L.from_i4) {
    auto* p = t.data<std::int64_t>();
    for (std::int64_t i = 0; i < L.numel; ++i) {
      std::int32_t v;
      std::memcpy(&v, data + 4 * i, 4);
      p[i] = v;
    }
  } else if (L.numel > 0) {
    std::memcpy(t.raw_data(), data, static_cast<std::size_t>(L.numel * L.elem));
  }
  return t;
}

// The file's size and its first bytes (up to the largest header).
std::pair<std::int64_t, std::string> read_prefix(std::ifstream& f, const std::string& path) {
  CONTRA_CHECK_HINT(f.good(), "load_npy", "check the path", "cannot open ", path);
  f.seekg(0, std::ios::end);
  const std::int64_t file_size = f.tellg();
  CONTRA_CHECK_HINT(file_size >= 0, "load_npy", "pass a regular .npy file", "cannot read ", path);
  f.seekg(0);
  std::string prefix(static_cast<std::size_t>(std::min<std::int64_t>(file_size, 12 + kMaxHeaderBytes)), '\0');
  f.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  CONTRA_CHECK(f.gcount() == static_cast<std::streamsize>(prefix.size()), "load_npy", path, ": read failed");
  return {file_size, prefix};
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& source) {
  const Layout L = parse_layout(bytes, static_cast<std::int64_t>(bytes.size()), source);
  return from_data(L, bytes.data() + L.data_start);
}

NpyInfo read_npy_info(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const auto [size, prefix] = read_prefix(f, path);
  const Layout L = parse_layout(prefix, size, path);
  return {L.header.descr, numpy_name(L.header.descr), L.header.shape};
}

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const auto [size, prefix] = read_prefix(f, path);
  const Layout L = parse_layout(prefix, size, path);
  if (static_cast<std::int64_t>(prefix.size()) == size) return from_data(L, prefix.data() + L.data_start);
  f.seekg(L.data_start);
  if (L.from_i4) {
    std::string data(static_cast<std::size_t>(L.numel * 4), '\0');
    f.read(data.data(), static_cast<std::streamsize>(data.size()));
    CONTRA_CHECK(f.good(), "load_npy", path, ": read failed");
    return from_data(L, data.data());
  }
  Tensor t = Tensor::empty(L.header.shape, L.dtype);  // read straight into the tensor
  f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(L.numel * L.elem));
  CONTRA_CHECK(f.good() || L.numel == 0, "load_npy", path, ": read failed");
  return t;
}

void save_npy(const std::string& path, const Tensor& t_in) {
  const Tensor t = t_in.contiguous();
  const char* descr = t.dtype() == DType::f32 ? "<f4" : t.dtype() == DType::f64 ? "<f8" : t.dtype() == DType::i64 ? "<i8" : "|u1";
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.dim() == 1 ? "," : i + 1 < t.shape().size() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                 static_cast<unsigned char>(header.size() >> 8)};
  write_file_atomically(path, [&](AtomicWriter& w) {
    w.write_all(pre, 10);
    w.write_all(header.data(), header.size());
    w.write_all(t.raw_data(), static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()));
  });
}

}  // namespace contra
