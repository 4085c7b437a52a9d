// strided_loop.h — iteration over several strided operands of one (broadcast) shape.
//
// Used by the fast CPU kernels. The shape is simplified once: size-1 axes are dropped and
// neighbouring axes that are contiguous with each other in every operand are merged, so a
// contiguous tensor becomes one flat row. Work is then split into rows (all axes but the
// innermost) and each row is handed to a callback with base pointers and inner strides.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "tensor/shape.h"

namespace contra::cpu {

template <int N>
struct StridedLoop {
  std::vector<std::int64_t> shape;                   // simplified shape, outermost first
  std::array<std::vector<std::int64_t>, N> strides;  // per operand, element strides
  std::array<std::int64_t, N> base{};                // element offsets of the first element

  std::int64_t inner() const { return shape.empty() ? 1 : shape.back(); }
  std::int64_t rows() const {
    std::int64_t r = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) r *= shape[i];
    return r;
  }
  std::int64_t inner_stride(int k) const { return shape.empty() ? 0 : strides[k].back(); }

  // Element offsets (per operand) of the first element of row `r`.
  std::array<std::int64_t, N> row_offsets(std::int64_t r) const {
    std::array<std::int64_t, N> off = base;
    for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 2; d >= 0; --d) {
      const std::int64_t i = r % shape[d];
      r /= shape[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }
};

// Builds the loop for operands already seen through `shape` (strides broadcast, 0 where
// stretched).
template <int N>
StridedLoop<N> make_loop(const Shape& shape, const std::array<Strides, N>& strides,
                         const std::array<std::int64_t, N>& offsets) {
  StridedLoop<N> L;
  L.base = offsets;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!L.shape.empty()) {
      // Merge with the previous axis when, for every operand, stepping the previous axis
      // equals stepping this one shape[d] times.
      bool mergeable = true;
      for (int k = 0; k < N; ++k)
        if (L.strides[k].back() != strides[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        L.shape.back() *= shape[d];
        for (int k = 0; k < N; ++k) L.strides[k].back() = strides[k][d];
        continue;
      }
    }
    L.shape.push_back(shape[d]);
    for (int k = 0; k < N; ++k) L.strides[k].push_back(strides[k][d]);
  }
  return L;
}

}  // namespace contra::cpu
