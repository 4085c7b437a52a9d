// npy.h — reading and writing NumPy .npy files (format versions 1.0–3.0).
//
// Supported: little-endian '<f4' '<f8' '<i8' '|u1' (and '<i4', read as i64), C order.
// The header is validated before anything is allocated: magic, version, dict keys,
// dtype, shape (no negative or overflowing sizes) and the data size against the file.
// Writing goes to a temporary file that is renamed into place (never half-written).
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace contra {

Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const Tensor& t);

}  // namespace contra
