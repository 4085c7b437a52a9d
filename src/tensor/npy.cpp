#include "tensor/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include <unistd.h>

namespace contra {

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  Shape shape;
};

NpyHeader parse_header(const std::string& h, const std::string& path) {
  const char* where = "load_npy";
  NpyHeader out;
  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex fortran_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  CONTRA_CHECK(std::regex_search(h, m, descr_re), where, path, ": header has no 'descr' key");
  out.descr = m[1];
  CONTRA_CHECK(std::regex_search(h, m, fortran_re), where, path, ": header has no 'fortran_order' key");
  out.fortran = m[1] == "True";
  CONTRA_CHECK(std::regex_search(h, m, shape_re), where, path, ": header has no 'shape' key");
  const std::string dims = m[1];
  std::int64_t total = 1;
  size_t i = 0;
  while (i < dims.size()) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && std::isdigit(static_cast<unsigned char>(dims[j]))) ++j;
    CONTRA_CHECK(j > i && j - i <= 12, where, path, ": bad shape entry in header: (", dims, ")");
    const std::int64_t v = std::stoll(dims.substr(i, j - i));
    CONTRA_CHECK(v == 0 || total <= (std::int64_t{1} << 40) / v, where, path, ": shape (", dims, ") is too large");
    total *= v;
    out.shape.push_back(v);
    i = j;
  }
  return out;
}

}  // namespace

Tensor load_npy(const std::string& path) {
  const char* where = "load_npy";
  std::ifstream f(path, std::ios::binary);
  CONTRA_CHECK_HINT(f.good(), where, "check the path", "cannot open ", path);
  f.seekg(0, std::ios::end);
  const std::int64_t file_size = f.tellg();
  f.seekg(0);
  char magic[8] = {};
  f.read(magic, 8);
  CONTRA_CHECK(f.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0, where, path,
               ": not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  CONTRA_CHECK(major >= 1 && major <= 3, where, path, ": unsupported .npy version ", major);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  const std::int64_t data_start = (major == 1 ? 10 : 12) + static_cast<std::int64_t>(header_len);
  CONTRA_CHECK(header_len < (1u << 20) && data_start <= file_size, where, path, ": header length ", header_len,
               " runs past the end of the file (", file_size, " bytes)");
  std::string header(header_len, '\0');
  f.read(header.data(), header_len);
  const NpyHeader h = parse_header(header, path);
  DType dt;
  bool from_i4 = false;
  if (h.descr == "<f4") dt = DType::f32;
  else if (h.descr == "<f8") dt = DType::f64;
  else if (h.descr == "<i8") dt = DType::i64;
  else if (h.descr == "|u1" || h.descr == "<u1") dt = DType::u8;
  else if (h.descr == "<i4") { dt = DType::i64; from_i4 = true; }
  else
    throw Error(where, path + ": unsupported dtype '" + h.descr + "'",
                "save as float32, float64, int64, int32 or uint8, little-endian");
  CONTRA_CHECK_HINT(!h.fortran || h.shape.size() <= 1, where, "save with np.ascontiguousarray",
                    path, ": Fortran-order arrays are not supported");
  const std::int64_t n = shape_numel(h.shape);
  const std::int64_t elem = from_i4 ? 4 : static_cast<std::int64_t>(dtype_size(dt));
  CONTRA_CHECK(file_size - data_start == n * elem, where, path, ": data section has ", file_size - data_start,
               " bytes, the header's shape ", shape_str(h.shape), " needs ", n * elem);
  Tensor t = Tensor::empty(h.shape, dt);
  if (from_i4) {
    std::vector<std::int32_t> tmp(static_cast<size_t>(n));
    f.read(reinterpret_cast<char*>(tmp.data()), n * 4);
    auto* p = t.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = tmp[i];
  } else {
    f.read(static_cast<char*>(t.raw_data()), n * elem);
  }
  CONTRA_CHECK(f.good() || n == 0, where, path, ": read failed");
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
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    CONTRA_CHECK_HINT(f.good(), "save_npy", "check that the directory exists and is writable", "cannot write ", tmp);
    const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                   static_cast<unsigned char>(header.size() >> 8)};
    f.write(reinterpret_cast<const char*>(pre), 10);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.numel() * dtype_size(t.dtype())));
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      throw Error("save_npy", "write failed for " + path, "check free disk space");
    }
  }
  CONTRA_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "save_npy", "cannot rename ", tmp, " to ", path);
}

}  // namespace contra
