// dtype.h — element types (f32, f64, i64, u8), their sizes, promotion and dispatch.
// Devices are in device.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/error.h"

namespace contra {

enum class DType : std::uint8_t { f32, f64, i64, u8 };

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

const char* dtype_name(DType t);

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };

// The promoted type of a binary op: the wider floating type wins; integers promote to
// the floating type of the other operand.
DType promote(DType a, DType b);

// Calls f(T{}) with T the C++ type of `t`, for any dtype.
template <typename F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i64: return f(std::int64_t{});
    case DType::u8: return f(std::uint8_t{});
  }
  throw Error("dispatch", "unknown dtype");
}

// Calls f(T{}) for the floating types; other dtypes are an error naming `op`.
template <typename F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default:
      throw Error(op, std::string("needs a floating tensor (f32 or f64), got ") + dtype_name(t),
                  "convert with .to(DType::f32)");
  }
}

}  // namespace contra
