// npy.h — reading and writing NumPy .npy files (format versions 1.0–3.0).
//
// Supported: little-endian '<f4' '<f8' '<i8' '|u1' (and '<i4', read as i64), C order.
// The header is validated before anything is allocated: magic, version, dict keys,
// dtype, shape (no negative or overflowing sizes) and the data size against the file.
// Writing goes to a temporary file that is renamed into place (never half-written).
#pragma once

#include <string>
#include <string_view>

#include "tensor/tensor.h"

namespace contra {

Tensor load_npy(const std::string& path);
// The same from bytes in memory (`source` names them in errors).
Tensor parse_npy(std::string_view bytes, const std::string& source);

// The header of a .npy file, validated as load_npy does, without reading the data: the
// dtype as written ('<i4') and as NumPy names it ("int32"), and the shape. Lets callers
// report what a file holds before a conversion (int32 is loaded as i64).
struct NpyInfo {
  std::string descr, dtype;
  Shape shape;
};
NpyInfo read_npy_info(const std::string& path);
void save_npy(const std::string& path, const Tensor& t);

}  // namespace contra
