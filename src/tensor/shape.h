// shape.h — shapes, element strides and broadcasting rules.
//
// A shape is a list of sizes, outermost first; strides count elements (not bytes).
// Broadcasting follows NumPy/PyTorch: align from the right, a size-1 (or missing) axis
// stretches to the other size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace contra {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;

std::string shape_str(const Shape& s);          // "(2, 3, 4)"
std::int64_t shape_numel(const Shape& s);       // product of sizes (1 for a scalar)
Strides contiguous_strides(const Shape& s);     // row-major strides
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Normalises a possibly negative axis into [0, ndim); throws naming `op` when out of range.
int wrap_dim(std::int64_t d, std::int64_t ndim, const char* op);
// Strides of `s` (with strides `st`) seen through the broadcast shape `to` (0 on stretched axes).
Strides broadcast_strides(const Shape& s, const Strides& st, const Shape& to);

}  // namespace contra
